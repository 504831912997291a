"""The web layer on real pipeline output: the demo region run through ``nongshu run``.

Slow (demo generation + one season of the pipeline); it checks the contract of
docs/DATA_LAYOUT.md between ``pipelines`` and ``webapi`` end to end.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xmlschema
from PIL import Image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_data(demo_region: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<data>/outputs/dingxi/<season>`` made by the pipeline from the session's demo region."""
    season = max(json.loads((demo_region / "region.json").read_text())["seasons"])
    data = tmp_path_factory.mktemp("demo-web")
    out = data / "outputs" / "dingxi"
    result = subprocess.run(
        [sys.executable, "-m", "nongshu", "run", "--inputs", str(demo_region), "--season", str(season),
         "--out", str(out), "--workers", "1"],
        capture_output=True, text=True, timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return data


@pytest.fixture(scope="module")
def demo_client(demo_data: Path):
    from nongshu.settings import Settings
    from webapi import create_app

    return create_app(Settings.from_env({"NONGSHU_DATA_DIR": str(demo_data)})).test_client()


def test_demo_run_is_published_with_all_layers(demo_client):
    runs = demo_client.get("/api/v1/runs").get_json()["runs"]
    assert len(runs) == 1 and runs[0]["valid_from"] and runs[0]["valid_to"]
    assert {"alert_level", "yield_t_ha", "risk_frost", "ndvi_peak"} <= set(runs[0]["layers"])


def test_demo_tiles_show_data_where_the_fields_are(demo_client):
    import morecantile

    fields = demo_client.get("/api/v1/fields?limit=1").get_json()["features"]
    ring = np.array(fields[0]["geometry"]["coordinates"][0])
    lon, lat = ring[:, 0].mean(), ring[:, 1].mean()
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 13)
    for layer in ("yield_t_ha", "ndvi_peak", "risk_drought"):
        response = demo_client.get(f"/tiles/latest/{layer}/{tile.z}/{tile.x}/{tile.y}.png")
        assert response.status_code == 200
        alpha = np.asarray(Image.open(io.BytesIO(response.data)).convert("RGBA"))[..., 3]
        assert alpha.max() == 255, layer


def test_demo_fields_and_detail(demo_client, demo_region):
    import geopandas as gpd

    expected = len(gpd.read_file(demo_region / "fields" / "fields.gpkg", layer="fields"))
    page = demo_client.get("/api/v1/fields?limit=1000").get_json()
    assert page["numberMatched"] == expected
    field_id = page["features"][0]["id"]
    detail = demo_client.get(f"/api/v1/fields/{field_id}").get_json()
    assert detail["ndvi"] and detail["yield_forecast"]["pred"] is not None
    coop = page["features"][0]["properties"]["cooperative_id"]
    assert demo_client.get(f"/coop/{coop}").status_code == 200


def test_demo_alerts_as_valid_cap(demo_client, standards_dir):
    alerts = demo_client.get("/api/v1/alerts").get_json()["alerts"]
    schema = xmlschema.XMLSchema(str(standards_dir / "CAP-v1.2.xsd"))
    schema.validate(demo_client.get("/api/v1/alerts.cap?level=red").data)
    if alerts:
        schema.validate(demo_client.get(f"/api/v1/alerts/{alerts[0]['id']}.cap").data)
