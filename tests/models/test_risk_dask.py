"""Every hazard gives identical results on numpy-backed and dask-chunked inputs, and stays lazy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from models.crops import crop_stages
from models.risk import aggregate
from models.risk.disease import disease_risk
from models.risk.drought import drought_risk
from models.risk.frost import frost_risk
from models.risk.heat import heat_risk
from models.risk.pest import pest_risk
from models.risk.waterlogging import waterlogging_risk

CHUNKS = {"time": 25, "y": 2, "x": 3}


@pytest.fixture(scope="module")
def weather():
    """90 days × 4 × 5 pixels of random but plausible weather with a few NaNs (missing data)."""
    rng = np.random.default_rng(11)
    time = pd.date_range("2025-05-01", periods=90)
    shape = (90, 4, 5)

    def da(values, units):
        return xr.DataArray(values, dims=("time", "y", "x"), coords={"time": time}, attrs={"units": units})

    tn = rng.normal(8, 6, shape)
    tn[5, 1, 1] = np.nan
    tx = tn + rng.uniform(5, 18, shape)
    td = tn + rng.normal(0, 3, shape)
    pr = rng.gamma(0.4, 15, shape)
    spi = rng.normal(-0.5, 1, shape)
    vhi = np.where(rng.uniform(size=shape) < 0.2, rng.uniform(0, 100, shape), np.nan)
    terrain = xr.Dataset({
        "rel_elev": xr.DataArray(rng.normal(0, 40, shape[1:]), dims=("y", "x"), attrs={"units": "m"}),
        "slope": xr.DataArray(rng.uniform(0, 12, shape[1:]), dims=("y", "x"), attrs={"units": "deg"}),
        "pressure": xr.DataArray(rng.uniform(0, 40, shape[1:]), dims=("y", "x")),
        "sowing": xr.DataArray(np.datetime64("2025-04-20", "ns") + rng.integers(0, 20, shape[1:]).astype(
            "timedelta64[D]"), dims=("y", "x")),
    })
    catch = rng.gamma(0.5, 20, shape)  # trap pressure as of each day (count/trap/week), as the pipeline gives it
    return xr.Dataset({"tasmin": da(tn + 273.15, "K"), "tasmax": da(tx + 273.15, "K"), "tdps": da(td, "degC"),
                       "pr": da(pr, "mm/d"), "spi": da(spi, "1"), "vhi": da(vhi, "1"),
                       "pest_pressure": da(catch, "count/week")}), terrain


def run_all(w: xr.Dataset, t: xr.Dataset, crop: str) -> dict[str, xr.Dataset]:
    stages = crop_stages(crop, t["sowing"], w["tasmin"], w["tasmax"])
    return {
        "frost": frost_risk(crop, w["tasmin"], stages, rel_elev=t["rel_elev"]),
        "heat": heat_risk(crop, w["tasmax"], stages),
        "waterlogging": waterlogging_risk(w["pr"], stages, t["slope"], t["rel_elev"]),
        "drought": drought_risk(crop, stages, spi1=w["spi"], spi3=w["spi"] * 0.8, vhi=w["vhi"], irrigated=False),
        "pest": pest_risk("green_peach_aphid", crop, w["tasmin"], w["tasmax"], stages, "2025-05-20", t["pressure"]),
        "pest_daily": pest_risk("green_peach_aphid", crop, w["tasmin"], w["tasmax"], stages, "2025-05-20",
                                w["pest_pressure"]),
        "disease": disease_risk(crop, w[["tasmin", "tasmax", "tdps"]], stages),
    }


@pytest.mark.parametrize("crop", ["potato", "spring_wheat"])
def test_numpy_and_dask_identical(weather, crop):
    w, t = weather
    eager = run_all(w, t, crop)
    lazy = run_all(w.chunk(CHUNKS), t.chunk({"y": 2, "x": 3}), crop)
    for hazard, ds in lazy.items():
        assert ds["risk"].chunks is not None, f"{hazard} was computed eagerly"
        computed = ds.compute()
        xr.testing.assert_allclose(eager[hazard], computed, rtol=0, atol=1e-12)
        xr.testing.assert_allclose(aggregate(eager[hazard], last_days=30), aggregate(computed, last_days=30))
        r = eager[hazard]["risk"].values
        assert np.nanmin(r) >= 0 and np.nanmax(r) <= 1, hazard
        assert np.isnan(r[5, 1, 1]) or hazard in ("drought", "waterlogging"), hazard  # missing Tmin -> NaN
