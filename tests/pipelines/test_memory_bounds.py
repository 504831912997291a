"""What keeps the pipeline's memory flat with region size: chunk choice, pixel batches, per-block field sums."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import savgol_filter
from shapely.geometry import box

from pipelines import chunking, fieldseries, fieldweather, timeseries
from pipelines.errors import PipelineError


def test_chunk_side_by_hand() -> None:
    # 12 dates x 7 variables x 8 B = 672 B per pixel; 256 MiB / 672 B = 399,457 px -> side 632 -> 512
    assert chunking.spatial_chunk_px(12, 7) == 512
    # 70 dates: 3,920 B per pixel -> 68,478 px -> side 261 -> 256
    assert chunking.spatial_chunk_px(70, 7) == 256
    # a handful of dates: side 2,048 would fit, capped at 1,024
    assert chunking.spatial_chunk_px(2, 4) == 1024
    # hundreds of dates: never below the 256 px floor
    assert chunking.spatial_chunk_px(1000, 7) == 256
    # an explicit budget: 64 MiB / (10 x 2 x 8 B) = 419,430 px -> side 647 -> 512
    assert chunking.spatial_chunk_px(10, 2, budget_bytes=64 * 2**20) == 512


@given(st.integers(1, 400), st.integers(1, 12))
def test_chunk_fits_the_budget_unless_clamped(n_dates: int, n_variables: int) -> None:
    px = chunking.spatial_chunk_px(n_dates, n_variables)
    assert px & (px - 1) == 0  # power of two: aligned with the 512 px COG tiles
    assert chunking.MIN_CHUNK_PX <= px <= chunking.MAX_CHUNK_PX
    stack = n_dates * n_variables * chunking.BYTES_PER_VALUE * px * px
    assert stack <= chunking.TASK_BUDGET_BYTES or px == chunking.MIN_CHUNK_PX
    # the next power of two would not fit (or is beyond the cap)
    assert 4 * stack > chunking.TASK_BUDGET_BYTES or px == chunking.MAX_CHUNK_PX


@pytest.mark.parametrize("args", [(0, 7), (12, 0)])
def test_chunk_of_an_empty_stack_is_refused(args: tuple[int, int]) -> None:
    with pytest.raises(PipelineError, match="at least one date"):
        chunking.spatial_chunk_px(*args)


def test_smoothed_ndvi_in_small_batches_equals_a_per_pixel_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    obs = np.array([0.0, 4.0, 11.0, 15.0, 22.0, 30.0, 33.0, 41.0, 50.0])
    target = np.arange(0.0, 51.0, 5.0)
    values = rng.uniform(0.1, 0.9, size=(obs.size, 5, 7)).astype("float32")
    values[rng.random(values.shape) < 0.3] = np.nan  # clouds
    values[:, 2, 3] = np.nan  # a pixel never observed
    monkeypatch.setattr(timeseries, "PIXEL_BATCH", 4)  # 35 pixels -> 9 batches, the last one partial
    got = timeseries.smoothed_ndvi(values, obs, target)
    assert got.shape == (target.size, 5, 7)
    for r in range(5):
        for c in range(7):
            series = values[:, r, c]
            ok = np.isfinite(series)
            if not ok.any():
                assert np.isnan(got[:, r, c]).all()
                continue
            # np.interp holds the end values, like the pipeline's gap filling
            filled = np.interp(target, obs[ok], series[ok])
            expected = np.clip(savgol_filter(filled, 7, 2, mode="interp"), -1, 1)
            np.testing.assert_allclose(got[:, r, c], expected, rtol=1e-5, atol=1e-6)


def test_windowed_metrics_in_small_batches_equal_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    days = np.arange(0.0, 60.0, 5.0)
    series = rng.uniform(0, 1, size=(days.size, 3, 10)).astype("float32")
    lo = rng.choice([0.0, 10.0], size=(3, 10))
    hi = rng.choice([30.0, 55.0], size=(3, 10))
    whole = timeseries.windowed_metrics(series, days, lo, hi)
    monkeypatch.setattr(timeseries, "PIXEL_BATCH", 7)
    np.testing.assert_array_equal(timeseries.windowed_metrics(series, days, lo, hi), whole)
    # and pixel (1, 4) by hand: mean of the values inside its window
    inside = (days >= lo[1, 4]) & (days <= hi[1, 4])
    assert whole[2, 1, 4] == pytest.approx(series[inside, 1, 4].mean(), rel=1e-6)
    assert whole[0, 1, 4] == pytest.approx(series[inside, 1, 4].max(), rel=1e-6)


def test_field_means_over_blocks_by_hand() -> None:
    # 10 m grid, 12 x 12 px, chunks of 4 px: field A spans four blocks, field B sits in one, C is off the grid
    transform = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 120.0)
    rows, cols = np.mgrid[0:12, 0:12]
    day0 = (rows * 100 + cols).astype("float32")
    day1 = np.full((12, 12), 2.0, dtype="float32")
    day1[5, 5] = np.nan  # a cloudy pixel inside A
    stack = da.from_array(np.stack([day0, day1]), chunks=(1, 4, 4))
    a = box(20, 40, 80, 100)  # cols 2..7, rows 2..7 (pixel centres inside)
    b = box(90, 10, 110, 30)  # cols 9..10, rows 9..10
    c = box(500, 500, 600, 600)
    got = fieldseries.field_means(stack, transform, [a, b, c]).compute(scheduler="sync")
    rows_a, cols_a = np.arange(2, 8), np.arange(2, 8)
    assert got[0, 0] == pytest.approx(rows_a.mean() * 100 + cols_a.mean())
    assert got[0, 1] == pytest.approx(950 + 9.5)
    assert got[1, 0] == pytest.approx(2.0) and got[1, 1] == pytest.approx(2.0)
    assert np.isnan(got[:, 2]).all()


def _weather_grid(years: int = 21) -> xr.Dataset:
    """Daily weather on a 3 x 3 grid of 0.1 deg cells with units, like the ERA5-Land reader's output."""
    rng = np.random.default_rng(11)
    time = pd.date_range("2000-01-01", periods=365 * years, freq="D")
    shape = (time.size, 3, 3)
    pr = rng.gamma(0.4, 3.0, size=shape) * (rng.random(shape) < 0.4)
    tasmax = 285 + 10 * np.sin(np.arange(time.size) / 58.0)[:, None, None] + rng.normal(0, 2, size=shape)
    dims = ("time", "latitude", "longitude")
    return xr.Dataset(
        {"pr": (dims, pr, {"units": "kg m-2 d-1", "standard_name": "precipitation_flux"}),
         "tasmax": (dims, tasmax, {"units": "K", "standard_name": "air_temperature"})},
        coords={"time": time, "latitude": [35.7, 35.6, 35.5], "longitude": [104.5, 104.6, 104.7]},
    )


