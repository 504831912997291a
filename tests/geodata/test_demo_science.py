"""The demo data carry the agronomy they claim, computed from the generated FILES only.

* A drought season has lower field NDVI peaks (Sentinel-2 COGs, SCL-masked,
  L2A offset removed) and lower recorded yields than the wet season.
* Frost is colder in valley bottoms than on the slopes above them: from the
  weather NetCDF and the DEM with the documented downscaling rule, and in the
  crops: after the late-spring radiative frost night, fields of frost-sensitive
  crops (potato, maize) with an emerged canopy (NDVI > 0.3 before the frost) in
  the lowest quarter of relative elevation lose more NDVI than those in the
  highest quarter. (The early-autumn frost is not used
  for this: harvests and senescence in the same weeks swamp the NDVI change.)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import ndimage

from .conftest import dem_on_grid, field_index_raster, field_ndvi

#: documented in geodata.demo.weather: lapse rate (K/m), pooling (K per m below the local mean),
#: deepest pool (m), local-mean window (m). Re-implemented here from the documentation.
LAPSE, POOLING, MAX_POOL, WINDOW_M = -0.0065, 0.10, 50.0, 1000.0


def _season_of(meta: dict, kind: str) -> int:
    return int(next(y for y, t in meta["season_types"].items() if t == kind))


def _acquisitions(root: Path, year: int) -> list[dt.date]:
    return sorted(dt.date(year, int(d.name[4:6]), int(d.name[6:]))
                  for d in (root / "sentinel2" / str(year)).iterdir())


@pytest.fixture(scope="module")
def grid(demo_dingxi: Path, demo_fields: gpd.GeoDataFrame) -> dict:
    """Field index raster and per-field relative elevation on the 10 m grid."""
    ref = next((demo_dingxi / "sentinel2").glob("*/*/B04.tif"))
    index = field_index_raster(demo_fields, ref)
    dem = dem_on_grid(demo_dingxi / "dem" / "dem.tif", ref)
    dem = np.where(np.isnan(dem), np.nanmean(dem), dem)
    local = ndimage.uniform_filter(dem, size=int(WINDOW_M / 10) + 1, mode="reflect")
    n = len(demo_fields)
    count = np.bincount(index.ravel(), minlength=n + 1)[1:]
    rel = np.bincount(index.ravel(), weights=(dem - local).ravel(), minlength=n + 1)[1:]
    return {"index": index, "n": n, "rel": rel / np.maximum(count, 1), "dem": dem,
            "local": local, "ref": ref}


@pytest.fixture(scope="module")
def season_ndvi(demo_dingxi: Path, demo_meta: dict, grid: dict) -> dict[int, np.ndarray]:
    """Per season: field NDVI matrix (acquisitions x fields), NaN where not clear."""
    out = {}
    for year in demo_meta["seasons"]:
        out[year] = np.array([field_ndvi(demo_dingxi / "sentinel2" / str(year) / f"{d:%Y%m%d}",
                                         grid["index"], grid["n"])
                              for d in _acquisitions(demo_dingxi, year)])
    return out


def test_drought_season_has_lower_ndvi_peaks(demo_meta: dict, season_ndvi: dict,
                                             demo_fields: gpd.GeoDataFrame) -> None:
    drought, wet = _season_of(demo_meta, "drought"), _season_of(demo_meta, "wet")
    peak_d = np.nanmax(season_ndvi[drought], axis=0)
    peak_w = np.nanmax(season_ndvi[wet], axis=0)
    assert np.nanmedian(peak_d) < np.nanmedian(peak_w) - 0.05
    for crop in set(demo_fields.crop):
        m = (demo_fields.crop == crop).to_numpy()
        assert np.nanmedian(peak_d[m]) < np.nanmedian(peak_w[m]), crop


def test_drought_season_has_lower_recorded_yields(demo_dingxi: Path, demo_meta: dict) -> None:
    yields = pd.read_csv(demo_dingxi / "yield" / "yield_history.csv")
    drought, wet = _season_of(demo_meta, "drought"), _season_of(demo_meta, "wet")
    mean = yields.groupby(["crop", "season"]).yield_t_ha.mean().unstack()
    assert (mean[drought] < 0.8 * mean[wet]).all(), mean


def _spring_frost_night(ds: xr.Dataset, year: int) -> np.datetime64 | None:
    """The late-spring frost: the last night in May-June with a regional Tmin < 0 °C."""
    tmin = ds.tasmin.mean(("latitude", "longitude")) - 273.15
    spring = tmin.sel(time=slice(f"{year}-05-01", f"{year}-06-30"))
    below = np.flatnonzero(spring.values < 0)
    return spring.time.values[below[-1]] if len(below) else None


def test_frost_night_is_colder_in_valley_bottom_than_on_slope_above(
        demo_dingxi: Path, demo_meta: dict, grid: dict) -> None:
    year = demo_meta["seasons"][-1]
    with xr.open_dataset(demo_dingxi / "weather" / f"era5land_daily_{year}.nc") as ds:
        night = _spring_frost_night(ds, year)
        assert night is not None
        day = ds.sel(time=night)
        # the cell over the region centre
        lon_c, lat_c = np.mean(demo_meta["bounds_wgs84"][::2]), np.mean(demo_meta["bounds_wgs84"][1::2])
        cell = day.sel(latitude=lat_c, longitude=lon_c, method="nearest")
        tmin, tmax, pr, orog = (float(cell[v]) for v in ("tasmin", "tasmax", "pr", "orog"))
    assert tmin < 273.15
    radiative = float(np.clip((tmax - tmin - 10) / 6, 0, 1)) * (pr < 1)
    assert radiative == 1.0  # a clear, dry night with a large diurnal range

    dem, local = grid["dem"], grid["local"]
    rel = dem - local
    # valley bottom: the deepest pixel (away from the edges); slope above: highest pixel within 300 m
    inner = np.zeros_like(dem, dtype=bool)
    inner[60:-60, 60:-60] = True
    r, c = np.unravel_index(np.argmin(np.where(inner, rel, np.inf)), rel.shape)
    win = (slice(r - 30, r + 31), slice(c - 30, c + 31))
    rs, cs = np.unravel_index(np.argmax(dem[win]), dem[win].shape)
    z_valley, z_slope = dem[r, c], dem[win][rs, cs]
    assert z_slope - z_valley > 20

    def pixel_tmin(z: float, z_local: float) -> float:
        return tmin + LAPSE * (z - orog) - POOLING * radiative * min(max(z_local - z, 0), MAX_POOL)

    t_valley = pixel_tmin(z_valley, local[r, c])
    t_slope = pixel_tmin(z_slope, local[win][rs, cs])
    # despite being lower (lapse rate alone would make it warmer), the valley is colder
    assert t_valley < t_slope - 1.0


def test_frost_damages_valley_fields_more(demo_dingxi: Path, demo_meta: dict, grid: dict,
                                          season_ndvi: dict,
                                          demo_fields: gpd.GeoDataFrame) -> None:
    """NDVI change across the late-spring frost: valley-bottom fields drop more than slope fields."""
    differences = []
    for year in demo_meta["seasons"]:
        acq = _acquisitions(demo_dingxi, year)
        ndvi = season_ndvi[year]
        with xr.open_dataset(demo_dingxi / "weather" / f"era5land_daily_{year}.nc") as ds:
            night = _spring_frost_night(ds, year)
        if night is not None:
            frost = pd.Timestamp(night).date()
            offset = np.array([(d - frost).days for d in acq])
            drop = np.full(grid["n"], np.nan)
            for k in range(grid["n"]):
                ok = np.isfinite(ndvi[:, k])
                before = np.flatnonzero(ok & (offset < 0) & (offset >= -12))
                after = np.flatnonzero(ok & (offset > 0) & (offset <= 12))
                # only fields with a canopy to damage (emerged before the frost)
                if len(before) and len(after) and ndvi[before[-1], k] > 0.3:
                    drop[k] = ndvi[after[0], k] - ndvi[before[-1], k]
            for crop in ("potato", "maize"):
                m = (demo_fields.crop == crop).to_numpy() & np.isfinite(drop)
                if m.sum() < 12:
                    continue
                lo, hi = np.percentile(grid["rel"][m], [25, 75])
                valley = drop[m & (grid["rel"] <= lo)]
                slope = drop[m & (grid["rel"] >= hi)]
                differences.append(valley.mean() - slope.mean())
    differences = np.array(differences)
    assert len(differences) >= 4
    assert differences.mean() < -0.015
    assert (differences < 0).mean() >= 0.75
