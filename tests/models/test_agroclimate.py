"""xclim indices against hand calculations, eager and dask-chunked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from models import agroclimate as ac
from models.errors import UnitsError

from .conftest import daily


def test_gdd_matches_hand_calculation_eager_and_dask():
    # tas in K: 5, 12, 20, 15 °C -> above 10 °C: 0 + 2 + 10 + 5 = 17 K d
    tas = daily(np.array([5.0, 12.0, 20.0, 15.0]) + 273.15, start="2025-05-01", units="K")
    eager = ac.growing_degree_days(tas, "10 degC", freq="YS")
    lazy = ac.growing_degree_days(tas.chunk({"time": 2}), "10 degC", freq="YS")
    assert float(eager.squeeze()) == pytest.approx(17.0)
    assert float(lazy.compute().squeeze()) == pytest.approx(17.0)


def test_frost_days_hot_days_and_precip_sum():
    tn = daily([-1.0, 0.0, 2.0, -3.0], units="degC")
    assert int(ac.frost_days(tn, "0 degC").squeeze()) == 2
    tx = daily([29.0, 31.0, 33.0, 30.0], units="degC")
    assert int(ac.hot_days(tx, "30 degC").squeeze()) == 2
    # 1 mm/d as kg m-2 s-1 over 4 days = 4 mm
    pr = daily(np.full(4, 1.0 / 86400.0), units="kg m-2 s-1")
    assert float(ac.precipitation_sum(pr).squeeze()) == pytest.approx(4.0)


def test_missing_units_are_refused():
    tas = daily([10.0, 12.0])
    del tas.attrs["units"]
    with pytest.raises(Exception, match="units"):
        ac.growing_degree_days(tas)
    with pytest.raises(UnitsError, match="time"):
        ac.frost_days(xr.DataArray([1.0, 2.0], dims="x", attrs={"units": "degC"}))


@pytest.fixture(scope="module")
def rain_25y():
    time = pd.date_range("2000-01-01", "2024-12-31", freq="D")
    rng = np.random.default_rng(1)
    return xr.DataArray(rng.gamma(0.6, 3.0, (len(time), 2)), dims=("time", "x"), coords={"time": time},
                        attrs={"units": "mm/d"}, name="pr")


def test_spi_eager_equals_dask_and_uses_previous_month(rain_25y):
    eager = ac.spi(rain_25y, 3, "2000-01-01", "2019-12-31")
    lazy = ac.spi(rain_25y.chunk({"x": 1}), 3, "2000-01-01", "2019-12-31").compute()
    np.testing.assert_allclose(eager.values, lazy.values, equal_nan=True)
    # over the calibration years SPI is ~ standard normal
    cal = eager.sel(time=slice("2000-04", "2019-12")).values
    assert abs(np.nanmean(cal)) < 0.15 and 0.8 < np.nanstd(cal) < 1.2
    days = ac.spi_to_daily(eager, pd.date_range("2024-07-01", "2024-07-31"))
    assert np.allclose(days.isel(time=20).values, eager.sel(time="2024-06-01").values)


def test_spi_calibration_outside_series_is_an_error(rain_25y):
    with pytest.raises(Exception, match="calibration"):
        ac.spi(rain_25y, 1, "1990-01-01", "2010-12-31")


def test_drought_grades_gb_t_20481():
    assert ac.drought_grade([0.0, -0.5, -1.0, -1.49, -1.5, -2.0, np.nan]).tolist() == [0, 1, 2, 2, 3, 4, 0]
