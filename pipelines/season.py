"""The season run: inputs -> rasters, field tables, alerts and a STAC catalog in one atomic run directory.

Two passes over the imagery, both on the Dask cluster:

1. per-field means (NDVI of every acquisition of every season; slope and
   relative elevation) -> the per-field feature table, the hazard models and
   the yield prediction per field (small tables, on the client);
2. per-pixel layers block by block (smoothed NDVI, VHI, GDD, the yield model
   per pixel, risks and alert levels painted on the fields) -> COGs.

Then zonal statistics with exactextract on the written COGs, alerts, STAC and
run.json. Layout of the outputs: docs/DATA_LAYOUT.md "Outputs".
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from distributed import Client

from geodata.errors import InputError
from geodata.grid import xr_reproject
from geodata.readers import read_pests, read_soil
from geodata.readers.imagery import load_items, select_scenes
from models import alerts as alert_levels
from pipelines import (
    blockwrite,
    calendar,
    condition,
    fielddata,
    fieldfeatures,
    fieldweather,
    hazards,
    ndvi_stack,
    outputs,
    pests,
    rasterize,
    training,
    vegetation,
    zonal,
)
from pipelines.cluster import (
    ClusterSpec,
    bound_gdal_cache,
    client_peak_memory,
    dask_client,
    worker_peak_memory,
)
from pipelines.inputs import RegionInputs, open_region
from pipelines.rundir import staged_run_dir

#: imagery bands the per-pixel pass reads: the NDVI is the only index the output layers use
#: (EVI and NDMI are available from :func:`pipelines.vegetation.indices` for analysis).
BANDS = ("B04", "B08")
#: days of the alert window of an in-season (as-of) run: hazards of the last two weeks.
ALERT_WINDOW_DAYS = 14
#: a township is alerted at a level when at least this share of its field area is at that level or worse.
TOWNSHIP_AREA_SHARE = 0.3

RISK_LAYERS = tuple(f"risk_{h}" for h in hazards.HAZARDS)
LAYER_SPECS: dict[str, blockwrite.LayerSpec] = {
    "yield_t_ha": blockwrite.LayerSpec("yield_t_ha.tif", tags={"units": "t/ha"}),
    "yield_interval_t_ha": blockwrite.LayerSpec("yield_interval_t_ha.tif", tags={"units": "t/ha"}),
    **{name: blockwrite.LayerSpec(f"{name}.tif", tags={"units": "1"}) for name in RISK_LAYERS},
    "alert_level": blockwrite.LayerSpec("alert_level.tif", dtype="uint8", nodata=255, resampling="nearest",
                                        tags={"levels": "0 none, 1 blue, 2 yellow, 3 orange, 4 red"}),
    "ndvi_peak": blockwrite.LayerSpec("ndvi_peak.tif", tags={"units": "1"}),
    "vhi": blockwrite.LayerSpec("vhi.tif", tags={"units": "1 (0-100)"}),
    "gdd": blockwrite.LayerSpec("gdd.tif", tags={"units": "degC d"}),
}
TITLES = {
    "yield_t_ha": "Predicted yield (t/ha)",
    "yield_interval_t_ha": "Width of the 80 % yield prediction interval (t/ha)",
    **{f"risk_{h}": f"{h.capitalize()} risk (0-1)" for h in hazards.HAZARDS},
    "alert_level": "Worst alert level (0 none, 1 blue, 2 yellow, 3 orange, 4 red)",
    "ndvi_peak": "Season peak of the smoothed NDVI",
    "vhi": "Vegetation Health Index (0-100)",
    "gdd": "Growing degree days above 0 degC since the season start (degC d)",
}


@dataclass(frozen=True)
class RunOptions:
    """What to run: the region, season, output root, optional cut-off date and model."""

    inputs: Path
    season: int
    out: Path
    as_of: dt.date | None = None
    model_dir: Path | None = None

    @property
    def run_id(self) -> str:
        return str(self.season) if self.as_of is None else f"{self.season}-asof-{self.as_of:%Y%m%d}"


@dataclass
class RunResult:
    """What the run summary shows."""

    run_dir: Path
    run_id: str
    n_fields: int
    valid_from: dt.date
    valid_to: dt.date
    alerts_by_level: dict[str, int]
    alerts_by_hazard: dict[str, int]
    outputs: list[Path]
    wall_time_s: float
    peak_memory: dict[str, int]
    model_source: str
    cluster: str
    notes: list[str] = field(default_factory=list)
    client_peak_memory: int = 0  # bytes, the client process (and a local cluster's scheduler)


Progress = Callable[[str, int, int], None]


def _noop(stage: str, done: int, total: int) -> None:
    return None


# ---------------------------------------------------------------------------
# season data per field
# ---------------------------------------------------------------------------
# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------
def run_season(options: RunOptions, spec: ClusterSpec, progress: Progress = _noop) -> RunResult:
    """Run the season pipeline; the run directory appears complete or not at all."""
    bound_gdal_cache()
    started = time.perf_counter()
    if options.model_dir is not None:
        training.check_model_dir(options.model_dir)
    inputs = open_region(Path(options.inputs))
    fields = inputs.fields
    sowing, ends, window = fielddata.season_calendar(inputs, options.season, options.as_of)
    valid_to = window.valid_to
    notes: list[str] = []
    if not select_scenes(load_items(inputs.items_path), window.start, valid_to):
        raise InputError("no Sentinel-2 acquisition in the season window", source=str(inputs.items_path),
                         expected=f"items between {window.start} and {valid_to}")
    grid = fielddata.region_grid(inputs, window.start, valid_to)
    fields_grid = fields.to_crs(grid.crs.to_wkt()).set_index("field_id")
    progress("inputs", 1, 1)
    stages = _StageClock(started)
    stages.mark("inputs")

    with staged_run_dir(Path(options.out), options.run_id) as run_dir, dask_client(spec) as client:
        # ---- pass 1: per-field data -------------------------------------------------------
        years = [y for y in fielddata.imagery_years(inputs) if y <= options.season]
        fd = fielddata.collect(client, inputs, grid, years, current=options.season, as_of=options.as_of,
                               progress=progress)
        hasher = outputs.InputHasher()
        hasher.start(inputs.used)  # the files read so far; run.json's manifest reuses their digests
        if fd.spi3 is None:
            notes.append("SPI not computed: fewer than 20 baseline years of weather")
        as_of_ts = None if options.as_of is None else pd.Timestamp(options.as_of)
        cur = fd.seasons[options.season]
        leads = fieldfeatures.lead_for(sowing, ends, as_of_ts)
        table = season_feature_table(fd, options.season, leads, as_of_ts)

        stages.mark("field_data")
        # VCI's history needs no model: the workers compute it while the client fits and applies models
        history = fielddata.persist(client, ndvi_mean_history(inputs, grid, window, years, options.season))
        # ---- yield model --------------------------------------------------------------------
        model, model_source, card = training.obtain_model(
            fd, options.model_dir, before_season=options.season, progress=progress
        )
        field_yield = training.predict_fields(model, table, leads)
        progress("models", 1, 2)

        # ---- hazards per field --------------------------------------------------------------
        alert_start = alert_window_start(window)
        risk_table = field_risk_table(fd, options.season, table, (alert_start, valid_to))
        progress("models", 2, 2)

        stages.mark("models")
        # ---- pass 2: rasters -----------------------------------------------------------------
        layers = pixel_layers(fd, fields_grid, window, cur, years, table, risk_table, model, leads, options.season,
                              history=history, client=client)
        written = blockwrite.write_layers(
            client, layers, LAYER_SPECS, run_dir, crs=grid.crs.to_wkt(), transform=grid.affine,
            on_block=lambda d, t: progress("rasters", d, t),
        )

        stages.mark("rasters")
        # ---- per-field statistics, tables, alerts --------------------------------------------
        stats = zonal.field_statistics(written, fields, coverage_layer="ndvi_peak")
        field_table = _field_table(fields, stats, field_yield, risk_table)
        alerts = _alerts(field_table, risk_table, fields, options, alert_start, valid_to)
        outputs.write_field_tables(run_dir, field_table)
        outputs.write_field_timeseries(run_dir, _timeseries(cur))
        outputs.write_json(run_dir / "alerts.json", {
            "run_id": options.run_id, "season": options.season,
            "valid_from": str(alert_start), "valid_to": str(valid_to), "alerts": alerts,
        })
        outputs.write_json(run_dir / "model_card.json", card)
        outputs.write_stac_catalog(
            run_dir, written, run_id=options.run_id, valid_from=window.start, valid_to=valid_to, titles=TITLES,
            properties={"nongshu:season": options.season, "nongshu:run_id": options.run_id,
                        "nongshu:as_of": None if options.as_of is None else str(options.as_of)},
        )
        stages.mark("tables_alerts_catalog")
        peak = worker_peak_memory(client)
        client_peak = client_peak_memory()
        wall = time.perf_counter() - started
        run_json = {
            "run_id": options.run_id,
            "season": options.season,
            "as_of": None if options.as_of is None else str(options.as_of),
            "valid_period": {"from": str(window.start), "to": str(valid_to), "complete": window.complete},
            "alert_window": {"from": str(alert_start), "to": str(valid_to)},
            "inputs_root": str(Path(options.inputs).resolve()),
            "inputs": outputs.input_manifest(inputs.used, Path(options.inputs), hasher),
            "parameters": {
                "cluster": spec.description,
                "grid": {"crs": grid.crs.to_wkt(), "shape": list(grid.shape), "transform": list(grid.affine)[:6]},
                "bands": list(BANDS), "leads": list(fieldfeatures.LEADS), "alert_window_days": ALERT_WINDOW_DAYS,
                "smoothing": {"step_days": 5, "savgol_window": 7, "savgol_order": 2},
                "yield_model": model_source,
            },
            "versions": outputs.package_versions(),
            "wall_time_s": round(wall, 2),
            "stage_seconds": stages.seconds,
            "peak_memory_bytes": {
                "workers": peak, "max_worker": max(peak.values(), default=None), "client": client_peak,
                # each process's own high-water mark, added: an upper bound of the run's simultaneous peak
                "total": client_peak + sum(peak.values()),
            },
            "notes": notes,
        }
        outputs.write_json(run_dir / "run.json", run_json)
        files = sorted(p.name for p in run_dir.iterdir())
    final = Path(options.out) / options.run_id
    by_hazard: dict[str, int] = {}
    for a in alerts:
        by_hazard[a["hazard"]] = by_hazard.get(a["hazard"], 0) + 1
    return RunResult(
        run_dir=final, run_id=options.run_id, n_fields=len(fields), valid_from=window.start, valid_to=valid_to,
        alerts_by_level=alert_levels.level_counts(alerts), alerts_by_hazard=by_hazard,
        outputs=[final / f for f in files], wall_time_s=time.perf_counter() - started, peak_memory=peak,
        model_source=model_source, cluster=spec.description, notes=notes, client_peak_memory=client_peak,
    )


class _StageClock:
    """Wall seconds of each consecutive stage of a run (for run.json)."""

    def __init__(self, started: float) -> None:
        self._last = started
        self.seconds: dict[str, float] = {}

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 2)
        self._last = now


def _pest_drivers(
    inputs: RegionInputs, fields: gpd.GeoDataFrame, valid_to: dt.date, season: int
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Timestamp | None]]:
    """Per pest: trap pressure at each field (catch/trap/week) as of every day from 1 January to ``valid_to``
    (a date x field frame: each day uses only the readings made by then) and the biofix date."""
    from models.risk.pest import PESTS, SPECIES, biofix_date

    files = inputs.pest_files([season - 1, season] if season - 1 >= 0 else [season])
    files = [p for p in files if int(p.stem.split("_")[-1]) == season]
    pressure: dict[str, pd.DataFrame] = {}
    biofix: dict[str, pd.Timestamp | None] = {}
    if not files:
        return pressure, biofix
    obs = read_pests(files, start=f"{season}-01-01", end=valid_to)
    inputs.use(*files)
    if obs.empty:
        return pressure, biofix
    crs = fields.crs
    pts = obs.to_crs(crs)
    obs = obs.assign(x=pts.geometry.x, y=pts.geometry.y)
    if "trap_id" not in obs:
        obs = obs.assign(trap_id=obs["x"].round(0).astype(str) + "," + obs["y"].round(0).astype(str))
    centroids = fields.geometry.representative_point()
    days = pd.date_range(f"{season}-01-01", pd.Timestamp(valid_to), freq="D")
    for species, group in obs.groupby("species"):
        name = SPECIES.get(str(species))
        if name is None or name not in PESTS:
            continue
        traps = group[group.get("method", "").astype(str) != "scouting"] if "method" in group else group
        values = pests.daily_pressure(centroids.x.values, centroids.y.values, traps, days)
        pressure[name] = pd.DataFrame(values.astype("float32"), index=days, columns=fields["field_id"].values)
        biofix[name] = biofix_date(traps[["date", "count"]])
    return pressure, biofix


def alert_window_start(window: calendar.SeasonWindow) -> dt.date:
    """First day of the alert window: the season start, or the last two weeks of an in-season run."""
    if window.complete:
        return window.start
    return max(window.start, window.valid_to - dt.timedelta(days=ALERT_WINDOW_DAYS - 1))


def field_risk_table(
    fd: fielddata.FieldData, season: int, table: pd.DataFrame, alert_window: tuple[dt.date, dt.date]
) -> pd.DataFrame:
    """Every hazard model applied to every field of ``season``, summarised over ``alert_window``."""
    inputs, fields = fd.inputs, fd.fields
    cur = fd.seasons[season]
    valid_to = alert_window[1]
    pest_pressure, biofix = _pest_drivers(inputs, fields, valid_to, season)
    attrs = fields.set_index("field_id")
    drivers = hazards.FieldDrivers(
        crop=attrs["crop"],
        sowing=cur.sowing,
        irrigated=attrs["irrigated"].fillna(False).astype(bool) if "irrigated" in attrs
        else pd.Series(False, index=attrs.index),
        rel_elev_m=table["rel_elev"],
        slope_deg=table["slope"],
        vhi=table["vhi"],
        pest_pressure=pest_pressure,
        biofix=biofix,
    )
    first, last = pd.Timestamp(cur.sowing.min()) - pd.Timedelta(days=1), pd.Timestamp(valid_to)

    def weather_for(ids: list[str]) -> tuple[xr.Dataset, xr.DataArray | None, xr.DataArray | None]:
        fw = fd.field_weather.at(ids, start=first, end=last)
        return (fw, fieldweather.spi_daily_at(fd.spi1, fw["time"], ids),
                fieldweather.spi_daily_at(fd.spi3, fw["time"], ids))

    return hazards.field_risks(weather_for, drivers, window=alert_window)


def season_feature_table(
    fd: fielddata.FieldData, season: int, leads: pd.Series, as_of: pd.Timestamp | None
) -> pd.DataFrame:
    """Per-field features of ``season`` at each field's lead-time cut-off (see :mod:`pipelines.fieldfeatures`)."""
    cur = fd.seasons[season]
    hi = pd.Series(pd.NaT, index=cur.sowing.index, dtype="datetime64[ns]")
    for lead in fieldfeatures.LEADS:
        sel = leads == lead
        if sel.any():
            hi[sel] = fieldfeatures.cutoffs(cur.sowing, cur.ends, lead, as_of)[sel]
    # fields sown less than 30 days ago: features up to the as-of date (no yield model applies yet)
    hi = hi.fillna(as_of if as_of is not None else cur.ends.max())
    table = fd.table(season, cur.sowing, hi)
    table["cutoff"] = hi.reindex(table.index)
    return table


