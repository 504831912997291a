"""Writes every input file of ``docs/DATA_LAYOUT.md`` for a demo region.

Orchestration only: the models live in :mod:`~geodata.demo.terrain`,
:mod:`~geodata.demo.weather`, :mod:`~geodata.demo.fields`,
:mod:`~geodata.demo.crops`, :mod:`~geodata.demo.imagery` and
:mod:`~geodata.demo.records`. Every random draw comes from a generator seeded
by ``(seed, component)``, so a seed always gives identical files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from pyproj import Transformer
from rasterio import features
from rasterio.transform import Affine, from_origin
from rasterio.warp import Resampling, reproject, transform_bounds

from geodata.cog import write_cog
from geodata.demo import crops as crop_model
from geodata.demo.fields import make_fields, townships
from geodata.demo.imagery import render_scene, scl_to_20m, to_20m
from geodata.demo.records import insecticide_days, operations, trap_counts
from geodata.demo.regions import CropSpec, RegionSpec, get_region
from geodata.demo.terrain import Terrain, make_terrain
from geodata.demo.weather import (
    WeatherYear,
    downscale_tmin,
    extraterrestrial_radiation,
    generate_year,
    radiative_index,
)
from geodata.errors import InputError, OutputError
from geodata.stac import S2_OFFSET, S2_SCALE, sentinel2_item, write_item_collection

GENERATOR_VERSION = "1.1.0"  # 1.1: dew point consistent with the daily mean RH, rain-dependent wet-day RH, realistic trap catches
RES = 10.0
BASELINE_YEARS = 20
WEATHER_RES = 0.1
DEM_RES = 1.0 / 3600
SOIL_RES = 0.0025
SEASON_START, SEASON_END = (3, 1), (10, 31)


def season_types(seasons: int) -> list[str]:
    """Designated season types: a drought and a wet season among the past seasons when K >= 3."""
    if seasons <= 3:
        return ["drought", "wet", "normal"][:seasons]
    types = ["normal"] * seasons
    types[1] = "drought"
    types[-2] = "wet"
    return types


def _rng(seed: int, *component: int) -> np.random.Generator:
    return np.random.default_rng([seed, *component])


class _Progress:
    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self._bar: Any = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description:<28}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
            self._bar.start()
            self._task = self._bar.add_task("demo region", total=total)

    def step(self, text: str, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=n, description=text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _atomic_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_via(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename into place."""
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def generate_region(region: str, out: Path, *, size: int = 512, seasons: int = 6, seed: int = 0,
                    last_season: int = 2026, dates_per_season: int | None = None,
                    progress: bool = False) -> Path:
    """Generate (or reuse) the demo region ``region`` in ``out``; returns ``out``.

    ``size`` px at 10 m (even, >= 128), ``seasons`` season years ending with
    ``last_season``, ``dates_per_season`` evenly spaced Sentinel-2 dates
    (default: every 5 or 10 days from 1 March to 31 October).
    """
    spec = get_region(region)
    if size < 128 or size % 2:
        raise InputError("size must be an even number of pixels >= 128", field="size",
                         expected="even integer >= 128", got=size)
    if seasons < 1:
        raise InputError("need at least one season", field="seasons", expected=">= 1", got=seasons)
    if dates_per_season is not None and dates_per_season < 2:
        raise InputError("need at least two dates per season", field="dates_per_season",
                         expected=">= 2", got=dates_per_season)
    out = Path(out)
    params = {"region": region, "size": size, "seasons": seasons, "seed": seed,
              "last_season": last_season, "dates_per_season": dates_per_season,
              "generator_version": GENERATOR_VERSION}
    manifest = out / "region.json"
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = {}
        if old.get("parameters") == params and all((out / f).exists() for f in old.get("files", [])):
            return out
    try:
        out.mkdir(parents=True, exist_ok=True)
        for sub in ("sentinel2", "weather", "soil", "dem", "pests", "fields", "yield", "operations"):
            (out / sub).mkdir(exist_ok=True)
    except OSError as err:
        raise OutputError("cannot create the output directory", source=str(out), got=str(err)) from err
    try:
        return _generate(spec, out, params, progress)
    except OSError as err:
        if isinstance(err, OutputError):
            raise
        raise OutputError("cannot write the demo region", source=str(out), got=str(err)) from err


