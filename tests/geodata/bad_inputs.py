"""Factories of small good and bad input files for the reader tests.

Imported by the reader tests through :func:`load` (works under pytest's
``--import-mode=importlib``). Every factory writes into a directory it is given
and returns the path, so tests stay independent.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

# ---------------------------------------------------------------- rasters

DINGXI_UTM = "EPSG:32648"
ORIGIN = (600000.0, 3940000.0)  # near Anding, Dingxi, UTM 48N


def write_tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = DINGXI_UTM,
    origin: tuple[float, float] = ORIGIN,
    res: float = 10.0,
    nodata: float | None = 0,
    block: int = 64,
    scales: tuple[float, ...] | None = None,
    offsets: tuple[float, ...] | None = None,
    overviews: Sequence[int] = (2, 4),
    resampling: Resampling = Resampling.nearest,
) -> Path:
    """A tiled DEFLATE GeoTIFF (2-D ``data``) with optional overviews."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = data.shape
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": data.dtype.name,
        "transform": from_origin(origin[0], origin[1], res, res), "nodata": nodata,
        "tiled": True, "blockxsize": block, "blockysize": block, "compress": "deflate",
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if scales is not None:
            dst.scales = scales
        if offsets is not None:
            dst.offsets = offsets
        if overviews:
            dst.build_overviews(list(overviews), resampling)
    return path


def truncate(path: Path, keep_fraction: float = 0.6) -> Path:
    """Cut the file, as an interrupted copy would."""
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep_fraction)])
    return path


def _first_ifd_tag(raw: bytes, tag_id: int) -> tuple[str, int, int, int]:
    """(endian, type, count, value offset) of a tag in the first IFD of a classic TIFF."""
    endian = "<" if raw[:2] == b"II" else ">"
    magic, ifd = struct.unpack(endian + "HI", raw[2:8])
    assert magic == 42, "classic TIFF expected"
    (n,) = struct.unpack(endian + "H", raw[ifd : ifd + 2])
    for i in range(n):
        entry = ifd + 2 + 12 * i
        tag, typ, count, value = struct.unpack(endian + "HHII", raw[entry : entry + 12])
        if tag == tag_id:
            return endian, typ, count, value
    raise KeyError(tag_id)


def set_tile_offset(path: Path, tile: int, new_offset: int) -> Path:
    """Overwrite entry ``tile`` of the TileOffsets tag (324) of the first IFD."""
    raw = bytearray(path.read_bytes())
    endian, typ, count, value = _first_ifd_tag(bytes(raw), 324)
    assert typ == 4 and count > tile, "LONG tile offsets expected"
    struct.pack_into(endian + "I", raw, value + 4 * tile, new_offset)
    path.write_bytes(bytes(raw))
    return path


def tile_offset(path: Path, tile: int) -> int:
    """Entry ``tile`` of the TileOffsets tag of the first IFD."""
    raw = path.read_bytes()
    endian, _, _, value = _first_ifd_tag(raw, 324)
    return struct.unpack(endian + "I", raw[value + 4 * tile : value + 4 * tile + 4])[0]


# ---------------------------------------------------------------- Sentinel-2

S2_10M = ("B02", "B03", "B04", "B08")
S2_20M = ("B11", "B12")


def write_s2_item_dir(
    root: Path,
    dates: Sequence[str],
    *,
    size: int = 64,
    dn: dict[str, int] | None = None,
    scl_value: int = 4,
    drop: dict[str, str] | None = None,
    with_raster_bands: bool = True,
    file_scales: bool = True,
    baseline: str = "05.10",
    tile: str = "48SUD",
    extra_items: Sequence[dict] = (),
) -> Path:
    """A tiny Sentinel-2 L2A layout + ``items.json``; every band constant ``dn[band]``.

    ``drop`` maps a date to a band whose asset is left out of that date's item.
    """
    dn = dn or {b: 3000 for b in S2_10M + S2_20M}
    drop = drop or {}
    features = []
    for date in dates:
        ymd = date.replace("-", "")
        folder = root / "sentinel2" / date[:4] / ymd
        assets = {}
        for band in (*S2_10M, *S2_20M, "SCL"):
            if drop.get(date) == band:
                continue
            twenty = band in S2_20M or band == "SCL"
            n = size // 2 if twenty else size
            if band == "SCL":
                arr = np.full((n, n), scl_value, dtype="uint8")
                write_tif(folder / "SCL.tif", arr, res=20.0, block=32, overviews=(2,))
                asset = {"href": f"{date[:4]}/{ymd}/SCL.tif", "type": "image/tiff; application=geotiff",
                         "roles": ["data"]}
                if with_raster_bands:
                    asset["raster:bands"] = [{"nodata": 0, "data_type": "uint8"}]
            else:
                arr = np.full((n, n), dn[band], dtype="uint16")
                write_tif(folder / f"{band}.tif", arr, res=20.0 if twenty else 10.0, block=32, overviews=(2,),
                          scales=(0.0001,) if file_scales else None, offsets=(-0.1,) if file_scales else None)
                asset = {"href": f"{date[:4]}/{ymd}/{band}.tif", "type": "image/tiff; application=geotiff",
                         "roles": ["data"], "eo:bands": [{"name": band}]}
                if with_raster_bands:
                    asset["raster:bands"] = [{"nodata": 0, "scale": 0.0001, "offset": -0.1,
                                              "data_type": "uint16"}]
            assets[band] = asset
        features.append(_item(f"S2A_MSIL2A_{ymd}_{tile}", f"{date}T03:35:00Z", assets, baseline))
    features.extend(extra_items)
    doc = {"type": "FeatureCollection", "features": features}
    path = root / "sentinel2" / "items.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _item(item_id: str, datetime: str, assets: dict, baseline: str) -> dict:
    x0, y0 = ORIGIN
    geom = box(x0, y0 - 640, x0 + 640, y0)
    gdf = gpd.GeoSeries([geom], crs=DINGXI_UTM).to_crs(4326)
    bbox = list(gdf.total_bounds)
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id,
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
        ],
        "geometry": json.loads(gpd.GeoSeries([box(*bbox)]).to_json())["features"][0]["geometry"],
        "bbox": bbox,
        "properties": {"datetime": datetime, "eo:cloud_cover": 5.0, "proj:code": DINGXI_UTM,
                       "s2:processing_baseline": baseline, "platform": "sentinel-2a"},
        "links": [], "assets": assets,
    }


