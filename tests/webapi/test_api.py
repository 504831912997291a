"""Flask test-client tests of the JSON API: runs, layers, fields, field detail, chart, advice, errors."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from PIL import Image
from pyproj import Transformer
from webdata import FIELDS, RES, RUN, SIZE, X0, Y0  # type: ignore[import-not-found]

PROBLEM = "application/problem+json"
TO_WGS84 = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"
    if field is not None:
        assert body.get("field") == field, body
    return body


def test_health_and_ready(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["outputs"].startswith("ok (1 runs)")


def test_readyz_503_when_database_unreachable(web_settings):
    from webapi import create_app

    app = create_app(web_settings.with_(database_url="postgresql+psycopg://nobody@127.0.0.1:9/none"))
    body = assert_problem(app.test_client().get("/readyz"), 503)
    assert body["checks"]["trace_database"].startswith("error")


def test_runs_lists_complete_runs_only(client):
    runs = client.get("/api/v1/runs").get_json()["runs"]
    assert [r["name"] for r in runs] == [RUN]  # the hidden .2027-tmp directory is ignored
    assert runs[0]["valid_from"] == "2026-05-10"
    assert set(runs[0]["layers"]) == {"yield_t_ha", "risk_frost", "alert_level"}


def test_layers_have_units_ranges_legends_and_tile_urls(client):
    body = client.get(f"/api/v1/layers?run={RUN}").get_json()
    layers = {layer["name"]: layer for layer in body["layers"]}
    assert layers["yield_t_ha"]["unit"] == "t/ha"
    assert layers["risk_frost"]["range"] == [0, 1]
    legend = {e["name"]: e["colour"] for e in layers["alert_level"]["legend"]}
    assert list(legend) == ["blue", "yellow", "orange", "red"]
    assert layers["alert_level"]["tiles"].endswith(f"/tiles/{RUN}/alert_level/{{z}}/{{x}}/{{y}}.png")
    assert layers["yield_t_ha"]["valid_to"] == "2026-05-24"


@pytest.mark.parametrize("run", ["nope", "../../etc", "dingxi.2027-tmp", ".2027-tmp", "a" * 200])
def test_unknown_or_hostile_run_is_404(client, run):
    assert_problem(client.get("/api/v1/layers", query_string={"run": run}), 404, "run")


def test_fields_geojson_all(client):
    body = client.get("/api/v1/fields").get_json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 4 == body["numberReturned"]
    ids = [f["id"] for f in body["features"]]
    assert ids == sorted(FIELDS)
    first = body["features"][0]
    assert first["geometry"]["type"] == "Polygon"
    # the field's north-west corner, converted independently with pyproj
    lon, lat = TO_WGS84.transform(X0 + 200, Y0 - 200)
    ring = first["geometry"]["coordinates"][0]
    assert min(abs(x - lon) + abs(y - lat) for x, y in ring) < 1e-7


def test_fields_filters(client):
    def ids(**query):
        return [f["id"] for f in client.get("/api/v1/fields", query_string=query).get_json()["features"]]

    assert ids(crop="potato") == ["DX-000001", "DX-000002"]
    assert ids(cooperative="C02") == ["DX-000003"]
    assert ids(alert_level="red") == ["DX-000001"] == ids(alert_level="4")
    assert ids(alert_level="0") == ["DX-000004"]
    # a bbox around the south-east quadrant only
    w, s = TO_WGS84.transform(X0 + 1300, Y0 - 1700)
    e, n = TO_WGS84.transform(X0 + 1700, Y0 - 1300)
    assert ids(bbox=f"{w},{s},{e},{n}") == ["DX-000004"]
    assert ids(bbox="0,0,1,1") == []


def test_fields_paging_with_next_links(client):
    page1 = client.get("/api/v1/fields?limit=3").get_json()
    assert page1["numberReturned"] == 3 and page1["numberMatched"] == 4
    nxt = [link for link in page1["links"] if link["rel"] == "next"][0]["href"]
    page2 = client.get(nxt.replace("http://localhost", "")).get_json()
    assert [f["id"] for f in page2["features"]] == ["DX-000004"]
    assert not [link for link in page2["links"] if link["rel"] == "next"]
    assert [link for link in page2["links"] if link["rel"] == "prev"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "10,10,5,5"}, "bbox"),
        ({"bbox": "0,0,200,1"}, "bbox"),
        ({"bbox": "nan,0,1,1"}, "bbox"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"alert_level": "purple"}, "alert_level"),
    ],
)
def test_fields_bad_parameters_are_400(client, query, field):
    body = assert_problem(client.get("/api/v1/fields", query_string=query), 400, field)
    assert body["detail"]


def test_field_detail(client):
    body = client.get("/api/v1/fields/DX-000001").get_json()
    assert body["attributes"]["crop"] == "potato"
    assert body["yield_forecast"] == {"unit": "t/ha", "pred": 22.5, "lo": 19.5, "hi": 25.5, "interval": 0.8}
    assert body["stats"]["yield_t_ha"]["mean"] == 22.5
    assert [a["hazard"] for a in body["alerts"]] == ["frost"]
    assert body["alert_colour"] == "red"
    assert len(body["ndvi"]) == 12
    assert body["ndvi"][0] == {"date": "2026-05-01", "ndvi": 0.2, "ndvi_smooth": 0.2}
    assert body["ndvi"][-1]["ndvi"] == pytest.approx(0.2 + 0.05 * 11)


@pytest.mark.parametrize("fid", ["DX-999999", "..%2F..%2Fetc", "<script>"])
def test_unknown_field_is_404(client, fid):
    assert_problem(client.get(f"/api/v1/fields/{fid}"), 404)


def test_field_chart_png(client):
    response = client.get("/api/v1/fields/DX-000002/timeseries.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert Image.open(io.BytesIO(response.data)).size == (480, 200)
    assert_problem(client.get("/api/v1/fields/DX-999999/timeseries.png"), 404)


def test_advice_language_negotiation(client):
    zh = client.get("/api/v1/advice?field_id=DX-000001")
    assert zh.headers["Content-Language"] == "zh-CN"
    en = client.get("/api/v1/advice?field_id=DX-000001", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert en.get_json()["lang"] == "en" and en.headers["Content-Language"] == "en"
    assert client.get("/api/v1/advice?field_id=DX-000001&lang=zh", headers={"Accept-Language": "en"}).get_json()["lang"] == "zh"
    assert [a["hazard"] for a in zh.get_json()["advice"]] == ["frost"]
    assert_problem(client.get("/api/v1/advice"), 400, "field_id")
    assert_problem(client.get("/api/v1/advice?field_id=DX-000001&lang=fr"), 400, "lang")
    assert_problem(client.get("/api/v1/advice?field_id=DX-424242"), 404)


def test_gzip_for_clients_that_accept_it(client):
    plain = client.get("/api/v1/fields")
    zipped = client.get("/api/v1/fields", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json()


def test_unknown_route_and_method_are_problems(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    response = client.delete("/api/v1/runs")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_a_generic_500(app, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    body = assert_problem(app.test_client().get("/boom"), 500)
    assert "secret" not in json.dumps(body)
    assert "secret internal detail" in caplog.text


def test_broken_run_file_is_500_without_leaking_paths(web_settings, tmp_path):
    from webdata import make_run  # type: ignore[import-not-found]

    from webapi import create_app

    make_run(tmp_path / "outputs")
    (tmp_path / "outputs" / "dingxi" / "2026" / "alerts.json").write_text("{not json")
    app = create_app(web_settings.with_(data_dir=tmp_path))
    body = assert_problem(app.test_client().get("/api/v1/alerts"), 500)
    assert str(tmp_path) not in json.dumps(body)


def test_new_run_is_picked_up_without_restart(web_settings, tmp_path):
    from webdata import make_run  # type: ignore[import-not-found]

    from webapi import create_app

    client = create_app(web_settings.with_(data_dir=tmp_path)).test_client()
    assert client.get("/api/v1/runs").get_json() == {"runs": []}
    assert_problem(client.get("/api/v1/alerts"), 404, "run")
    make_run(tmp_path / "outputs", run_id="2026-asof-20260601")
    assert [r["name"] for r in client.get("/api/v1/runs").get_json()["runs"]] == ["dingxi.2026-asof-20260601"]
    assert client.get("/api/v1/alerts?run=2026-asof-20260601").status_code == 200


def test_trace_database_down_is_503(web_settings):
    from webapi import create_app

    app = create_app(web_settings.with_(database_url="postgresql+psycopg://nobody@127.0.0.1:9/none"))
    response = app.test_client().get("/api/v1/trace/lots/H-001")
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "30"


def test_pages_and_api_without_any_run(web_settings, tmp_path):
    from webapi import create_app

    client = create_app(web_settings.with_(data_dir=tmp_path)).test_client()
    assert client.get("/map").status_code == 200
    assert_problem(client.get("/api/v1/fields"), 404, "run")
    assert_problem(client.get("/tiles/latest/alert_level/0/0/0.png"), 404, "run")


def test_grid_constants_are_consistent():
    assert SIZE * RES == 2000.0