def _generate(spec: RegionSpec, out: Path, params: dict[str, Any], progress: bool) -> Path:
    size, seed, n_seasons = params["size"], params["seed"], params["seasons"]
    last = params["last_season"]
    years = list(range(last - n_seasons + 1, last + 1))
    types = season_types(n_seasons)
    baseline = list(range(years[0] - BASELINE_YEARS, years[0]))
    files: list[str] = []

    # --- grid -------------------------------------------------------------
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{spec.epsg}", always_xy=True)
    cx, cy = to_utm.transform(spec.lon, spec.lat)
    half = size * RES / 2
    x0, y1 = np.floor((cx - half) / 20) * 20, np.floor((cy + half) / 20) * 20
    transform = from_origin(x0, y1, RES, RES)
    bounds = (x0, y1 - size * RES, x0 + size * RES, y1)
    bounds_wgs84 = transform_bounds(f"EPSG:{spec.epsg}", "EPSG:4326", *bounds, densify_pts=21)

    dates_for = {y: _acquisition_days(y, params["dates_per_season"], _rng(seed, 90, y))
                 for y in years}
    bar = _Progress(progress, 4 + len(baseline) + 3 * len(years)
                    + sum(len(d) for d in dates_for.values()))
    try:
        # --- terrain, soil, DEM ------------------------------------------------
        terrain = make_terrain(spec, size, RES, _rng(seed, 1))
        files += _write_dem_soil(out, spec, terrain, transform, bounds_wgs84)
        bar.step("terrain and soil")

        # --- fields and townships ----------------------------------------------
        towns = townships(spec, bounds, spec.epsg, _rng(seed, 2))
        fields = make_fields(spec, terrain, transform, spec.epsg, towns, _rng(seed, 3))
        field_idx = features.rasterize(((g, k + 1) for k, g in enumerate(fields.geometry)),
                                       out_shape=(size, size), transform=transform, fill=0,
                                       dtype="int32")
        bar.step("fields")

        # --- weather -------------------------------------------------------------
        lats, lons, orog, px_cell = _weather_grid(spec, terrain, transform, bounds_wgs84)
        weather: dict[int, WeatherYear] = {}
        for y in baseline + years:
            is_season = y in years
            stype = types[years.index(y)] if is_season else "normal"
            wy = generate_year(spec, y, stype, orog, _rng(seed, 10, y), force_events=is_season)
            files.append(_write_weather(out, wy, lats, lons, orog, spec))
            if is_season:
                weather[y] = wy
            bar.step(f"weather {y}")

        # --- per-field terrain and soil ----------------------------------------
        n_f = len(fields)
        counts = np.bincount(field_idx.ravel(), minlength=n_f + 1)[1:]

        def zonal(a: np.ndarray) -> np.ndarray:
            s = np.bincount(field_idx.ravel(), weights=a.ravel().astype(float), minlength=n_f + 1)
            return s[1:] / np.maximum(counts, 1)

        f_z, f_local = zonal(terrain.dem), zonal(terrain.local_mean)
        f_awc, f_soc = zonal(terrain.awc), zonal(terrain.soc)
        n_cells = orog.size
        # each field's weather cell: the cell holding most of its pixels
        pairs = np.bincount((field_idx.astype(np.int64) * n_cells + px_cell).ravel(),
                            minlength=(n_f + 1) * n_cells).reshape(n_f + 1, n_cells)
        f_cell = pairs[1:].argmax(axis=1).astype(np.int64)
        c_z = orog.ravel()
        crop_of = {c.name: c for c in spec.crops}
        f_crops = tuple(crop_of[c] for c in fields.crop)
        sow_offset = _rng(seed, 4).normal(0, 1, n_f)
        sprays = _rng(seed, 5).random(n_f) < 0.85

        # entities = fields + one grassland per weather cell
        ent_cell = np.r_[f_cell, np.arange(n_cells)]
        ent_z = np.r_[f_z, c_z]
        ent_local = np.r_[f_local, c_z]
        ent_awc = np.r_[f_awc, np.full(n_cells, spec.soil_awc * 0.8)]
        ent_soc = np.r_[f_soc, np.full(n_cells, spec.soil_soc)]
        ent_crops: tuple[CropSpec, ...] = f_crops + (crop_model.GRASS,) * n_cells

        centroids = fields.geometry.centroid
        field_xy = np.c_[centroids.x.to_numpy(), centroids.y.to_numpy()]
        hetero = _heterogeneity(terrain, _rng(seed, 6))
        valley_dark = (1.05 - 0.12 * terrain.valley).astype(np.float32)
        entity_px = np.where(field_idx > 0, field_idx - 1, n_f + px_cell).astype(np.int32)

        items = []
        yield_rows, op_rows = [], []
        season_summary = {}
        for si, y in enumerate(years):
            wy = weather[y]
            ndays = len(wy.dates)

            def at_entities(a: np.ndarray, ndays: int = ndays) -> np.ndarray:
                """Daily values (days, entities) of each entity's weather cell."""
                return a.reshape(ndays, -1)[:, ent_cell]

            tmin_cell = at_entities(wy.tasmin)
            pr = at_entities(wy.pr)
            rad = radiative_index(tmin_cell, at_entities(wy.tasmax), pr)
            tmin = downscale_tmin(tmin_cell, ent_z[None], c_z[ent_cell][None], ent_local[None],
                                  rad) - 273.15
            lapse = -0.0065 * (ent_z - c_z[ent_cell])[None]
            hail_hit = _hail_swath(field_xy, bounds, _rng(seed, 8, y))
            sow = np.array([_sow_doy(c, y, sow_offset[k] if k < n_f else 0.0,
                                     _rng(seed, 7, y).normal(0, 2))
                            for k, c in enumerate(ent_crops)])
            inp = crop_model.SeasonInputs(
                year=y, lat=spec.lat, tmin=tmin, tmax=at_entities(wy.tasmax) - 273.15 + lapse,
                tmean=at_entities(wy.tas) - 273.15 + lapse, pr=pr, hurs=at_entities(wy.hurs),
                awc=ent_awc, soc=ent_soc,
                irrigated=np.r_[fields.irrigated.to_numpy(), np.zeros(n_cells, bool)],
                sow_doy=sow, crops=ent_crops, sprays_blight=np.r_[sprays, np.zeros(n_cells, bool)],
                hail_doy=None if wy.hail_day is None else wy.hail_day + 1,
                hail_hit=np.r_[hail_hit, np.zeros(n_cells, bool)] if wy.hail_day is not None
                else None)
            res = crop_model.simulate_season(inp, _rng(seed, 20, y))
            bar.step(f"crops {y}")

            # imagery
            ra = extraterrestrial_radiation(spec.lat, np.arange(1, len(wy.dates) + 1, dtype=float))
            trans = wy.rsds.reshape(len(wy.dates), -1).mean(axis=1) * 0.0864 / ra
            rain3 = np.convolve(wy.pr.reshape(len(wy.dates), -1).mean(axis=1), np.ones(3))[: len(ra)]
            for j, doy in enumerate(dates_for[y]):
                rng_d = _rng(seed, 30, y, doy)
                ndvi = res.ndvi[doy - 1][entity_px] * hetero + rng_d.normal(0, 0.012, (size, size))
                ndvi = np.clip(ndvi, 0.05, 0.92).astype(np.float32)
                bright = valley_dark * (0.88 if rain3[doy - 1] > 5 else 1.0)
                cf = float(np.clip((0.70 - trans[doy - 1]) / 0.35, 0, 1) * 0.6)
                cf = min(0.6, cf + (rng_d.uniform(0, 0.08) if cf > 0 else 0.0))
                bands, scl, cover = render_scene(ndvi, bright, cf, RES, rng_d,
                                                 swath_edge=bool(rng_d.random() < 0.15))
                item, written = _write_acquisition(out, spec, transform, y, doy, bands, scl, cover,
                                                   platform="sentinel-2a" if j % 2 == 0 else "sentinel-2b")
                items.append(item)
                files += written
                bar.step(f"sentinel-2 {y}")

            # records
            trap_tbl = _traps(spec, fields, _rng(seed, 40))
            regional_t = wy.tas.reshape(len(wy.dates), -1).mean(axis=1) - 273.15
            regional_p = wy.pr.reshape(len(wy.dates), -1).mean(axis=1)
            pest_rows = trap_counts(y, regional_t, regional_p, trap_tbl, wy.blight_spell,
                                    _rng(seed, 41, y), season_type=types[si])
            files.append(_write_pests(out, y, pest_rows))
            sow_f = np.array([_sow_doy(c, y, sow_offset[k], _rng(seed, 7, y).normal(0, 2),
                                       calendar=True) for k, c in enumerate(f_crops)])
            op_rows += operations(y, fields, sow_f, res.harvest_doy[:n_f],
                                  res.irrigation_days, res.blight_spray_days,
                                  insecticide_days(pest_rows, y), crop_of, _rng(seed, 42, y))
            if y != years[-1]:
                yield_rows += [{"field_id": fid, "season": y, "crop": c,
                                "yield_t_ha": round(float(v), 2)}
                               for fid, c, v in zip(fields.field_id, fields.crop,
                                                    res.yield_t_ha[:n_f], strict=True)]
            season_summary[str(y)] = {
                "type": types[si],
                "precip_apr_sep_mm": round(float(regional_p[90:273].sum()), 1),
                "frost_dates": [str(wy.dates[d]) for d in wy.frost_days],
                "blight_spell": None if wy.blight_spell is None else
                [str(wy.dates[wy.blight_spell[0]]), str(wy.dates[wy.blight_spell[1]])],
                "hail": None if wy.hail_day is None else {
                    "date": str(wy.dates[wy.hail_day]),
                    "fields_hit": [str(f) for f in fields.field_id[hail_hit]]},
                "mean_yield_t_ha": {c: round(float(res.yield_t_ha[:n_f][fields.crop.to_numpy() == c].mean()), 2)
                                    for c in sorted(set(fields.crop))},
            }
            if y == years[-1]:
                sow_last = sow_f
            bar.step(f"records {y}")

        # --- vectors and tables ------------------------------------------------
        fields = fields.copy()
        fields["sowing_date"] = [
            (dt.date(years[-1] - (1 if c.winter else 0), 1, 1) + dt.timedelta(days=int(d) - 1)).isoformat()
            for c, d in zip(f_crops, sow_last, strict=True)]
        fields = fields[["field_id", "crop", "variety", "cooperative_id", "cooperative_name",
                         "township", "sowing_date", "irrigated", "area_ha", "geometry"]]
        _atomic_via(out / "fields" / "fields.gpkg", lambda p: _write_gpkg(fields, p, "fields"))
        _atomic_via(out / "fields" / "townships.gpkg", lambda p: _write_gpkg(towns, p, "townships"))
        files += ["fields/fields.gpkg", "fields/townships.gpkg"]
        _atomic_text(out / "yield" / "yield_history.csv",
                     pd.DataFrame(yield_rows, columns=["field_id", "season", "crop", "yield_t_ha"])
                     .to_csv(index=False))
        ops = pd.DataFrame(op_rows, columns=["field_id", "date", "operation", "product",
                                             "active_ingredient", "dose", "unit", "operator"])
        ops = ops.sort_values(["date", "field_id", "operation"], kind="stable")
        _atomic_text(out / "operations" / "operations.csv", ops.to_csv(index=False))
        write_item_collection(items, out / "sentinel2" / "items.json")
        files += ["yield/yield_history.csv", "operations/operations.csv", "sentinel2/items.json"]
        bar.step("tables and catalog")

        meta = {
            "region": spec.key, "name_zh": spec.name_zh, "name_en": spec.name_en,
            "crs": f"EPSG:{spec.epsg}", "resolution": RES, "size": size,
            "bounds": [float(v) for v in bounds],
            "bounds_wgs84": [round(float(v), 6) for v in bounds_wgs84],
            "seasons": years, "baseline_years": [baseline[0], baseline[-1]],
            "season_types": {str(y): t for y, t in zip(years, types, strict=True)},
            "season_summary": season_summary,
            "seed": seed, "generator_version": GENERATOR_VERSION,
            "townships": [{"township_id": t, "name_zh": z, "name_en": e} for t, z, e in spec.townships],
            "n_fields": int(n_f), "parameters": params, "files": sorted(files),
        }
        _atomic_text(out / "region.json", json.dumps(meta, ensure_ascii=False, indent=1))
        bar.step("done")
    finally:
        bar.close()
    return out


