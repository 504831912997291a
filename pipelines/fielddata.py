"""Per-field data of a region, for every season with imagery: the small tables models work on.

:func:`collect` computes on the Dask cluster, once per run, the mean observed
NDVI of each field on every acquisition (block by block, only a
``(dates, fields)`` table comes back), the fields' mean slope and relative
elevation, and on the client the soil means (exactextract on SoilGrids) and
the daily weather at each field (from the coarse weather grid). Everything
that models need per field is then derived from these tables by
:func:`feature_table`, for any cut-off date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import geopandas as gpd
import pandas as pd
import xarray as xr
from distributed import Client

from geodata.grid import analysis_grid
from geodata.readers import read_dem, read_weather
from geodata.readers.imagery import Scene, load_items, select_scenes
from geodata.readers.raster import check_raster
from pipelines import (
    calendar,
    chunking,
    fieldfeatures,
    fieldseries,
    fieldweather,
    ndvi_stack,
    terrain,
)
from pipelines.errors import PipelineError
from pipelines.inputs import RegionInputs

#: weather history before the first season used for SPI and TCI (WMO: >= 30 years; >= 20 needed).
BASELINE_YEARS = 30


@dataclass
class SeasonFieldData:
    """Everything per field for one season (small): calendar and observed NDVI means."""

    season: int
    window: calendar.SeasonWindow
    sowing: pd.Series
    ends: pd.Series
    ndvi_obs: pd.DataFrame  # index: acquisition dates, columns: field ids


def imagery_years(inputs: RegionInputs) -> list[int]:
    """Calendar years with at least one Sentinel-2 item (from items.json only)."""
    return sorted({s.time.year for s in load_items(inputs.items_path)})


def season_calendar(inputs: RegionInputs, season: int, as_of: dt.date | None = None):
    """Sowing dates, season ends and window of ``season``."""
    sowing = calendar.sowing_dates(inputs.fields, inputs.operations, season)
    ends = calendar.season_ends(inputs.fields, sowing)
    return sowing, ends, calendar.season_window(sowing, ends, season, as_of)


def imagery_chunk_px(scenes: list[Scene], n_variables: int) -> int:
    """Spatial chunk (px) of a stack of ``n_variables`` over ``scenes`` (:mod:`pipelines.chunking`).

    The time steps are the distinct acquisition days (same-day items are mosaicked into one).
    """
    days = {s.time.normalize() for s in scenes}
    return chunking.spatial_chunk_px(max(len(days), 1), n_variables)


def persist(client: Client, array: da.Array | None) -> da.Array | None:
    """``array`` computed into the cluster's memory (same chunks), returned at once as a dask array on futures."""
    return None if array is None else client.persist(array)


@dataclass
class PendingObservations:
    """Per-field NDVI means being computed on the cluster; :meth:`result` waits for the table."""

    future: Any  # distributed.Future of the (dates, fields) array, or None when there is no acquisition
    dates: pd.DatetimeIndex
    field_ids: list[Any]

    def result(self) -> pd.DataFrame:
        if self.future is None:
            return pd.DataFrame(columns=self.field_ids, index=pd.DatetimeIndex([], name="date"), dtype="float64")
        values = self.future.result()
        self.future.release()
        return pd.DataFrame(values, index=pd.Index(self.dates, name="date"), columns=self.field_ids)


def submit_ndvi_observations(
    client: Client, inputs: RegionInputs, grid: Any, geoms: gpd.GeoSeries, start: dt.date, end: dt.date
) -> PendingObservations:
    """Start computing the mean observed (cloud-masked) NDVI of each field on each acquisition date in
    ``[start, end]`` on the cluster; return at once."""
    scenes = select_scenes(load_items(inputs.items_path), start, end)
    field_ids = list(geoms.index)
    if not scenes:
        return PendingObservations(None, pd.DatetimeIndex([], name="date"), field_ids)
    # one task per block reads B04, B08 and SCL of every date and holds their NDVI: four variables per day
    chunks = imagery_chunk_px(scenes, n_variables=4)
    ndvi = ndvi_stack.masked_ndvi(inputs.items_path, start=start, end=end, grid=grid, chunks=chunks)
    _record_imagery(inputs, scenes)
    means = fieldseries.field_means(ndvi.data, grid.affine, list(geoms.values))
    (future,) = client.compute([means])
    return PendingObservations(future, pd.DatetimeIndex(ndvi["time"].values).normalize(), field_ids)


def _record_imagery(inputs: RegionInputs, scenes: list) -> None:
    for scene in scenes:
        for asset in scene.item.assets.values():
            href = Path(asset.href)
            inputs.use(href if href.is_absolute() else inputs.items_path.parent / href)
    inputs.use(inputs.items_path)



def _weather(inputs: RegionInputs, years: list[int], valid_to: dt.date) -> xr.Dataset:
    """Daily weather from the baseline years to ``valid_to`` (later files are never opened)."""
    first = min(years) - BASELINE_YEARS
    ds = read_weather(inputs.weather_dir, start=f"{first}-01-01", end=valid_to)
    inputs.use(*[Path(p.strip()) for p in ds.attrs["source"].split(",")])
    return ds


