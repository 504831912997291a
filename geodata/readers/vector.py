"""Vector readers: field boundaries, townships and pest observations.

Fields (GeoPackage layer ``fields`` or GeoJSON) are checked the way a cadastral
QA tool would: required columns, a CRS, no empty or null geometry, polygons
only, unique ``field_id``, crops from the supported list, parseable sowing
dates. Invalid polygons (self-intersections, bow-ties) are repaired with
:func:`shapely.make_valid` (``method="structure"``, keeping only polygonal
parts) and an :class:`~geodata.readers.common.InputWarning` names the repaired
field ids. A layer in another CRS is reprojected to ``target_crs``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from geodata.errors import InputError
from geodata.readers.common import (
    DateLike,
    InputWarning,
    as_timestamp,
    check_date_range,
    csv_lines,
    parse_dates,
    read_csv,
    require_file,
    shorten,
)

#: Crops the models know (docs/DATA_LAYOUT.md).
CROPS: tuple[str, ...] = ("potato", "spring_wheat", "maize", "highland_barley", "winter_wheat")
FIELD_COLUMNS: tuple[str, ...] = ("field_id", "crop", "cooperative_id", "sowing_date")
TOWNSHIP_COLUMNS: tuple[str, ...] = ("township_id", "name_zh", "name_en")
PEST_COLUMNS: tuple[str, ...] = ("date", "species", "count", "observer")
PEST_METHODS: tuple[str, ...] = ("pheromone_trap", "yellow_sticky_trap", "scouting")

TargetCRS = CRS | str | int | None


def _read_layer(path: str | Path, layer: str | None) -> gpd.GeoDataFrame:
    path = require_file(path)
    source = str(path)
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as err:
        raise InputError(f"not a readable vector file: {err}", source=source,
                         expected="a GeoPackage or GeoJSON") from err
    if layer is not None and layer not in layers:
        if len(layers) == 1 and path.suffix.lower() != ".gpkg":
            layer = None  # GeoJSON: one unnamed layer
        else:
            raise InputError("layer not found", source=source, field=layer, expected=f"one of {layers}")
    try:
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as err:
        raise InputError(f"cannot read layer: {err}", source=source, field=layer) from err


def _check_columns(gdf: gpd.GeoDataFrame, required: Sequence[str], source: str) -> None:
    missing = [c for c in required if c not in gdf.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}", source=source, field=missing[0],
            expected=f"columns {', '.join(required)}", got=[c for c in gdf.columns if c != "geometry"],
        )


def _check_crs(gdf: gpd.GeoDataFrame, source: str, target_crs: TargetCRS) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise InputError("layer has no CRS", source=source, field="crs",
                         expected="a georeferenced layer (e.g. EPSG:32648)")
    if target_crs is not None and not CRS(gdf.crs).equals(CRS.from_user_input(target_crs)):
        gdf = gdf.to_crs(target_crs)
    return gdf


def _check_polygons(gdf: gpd.GeoDataFrame, ids: pd.Series, source: str, what: str) -> gpd.GeoDataFrame:
    """Refuse null/empty/non-polygon geometries; repair invalid polygons with a warning."""
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        raise InputError(
            f"empty or missing geometry for {what} {shorten(ids[empty].astype(str).tolist())}",
            source=source, field="geometry", expected="a non-empty Polygon or MultiPolygon",
        )
    types = gdf.geom_type
    wrong = ~types.isin(["Polygon", "MultiPolygon"])
    if wrong.any():
        raise InputError(
            f"non-polygon geometry for {what} {shorten(ids[wrong].astype(str).tolist())}",
            source=source, field="geometry", expected="Polygon or MultiPolygon",
            got=sorted(set(types[wrong])),
        )
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        repaired = shapely.make_valid(gdf.geometry[invalid].to_numpy(), method="structure", keep_collapsed=False)
        collapsed = shapely.is_empty(repaired) | (shapely.area(repaired) == 0)
        if collapsed.any():
            bad_ids = ids[invalid][collapsed].astype(str).tolist()
            raise InputError(
                f"invalid geometry that collapses to nothing when repaired for {what} {shorten(bad_ids)}",
                source=source, field="geometry", expected="polygons with an area",
            )
        gdf = gdf.copy()
        gdf.loc[invalid, gdf.geometry.name] = repaired
        warnings.warn(
            f"{source}: repaired invalid geometry (make_valid) of {what} "
            f"{shorten(ids[invalid].astype(str).tolist())}",
            InputWarning,
            stacklevel=3,
        )
    return gdf


def _check_unique(ids: pd.Series, source: str, field: str) -> None:
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise InputError(
            f"duplicated ids {shorten(sorted(set(ids[dup].astype(str))))}",
            source=source, field=field, expected="unique ids",
        )


def read_fields(
    path: str | Path, *, layer: str | None = "fields", target_crs: TargetCRS = None
) -> gpd.GeoDataFrame:
    """Read field polygons (GeoPackage layer ``fields`` or GeoJSON), checked and repaired.

    Returns a GeoDataFrame with ``field_id`` (str, unique), ``crop`` (one of
    :data:`CROPS`), ``cooperative_id``, ``sowing_date`` (datetime64) and the
    other columns of the file, in ``target_crs`` when given (else the file's CRS).
    """
    source = str(path)
    gdf = _read_layer(path, layer)
    _check_columns(gdf, FIELD_COLUMNS, source)
    if len(gdf) == 0:
        raise InputError("layer has no fields", source=source, expected="at least one field")
    missing_id = gdf["field_id"].isna() | (gdf["field_id"].astype(str).str.strip() == "")
    if missing_id.any():
        raise InputError(
            f"missing field_id at features {shorten([str(i) for i in np.flatnonzero(missing_id)])}",
            source=source, field="field_id", expected="a non-empty id for every field",
        )
    gdf["field_id"] = gdf["field_id"].astype(str).str.strip()
    ids = gdf["field_id"]
    _check_unique(ids, source, "field_id")
    crops = gdf["crop"].astype(str).str.strip()
    unknown = ~crops.isin(CROPS)
    if unknown.any():
        raise InputError(
            f"unknown crop {sorted(set(crops[unknown]))} for fields {shorten(ids[unknown].tolist())}",
            source=source, field="crop", expected=f"one of {', '.join(CROPS)}",
        )
    gdf["crop"] = crops
    gdf["sowing_date"] = parse_dates(gdf["sowing_date"].astype(str), source=source, field="sowing_date", labels=ids)
    gdf = _check_crs(gdf, source, target_crs)
    gdf = _check_polygons(gdf, ids, source, "fields")
    return gdf.reset_index(drop=True)


def read_townships(
    path: str | Path, *, layer: str | None = "townships", target_crs: TargetCRS = None
) -> gpd.GeoDataFrame:
    """Read township polygons: unique ``township_id``, ``name_zh``, ``name_en``."""
    source = str(path)
    gdf = _read_layer(path, layer)
    _check_columns(gdf, TOWNSHIP_COLUMNS, source)
    gdf["township_id"] = gdf["township_id"].astype(str).str.strip()
    _check_unique(gdf["township_id"], source, "township_id")
    gdf = _check_crs(gdf, source, target_crs)
    gdf = _check_polygons(gdf, gdf["township_id"], source, "townships")
    return gdf.reset_index(drop=True)


def read_pests(
    paths: str | Path | Sequence[str | Path],
    *,
    start: DateLike | None = None,
    end: DateLike | None = None,
) -> gpd.GeoDataFrame:
    """Read pest trap/scouting points (GeoJSON, or CSV with ``lon``/``lat``) in EPSG:4326.

    A directory reads every ``traps_*.geojson`` and ``*.csv`` in it. Columns:
    ``date`` (datetime64), ``species``, ``count`` (int >= 0), ``observer`` and,
    when present, ``method`` and ``trap_id``. ``start``/``end`` filter by date.
    """
    lo, hi = as_timestamp(start, name="start"), as_timestamp(end, name="end")
    check_date_range(lo, hi)
    if isinstance(paths, (str, Path)) and Path(paths).is_dir():
        files = sorted(Path(paths).glob("traps_*.geojson")) + sorted(Path(paths).glob("*.csv"))
        if not files:
            raise InputError("no pest observation files", source=str(paths),
                             expected="traps_<yyyy>.geojson or *.csv")
    else:
        files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    frames = [_read_pest_file(p) for p in files]
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=4326)
    if lo is not None:
        out = out[out["date"] >= lo.normalize()]
    if hi is not None:
        out = out[out["date"] <= hi.normalize()]
    return out.sort_values("date", kind="stable").reset_index(drop=True)


def _read_pest_file(path: Path) -> gpd.GeoDataFrame:
    source = str(path)
    if path.suffix.lower() == ".csv":
        frame = read_csv(path, required=(*PEST_COLUMNS, "lon", "lat"))
        lon = pd.to_numeric(frame["lon"], errors="coerce")
        lat = pd.to_numeric(frame["lat"], errors="coerce")
        bad = lon.isna() | lat.isna() | (lon.abs() > 180) | (lat.abs() > 90)
        if bad.any():
            raise InputError(
                f"invalid coordinates at lines {csv_lines(np.flatnonzero(bad.to_numpy()))}",
                source=source, field="lon/lat", expected="WGS84 longitude/latitude in degrees",
            )
        gdf = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(lon, lat), crs=4326)
        where = lambda mask: "lines " + csv_lines(np.flatnonzero(mask))  # noqa: E731
    else:
        gdf = _read_layer(path, None)
        _check_columns(gdf, PEST_COLUMNS, source)
        if gdf.crs is None:
            raise InputError("layer has no CRS", source=source, field="crs", expected="EPSG:4326 (RFC 7946)")
        gdf = gdf.to_crs(4326)
        empty = gdf.geometry.isna() | gdf.geometry.is_empty
        wrong = empty | (gdf.geom_type != "Point")
        if wrong.any():
            raise InputError(
                f"missing or non-point geometry at features {shorten([str(i) for i in np.flatnonzero(wrong)])}",
                source=source, field="geometry", expected="Point",
            )
        where = lambda mask: "features " + shorten([str(i) for i in np.flatnonzero(mask)])  # noqa: E731
    gdf["date"] = parse_dates(gdf["date"].astype(str), source=source, field="date",
                              labels=None if path.suffix.lower() == ".csv" else
                              pd.Series([f"feature {i}" for i in range(len(gdf))], index=gdf.index))
    count = pd.to_numeric(gdf["count"], errors="coerce")
    bad = count.isna() | (count < 0) | (count != np.floor(count))
    if bad.any():
        raise InputError(
            f"invalid count at {where(bad.to_numpy())}", source=source, field="count",
            expected="an integer >= 0", got=gdf.loc[bad, "count"].iloc[0],
        )
    gdf["count"] = count.astype("int64")
    species = gdf["species"].astype(str).str.strip()
    blank = gdf["species"].isna() | (species == "")
    if blank.any():
        raise InputError(f"missing species at {where(blank.to_numpy())}", source=source, field="species",
                         expected="a Latin species name")
    if "method" in gdf.columns:
        method = gdf["method"].astype(str).str.strip()
        unknown = gdf["method"].notna() & (method != "") & ~method.isin(PEST_METHODS)
        if unknown.any():
            raise InputError(
                f"unknown method at {where(unknown.to_numpy())}", source=source, field="method",
                expected=f"one of {', '.join(PEST_METHODS)}", got=method[unknown].iloc[0],
            )
    return gdf
