"""The pure models of the demo generator against hand-computed and published values."""

from __future__ import annotations

import numpy as np
import pytest

from geodata.demo.crops import SeasonInputs, simulate_season
from geodata.demo.imagery import CANOPY, SOIL, render_scene, to_20m, vegetation_fraction
from geodata.demo.regions import POTATO, REGIONS
from geodata.demo.weather import (
    dewpoint_from_rh,
    downscale_tmin,
    extraterrestrial_radiation,
    generate_year,
    radiative_index,
)


def test_extraterrestrial_radiation_fao56_example_8() -> None:
    # FAO-56 example 8: 20 °S, 3 September (day 246) -> Ra = 32.2 MJ m-2 d-1
    assert extraterrestrial_radiation(-20.0, np.array([246.0]))[0] == pytest.approx(32.2, abs=0.1)


def test_dewpoint_magnus() -> None:
    # 20 °C at 50 % RH: dew point 9.3 °C (psychrometric tables); saturation: Td = T
    assert dewpoint_from_rh(np.array(20.0), np.array(50.0)) == pytest.approx(9.3, abs=0.05)
    assert dewpoint_from_rh(np.array(5.0), np.array(100.0)) == pytest.approx(5.0, abs=1e-6)


def test_radiative_index_and_downscaling_by_hand() -> None:
    k = 273.15
    assert radiative_index(np.array(k - 1), np.array(k + 16), np.array(0.0)) == 1.0
    assert radiative_index(np.array(k - 1), np.array(k + 12), np.array(0.0)) == pytest.approx(0.5)
    assert radiative_index(np.array(k - 1), np.array(k + 16), np.array(3.0)) == 0.0
    # 50 m below the cell mean (+0.325 K by lapse rate) and 30 m below the local mean (-3 K)
    t = downscale_tmin(k - 1.0, z=1950.0, orog=2000.0, z_local=1980.0, radiative=1.0)
    assert float(t) == pytest.approx(k - 1.0 + 0.325 - 3.0)
    # pooling is capped at 50 m and absent on cloudy nights
    assert float(downscale_tmin(k, 1800.0, 1800.0, 1900.0, 1.0)) == pytest.approx(k - 5.0)
    assert float(downscale_tmin(k, 1800.0, 1800.0, 1900.0, 0.0)) == pytest.approx(k)


def test_vegetation_fraction_reproduces_target_ndvi() -> None:
    assert vegetation_fraction(np.array(0.53846154)) == pytest.approx(0.5, abs=1e-6)  # by hand
    assert vegetation_fraction(np.array((SOIL[3] - SOIL[2]) / (SOIL[3] + SOIL[2]))) == pytest.approx(0)
    assert vegetation_fraction(np.array((CANOPY[3] - CANOPY[2]) / (CANOPY[3] + CANOPY[2]))) == pytest.approx(1)


def test_clear_scene_dn_encode_ndvi_with_l2a_offset() -> None:
    ndvi = np.full((64, 64), 0.6, dtype=np.float32)
    bands, scl, cover = render_scene(ndvi, np.ones_like(ndvi), 0.0, 10.0,
                                     np.random.default_rng(0), swath_edge=False)
    assert cover == 0.0 and set(np.unique(scl)) == {4}
    red = (bands["B04"].astype(float) - 1000) / 10000
    nir = (bands["B08"].astype(float) - 1000) / 10000
    assert np.median((nir - red) / (nir + red)) == pytest.approx(0.6, abs=0.01)
    assert to_20m(bands["B11"]).shape == (32, 32)


def test_cloudy_scene_flags_clouds_and_shadows() -> None:
    ndvi = np.full((256, 256), 0.7, dtype=np.float32)
    bands, scl, cover = render_scene(ndvi, np.ones_like(ndvi), 0.4, 10.0,
                                     np.random.default_rng(1), swath_edge=True)
    assert 25 < cover < 45
    assert {0, 3, 8, 9}.issubset(set(np.unique(scl)))
    assert (bands["B02"][scl == 0] == 0).all()
    clear_blue = np.median(bands["B02"][scl == 4])
    assert np.median(bands["B02"][scl == 9]) > clear_blue > np.median(bands["B02"][scl == 3])


