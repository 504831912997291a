"""Tampering with stored bytes is caught at the right event; traces through mixes and splits."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from traceability.epcis import builders
from traceability.store import TraceStore

from .conftest import POTATO, WASHED, harvest, ship, t

EVENT_COLUMNS = [
    "event_id",
    "event_hash",
    "event_type",
    "biz_step",
    "event_time",
    "recorded_at",
    "document",
    "signature",
    "log_index",
]


def _event_row(store: TraceStore, biz_step: str) -> dict:
    with store.engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT * FROM events WHERE biz_step = :s ORDER BY seq LIMIT 1"),
                {"s": biz_step},
            )
            .mappings()
            .one()
        )


def _flip(value):
    if isinstance(value, int):
        return value + 1000
    text_value = str(value)
    # Change one character in the middle (a digit or a letter) so the value stays plausible.
    i = len(text_value) // 2
    c = text_value[i]
    repl = "0" if c != "0" else "1"
    return text_value[:i] + repl + text_value[i + 1 :]


@pytest.mark.parametrize("column", EVENT_COLUMNS)
def test_changing_any_stored_event_byte_breaks_verify_at_that_event(
    store: TraceStore, demo_chain, column: str
) -> None:
    assert store.verify_lot(WASHED, "W-001").ok
    row = _event_row(store, "inspecting")
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.execute(
            text(f"UPDATE events SET {column} = :v WHERE seq = :seq"),
            {"v": _flip(row[column]), "seq": row["seq"]},
        )
    report = store.verify_lot(WASHED, "W-001")
    assert not report.ok
    assert report.first_broken is not None
    assert report.first_broken.event_id in (row["event_id"], _flip(row["event_id"]))
    assert store.consumer_view(WASHED, "W-001")["chain_status"] == "broken"


def test_document_value_edit_is_pinpointed(store: TraceStore, demo_chain) -> None:
    row = _event_row(store, "inspecting")
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET document = :d WHERE seq = :s"),
            {"d": row["document"].replace('"value":12.5', '"value":0.5'), "s": row["seq"]},
        )
    report = store.verify_lot(WASHED, "W-001")
    assert report.first_broken.event_id == row["event_id"]
    assert "does not match its hash" in report.first_broken.reason


def test_deleting_or_reordering_chain_links_and_log_leaves(store: TraceStore, demo_chain) -> None:
    row = _event_row(store, "inspecting")
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM event_lots WHERE event_seq = :s"), {"s": row["seq"]})
    report = store.verify_lot(WASHED, "W-001")
    assert not report.ok and "chain position" in report.first_broken.reason


def test_log_leaf_edit_is_detected(store: TraceStore, demo_chain) -> None:
    row = _event_row(store, "shipping")
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE log_leaves SET leaf_hash = :h WHERE event_seq = :s"),
            {"h": "ab" * 32, "s": row["seq"]},
        )
    report = store.verify_lot(WASHED, "W-001")
    assert not report.ok
    assert any("checkpoint" in p for p in report.problems)
    assert report.first_broken.event_id == row["event_id"]


@pytest.fixture()
def mix_and_split(store: TraceStore, actors):
    """Fields A and B -> lots H-A, H-B -> mixed into M-1 -> split into S-1 (shop 1) and S-2 (shop 2)."""
    a = actors
    harvest(store, a, "H-A", kg=600, field="A")
    harvest(store, a, "H-B", kg=400, field="B")
    ship(store, a.coop, a.processor, POTATO, "H-A", 1, a.packhouse)
    ship(store, a.coop2, a.processor, POTATO, "H-B", 1, a.packhouse)
    store.record_event(
        a.processor,
        builders.transformation_event(
            inputs=[(POTATO, "H-A", 600), (POTATO, "H-B", 400)],
            outputs=[(WASHED, "M-1", 990)],
            when=t(2),
            location=a.packhouse,
            process="mixing",
        ),
    )
    store.record_event(
        a.processor,
        builders.transformation_event(
            inputs=[(WASHED, "M-1", 990)],
            outputs=[(WASHED, "S-1", 500), (WASHED, "S-2", 490)],
            when=t(3),
            location=a.packhouse,
            process="splitting",
        ),
    )
    ship(store, a.processor, a.retailer, WASHED, "S-1", 4, a.shop)
    ship(store, a.processor, a.retailer2, WASHED, "S-2", 4, a.shop2)
    store.record_event(
        a.retailer, builders.retail_sale_event(gtin=WASHED, lot="S-1", when=t(5), location=a.shop)
    )
    return a


def test_backward_and_forward_traces(store: TraceStore, mix_and_split) -> None:
    assert store.trace_backward(WASHED, "S-2")["fields"] == ["DX-000001", "DX-000002"]
    assert store.trace_backward(WASHED, "S-2")["lots"] == [
        (POTATO, "H-A"),
        (POTATO, "H-B"),
        (WASHED, "M-1"),
    ]
    fwd = store.trace_field("DX-000002")
    assert fwd["lots"] == [(POTATO, "H-B"), (WASHED, "M-1"), (WASHED, "S-1"), (WASHED, "S-2")]
    assert [s["name"] for s in fwd["shops"]] == [
        "Lanzhou Fresh Market, Chengguan",
        "Xi'an Grocer, Yanta",
    ]
    only_s1 = store.trace_forward(WASHED, "S-1")
    assert only_s1["lots"] == [(WASHED, "S-1")]
    assert [s["name"] for s in only_s1["shops"]] == ["Lanzhou Fresh Market, Chengguan"]
    cert = store.certificate(WASHED, "S-2")
    assert cert["status"] == "valid" and cert["supersedes"] == f"CN-HGZ-{WASHED}-M-1"
    assert store.certificate(WASHED, "M-1")["status"] == "superseded"


def test_non_conformant_inspection_forward_and_recall(store: TraceStore, mix_and_split) -> None:
    a = mix_and_split
    # H-B was consumed by the mix; a late lab result on it still traces forward.
    result = store.record_event(
        a.inspector,
        builders.inspection_event(
            gtin=WASHED,
            lot="S-2",
            when=t(4, 20),
            location=a.lab,
            conformant=False,
            results=[
                {
                    "substance": builders.NONGSHU_NS + "substance/organophosphate-carbamate",
                    "value": 62.0,
                }
            ],
        ),
    )
    assert store.trace_inspection(result.event_id)["lots"] == [(WASHED, "S-2")]
    recall = store.recall(a.bureau, WASHED, "M-1", reason="residue above GB 2763 limit", when=t(6))
    assert recall["lots"] == [(WASHED, "M-1"), (WASHED, "S-1"), (WASHED, "S-2")]
    assert [s["retailer_gln"] for s in recall["shops"]] == [a.retailer.gln, a.retailer2.gln]
    assert store.lot(WASHED, "S-1")["recalled"] is True
    assert store.consumer_view(WASHED, "S-1")["chain_status"] == "recalled"
    assert store.verify_lot(WASHED, "S-1").ok


def test_reordering_chain_links_is_detected(store: TraceStore, demo_chain) -> None:
    inspecting = _event_row(store, "inspecting")
    shipping = _event_row(store, "shipping")
    with store.engine.begin() as conn:
        pos = dict(
            conn.execute(
                text("SELECT event_seq, position FROM event_lots WHERE event_seq IN (:a, :b)"),
                {"a": inspecting["seq"], "b": shipping["seq"]},
            ).all()
        )
        conn.execute(
            text("UPDATE event_lots SET position = -1 WHERE event_seq = :a"),
            {"a": inspecting["seq"]},
        )
        conn.execute(
            text("UPDATE event_lots SET position = :p WHERE event_seq = :b"),
            {"p": pos[inspecting["seq"]], "b": shipping["seq"]},
        )
        conn.execute(
            text("UPDATE event_lots SET position = :p WHERE event_seq = :a"),
            {"p": pos[shipping["seq"]], "a": inspecting["seq"]},
        )
    report = store.verify_lot(WASHED, "W-001")
    assert not report.ok
    assert report.first_broken.event_id == shipping["event_id"]
    assert "hash chain broken" in report.first_broken.reason


def test_deleting_a_log_entry_is_detected(store: TraceStore, demo_chain) -> None:
    row = _event_row(store, "receiving")
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM log_leaves WHERE event_seq = :s"), {"s": row["seq"]})
    report = store.verify_lot(WASHED, "W-001")
    assert any("missing or reordered" in p for p in report.problems)
    assert report.first_broken is not None


def test_cli_verify_exits_1_and_names_the_broken_event(
    store_url: str, store: TraceStore, demo_chain
) -> None:
    from click.testing import CliRunner

    from nongshu.cli import main

    row = _event_row(store, "packing")
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET document = replace(document, '970.0', '971.0') WHERE seq = :s"),
            {"s": row["seq"]},
        )
    result = CliRunner().invoke(main, ["trace", "verify", "W-001", "--database-url", store_url])
    assert result.exit_code == 1
    assert f"BROKEN at {row['event_id']}" in result.output


def test_published_checkpoint_and_inclusion_proof_verify_independently(
    store: TraceStore, demo_chain
) -> None:
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from traceability import merkle

    cp = store.checkpoint()
    assert cp["tree_size"] == 9  # demo chain: 9 events
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(cp["public_key"]))
    key.verify(bytes.fromhex(cp["signature"]), cp["message"].encode())  # raises if invalid
    assert f"\n{cp['tree_size']}\n{cp['root_hash']}\n" in cp["message"]
    row = _event_row(store, "retail_selling")
    proof = store.inclusion_proof(row["event_id"])
    leaf = hashlib.sha256(
        b"\x00" + f"{row['event_id']}\n{row['event_hash']}\n{row['signature']}".encode()
    ).digest()
    assert proof["leaf_hash"] == leaf.hex()
    assert merkle.verify_inclusion(
        proof["leaf_index"],
        proof["tree_size"],
        leaf,
        [bytes.fromhex(p) for p in proof["audit_path"]],
        bytes.fromhex(cp["root_hash"]),
    )
