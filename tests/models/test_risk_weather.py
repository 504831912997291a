"""Frost, heat and waterlogging: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from models.crops import crop_stages
from models.risk import aggregate
from models.risk.frost import adjust_tmin_for_terrain, frost_risk
from models.risk.heat import heat_risk
from models.risk.waterlogging import (
    rain_hazard,
    rainstorm_category,
    terrain_factor,
    waterlogging_risk,
)

from .conftest import daily


def test_terrain_adjustment_cold_air_pool_and_lapse():
    tn = daily(np.zeros((1, 3)), dims=("time", "x"))
    rel = xr.DataArray([-100.0, 50.0, -400.0], dims="x", attrs={"units": "m"})
    # 30 K/km inversion: -100 m -> -3 K; +50 m -> +1.5 K; -400 m -> capped at -5 K
    assert adjust_tmin_for_terrain(tn, rel_elev=rel).values[0].tolist() == pytest.approx([-3.0, 1.5, -5.0])
    up = xr.DataArray([1000.0, 0.0, 0.0], dims="x", attrs={"units": "m"})
    # 6.5 K/km lapse: 1 km above the weather cell -> -6.5 K
    assert adjust_tmin_for_terrain(tn, elev_offset=up).values[0, 0] == pytest.approx(-6.5)


def test_frost_hand_computed_and_only_in_sensitive_stages():
    # potato sown 2025-05-01; by days after sowing: day 0-24 sowing (not sensitive), from day 25 emergence
    # (damage 0 °C, kill -2 °C). Frost of -1 °C on day 10 (not counted) and on day 30 (counted).
    tn = np.full(40, 5.0)
    tn[10] = -1.0
    tn[30] = -1.0
    tasmin = daily(tn, start="2025-05-01")
    stages = crop_stages("potato", "2025-05-01", time=tasmin["time"])
    ds = frost_risk("potato", tasmin, stages)
    assert ds["risk"].values[10] == 0.0
    assert ds["risk"].values[30] == pytest.approx(0.25 + 0.75 * (0 - (-1)) / (0 - (-2)))  # 0.625
    summary = aggregate(ds)
    assert float(summary["risk"]) == pytest.approx(0.625)
    assert float(summary["tmin_min_degC"]) == -1.0
    assert int(summary["days_below_threshold"]) == 1


def test_frost_in_valley_bottom_is_worse():
    tasmin = daily(np.full((40, 2), 1.0), start="2025-05-01", dims=("time", "x"))
    stages = crop_stages("potato", "2025-05-01", time=tasmin["time"])
    rel = xr.DataArray([-100.0, 100.0], dims="x", attrs={"units": "m"})
    risk = aggregate(frost_risk("potato", tasmin, stages, rel_elev=rel))["risk"].values
    # valley: 1 - 3 = -2 °C = kill -> 1.0; slope: 4 °C -> 0
    assert risk.tolist() == pytest.approx([1.0, 0.0])


def test_heat_around_flowering():
    # maize by days: flowering from day 70 (onset 35, severe 38 °C); 36.5 °C on day 75 and day 20
    tx = np.full(90, 28.0)
    tx[[20, 75]] = 36.5
    tasmax = daily(tx, start="2025-04-20")
    stages = crop_stages("maize", "2025-04-20", time=tasmax["time"])
    ds = heat_risk("maize", tasmax, stages)
    assert ds["risk"].values[20] == 0.0
    assert ds["risk"].values[75] == pytest.approx(0.25 + 0.75 * 1.5 / 3.0)
    assert int(aggregate(ds)["days_above_threshold"]) == 1


def test_rainstorm_categories_gb_t_28592():
    assert rainstorm_category([49.9, 50.0, 99.9, 100.0, 250.0]).tolist() == [0, 1, 1, 2, 3]
    assert rain_hazard([0.0, 25.0, 50.0, 75.0, 100.0, 300.0]).tolist() == pytest.approx([0, 0, 0.4, 0.55, 0.7, 1.0])


def test_one_60mm_day_is_a_rainstorm_worse_on_flat_low_ground():
    pr = np.zeros((10, 2))
    pr[3] = 60.0
    rain = daily(pr, start="2025-06-01", units="mm/d", dims=("time", "x"))
    stages = crop_stages("potato", "2025-05-01", time=rain["time"])
    slope = xr.DataArray([0.0, 10.0], dims="x", attrs={"units": "deg"})
    rel = xr.DataArray([-20.0, 20.0], dims="x", attrs={"units": "m"})
    assert terrain_factor(slope, rel).values.tolist() == [1.0, 0.5]
    summary = aggregate(waterlogging_risk(rain, stages, slope, rel))
    hazard = 0.4 + 0.3 * (60 - 50) / 50  # 0.46
    assert summary["risk"].values.tolist() == pytest.approx([hazard, hazard * 0.5])
    assert summary["rainstorm_days"].values.tolist() == [1, 1]
    assert summary["category"].values.tolist() == [1, 1]


def test_rain_outside_the_season_does_not_count():
    rain = daily(np.full(3, 120.0), start="2025-01-01", units="mm/d")
    stages = crop_stages("potato", "2025-05-01", time=rain["time"])
    assert float(aggregate(waterlogging_risk(rain, stages))["risk"]) == 0.0
