"""Per-field means of a time stack, computed block by block on the cluster.

Each spatial block rasterises the fields that touch it onto its own window
(pixel-centre rule, field index as label) and returns their sums and counts
for every time step; the small partial tables are added up. Nothing larger than a block
is ever in memory, and only a ``(2, time, n_fields)`` table reaches the client.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize


def _block_sums(block: np.ndarray, transform: Affine, index: np.ndarray, wkbs: list[bytes]) -> tuple:
    """Sums and counts ``(2, time, k)`` of the finite values of one ``(time, y, x)`` block for the ``k`` fields
    ``index`` (the fields whose bounds touch the block), with ``index`` itself."""
    k = len(wkbs)
    height, width = block.shape[1:]
    out = np.zeros((2, block.shape[0], k), dtype="float64")
    if k == 0:
        return index, out
    shapes = ((shapely.from_wkb(w), i + 1) for i, w in enumerate(wkbs))
    labels = rasterize(shapes, out_shape=(height, width), transform=transform, fill=0, dtype="int32")
    inside = labels > 0
    if not inside.any():
        return index, out
    lab = labels[inside] - 1
    for t in range(block.shape[0]):
        values = block[t][inside]
        ok = np.isfinite(values)
        out[0, t] = np.bincount(lab[ok], weights=values[ok], minlength=k)
        out[1, t] = np.bincount(lab[ok], minlength=k)
    return index, out


def _near(bounds: np.ndarray, transform: Affine, height: int, width: int) -> np.ndarray:
    """Indices of the polygons whose bounds ``(n, 4)`` intersect the block of ``transform`` and size."""
    x0, y0 = transform @ (0, 0)
    x1, y1 = transform @ (width, height)
    lo_x, hi_x, lo_y, hi_y = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    return np.flatnonzero(
        (bounds[:, 2] >= lo_x) & (bounds[:, 0] <= hi_x) & (bounds[:, 3] >= lo_y) & (bounds[:, 1] <= hi_y)
    )


def field_means(stack: da.Array, transform: Affine, geometries: Any) -> Any:
    """A delayed ``(time, n_fields)`` array of per-field means (NaN where a field has no valid pixel).

    ``stack`` is a dask array ``(time, y, x)`` on the grid with ``transform``;
    ``geometries`` are the fields' polygons in the grid's CRS. Each block task
    receives only the polygons whose bounds touch it and returns sums for those
    fields only, so task inputs and partial results stay proportional to the
    block, not to the region.
    """
    geometries = list(geometries)
    wkbs = [shapely.to_wkb(g) for g in geometries]
    bounds = shapely.bounds(np.asarray(geometries, dtype=object)).reshape(-1, 4)
    stack = stack.rechunk({0: -1})
    blocks = stack.to_delayed()[0]
    rows = np.cumsum((0, *stack.chunks[1]))
    cols = np.cumsum((0, *stack.chunks[2]))
    parts = []
    for i in range(blocks.shape[0]):
        for j in range(blocks.shape[1]):
            t = transform @ Affine.translation(cols[j], rows[i])
            near = _near(bounds, t, stack.chunks[1][i], stack.chunks[2][j])
            parts.append(dask.delayed(_block_sums)(blocks[i, j], t, near, [wkbs[k] for k in near]))
    return dask.delayed(_means)(stack.shape[0], len(wkbs), *parts)


def _means(n_times: int, n_fields: int, *parts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Add the blocks' partial sums into ``(2, time, n_fields)`` and divide: ``(time, n_fields)`` means."""
    total = np.zeros((2, n_times, n_fields), dtype="float64")
    for index, sums in parts:
        total[:, :, index] += sums  # a block lists each field once
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[1] > 0, total[0] / total[1], np.nan)
