"""Pure helpers for the field endpoints: parse filters, filter and page a field table, build GeoJSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import box, mapping

from webapi.errors import BadRequestError
from webapi.layers import ALERT_COLOURS

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` in WGS84 degrees (OGC API Features ``bbox``)."""
    expected = "bbox=minlon,minlat,maxlon,maxlat in degrees with min < max"
    parts = text.split(",")
    if len(parts) != 4:
        raise BadRequestError("bbox needs four numbers", field="bbox", expected=expected, got=text)
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise BadRequestError("bbox values must be numbers", field="bbox", expected=expected, got=text) from None
    minx, miny, maxx, maxy = values
    if not all(math.isfinite(v) for v in values):
        raise BadRequestError("bbox values must be finite", field="bbox", expected=expected, got=text)
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise BadRequestError("bbox outside WGS84 bounds", field="bbox", expected=expected, got=text)
    if minx > maxx or miny > maxy:
        raise BadRequestError("bbox minimum greater than maximum", field="bbox", expected=expected, got=text)
    return minx, miny, maxx, maxy


def parse_level(text: str, field: str = "alert_level") -> int:
    """An alert level 0-4 given as a number or a colour name (``red``)."""
    names = {name: level for level, (name, *_rest) in ALERT_COLOURS.items()}
    if text.lower() in names:
        return names[text.lower()]
    if text.isdigit() and int(text) in ALERT_COLOURS:
        return int(text)
    raise BadRequestError(
        "unknown alert level", field=field, expected="0-4 or none, blue, yellow, orange, red", got=text
    )


def parse_int(text: str | None, field: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter within ``[lo, hi]``."""
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequestError("not an integer", field=field, expected=f"an integer {lo}..{hi}", got=text) from None
    if not lo <= value <= hi:
        raise BadRequestError("out of range", field=field, expected=f"an integer {lo}..{hi}", got=text)
    return value


def filter_fields(
    fields: gpd.GeoDataFrame,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    crop: str | None = None,
    cooperative: str | None = None,
    alert_level: int | None = None,
) -> gpd.GeoDataFrame:
    """Fields intersecting ``bbox`` and matching every given attribute filter, in field_id order."""
    out = fields
    if bbox is not None:
        out = out[out.intersects(box(*bbox))]
    if crop:
        out = out[out["crop"].astype(str) == crop]
    if cooperative:
        out = out[out["cooperative_id"].astype(str) == cooperative]
    if alert_level is not None and "alert_level" in out:
        out = out[out["alert_level"].fillna(0).astype(int) == alert_level]
    return out.sort_index()


def json_value(value: Any) -> Any:
    """A JSON-safe scalar: numpy -> Python, NaN/NA -> None, dates -> ISO strings."""
    if hasattr(value, "item") and not isinstance(value, list | dict | tuple):
        value = value.item()  # numpy scalars
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def properties(row: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON properties of one field row (everything but the geometry)."""
    return {str(k): json_value(v) for k, v in row.items() if k != "geometry"}


def feature(row: Mapping[str, Any], geometry: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": str(row["field_id"]),
        "geometry": mapping(geometry) if geometry is not None else None,
        "properties": properties(row),
    }


def feature_collection(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """GeoJSON features of ``frame`` (EPSG:4326)."""
    # geopandas' own serialiser handles geometry; we re-wrap to keep ids and JSON-safe values
    geo = json.loads(frame.geometry.to_json())["features"]
    return [
        {"type": "Feature", "id": str(row["field_id"]), "geometry": g["geometry"], "properties": properties(row)}
        for (_, row), g in zip(frame.drop(columns="geometry").iterrows(), geo, strict=True)
    ]