# ---------------------------------------------------------------------------
# pass 2: per-pixel layers
# ---------------------------------------------------------------------------
def pixel_layers(
    fd: fielddata.FieldData,
    fields_grid: gpd.GeoDataFrame,
    window: calendar.SeasonWindow,
    cur: fielddata.SeasonFieldData,
    years: list[int],
    table: pd.DataFrame,
    risk_table: pd.DataFrame,
    model: Any,
    leads: pd.Series,
    season: int,
    history: da.Array | None = None,
    client: Client | None = None,
) -> dict[str, da.Array]:
    """Lazy 2-D dask arrays of every output layer, all with the same chunks.

    ``history`` is :func:`ndvi_mean_history` (e.g. already persisted on the cluster); built here when not given.
    With ``client``, the region-sized objects every block needs (field polygons, per-field values, the model:
    ~10 MB at 22,000 fields) are scattered to the cluster once instead of travelling inside the graph.
    """
    inputs, grid = fd.inputs, fd.grid
    px = season_chunk_px(inputs, window)
    ndvi = ndvi_stack.masked_ndvi(inputs.items_path, start=window.start, end=window.valid_to, grid=grid, chunks=px)
    smooth = vegetation.smoothed(ndvi, window)
    metrics = vegetation.season_metrics(smooth)
    chunks = metrics["ndvi_mean"].data.chunks

    if history is None:
        history = ndvi_mean_history(inputs, grid, window, years, season)
    if history is not None:
        hist = history.rechunk({0: -1, 1: chunks[0], 2: chunks[1]})
        vci = da.map_blocks(_vci_block, metrics["ndvi_mean"].data[None], hist, dtype="float32",
                            chunks=((1,), *chunks), meta=np.array((), dtype="float32"))[0]
    else:
        vci = da.full(metrics["ndvi_mean"].shape, 50.0, chunks=chunks, dtype="float32")
    tci_grid = _coarse_to_grid(_tci_coarse(fd.weather, window), grid, chunks)
    vhi = da.map_blocks(condition.vhi, vci, tci_grid, dtype="float32", meta=np.array((), dtype="float32"))
    gdd_grid = _coarse_to_grid(_gdd_coarse(fd.weather, window), grid, chunks)

    static = _static_stack(inputs, grid, chunks)
    per_field = _per_field_arrays(fields_grid.index, table, risk_table, leads, cur, window)
    geoms = rasterize.GeomPack.from_geoseries(fields_grid.geometry, grid.affine)
    outputs_block = da.map_blocks(
        rasterize.field_block,
        smooth.data.rechunk({0: -1, 1: chunks[0], 2: chunks[1]}),
        da.concatenate([vhi[None], static], axis=0).rechunk({0: -1, 1: chunks[0], 2: chunks[1]}),
        dtype="float32",
        chunks=((rasterize.N_OUTPUTS,), *chunks),
        meta=np.array((), dtype="float32"),
        # region-sized objects go to the cluster once (one key each), not into every block's task
        geoms=_shared(geoms, client),
        per_field=_shared(per_field, client),
        model=_shared(model, client),
        days=vegetation.day_numbers(smooth["date"].values, np.datetime64(window.start)),
        static_names=("vhi", *STATIC_NAMES),
    )
    out = {name: outputs_block[k] for k, name in enumerate(rasterize.OUTPUT_NAMES)}
    out["ndvi_peak"] = metrics["ndvi_peak"].data
    out["vhi"] = vhi
    out["gdd"] = gdd_grid
    return out