def _spi_baseline(times: pd.DatetimeIndex, years: list[int]) -> tuple[str, str] | None:
    """Calibration period of SPI: the full years (of the daily ``times``) before the first imagery season."""
    start_year = times[0].year if times[0].dayofyear == 1 else times[0].year + 1
    end_year = min(years) - 1
    if end_year - start_year + 1 < fieldweather.MIN_SPI_YEARS:
        return None
    return f"{start_year}-01-01", f"{end_year}-12-31"


def _submit_terrain_field_means(
    client: Client, inputs: RegionInputs, grid: Any, geoms: gpd.GeoSeries
) -> Callable[[], pd.DataFrame]:
    """Start the mean slope (deg) and relative elevation (m) of each field; the returned call waits for them."""
    layers = terrain_layers(inputs, grid)
    stack = da.stack([layers["slope"].data, layers["rel_elev"].data])
    means = fieldseries.field_means(stack, grid.affine, list(geoms.values))
    (future,) = client.compute([means])

    def result() -> pd.DataFrame:
        values = future.result()
        future.release()
        return pd.DataFrame(values.T, index=geoms.index, columns=["slope", "rel_elev"])

    return result


def terrain_layers(inputs: RegionInputs, grid: Any) -> dict[str, xr.DataArray]:
    """Lazy slope and relative elevation on the grid (halo exchange between blocks)."""
    dem = read_dem(inputs.dem_path, grid=grid)
    inputs.use(inputs.dem_path)
    res = abs(grid.resolution.x)
    halo = terrain.halo_pixels(res)
    slope = dem.data.map_overlap(terrain.slope_degrees, depth=1, boundary="nearest", resolution_m=res,
                                 dtype="float32")
    rel = dem.data.map_overlap(terrain.relative_elevation, depth=halo, boundary="nearest", resolution_m=res,
                               dtype="float32")
    return {"slope": dem.copy(data=slope), "rel_elev": dem.copy(data=rel)}


def _soil_field_means(inputs: RegionInputs, fields: gpd.GeoDataFrame) -> pd.DataFrame:
    """Area-weighted soil properties per field (exactextract on the SoilGrids rasters, conventional units)."""
    from geodata.readers.terrain import SOIL_PROPERTIES

    paths = {name: inputs.soil_path(name) for name in SOIL_PROPERTIES}
    grids = {check_raster(path).geobox for path in paths.values()}
    inputs.use(*paths.values())
    from exactextract import exact_extract

    polys = fields[["field_id", "geometry"]].to_crs(4326)
    # SoilGrids layers share one grid: one pass over all of them (coverage fractions computed once)
    groups = [list(paths)] if len(grids) == 1 else [[name] for name in paths]
    out = pd.DataFrame(index=pd.Index(fields["field_id"], name="field_id"))
    for names in groups:
        table = exact_extract([str(paths[n]) for n in names], polys, ["mean"], include_cols=["field_id"],
                              output="pandas", strategy="raster-sequential").set_index("field_id")
        for name in names:
            column = f"{paths[name].stem}_mean" if len(names) > 1 else "mean"
            out[name] = table[column] / SOIL_PROPERTIES[name][0]
    return out


def features_for(
    seasons: dict[int, SeasonFieldData],
    season: int,
    fields: gpd.GeoDataFrame,
    weather_at: fieldweather.FieldWeather,
    spi3: xr.DataArray | None,
    terrain_means: pd.DataFrame,
    soil_means: pd.DataFrame,
    lo: pd.Series,
    hi: pd.Series,
) -> pd.DataFrame:
    """Per-field feature table of ``season`` for windows ``[lo, hi]`` (sowing to cut-off).

    ``spi3`` is the monthly SPI-3 per field (:func:`pipelines.fieldweather.spi_monthly`); the daily
    weather is interpolated for one batch of fields at a time.
    """
    cur = seasons[season]
    origin = pd.Timestamp(cur.window.start)
    ndvi = fieldfeatures.ndvi_features(cur.ndvi_obs, origin, lo, hi)
    history = {}
    for year, data in seasons.items():
        if year == season or data.ndvi_obs.empty:
            continue
        shift = year - season
        h = fieldfeatures.ndvi_features(
            data.ndvi_obs, pd.Timestamp(data.window.start),
            fieldfeatures.shift_years(lo, shift), fieldfeatures.shift_years(hi, shift),
        )
        history[year] = h["ndvi_mean"]
    crops = fields.set_index("field_id")["crop"]
    years_weather = sorted(set(weather_at.time.year))
    weather_parts, tmax_parts = [], []
    # days outside every field's window are masked by the season features, so only the span of the
    # windows is interpolated (one day of margin keeps SPI's nearest-day lookup the same); the Tmax
    # history needs every year, but only Tmax
    first, last = lo.min() - pd.Timedelta(days=1), hi.max() + pd.Timedelta(days=1)
    first, last = (None if pd.isna(first) else first), (None if pd.isna(last) else last)
    for ids in fieldweather.field_batches(list(lo.index)):
        fw = weather_at.at(ids, start=first, end=last)
        spi3_daily = fieldweather.spi_daily_at(spi3, fw["time"], ids)
        weather_parts.append(fieldfeatures.weather_features(fw, crops, lo.loc[ids], hi.loc[ids], spi3_daily))
        tmax = weather_at.at(ids, variables=["tasmax"])
        tmax_parts.append(fieldfeatures.tmax_history(tmax, lo.loc[ids], hi.loc[ids], season, years_weather,
                                                     span=(lo.min(), hi.max())))
        del fw, spi3_daily, tmax
    weather = pd.concat(weather_parts)
    tmax_hist = pd.concat(tmax_parts, axis=1)
    vhi = fieldfeatures.vhi_from_history(
        ndvi["ndvi_mean"], pd.DataFrame(history).T if history else pd.DataFrame(columns=ndvi.index),
        weather["tmax_mean"], tmax_hist,
    )
    static = pd.concat([soil_means, terrain_means], axis=1)
    table = pd.concat([ndvi, vhi, weather, static], axis=1)
    table["crop"] = crops.reindex(table.index)
    irrigated = fields.set_index("field_id").get("irrigated")
    table["irrigated"] = (irrigated.reindex(table.index).fillna(False).astype(bool)
                          if irrigated is not None else False)
    table["season"] = season
    table.index.name = "field_id"
    return table




