"""Crop phenology: GDD method, stage boundaries, eager vs dask."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from models.crops import CROPS, OFF_SEASON, crop_stages, daily_gdd, get_crop, stage_index, stage_on
from models.errors import ModelInputError

from .conftest import daily


def test_daily_gdd_clips_both_ends():
    # maize 10/30 °C: (max(5,10) + min(35,30))/2 - 10 = 10; (12+20)/2-10 = 6; cold day 0
    assert np.allclose(daily_gdd(np.array([5.0, 12.0, 0.0]), np.array([35.0, 20.0, 8.0]), 10.0, 30.0), [10.0, 6.0, 0.0])


def test_stage_index_by_gdd_and_days():
    # potato starts: sowing 0, emergence 180, tuber_initiation 400, flowering 600, bulking 750, maturity 1150; ends 1450
    codes = stage_index(np.array([0.0, 179.9, 180.0, 700.0, 1449.0, 1450.0, np.nan]),
                        np.array([1, 20, 21, 70, 120, 121, 26]), "potato")
    assert codes.tolist() == [0, 0, 1, 3, 5, OFF_SEASON, 1]


def test_stage_index_off_season_before_sowing_and_after_max_days():
    assert stage_index(np.array([0.0, 100.0]), np.array([-1, 166]), "potato").tolist() == [OFF_SEASON, OFF_SEASON]


def test_every_crop_has_ordered_stages_and_sources():
    for crop in CROPS.values():
        starts = [s.start_gdd for s in crop.stages]
        assert starts == sorted(starts) and starts[-1] < crop.maturity_gdd
        assert crop.sources
        assert ((crop.water_weights() >= 0) & (crop.water_weights() <= 1)).all()


def test_crop_stages_accumulate_gdd_from_sowing_eager_equals_dask():
    # 10 days from 2025-04-28; sowing 2025-04-30 for pixel 0 and 2025-05-02 for pixel 1.
    tn = daily(np.full((10, 2), 10.0), start="2025-04-28", dims=("time", "x"))
    tx = daily(np.full((10, 2), 20.0), start="2025-04-28", dims=("time", "x"))
    sowing = xr.DataArray(np.array(["2025-04-30", "2025-05-02"], dtype="datetime64[ns]"), dims="x")
    eager = crop_stages("spring_wheat", sowing, tn, tx)
    lazy = crop_stages("spring_wheat", sowing, tn.chunk({"time": 4}), tx.chunk({"time": 4}))
    assert lazy["stage"].chunks is not None
    xr.testing.assert_identical(eager, lazy.compute())
    # base 0: 15 °C·d per day from the sowing day on
    assert eager["gdd"].isel(x=0).values.tolist() == [0, 0, 15, 30, 45, 60, 75, 90, 105, 120]
    assert eager["gdd"].isel(x=1).values[-1] == 15 * 6
    assert eager["stage"].isel(x=0).values[:2].tolist() == [OFF_SEASON, OFF_SEASON]


def test_stage_on_by_days_and_unknown_crop():
    info = stage_on("potato", "2025-04-25", "2025-07-10")  # 76 days: flowering starts day 70
    assert info["name"] == "flowering" and info["water_weight"] == 1.0
    with pytest.raises(ModelInputError, match="unknown crop"):
        get_crop("rice")