def _constant_season(tmean: float, rain: float, tmin_drop: float = 5.0, awc: float = 170.0,
                     frost_night: tuple[int, float] | None = None) -> SeasonInputs:
    days = 365
    tmin = np.full((days, 1), tmean - tmin_drop)
    if frost_night is not None:
        tmin[frost_night[0] - 1] = frost_night[1]
    return SeasonInputs(
        year=2025, lat=35.6, tmin=tmin, tmax=np.full((days, 1), tmean + 5.0),
        tmean=np.full((days, 1), tmean), pr=np.full((days, 1), rain),
        hurs=np.full((days, 1), 60.0), awc=np.array([awc]), soc=np.array([110.0]),
        irrigated=np.array([False]), sow_doy=np.array([100]), crops=(POTATO,),
        sprays_blight=np.array([True]))


def test_thermal_time_sets_emergence_and_harvest() -> None:
    # 14 °C every day, base 4 °C: 10 °C·d per day from sowing on day 100 (inclusive);
    # 250 °C·d on day 124 -> emergence; 1750 °C·d on day 274 -> harvest one week later.
    res = simulate_season(_constant_season(14.0, 3.0), np.random.default_rng(0))
    assert res.emergence_doy[0] == 124
    assert res.harvest_doy[0] == 274 + 7
    assert res.ndvi[90, 0] == pytest.approx(0.15)   # bare soil before sowing
    assert res.ndvi[300, 0] == pytest.approx(0.15)  # and after harvest
    assert res.ndvi[:, 0].max() > 0.75


def test_water_stress_and_frost_lower_yield_and_ndvi() -> None:
    rng = np.random.default_rng
    wet = simulate_season(_constant_season(14.0, 4.0), rng(0))
    dry = simulate_season(_constant_season(14.0, 0.0, awc=80.0), rng(0))
    assert dry.yield_t_ha[0] < 0.6 * wet.yield_t_ha[0]
    assert dry.ndvi.max() < wet.ndvi.max() - 0.1
    mild = simulate_season(_constant_season(14.0, 4.0, frost_night=(170, -1.0)), rng(0))
    hard = simulate_season(_constant_season(14.0, 4.0, frost_night=(170, -4.0)), rng(0))
    assert mild.frost_loss[0] == 0.0  # potato tolerates -1 °C (critical -1.5 °C)
    # -4 °C: canopy loss 0.10 + 0.25 * 2.5 = 0.725, half of it costs yield before flowering
    assert hard.frost_loss[0] == pytest.approx(0.3625, abs=1e-6)
    assert hard.yield_t_ha[0] < mild.yield_t_ha[0]
    assert hard.ndvi[171, 0] < mild.ndvi[171, 0] - 0.1


def test_weather_year_seasons_and_forced_events() -> None:
    spec = REGIONS["dingxi"]
    orog = np.array([[1950.0, 2150.0]])
    rain = {}
    for kind in ("drought", "normal", "wet"):
        totals = [generate_year(spec, 2000 + i, kind, orog, np.random.default_rng(i),
                                force_events=True).pr[90:273, 0, 0].sum() for i in range(8)]
        rain[kind] = np.mean(totals)
    assert rain["drought"] < 0.6 * rain["normal"] < 0.6 * rain["wet"]
    wy = generate_year(spec, 2025, "wet", orog, np.random.default_rng(3), force_events=True)
    # the higher cell is colder by the lapse rate: 200 m x 6.5 K/km = 1.3 K
    np.testing.assert_allclose(wy.tas[:, 0, 0] - wy.tas[:, 0, 1], 1.3, atol=1e-3)
    spring, autumn = wy.frost_days
    assert spec.frost_spring[0] <= spring + 1 < spec.frost_spring[1]
    assert wy.tasmin[spring, 0, 0] < 273.15 and wy.pr[spring, 0, 0] == 0
    assert wy.blight_spell is not None
    first, last = wy.blight_spell
    assert (wy.hurs[first:last + 1, 0, 0] >= 90).all()
    assert (wy.tasmin[first:last + 1, 0, 0] > 273.15 + 8).all()