def _shared(obj: Any, client: Client | None) -> Any:
    """``obj`` as one graph dependency: scattered to the cluster with a client, else one graph key.

    Scattered to every worker (``broadcast``): a copy survives a lost worker, which data that only
    lives in a scattered future could not otherwise (the scheduler cannot recompute it).
    """
    if client is None:
        return dask.delayed(obj, traverse=False)
    return dask.delayed(client.scatter(obj, broadcast=True, hash=False))


def season_chunk_px(inputs: RegionInputs, window: calendar.SeasonWindow) -> int:
    """Spatial chunk (px) of the season's ``(time, y, x)`` stacks: bands, SCL and NDVI of every date in a task."""
    scenes = select_scenes(load_items(inputs.items_path), window.start, window.valid_to)
    return fielddata.imagery_chunk_px(scenes, n_variables=len(BANDS) + 2)


def ndvi_mean_history(
    inputs: RegionInputs, grid: Any, window: calendar.SeasonWindow, years: list[int], season: int
) -> da.Array | None:
    """Mean smoothed NDVI per pixel over the same calendar window of every other imagery season (VCI's history).

    A lazy ``(seasons, y, x)`` array chunked like the season's layers, or None without another season.
    It depends on no model, so a run can compute it while the client trains and evaluates.
    """
    px = season_chunk_px(inputs, window)
    history = []
    for year in years:
        if year == season:
            continue
        w = window.shifted(year)
        if not select_scenes(load_items(inputs.items_path), w.start, w.valid_to):
            continue
        past_ndvi = ndvi_stack.masked_ndvi(inputs.items_path, start=w.start, end=w.valid_to, grid=grid, chunks=px)
        history.append(vegetation.season_metrics(vegetation.smoothed(past_ndvi, w))["ndvi_mean"].data)
    return da.stack(history) if history else None


