"""Lot numbers with "/" (GS1 AI 10 allows it) through the resolver and the trace API, percent-encoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from nongshu.settings import Settings
from traceability.store import TraceStore

from .conftest import POTATO, harvest

LOT = "2025/A-7"  # stored as is; in a URI "/" is %2F (GS1 Digital Link 1.2, percent-encoding)
ENCODED = "2025%2FA-7"


@pytest.fixture()
def web(tmp_path: Path, store_url: str, store: TraceStore, actors):
    from webapi import create_app

    harvest(store, actors, LOT)
    harvest(store, actors, "2025")  # a lot that is a prefix of the other one
    settings = Settings.from_env({"NONGSHU_DATA_DIR": str(tmp_path / "data")})
    app = create_app(settings.with_(database_url=store_url), trace_store=store)
    app.config["TESTING"] = True
    return app.test_client()


def test_resolver_answers_a_lot_with_a_slash(web) -> None:
    got = web.get(f"/01/{POTATO}/10/{ENCODED}", headers={"Accept": "application/json"})
    assert got.status_code == 200, got.data
    assert got.get_json()["lot"] == LOT
    assert got.get_json()["chain_status"] == "intact"
    prefix = web.get(f"/01/{POTATO}/10/2025", headers={"Accept": "application/json"})
    assert prefix.get_json()["lot"] == "2025"


def test_links_to_such_a_lot_are_percent_encoded(web) -> None:
    got = web.get(f"/01/{POTATO}/10/{ENCODED}?linkType=linkset")
    assert got.status_code == 200
    entry = got.get_json()["linkset"][0]
    assert entry["anchor"].endswith(f"/01/{POTATO}/10/{ENCODED}")
    hrefs = [link["href"] for links in entry.values() if isinstance(links, list) for link in links]
    assert hrefs and all(ENCODED in href for href in hrefs)
    assert f"/10/{ENCODED}?linkType=linkset" in got.headers["Link"]


def test_trace_routes_accept_the_encoded_lot(web) -> None:
    verify = web.get(f"/api/v1/trace/lots/{ENCODED}/verify", query_string={"gtin": POTATO})
    assert verify.status_code == 200 and verify.get_json()["ok"] is True
    assert verify.get_json()["lot"] == LOT
    cert = web.get(f"/api/v1/trace/lots/{ENCODED}/certificate", query_string={"gtin": POTATO})
    assert cert.status_code == 200
    assert cert.get_json()["number"].endswith(LOT)
    export = web.get(f"/api/v1/trace/lots/{ENCODED}", query_string={"gtin": POTATO})
    assert export.status_code == 200
    events = export.get_json()["epcisBody"]["eventList"]
    assert events[0]["quantityList"][0]["epcClass"].endswith(f"/10/{ENCODED}")


def test_unknown_lot_with_a_slash_is_404(web) -> None:
    got = web.get(f"/01/{POTATO}/10/2025%2FZZ", headers={"Accept": "application/json"})
    assert got.status_code == 404
    assert got.mimetype == "application/problem+json"
