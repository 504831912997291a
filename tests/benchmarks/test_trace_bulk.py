"""The bulk-filled trace store is one the product itself would have written: every copy verifies."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from benchmarks.trace_bulk import bulk_fill, check_copies
from benchmarks.trace_data import lot_code, setup_parties


def test_bulk_copies_verify_and_the_store_keeps_working(tmp_path: Path) -> None:
    from traceability.epcis import builders
    from traceability.epcis.hashing import event_hash
    from traceability.store import TraceStore

    url = f"sqlite:///{tmp_path / 'bulk.db'}"
    stages: list[int] = []
    meta = bulk_fill(url, 60, stages=[20], on_stage=lambda n, _s: stages.append(n))
    assert (meta["events"], meta["lots"]) == (60, 12)
    assert stages == [20, 60]  # a signed checkpoint after each stage
    assert check_copies(url, meta["gtin"], [1, 6, 11]) == []
    with TraceStore.open(url) as store:
        assert store.checkpoint()["tree_size"] == 60
        view = store.consumer_view(meta["gtin"], lot_code(7))
        assert view["chain_status"] == "intact" and view["lot"] == lot_code(7)
        assert [step["step"] for step in view["custody"]] == [
            "harvest",
            "inspection",
            "shipping",
            "receiving",
            "retail sale",
        ]
        # a copy's stored hash is the GS1 hash of its document, derived independently
        doc = store.export_lot(meta["gtin"], lot_code(9))["epcisBody"]["eventList"][0]
        doc.pop("recordTime")
        assert event_hash(doc, builders.CONTEXT) == doc["eventID"]
        # the log continues after the bulk rows: a new event lands at index 60 and verifies
        parties = setup_parties(store)  # idempotent: the organisations the fill created
        recorded = store.record_event(
            parties.coop,
            builders.harvest_event(
                gtin=parties.gtin,
                lot="NEW-1",
                quantity_kg=5.0,
                when=datetime(2026, 8, 3, tzinfo=UTC),
                field_location=parties.field_uri,
                field_id="DX-000001",
                crop="potato",
                variety=None,
                grower_gln=parties.coop_gln,
            ),
        )
        assert recorded.log_index == 60
        assert store.verify_lot(parties.gtin, "NEW-1").ok
        assert store.verify_lot(meta["gtin"], lot_code(11)).ok