def test_field_weather_is_bilinear_and_batches_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    grid = _weather_grid(years=2)
    ids = [f"F{i}" for i in range(7)]
    lon = np.array([104.55, 104.6, 104.52, 104.68, 104.61, 104.57, 104.66])
    lat = np.array([35.65, 35.6, 35.51, 35.69, 35.55, 35.62, 35.58])
    weather = fieldweather.FieldWeather.from_grid(grid, lon, lat, ids)
    whole = weather.at(ids)
    # F0 sits in the middle of four cell centres: the mean of the four, by hand
    corner = grid["tasmax"].sel(latitude=[35.7, 35.6], longitude=[104.5, 104.6]).mean(["latitude", "longitude"])
    np.testing.assert_allclose(whole["tasmax"].sel(field="F0"), corner, rtol=1e-12)
    # F1 sits on a cell centre: that cell
    np.testing.assert_allclose(whole["pr"].sel(field="F1"), grid["pr"].sel(latitude=35.6, longitude=104.6))
    monkeypatch.setattr(fieldweather, "FIELD_BATCH", 3)
    batches = fieldweather.field_batches(ids)
    assert [len(b) for b in batches] == [3, 3, 1]
    joined = xr.concat([weather.at(b) for b in batches], dim="field")
    np.testing.assert_array_equal(joined["tasmax"].values, whole["tasmax"].values)
    part = weather.at(["F3"], variables=["pr"], start=pd.Timestamp("2000-03-01"), end=pd.Timestamp("2000-03-31"))
    assert list(part.data_vars) == ["pr"] and part.sizes["time"] == 31
    np.testing.assert_array_equal(part["pr"].values[:, 0], whole["pr"].sel(field="F3", time="2000-03").values)