def _acquisition_days(year: int, n: int | None, rng: np.random.Generator) -> list[int]:
    """Days of year of the Sentinel-2 acquisitions (1 March - 31 October)."""
    first = dt.date(year, *SEASON_START).timetuple().tm_yday
    last = dt.date(year, *SEASON_END).timetuple().tm_yday
    if n is not None:
        return sorted({int(round(v)) for v in np.linspace(first, last, n)})
    days, d = [], first + int(rng.integers(0, 5))
    while d <= last:
        days.append(d)
        d += int(rng.choice([5, 10], p=[0.5, 0.5]))
    return days


def _sow_doy(crop: CropSpec, year: int, offset_sd: float, year_shift: float,
             calendar: bool = False) -> int:
    """Sowing day of year (winter crops: in the previous year when ``calendar``)."""
    month, dom = crop.sow_month_day
    base = dt.date(year - 1 if crop.winter else year, month, dom).timetuple().tm_yday
    return int(round(base + crop.sow_sd_days * offset_sd + year_shift))


def _hail_swath(xy: np.ndarray, bounds: tuple[float, float, float, float],
                rng: np.random.Generator) -> np.ndarray:
    """Fields (centroids ``xy``) inside a 1.2-2 km wide straight hail swath crossing the region."""
    xmin, ymin, xmax, ymax = bounds
    x0, y0 = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
    angle = rng.uniform(0, np.pi)
    width = rng.uniform(1200.0, 2000.0)
    dist = np.abs(-(xy[:, 0] - x0) * np.sin(angle) + (xy[:, 1] - y0) * np.cos(angle))
    return dist < width / 2


