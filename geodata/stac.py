"""STAC metadata for the rasters Nongshu reads and writes (pystac).

* :func:`raster_item` builds a STAC 1.1 Item for any GeoTIFF/COG with the
  projection (v2.0.0) and raster (v1.1.0) extension fields read from the file;
  the pipeline uses it for its output catalog.
* :func:`sentinel2_item` builds the Item of one Sentinel-2 L2A acquisition in
  the layout of ``docs/DATA_LAYOUT.md`` (eo, raster and projection extensions,
  one asset per band, relative hrefs, ``raster:bands`` scale 0.0001 / offset
  -0.1 / nodata 0 for the reflectance bands).
* :func:`write_item_collection` writes ``items.json`` atomically.
* :func:`validate_item` validates offline. pystac ships the STAC core JSON
  schemas (``pystac/validation/jsonschemas``) but fetches extension schemas
  from ``stac-extensions.github.io``, which is not reachable here. The
  :class:`OfflineValidator` therefore serves the core schemas from pystac and,
  for the three extensions we use, schemas written from the published
  extension specifications (field names, types and ranges of
  https://github.com/stac-extensions/eo v1.1.0, .../raster v1.1.0 and
  .../projection v2.0.0). An unknown extension is an error, never a download.

Band table: Sentinel-2 MSI spectral response, ESA "Sentinel-2 User Handbook"
(2015) table 1 (centre wavelength and bandwidth, S2A, in µm).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime as Datetime
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from pystac.validation.stac_validator import JsonSchemaSTACValidator
from rasterio.warp import transform_bounds, transform_geom
from shapely.geometry import box, mapping

from geodata.errors import InputError, OutputError

COG_MEDIA_TYPE = pystac.MediaType.COG

#: Sentinel-2 bands: name -> (common name, centre wavelength µm, FWHM µm, GSD m).
S2_BANDS: dict[str, tuple[str, float, float, int]] = {
    "B02": ("blue", 0.490, 0.098, 10),
    "B03": ("green", 0.560, 0.045, 10),
    "B04": ("red", 0.665, 0.038, 10),
    "B08": ("nir", 0.842, 0.145, 10),
    "B11": ("swir16", 1.610, 0.143, 20),
    "B12": ("swir22", 2.190, 0.242, 20),
}
#: L2A scene classification layer (20 m).
S2_SCL = "SCL"
#: Processing baseline >= 04.00: reflectance = DN * 1e-4 - 0.1 (BOA_ADD_OFFSET = -1000).
S2_SCALE, S2_OFFSET, S2_NODATA = 0.0001, -0.1, 0


# ---------------------------------------------------------------------------
# Items
# ---------------------------------------------------------------------------
def _footprint(dataset: Any) -> tuple[list[float], dict[str, Any]]:
    """WGS84 bbox and polygon footprint of an open rasterio dataset."""
    if dataset.crs is None:
        raise InputError("raster has no CRS", source=dataset.name, expected="a georeferenced raster")
    native = box(*dataset.bounds)
    geom = transform_geom(dataset.crs, "EPSG:4326", mapping(native), precision=7)
    bbox = list(transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds, densify_pts=21))
    return [round(v, 7) for v in bbox], geom


def _proj_code(crs: Any) -> str | None:
    epsg = crs.to_epsg() if crs is not None else None
    return f"EPSG:{epsg}" if epsg else None


def _nodata_json(value: float | None) -> Any:
    if value is None:
        return None
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return int(value) if float(value).is_integer() else float(value)


def raster_bands_of(dataset: Any) -> list[RasterBand]:
    """``raster:bands`` entries (data type, nodata, scale, offset, resolution, unit) of a dataset."""
    bands = []
    resolution = float(abs(dataset.transform.a))
    for i in range(1, dataset.count + 1):
        scale = dataset.scales[i - 1]
        offset = dataset.offsets[i - 1]
        unit = dataset.units[i - 1] or dataset.tags(i).get("units") or None
        band = RasterBand.create(
            data_type=DataType(dataset.dtypes[i - 1]),
            nodata=_nodata_json(dataset.nodatavals[i - 1]),
            spatial_resolution=resolution,
            scale=None if scale == 1.0 and offset == 0.0 else float(scale),
            offset=None if scale == 1.0 and offset == 0.0 else float(offset),
            unit=unit,
        )
        bands.append(band)
    return bands


def raster_item(
    path: str | os.PathLike[str],
    item_id: str,
    *,
    datetime: Datetime | None = None,
    start_datetime: Datetime | None = None,
    end_datetime: Datetime | None = None,
    properties: Mapping[str, Any] | None = None,
    asset_key: str = "data",
    href: str | None = None,
    roles: Iterable[str] = ("data",),
    title: str | None = None,
) -> pystac.Item:
    """A STAC Item for one GeoTIFF/COG with projection and raster fields read from the file.

    Give either ``datetime`` or both ``start_datetime`` and ``end_datetime``
    (timezone-aware). ``href`` defaults to the absolute file path;
    :func:`write_catalog` makes it relative when the catalog is saved.
    """
    if datetime is None and (start_datetime is None or end_datetime is None):
        raise ValueError("give datetime, or start_datetime and end_datetime")
    path = Path(path)
    try:
        with rasterio.open(path) as ds:
            bbox, geom = _footprint(ds)
            proj: dict[str, Any] = {
                "code": _proj_code(ds.crs),
                "wkt2": None if _proj_code(ds.crs) else ds.crs.to_wkt(),
                "bbox": [float(v) for v in ds.bounds],
                "shape": [ds.height, ds.width],
                "transform": [float(v) for v in list(ds.transform)[:6]],
            }
            bands = raster_bands_of(ds)
    except rasterio.errors.RasterioIOError as err:
        raise InputError("cannot open the raster", source=str(path), got=str(err)) from err

    item = pystac.Item(
        id=item_id,
        geometry=geom,
        bbox=bbox,
        datetime=datetime,
        start_datetime=start_datetime,
        end_datetime=end_datetime,
        properties=dict(properties or {}),
    )
    asset = pystac.Asset(href=href or str(path.resolve()), media_type=COG_MEDIA_TYPE,
                         roles=list(roles), title=title)
    item.add_asset(asset_key, asset)
    ProjectionExtension.ext(item, add_if_missing=True).apply(**proj)
    RasterExtension.ext(asset, add_if_missing=True).apply(bands)
    return item


def sentinel2_item(
    item_id: str,
    acquired: Datetime,
    band_paths: Mapping[str, Path],
    *,
    base_dir: Path,
    cloud_cover: float,
    platform: str,
    processing_baseline: str = "05.10",
    tile: str | None = None,
    extra_properties: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """The Item of one Sentinel-2 L2A acquisition (``band_paths``: band name -> COG).

    Hrefs are written relative to ``base_dir`` (the directory of ``items.json``).
    Geometry and projection come from the 10 m red band (``B04``).
    """
    ref = band_paths.get("B04") or next(iter(band_paths.values()))
    with rasterio.open(ref) as ds:
        bbox, geom = _footprint(ds)
        code = _proj_code(ds.crs)
        proj_bbox = [float(v) for v in ds.bounds]
    properties: dict[str, Any] = {
        "platform": platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "s2:processing_baseline": processing_baseline,
        "s2:product_type": "S2MSI2A",
    }
    if tile:
        properties["s2:mgrs_tile"] = tile
    properties.update(extra_properties or {})
    item = pystac.Item(id=item_id, geometry=geom, bbox=bbox, datetime=acquired,
                       properties=properties)
    EOExtension.ext(item, add_if_missing=True).cloud_cover = round(float(cloud_cover), 2)
    ProjectionExtension.ext(item, add_if_missing=True).apply(code=code, bbox=proj_bbox)
    RasterExtension.add_to(item)

    for name, path in band_paths.items():
        with rasterio.open(path) as ds:
            shape = [ds.height, ds.width]
            transform = [float(v) for v in list(ds.transform)[:6]]
            gsd = float(abs(ds.transform.a))
            dtype = ds.dtypes[0]
        rel = os.path.relpath(path, base_dir).replace(os.sep, "/")
        roles = ["data", "reflectance"] if name in S2_BANDS else ["data", "cloud"]
        asset = pystac.Asset(href=rel, media_type=COG_MEDIA_TYPE, roles=roles,
                             title=f"{name} ({gsd:.0f} m)")
        item.add_asset(name, asset)
        ProjectionExtension.ext(asset).apply(code=code, shape=shape, transform=transform)
        if name in S2_BANDS:
            common, centre, fwhm, _ = S2_BANDS[name]
            EOExtension.ext(asset).apply(bands=[Band.create(
                name=name, common_name=common, center_wavelength=centre,
                full_width_half_max=fwhm)])
            RasterExtension.ext(asset).apply([RasterBand.create(
                data_type=DataType(dtype), nodata=S2_NODATA, scale=S2_SCALE, offset=S2_OFFSET,
                spatial_resolution=gsd, unit=None)])
        else:
            RasterExtension.ext(asset).apply([RasterBand.create(
                data_type=DataType(dtype), nodata=0, spatial_resolution=gsd)])
    return item


def write_catalog(
    directory: str | os.PathLike[str],
    items: Iterable[pystac.Item],
    *,
    catalog_id: str,
    description: str,
    title: str | None = None,
) -> Path:
    """Save a self-contained STAC Catalog of ``items`` in ``directory``; returns ``catalog.json``.

    Items go to ``<directory>/<item id>/<item id>.json`` and every link and
    asset href is relative, so the directory can be moved or served as is.
    """
    directory = Path(directory)
    catalog = pystac.Catalog(id=catalog_id, description=description, title=title)
    for item in items:
        catalog.add_item(item)
    catalog.normalize_hrefs(str(directory.resolve()) + "/")  # "/": a dotted directory name is not a file
    catalog.make_all_asset_hrefs_relative()
    try:
        catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    except OSError as err:
        raise OutputError("cannot write the STAC catalog", source=str(directory),
                          got=str(err)) from err
    return directory / "catalog.json"


def write_item_collection(items: Iterable[pystac.Item], path: str | os.PathLike[str]) -> Path:
    """Write a GeoJSON FeatureCollection of Items atomically (temp file + rename)."""
    path = Path(path)
    collection = pystac.ItemCollection(list(items))
    payload = json.dumps(collection.to_dict(transform_hrefs=False), indent=1, ensure_ascii=False)
    return _atomic_write_text(path, payload)


def _atomic_write_text(path: Path, text: str) -> Path:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise OutputError("cannot write the file", source=str(path), got=str(err)) from err
    return path


# ---------------------------------------------------------------------------
# Offline validation
# ---------------------------------------------------------------------------
def _ext_schema(uri: str, title: str, fields: dict[str, Any]) -> dict[str, Any]:
    """An Item-level extension schema: the URI is declared and fields validate in properties/assets."""
    field_block = {"type": "object", "properties": fields}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": uri,
        "title": title,
        "type": "object",
        "required": ["stac_extensions", "properties"],
        "properties": {
            "stac_extensions": {"type": "array", "contains": {"const": uri}},
            "properties": field_block,
            "assets": {"type": "object", "additionalProperties": field_block},
        },
    }


_NUMBER = {"type": "number"}
_EO_BAND = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "common_name": {"type": "string", "enum": [
            "pan", "coastal", "blue", "green", "green05", "yellow", "red", "rededge",
            "rededge071", "rededge075", "rededge078", "nir", "nir08", "nir09", "cirrus",
            "swir16", "swir22", "lwir", "lwir11", "lwir12"]},
        "center_wavelength": _NUMBER,
        "full_width_half_max": _NUMBER,
        "solar_illumination": {"type": "number", "minimum": 0},
    },
}
_RASTER_BAND = {
    "type": "object",
    "properties": {
        "nodata": {"oneOf": [_NUMBER, {"type": "string", "enum": ["nan", "inf", "-inf"]}]},
        "sampling": {"type": "string", "enum": ["area", "point"]},
        "data_type": {"type": "string", "enum": [t.value for t in DataType]},
        "bits_per_sample": {"type": "integer"},
        "spatial_resolution": _NUMBER,
        "statistics": {"type": "object"},
        "unit": {"type": "string"},
        "scale": _NUMBER,
        "offset": _NUMBER,
        "histogram": {"type": "object"},
    },
}

EXTENSION_SCHEMAS: dict[str, dict[str, Any]] = {
    EOExtension.get_schema_uri(): _ext_schema(EOExtension.get_schema_uri(), "EO Extension", {
        "eo:cloud_cover": {"type": "number", "minimum": 0, "maximum": 100},
        "eo:snow_cover": {"type": "number", "minimum": 0, "maximum": 100},
        "eo:bands": {"type": "array", "minItems": 1, "items": _EO_BAND},
    }),
    RasterExtension.get_schema_uri(): _ext_schema(
        RasterExtension.get_schema_uri(), "Raster Extension",
        {"raster:bands": {"type": "array", "minItems": 1, "items": _RASTER_BAND}}),
    ProjectionExtension.get_schema_uri(): _ext_schema(
        ProjectionExtension.get_schema_uri(), "Projection Extension", {
            "proj:code": {"type": ["string", "null"]},
            "proj:wkt2": {"type": ["string", "null"]},
            "proj:projjson": {"type": ["object", "null"]},
            "proj:geometry": {"type": "object"},
            "proj:bbox": {"type": "array", "oneOf": [
                {"minItems": 4, "maxItems": 4}, {"minItems": 6, "maxItems": 6}],
                "items": _NUMBER},
            "proj:centroid": {"type": "object", "required": ["lat", "lon"], "properties": {
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180}}},
            "proj:shape": {"type": "array", "minItems": 2, "maxItems": 2,
                           "items": {"type": "integer"}},
            "proj:transform": {"type": "array", "oneOf": [
                {"minItems": 6, "maxItems": 6}, {"minItems": 9, "maxItems": 9}],
                "items": _NUMBER},
        }),
}


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's JSON-schema validator that never downloads: local core + extension schemas."""

    def __init__(self) -> None:
        super().__init__()
        self.schema_cache.update(EXTENSION_SCHEMAS)

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            raise pystac.errors.STACValidationError(
                f"no local JSON schema for {schema_uri} (offline validation knows "
                f"{sorted(self.schema_cache)})")
        return self.schema_cache[schema_uri]


def validate_item(item: pystac.Item | Mapping[str, Any]) -> list[str]:
    """Validate an Item (object or dict) against STAC core and its extensions, offline.

    Returns the schema URIs used; raises :class:`pystac.errors.STACValidationError`.
    """
    data = item.to_dict() if isinstance(item, pystac.Item) else dict(item)
    return list(pystac.validation.validate_dict(data, validator=OfflineValidator()))


def validate_item_collection(path: str | os.PathLike[str]) -> int:
    """Validate every Item of an ``items.json``; returns how many were validated."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError("cannot read the STAC ItemCollection", source=str(path),
                         got=str(err)) from err
    if data.get("type") != "FeatureCollection":
        raise InputError("not a STAC ItemCollection", source=str(path), field="type",
                         expected="FeatureCollection", got=data.get("type"))
    validator = OfflineValidator()
    for feature in data.get("features", []):
        pystac.validation.validate_dict(feature, validator=validator)
    return len(data.get("features", []))