def test_spi_is_fitted_per_weather_cell_and_interpolated_to_the_fields() -> None:
    from models import agroclimate

    grid = _weather_grid(years=21)
    ids = ["A", "B", "C", "D", "E"]
    lon = np.array([104.55, 104.6, 104.52, 104.68, 104.61])
    lat = np.array([35.65, 35.6, 35.51, 35.69, 35.55])
    weather = fieldweather.FieldWeather.from_grid(grid, lon, lat, ids)
    baseline = ("2000-01-01", "2019-12-31")
    monthly = fieldweather.spi_monthly(weather, 3, baseline)
    assert monthly is not None and set(monthly.dims) == {"time", "field"}

    def cell(la: float, lo: float) -> np.ndarray:
        return agroclimate.spi(grid["pr"].sel(latitude=la, longitude=lo), 3, *baseline).values

    # B sits on a cell centre: that cell's SPI; A sits amid four centres: the mean of their four SPI series
    np.testing.assert_allclose(monthly.sel(field="B").values, cell(35.6, 104.6), rtol=1e-6, equal_nan=True)
    four = np.mean([cell(la, lo) for la in (35.7, 35.6) for lo in (104.5, 104.6)], axis=0)
    np.testing.assert_allclose(monthly.sel(field="A").values, four, rtol=1e-6, atol=1e-9, equal_nan=True)
    # the daily series holds the last complete month's value: 15 July 2010 -> June 2010
    daily = fieldweather.spi_daily_at(monthly, pd.DatetimeIndex(["2010-07-15"]), ["C"])
    assert float(daily.squeeze()) == float(monthly.sel(field="C", time="2010-06-01"))
    assert fieldweather.spi_monthly(weather, 3, ("2000-01-01", "2009-12-31")) is None  # < 20 years


def test_tmax_history_of_a_batch_is_its_columns_of_the_whole() -> None:
    from pipelines import fieldfeatures

    grid = _weather_grid(years=4)
    ids = ["A", "B", "C"]
    weather = fieldweather.FieldWeather.from_grid(grid, [104.55, 104.6, 104.65], [35.65, 35.6, 35.55], ids)
    # A is a winter crop sown in December of the year before
    lo = pd.Series(pd.to_datetime(["2002-12-15", "2003-05-01", "2003-04-15"]), index=pd.Index(ids, name="field_id"))
    hi = pd.Series(pd.to_datetime(["2003-07-31", "2003-08-31", "2003-06-30"]), index=lo.index)
    fw = weather.at(ids)
    whole = fieldfeatures.tmax_history(fw, lo, hi, 2003, [2000, 2001, 2002, 2003])
    part = fieldfeatures.tmax_history(weather.at(["B"]), lo.loc[["B"]], hi.loc[["B"]], 2003,
                                      [2000, 2001, 2002, 2003], span=(lo.min(), hi.max()))
    pd.testing.assert_frame_equal(part, whole[["B"]])
    # alone, B's window would fit in 2000 too; A's (from December 1999) does not, so no field uses 2000
    assert list(whole.index) == [2001, 2002]
    assert list(fieldfeatures.tmax_history(weather.at(["B"]), lo.loc[["B"]], hi.loc[["B"]], 2003,
                                           [2000, 2001, 2002, 2003]).index) == [2000, 2001, 2002]
    # by hand: field A, 2001: mean Tmax of 15 December 2000 - 31 July 2001 in degC
    expected = fw["tasmax"].sel(field="A", time=slice("2000-12-15", "2001-07-31")).mean() - 273.15
    assert whole.loc[2001, "A"] == pytest.approx(float(expected))


def test_field_weather_equals_xarray_interpolation_and_the_nearest_cell_outside() -> None:
    """Independent reference: xarray's linear interp (scipy) inside the cell centres' hull, ``sel(nearest)`` outside."""
    grid = _weather_grid(years=1)
    rng = np.random.default_rng(4)
    lon = np.concatenate([rng.uniform(104.5, 104.7, 20), [104.45, 104.75, 104.6]])
    lat = np.concatenate([rng.uniform(35.5, 35.7, 20), [35.6, 35.52, 35.8]])
    ids = [f"P{i}" for i in range(lon.size)]
    got = fieldweather.FieldWeather.from_grid(grid, lon, lat, ids).at(ids)
    for k in range(lon.size):
        if k < 20:
            expected = grid["tasmax"].interp(longitude=lon[k], latitude=lat[k])
        else:  # outside the hull on one axis: the nearest cell
            expected = grid["tasmax"].sel(longitude=lon[k], latitude=lat[k], method="nearest")
        np.testing.assert_allclose(got["tasmax"].isel(field=k).values, expected.values, rtol=1e-10)
    assert got["tasmax"].attrs["units"] == "K" and got["tasmax"].dims == ("time", "field")