# ---------------------------------------------------------------- weather

def weather_dataset(
    start: str,
    days: int,
    *,
    tasmin_k: float = 280.0,
    tasmax_k: float = 295.0,
    pr: float = 1.5,
    tas_units: str = "K",
    pr_units: str = "kg m-2 d-1",
) -> xr.Dataset:
    """A CF daily dataset on a 3 x 4 grid at 0.1 deg with constant fields."""
    time = pd.date_range(start, periods=days, freq="D")
    lat = np.array([35.7, 35.6, 35.5])
    lon = np.array([104.5, 104.6, 104.7, 104.8])
    shape = (days, lat.size, lon.size)

    def var(value: float, units: str, std: str, method: str) -> xr.DataArray:
        return xr.DataArray(np.full(shape, value, dtype="float32"), dims=("time", "latitude", "longitude"),
                            attrs={"units": units, "standard_name": std, "cell_methods": method})

    ds = xr.Dataset(
        {
            "tasmin": var(tasmin_k, tas_units, "air_temperature", "time: minimum"),
            "tasmax": var(tasmax_k, tas_units, "air_temperature", "time: maximum"),
            "pr": var(pr, pr_units, "precipitation_flux", "time: mean"),
            "hurs": var(60.0, "%", "relative_humidity", "time: mean"),
        },
        coords={"time": time, "latitude": ("latitude", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "longitude": ("longitude", lon, {"units": "degrees_east", "standard_name": "longitude"})},
        attrs={"Conventions": "CF-1.8"},
    )
    return ds


def write_nc(ds: xr.Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path, engine="netcdf4")
    return path


def write_nc_with_nan_time(path: Path) -> Path:
    """A NetCDF whose float time axis holds a NaN (decoded as NaT)."""
    ds = weather_dataset("2024-01-01", 5)
    days = np.array([0.0, 1.0, np.nan, 3.0, 4.0])
    ds = ds.assign_coords(time=("time", days, {"units": "days since 2024-01-01", "calendar": "standard"}))
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path, engine="netcdf4")
    return path


# ---------------------------------------------------------------- vectors

def field_frame(n: int = 3, *, crs: str | None = DINGXI_UTM, start: int = 1) -> gpd.GeoDataFrame:
    """``n`` 100 m x 100 m fields in a row, valid attributes."""
    x0, y0 = ORIGIN
    geoms = [box(x0 + 200 * i, y0 - 300, x0 + 200 * i + 100, y0 - 200) for i in range(n)]
    crops = ["potato", "spring_wheat", "maize", "highland_barley", "winter_wheat"]
    return gpd.GeoDataFrame(
        {
            "field_id": [f"DX-{start + i:06d}" for i in range(n)],
            "crop": [crops[i % len(crops)] for i in range(n)],
            "cooperative_id": ["C01"] * n,
            "cooperative_name": ["安定区马铃薯合作社"] * n,
            "township": ["T01"] * n,
            "sowing_date": ["2025-04-20"] * n,
            "irrigated": [False] * n,
        },
        geometry=geoms,
        crs=crs,
    )


def bowtie(x0: float, y0: float) -> Polygon:
    """A self-intersecting 'bow-tie' polygon of 100 m."""
    return Polygon([(x0, y0), (x0 + 100, y0 + 100), (x0 + 100, y0), (x0, y0 + 100)])


def write_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str = "fields") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf.to_file(path, layer=layer, driver="GPKG")
    return path


# ---------------------------------------------------------------- CSV

def write_text(path: Path, text: str, encoding: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path
