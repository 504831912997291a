"""Sentinel-2 L2A reader: a STAC ItemCollection -> lazy ``(time, y, x)`` Dataset.

``sentinel2/items.json`` lists one Item per acquisition with one COG asset per
band (docs/DATA_LAYOUT.md). :func:`read_sentinel2`

* filters Items by date *from the JSON alone*, so files of excluded dates are
  never opened (the pipeline's ``--as-of`` relies on this);
* opens each band lazily (dask, 1024 px chunks) after the cheap integrity checks
  of :func:`geodata.readers.raster.check_raster`;
* converts digital numbers to surface reflectance,
  ``reflectance = (DN + BOA_ADD_OFFSET) / 10000``, with the scale/offset of the
  asset's ``raster:bands``, else of the GeoTIFF, else the ESA default for
  processing baseline >= 04.00 (BOA_ADD_OFFSET = -1000; ESA, "Sentinel-2 L2A
  product format: processing baseline 04.00", S2 MPC note OMPC.CS.DQR.001 2022);
  DN 0 (nodata) -> NaN;
* puts every band on the 10 m grid: B11/B12 (20 m) bilinear, SCL nearest;
* derives ``valid`` from the Scene Classification Layer: classes 0 no data,
  1 saturated/defective, 3 cloud shadow, 8/9 cloud medium/high probability,
  10 thin cirrus and 11 snow/ice are invalid (ESA Sentinel-2 L2A Algorithm
  Theoretical Basis Document, SCL classes), and, with ``mask=True``, sets the
  reflectances of invalid pixels to NaN;
* sorts by time and mosaics Items of the same UTC day (two tiles, or S2A and
  S2B reprocessings): per pixel, the least cloudy Item with a valid pixel wins.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array
import numpy as np
import pandas as pd
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from geodata.errors import InputError
from geodata.readers.common import DateLike, as_timestamp, check_date_range, require_file
from geodata.readers.raster import CHUNK_PX, RasterInfo, check_raster, open_raw

BANDS_10M: tuple[str, ...] = ("B02", "B03", "B04", "B08")
BANDS_20M: tuple[str, ...] = ("B11", "B12")
DEFAULT_BANDS: tuple[str, ...] = BANDS_10M + BANDS_20M
#: SCL classes masked as invalid (ESA L2A ATBD).
SCL_INVALID: tuple[int, ...] = (0, 1, 3, 8, 9, 10, 11)
#: L2A reflectance quantification value and BOA offset of processing baseline >= 04.00.
L2A_SCALE = 1e-4
L2A_OFFSET_PB04 = -0.1


@dataclass(frozen=True)
class Scene:
    """One Item of the collection: id, acquisition time, asset paths, cloud cover."""

    item: pystac.Item
    time: pd.Timestamp
    cloud_cover: float

    @property
    def id(self) -> str:
        return self.item.id


def load_items(items_path: str | Path) -> list[Scene]:
    """Parse ``items.json`` (no raster is opened); items sorted by time."""
    path = require_file(items_path)
    try:
        collection = pystac.ItemCollection.from_file(str(path))
    except (json.JSONDecodeError, pystac.STACError, KeyError, TypeError, ValueError) as err:
        raise InputError(
            f"not a STAC ItemCollection: {err}", source=str(path),
            expected="a GeoJSON FeatureCollection of STAC Items",
        ) from err
    scenes = []
    for item in collection:
        if item.datetime is None:
            raise InputError("item has no datetime", source=str(path), field=f"{item.id}: properties.datetime")
        time = pd.Timestamp(item.datetime)
        time = time.tz_convert("UTC").tz_localize(None) if time.tzinfo else time
        cloud = item.properties.get("eo:cloud_cover")
        scenes.append(Scene(item, time, float(cloud) if cloud is not None else 100.0))
    if not scenes:
        raise InputError("the ItemCollection has no items", source=str(path), expected="at least one Item")
    return sorted(scenes, key=lambda s: (s.time, s.cloud_cover, s.id))


def select_scenes(
    scenes: Sequence[Scene], start: DateLike | None = None, end: DateLike | None = None
) -> list[Scene]:
    """Scenes whose UTC day is within ``[start, end]`` (both inclusive)."""
    lo, hi = as_timestamp(start, name="start"), as_timestamp(end, name="end")
    check_date_range(lo, hi)
    out = []
    for scene in scenes:
        day = scene.time.normalize()
        if (lo is None or day >= lo.normalize()) and (hi is None or day <= hi.normalize()):
            out.append(scene)
    return out


def asset_path(scene: Scene, band: str, items_path: Path) -> Path:
    asset = scene.item.assets.get(band)
    if asset is None:
        raise InputError(
            "band missing from this date", source=str(items_path), field=f"{scene.id}: {band}",
            expected=f"assets {', '.join(sorted(scene.item.assets))} to include {band}",
        )
    href = Path(asset.href)
    return href if href.is_absolute() else items_path.parent / href


def scale_offset(scene: Scene, band: str, info: RasterInfo) -> tuple[float, float]:
    """Scale/offset of a band: STAC ``raster:bands``, else the GeoTIFF, else the ESA default."""
    bands = scene.item.assets[band].extra_fields.get("raster:bands") or []
    if bands and "scale" in bands[0]:
        return float(bands[0]["scale"]), float(bands[0].get("offset", 0.0))
    if info.scale != 1.0 or info.offset != 0.0:
        return info.scale, info.offset
    baseline = str(scene.item.properties.get("s2:processing_baseline", "04.00"))
    try:
        pb = float(baseline)
    except ValueError as err:
        raise InputError(
            "unreadable processing baseline", field=f"{scene.id}: s2:processing_baseline",
            expected="a number such as 05.10", got=baseline,
        ) from err
    return L2A_SCALE, (L2A_OFFSET_PB04 if pb >= 4.0 else 0.0)


def _read_scene(
    scene: Scene, bands: Sequence[str], grid: GeoBox, items_path: Path, chunks: int
) -> dict[str, dask.array.Array]:
    """Reflectances (float32, NaN = nodata) and SCL (uint8) of one Item on ``grid``, as 2-D dask arrays."""
    out: dict[str, dask.array.Array] = {}
    for band in bands:
        path = asset_path(scene, band, items_path)
        dn, info = open_raw(path, grid=grid, kind="continuous", chunks=chunks)
        scale, offset = scale_offset(scene, band, info)
        values = dn.data.astype("float32") * np.float32(scale) + np.float32(offset)
        out[band] = values if info.nodata is None else dask.array.where(dn.data == info.nodata, np.float32(np.nan), values)
    scl, info = open_raw(asset_path(scene, "SCL", items_path), grid=grid, kind="class", chunks=chunks)
    out["scl"] = scl.data.astype("uint8")
    return out


def _mosaic(parts: Sequence[dict[str, dask.array.Array]]) -> dict[str, dask.array.Array]:
    """Per pixel, the first part (least cloudy) whose SCL class is valid."""
    result = dict(parts[0])
    for part in parts[1:]:
        take = ~_valid(result["scl"]) & _valid(part["scl"])
        result = {name: dask.array.where(take, part[name], result[name]) for name in result}
    return result


def _valid(scl: dask.array.Array) -> dask.array.Array:
    return ~dask.array.isin(scl, list(SCL_INVALID))


def read_sentinel2(
    items_path: str | Path,
    *,
    bands: Sequence[str] = DEFAULT_BANDS,
    start: DateLike | None = None,
    end: DateLike | None = None,
    grid: GeoBox | None = None,
    mask: bool = True,
    chunks: int = CHUNK_PX,
) -> xr.Dataset:
    """Read the Sentinel-2 L2A ItemCollection as a lazy ``(time, y, x)`` Dataset.

    Variables: one float32 reflectance per band (unitless, NaN = nodata or,
    with ``mask=True``, masked by SCL), ``scl`` (uint8 classes, 0 = nodata) and
    ``valid`` (bool, SCL class usable). Coordinates: ``time`` (UTC, naive),
    ``item_id`` along time, ``y``/``x`` of ``grid`` (default: the 10 m grid of
    the first selected Item's first 10 m band).

    Raises :class:`InputError` when no Item falls in ``[start, end]``, when an
    Item lacks a band, or when a band file is missing, corrupt or without CRS.
    """
    items_path = Path(items_path)
    start, end = as_timestamp(start, name="start"), as_timestamp(end, name="end")
    check_date_range(start, end)
    bands = list(bands)
    unknown = [b for b in bands if b not in BANDS_10M + BANDS_20M + ("B05", "B06", "B07", "B8A")]
    if unknown:
        raise InputError("unknown Sentinel-2 band", field="bands", expected=", ".join(DEFAULT_BANDS), got=unknown)
    scenes = select_scenes(load_items(items_path), start, end)
    if not scenes:
        raise InputError(
            "no Sentinel-2 item in the requested date range", source=str(items_path),
            field="properties.datetime", expected=f"items between {start} and {end}",
        )
    if grid is None:
        reference = next((b for b in bands if b in BANDS_10M), bands[0])
        grid = check_raster(asset_path(scenes[0], reference, items_path), check_nodata=False).geobox

    by_day: dict[pd.Timestamp, list[Scene]] = defaultdict(list)
    for scene in scenes:
        by_day[scene.time.normalize()].append(scene)
    frames, times, ids = [], [], []
    for _, group in sorted(by_day.items()):
        group = sorted(group, key=lambda s: (s.cloud_cover, s.id))
        parts = [_read_scene(s, bands, grid, items_path, chunks) for s in group]
        frames.append(_mosaic(parts) if len(parts) > 1 else parts[0])
        times.append(min(s.time for s in group))
        ids.append("+".join(s.id for s in group))

    scl = dask.array.stack([f["scl"] for f in frames])
    valid = _valid(scl)
    dims = ("time", "y", "x")
    variables: dict[str, tuple] = {}
    for band in bands:
        refl = dask.array.stack([f[band] for f in frames])
        if mask:
            refl = dask.array.where(valid, refl, np.float32(np.nan))
        variables[band] = (dims, refl, {"units": "1", "long_name": f"{band} surface reflectance", "nodata": np.nan})
    variables["scl"] = (dims, scl, {"long_name": "Sentinel-2 L2A scene classification", "nodata": 0})
    variables["valid"] = (dims, valid, {"long_name": f"SCL class usable (not in {list(SCL_INVALID)})"})
    coords = xr_coords(grid, crs_coord_name="spatial_ref")
    ds = xr.Dataset(
        variables,
        coords={"time": ("time", pd.DatetimeIndex(times)), "item_id": ("time", ids), **coords},
        attrs={"source": str(items_path), "platform": "Sentinel-2", "processing_level": "L2A"},
    )
    return ds