STATIC_NAMES = ("awc", "clay", "sand", "soc", "phh2o", "slope", "rel_elev")


def _vci_block(current: np.ndarray, history: np.ndarray) -> np.ndarray:
    return condition.vci(current[0], history)[None]


def _static_stack(inputs: RegionInputs, grid: Any, chunks: tuple) -> da.Array:
    soil = read_soil(inputs.root / "soil", grid=grid)
    terr = fielddata.terrain_layers(inputs, grid)
    arrays = [soil[name].data for name in STATIC_NAMES[:5]] + [terr["slope"].data, terr["rel_elev"].data]
    return da.stack([a.rechunk(chunks) for a in arrays])


def _coarse_to_grid(coarse: xr.DataArray, grid: Any, chunks: tuple) -> da.Array:
    """A small (latitude, longitude) field bilinearly on the analysis grid, lazily."""
    src = coarse.rename({"latitude": "y", "longitude": "x"}) if "latitude" in coarse.dims else coarse
    src = src.astype("float32").rio.write_crs("EPSG:4326").chunk()
    out = xr_reproject(src, grid, kind="continuous")
    if src.sizes["y"] < 2 or src.sizes["x"] < 2:
        out = xr_reproject(src, grid, kind="continuous", resampling="nearest")
    return out.data.rechunk(chunks)


