"""Locate and open a region's inputs (docs/DATA_LAYOUT.md) for one season, lazily where it matters.

Only what a run needs is opened, and with ``as_of`` nothing dated after it:
the imagery and weather readers filter by date before they open a file.
Every file actually opened is recorded so run.json can list it with its checksum.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geodata.errors import InputError

SOIL_PROPERTIES = ("clay", "sand", "soc", "phh2o", "awc")


@dataclass
class RegionInputs:
    """Paths of one region's inputs and the small tables read eagerly."""

    root: Path
    fields: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame | None
    operations: pd.DataFrame | None
    yield_history: pd.DataFrame | None
    region: dict[str, Any]
    used: set[Path] = field(default_factory=set)

    @property
    def items_path(self) -> Path:
        return self.root / "sentinel2" / "items.json"

    @property
    def weather_dir(self) -> Path:
        return self.root / "weather"

    @property
    def dem_path(self) -> Path:
        return self.root / "dem" / "dem.tif"

    def soil_path(self, prop: str) -> Path:
        return self.root / "soil" / f"{prop}.tif"

    def pest_files(self, years: range | list[int]) -> list[Path]:
        """``pests/traps_<yyyy>.geojson`` of the given years that exist."""
        return [p for y in years if (p := self.root / "pests" / f"traps_{y}.geojson").exists()]

    def use(self, *paths: Path) -> None:
        """Record input files as used by the run (for run.json)."""
        self.used.update(Path(p) for p in paths)


def _require_dir(root: Path) -> Path:
    if not root.is_dir():
        raise InputError("inputs directory not found", source=str(root), expected="a region directory (DATA_LAYOUT.md)")
    return root


def open_region(root: Path) -> RegionInputs:
    """Read the small tables of a region and check the layout."""
    root = _require_dir(Path(root))
    from geodata.readers import tables, vector

    fields = vector.read_fields(root / "fields" / "fields.gpkg")
    townships_path = root / "fields" / "townships.gpkg"
    townships = vector.read_townships(townships_path) if townships_path.exists() else None
    ops_path = root / "operations" / "operations.csv"
    operations = tables.read_operations(ops_path) if ops_path.exists() else None
    yield_path = root / "yield" / "yield_history.csv"
    history = tables.read_yield_history(yield_path) if yield_path.exists() else None
    region_path = root / "region.json"
    region = json.loads(region_path.read_text(encoding="utf-8")) if region_path.exists() else {}
    inputs = RegionInputs(root, fields, townships, operations, history, region)
    inputs.use(*(p for p in (root / "fields" / "fields.gpkg", townships_path, ops_path, yield_path, region_path)
                 if p.exists()))
    return inputs


def as_date(value: str | dt.date | None, name: str) -> dt.date | None:
    """Parse an ISO date option."""
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return pd.Timestamp(value).date()
    except ValueError as err:
        raise InputError("is not a date", field=name, expected="an ISO date such as 2025-07-15", got=value) from err
