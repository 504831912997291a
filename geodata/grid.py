"""The common analysis grid and lazy resampling onto it.

Every raster the pipeline combines (imagery, weather, soil, terrain, model
outputs) is put on one grid: an odc-geo :class:`~odc.geo.geobox.GeoBox` in the
UTM zone of the fields, 10 m pixels (the Sentinel-2 VNIR resolution), with pixel
edges on the imagery's own pixel grid so that 10 m bands are never resampled,
covering the fields (or, without fields, the imagery extent).

The arithmetic (:func:`aligned_bounds`) is pure; reprojection is delegated to
:func:`odc.geo.xr.xr_reproject`, which builds a lazy dask graph for dask-backed
inputs.
"""

from __future__ import annotations

import math
from typing import Literal, TypeVar

import geopandas as gpd
import numpy as np
import xarray as xr
from odc.geo import CRS, BoundingBox
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_reproject as _odc_reproject

from geodata.errors import InputError

#: Kind of a raster -> resampling used to put it on another grid. Continuous
#: quantities (reflectance, temperature, elevation) interpolate bilinearly;
#: class rasters (Sentinel-2 SCL, land cover, alert levels) must keep their
#: codes, so they use nearest neighbour.
Kind = Literal["continuous", "class"]
RESAMPLING: dict[str, str] = {"continuous": "bilinear", "class": "nearest"}
XrT = TypeVar("XrT", xr.DataArray, xr.Dataset)

#: Default analysis resolution, metres (Sentinel-2 B02/B03/B04/B08).
DEFAULT_RESOLUTION_M = 10.0


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM zone CRS containing ``(lon, lat)`` (e.g. EPSG:32648 for Dingxi)."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputError("not a longitude/latitude", field="lon/lat", got=(lon, lat))
    return CRS.utm(lon, lat)


def fields_utm_crs(fields: gpd.GeoDataFrame) -> CRS:
    """The UTM zone of the centre of the fields' bounding box."""
    if fields.crs is None:
        raise InputError("fields have no CRS", field="crs", expected="a georeferenced layer")
    minx, miny, maxx, maxy = fields.to_crs(4326).total_bounds
    return utm_crs_for((minx + maxx) / 2, (miny + maxy) / 2)


def aligned_bounds(
    bounds: tuple[float, float, float, float],
    resolution: float,
    origin: tuple[float, float] = (0.0, 0.0),
) -> tuple[float, float, float, float]:
    """Grow ``bounds`` (left, bottom, right, top) outwards to pixel edges of a grid.

    The grid has square pixels of ``resolution`` and a pixel corner at ``origin``.
    The result contains ``bounds`` and is the smallest such box.
    """
    if resolution <= 0:
        raise InputError("resolution must be positive", field="resolution", got=resolution)
    left, bottom, right, top = bounds
    if not (right > left and top > bottom):
        raise InputError("empty bounding box", field="bounds", got=bounds)
    ox, oy = origin

    def down(v: float, o: float) -> float:
        return o + math.floor(round((v - o) / resolution, 9)) * resolution

    def up(v: float, o: float) -> float:
        return o + math.ceil(round((v - o) / resolution, 9)) * resolution

    return (down(left, ox), down(bottom, oy), up(right, ox), up(top, oy))


def analysis_grid(
    fields: gpd.GeoDataFrame | None = None,
    *,
    imagery: GeoBox | None = None,
    resolution: float = DEFAULT_RESOLUTION_M,
    crs: CRS | str | int | None = None,
    buffer_m: float = 0.0,
) -> GeoBox:
    """The analysis grid covering ``fields`` (or ``imagery`` when no fields are given).

    Parameters
    ----------
    fields:
        Field polygons (any CRS). Their UTM zone is the grid's CRS unless ``crs`` is given.
    imagery:
        GeoBox of a 10 m imagery band. When it shares the grid's CRS, pixel edges are
        aligned to it; otherwise the grid is aligned to multiples of ``resolution``.
    resolution:
        Pixel size in metres (default 10 m).
    crs:
        Force a CRS (must be projected, in metres).
    buffer_m:
        Margin added around the fields, metres (e.g. one 20 m pixel for edge effects).
    """
    if fields is None and imagery is None:
        raise InputError("need fields or an imagery grid to build the analysis grid", field="fields")
    target: CRS | None
    if crs is not None:
        target = CRS(crs)
    elif fields is not None:
        target = fields_utm_crs(fields)
    else:
        assert imagery is not None
        target = imagery.crs
    if target is None or target.geographic:
        raise InputError("the analysis grid needs a projected CRS in metres", field="crs", got=str(target))

    if fields is not None:
        if len(fields) == 0:
            raise InputError("no fields to cover", field="fields")
        minx, miny, maxx, maxy = fields.to_crs(target.to_wkt()).total_bounds
        bounds = (minx - buffer_m, miny - buffer_m, maxx + buffer_m, maxy + buffer_m)
    else:
        assert imagery is not None
        bbox = imagery.extent.to_crs(target).boundingbox
        bounds = (bbox.left, bbox.bottom, bbox.right, bbox.top)

    origin = (0.0, 0.0)
    if imagery is not None and imagery.crs == target:
        origin = (imagery.affine.c, imagery.affine.f)
    left, bottom, right, top = aligned_bounds(bounds, resolution, origin)
    return GeoBox.from_bbox(
        BoundingBox(left, bottom, right, top, target), resolution=resolution, tight=True
    )


def xr_reproject(
    data: XrT,
    grid: GeoBox,
    *,
    kind: Kind = "continuous",
    resampling: str | None = None,
    chunks: int = 1024,
) -> XrT:
    """Put ``data`` lazily on ``grid`` (no-op when it is already there).

    ``kind`` picks the resampling (:data:`RESAMPLING`) unless ``resampling`` is
    given. Output dask chunks are ``chunks`` pixels square. Continuous data are cast to float32 with NaN as nodata; class data
    keep their dtype and nodata value (outside the source footprint -> nodata).
    """
    if kind not in RESAMPLING:
        raise InputError("unknown raster kind", field="kind", expected=" or ".join(RESAMPLING), got=kind)
    source = data.odc.geobox
    if source is None:
        raise InputError("raster has no georeferencing (CRS and transform)", field="crs")
    if source == grid:
        return data
    how = resampling or RESAMPLING[kind]
    if kind == "continuous":
        if isinstance(data, xr.DataArray) and not np.issubdtype(data.dtype, np.floating):
            nodata = data.odc.nodata
            values = data.astype("float32")
            if nodata is not None:
                values = values.where(values != nodata)
            values.attrs.pop("_FillValue", None)
            values.attrs["nodata"] = np.nan
            data = values
        return _odc_reproject(data, grid, resampling=how, dst_nodata=np.nan, chunks=(chunks, chunks))
    return _odc_reproject(data, grid, resampling=how, chunks=(chunks, chunks))