def _heterogeneity(terrain: Terrain, rng: np.random.Generator) -> np.ndarray:
    """Within-field NDVI multiplier (~0.92-1.08): better soil water, greener canopy."""
    awc = terrain.awc
    z = (awc - awc.mean()) / (awc.std() + 1e-6)
    return np.clip(1 + 0.03 * z, 0.9, 1.1).astype(np.float32)


def _weather_grid(spec: RegionSpec, terrain: Terrain, transform: Any, bounds_wgs84: tuple
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """0.1° cell centres (lat descending), cell mean elevation and each pixel's cell index."""
    w, s, e, n = bounds_wgs84
    lon0 = np.floor(w / WEATHER_RES) * WEATHER_RES - WEATHER_RES
    lat0 = np.floor(s / WEATHER_RES) * WEATHER_RES - WEATHER_RES
    nlon = int(np.ceil((e - lon0) / WEATHER_RES)) + 1
    nlat = int(np.ceil((n - lat0) / WEATHER_RES)) + 1
    lons = np.round(lon0 + WEATHER_RES * (np.arange(nlon) + 0.5), 4)
    lats = np.round(lat0 + WEATHER_RES * (np.arange(nlat) + 0.5), 4)[::-1]
    size = terrain.dem.shape[0]
    to_ll = Transformer.from_crs(f"EPSG:{spec.epsg}", "EPSG:4326", always_xy=True)
    cols = np.arange(size) * transform.a + transform.c + transform.a / 2
    px_cell = np.empty((size, size), dtype=np.int32)
    for r0 in range(0, size, 512):  # row blocks: bounded memory at 4096 px and more
        rows = transform.f + (np.arange(r0, min(size, r0 + 512)) + 0.5) * transform.e
        xx, yy = np.meshgrid(cols, rows)
        lon, lat = to_ll.transform(xx, yy)
        ci = np.clip(((lats[0] + WEATHER_RES / 2 - lat) / WEATHER_RES).astype(int), 0, nlat - 1)
        cj = np.clip(((lon - (lons[0] - WEATHER_RES / 2)) / WEATHER_RES).astype(int), 0, nlon - 1)
        px_cell[r0:r0 + len(rows)] = ci * nlon + cj
    sums = np.bincount(px_cell.ravel(), weights=terrain.dem.ravel().astype(float),
                       minlength=nlat * nlon)
    cnt = np.bincount(px_cell.ravel(), minlength=nlat * nlon)
    fallback = float(terrain.dem.mean())
    orog = np.where(cnt > 0, sums / np.maximum(cnt, 1), fallback).reshape(nlat, nlon)
    return lats, lons, orog.astype(np.float32), px_cell


def _write_dem_soil(out: Path, spec: RegionSpec, terrain: Terrain, transform: Any,
                    bounds_wgs84: tuple) -> list[str]:
    """DEM (1 arc-second) and SoilGrids-like soil (0.0025°) GeoTIFFs in EPSG:4326."""
    written = []
    src_crs = f"EPSG:{spec.epsg}"
    w, s, e, n = bounds_wgs84

    def geographic(res: float) -> tuple[Any, int, int]:
        west, north = np.floor(w / res) * res, np.ceil(n / res) * res
        width = int(np.ceil((e - west) / res))
        height = int(np.ceil((north - s) / res))
        return from_origin(west, north, res, res), width, height

    t_dem, wd, hd = geographic(DEM_RES)
    dem = np.full((hd, wd), -32767.0, dtype=np.float32)
    reproject(terrain.dem, dem, src_transform=transform, src_crs=src_crs, dst_transform=t_dem,
              dst_crs="EPSG:4326", resampling=Resampling.average, dst_nodata=-32767.0,
              src_nodata=None)
    write_cog(out / "dem" / "dem.tif", dem, crs="EPSG:4326", transform=t_dem, nodata=-32767.0,
              band_descriptions=["elevation"], band_tags=[{"units": "m"}],
              tags={"source": "Nongshu demo generator (Copernicus DEM GLO-30 layout)"})
    written.append("dem/dem.tif")
    t_soil, ws_, hs = geographic(SOIL_RES)
    layers = {"clay": (terrain.clay, 1.0, "g/kg"), "sand": (terrain.sand, 1.0, "g/kg"),
              "soc": (terrain.soc, 1.0, "dg/kg"), "phh2o": (terrain.ph, 10.0, "pH*10"),
              "awc": (terrain.awc, 1.0, "mm/m")}
    for name, (arr, factor, unit) in layers.items():
        dst = np.full((hs, ws_), np.nan, dtype=np.float32)
        reproject(arr * factor, dst, src_transform=transform, src_crs=src_crs,
                  dst_transform=t_soil, dst_crs="EPSG:4326", resampling=Resampling.average,
                  dst_nodata=np.nan, src_nodata=None)
        data = np.where(np.isnan(dst), -32768, np.rint(dst)).astype(np.int16)
        write_cog(out / "soil" / f"{name}.tif", data, crs="EPSG:4326", transform=t_soil,
                  nodata=-32768, band_descriptions=[name], band_tags=[{"units": unit}],
                  tags={"source": "Nongshu demo generator (SoilGrids 2.0 layout, 0-30 cm)"})
        written.append(f"soil/{name}.tif")
    return written


def _write_weather(out: Path, wy: WeatherYear, lats: np.ndarray, lons: np.ndarray,
                   orog: np.ndarray, spec: RegionSpec) -> str:
    """One CF-1.8 NetCDF per calendar year (ERA5-Land daily layout)."""
    dims = ("time", "latitude", "longitude")
    cm = {"tasmin": "time: minimum", "tasmax": "time: maximum", "tas": "time: mean",
          "pr": "time: mean", "tdps": "time: mean", "hurs": "time: mean", "rsds": "time: mean"}
    meta = {
        "tasmin": ("K", "air_temperature", "Daily minimum near-surface air temperature"),
        "tasmax": ("K", "air_temperature", "Daily maximum near-surface air temperature"),
        "tas": ("K", "air_temperature", "Daily mean near-surface air temperature"),
        "pr": ("kg m-2 d-1", "precipitation_flux", "Precipitation (daily total as mean flux)"),
        "tdps": ("K", "dew_point_temperature", "Daily mean 2 m dew point temperature"),
        "hurs": ("%", "relative_humidity", "Daily mean near-surface relative humidity"),
        "rsds": ("W m-2", "surface_downwelling_shortwave_flux_in_air",
                 "Daily mean surface downwelling shortwave radiation"),
    }
    data_vars = {}
    for name, (units, std, long) in meta.items():
        data_vars[name] = xr.Variable(dims, getattr(wy, name), {
            "units": units, "standard_name": std, "long_name": long, "cell_methods": cm[name]})
    data_vars["orog"] = xr.Variable(("latitude", "longitude"), orog, {
        "units": "m", "standard_name": "surface_altitude", "long_name": "Mean cell elevation"})
    ds = xr.Dataset(
        data_vars,
        coords={
            "time": ("time", wy.dates.astype("datetime64[ns]"),
                     {"standard_name": "time", "axis": "T", "long_name": "time"}),
            "latitude": ("latitude", lats, {"units": "degrees_north", "standard_name": "latitude",
                                            "axis": "Y"}),
            "longitude": ("longitude", lons, {"units": "degrees_east",
                                              "standard_name": "longitude", "axis": "X"}),
        },
        attrs={"Conventions": "CF-1.8", "title": f"Daily weather, {spec.name_en}, {wy.year}",
               "source": "Nongshu demo generator (ERA5-Land daily statistics layout)",
               "institution": "Nongshu", "crs": "EPSG:4326",
               "history": f"generated by geodata.demo {GENERATOR_VERSION}"},
    )
    encoding = {v: {"zlib": True, "complevel": 4, "dtype": "float32"} for v in meta}
    encoding["time"] = {"units": "days since 1950-01-01", "calendar": "standard", "dtype": "int32"}
    path = out / "weather" / f"era5land_daily_{wy.year}.nc"
    _atomic_via(path, lambda p: ds.to_netcdf(p, engine="netcdf4", encoding=encoding))
    return f"weather/era5land_daily_{wy.year}.nc"


def _write_acquisition(out: Path, spec: RegionSpec, transform: Any, year: int, doy: int,
                       bands: dict[str, np.ndarray], scl: np.ndarray, cover: float,
                       platform: str) -> tuple[Any, list[str]]:
    date = dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)
    stamp = date.strftime("%Y%m%d")
    folder = out / "sentinel2" / str(year) / stamp
    folder.mkdir(parents=True, exist_ok=True)
    t20 = transform @ Affine.scale(2, 2)
    written, paths = [], {}
    for name, dn in bands.items():
        is20 = name in ("B11", "B12")
        path = folder / f"{name}.tif"
        write_cog(path, to_20m(dn) if is20 else dn, transform=t20 if is20 else transform,
                  crs=f"EPSG:{spec.epsg}", nodata=0, scales=[S2_SCALE], offsets=[S2_OFFSET],
                  band_descriptions=[name],
                  tags={"BOA_ADD_OFFSET": -1000, "QUANTIFICATION_VALUE": 10000})
        paths[name] = path
    write_cog(folder / "SCL.tif", scl_to_20m(scl), crs=f"EPSG:{spec.epsg}", transform=t20,
              nodata=0, band_descriptions=["SCL"], overview_resampling="nearest")
    paths["SCL"] = folder / "SCL.tif"
    written = [str(p.relative_to(out)) for p in paths.values()]
    hour = 10.5 - spec.lon / 15.0
    acquired = dt.datetime(year, date.month, date.day, tzinfo=dt.UTC) + dt.timedelta(hours=hour)
    letter = "A" if platform.endswith("a") else "B"
    item = sentinel2_item(f"S2{letter}_MSIL2A_{stamp}_T{spec.mgrs_tile}", acquired, paths,
                          base_dir=out / "sentinel2", cloud_cover=cover, platform=platform,
                          tile=spec.mgrs_tile)
    return item, written