def _window_mean(var: xr.DataArray, start: dt.date, end: dt.date) -> xr.DataArray:
    return var.sel(time=slice(pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(hours=23))).mean("time")


def _tci_coarse(weather: xr.Dataset, window: calendar.SeasonWindow) -> xr.DataArray:
    """TCI per weather cell: the window's mean Tmax against the same window of every other year on file."""
    tmax = weather["tasmax"]
    current = _window_mean(tmax, window.start, window.valid_to).compute()
    first_year = int(pd.DatetimeIndex(tmax["time"].values)[0].year)
    history = []
    for year in range(first_year, window.season):
        w = window.shifted(year)
        if pd.Timestamp(w.start) < pd.Timestamp(tmax["time"].values[0]):
            continue
        history.append(_window_mean(tmax, w.start, w.valid_to).compute().values)
    values = condition.tci(current.values, np.stack(history)) if history else np.full(current.shape, 50.0)
    return current.copy(data=values.astype("float32"))


def _gdd_coarse(weather: xr.Dataset, window: calendar.SeasonWindow) -> xr.DataArray:
    """GDD above 0 degC (xclim) from the window start to its valid date, per weather cell."""
    from models.agroclimate import growing_degree_days

    tas = weather["tas"] if "tas" in weather else (weather["tasmin"] + weather["tasmax"]) / 2
    tas.attrs["units"] = weather["tasmin"].attrs.get("units", "K")
    part = tas.sel(time=slice(pd.Timestamp(window.start), pd.Timestamp(window.valid_to) + pd.Timedelta(hours=23)))
    return growing_degree_days(part, thresh="0 degC", freq="YS").sum("time").compute()


