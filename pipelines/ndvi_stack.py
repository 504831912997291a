"""Cloud-masked NDVI of every acquisition day, read block by block: one task per spatial block.

The general reader (:func:`geodata.readers.imagery.read_sentinel2`) builds a
dask graph with a read, a scaling, a mask and a stack per band, date and
block: about 120 tasks per 512 px block and season, 70,000 for a 4096 px
region. Every run only needs the masked NDVI, and the analysis grid is
aligned to the imagery (DESIGN.md), so each band file is a window read and
each 20 m SCL pixel a 2 x 2 repeat. :func:`masked_ndvi` then reads red, NIR
and SCL of every day of a block in one task and returns the same values as
``ndvi(read_sentinel2(mask=True)["B08"], ...["B04"])``:

* reflectance = DN x scale + offset (float32), file nodata -> NaN;
* same-day Items mosaicked: per pixel the first Item (least cloudy) whose SCL
  class is valid;
* pixels whose SCL class is in :data:`SCL_INVALID` -> NaN;
* NDVI = (NIR - red) / (NIR + red), :func:`pipelines.spectral.ndvi`.

When a file is not on such an aligned grid (another CRS, a fractional
offset, a coarser red or NIR band), the general reader is used instead.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array
import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from rasterio.windows import Window

from geodata.errors import InputError
from geodata.readers.imagery import (
    SCL_INVALID,
    Scene,
    asset_path,
    load_items,
    read_sentinel2,
    scale_offset,
    select_scenes,
)
from geodata.readers.raster import check_raster, integer_zoom
from pipelines import spectral

#: Open band files kept per worker thread (GDAL handles are not thread-safe). Opening a COG costs
#: ~2 ms: a 4096 px run opened ~14,000 of them, 28 s of worker time, when each task opened its own.
MAX_OPEN_FILES = 256
_OPEN = threading.local()


def _open(path: str) -> Any:
    """This thread's open dataset of ``path``, reopened when the file changed (size, mtime, inode)."""
    cache: OrderedDict[str, tuple[tuple[int, int, int], Any]] | None = getattr(_OPEN, "files", None)
    if cache is None:
        cache = _OPEN.files = OrderedDict()
    st = os.stat(path)
    version = (st.st_size, st.st_mtime_ns, st.st_ino)
    hit = cache.get(path)
    if hit is not None and hit[0] == version:
        cache.move_to_end(path)
        return hit[1]
    if hit is not None:
        hit[1].close()
    dataset = rasterio.open(path)
    cache[path] = (version, dataset)
    while len(cache) > MAX_OPEN_FILES:
        cache.popitem(last=False)[1][1].close()
    return dataset


