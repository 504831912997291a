"""Vector readers: fields, townships, pest observations."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from geodata.errors import InputError
from geodata.readers.common import InputWarning
from geodata.readers.vector import read_fields, read_pests, read_townships


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


def test_good_fields(tmp_path: Path) -> None:
    path = bad.write_gpkg(bad.field_frame(5), tmp_path / "fields.gpkg")
    gdf = read_fields(path)
    assert list(gdf["field_id"]) == [f"DX-{i:06d}" for i in range(1, 6)]
    assert gdf.crs.to_epsg() == 32648
    assert str(gdf["sowing_date"].iloc[0].date()) == "2025-04-20"
    assert gdf["cooperative_name"].iloc[0] == "安定区马铃薯合作社"
    assert gdf.geometry.area.iloc[0] == pytest.approx(100 * 100)


def test_self_intersecting_polygon_repaired_with_warning(tmp_path: Path) -> None:
    gdf = bad.field_frame(3)
    x0, y0 = bad.ORIGIN
    gdf.loc[1, "geometry"] = bad.bowtie(x0, y0)
    assert not gdf.geometry.iloc[1].is_valid
    path = bad.write_gpkg(gdf, tmp_path / "fields.gpkg")
    with pytest.warns(InputWarning, match=r"repaired invalid geometry .* DX-000002"):
        out = read_fields(path)
    assert out.geometry.is_valid.all()
    # the bow-tie is two triangles of 50 m x 100 m / 2 each: 2 * 2500 m2
    assert out.geometry.iloc[1].area == pytest.approx(5000.0)
    assert out.geometry.iloc[1].geom_type == "MultiPolygon"


def test_empty_and_null_geometry_rejected_with_ids(tmp_path: Path) -> None:
    gdf = bad.field_frame(4)
    gdf.loc[1, "geometry"] = Polygon()
    gdf.loc[3, "geometry"] = None
    path = tmp_path / "fields.geojson"
    gdf.to_crs(4326).to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match=r"fields.geojson: geometry: empty or missing geometry for fields DX-000002, DX-000004"):
        read_fields(path, layer=None)


def test_duplicate_ids_rejected(tmp_path: Path) -> None:
    gdf = bad.field_frame(4)
    gdf.loc[2, "field_id"] = "DX-000001"
    path = bad.write_gpkg(gdf, tmp_path / "fields.gpkg")
    with pytest.raises(InputError, match=r"field_id: duplicated ids DX-000001"):
        read_fields(path)


def test_unknown_crop_lists_allowed(tmp_path: Path) -> None:
    gdf = bad.field_frame(3)
    gdf.loc[2, "crop"] = "rice"
    path = bad.write_gpkg(gdf, tmp_path / "fields.gpkg")
    with pytest.raises(InputError, match=r"crop: unknown crop \['rice'\] for fields DX-000003") as err:
        read_fields(path)
    assert "potato, spring_wheat, maize, highland_barley, winter_wheat" in str(err.value)


def test_missing_column(tmp_path: Path) -> None:
    path = bad.write_gpkg(bad.field_frame(2).drop(columns=["cooperative_id"]), tmp_path / "fields.gpkg")
    with pytest.raises(InputError, match=r"cooperative_id: missing column"):
        read_fields(path)


def test_bad_sowing_date_names_field(tmp_path: Path) -> None:
    gdf = bad.field_frame(2)
    gdf.loc[1, "sowing_date"] = "late April"
    path = bad.write_gpkg(gdf, tmp_path / "fields.gpkg")
    with pytest.raises(InputError, match=r"sowing_date: unparseable or missing dates at DX-000002"):
        read_fields(path)


def test_missing_crs_rejected(tmp_path: Path) -> None:
    path = bad.write_gpkg(bad.field_frame(2, crs=None), tmp_path / "fields.gpkg")
    with pytest.raises(InputError, match=r"fields.gpkg: crs: layer has no CRS"):
        read_fields(path)


def test_other_crs_reprojected(tmp_path: Path) -> None:
    original = bad.field_frame(2)
    path = bad.write_gpkg(original.to_crs(4547), tmp_path / "fields.gpkg")  # CGCS2000 / 3-degree GK CM 114E
    gdf = read_fields(path, target_crs="EPSG:32648")
    assert gdf.crs.to_epsg() == 32648
    np.testing.assert_allclose(gdf.total_bounds, original.total_bounds, atol=0.01)


def test_missing_layer(tmp_path: Path) -> None:
    path = bad.write_gpkg(bad.field_frame(2), tmp_path / "fields.gpkg", layer="parcels")
    with pytest.raises(InputError, match=r"fields: layer not found.*parcels"):
        read_fields(path)


def test_townships(tmp_path: Path) -> None:
    x0, y0 = bad.ORIGIN
    gdf = gpd.GeoDataFrame(
        {"township_id": ["T01", "T02"], "name_zh": ["凤翔镇", "内官营镇"], "name_en": ["Fengxiang", "Neiguanying"]},
        geometry=[box(x0, y0 - 1000, x0 + 1000, y0), box(x0 + 1000, y0 - 1000, x0 + 2000, y0)],
        crs=bad.DINGXI_UTM,
    )
    path = bad.write_gpkg(gdf, tmp_path / "townships.gpkg", layer="townships")
    out = read_townships(path)
    assert list(out["name_zh"]) == ["凤翔镇", "内官营镇"]
    gdf.loc[1, "township_id"] = "T01"
    bad.write_gpkg(gdf, tmp_path / "dup.gpkg", layer="townships")
    with pytest.raises(InputError, match="township_id: duplicated ids T01"):
        read_townships(tmp_path / "dup.gpkg")


def _pest_geojson(path: Path, features: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def _trap(date: str, count: object, species: str = "Phthorimaea operculella") -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [104.62, 35.58]},
            "properties": {"date": date, "species": species, "count": count, "observer": "李明",
                           "method": "pheromone_trap", "trap_id": "TR-01"}}


def test_pests_geojson_and_csv(tmp_path: Path) -> None:
    folder = tmp_path / "pests"
    _pest_geojson(folder / "traps_2024.geojson", [_trap("2024-07-01", 12), _trap("2024-07-08", 30)])
    _pest_geojson(folder / "traps_2025.geojson", [_trap("2025-07-01", 3)])
    bad.write_text(folder / "scouting.csv",
                   "date,species,count,observer,lon,lat\n2025-06-20,Myzus persicae,7,王芳,104.6,35.6\n", "gb18030")
    gdf = read_pests(folder)
    assert list(gdf["count"]) == [12, 30, 7, 3]  # sorted by date
    assert gdf.crs.to_epsg() == 4326
    assert gdf.loc[2, "observer"] == "王芳"
    assert gdf.geometry.iloc[2].equals(Point(104.6, 35.6))
    assert len(read_pests(folder, end="2024-12-31")) == 2


@pytest.mark.parametrize("count", [-1, 2.5, "many"])
def test_pests_bad_count(tmp_path: Path, count: object) -> None:
    path = _pest_geojson(tmp_path / "traps_2024.geojson", [_trap("2024-07-01", 1), _trap("2024-07-02", count)])
    with pytest.raises(InputError, match=r"traps_2024.geojson: count: invalid count at features 1"):
        read_pests(path)


def test_pests_bad_date(tmp_path: Path) -> None:
    path = _pest_geojson(tmp_path / "traps_2024.geojson", [_trap("July", 1)])
    with pytest.raises(InputError, match=r"date: unparseable or missing dates at feature 0"):
        read_pests(path)


def test_make_valid_keeps_areas_of_valid_fields(tmp_path: Path) -> None:
    gdf = bad.field_frame(3)
    x0, y0 = bad.ORIGIN
    gdf.loc[0, "geometry"] = bad.bowtie(x0, y0)
    path = bad.write_gpkg(gdf, tmp_path / "fields.gpkg")
    with pytest.warns(InputWarning):
        out = read_fields(path)
    assert shapely.equals(out.geometry.iloc[2], gdf.geometry.iloc[2])