def _per_field_arrays(
    order: pd.Index,
    table: pd.DataFrame,
    risk_table: pd.DataFrame,
    leads: pd.Series,
    cur: fielddata.SeasonFieldData,
    window: calendar.SeasonWindow,
) -> rasterize.PerField:
    """Per-field values the block function paints or feeds to the yield model (label k = ``order[k]``)."""
    risks = risk_table.pivot_table(index="target_id", columns="hazard", values="risk", aggfunc="max")
    risk_arr = np.stack([
        risks[h].reindex(order).to_numpy(dtype="float32") if h in risks else np.full(len(order), np.nan, "float32")
        for h in hazards.HAZARDS
    ])
    levels = np.stack([np.asarray(alert_levels.risk_to_level(risk_arr[k], h)) for k, h in enumerate(hazards.HAZARDS)])
    origin = np.datetime64(window.start)
    return rasterize.PerField(
        ids=list(order),
        risk=risk_arr,
        worst_level=levels.max(axis=0).astype("float32"),
        features=table.reindex(order),
        leads=leads.reindex(order),
        lo_day=vegetation.day_numbers(cur.sowing.reindex(order).values, origin),
        hi_day=vegetation.day_numbers(table["cutoff"].reindex(order).values, origin),
    )


# ---------------------------------------------------------------------------
# tables and alerts
# ---------------------------------------------------------------------------
def _field_table(
    fields: gpd.GeoDataFrame, stats: pd.DataFrame, field_yield: pd.DataFrame, risk_table: pd.DataFrame
) -> gpd.GeoDataFrame:
    out = fields.merge(stats, on="field_id", how="left")
    out = out.merge(field_yield.reset_index(), on="field_id", how="left")
    levels = risk_table.assign(level=[int(alert_levels.risk_to_level(r if r is not None else np.nan, h))
                                      for r, h in zip(risk_table["risk"], risk_table["hazard"], strict=True)])
    pivot = levels.pivot_table(index="target_id", columns="hazard", values="level", aggfunc="max")
    for hazard in hazards.HAZARDS:
        col = pivot[hazard] if hazard in pivot else pd.Series(0, index=pivot.index)
        out[f"alert_{hazard}"] = out["field_id"].map(col).fillna(0).astype("uint8")
    out["alert_level"] = out[[f"alert_{h}" for h in hazards.HAZARDS]].max(axis=1).astype("uint8")
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%d")
    return out


