"""Server-rendered pages: content, language switch, escaping, page weight, Leaflet served locally."""

from __future__ import annotations

import re

import pytest
from test_api import assert_problem  # type: ignore[import-not-found]
from webdata import COOP_NAMES, EVIL, RUN  # type: ignore[import-not-found]


def first_load_bytes(client, path: str, headers: dict | None = None) -> int:
    """HTML plus every same-origin stylesheet, script and image it references (what a first visit downloads)."""
    response = client.get(path, headers=headers or {})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    total = len(response.data)
    for ref in re.findall(r'(?:href|src)="(/[^"]+\.(?:css|js|png))"', html):
        total += len(client.get(ref.replace("&amp;", "&")).data)
    return total


def test_map_page(client):
    response = client.get("/map")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and '<html lang="zh-CN">' in html
    assert "/static/vendor/leaflet/leaflet.js" in html and "/static/js/map.js" in html
    assert "https://" not in re.sub(r'"basemap": null|https://gs1', "", html)  # no CDN
    assert f'"run": "{RUN}"' in html
    assert f'"run": "{RUN}"' in client.get("/").get_data(as_text=True)  # the landing page is the map
    assert client.get("/static/vendor/leaflet/leaflet.css").status_code == 200
    assert client.get("/static/vendor/leaflet/images/marker-icon.png").status_code == 200
    assert_problem(client.get("/static/vendor/leaflet/../../../../etc/passwd"), 404)
    assert_problem(client.get("/static/vendor/leaflet/leaflet.js.map"), 404)


def test_map_page_uses_configured_basemap(web_settings):
    from webapi import create_app

    url = "https://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}"
    html = create_app(web_settings.with_(basemap_url=url)).test_client().get("/map").get_data(as_text=True)
    assert "tianditu" in html


def test_coop_page_sorted_by_urgency_with_advice_cards(client):
    html = client.get("/coop/C01").get_data(as_text=True)
    order = [html.index(f'id="field-{fid}"') for fid in ("DX-000001", "DX-000002", "DX-000004")]
    assert order == sorted(order)  # red, yellow, none
    assert COOP_NAMES["C01"] in html
    assert "低温冻害" in html and "产量预测" in html
    assert html.count("<svg class=\"spark\"") == 3


def test_coop_page_english_switch(client):
    zh = client.get("/coop/C01").get_data(as_text=True)
    switch = re.search(r'id="lang-switch" href="([^"]+)"', zh).group(1).replace("&amp;", "&")
    assert "lang=en" in switch
    en = client.get(switch).get_data(as_text=True)
    assert '<html lang="en">' in en and "Yield forecast" in en and "frost" in en
    assert client.get("/coop/C01", headers={"Accept-Language": "en-US"}).headers["Content-Language"] == "en"


def test_coop_page_is_light(client):
    assert first_load_bytes(client, "/coop/C01") < 200_000


def test_field_page(client):
    html = client.get("/field/DX-000003?lang=en").get_data(as_text=True)
    assert "DX-000003" in html and "/api/v1/fields/DX-000003/timeseries.png" in html
    assert_problem(client.get("/field/DX-999"), 404)


def test_unknown_cooperative_is_404(client):
    assert_problem(client.get("/coop/C99"), 404, "cooperative")


def test_user_text_is_escaped(client):
    html = client.get("/coop/C02").get_data(as_text=True)
    assert EVIL not in html and "&lt;script&gt;" in html
    html = client.get("/field/DX-000003").get_data(as_text=True)
    assert EVIL not in html


def test_pages_send_a_strict_csp(client):
    csp = client.get("/coop/C01").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_consumer_page_is_under_100_kb(trace_client, trace_world):
    assert first_load_bytes(trace_client, f"/01/{trace_world.gtin}/10/H-001") < 100_000


@pytest.mark.parametrize("path", ["/map", "/coop/C01", "/field/DX-000001"])
def test_unknown_run_on_pages_is_404(client, path):
    assert_problem(client.get(path + "?run=nope"), 404, "run")


def test_map_offers_every_run_and_defaults_to_the_newest(web_settings, tmp_path):
    from webdata import make_run  # type: ignore[import-not-found]

    from webapi import create_app

    make_run(tmp_path / "outputs", run_id="2025")
    make_run(tmp_path / "outputs", run_id="2026-asof-20260601")
    client = create_app(web_settings.with_(data_dir=tmp_path)).test_client()
    html = client.get("/map").get_data(as_text=True)
    assert re.findall(r'<option value="(dingxi\.[^"]+)"', html) == ["dingxi.2026-asof-20260601", "dingxi.2025"]
    assert '"run": "dingxi.2026-asof-20260601"' in html
    assert '"run": "dingxi.2025"' in client.get("/map?run=dingxi.2025").get_data(as_text=True)
