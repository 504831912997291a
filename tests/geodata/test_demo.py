"""The demo-region generator writes every input of docs/DATA_LAYOUT.md in the real formats."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from click.testing import CliRunner
from rio_cogeo.cogeo import cog_validate

from geodata.demo import generate_region, season_types
from geodata.errors import InputError
from geodata.stac import validate_item_collection

CF_TABLE = {
    "tasmin": ("K", "air_temperature"),
    "tasmax": ("K", "air_temperature"),
    "tas": ("K", "air_temperature"),
    "pr": ("kg m-2 d-1", "precipitation_flux"),
    "tdps": ("K", "dew_point_temperature"),
    "hurs": ("%", "relative_humidity"),
    "rsds": ("W m-2", "surface_downwelling_shortwave_flux_in_air"),
}


def _tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_lhasa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "lhasa"
    return generate_region("lhasa", out, size=128, seasons=1, seed=3, dates_per_season=2)


# ---------------------------------------------------------------------------
# layout and metadata
# ---------------------------------------------------------------------------
def test_layout_and_region_json(demo_dingxi: Path, demo_meta: dict) -> None:
    for rel in ("sentinel2/items.json", "soil/clay.tif", "soil/sand.tif", "soil/soc.tif",
                "soil/phh2o.tif", "soil/awc.tif", "dem/dem.tif", "fields/fields.gpkg",
                "fields/townships.gpkg", "yield/yield_history.csv", "operations/operations.csv"):
        assert (demo_dingxi / rel).is_file(), rel
    assert demo_meta["seasons"] == [2024, 2025, 2026]
    assert demo_meta["crs"] == "EPSG:32648" and demo_meta["size"] == 512
    assert set(demo_meta["season_types"].values()) >= {"drought", "wet"}
    for year in demo_meta["seasons"]:
        assert (demo_dingxi / "pests" / f"traps_{year}.geojson").is_file()
    lon_w, lat_s, lon_e, lat_n = demo_meta["bounds_wgs84"]
    assert lon_w < 104.62 < lon_e and lat_s < 35.58 < lat_n
    xmin, ymin, xmax, ymax = demo_meta["bounds"]
    assert xmax - xmin == ymax - ymin == 5120.0
    for rel in demo_meta["files"]:
        assert (demo_dingxi / rel).is_file(), rel


def test_default_season_types_have_drought_and_wet_before_the_last() -> None:
    for k in (2, 3, 4, 6, 8):
        past = season_types(k)[:-1] if k > 2 else season_types(k)
        assert "drought" in past and "wet" in (past if k > 2 else season_types(k))
    six = season_types(6)
    assert six.count("drought") == 1 and six.count("wet") == 1 and six[-1] == "normal"


def test_every_raster_is_a_valid_cog(demo_dingxi: Path) -> None:
    rasters = sorted(demo_dingxi.rglob("*.tif"))
    assert len(rasters) > 200
    bad = {}
    for path in rasters:
        valid, errors, _ = cog_validate(path, quiet=True)
        if not valid:
            bad[str(path)] = errors
    assert not bad


# ---------------------------------------------------------------------------
# Sentinel-2
# ---------------------------------------------------------------------------
def test_sentinel2_cogs_follow_l2a(demo_dingxi: Path, demo_meta: dict) -> None:
    scenes = sorted((demo_dingxi / "sentinel2").glob("*/*"))
    per_year = {y: [s for s in scenes if s.parent.name == str(y)] for y in demo_meta["seasons"]}
    for year, dirs in per_year.items():
        days = [dt.date(year, int(d.name[4:6]), int(d.name[6:])) for d in dirs]
        gaps = np.diff([d.toordinal() for d in days])
        assert days[0] <= dt.date(year, 3, 10) and days[-1] >= dt.date(year, 10, 20)
        assert set(gaps) <= {5, 10}
    scene = scenes[len(scenes) // 2]
    assert sorted(p.name for p in scene.iterdir()) == [
        "B02.tif", "B03.tif", "B04.tif", "B08.tif", "B11.tif", "B12.tif", "SCL.tif"]
    with rasterio.open(scene / "B04.tif") as b04, rasterio.open(scene / "B11.tif") as b11, \
            rasterio.open(scene / "SCL.tif") as scl:
        assert b04.crs.to_epsg() == 32648 and b04.dtypes[0] == "uint16" and b04.nodata == 0
        assert b04.res == (10.0, 10.0) and b11.res == (20.0, 20.0) and scl.res == (20.0, 20.0)
        assert (b04.transform.c, b04.transform.f) == (b11.transform.c, b11.transform.f)
        assert b04.scales == (0.0001,) and b04.offsets == (-0.1,)
        assert scl.dtypes[0] == "uint8"
        assert b04.block_shapes == [(512, 512)]


def test_clouds_shadows_and_scene_classes(demo_dingxi: Path) -> None:
    seen: set[int] = set()
    for scl_path in sorted((demo_dingxi / "sentinel2" / "2025").glob("*/SCL.tif")):
        with rasterio.open(scl_path) as ds:
            seen |= set(np.unique(ds.read(1)).tolist())
    assert {3, 4, 5, 8, 9}.issubset(seen)
    items = json.loads((demo_dingxi / "sentinel2" / "items.json").read_text())["features"]
    covers = [f["properties"]["eo:cloud_cover"] for f in items]
    assert min(covers) == 0 or min(covers) < 5
    assert max(covers) <= 61 and max(covers) > 30


def test_reflectance_of_bare_loess_and_dense_canopy(demo_dingxi: Path) -> None:
    """Clear pixels: NDVI of bare soil (early March) ~0.1-0.2, dense canopy (summer max) 0.8-0.9."""
    def ndvi(scene: Path) -> np.ndarray:
        with rasterio.open(scene / "B04.tif") as r, rasterio.open(scene / "B08.tif") as n, \
                rasterio.open(scene / "SCL.tif") as s:
            red = r.read(1) * r.scales[0] + r.offsets[0]
            nir = n.read(1) * n.scales[0] + n.offsets[0]
            clear = np.isin(np.repeat(np.repeat(s.read(1), 2, 0), 2, 1), (4, 5))
        return np.where(clear, (nir - red) / (nir + red), np.nan)

    scenes = sorted((demo_dingxi / "sentinel2" / "2026").glob("*"))
    march = [s for s in scenes if s.name[4:6] == "03"]
    early = np.nanmedian(np.stack([ndvi(s) for s in march]), axis=0)
    assert 0.08 < np.nanmedian(early) < 0.22
    summer = [s for s in scenes if s.name[4:6] in ("07", "08")]
    peak = np.nanmax(np.stack([ndvi(s) for s in summer]), axis=0)
    assert 0.78 < np.nanpercentile(peak, 99) < 0.95


def test_stac_item_collection_is_valid_and_complete(demo_dingxi: Path) -> None:
    items_path = demo_dingxi / "sentinel2" / "items.json"
    n = validate_item_collection(items_path)
    data = json.loads(items_path.read_text())
    assert n == len(list((demo_dingxi / "sentinel2").glob("*/*/B04.tif")))
    ids = [f["id"] for f in data["features"]]
    assert len(set(ids)) == len(ids)
    first = data["features"][0]
    assert first["id"].startswith(("S2A_MSIL2A_", "S2B_MSIL2A_")) and first["id"].endswith("_T48SVD")
    assert first["properties"]["proj:code"] == "EPSG:32648"
    for feature in data["features"]:
        for asset in feature["assets"].values():
            assert not Path(asset["href"]).is_absolute()
            assert (items_path.parent / asset["href"]).is_file()


# ---------------------------------------------------------------------------
# weather, soil, terrain
# ---------------------------------------------------------------------------
def test_weather_netcdf_follows_cf(demo_dingxi: Path, demo_meta: dict) -> None:
    files = sorted((demo_dingxi / "weather").glob("era5land_daily_*.nc"))
    years = [int(p.stem[-4:]) for p in files]
    assert years == list(range(demo_meta["seasons"][0] - 20, demo_meta["seasons"][-1] + 1))
    storms = 0
    for path in files:
        with xr.open_dataset(path) as ds:
            assert ds.attrs["Conventions"].startswith("CF-")
            assert ds["time"].attrs["standard_name"] == "time" and ds["time"].attrs["axis"] == "T"
            assert ds["latitude"].attrs["units"] == "degrees_north"
            assert ds["longitude"].attrs["units"] == "degrees_east"
            steps = np.diff(ds["time"].values).astype("timedelta64[D]").astype(int)
            assert (steps == 1).all()
            year = int(path.stem[-4:])
            assert str(ds["time"].values[0])[:10] == f"{year}-01-01"
            assert str(ds["time"].values[-1])[:10] == f"{year}-12-31"
            for name, (units, std) in CF_TABLE.items():
                var = ds[name]
                assert var.dims == ("time", "latitude", "longitude")
                assert var.attrs["units"] == units and var.attrs["standard_name"] == std
            assert (ds.tasmin <= ds.tas).all() and (ds.tas <= ds.tasmax).all()
            assert (ds.tdps <= ds.tas + 0.01).all()
            assert float(ds.tasmin.min()) > 230 and float(ds.tasmax.max()) < 320
            storms += int((ds.pr >= 50).any(dim=("latitude", "longitude")).sum())
        np.testing.assert_allclose(np.diff(ds.latitude.values), -0.1, atol=1e-6)
    assert storms >= 1
    # the encoded time axis is CF: units and calendar on disk
    import netCDF4

    with netCDF4.Dataset(files[0]) as nc:
        assert nc["time"].units == "days since 1950-01-01" and nc["time"].calendar == "standard"


def test_soil_and_dem_rasters(demo_dingxi: Path) -> None:
    with rasterio.open(demo_dingxi / "dem" / "dem.tif") as dem:
        assert dem.crs.to_epsg() == 4326 and dem.dtypes[0] == "float32" and dem.nodata == -32767
        assert dem.res[0] == pytest.approx(1 / 3600)
        z = dem.read(1, masked=True)
        assert 1800 < z.min() < z.max() < 2400 and z.max() - z.min() > 80
    expected = {"clay": (50, 450), "sand": (50, 600), "soc": (10, 300), "phh2o": (60, 90),
                "awc": (50, 300)}
    for name, (lo, hi) in expected.items():
        with rasterio.open(demo_dingxi / "soil" / f"{name}.tif") as ds:
            assert ds.crs.to_epsg() == 4326 and ds.dtypes[0] == "int16" and ds.nodata == -32768
            assert ds.res[0] == pytest.approx(0.0025)
            v = ds.read(1, masked=True)
            assert lo <= v.min() and v.max() <= hi, name


# ---------------------------------------------------------------------------
# vectors and tables
# ---------------------------------------------------------------------------
def test_fields_and_townships(demo_dingxi: Path, demo_fields: gpd.GeoDataFrame) -> None:
    f = demo_fields
    assert f.crs.to_epsg() == 32648
    assert 100 <= len(f) <= 400  # ~5 ha parcels on 26 km2
    assert f.field_id.is_unique and f.field_id.str.match(r"^DX-\d{6}$").all()
    assert set(f.crop) == {"potato", "spring_wheat", "maize"}
    assert f.geometry.is_valid.all() and (f.geom_type == "Polygon").all()
    np.testing.assert_allclose(f.area_ha, f.geometry.area / 1e4, atol=1e-3)
    sow = pd.to_datetime(f.sowing_date)
    assert (sow.dt.year == 2026).all() and sow.dt.month.isin([3, 4, 5]).all()
    assert f.irrigated.dtype == bool and 0 < f.irrigated.sum() < len(f)
    towns = gpd.read_file(demo_dingxi / "fields" / "townships.gpkg", layer="townships")
    assert list(towns.columns[:3]) == ["township_id", "name_zh", "name_en"]
    assert set(f.township) <= set(towns.township_id)
    assert towns.union_all().area == pytest.approx(5120.0**2, rel=1e-6)


def test_pest_traps(demo_dingxi: Path) -> None:
    data = json.loads((demo_dingxi / "pests" / "traps_2025.geojson").read_text())
    props = pd.DataFrame([f["properties"] for f in data["features"]])
    assert set(props.species) >= {"Phthorimaea operculella", "Myzus persicae"}
    assert set(props.method) >= {"pheromone_trap", "yellow_sticky_trap"}
    assert (props["count"] >= 0).all() and props["count"].map(type).eq(int).all()
    lon, lat = data["features"][0]["geometry"]["coordinates"]
    assert 104.5 < lon < 104.7 and 35.5 < lat < 35.7
    aphids = props[props.species == "Myzus persicae"].groupby("date")["count"].mean()
    assert aphids.iloc[-8:].mean() > aphids.iloc[:3].mean()  # populations build with degree-days


def test_yield_history_and_operations(demo_dingxi: Path, demo_fields: gpd.GeoDataFrame) -> None:
    yields = pd.read_csv(demo_dingxi / "yield" / "yield_history.csv")
    assert list(yields.columns) == ["field_id", "season", "crop", "yield_t_ha"]
    assert sorted(yields.season.unique()) == [2024, 2025]
    assert (yields.yield_t_ha >= 0).all()
    assert yields[yields.crop == "potato"].yield_t_ha.max() < 60
    assert yields[yields.crop != "potato"].yield_t_ha.max() < 15

    ops = pd.read_csv(demo_dingxi / "operations" / "operations.csv")
    assert list(ops.columns) == ["field_id", "date", "operation", "product", "active_ingredient",
                                 "dose", "unit", "operator"]
    assert set(ops.operation) == {"sowing", "irrigation", "fertilising", "spraying", "harvest"}
    irrigated = set(demo_fields.field_id[demo_fields.irrigated])
    assert set(ops.field_id[ops.operation == "irrigation"]) <= irrigated
    assert set(ops.unit.dropna()) <= {"kg/ha", "L/ha", "g/ha", "mm"}
    sprays = ops[ops.operation == "spraying"]
    assert {"mancozeb", "lambda-cyhalothrin"} <= set(
        a for s in sprays.active_ingredient for a in s.split("; "))
    # a pre-harvest-interval violation: a spraying < 14 days before that field's harvest
    rows = ops[ops.operation == "harvest"]
    harvest = rows.assign(year=rows.date.str[:4]).set_index(["field_id", "year"])["date"]
    late = 0
    for row in sprays.itertuples():
        h = harvest.get((row.field_id, row.date[:4]))
        if h is not None and 0 <= (pd.Timestamp(h) - pd.Timestamp(row.date)).days < 14:
            late += 1
    assert late >= 1


# ---------------------------------------------------------------------------
# determinism, reuse, errors, CLI
# ---------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, tiny_lhasa: Path) -> None:
    again = generate_region("lhasa", tmp_path / "again", size=128, seasons=1, seed=3,
                            dates_per_season=2)
    assert _tree_hashes(again) == _tree_hashes(tiny_lhasa)
    other = generate_region("lhasa", tmp_path / "other", size=128, seasons=1, seed=4,
                            dates_per_season=2)
    other_hashes, first = _tree_hashes(other), _tree_hashes(tiny_lhasa)
    assert other_hashes["dem/dem.tif"] != first["dem/dem.tif"]


def test_lhasa_region(tiny_lhasa: Path) -> None:
    meta = json.loads((tiny_lhasa / "region.json").read_text(encoding="utf-8"))
    assert meta["crs"] == "EPSG:32646" and meta["seasons"] == [2026]
    fields = gpd.read_file(tiny_lhasa / "fields" / "fields.gpkg", layer="fields")
    assert set(fields.crop) <= {"highland_barley", "winter_wheat"} and len(fields) > 0
    assert fields.field_id.str.startswith("LS-").all()
    winter = fields[fields.crop == "winter_wheat"]
    assert (pd.to_datetime(winter.sowing_date).dt.year == 2025).all()
    with rasterio.open(tiny_lhasa / "dem" / "dem.tif") as dem:
        assert 3550 < dem.read(1, masked=True).mean() < 3900
    assert len(list((tiny_lhasa / "sentinel2" / "2026").iterdir())) == 2


def test_rerun_reuses_matching_output(tiny_lhasa: Path) -> None:
    stamp = {p: p.stat().st_mtime_ns for p in tiny_lhasa.rglob("*") if p.is_file()}
    generate_region("lhasa", tiny_lhasa, size=128, seasons=1, seed=3, dates_per_season=2)
    assert {p: p.stat().st_mtime_ns for p in tiny_lhasa.rglob("*") if p.is_file()} == stamp


def test_rerun_regenerates_when_a_file_is_missing(tmp_path: Path) -> None:
    out = generate_region("lhasa", tmp_path / "r", size=128, seasons=1, seed=5, dates_per_season=2)
    (out / "dem" / "dem.tif").unlink()
    generate_region("lhasa", out, size=128, seasons=1, seed=5, dates_per_season=2)
    assert (out / "dem" / "dem.tif").is_file()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"size": 101}, "size"), ({"size": 64}, "size"), ({"seasons": 0}, "seasons"),
    ({"dates_per_season": 1}, "dates_per_season")])
def test_bad_parameters_are_rejected_clearly(tmp_path: Path, kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as info:
        generate_region("dingxi", tmp_path / "x", **kwargs)
    assert info.value.field == field
    assert not (tmp_path / "x").exists()


def test_unknown_region(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="dingxi or lhasa"):
        generate_region("xian", tmp_path / "x")


def test_cli_demo_data(tmp_path: Path) -> None:
    from nongshu.cli import main

    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["demo-data", "--region", "lhasa", "--size", "128",
                                       "--seasons", "1", "--seed", "3", "--dates-per-season", "2",
                                       "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "fields" in result.output and f"written to {out}" in result.output
    assert (out / "region.json").is_file()
    again = CliRunner().invoke(main, ["demo-data", "--region", "lhasa", "--size", "128",
                                      "--seasons", "1", "--seed", "3", "--dates-per-season", "2",
                                      "--out", str(out), "--quiet"])
    assert again.exit_code == 0 and "reused" in again.output


def test_cli_demo_data_default_out_and_bad_option(tmp_path: Path, monkeypatch) -> None:
    from geodata.cli import demo_data
    from nongshu.cli import main

    bad = CliRunner().invoke(main, ["demo-data", "--size", "100", "--quiet"])
    assert bad.exit_code == 2 and "--size" in bad.output
    odd = CliRunner().invoke(main, ["demo-data", "--size", "129", "--quiet",
                                    "--out", str(tmp_path / "o")])
    assert odd.exit_code == 2 and "size" in odd.output and "Traceback" not in odd.output
    monkeypatch.setenv("NONGSHU_DATA_DIR", str(tmp_path / "data"))
    ok = CliRunner().invoke(main, ["demo-data", "--region", "lhasa", "--size", "128",
                                   "--seasons", "1", "--dates-per-season", "2", "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "data" / "demo" / "lhasa" / "region.json").is_file()
    assert demo_data.name == "demo-data"
