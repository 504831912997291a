"""Pure helpers for the field endpoints: parse filters, filter and page a field table, build GeoJSON.

A run's field table never changes once published, so each field's GeoJSON
Feature is encoded once per table version (when a page first needs it) and pages
are joined from those strings; responses carry an ETag of (table version, URL)
for conditional GETs. The paging helpers serve the alert list too.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from cachetools import LRUCache
from flask import Response
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


def page_links(
    self_href: str, href_at: Callable[[int], str], *, offset: int, limit: int, matched: int, media_type: str
) -> list[dict[str, str]]:
    """``self``, ``next`` and ``prev`` links of the page ``[offset, offset + limit)`` of ``matched`` items.

    ``href_at(o)`` is the URL of the page starting at item ``o`` (same filters, same limit).
    """
    links = [{"rel": "self", "type": media_type, "href": self_href}]
    if offset + limit < matched:
        links.append({"rel": "next", "type": media_type, "href": href_at(offset + limit)})
    if offset > 0:
        links.append({"rel": "prev", "type": media_type, "href": href_at(max(0, offset - limit))})
    return links


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


def encode_features(frame: gpd.GeoDataFrame) -> pd.Series:
    """Each row of ``frame`` (EPSG:4326) as a GeoJSON Feature string, indexed like ``frame``.

    Geometries are written by GEOS (``shapely.to_geojson``, vectorised); properties
    are the JSON-safe values of :func:`properties`.
    """
    geometries = shapely.to_geojson(np.asarray(frame.geometry.values, dtype=object))
    records = frame.drop(columns="geometry").to_dict(orient="records")
    out = []
    for record, geometry in zip(records, geometries, strict=True):
        ident = json.dumps(str(record["field_id"]), ensure_ascii=False)
        props = json.dumps(properties(record), ensure_ascii=False, allow_nan=False)
        out.append(
            f'{{"type":"Feature","id":{ident},"geometry":{geometry or "null"},"properties":{props}}}'
        )
    return pd.Series(out, index=frame.index, dtype=object)


class _EncodedTable:
    """Feature strings of one field-table version, filled as pages ask for them."""

    def __init__(self) -> None:
        self.strings: dict[Hashable, str] = {}
        self.lock = threading.Lock()  # held while encoding, so concurrent requests never encode a row twice


_ENCODED: LRUCache[Hashable, _EncodedTable] = LRUCache(maxsize=8)
_ENCODED_LOCK = threading.Lock()


def encoded_features(frame: gpd.GeoDataFrame, version: Hashable, index: Iterable[Hashable]) -> list[str]:
    """:func:`encode_features` strings of the rows ``index`` of ``frame``, in that order.

    Each row is encoded at most once per table ``version`` (per process): rows not
    encoded yet are encoded together, under the version's lock, so concurrent first
    requests wait on one encode of their rows instead of each encoding the table
    (a whole 10,000-field table is about 0.75 s of CPU; a page of 1,000 rows 0.08 s).
    """
    wanted = list(index)
    with _ENCODED_LOCK:
        table = _ENCODED.get(version)
        if table is None:
            table = _ENCODED[version] = _EncodedTable()
    with table.lock:
        missing = [key for key in dict.fromkeys(wanted) if key not in table.strings]
        if missing:
            table.strings.update(encode_features(frame.loc[missing]).items())
        return [table.strings[key] for key in wanted]


def feature_collection(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """GeoJSON features of ``frame`` (EPSG:4326) as Python objects."""
    return [json.loads(f) for f in encode_features(frame)]


def collection_json(head: Mapping[str, Any], features: Iterable[str]) -> str:
    """A FeatureCollection: the members of ``head`` followed by the pre-encoded ``features``."""
    start = json.dumps(dict(head), ensure_ascii=False)[:-1]
    return f'{start},"features":[{",".join(features)}]}}'


def collection_etag(version: Hashable, url: str) -> str:
    """Strong ETag of a fields response: the field table's version and the full request URL."""
    return hashlib.sha256(repr((version, url)).encode()).hexdigest()[:32]


class BodyCache:
    """Recent response bodies by ETag, plain and gzip-compressed (per process, thread-safe).

    gzip level 5 (RFC 1952 via :mod:`gzip`): about 95 % of level 9's size
    reduction on GeoJSON for a fraction of its CPU time. :meth:`get_or_build`
    builds (and compresses) each body once even when many requests for it arrive
    together: they wait on the one build, behind one of a few striped locks.
    """

    GZIP_LEVEL = 5
    STRIPES = 16

    def __init__(self, entries: int = 32) -> None:
        self._bodies: LRUCache[str, tuple[bytes, bytes | None]] = LRUCache(maxsize=entries)
        self._lock = threading.Lock()
        self._building = [threading.Lock() for _ in range(self.STRIPES)]

    def _stripe(self, etag: str) -> threading.Lock:
        return self._building[hash(etag) % self.STRIPES]

    def _peek(self, etag: str) -> tuple[bytes, bytes | None] | None:
        with self._lock:
            return self._bodies.get(etag)

    def get(self, etag: str, *, gzipped: bool) -> bytes | None:
        """The cached body (compressed on first use when ``gzipped``), or None."""
        hit = self._peek(etag)
        if hit is None:
            return None
        plain, packed = hit
        if not gzipped:
            return plain
        if packed is None:
            with self._stripe(etag):
                hit = self._peek(etag)
                plain, packed = hit if hit is not None else (plain, None)
                if packed is None:
                    packed = gzip.compress(plain, compresslevel=self.GZIP_LEVEL)
                    with self._lock:
                        self._bodies[etag] = (plain, packed)
        return packed

    def put(self, etag: str, plain: bytes) -> None:
        with self._lock:
            self._bodies[etag] = (plain, None)

    def get_or_build(self, etag: str, *, gzipped: bool, build: Callable[[], bytes]) -> bytes:
        """The cached body, or ``build()`` once (concurrent callers for ``etag`` wait and reuse it)."""
        body = self.get(etag, gzipped=gzipped)
        if body is not None:
            return body
        with self._stripe(etag):
            if self._peek(etag) is None:
                self.put(etag, build())
        body = self.get(etag, gzipped=gzipped)
        if body is None:  # evicted in between by a burst of other bodies: build again, uncached
            plain = build()
            return gzip.compress(plain, compresslevel=self.GZIP_LEVEL) if gzipped else plain
        return body


def etag_response(body: bytes, etag: str, *, mimetype: str, status: int = 200, gzipped: bool = False) -> Response:
    """A cached body with its ETag, revalidated on every use (``Cache-Control: public, no-cache``: ``latest``
    may move to a new run), ``Vary: Accept-Encoding`` and ``Content-Encoding: gzip`` when ``body`` is packed."""
    response = Response(body, status=status, mimetype=mimetype)
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.no_cache = True
    response.vary.add("Accept-Encoding")
    if gzipped and status == 200:
        response.headers["Content-Encoding"] = "gzip"
    return response
