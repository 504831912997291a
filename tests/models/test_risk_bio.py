"""Drought, pest and disease: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from models.crops import crop_stages
from models.errors import ModelInputError
from models.risk import aggregate
from models.risk.disease import (
    dew_point_from_rh,
    disease_risk,
    humid_hours_np,
    late_blight_risk,
    stripe_rust_risk,
    wallin_severity,
)
from models.risk.drought import drought_risk, irrigation_factor
from models.risk.pest import biofix_date, pest_risk, single_sine_dd

from .conftest import daily


# ------------------------------------------------------------------ drought
def test_drought_hand_computed_stage_weight_and_irrigation():
    # maize days 11-20 after sowing: stage "sowing", Kc 0.30 / Kc_mid 1.20 = 0.25 weight.
    # SPI -1.25 -> dryness (−0.5 + 1.25) / 1.5 = 0.5; on day 5 VHI 25 -> dryness 0.5 too.
    spi = daily(np.full((10, 2), -1.25), start="2025-05-01", units="1", dims=("time", "x"))
    vhi = xr.full_like(spi, np.nan)
    vhi[5] = 25.0
    stages = crop_stages("maize", "2025-04-20", time=spi["time"])
    irrigated = xr.DataArray([False, True], dims="x")
    ds = drought_risk("maize", stages, spi1=spi, spi3=spi, vhi=vhi, irrigated=irrigated)
    assert ds["risk"].values[:, 0] == pytest.approx(np.full(10, 0.5 * 0.25))
    assert ds["risk"].values[:, 1] == pytest.approx(np.full(10, 0.5 * 0.25 * 0.4))
    summary = aggregate(ds)
    assert summary["vhi_min"].values.tolist() == [25.0, 25.0]
    assert summary["dry_days"].values.tolist() == [10, 10]


def test_irrigation_factor_recent_irrigation():
    assert irrigation_factor(np.array([False, True, True]), np.array([np.nan, 20.0, 2.0])).tolist() == [1.0, 0.4, 0.1]


# ------------------------------------------------------------------ pest
def test_single_sine_hand_computation():
    # Tmin 5, Tmax 15, lower 10, upper 32: M = 10, α = 5, θ1 = asin(0) = 0
    # DD = [(M - L)(π/2 - θ1) + α cos θ1] / π = 5 / π
    assert single_sine_dd(5.0, 15.0, 10.0, 32.0) == pytest.approx(5 / np.pi)
    assert single_sine_dd(12.0, 20.0, 10.0, 32.0) == pytest.approx(6.0)  # between thresholds: mean - lower
    assert single_sine_dd(35.0, 40.0, 10.0, 32.0) == pytest.approx(22.0)  # above upper: U - L
    assert single_sine_dd(0.0, 8.0, 10.0, 32.0) == 0.0


@settings(max_examples=60, deadline=None)
@given(tmin=st.floats(-10, 40), spread=st.floats(0, 25))
def test_single_sine_equals_numerical_integral_of_the_sine(tmin, spread):
    tmax = tmin + spread
    phase = np.linspace(0, 2 * np.pi, 20001)[:-1]
    temps = (tmax + tmin) / 2 + (tmax - tmin) / 2 * np.sin(phase)
    reference = np.mean(np.clip(temps, 10.0, 32.0) - 10.0)
    assert single_sine_dd(tmin, tmax, 10.0, 32.0) == pytest.approx(reference, abs=2e-3)


def test_biofix_is_first_sustained_catch():
    obs = pd.DataFrame({"date": ["2025-05-01", "2025-05-08", "2025-05-15", "2025-05-22", "2025-05-29"],
                        "count": [2, 0, 1, 3, 0]})
    assert biofix_date(obs) == pd.Timestamp("2025-05-15")
    assert biofix_date(obs.assign(count=[1, 0, 0, 0, 1])) is None


def test_pest_risk_development_times_pressure():
    # green peach aphid (4/30 °C, 120 °C·d per generation) on potato in emergence.
    # Constant 10/20 °C: DD = 15 - 4 = 11 °C·d/day. Biofix 2025-06-10 (day 10 of the series).
    tn = daily(np.full(30, 10.0), start="2025-06-01")
    tx = daily(np.full(30, 20.0), start="2025-06-01")
    stages = crop_stages("potato", "2025-05-01", time=tn["time"])  # day 31+ after sowing: emergence
    ds = pest_risk("green_peach_aphid", "potato", tn, tx, stages, biofix="2025-06-10", pressure=15.0)
    pressure_index = 15.0 / 30.0
    assert ds["risk"].values[8] == 0.0  # the day before biofix
    assert ds["risk"].values[9] == pytest.approx(11 / 120 * pressure_index)  # the biofix day counts
    assert ds["risk"].values[10] == pytest.approx(2 * 11 / 120 * pressure_index)
    assert ds["risk"].values[-1] == pytest.approx(pressure_index)  # 21 days · 11 > 120: a full generation
    assert float(aggregate(ds)["dd_since_biofix"]) == pytest.approx(21 * 11)
    # tuber moth does not attack wheat
    st_wheat = crop_stages("spring_wheat", "2025-05-01", time=tn["time"])
    other = pest_risk("Phthorimaea operculella", "spring_wheat", tn, tx, st_wheat, "2025-06-01", 100.0)
    assert float(aggregate(other)["risk"]) == 0.0


# ------------------------------------------------------------------ disease
def test_humid_hours_from_dew_point():
    # dew point at Tmax: saturated all day; far below Tmin: never humid
    assert humid_hours_np(12.0, 20.0, 20.0)[0] == 24
    assert humid_hours_np(12.0, 20.0, -5.0)[0] == 0
    # mean of Campbell & Norman Γ over 24 whole hours is 0.44 -> mean humid temperature 12 + 0.44·8
    assert humid_hours_np(12.0, 20.0, 20.0)[1] == pytest.approx(15.52)
    # an hour is humid when T(t) <= T at which RH = 90 %; at dew point = Tmin only the coolest hours
    hours = humid_hours_np(12.0, 20.0, 12.0)[0]
    assert 0 < hours < 12


def test_wallin_table():
    assert wallin_severity([9, 10, 19, 24, 24, 15], [20.0, 20.0, 20.0, 15.52, 10.0, 5.0]).tolist() == [0, 1, 4, 4, 3, 0]


def hutton_series():
    """10 days; only days 4 and 5 (1-based) have Tmin >= 10 °C AND a saturated day."""
    tmin = np.array([8, 11, 12, 12, 12, 12, 8, 8, 12, 8.0])
    tdew = np.array([-5, -5, -5, 20, 20, -5, 16, 16, -5, -5.0])
    tmax = tmin + 8
    return daily(tmin, start="2025-07-01"), daily(tmax, start="2025-07-01"), daily(tdew, start="2025-07-01")


def test_hutton_criteria_met_on_exactly_days_4_and_5():
    tn, tx, td = hutton_series()
    stages = crop_stages("potato", "2025-05-01", time=tn["time"])
    ds = late_blight_risk(tn, tx, td, stages)
    assert ds["hutton_periods"].values.tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    # BLITECAST: days 4, 5: 24 h at 15.52 °C -> severity 4 each; days 7, 8: 24 h at 8 + 0.44·8 = 11.52 °C -> 3 each
    assert ds["severity_7day_max"].values.tolist() == [0, 0, 0, 4, 8, 8, 11, 14, 14, 14]
    expected = [0, 0, 0, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert ds["risk"].values.tolist() == pytest.approx(expected)


def test_late_blight_not_before_emergence():
    tn, tx, td = hutton_series()
    stages = crop_stages("potato", "2025-06-25", time=tn["time"])  # days 6-15 after sowing: not emerged
    assert float(aggregate(late_blight_risk(tn, tx, td, stages))["risk"]) == 0.0


def test_stripe_rust_window_4_to_16_degC():
    # day 0: saturated, humid-hour mean 2 + 0.44·8 = 5.52 °C -> in window, 24 h -> risk 1
    # day 1: saturated but 20 + 0.44·8 = 23.5 °C -> too warm; day 2: dry
    tn = daily([2.0, 20.0, 8.0], start="2025-06-20")
    tx = tn + 8.0
    td = daily([10.0, 28.0, -10.0], start="2025-06-20")
    stages = crop_stages("spring_wheat", "2025-04-01", time=tn["time"])  # days 80-82: heading/grain fill
    ds = stripe_rust_risk(tn, tx, td, stages, "spring_wheat")
    # one full infection night in the last 14 days: 1/7 on that day and the next 13
    assert ds["risk"].values.tolist() == pytest.approx([1 / 7, 1 / 7, 1 / 7])
    assert int(aggregate(ds)["infection_days"]) == 1
    weather = xr.Dataset({"tasmin": tn, "tasmax": tx, "tdps": td})
    assert disease_risk("maize", weather, stages).attrs["disease"] == "none"
    xr.testing.assert_identical(disease_risk("spring_wheat", weather, stages), ds.assign_attrs(disease="stripe_rust"))


def test_stripe_rust_accumulates_infections_over_one_latent_period():
    # 20 days at Tmin 6, Tmax 14 °C (humid hours average 6 + 0.44·8 = 9.52 °C: in the 4-16 °C window).
    # Dew point 14 °C saturates all 24 h (score 1); 2 °C (4 K below Tmin: RH <= 76 %) and -10 °C give
    # no humid hour. Full infection nights on days 0, 2, 4, 6, 8, 10, 12, 16 (0-based).
    n = 20
    tn = daily(np.full(n, 6.0), start="2025-06-01")
    tx = tn + 8.0
    wet = [0, 2, 4, 6, 8, 10, 12, 16]
    tdew = np.full(n, -10.0)
    tdew[wet] = 14.0
    tdew[1] = 2.0
    stages = crop_stages("spring_wheat", "2025-04-01", time=tn["time"])
    ds = stripe_rust_risk(tn, tx, daily(tdew, start="2025-06-01"), stages, "spring_wheat")
    # 14-day sums by hand: days 0..12 count the wet days so far; day 14 drops day 0, day 16 adds day 16 and
    # drops day 2, day 18 drops day 4 ...
    sums = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 6, 6, 6, 6, 5, 5]
    assert ds["risk"].values.tolist() == pytest.approx([min(1.0, k / 7) for k in sums])
    assert int(aggregate(ds)["infection_days"]) == 8
    assert float(aggregate(ds)["infection_score_14day_max"]) == 7.0
    # seven full infection nights in two weeks reach red (>= 0.90), three only blue (0.40 .. 0.60)
    from models.alerts import risk_to_level

    assert int(risk_to_level(ds["risk"].max().values, "disease")) == 4
    assert int(risk_to_level(np.float64(3 / 7), "disease")) == 1


def test_dew_point_from_relative_humidity():
    # FAO-56 eq. 11: e°(20 °C) = 2.338 kPa; at 50 % RH e = 1.169 kPa -> dew point 9.26 °C
    tas = daily([20.0, 15.0])
    rh = daily([50.0, 100.0], units="%")
    assert dew_point_from_rh(tas, rh).values.tolist() == pytest.approx([9.26, 15.0], abs=0.01)
    with pytest.raises(ModelInputError, match="tdps"):
        disease_risk("potato", xr.Dataset({"tasmin": tas, "tasmax": tas}), None)


def test_pest_risk_follows_a_daily_pressure():
    """A pressure that changes day by day (the pipeline's trap surface as of each day) enters each day's risk:
    the aphid flight of days 10-14 counts while it lasts, and the trigger keeps its peak."""
    tn = daily(np.full(30, 10.0), start="2025-06-01")
    tx = daily(np.full(30, 20.0), start="2025-06-01")
    stages = crop_stages("potato", "2025-05-01", time=tn["time"])
    catch = np.zeros(30)
    catch[9:14] = [6.0, 30.0, 60.0, 15.0, 3.0]  # per trap per week; action threshold 30
    pressure = xr.DataArray(catch, dims="time", coords={"time": tn["time"]})
    ds = pest_risk("green_peach_aphid", "potato", tn, tx, stages, biofix="2025-06-01", pressure=pressure)
    development = np.minimum(np.arange(1, 31) * 11 / 120, 1.0)  # 11 °C·d a day since the biofix on day 1
    expected = development * np.clip(catch / 30.0, 0.0, 1.0)
    np.testing.assert_allclose(ds["risk"].values, expected, rtol=1e-6)
    assert float(aggregate(ds)["risk"]) == pytest.approx(max(expected))  # day 12: 11 · 12/120 · 1 = 1.1 -> 1.0
    assert float(aggregate(ds)["pressure"]) == 60.0