@dataclass
class FieldData:
    """Per-field data of a region: seasons, weather at the fields, SPI, terrain and soil means."""

    inputs: RegionInputs
    grid: Any
    seasons: dict[int, SeasonFieldData]
    weather: xr.Dataset  # gridded daily weather (in memory, coarse), baseline years to the last valid date
    field_weather: fieldweather.FieldWeather  # daily weather at any batch of fields, on demand
    spi1: xr.DataArray | None  # monthly SPI-1 (time, field)
    spi3: xr.DataArray | None  # monthly SPI-3 (time, field)
    terrain_means: pd.DataFrame
    soil_means: pd.DataFrame

    @property
    def fields(self) -> gpd.GeoDataFrame:
        return self.inputs.fields

    def table(self, season: int, lo: pd.Series, hi: pd.Series) -> pd.DataFrame:
        """Feature table of ``season`` over each field's window ``[lo, hi]``."""
        return features_for(self.seasons, season, self.fields, self.field_weather, self.spi3,
                            self.terrain_means, self.soil_means, lo, hi)


def region_grid(inputs: RegionInputs, start: dt.date | None = None, end: dt.date | None = None) -> Any:
    """The analysis grid: the fields' UTM zone at 10 m, aligned to the imagery (first B04 of the period)."""
    scenes = select_scenes(load_items(inputs.items_path), start, end) or load_items(inputs.items_path)
    href = Path(scenes[0].item.assets["B04"].href)
    path = href if href.is_absolute() else inputs.items_path.parent / href
    return analysis_grid(inputs.fields, imagery=check_raster(path, check_nodata=False).geobox)


def collect(
    client: Client,
    inputs: RegionInputs,
    grid: Any,
    years: list[int],
    *,
    current: int | None = None,
    as_of: dt.date | None = None,
    progress: Any = None,
) -> FieldData:
    """Per-field data of ``years``; the ``current`` season is cut at ``as_of`` (nothing later is opened)."""
    if not years:
        raise PipelineError("no season with imagery", source=str(inputs.items_path), expected="at least one season")
    fields = inputs.fields
    geoms = fields.to_crs(grid.crs.to_wkt()).set_index("field_id").geometry
    windows = {}
    for year in years:
        windows[year] = season_calendar(inputs, year, as_of if year == current else None)
    last_valid = max(w[2].valid_to for w in windows.values())
    weather = _weather(inputs, years, last_valid)
    lonlat = fields.to_crs(4326).geometry.representative_point()
    field_weather = fieldweather.FieldWeather.from_grid(weather, lonlat.x.values, lonlat.y.values,
                                                        list(fields["field_id"]))
    # every season's imagery and the terrain go to the cluster at once; the weather, SPI and soil are
    # computed on the client meanwhile
    pending = {
        year: submit_ndvi_observations(client, inputs, grid, geoms, windows[year][2].start, windows[year][2].valid_to)
        for year in years
    }
    terrain_future = _submit_terrain_field_means(client, inputs, grid, geoms)
    baseline = _spi_baseline(field_weather.time, years)
    spi1 = fieldweather.spi_monthly(field_weather, 1, baseline) if baseline else None
    spi3 = fieldweather.spi_monthly(field_weather, 3, baseline) if baseline else None
    soil_means = _soil_field_means(inputs, fields)
    seasons: dict[int, SeasonFieldData] = {}
    for k, year in enumerate(years):
        s_sow, s_end, s_win = windows[year]
        seasons[year] = SeasonFieldData(year, s_win, s_sow, s_end, pending[year].result())
        if progress is not None:
            progress("field series", k + 1, len(years))
    return FieldData(
        inputs, grid, seasons, field_weather.grid, field_weather, spi1, spi3, terrain_future(), soil_means,
    )
