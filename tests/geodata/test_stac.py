"""STAC Items for rasters and Sentinel-2 acquisitions, validated offline."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pystac
import pytest
from pystac.errors import STACValidationError
from rasterio.transform import from_origin

from geodata.cog import write_cog
from geodata.stac import (
    OfflineValidator,
    raster_item,
    sentinel2_item,
    validate_item,
    validate_item_collection,
    write_catalog,
    write_item_collection,
)

UTC = dt.UTC


@pytest.fixture()
def yield_cog(tmp_path: Path) -> Path:
    data = np.full((64, 80), 4.5, dtype=np.float32)
    return write_cog(tmp_path / "yield_t_ha.tif", data, crs="EPSG:32648",
                     transform=from_origin(500000.0, 4000000.0, 10.0, 10.0), nodata=float("nan"),
                     band_tags=[{"units": "t/ha"}])


@pytest.fixture()
def s2_scene(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "sentinel2" / "2025" / "20250701"
    folder.mkdir(parents=True)
    t10 = from_origin(500000.0, 4000000.0, 10.0, 10.0)
    t20 = from_origin(500000.0, 4000000.0, 20.0, 20.0)
    paths = {}
    for name in ("B04", "B08"):
        paths[name] = write_cog(folder / f"{name}.tif", np.full((64, 64), 1500, np.uint16),
                                crs=32648, transform=t10, nodata=0, scales=[1e-4], offsets=[-0.1])
    paths["B11"] = write_cog(folder / "B11.tif", np.full((32, 32), 2500, np.uint16), crs=32648,
                             transform=t20, nodata=0, scales=[1e-4], offsets=[-0.1])
    paths["SCL"] = write_cog(folder / "SCL.tif", np.full((32, 32), 4, np.uint8), crs=32648,
                             transform=t20, nodata=0)
    return paths


def test_raster_item_reads_projection_and_raster_fields(yield_cog: Path) -> None:
    item = raster_item(yield_cog, "yield-2025", datetime=dt.datetime(2025, 9, 30, tzinfo=UTC),
                       href="yield_t_ha.tif")
    d = item.to_dict()
    assert d["properties"]["proj:code"] == "EPSG:32648"
    assert d["properties"]["proj:shape"] == [64, 80]
    assert d["properties"]["proj:transform"] == [10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0]
    band = d["assets"]["data"]["raster:bands"][0]
    assert band == {"data_type": "float32", "nodata": "nan", "spatial_resolution": 10.0,
                    "unit": "t/ha"}
    # 500 000 E on UTM 48N is the central meridian 105 E
    west, south, east, north = d["bbox"]
    assert west == pytest.approx(105.0, abs=1e-6)
    assert 36.0 < south < north < 36.2
    assert validate_item(item)


def test_raster_item_period(yield_cog: Path) -> None:
    item = raster_item(yield_cog, "season", start_datetime=dt.datetime(2025, 3, 1, tzinfo=UTC),
                       end_datetime=dt.datetime(2025, 10, 31, tzinfo=UTC))
    assert item.to_dict()["properties"]["datetime"] is None
    validate_item(item)
    with pytest.raises(ValueError, match="datetime"):
        raster_item(yield_cog, "x")


def test_sentinel2_item_layout(s2_scene: dict[str, Path], tmp_path: Path) -> None:
    base = tmp_path / "sentinel2"
    item = sentinel2_item("S2A_MSIL2A_20250701_T48SVD", dt.datetime(2025, 7, 1, 3, 32, tzinfo=UTC),
                          s2_scene, base_dir=base, cloud_cover=12.5, platform="sentinel-2a",
                          tile="48SVD")
    d = item.to_dict()
    assert d["properties"]["eo:cloud_cover"] == 12.5
    assert d["properties"]["s2:processing_baseline"] == "05.10"
    assert d["assets"]["B04"]["href"] == "2025/20250701/B04.tif"
    assert d["assets"]["B04"]["raster:bands"][0] == {
        "data_type": "uint16", "nodata": 0, "scale": 0.0001, "offset": -0.1,
        "spatial_resolution": 10.0}
    assert d["assets"]["B08"]["eo:bands"][0]["common_name"] == "nir"
    assert d["assets"]["B11"]["proj:shape"] == [32, 32]
    assert "eo:bands" not in d["assets"]["SCL"]
    used = validate_item(item)
    assert any("eo/v1.1.0" in u for u in used) and any("raster" in u for u in used)

    out = write_item_collection([item], base / "items.json")
    data = json.loads(out.read_text())
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 1
    assert validate_item_collection(out) == 1
    # the relative href resolves to the file next to items.json
    assert (base / data["features"][0]["assets"]["B04"]["href"]).exists()


def test_invalid_items_are_rejected(s2_scene: dict[str, Path], tmp_path: Path) -> None:
    item = sentinel2_item("S2B_MSIL2A_20250701_T48SVD", dt.datetime(2025, 7, 1, tzinfo=UTC),
                          s2_scene, base_dir=tmp_path / "sentinel2", cloud_cover=5,
                          platform="sentinel-2b")
    bad = item.to_dict()
    bad["properties"]["eo:cloud_cover"] = 140
    with pytest.raises(STACValidationError, match="eo:cloud_cover|140"):
        validate_item(bad)
    bad = item.to_dict()
    bad["assets"]["B04"]["raster:bands"][0]["scale"] = "0.0001"
    with pytest.raises(STACValidationError):
        validate_item(bad)
    bad = item.to_dict()
    del bad["properties"]["datetime"]
    with pytest.raises(STACValidationError):
        validate_item(bad)


def test_offline_validator_never_downloads_unknown_extensions(yield_cog: Path) -> None:
    item = raster_item(yield_cog, "x", datetime=dt.datetime(2025, 1, 1, tzinfo=UTC))
    item.stac_extensions.append("https://example.invalid/unknown/v1.0.0/schema.json")
    with pytest.raises(STACValidationError, match="no local JSON schema"):
        pystac.validation.validate(item, validator=OfflineValidator())


def test_validate_item_collection_rejects_non_collections(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "Feature"}))
    from geodata.errors import InputError

    with pytest.raises(InputError, match="FeatureCollection"):
        validate_item_collection(path)


def test_write_catalog_is_self_contained_and_valid(yield_cog: Path, tmp_path: Path) -> None:
    run = yield_cog.parent
    item = raster_item(yield_cog, "2025-yield_t_ha", datetime=dt.datetime(2025, 9, 30, tzinfo=UTC),
                       properties={"nongshu:layer": "yield_t_ha"})
    catalog_path = write_catalog(run, [item], catalog_id="2025", description="Season 2025 outputs")
    catalog = json.loads(catalog_path.read_text())
    assert catalog["type"] == "Catalog" and catalog["id"] == "2025"
    item_links = [link["href"] for link in catalog["links"] if link["rel"] == "item"]
    assert item_links == ["./2025-yield_t_ha/2025-yield_t_ha.json"]
    item_path = run / "2025-yield_t_ha" / "2025-yield_t_ha.json"
    data = json.loads(item_path.read_text())
    href = data["assets"]["data"]["href"]
    assert href == "../yield_t_ha.tif"
    assert (item_path.parent / href).resolve() == yield_cog.resolve()
    validate_item(data)
    pystac.validation.validate_dict(catalog, validator=OfflineValidator())
