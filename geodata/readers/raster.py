"""GeoTIFF / COG reader: cheap integrity checks, then a lazy dask-backed DataArray.

:func:`check_raster` opens the file with rasterio and refuses, with an
:class:`~geodata.errors.InputError` naming the file:

* a zero-size file, a file GDAL cannot open (corrupt or truncated header);
* a raster without CRS or without a geotransform;
* a tiled/stripped TIFF whose block table points outside the file or whose
  blocks overlap each other (truncated file, wrong tile offset) -- this reads
  only the TIFF block table (``BLOCK_OFFSET_x_y`` / ``BLOCK_SIZE_x_y`` metadata),
  no pixels;
* a first or last block that cannot be decoded (one block each);
* an all-nodata raster (optional): it reads the *smallest overview* when the
  file has overviews (a COG always does: one 128-256 px read). Without
  overviews it reads a decimated view of at most 256 x 256 pixels, for which
  GDAL still decodes every block once. A sample that is entirely nodata/NaN is
  rejected; a raster whose few valid pixels all vanish in the overview could in
  principle be misjudged, which is acceptable for "practically empty".

:func:`open_raster` then opens the band lazily with rioxarray (dask chunks of
1024 px, ``lock=False`` so chunks are read in parallel), optionally applies the
band's scale/offset, masks nodata, and reprojects onto a target grid when the
grid differs (bilinear for continuous data, nearest for classes).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import dask.array
import numpy as np
import rasterio
import rasterio.errors
import rioxarray
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from odc.geo.xr import xr_reproject as _odc_reproject
from rasterio.windows import Window

from geodata.errors import InputError
from geodata.grid import RESAMPLING, Kind, xr_reproject
from geodata.readers.common import require_file

#: Chunk edge of the dask arrays, pixels (a multiple of the 512 px COG tiles).
CHUNK_PX = 1024
#: Largest side of the decimated read used for the all-nodata check without overviews.
SAMPLE_PX = 256


@dataclass(frozen=True)
class RasterInfo:
    """What :func:`check_raster` learnt about a raster file."""

    path: Path
    geobox: GeoBox
    dtype: str
    count: int
    nodata: float | None
    scale: float
    offset: float
    overviews: tuple[int, ...]
    block_shape: tuple[int, int]


def check_raster(path: str | Path, *, band: int = 1, check_nodata: bool = True) -> RasterInfo:
    """Check that ``path`` is a readable, georeferenced raster; see the module docstring.

    A file that passed is not checked again while its size, modification time and inode are unchanged
    (a season run opens each acquisition in more than one pass).
    """
    path = require_file(path)
    stat = path.stat()
    return _checked_raster(path, band, check_nodata, (stat.st_size, stat.st_mtime_ns, stat.st_ino))


@functools.lru_cache(maxsize=4096)
def _checked_raster(path: Path, band: int, check_nodata: bool, version: tuple[int, int, int]) -> RasterInfo:
    """:func:`check_raster` of one version of a file (failures raise and are not cached)."""
    source = str(path)
    try:
        with rasterio.open(path) as src:
            if band < 1 or band > src.count:
                raise InputError(
                    "band does not exist", source=source, field=f"band {band}", expected=f"1..{src.count}"
                )
            if src.crs is None:
                raise InputError(
                    "raster has no CRS", source=source, field="crs", expected="a georeferenced GeoTIFF"
                )
            if src.transform.is_identity:
                raise InputError(
                    "raster has no geotransform", source=source, field="transform",
                    expected="a georeferenced GeoTIFF",
                )
            _check_block_table(src, path, band)
            _check_edge_blocks(src, source, band)
            overviews = tuple(src.overviews(band))
            if check_nodata:
                _check_not_empty(src, source, band, overviews)
            return RasterInfo(
                path=path,
                geobox=GeoBox.from_rio(src),
                dtype=src.dtypes[band - 1],
                count=src.count,
                nodata=src.nodata,
                scale=float(src.scales[band - 1] or 1.0),
                offset=float(src.offsets[band - 1] or 0.0),
                overviews=overviews,
                block_shape=(int(src.block_shapes[band - 1][0]), int(src.block_shapes[band - 1][1])),
            )
    except rasterio.errors.RasterioError as err:
        raise InputError(
            f"not a readable raster (corrupt or truncated): {err}",
            source=source,
            expected="a GeoTIFF/COG",
        ) from err


def _check_block_table(src: rasterio.io.DatasetReader, path: Path, band: int) -> None:
    """Every TIFF block lies inside the file and no two blocks overlap (reads no pixels)."""
    if src.driver != "GTiff":
        return
    size = os.path.getsize(path)
    bh, bw = src.block_shapes[band - 1]
    rows, cols = math.ceil(src.height / bh), math.ceil(src.width / bw)
    spans: list[tuple[int, int, int, int]] = []
    for r in range(rows):
        for c in range(cols):
            off = src.get_tag_item(f"BLOCK_OFFSET_{c}_{r}", "TIFF", bidx=band)
            length = src.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=band)
            if off is None or length is None:
                return  # driver does not expose the block table (e.g. a VRT-like source)
            off, length = int(off), int(length)
            if off == 0 and length == 0:
                continue  # sparse block: reads as nodata
            if off + length > size:
                raise InputError(
                    f"block (row {r}, col {c}) lies beyond the end of the file "
                    f"(offset {off} + {length} bytes > {size} bytes): truncated or wrong tile offset",
                    source=str(path),
                    field=f"band {band}",
                    expected="a complete TIFF",
                )
            spans.append((off, length, r, c))
    spans.sort()
    for (off_a, len_a, ra, ca), (off_b, _, rb, cb) in zip(spans, spans[1:], strict=False):
        if off_a + len_a > off_b:
            raise InputError(
                f"blocks (row {ra}, col {ca}) and (row {rb}, col {cb}) overlap in the file: wrong tile offset",
                source=str(path),
                field=f"band {band}",
                expected="a TIFF with a consistent block table",
            )


def _check_edge_blocks(src: rasterio.io.DatasetReader, source: str, band: int) -> None:
    """Decode the first and the last block (truncation shows up at the end)."""
    bh, bw = src.block_shapes[band - 1]
    last_row = (math.ceil(src.height / bh) - 1) * bh
    last_col = (math.ceil(src.width / bw) - 1) * bw
    for row, col in ((0, 0), (last_row, last_col)):
        window = Window(col, row, min(bw, src.width - col), min(bh, src.height - row))
        try:
            src.read(band, window=window)
        except rasterio.errors.RasterioError as err:
            raise InputError(
                f"block at pixel row {row}, col {col} cannot be decoded (corrupt or truncated): {err}",
                source=source,
                field=f"band {band}",
            ) from err


def _check_not_empty(
    src: rasterio.io.DatasetReader, source: str, band: int, overviews: tuple[int, ...]
) -> None:
    """Refuse a raster whose smallest overview (or decimated sample) is all nodata."""
    if overviews:
        factor = overviews[-1]
        shape = (max(1, src.height // factor), max(1, src.width // factor))
    else:
        scale = max(1.0, max(src.height, src.width) / SAMPLE_PX)
        shape = (max(1, int(src.height / scale)), max(1, int(src.width / scale)))
    try:
        sample = src.read(band, out_shape=shape, masked=True)
    except rasterio.errors.RasterioError as err:
        raise InputError(
            f"overview cannot be decoded (corrupt): {err}", source=source, field=f"band {band}"
        ) from err
    values = np.ma.masked_invalid(sample) if np.issubdtype(sample.dtype, np.floating) else sample
    if np.ma.count(values) == 0:
        raise InputError(
            "raster is entirely nodata",
            source=source,
            field=f"band {band}",
            expected=f"some valid pixels (nodata = {src.nodata})",
        )


def open_raster(
    path: str | Path,
    *,
    band: int = 1,
    kind: Kind = "continuous",
    scale: bool = False,
    grid: GeoBox | None = None,
    check_nodata: bool = True,
    chunks: int = CHUNK_PX,
    name: str | None = None,
) -> xr.DataArray:
    """Open one band of a GeoTIFF/COG as a lazy 2-D ``(y, x)`` DataArray.

    Parameters
    ----------
    kind:
        ``"continuous"``: float32, nodata -> NaN. ``"class"``: the file's integer
        dtype and nodata value are kept (attribute ``nodata``).
    scale:
        Apply the band's scale/offset (``value * scale + offset``, e.g. Sentinel-2
        L2A DN 3000 -> 0.2 reflectance); continuous kind only.
    grid:
        Reproject onto this GeoBox when the raster's own grid differs.
    check_nodata:
        Refuse an all-nodata raster (see :func:`check_raster`).
    """
    if scale and kind != "continuous":
        raise InputError("scale/offset applies only to continuous rasters", field="scale", got=kind)
    info = check_raster(path, band=band, check_nodata=check_nodata)
    da = rioxarray.open_rasterio(
        info.path, chunks={"y": chunks, "x": chunks}, lock=False, masked=False, cache=False
    )
    assert isinstance(da, xr.DataArray)
    da = da.sel(band=band, drop=True)
    da.attrs.pop("_FillValue", None)
    da.attrs.pop("scale_factor", None)
    da.attrs.pop("add_offset", None)
    if kind == "continuous":
        valid = da != info.nodata if info.nodata is not None and not np.isnan(info.nodata) else None
        values = da.astype("float32")
        if scale:
            values = values * np.float32(info.scale) + np.float32(info.offset)
        if valid is not None:
            values = values.where(valid)
        da = values
        da.attrs["nodata"] = np.nan
    else:
        da.attrs["nodata"] = info.nodata
    da.attrs["source"] = str(info.path)
    da = da.rio.write_crs(str(info.geobox.crs))
    if grid is not None:
        da = xr_reproject(da, grid, kind=kind, chunks=chunks)
    if name is not None:
        da.name = name
    return da


def open_raw(
    path: str | Path,
    *,
    band: int = 1,
    grid: GeoBox | None = None,
    kind: Kind = "continuous",
    chunks: int = CHUNK_PX,
) -> tuple[xr.DataArray, RasterInfo]:
    """One band's stored values (file dtype, file nodata kept) lazily, on ``grid`` if given.

    The lean path for readers that stack many files (imagery): no scaling, no
    masking, no float conversion; reprojection honours the file's nodata
    (bilinear for continuous data, nearest for classes). Returns the array and
    the :class:`RasterInfo` (scale, offset, nodata) for the caller to apply.
    """
    info = check_raster(path, band=band, check_nodata=False)
    zoom = integer_zoom(info.geobox, grid) if grid is not None else None
    if zoom is not None and zoom[0] > 1 and kind != "class":
        zoom = None  # finer grid, continuous values: bilinear interpolation, GDAL's warp
    side = max(chunks // zoom[0], 1) if zoom else chunks  # source blocks that become ~``chunks`` once repeated
    da = rioxarray.open_rasterio(info.path, chunks={"y": side, "x": side}, lock=False, masked=False, cache=False)
    assert isinstance(da, xr.DataArray)
    da = da.isel(band=band - 1, drop=True)
    if grid is not None and info.geobox != grid:
        fill = info.nodata if info.nodata is not None else 0
        if zoom is not None:
            return _repeat_onto(da, grid, zoom, fill, chunks), info
        da = _odc_reproject(
            da, grid, resampling=RESAMPLING[kind], src_nodata=info.nodata, dst_nodata=fill, chunks=(chunks, chunks)
        )
    return da, info


def integer_zoom(src: GeoBox, dst: GeoBox) -> tuple[int, int, int] | None:
    """``(k, row_off, col_off)`` when ``dst``'s pixels are ``src``'s split into k x k (k >= 1), else None.

    Then destination pixel ``(i, j)`` lies in source pixel ``((i + row_off) // k, (j + col_off) // k)``.
    With k = 1 (the same pixels, another extent: a band on the analysis grid) any resampling returns
    the source values, and with k > 1 (Sentinel-2's 20 m SCL on the 10 m grid: k = 2) nearest-neighbour
    resampling repeats source pixels: a window read, no warping needed.
    """
    a, b = src.affine, dst.affine
    if src.crs != dst.crs or a.b or a.d or b.b or b.d or not b.a or not b.e:
        return None
    kx, ky = a.a / b.a, a.e / b.e
    k = round(kx)
    cols, rows = (b.c - a.c) / b.a, (b.f - a.f) / b.e
    exact = all(abs(v - round(v)) < 1e-6 for v in (kx, ky, cols, rows))
    if not exact or k < 1 or round(ky) != k:
        return None
    return k, round(rows), round(cols)


def _repeat_onto(da: xr.DataArray, grid: GeoBox, zoom: tuple[int, int, int], fill: float | int,
                 chunks: int) -> xr.DataArray:
    """The window of :func:`integer_zoom`, each source pixel repeated k x k, ``fill`` outside the file."""
    k, row_off, col_off = zoom
    height, width = grid.shape
    src = da.data
    ranges = []
    for off, size, src_size in ((row_off, height, src.shape[0]), (col_off, width, src.shape[1])):
        first, stop = off // k, (off + size - 1) // k + 1  # source pixels touched, may lie outside the file
        ranges.append((first, stop, min(max(first, 0), src_size), max(min(stop, src_size), 0)))
    (r0, r1, rs, re), (c0, c1, cs, ce) = ranges
    if rs < re and cs < ce:
        part = src[rs:re, cs:ce]
        pad = ((rs - r0, r1 - re), (cs - c0, c1 - ce))
        if any(p for pair in pad for p in pair):
            part = dask.array.pad(part, pad, mode="constant", constant_values=fill)
    else:
        part = dask.array.full((r1 - r0, c1 - c0), fill, dtype=src.dtype, chunks=chunks)
    up = dask.array.repeat(dask.array.repeat(part, k, axis=0), k, axis=1) if k > 1 else part
    dy, dx = row_off - r0 * k, col_off - c0 * k
    out = up[dy:dy + height, dx:dx + width].rechunk((chunks, chunks))
    return xr.DataArray(out, dims=("y", "x"), coords=xr_coords(grid, crs_coord_name="spatial_ref"),
                        attrs={"nodata": fill})
