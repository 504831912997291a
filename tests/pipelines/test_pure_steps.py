"""Pure steps of the pipeline, against hand-computed values; numpy and dask-chunked alike."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from scipy.signal import savgol_filter

from pipelines import condition, pests, spectral, terrain, timeseries


def test_spectral_indices_by_hand() -> None:
    nir, red, blue, swir = np.float32(0.5), np.float32(0.1), np.float32(0.05), np.float32(0.3)
    assert spectral.ndvi(nir, red) == pytest.approx(0.4 / 0.6)
    assert spectral.evi(nir, red, blue) == pytest.approx(2.5 * 0.4 / (0.5 + 0.6 - 0.375 + 1))
    assert spectral.ndmi(nir, swir) == pytest.approx(0.2 / 0.8)
    assert np.isnan(spectral.ndvi(np.float32("nan"), red))
    assert np.isnan(spectral.ndvi(0.0, 0.0))


def test_interpolate_gaps_linear_and_held_at_ends() -> None:
    # one pixel observed on days 0, 10, 20 with the middle one cloudy; one never observed
    values = np.array([[0.2, np.nan], [np.nan, np.nan], [0.6, np.nan]], dtype="float32")
    out = timeseries.interpolate_gaps(values, np.array([0, 10, 20]), np.array([-5, 0, 5, 15, 25]))
    np.testing.assert_allclose(out[:, 0], [0.2, 0.2, 0.3, 0.5, 0.6], rtol=1e-6)
    assert np.isnan(out[:, 1]).all()


def test_smoothing_keeps_a_parabola_and_removes_a_dip() -> None:
    days = np.arange(0, 100, 5)
    curve = 0.8 - 0.0003 * (days - 50.0) ** 2  # order-2 polynomial: SG of order 2 reproduces it
    np.testing.assert_allclose(timeseries.smooth(curve), curve, atol=1e-5)
    noisy = curve.copy()
    noisy[10] -= 0.3  # an undetected cloud
    assert abs(timeseries.smooth(noisy)[10] - curve[10]) < 0.3 * 0.6


def test_peak_and_integral_by_hand() -> None:
    series = np.array([0.0, 0.5, 1.0, 0.5], dtype="float32")[:, None]
    assert timeseries.season_peak(series)[0] == pytest.approx(1.0)
    # trapezoids on 5-day steps: 5*(0+0.5)/2 + 5*(0.5+1)/2 + 5*(1+0.5)/2 = 1.25 + 3.75 + 3.75
    assert timeseries.season_integral(series, np.array([0, 5, 10, 15]))[0] == pytest.approx(8.75)


def test_condition_indices_by_hand() -> None:
    history = np.array([[0.3], [0.7]])
    assert condition.vci(np.array([0.4]), history)[0] == pytest.approx(25.0)
    assert condition.tci(np.array([28.0]), np.array([[25.0], [30.0]]))[0] == pytest.approx(40.0)
    assert condition.vhi(np.float32(25.0), np.float32(40.0)) == pytest.approx(32.5)
    assert condition.anomaly(np.array([0.4]), history)[0] == pytest.approx(-0.1)


def test_condition_indices_same_on_dask_blocks() -> None:
    rng = np.random.default_rng(1)
    cur, hist = rng.random((8, 8)), rng.random((3, 8, 8))
    c = xr.DataArray(da.from_array(cur, chunks=4), dims=("y", "x"))
    h = xr.DataArray(da.from_array(hist, chunks=(3, 4, 4)), dims=("season", "y", "x"))
    lazy = xr.apply_ufunc(
        lambda a, b: condition.vci(a, np.moveaxis(b, -1, 0)),
        c, h, input_core_dims=[[], ["season"]], dask="parallelized", output_dtypes=["float32"],
    )
    assert lazy.chunks is not None
    np.testing.assert_array_equal(lazy.compute().values, condition.vci(cur, hist))


def test_slope_of_a_plane() -> None:
    # z rises 1 m per 10 m pixel eastwards: slope = atan(0.1)
    dem = np.tile(np.arange(20, dtype="float64"), (20, 1))
    slope = terrain.slope_degrees(dem, 10.0)
    assert slope[10, 10] == pytest.approx(np.degrees(np.arctan(0.1)), rel=1e-6)


def test_relative_elevation_negative_in_a_valley() -> None:
    y = np.abs(np.arange(61) - 30.0)
    dem = np.tile(y[:, None] * 2.0, (1, 61))  # a V-shaped valley along row 30
    rel = terrain.relative_elevation(dem, 10.0, radius_m=100.0)
    assert rel[30, 30] < 0 < rel[5, 30]
    # valley floor 0 m, window 21 rows of |d|*2 m: mean = 2 * 2 * (1+...+10) / 21
    assert rel[30, 30] == pytest.approx(-4 * 55 / 21, rel=1e-6)


def test_pest_pressure_from_recent_catches() -> None:
    import pandas as pd

    obs = pd.DataFrame({
        "trap_id": ["A", "A", "B"], "x": [2550.0, 2550.0, 9e9], "y": [2450.0, 2450.0, 9e9],
        "date": pd.to_datetime(["2025-06-01", "2025-06-08", "2025-06-20"]), "count": [10, 30, 1000],
    })
    rates = pests.trap_rates(obs, pd.Timestamp("2025-06-15"))
    # trap B reads after the valid date: ignored. A: weights e^-2, e^-1 -> (10e^-2 + 30e^-1)/(e^-2 + e^-1)
    expected = (10 * np.exp(-2) + 30 * np.exp(-1)) / (np.exp(-2) + np.exp(-1))
    assert list(rates["trap_id"]) == ["A"] and rates["rate"].iloc[0] == pytest.approx(expected)
    xs = np.arange(0, 5000, 100.0) + 50
    ys = np.arange(5000, 0, -100.0) - 50
    gx, gy = np.meshgrid(xs, ys)
    surface = pests.pressure_at(gx, gy, rates["x"], rates["y"], rates["rate"])
    assert surface.shape == (50, 50)
    row, col = np.unravel_index(np.argmax(surface), surface.shape)
    assert (xs[col], ys[row]) == (2550.0, 2450.0)
    assert surface.max() == pytest.approx(expected, rel=1e-6)
    # one bandwidth away the Gaussian kernel is exp(-1/2)
    at = pests.pressure_at(np.array([2550.0 + pests.BANDWIDTH_M]), np.array([2450.0]), rates["x"], rates["y"], rates["rate"])
    assert at[0] == pytest.approx(expected * np.exp(-0.5))


def test_overlapping_traps_average_rather_than_add() -> None:
    # traps 500 m apart: at the midpoint each kernel weight is w = exp(-0.5 (250/750)^2) = 0.94596
    w = np.exp(-0.5 * (250 / 750) ** 2)
    px, py = np.array([0.0, 500.0]), np.array([0.0, 0.0])
    mid = pests.pressure_at(np.array([250.0]), np.array([0.0]), px, py, np.array([10.0, 10.0]))
    assert mid[0] == pytest.approx(10.0)  # summing the kernels gave 2 · 10 · w = 18.9
    mixed = pests.pressure_at(np.array([250.0]), np.array([0.0]), px, py, np.array([10.0, 30.0]))
    assert mixed[0] == pytest.approx(20.0)
    # at a trap: the weighted mean (10 · 1 + 30 · w2) / (1 + w2), w2 = exp(-0.5 (500/750)^2), support 1
    w2 = np.exp(-0.5 * (500 / 750) ** 2)
    at_a = pests.pressure_at(np.array([0.0]), np.array([0.0]), px, py, np.array([10.0, 30.0]))
    assert at_a[0] == pytest.approx((10 + 30 * w2) / (1 + w2))
    # far from both (3 and 3.5 km): faded by the support, w_far = exp(-0.5 (3000/750)^2) + exp(-0.5 (3500/750)^2)
    far = pests.pressure_at(np.array([-3000.0]), np.array([0.0]), px, py, np.array([10.0, 10.0]))
    assert far[0] == pytest.approx(10 * (np.exp(-8) + np.exp(-0.5 * (3500 / 750) ** 2)))
    assert w < 1  # the midpoint case needs both weights below one for the support to matter


def test_daily_pressure_uses_only_readings_made_by_each_day() -> None:
    import pandas as pd

    # trap A at (0, 0): 10 on 1 June, 30 on 8 June; trap B 500 m east: 20 on 5 June
    obs = pd.DataFrame({"trap_id": ["A", "A", "B"], "x": [0.0, 0.0, 500.0], "y": [0.0, 0.0, 0.0],
                        "date": pd.to_datetime(["2025-06-01", "2025-06-08", "2025-06-05"]), "count": [10, 30, 20]})
    days = pd.date_range("2025-05-30", "2025-06-10", freq="D")
    traps, rates = pests.daily_trap_rates(obs, days)
    assert list(traps["trap_id"]) == ["A", "B"]
    a, b = rates[:, 0], rates[:, 1]
    assert np.isnan(a[:2]).all() and np.isnan(b[:6]).all()  # nothing read yet
    assert a[2] == 10.0 and a[9] == pytest.approx((10 * np.exp(-1) + 30) / (np.exp(-1) + 1))  # 1 June; 8 June
    assert a[11] == pytest.approx((10 * np.exp(-9 / 7) + 30 * np.exp(-2 / 7)) / (np.exp(-9 / 7) + np.exp(-2 / 7)))
    assert b[6] == 20.0 and b[11] == 20.0
    # each day equals trap_rates as of that day
    for k in (3, 7, 11):
        ref = pests.trap_rates(obs, days[k]).set_index("trap_id")["rate"]
        np.testing.assert_allclose(rates[k, : len(ref)], ref.reindex(traps["trap_id"]).to_numpy()[: len(ref)])
    # pressure at trap A: before 5 June A alone (weight 1); from 5 June the mean of A and B, B weighted
    # w = exp(-0.5 (500/750)^2)
    w = np.exp(-0.5 * (500 / 750) ** 2)
    at_a = pests.daily_pressure(np.array([0.0]), np.array([0.0]), obs, days)[:, 0]
    assert at_a[0] == 0.0 and at_a[2] == pytest.approx(10.0)
    assert at_a[6] == pytest.approx((a[6] + 20 * w) / (1 + w))
    assert at_a[11] == pytest.approx((a[11] + 20 * w) / (1 + w))


def test_windowed_metrics_per_pixel_windows() -> None:
    days = np.array([0, 5, 10, 15, 20])
    series = np.array([[0.2, 0.2], [0.4, 0.4], [0.8, 0.8], [0.6, 0.6], [0.2, 0.2]], dtype="float32")
    out = timeseries.windowed_metrics(series, days, np.array([0, 5]), np.array([10, 20]))
    # pixel 0: days 0..10 -> peak 0.8, integral 5*(0.2+0.4)/2 + 5*(0.4+0.8)/2 = 4.5, mean 0.4667
    # pixel 1: days 5..20 -> peak 0.8, integral 3 + 3.5 + 2 = 8.5, mean 0.5
    np.testing.assert_allclose(out[:, 0], [0.8, 4.5, 1.4 / 3], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], [0.8, 8.5, 0.5], rtol=1e-6)


def test_smoothed_ndvi_with_shared_cloud_patterns_equals_a_per_pixel_reference() -> None:
    """Blocky clouds (many pixels share their clear dates: one operator per set) plus speckle (rare sets)."""
    rng = np.random.default_rng(11)
    obs = np.array([2.0, 9.0, 13.0, 20.0, 31.0, 36.0, 44.0, 52.0, 57.0, 66.0])
    target = np.arange(0.0, 70.0, 5.0)
    values = rng.uniform(0.05, 0.95, size=(obs.size, 40, 40)).astype("float32")
    for t in range(obs.size):  # each date clouds a random quarter-block, so sets repeat over 20 x 20 squares
        r, c = rng.integers(0, 2, size=2)
        values[t, 20 * r:20 * r + 20, 20 * c:20 * c + 20] = np.nan
    speckle = rng.random(values.shape) < 0.02
    values[speckle] = np.nan
    values[:, 0, 0] = np.nan  # never observed
    _, counts = np.unique(np.isfinite(values).reshape(obs.size, -1).T, axis=0, return_counts=True)
    assert counts[counts >= timeseries.MIN_PATTERN_PIXELS].sum() > 1000  # the shared-operator path is exercised
    got = timeseries.smoothed_ndvi(values, obs, target)
    assert got.shape == (target.size, 40, 40)
    for r in range(40):
        for c in range(40):
            series = values[:, r, c]
            ok = np.isfinite(series)
            if not ok.any():
                assert np.isnan(got[:, r, c]).all()
                continue
            filled = np.interp(target, obs[ok], series[ok])
            expected = np.clip(savgol_filter(filled, 7, 2, mode="interp"), -1, 1)
            np.testing.assert_allclose(got[:, r, c], expected, rtol=1e-5, atol=1e-6)
