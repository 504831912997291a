"""The season run on the 512 px demo region: every output exists and is valid, and agrees with exactextract."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pystac
import pytest
import rasterio
from exactextract import exact_extract
from rio_cogeo.cogeo import cog_validate

from geodata.stac import validate_item

pytestmark = pytest.mark.slow

RASTERS = (
    "yield_t_ha.tif", "yield_interval_t_ha.tif", "alert_level.tif", "ndvi_peak.tif", "vhi.tif", "gdd.tif",
    *(f"risk_{h}.tif" for h in ("drought", "frost", "heat", "waterlogging", "pest", "disease")),
)


def test_every_output_exists(season_run: Path) -> None:
    names = {p.name for p in season_run.iterdir()}
    expected = {*RASTERS, "run.json", "catalog.json", "fields.parquet", "fields.csv", "field_timeseries.csv",
                "alerts.json", "model_card.json"}
    assert expected <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary leftovers
    assert season_run.name == "2026"
    assert not [p for p in season_run.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("name", RASTERS)
def test_rasters_are_valid_cogs_on_one_grid(season_run: Path, name: str) -> None:
    valid, errors, _warnings = cog_validate(str(season_run / name))
    assert valid, errors
    with rasterio.open(season_run / name) as src, rasterio.open(season_run / "yield_t_ha.tif") as ref:
        assert src.crs == ref.crs and src.transform == ref.transform and src.shape == ref.shape
        assert src.overviews(1)
        data = src.read(1, masked=True)
        if name.startswith("risk_"):
            assert np.nanmin(data) >= 0 and np.nanmax(data) <= 1
        if name == "alert_level.tif":
            assert src.nodata == 255 and set(np.unique(data.compressed())) <= {0, 1, 2, 3, 4}


def test_fields_geoparquet(season_run: Path, region: Path) -> None:
    meta = json.loads(pq.read_schema(season_run / "fields.parquet").metadata[b"geo"])
    assert meta["primary_column"] == "geometry"
    table = gpd.read_parquet(season_run / "fields.parquet")
    assert table.crs.to_epsg() == 4326
    fields = gpd.read_file(region / "fields" / "fields.gpkg", layer="fields")
    assert sorted(table["field_id"]) == sorted(fields["field_id"])
    for column in ("yield_t_ha_mean", "yield_t_ha_min", "yield_t_ha_max", "yield_t_ha_std", "pixel_count",
                   "valid_fraction", "yield_pred_t_ha", "yield_lo_t_ha", "yield_hi_t_ha", "alert_frost",
                   "alert_level"):
        assert column in table
    ok = table["yield_pred_t_ha"].notna()
    assert ok.mean() > 0.9
    assert (table.loc[ok, "yield_lo_t_ha"] <= table.loc[ok, "yield_pred_t_ha"]).all()
    assert (table.loc[ok, "yield_pred_t_ha"] <= table.loc[ok, "yield_hi_t_ha"]).all()
    assert table["valid_fraction"].between(0, 1).all()
    # the field's area in 10 m pixels
    area_px = fields.set_index("field_id").geometry.area / 100.0
    np.testing.assert_allclose(table.set_index("field_id")["pixel_count"], area_px.reindex(table["field_id"]),
                               rtol=1e-3)
    csv = pd.read_csv(season_run / "fields.csv")
    assert "geometry" not in csv and len(csv) == len(table)
    assert (table[[f"alert_{h}" for h in ("drought", "frost", "heat")]].max(axis=1) <= table["alert_level"]).all()


def test_field_means_agree_with_an_independent_exactextract(season_run: Path, region: Path) -> None:
    table = pd.read_csv(season_run / "fields.csv").set_index("field_id")
    fields = gpd.read_file(region / "fields" / "fields.gpkg", layer="fields")
    for layer in ("yield_t_ha", "ndvi_peak", "vhi", "risk_frost"):
        ref = exact_extract(str(season_run / f"{layer}.tif"), fields, ["mean"], include_cols=["field_id"],
                            output="pandas").set_index("field_id")["mean"]
        np.testing.assert_allclose(table[f"{layer}_mean"].reindex(ref.index), ref, rtol=1e-5, equal_nan=True)


def test_stac_catalog_is_valid(season_run: Path) -> None:
    catalog = pystac.Catalog.from_file(str(season_run / "catalog.json"))
    items = list(catalog.get_items(recursive=True))
    assert {Path(i.assets["data"].get_absolute_href()).name for i in items} == set(RASTERS)
    for item in items:
        validate_item(item)
        assert Path(item.assets["data"].get_absolute_href()).exists()
        assert item.properties["proj:shape"] and item.assets["data"].extra_fields["raster:bands"]
    assert catalog.get_self_href() and not Path(items[0].assets["data"].href).is_absolute()


def test_run_json_alerts_timeseries_and_card(season_run: Path, region: Path) -> None:
    run = json.loads((season_run / "run.json").read_text())
    assert run["season"] == 2026 and run["valid_period"]["to"]
    hashed = {e["path"]: e["sha256"] for e in run["inputs"]}
    assert "yield/yield_history.csv" in hashed and "sentinel2/items.json" in hashed
    import hashlib

    assert hashed["dem/dem.tif"] == hashlib.sha256((region / "dem" / "dem.tif").read_bytes()).hexdigest()
    assert run["versions"]["numpy"] == np.__version__
    assert run["wall_time_s"] > 0 and run["peak_memory_bytes"]["max_worker"] > 0
    memory = run["peak_memory_bytes"]
    assert memory["client"] > 0 and memory["total"] == memory["client"] + sum(memory["workers"].values())
    stages = run["stage_seconds"]
    assert list(stages) == ["inputs", "field_data", "models", "rasters", "tables_alerts_catalog"]
    assert 0 < sum(stages.values()) <= run["wall_time_s"] + 0.1
    alerts = json.loads((season_run / "alerts.json").read_text())
    assert alerts["run_id"] == "2026" and alerts["season"] == 2026
    for alert in alerts["alerts"]:
        assert alert["level"] >= 1 and alert["colour"] in ("blue", "yellow", "orange", "red")
        assert alert["advice_key"].startswith(alert["hazard"] + "/")
    assert {a["target_type"] for a in alerts["alerts"]} <= {"field", "township"}
    series = pd.read_csv(season_run / "field_timeseries.csv")
    assert list(series.columns) == ["field_id", "date", "ndvi", "ndvi_smooth"]
    assert series["ndvi_smooth"].between(-1, 1).all()
    card = json.loads((season_run / "model_card.json").read_text())
    assert set(card["leads"]) == {"30d", "60d", "90d", "end"}
    assert (region / ".nongshu-model").is_dir()  # the trained model is cached in the inputs