def _write_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """GeoPackage with a fixed ``last_change`` timestamp, so that a seed gives identical bytes."""
    import logging

    import pyogrio

    log = logging.getLogger("pyogrio")
    level = log.level
    log.setLevel(logging.WARNING)  # no "Created N records" lines under the progress bar
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"})
    try:
        gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
        log.setLevel(level)


def _traps(spec: RegionSpec, fields: gpd.GeoDataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Trap sites: centroids of potato (or any) fields, one per ~60 ha, at least 4."""
    pool = fields[fields.crop == "potato"] if (fields.crop == "potato").any() else fields
    n = int(min(len(pool), max(4, pool.area_ha.sum() // 60)))
    chosen = pool.iloc[np.sort(rng.choice(len(pool), n, replace=False))]
    pts = chosen.geometry.centroid.to_crs("EPSG:4326")
    return pd.DataFrame({"trap_id": [f"{spec.id_prefix}-T{k + 1:03d}" for k in range(n)],
                         "lon": pts.x.round(6).to_numpy(), "lat": pts.y.round(6).to_numpy(),
                         "observer": [f"{c}-plant-protection" for c in chosen.cooperative_id]})


def _write_pests(out: Path, year: int, rows: list[dict]) -> str:
    features_ = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                  "properties": {k: v for k, v in r.items() if k not in ("lon", "lat")}}
                 for r in rows]
    path = out / "pests" / f"traps_{year}.geojson"
    _atomic_text(path, json.dumps({"type": "FeatureCollection", "features": features_},
                                  ensure_ascii=False))
    return f"pests/traps_{year}.geojson"


__all__ = ["generate_region", "season_types", "GENERATOR_VERSION"]
_ = rasterio  # rasterio is the I/O backend of write_cog and reproject
