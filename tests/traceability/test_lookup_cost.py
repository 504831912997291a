"""What a cold and a repeated lookup cost: round trips, and signature checks after a new checkpoint."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from traceability import lot_chain, signing
from traceability.consumer import build_consumer_view
from traceability.store import TraceStore

from .conftest import POTATO, WASHED, harvest


def _selects(store: TraceStore, call) -> list[str]:
    seen: list[str] = []

    def capture(_conn, _cursor, statement, _parameters, _context, _many) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(store._read_engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(store._read_engine, "before_cursor_execute", capture)
    return seen


@pytest.fixture()
def event_signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Messages of every Ed25519 check of a recorder's event signature (not of checkpoints)."""
    seen: list[bytes] = []
    real = signing.verify_signature

    def counting(public: bytes, message: bytes, signature: bytes) -> bool:
        if message.startswith(b"nongshu-trace-event/"):
            seen.append(message)
        return real(public, message, signature)

    monkeypatch.setattr(signing, "verify_signature", counting)
    return seen


def test_origin_lot_view_is_five_round_trips(store: TraceStore, demo_chain) -> None:
    """Building the view of a lot made from no other lot (at write time, in an audit):
    lot+checkpoint, links, log nodes, certificate, places; no lineage query."""
    lot_chain.clear_caches()
    queries = _selects(store, lambda: build_consumer_view(store, POTATO, "H-001"))
    assert len(queries) == 5, queries
    assert not any("lot_links" in q and "EXISTS" not in q for q in queries)


def test_lot_made_from_another_still_reads_its_lineage(store: TraceStore, demo_chain) -> None:
    lot_chain.clear_caches()
    queries = _selects(store, lambda: build_consumer_view(store, WASHED, "W-001"))
    parent_reads = sum("FROM lot_links JOIN lots" in q for q in queries)
    assert parent_reads == 2  # parents of W-001, then of H-001 (which has none)
    view = store.consumer_view(WASHED, "W-001")
    assert view["origin"][0]["field_id"] is not None and view["chain_status"] == "intact"
    report = store.verify_lot(WASHED, "W-001")
    assert report.ok and report.lots_checked == 2  # W-001 and its parent H-001


def test_new_checkpoint_does_not_recheck_event_signatures(
    store: TraceStore, actors, event_signature_checks: list[bytes]
) -> None:
    """A lot read again after another lot was recorded (a new signed checkpoint, so the whole-chain
    result is not reused) re-checks the log inclusion but not the unchanged events' signatures."""
    harvest(store, actors, "H-010")
    lot_chain.clear_caches()
    event_signature_checks.clear()
    first = store.verify_lot(POTATO, "H-010")
    assert first.ok and len(event_signature_checks) == 1  # one event, one Ed25519 check
    harvest(store, actors, "H-011")  # another lot: the log grows and a new checkpoint is signed
    event_signature_checks.clear()
    again = store.verify_lot(POTATO, "H-010")
    assert again.ok and again.checkpoint_size == first.checkpoint_size + 1
    assert event_signature_checks == []  # no new check of H-010's signature


def test_forged_signature_is_caught_after_the_genuine_one_was_cached(
    store: TraceStore, actors
) -> None:
    harvest(store, actors, "H-020")
    assert store.verify_lot(POTATO, "H-020").ok  # the genuine signature's outcome is now cached
    with store.engine.begin() as conn:
        (sig,) = conn.execute(text("SELECT signature FROM events ORDER BY seq DESC LIMIT 1")).one()
        forged = ("0" if sig[0] != "0" else "1") + sig[1:]
        conn.execute(
            text("UPDATE events SET signature = :s WHERE signature = :old"),
            {"s": forged, "old": sig},
        )
    report = store.verify_lot(POTATO, "H-020")
    assert not report.ok
    assert report.first_broken is not None
    assert report.first_broken.reason.endswith(
        "signature of the recording organisation does not verify"
    )


def test_checkpoint_is_read_with_the_lot(store: TraceStore, demo_chain) -> None:
    """The latest checkpoint comes back with the lot row: the same values ``store.checkpoint()`` signs."""
    with store._read_engine.connect() as conn:
        chain = lot_chain.read_chain(conn, POTATO, "H-001")
    latest: dict[str, Any] = store.checkpoint()
    assert chain.checkpoint is not None
    # the demo chain's events: harvest, inspection, shipping + receiving, washing, packing,
    # shipping + receiving, retail sale
    assert chain.checkpoint.tree_size == latest["tree_size"] == 9
    assert chain.checkpoint.root_hash == latest["root_hash"]
    assert chain.log_public_key is not None and len(chain.log_public_key) == 32  # raw Ed25519 key