def test_daily_dew_point_makes_the_hourly_rh_average_to_the_daily_rh() -> None:
    from geodata.demo.weather import DIURNAL_SHAPE, dewpoint_from_daily_rh

    # no diurnal range: the Magnus dew point of 20 °C at 50 % (9.3 °C, psychrometric tables)
    assert float(dewpoint_from_daily_rh(20.0, 20.0, 50.0)) == pytest.approx(9.3, abs=0.05)
    # a dry Dingxi summer day, 10.5-23.5 °C at 60 % mean RH: the hourly RH (Tetens with the same
    # constants, recomputed here) averages 60 % and the dew point sits 1-4 K below Tmin
    td = float(dewpoint_from_daily_rh(10.5, 23.5, 60.0))
    hourly_t = 23.5 * DIURNAL_SHAPE + 10.5 * (1 - DIURNAL_SHAPE)
    e = 6.1094 * np.exp(17.625 * td / (243.04 + td))
    rh = 100 * e / (6.1094 * np.exp(17.625 * hourly_t / (243.04 + hourly_t)))
    assert rh.mean() == pytest.approx(60.0, abs=1e-9)
    assert 1.0 < 10.5 - td < 4.0
    assert rh.max() < 90.0  # no humid hour on an ordinary dry day
    # RH at the mean temperature would have put the dew point 1 K higher, at Tmin - 1.4 K
    assert dewpoint_from_rh(np.array(17.0), np.array(60.0)) > td + 0.5


def test_dingxi_summer_humidity_is_semi_arid() -> None:
    spec = REGIONS["dingxi"]
    orog = np.array([[1950.0]])
    jja = slice(151, 243)
    rh = {kind: np.mean([generate_year(spec, 2000 + i, kind, orog, np.random.default_rng(i),
                                       force_events=True).hurs[jja, 0, 0].mean() for i in range(6)])
          for kind in ("normal", "drought")}
    assert 62.0 <= rh["normal"] <= 75.0  # the semi-arid summer of geodata.demo.weather (~70 %)
    assert rh["drought"] < rh["normal"] - 5.0


def test_expected_trap_catches_by_hand() -> None:
    from geodata.demo.records import expected_catches

    # constant 14.3 °C from 1 April (day 91): 10 aphid °C·d and 3.5 moth °C·d per day
    t = np.full(365, 14.3)
    t[:90] = 0.0
    dry = np.zeros(365)
    moth, aphid = expected_catches(t, dry, 170)  # 80 days: 800 aphid °C·d (flight peak), 280 moth °C·d
    assert moth == pytest.approx(6 * (0.5 + 0.5 * 0.581859) * 280 / 300, abs=1e-5)  # cos(2π·280/430) = -0.581859
    assert aphid == pytest.approx(8.0, abs=1e-6)  # the autumn term is exp(-24.5) here
    assert expected_catches(t, dry, 170, "drought") == pytest.approx((2 * moth, 3 * aphid))
    assert expected_catches(t, dry, 170, "wet") == pytest.approx((0.6 * moth, 0.5 * aphid))
    rain = dry.copy()
    rain[165] = 45.0  # > 40 mm in the week: aphids washed off by half
    assert expected_catches(t, rain, 170)[1] == pytest.approx(4.0, abs=1e-6)


def test_trap_counts_mostly_below_action_thresholds_outbreak_in_drought() -> None:
    import pandas as pd

    from geodata.demo.records import ACTION_THRESHOLD, trap_counts

    spec = REGIONS["dingxi"]
    traps = pd.DataFrame({"trap_id": [f"T{k}" for k in range(12)], "lon": 104.60 + 0.01 * np.arange(12),
                          "lat": np.full(12, 35.58), "observer": "x"})
    above = {}
    for kind in ("normal", "drought"):
        shares = []
        for i in range(4):
            wy = generate_year(spec, 2000 + i, kind, np.array([[1950.0]]), np.random.default_rng(i),
                               force_events=True)
            rows = pd.DataFrame(trap_counts(2000 + i, wy.tas[:, 0, 0] - 273.15, wy.pr[:, 0, 0], traps, None,
                                            np.random.default_rng(i), season_type=kind))
            shares.append(np.mean([c >= ACTION_THRESHOLD[s] for s, c in zip(rows.species, rows["count"],
                                                                                strict=True)]))
        above[kind] = float(np.mean(shares))
    assert above["normal"] < 0.05  # most traps below their thresholds in most weeks
    assert above["drought"] > 2 * above["normal"]
