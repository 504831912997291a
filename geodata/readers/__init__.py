"""Readers for every input contract of docs/DATA_LAYOUT.md.

Each reader checks its input cheaply and raises :class:`geodata.errors.InputError`
naming the file, the field/band/variable and what was expected; rasters come
back as lazy dask-backed xarray objects, vectors as GeoDataFrames, tables as
DataFrames.
"""

from __future__ import annotations

from geodata.readers.common import InputWarning
from geodata.readers.imagery import SCL_INVALID, load_items, read_sentinel2, select_scenes
from geodata.readers.raster import RasterInfo, check_raster, open_raster
from geodata.readers.tables import read_operations, read_yield_history
from geodata.readers.terrain import SOIL_PROPERTIES, read_dem, read_soil
from geodata.readers.vector import CROPS, read_fields, read_pests, read_townships
from geodata.readers.weather import read_station_csv, read_weather, weather_files

__all__ = [
    "CROPS",
    "SCL_INVALID",
    "SOIL_PROPERTIES",
    "InputWarning",
    "RasterInfo",
    "check_raster",
    "load_items",
    "open_raster",
    "read_dem",
    "read_fields",
    "read_operations",
    "read_pests",
    "read_sentinel2",
    "read_soil",
    "read_station_csv",
    "read_townships",
    "read_weather",
    "read_yield_history",
    "select_scenes",
    "weather_files",
]