def _alerts(
    field_table: gpd.GeoDataFrame,
    risk_table: pd.DataFrame,
    fields: gpd.GeoDataFrame,
    options: RunOptions,
    valid_from: dt.date,
    valid_to: dt.date,
) -> list[dict[str, Any]]:
    """Field alerts (blue and above) and township alerts from the field levels."""
    attrs = fields.set_index("field_id")
    rows = risk_table.copy()
    rows["target_type"] = "field"
    for column in ("township", "cooperative_id"):
        rows[column] = rows["target_id"].map(attrs[column]) if column in attrs else None
    alerts = alert_levels.build_alerts(rows, options.season, str(valid_from), str(valid_to))
    alerts += township_alerts(field_table, risk_table, options, valid_from, valid_to)
    return alerts


def township_alerts(
    field_table: gpd.GeoDataFrame,
    risk_table: pd.DataFrame,
    options: RunOptions,
    valid_from: dt.date,
    valid_to: dt.date,
) -> list[dict[str, Any]]:
    """Per township and hazard: the highest level reached by >= 30 % of its field area.

    The township risk is the area-weighted 70th percentile of its fields' risks,
    so the level equals the level that at least :data:`TOWNSHIP_AREA_SHARE` of
    the field area reaches (levels are monotone in risk).
    """
    if "township" not in field_table:
        return []
    area = field_table.set_index("field_id").geometry.area
    town = field_table.set_index("field_id")["township"]
    rows = []
    for (township, hazard), group in risk_table.assign(township=risk_table["target_id"].map(town)).groupby(
        ["township", "hazard"]
    ):
        risk = group.set_index("target_id")["risk"].astype(float).dropna()
        if risk.empty:
            continue
        weights = area.reindex(risk.index).to_numpy()
        order = np.argsort(-risk.to_numpy())
        cum = np.cumsum(weights[order]) / weights.sum()
        k = int(np.searchsorted(cum, TOWNSHIP_AREA_SHARE))
        value = float(risk.to_numpy()[order][min(k, len(order) - 1)])
        affected = group[[int(alert_levels.risk_to_level(float(r), hazard)) >= 1 for r in group["risk"].fillna(0)]]
        rows.append({
            "target_id": township, "target_type": "township", "hazard": hazard, "risk": value,
            "township": township, "crop": None, "stage": None,
            "triggers": {"fields": len(group), "fields_alerted": len(affected),
                         "area_share_at_level": TOWNSHIP_AREA_SHARE},
        })
    if not rows:
        return []
    return alert_levels.build_alerts(pd.DataFrame(rows), options.season, str(valid_from), str(valid_to))


def _timeseries(cur: fielddata.SeasonFieldData) -> pd.DataFrame:
    """field_timeseries.csv rows: observed field-mean NDVI and the smoothed curve on the observation dates."""
    obs = cur.ndvi_obs
    if obs.empty:
        return pd.DataFrame(columns=["field_id", "date", "ndvi", "ndvi_smooth"])
    origin = np.datetime64(cur.window.start)
    days = vegetation.day_numbers(obs.index.values, origin)
    axis = vegetation.timeseries.regular_axis(origin, np.datetime64(cur.window.valid_to))
    axis_days = vegetation.day_numbers(axis, origin)
    regular = vegetation.timeseries.smoothed_ndvi(obs.to_numpy(dtype="float32"), days, axis_days)
    smooth = vegetation.timeseries.interpolate_gaps(regular, axis_days, days)
    long = pd.DataFrame({
        "field_id": np.tile(obs.columns.to_numpy(), len(obs.index)),
        "date": np.repeat(obs.index.strftime("%Y-%m-%d").to_numpy(), len(obs.columns)),
        "ndvi": obs.to_numpy().ravel(),
        "ndvi_smooth": smooth.ravel(),
    })
    return long.sort_values(["field_id", "date"], kind="stable").reset_index(drop=True)


def load_run_json(run_dir: Path) -> dict[str, Any]:
    """The run.json of a finished run."""
    return json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))


