"""Per-field means of a time stack, computed block by block on the cluster.

Each spatial block rasterises the fields onto its own window (pixel-centre
rule, field index as label) and returns per-field sums and counts for every
time step; the small partial tables are added up. Nothing larger than a block
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


def _block_sums(block: np.ndarray, transform: Affine, wkbs: list[bytes]) -> np.ndarray:
    """``(2, time, n_fields)`` sums and counts of the finite values of one ``(time, y, x)`` block."""
    n = len(wkbs)
    height, width = block.shape[1:]
    shapes = ((shapely.from_wkb(w), i + 1) for i, w in enumerate(wkbs))
    labels = rasterize(shapes, out_shape=(height, width), transform=transform, fill=0, dtype="int32")
    out = np.zeros((2, block.shape[0], n), dtype="float64")
    inside = labels > 0
    if not inside.any():
        return out
    lab = labels[inside] - 1
    for t in range(block.shape[0]):
        values = block[t][inside]
        ok = np.isfinite(values)
        out[0, t] = np.bincount(lab[ok], weights=values[ok], minlength=n)
        out[1, t] = np.bincount(lab[ok], minlength=n)
    return out


def field_means(stack: da.Array, transform: Affine, geometries: Any) -> Any:
    """A delayed ``(time, n_fields)`` array of per-field means (NaN where a field has no valid pixel).

    ``stack`` is a dask array ``(time, y, x)`` on the grid with ``transform``;
    ``geometries`` are the fields' polygons in the grid's CRS.
    """
    wkbs = [shapely.to_wkb(g) for g in geometries]
    stack = stack.rechunk({0: -1})
    blocks = stack.to_delayed()[0]
    rows = np.cumsum((0, *stack.chunks[1]))
    cols = np.cumsum((0, *stack.chunks[2]))
    wkbs_d = dask.delayed(wkbs, traverse=False)
    parts = [
        dask.delayed(_block_sums)(blocks[i, j], transform @ Affine.translation(cols[j], rows[i]), wkbs_d)
        for i in range(blocks.shape[0])
        for j in range(blocks.shape[1])
    ]
    return dask.delayed(_ratio)(dask.delayed(sum)(parts))


def _ratio(total: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[1] > 0, total[0] / total[1], np.nan)
