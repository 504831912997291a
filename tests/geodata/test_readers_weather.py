"""Weather readers: CF NetCDF (ERA5-Land-like) and CMA station CSV."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import dask.array
import numpy as np
import pytest
import xarray as xr

from geodata.errors import InputError
from geodata.readers.weather import read_station_csv, read_weather, weather_files


def _load_bad_inputs() -> ModuleType:
    """Import the sibling ``bad_inputs.py`` (works under ``--import-mode=importlib``)."""
    name = "tests_geodata_bad_inputs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("bad_inputs.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


bad = _load_bad_inputs()


@pytest.fixture()
def weather_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "weather"
    bad.write_nc(bad.weather_dataset("2023-01-01", 365), folder / "era5land_daily_2023.nc")
    bad.write_nc(bad.weather_dataset("2024-01-01", 366, tasmin_k=270.0), folder / "era5land_daily_2024.nc")
    return folder


def test_reads_all_years_lazily(weather_dir: Path) -> None:
    ds = read_weather(weather_dir)
    assert ds.sizes["time"] == 365 + 366
    assert isinstance(ds["tasmin"].data, dask.array.Array)
    assert ds["tasmin"].attrs["units"] == "K"
    assert ds["tasmin"].attrs["cell_methods"] == "time: minimum"
    assert float(ds["tasmin"].sel(time="2024-03-01").mean()) == pytest.approx(270.0)
    assert ds["pr"].attrs["units"] == "mm d-1"
    assert float(ds["pr"].mean()) == pytest.approx(1.5)  # kg m-2 d-1 == mm/day
    assert ds.rio.crs.to_epsg() == 4326


def test_units_converted_for_xclim(tmp_path: Path) -> None:
    ds = bad.weather_dataset("2024-01-01", 40, tasmin_k=-5.0, tasmax_k=12.0, tas_units="degC",
                             pr=2.0 / 86400, pr_units="kg m-2 s-1")
    path = bad.write_nc(ds, tmp_path / "era5land_daily_2024.nc")
    out = read_weather(path)
    assert float(out["tasmin"].mean()) == pytest.approx(268.15, abs=1e-3)  # -5 degC
    assert float(out["tasmax"].mean()) == pytest.approx(285.15, abs=1e-3)
    assert float(out["pr"].mean()) == pytest.approx(2.0, rel=1e-5)  # 2/86400 kg m-2 s-1 = 2 mm/day
    from xclim.indices import tn_days_below

    frost = tn_days_below(out["tasmin"], thresh="0 degC", freq="YS")
    assert int(frost.isel(latitude=0, longitude=0).values[0]) == 40


def test_end_date_never_opens_later_years(weather_dir: Path) -> None:
    (weather_dir / "era5land_daily_2024.nc").write_bytes(b"corrupt")
    ds = read_weather(weather_dir, end="2023-12-31")
    assert str(ds.time.values[-1])[:10] == "2023-12-31"
    assert [p.name for p in weather_files(weather_dir, end="2023-06-30")] == ["era5land_daily_2023.nc"]
    with pytest.raises(InputError, match="era5land_daily_2024.nc: not a readable NetCDF"):
        read_weather(weather_dir)


def test_date_window(weather_dir: Path) -> None:
    ds = read_weather(weather_dir, start="2023-12-30", end="2024-01-02")
    assert ds.sizes["time"] == 4


def test_no_time_coordinate(tmp_path: Path) -> None:
    ds = bad.weather_dataset("2024-01-01", 5).drop_vars("time")
    path = bad.write_nc(ds, tmp_path / "notime.nc")
    with pytest.raises(InputError, match="notime.nc: time: no time coordinate"):
        read_weather(path)


def test_nan_time(tmp_path: Path) -> None:
    path = bad.write_nc_with_nan_time(tmp_path / "nantime.nc")
    with pytest.raises(InputError, match=r"nantime.nc: time: time coordinate holds NaN/NaT at index 2"):
        read_weather(path)


def test_unsorted_times(tmp_path: Path) -> None:
    ds = bad.weather_dataset("2024-01-01", 10)
    ds = ds.isel(time=[0, 1, 2, 5, 3, 4, 6, 7, 8, 9])
    path = bad.write_nc(ds, tmp_path / "unsorted.nc")
    with pytest.raises(InputError, match=r"unsorted.nc: time: times not sorted: 2024-01-04 follows 2024-01-06"):
        read_weather(path)


def test_duplicated_times(tmp_path: Path) -> None:
    ds = bad.weather_dataset("2024-01-01", 10).isel(time=[0, 1, 2, 2, 3])
    path = bad.write_nc(ds, tmp_path / "dup.nc")
    with pytest.raises(InputError, match=r"dup.nc: time: duplicated times 2024-01-03"):
        read_weather(path)


def test_duplicated_times_across_files(tmp_path: Path) -> None:
    folder = tmp_path / "weather"
    bad.write_nc(bad.weather_dataset("2023-01-01", 365), folder / "era5land_daily_2023.nc")
    bad.write_nc(bad.weather_dataset("2023-12-30", 10), folder / "era5land_daily_2024.nc")
    with pytest.raises(InputError, match=r"era5land_daily_2024.nc: time: duplicated times across files"):
        read_weather(folder)


def test_degc_values_labelled_kelvin(tmp_path: Path) -> None:
    ds = bad.weather_dataset("2024-01-01", 40, tasmin_k=5.0, tasmax_k=20.0, tas_units="K")
    path = bad.write_nc(ds, tmp_path / "wrongunit.nc")
    with pytest.raises(InputError, match=r"wrongunit.nc: tasmin: values look like degC but are labelled 'K'") as err:
        read_weather(path)
    assert "expected temperatures in K" in str(err.value)


def test_kelvin_values_labelled_degc(tmp_path: Path) -> None:
    ds = bad.weather_dataset("2024-01-01", 40, tas_units="degC")
    path = bad.write_nc(ds, tmp_path / "wrongunit.nc")
    with pytest.raises(InputError, match=r"tasmin: values look like K but are labelled 'degC'"):
        read_weather(path)


def test_missing_units(tmp_path: Path) -> None:
    ds = bad.weather_dataset("2024-01-01", 5)
    del ds["tasmax"].attrs["units"]
    path = bad.write_nc(ds, tmp_path / "nounits.nc")
    with pytest.raises(InputError, match=r"nounits.nc: tasmax: variable has no units"):
        read_weather(path)


def test_missing_required_variable(tmp_path: Path) -> None:
    path = bad.write_nc(bad.weather_dataset("2024-01-01", 5).drop_vars("pr"), tmp_path / "nopr.nc")
    with pytest.raises(InputError, match=r"nopr.nc: pr: missing variable\(s\) pr"):
        read_weather(path)


def test_negative_precipitation(tmp_path: Path) -> None:
    ds = bad.weather_dataset("2024-01-01", 40)
    ds["pr"][10, 1, 1] = -3.0
    path = bad.write_nc(ds, tmp_path / "negpr.nc")
    with pytest.raises(InputError, match=r"negpr.nc: pr: negative precipitation \(minimum -3 mm/day\)"):
        read_weather(path)


def test_packing_noise_clipped_to_zero(tmp_path: Path) -> None:
    ds = bad.weather_dataset("2024-01-01", 5)
    ds["pr"][0, 0, 0] = -1e-5
    out = read_weather(bad.write_nc(ds, tmp_path / "noise.nc"))
    assert float(out["pr"][0, 0, 0]) == 0.0


def test_not_netcdf(tmp_path: Path) -> None:
    path = tmp_path / "era5land_daily_2024.nc"
    path.write_text("hello")
    with pytest.raises(InputError, match="not a readable NetCDF"):
        read_weather(path)


STATIONS = (
    "station_id,lat,lon,date,tmin,tmax,precip,rh\n"
    "52995,35.55,104.58,2024-05-01,2.5,18.0,0.0,45\n"
    "52995,35.55,104.58,2024-05-02,-1.5,15.0,32700,60\n"
    "52995,35.55,104.58,2024-05-03,32766,16.0,4.2,70\n"
    "52986,35.37,104.17,2024-05-01,1.0,17.0,1.0,50\n"
)


def test_station_csv(tmp_path: Path) -> None:
    path = bad.write_text(tmp_path / "stations.csv", STATIONS, "utf-8")
    ds = read_station_csv(path)
    assert set(ds.data_vars) == {"tasmin", "tasmax", "pr", "hurs"}
    s = ds.sel(station="52995")
    assert float(s["tasmin"].sel(time="2024-05-01")) == pytest.approx(275.65)  # 2.5 degC
    assert float(s["pr"].sel(time="2024-05-02")) == 0.0  # CMA trace code 32700
    assert np.isnan(float(s["tasmin"].sel(time="2024-05-03")))  # CMA missing code 32766
    assert float(ds["lat"].sel(station="52986")) == pytest.approx(35.37)
    assert ds["tasmin"].attrs["units"] == "K"
    assert ds["pr"].attrs["units"] == "mm d-1"
    assert isinstance(ds, xr.Dataset)


def test_station_csv_negative_precip(tmp_path: Path) -> None:
    text = STATIONS.replace("1.0,17.0,1.0,50", "1.0,17.0,-2.0,50")
    path = bad.write_text(tmp_path / "stations.csv", text, "utf-8")
    with pytest.raises(InputError, match=r"stations.csv: precip: invalid values at lines 5"):
        read_station_csv(path)


def test_station_csv_kelvin(tmp_path: Path) -> None:
    text = STATIONS.replace(",2.5,18.0,", ",275.6,291.1,").replace(",-1.5,15.0,", ",271.6,288.1,")
    text = text.replace(",32766,16.0,", ",274.0,289.1,").replace(",1.0,17.0,", ",274.1,290.1,")
    path = bad.write_text(tmp_path / "stations.csv", text, "utf-8")
    with pytest.raises(InputError, match=r"tmin: values look like K"):
        read_station_csv(path)