@dataclass(frozen=True)
class BandFile:
    """One band file of one Item, placed on the analysis grid by an integer zoom."""

    path: str
    zoom: int  # source pixel = zoom x zoom grid pixels (1: same pixels)
    row_off: int  # grid row 0 lies at source row row_off / zoom
    col_off: int
    fill: float | int  # DN outside the file (the file's nodata, else 0)
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | int | None = None

    def window(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Stored values of grid rows ``row0 .. row0+height`` x cols ``col0 .. col0+width`` (file dtype)."""
        k = self.zoom
        r_first, r_stop = (self.row_off + row0) // k, (self.row_off + row0 + height - 1) // k + 1
        c_first, c_stop = (self.col_off + col0) // k, (self.col_off + col0 + width - 1) // k + 1
        src = _open(self.path)
        rs, re = min(max(r_first, 0), src.height), max(min(r_stop, src.height), 0)
        cs, ce = min(max(c_first, 0), src.width), max(min(c_stop, src.width), 0)
        part = np.full((r_stop - r_first, c_stop - c_first), self.fill, dtype=src.dtypes[0])
        if rs < re and cs < ce:
            part[rs - r_first:re - r_first, cs - c_first:ce - c_first] = src.read(
                1, window=Window(cs, rs, ce - cs, re - rs))
        if k > 1:
            part = np.repeat(np.repeat(part, k, axis=0), k, axis=1)
        dy, dx = self.row_off + row0 - r_first * k, self.col_off + col0 - c_first * k
        return part[dy:dy + height, dx:dx + width]

    def reflectance(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Surface reflectance (float32), NaN where the file has no data."""
        dn = self.window(row0, col0, height, width)
        values = dn.astype("float32") * np.float32(self.scale) + np.float32(self.offset)
        return values if self.nodata is None else np.where(dn == self.nodata, np.float32(np.nan), values)


@dataclass(frozen=True)
class ItemFiles:
    """Red, NIR and SCL files of one Item."""

    red: BandFile
    nir: BandFile
    scl: BandFile


def _band_file(scene: Scene, band: str, items_path: Path, grid: GeoBox, *, is_class: bool) -> BandFile | None:
    """The file of ``band`` as a :class:`BandFile`, or None when it is not on an aligned grid."""
    info = check_raster(asset_path(scene, band, items_path), check_nodata=False)
    zoom = integer_zoom(info.geobox, grid)
    if zoom is None or (zoom[0] > 1 and not is_class):
        return None
    k, row_off, col_off = zoom
    fill = info.nodata if info.nodata is not None else 0
    if is_class:
        return BandFile(str(info.path), k, row_off, col_off, fill)
    scale, offset = scale_offset(scene, band, info)
    return BandFile(str(info.path), k, row_off, col_off, fill, scale, offset, info.nodata)


def _day_files(scenes: Sequence[Scene], items_path: Path, grid: GeoBox) -> list[tuple[pd.Timestamp, str, tuple[ItemFiles, ...]]] | None:
    """Per UTC day (sorted): its time, Item ids and files in mosaic order; None if any file is not aligned."""
    by_day: dict[pd.Timestamp, list[Scene]] = defaultdict(list)
    for scene in scenes:
        by_day[scene.time.normalize()].append(scene)
    days = []
    for _, group in sorted(by_day.items()):
        group = sorted(group, key=lambda s: (s.cloud_cover, s.id))
        files = []
        for scene in group:
            red = _band_file(scene, "B04", items_path, grid, is_class=False)
            nir = _band_file(scene, "B08", items_path, grid, is_class=False)
            scl = _band_file(scene, "SCL", items_path, grid, is_class=True)
            if red is None or nir is None or scl is None:
                return None
            files.append(ItemFiles(red, nir, scl))
        days.append((min(s.time for s in group), "+".join(s.id for s in group), tuple(files)))
    return days


#: True for the SCL classes that are not usable, indexed by class (a lookup instead of ``np.isin``).
_INVALID = np.zeros(256, dtype=bool)
_INVALID[list(SCL_INVALID)] = True


def day_ndvi(items: Sequence[ItemFiles], row0: int, col0: int, height: int, width: int) -> np.ndarray:
    """Masked NDVI of one day on one block: same-day Items mosaicked by SCL validity (float32)."""
    first = items[0]
    scl = first.scl.window(row0, col0, height, width).astype("uint8")
    red = first.red.reflectance(row0, col0, height, width)
    nir = first.nir.reflectance(row0, col0, height, width)
    for item in items[1:]:
        other_scl = item.scl.window(row0, col0, height, width).astype("uint8")
        take = _INVALID[scl] & ~_INVALID[other_scl]
        if take.any():
            red = np.where(take, item.red.reflectance(row0, col0, height, width), red)
            nir = np.where(take, item.nir.reflectance(row0, col0, height, width), nir)
            scl = np.where(take, other_scl, scl)
    valid = ~_INVALID[scl]
    return np.where(valid, spectral.ndvi(nir, red), np.float32(np.nan)).astype("float32")


def _block(days: tuple[tuple[ItemFiles, ...], ...], block_info: dict | None = None) -> np.ndarray:
    """``(days, rows, cols)`` masked NDVI of the block ``block_info`` describes."""
    assert block_info is not None
    (_, _), (r0, r1), (c0, c1) = block_info[None]["array-location"]
    out = np.empty((len(days), r1 - r0, c1 - c0), dtype="float32")
    for t, items in enumerate(days):
        out[t] = day_ndvi(items, r0, c0, r1 - r0, c1 - c0)
    return out


def masked_ndvi(items_path: str | Path, *, start: object, end: object, grid: GeoBox, chunks: int) -> xr.DataArray:
    """Lazy ``(time, y, x)`` cloud-masked NDVI (float32) of the days in ``[start, end]`` on ``grid``.

    One task per ``chunks`` x ``chunks`` block reads every day; coordinates as
    :func:`read_sentinel2` (``time`` of the day's first Item, ``item_id``).
    Raises :class:`InputError` as :func:`read_sentinel2` does (no Item, missing
    band, corrupt file) — the files are checked here, when the graph is built.
    """
    items_path = Path(items_path)
    scenes = select_scenes(load_items(items_path), start, end)
    if not scenes:
        raise InputError("no Sentinel-2 item in the requested date range", source=str(items_path),
                         field="properties.datetime", expected=f"items between {start} and {end}")
    days = _day_files(scenes, items_path, grid)
    if days is None:  # not an aligned grid: the general reader warps
        ds = read_sentinel2(items_path, bands=("B04", "B08"), start=start, end=end, grid=grid, chunks=chunks)
        return xr.apply_ufunc(spectral.ndvi, ds["B08"], ds["B04"], dask="parallelized", output_dtypes=["float32"])
    height, width = grid.shape
    data = dask.array.map_blocks(
        _block,
        tuple(files for _, _, files in days),
        chunks=((len(days),), dask.array.core.normalize_chunks(chunks, (height,))[0],
                dask.array.core.normalize_chunks(chunks, (width,))[0]),
        dtype="float32",
        meta=np.array((), dtype="float32"),
        name=f"masked-ndvi-{dask.base.tokenize(items_path, str(start), str(end), grid, chunks, days)}",
    )
    coords = xr_coords(grid, crs_coord_name="spatial_ref")
    return xr.DataArray(
        data, dims=("time", "y", "x"),
        coords={"time": ("time", pd.DatetimeIndex([t for t, _, _ in days])),
                "item_id": ("time", [i for _, i, _ in days]), **coords},
        name="ndvi", attrs={"units": "1", "long_name": "NDVI, SCL-masked", "source": str(items_path)},
    )
