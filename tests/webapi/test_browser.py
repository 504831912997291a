"""Headless Chromium (Debian's, driven by Playwright) against a live server: the three pages.

Install the browser with ``scripts/chromium.sh``; without it these tests skip,
except under ``CI=true`` where they fail. Screenshots land in ``test-output/``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture(scope="module")
def live_server(data_dir: Path, trace_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on 127.0.0.1 (werkzeug, threaded) with the fixture run and a copy of the seeded trace store."""
    from werkzeug.serving import make_server

    from nongshu.settings import Settings
    from webapi import create_app

    db = tmp_path_factory.mktemp("browser") / "trace.db"
    shutil.copyfile(trace_template, db)
    settings = Settings.from_env({"NONGSHU_DATA_DIR": str(data_dir), "NONGSHU_DATABASE_URL": f"sqlite:///{db}"})
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


#: More alerts than one page of the map's alert requests (limit=5000): the map must follow the next link.
MANY_ALERTS = 5003


@pytest.fixture(scope="module")
def many_alerts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on 127.0.0.1 with the fixture run whose alerts.json holds :data:`MANY_ALERTS` alerts."""
    from webdata import make_run, many_alerts, write_alerts  # type: ignore[import-not-found]
    from werkzeug.serving import make_server

    from nongshu.settings import Settings
    from webapi import create_app

    root = tmp_path_factory.mktemp("many-alerts")
    write_alerts(make_run(root / "outputs"), many_alerts(MANY_ALERTS)[0])
    server = make_server("127.0.0.1", 0, create_app(Settings.from_env({"NONGSHU_DATA_DIR": str(root)})), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not installed (run scripts/chromium.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def open_page(browser):
    """``open_page(width, height)`` -> a page that records console errors; asserts none at teardown."""
    pages = []

    def make(width: int, height: int):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        page = context.new_page()
        page.errors = []
        page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        pages.append((context, page))
        return page

    yield make
    for context, page in pages:
        errors = list(page.errors)
        context.close()
        assert errors == [], f"console errors: {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=False)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (360, 740)])
def test_map_click_field_shows_card(live_server, open_page, width, height):
    page = open_page(width, height)
    page.goto(f"{live_server}/map")
    fields = page.locator("path.leaflet-interactive")
    fields.first.wait_for(state="visible", timeout=15_000)
    assert fields.count() == 4
    page.locator("img.leaflet-tile-loaded").first.wait_for(state="attached", timeout=15_000)
    page.locator("#alert-list li").first.wait_for(timeout=10_000)
    assert page.locator("#alert-list li").count() == 3
    assert page.locator("#legend .legend-row").count() == 4  # alert layer: 4 colours
    # export of the visible alerts
    with page.expect_download() as info:
        page.locator("#export-csv").click()
    csv_text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    assert csv_text.splitlines()[0].startswith("id,target_id")
    assert "2026-DX-000001-frost" in csv_text
    page.locator("#filter-level").select_option("1")
    with page.expect_download() as info:
        page.locator("#export-geojson").click()
    exported = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert [f["properties"]["target_id"] for f in exported["features"]] == ["DX-000003"]  # blue only
    assert exported["features"][0]["geometry"]["type"] == "Polygon"
    page.locator("#filter-level").select_option("")
    from playwright.sync_api import expect

    fields.nth(2).click()  # the third field in id order: DX-000003
    expect(page.locator("#card h2")).to_have_text("DX-000003", timeout=10_000)
    assert "spring" in page.locator("#card").inner_text().lower() or "春小麦" in page.locator("#card").inner_text()
    page.locator("#alert-list li").first.click()  # the red frost alert of DX-000001
    expect(page.locator("#card h2")).to_have_text("DX-000001", timeout=10_000)
    # switching layer changes the tile URLs and the legend
    page.locator("input[value=yield_t_ha]").check()
    page.locator("img.leaflet-tile[src*=yield_t_ha]").first.wait_for(state="attached", timeout=10_000)
    assert page.locator("#legend .legend-row").count() == 5
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(600)  # Leaflet's tile fade-in
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, f"map-{width}x{height}.png")


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (360, 740)])
def test_coop_page_and_language_switch(live_server, open_page, width, height):
    page = open_page(width, height)
    page.goto(f"{live_server}/coop/C01")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("article.card").count() == 3
    assert page.locator("article.card").first.get_attribute("id") == "field-DX-000001"
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    shot(page, f"coop-zh-{width}x{height}.png")
    page.locator("#lang-switch").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Yield forecast" in page.content()
    shot(page, f"coop-en-{width}x{height}.png")


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (360, 740)])
def test_consumer_page_from_digital_link(live_server, open_page, width, height):
    from webdata import potato_gtin  # type: ignore[import-not-found]

    from traceability.gs1 import build_digital_link

    page = open_page(width, height)
    page.goto(build_digital_link(potato_gtin(), "H-001", resolver=live_server))
    banner = page.locator("#banner")
    assert "banner good" in banner.get_attribute("class")
    assert "DX-000001" in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"lot-{width}x{height}.png")
    page.locator("#lang-switch").click()
    page.wait_for_load_state()
    assert "Chain of custody" in page.content()


def test_field_page(live_server, open_page):
    page = open_page(360, 740)
    page.goto(f"{live_server}/field/DX-000002?lang=en")
    chart = page.locator("img.chart")
    chart.scroll_into_view_if_needed()
    page.wait_for_load_state("networkidle")
    assert chart.evaluate("img => img.complete && img.naturalWidth") == 480
    shot(page, "field-360x740.png")


def test_map_lists_every_alert_of_a_run_bigger_than_one_page(many_alerts_server, open_page):
    """5,003 alerts come in two pages (5,000 + 3); the list and its count show all of them, worst first."""
    from webdata import many_alerts  # type: ignore[import-not-found]

    alerts, expected = many_alerts(MANY_ALERTS)
    by_id = {a["id"]: a for a in alerts}
    page = open_page(1280, 800)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if "/api/v1/alerts" in r.url else None)
    page.goto(f"{many_alerts_server}/map")
    from playwright.sync_api import expect

    expect(page.locator("#alert-count")).to_have_text(f"({MANY_ALERTS})", timeout=30_000)
    items = page.locator("#alert-list li")
    assert items.count() == MANY_ALERTS
    assert len(requested) == 2 and "offset=5000" in requested[1]
    last = by_id[expected[-1]]  # the alert without a risk, at the end of level 1
    assert items.nth(MANY_ALERTS - 1).inner_text().startswith(last["target_id"])
    assert items.nth(MANY_ALERTS - 1).inner_text().rstrip().endswith(" 1")
    assert items.first.inner_text().rstrip().endswith(" 4")
