"""Stored consumer views: built at write time, served with one indexed read, re-checked by audits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from traceability import lot_chain, signing
from traceability.consumer import build_consumer_view
from traceability.epcis import builders
from traceability.gs1 import location_uri
from traceability.store import TraceStore

from .conftest import POTATO, WASHED, Actors, gln, harvest, t


def _stored(store: TraceStore, lot: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(
            text("SELECT body, chain_ok, checkpoint_size FROM consumer_views WHERE lot = :l"),
            {"l": lot},
        ).first()
    return None if row is None else {"body": json.loads(row[0]), "ok": row[1], "size": row[2]}


class _CountingConnection:
    """A pooled DB-API connection that counts the statements run through its cursors."""

    def __init__(self, raw: Any, seen: list[str]) -> None:
        self._raw, self._seen = raw, seen

    def cursor(self) -> Any:
        cur, seen = self._raw.cursor(), self._seen

        class Cursor:
            def execute(self, sql: str, params: Any = ()) -> Any:
                seen.append(sql)
                return cur.execute(sql, params)

            def __getattr__(self, name: str) -> Any:
                return getattr(cur, name)

        return Cursor()

    def close(self) -> None:
        self._raw.close()


def test_every_write_stores_the_view_as_built_from_the_chain(
    store: TraceStore, demo_chain: Actors
) -> None:
    for gtin, lot in ((POTATO, "H-001"), (WASHED, "W-001")):
        stored = _stored(store, lot)
        assert stored is not None and stored["ok"]
        # verified against the checkpoint of the lot's last write: 9 events in the demo chain,
        # the last of H-001 is the transformation (the 5th), the last of W-001 the sale (the 9th)
        assert stored["size"] == {"H-001": 5, "W-001": 9}[lot]
        served = store.consumer_view(gtin, lot)
        assert served == build_consumer_view(store, gtin, lot)
        assert list(served) == list(build_consumer_view(store, gtin, lot))  # same key order


def test_served_view_is_one_statement_and_no_signature_check(
    store: TraceStore, demo_chain: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real_raw = store._read_engine.raw_connection
    monkeypatch.setattr(
        store._read_engine, "raw_connection", lambda: _CountingConnection(real_raw(), seen)
    )
    checks: list[bytes] = []
    real_verify = signing.verify_signature
    monkeypatch.setattr(
        signing, "verify_signature", lambda k, m, s: checks.append(m) or real_verify(k, m, s)
    )
    lot_chain.clear_caches()
    view = store.consumer_view(WASHED, "W-001")
    assert view["chain_status"] == "intact" and view["lot"] == "W-001"
    assert len(seen) == 1 and "consumer_views" in seen[0]
    assert checks == []


def test_an_event_on_a_parent_lot_updates_the_view_of_what_was_made_from_it(
    store: TraceStore, demo_chain: Actors
) -> None:
    """A correction of H-001's inspection (recorded after W-001 was washed from it) changes W-001's page."""
    before = store.consumer_view(WASHED, "W-001")
    assert [i["result"] for i in before["inspections"]] == ["conformant"]
    with store.engine.connect() as conn:
        inspection = json.loads(
            conn.execute(
                text("SELECT document FROM events WHERE biz_step = 'inspecting'")
            ).scalar_one()
        )
    inspection.pop("@context", None)
    declaration = {
        **inspection,
        "errorDeclaration": {
            "declarationTime": "2025-09-08T10:00:00.000+08:00",
            "reason": "incorrect_data",
        },
    }
    store.record_event(demo_chain.inspector, declaration)
    after = store.consumer_view(WASHED, "W-001")
    assert after["inspections"] == []
    steps = [(e["step"], e["declared_erroneous"]) for e in after["custody"]]
    assert ("inspection", True) in steps and ("correction", False) in steps
    assert after == build_consumer_view(store, WASHED, "W-001")


def test_recall_is_on_the_stored_page_at_once(store: TraceStore, demo_chain: Actors) -> None:
    store.recall(demo_chain.bureau, POTATO, "H-001", reason="residue above the limit")
    assert store.consumer_view(POTATO, "H-001")["chain_status"] == "recalled"
    assert store.consumer_view(WASHED, "W-001")["chain_status"] == "recalled"


def test_a_place_registered_later_is_named_on_pages_that_showed_it_unnamed(
    store: TraceStore, actors: Actors
) -> None:
    field_c = location_uri(gln(1), "DX-000003")
    store.record_event(
        actors.coop,
        builders.harvest_event(
            gtin=POTATO,
            lot="H-LATE",
            quantity_kg=500.0,
            when=t(0),
            field_location=field_c,
            field_id="DX-000003",
            crop="potato",
            variety="Longshu 7",
            grower_gln=actors.coop.gln,
        ),
    )
    first = store.consumer_view(POTATO, "H-LATE")
    assert first["origin"] == [{"field_id": "DX-000003", "township": None, "cooperative": None}]
    assert first["custody"][0]["location"] == {"name": None, "kind": None}
    store.register_location(
        uri=field_c,
        kind="field",
        name="Field DX-000003",
        organisation_gln=actors.coop.gln,
        field_id="DX-000003",
        township="Fengxiang",
        cooperative_name="安定区马铃薯合作社",
    )
    later = store.consumer_view(POTATO, "H-LATE")
    assert later["origin"] == [
        {"field_id": "DX-000003", "township": "Fengxiang", "cooperative": "安定区马铃薯合作社"}
    ]
    assert later["custody"][0]["location"] == {"name": "Field DX-000003", "kind": "field"}
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM consumer_view_refs")).scalar_one() == 0


def test_an_edited_view_row_is_put_back_by_the_audit(store: TraceStore, demo_chain: Actors) -> None:
    genuine = store.consumer_view(POTATO, "H-001")
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE consumer_views SET body = replace(body, 'conformant', 'CONFORMANT')")
        )
    assert store.consumer_view(POTATO, "H-001") != genuine  # the edit is served until audited
    assert store.verify_lot(POTATO, "H-001").ok
    assert store.consumer_view(POTATO, "H-001") == genuine


def test_an_edited_parent_event_is_shown_broken_on_the_child_after_the_audit(
    store: TraceStore, demo_chain: Actors
) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE events SET document = replace(document, '12.5', '1.25') "
                "WHERE biz_step = 'inspecting'"
            )
        )
    report = store.verify_lot(POTATO, "H-001")  # audits H-001 and every lot made from it
    assert not report.ok and "does not match its hash" in report.first_broken.reason
    for gtin, lot in ((POTATO, "H-001"), (WASHED, "W-001")):
        view = store.consumer_view(gtin, lot)
        assert view["chain_status"] == "broken"
        assert view["chain_problem"].startswith(f"lot {POTATO}/H-001: ")
        assert not _stored(store, lot)["ok"]


def test_a_lot_without_a_stored_view_is_built_live_until_the_audit_stores_it(
    store: TraceStore, demo_chain: Actors
) -> None:
    """Stores from before schema 0004 have no views: lookups build them; ``audit`` stores them."""
    expected = store.consumer_view(WASHED, "W-001")
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM consumer_views"))
    assert store.consumer_view(WASHED, "W-001") == expected  # built now, not stored
    assert _stored(store, "W-001") is None
    seen: list[str] = []
    counts = store.audit(on_lot=lambda r: seen.append(r.lot))
    assert counts == {"lots_checked": 2, "lots_broken": 0}
    assert seen == ["H-001", "W-001"]
    assert _stored(store, "W-001")["body"] == expected


def test_cli_audit_marks_every_lot_with_an_edited_row_and_exits_1(
    store_url: str, store: TraceStore, demo_chain: Actors
) -> None:
    from click.testing import CliRunner

    from nongshu.cli import main

    clean = CliRunner().invoke(main, ["trace", "audit", "--database-url", store_url])
    assert clean.exit_code == 0 and json.loads(clean.stdout)["lots_checked"] == 2
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE events SET document = replace(document, '970.0', '971.0') WHERE biz_step = 'packing'"
            )
        )
    assert store.consumer_view(WASHED, "W-001")["chain_status"] == "intact"  # not audited yet
    result = CliRunner().invoke(main, ["trace", "audit", "--database-url", store_url])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["lots_checked"] == 2 and report["lots_broken"] == 1
    assert report["broken"] == [
        f"{WASHED}/W-001: lot {WASHED}/W-001: event content does not match its hash"
    ]
    assert store.consumer_view(WASHED, "W-001")["chain_status"] == "broken"
    assert store.consumer_view(POTATO, "H-001")["chain_status"] == "intact"


def test_json_text_is_the_view_with_the_season_summary_spliced_in(
    store: TraceStore, demo_chain: Actors
) -> None:
    """The JSON served to scanners equals the view dict encoded as jsonify does, with and without
    a season summary from the pipeline (field DX-000001, harvested in the 2025 season)."""
    asked: list[tuple[str, int]] = []

    def provider(field_id: str, season: int) -> dict[str, Any]:
        asked.append((field_id, season))
        return {"season": season, "yield_class": "high", "run_id": "2025-final", "private": "x"}

    for gtin, lot in ((POTATO, "H-001"), (WASHED, "W-001")):
        plain = store.consumer_view_json(gtin, lot)
        assert json.loads(plain) == store.consumer_view(gtin, lot)
        assert json.loads(plain)["season_summary"] is None
        text = store.consumer_view_json(gtin, lot, season_summary_provider=provider)
        expected = store.consumer_view(gtin, lot, season_summary_provider=provider)
        assert expected["season_summary"] == [
            {"field_id": "DX-000001", "season": 2025, "yield_class": "high", "run_id": "2025-final"}
        ]
        assert text == json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
    assert asked == [("DX-000001", 2025)] * 4


def test_an_unreadable_lot_row_does_not_block_writes(store: TraceStore, actors: Actors) -> None:
    """A lot row edited outside the store so that its view cannot be built (``phi_json`` no longer
    JSON) keeps no stored view; writes for the lot still succeed."""
    harvest(store, actors, "H-BAD")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE lots SET phi_json = '{not json' WHERE lot = 'H-BAD'"))
    store.record_event(
        actors.inspector,
        builders.inspection_event(
            gtin=POTATO, lot="H-BAD", when=t(1), location=actors.lab, results=[], conformant=True
        ),
    )
    assert _stored(store, "H-BAD") is None
    with store.engine.connect() as conn:
        inspection = conn.execute(
            text("SELECT inspection FROM lots WHERE lot = 'H-BAD'")
        ).scalar_one()
    assert inspection == "conformant"
