"""Sentinel-2 L2A ItemCollection reader: reflectance, SCL mask, date filter, bad items."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import dask.array
import numpy as np
import pytest

from geodata.errors import InputError
from geodata.readers.imagery import read_sentinel2


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

DN = {"B02": 1500, "B03": 2000, "B04": 2500, "B08": 4000, "B11": 3000, "B12": 2200}
DATES = ["2025-05-01", "2025-05-11", "2025-05-21"]


@pytest.fixture()
def s2(tmp_path: Path) -> Path:
    return bad.write_s2_item_dir(tmp_path, DATES, size=64, dn=DN)


def test_reflectance_on_10m_grid_lazy(s2: Path) -> None:
    ds = read_sentinel2(s2)
    assert list(ds.time.dt.strftime("%Y-%m-%d").values) == DATES
    assert ds.sizes == {"time": 3, "y": 64, "x": 64}
    for band in DN:
        assert isinstance(ds[band].data, dask.array.Array)
        assert ds[band].dtype == np.float32
    # (DN - 1000) / 10000: 3000 -> 0.2, 1500 -> 0.05, 4000 -> 0.3; 20 m bands upsampled
    first = ds.isel(time=0).compute()
    expected = {"B02": 0.05, "B03": 0.1, "B04": 0.15, "B08": 0.3, "B11": 0.2, "B12": 0.12}
    for band, value in expected.items():
        np.testing.assert_allclose(first[band].values, value, atol=1e-6)
    assert ds.odc.geobox.resolution.x == 10
    assert ds.odc.crs.epsg == 32648
    assert ds["item_id"].values[0] == "S2A_MSIL2A_20250501_48SUD"


def test_scale_offset_from_geotiff(tmp_path: Path) -> None:
    """Without raster:bands the scale/offset come from the GeoTIFF (0.0001, -0.1)."""
    items = bad.write_s2_item_dir(tmp_path, ["2025-06-01"], dn=DN, with_raster_bands=False)
    ds = read_sentinel2(items, bands=["B04"])
    assert float(ds["B04"].mean()) == pytest.approx(0.15, abs=1e-6)


@pytest.mark.parametrize("baseline, expected", [("05.10", 0.15), ("04.00", 0.15), ("03.01", 0.25)])
def test_offset_default_from_processing_baseline(tmp_path: Path, baseline: str, expected: float) -> None:
    """Neither STAC nor file give a scale: DN / 10000, minus 0.1 from baseline 04.00 on (DN 2500)."""
    items = bad.write_s2_item_dir(tmp_path, ["2025-06-01"], dn=DN, with_raster_bands=False,
                                  file_scales=False, baseline=baseline)
    ds = read_sentinel2(items, bands=["B04"])
    assert float(ds["B04"].mean()) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("scl_class, valid", [(4, True), (5, True), (3, False), (8, False), (9, False), (10, False)])
def test_scl_mask(tmp_path: Path, scl_class: int, valid: bool) -> None:
    items = bad.write_s2_item_dir(tmp_path, ["2025-06-01"], dn=DN, scl_value=scl_class)
    ds = read_sentinel2(items, bands=["B04", "B11"]).compute()
    assert bool(ds["valid"].all()) is valid
    assert bool(np.isfinite(ds["B04"]).all()) is valid
    unmasked = read_sentinel2(items, bands=["B04"], mask=False).compute()
    assert np.isfinite(unmasked["B04"]).all()  # mask=False keeps reflectance, SCL still given
    assert int(unmasked["scl"][0, 0, 0]) == scl_class


def test_date_range_filter(s2: Path) -> None:
    ds = read_sentinel2(s2, start="2025-05-05", end="2025-05-11")
    assert list(ds.time.dt.strftime("%Y-%m-%d").values) == ["2025-05-11"]


def test_excluded_dates_are_never_opened(s2: Path) -> None:
    """As-of reading: the files of later dates are corrupt, yet the read succeeds."""
    later = s2.parent / "2025" / "20250521"
    for tif in later.glob("*.tif"):
        tif.write_bytes(b"")  # zero-size: would be rejected if opened
    ds = read_sentinel2(s2, end="2025-05-11")
    assert ds.sizes["time"] == 2
    assert np.isfinite(ds["B08"].values).all()
    with pytest.raises(InputError, match="20250521"):
        read_sentinel2(s2)


def test_no_item_in_range(s2: Path) -> None:
    with pytest.raises(InputError, match="no Sentinel-2 item in the requested date range"):
        read_sentinel2(s2, end="2024-12-31")


def test_missing_band_names_item_and_band(tmp_path: Path) -> None:
    items = bad.write_s2_item_dir(tmp_path, DATES, dn=DN, drop={"2025-05-11": "B08"})
    with pytest.raises(InputError, match=r"items.json: S2A_MSIL2A_20250511_48SUD: B08: band missing"):
        read_sentinel2(items)
    # a range that skips that date is fine
    assert read_sentinel2(items, end="2025-05-05").sizes["time"] == 1


def test_missing_band_file_named(s2: Path) -> None:
    (s2.parent / "2025" / "20250511" / "B11.tif").unlink()
    with pytest.raises(InputError, match=r"20250511/B11.tif: file not found"):
        read_sentinel2(s2)


def test_items_sorted_by_time(tmp_path: Path) -> None:
    items = bad.write_s2_item_dir(tmp_path, ["2025-05-21", "2025-05-01", "2025-05-11"], dn=DN)
    ds = read_sentinel2(items, bands=["B04"])
    assert list(ds.time.dt.strftime("%Y-%m-%d").values) == DATES


def test_same_day_items_are_mosaicked(tmp_path: Path) -> None:
    """Two items on one day: per pixel the least cloudy valid one is used."""
    cloudy_root = tmp_path / "cloudy"
    clear_root = tmp_path / "clear"
    bad.write_s2_item_dir(cloudy_root, ["2025-05-01"], dn={**DN, "B04": 5000}, scl_value=9)
    clear = bad.write_s2_item_dir(clear_root, ["2025-05-01"], dn=DN, scl_value=4, tile="48SUE")
    doc = json.loads(clear.read_text())
    other = json.loads((cloudy_root / "sentinel2" / "items.json").read_text())["features"][0]
    other["properties"]["eo:cloud_cover"] = 1.0  # "less cloudy" by metadata, but its pixels are cloud
    for asset in other["assets"].values():
        asset["href"] = str(cloudy_root / "sentinel2" / asset["href"])
    doc["features"].append(other)
    clear.write_text(json.dumps(doc))
    ds = read_sentinel2(clear, bands=["B04"]).compute()
    assert ds.sizes["time"] == 1
    assert "+" in str(ds["item_id"].values[0])
    np.testing.assert_allclose(ds["B04"].values, 0.15, atol=1e-6)  # from the clear item
    assert bool(ds["valid"].all())


def test_not_an_item_collection(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="items.json: not a STAC ItemCollection"):
        read_sentinel2(path)


def test_bad_date_argument() -> None:
    with pytest.raises(InputError, match="end: is not a date"):
        read_sentinel2("whatever.json", end="yesterday-ish")
