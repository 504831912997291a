"""Lookups read only the lot's own rows and O(log n) log nodes; cached verification still sees tampering."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from typing import Any

import pytest
from sqlalchemy import event, text

from traceability import lot_chain, merkle
from traceability.consumer import build_consumer_view
from traceability.store import TraceStore

from .conftest import WASHED, harvest

#: A reverse rowid scan stopped by ``LIMIT 1`` (the latest checkpoint) reads one row.
ONE_ROW_SCANS = {"checkpoints"}
TABLES = (
    "events",
    "event_lots",
    "log_leaves",
    "log_nodes",
    "lots",
    "lot_links",
    "checkpoints",
    "certificates",
    "locations",
    "organisations",
    "products",
    "meta",
    "consumer_views",
    "consumer_view_refs",
)


def _captured_sql(store: TraceStore, call) -> list[tuple[str, Any]]:
    """Every (SQL, DB-API parameters) the read engine executes during ``call()``."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    event.listen(store._read_engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(store._read_engine, "before_cursor_execute", capture)
    return [s for s in seen if s[0].lstrip().upper().startswith("SELECT")]


def test_lookup_queries_use_indexes_only(store_url: str, store: TraceStore, demo_chain) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    # the view as built at write time (and by an audit), the audit itself, and the two
    # statements a QR lookup runs on a plain DB-API cursor (stored view, lot number)
    queries = _captured_sql(store, lambda: build_consumer_view(store, WASHED, "W-001"))
    queries += _captured_sql(store, lambda: store.verify_lot(WASHED, "W-001"))
    assert len(queries) >= 6  # lot, lineage, links, checkpoint, nodes, places, certificate
    queries += [(store._view_sql, (WASHED, "W-001")), (store._find_lot_of_gtin_sql, (WASHED, "W-001"))]
    raw = sqlite3.connect(store_url.removeprefix("sqlite:///"))
    try:
        for sql, params in queries:
            plan = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params)]
            for detail in plan:
                words = detail.split()
                if words[0] == "SCAN" and words[1] in TABLES:
                    assert words[1] in ONE_ROW_SCANS and "LIMIT" in sql.upper(), (detail, sql)
            assert any(d.startswith("SEARCH") for d in plan), (plan, sql)
    finally:
        raw.close()


def test_lookup_work_does_not_grow_with_other_lots(store: TraceStore, demo_chain) -> None:
    """A lookup reads its lot's rows, the latest checkpoint and O(log n) log nodes: 30 more lots
    add no query, no row of lot data, and log nodes only as the tree gets deeper."""

    def rows_read() -> tuple[int, int, int]:
        lot_chain.clear_caches()  # a cold lookup, as of a lot nobody asked for recently
        queries = _captured_sql(store, lambda: build_consumer_view(store, WASHED, "W-001"))
        lot_rows = node_rows = 0
        with store._read_engine.connect() as conn:
            for sql, params in queries:
                n = len(conn.exec_driver_sql(sql, params).all())
                if "log_nodes" in sql:
                    node_rows += n
                elif "checkpoints" not in sql:
                    lot_rows += n
        return len(queries), lot_rows, node_rows

    events_in_lineage = store.verify_lot(WASHED, "W-001").events_checked
    queries, lot_rows, _ = rows_read()
    for i in range(30):
        harvest(store, demo_chain, f"H-X{i:02d}")
    size = store.checkpoint()["tree_size"]
    after_queries, after_lot_rows, node_rows = rows_read()
    assert (after_queries, after_lot_rows) == (queries, lot_rows)
    assert 0 < node_rows <= events_in_lineage * size.bit_length()


def _nodes(size: int) -> tuple[list[bytes], dict[int, bytes]]:
    leaves = [merkle.leaf_hash(os.urandom(8)) for _ in range(size)]
    frontier: list[tuple[int, bytes]] = []
    stored: dict[int, bytes] = {}
    for leaf in leaves:
        frontier, new = merkle.append_with_nodes(frontier, leaf)
        stored.update(new)
    assert merkle.frontier_root(frontier) == merkle.root_hash(leaves)
    return leaves, stored


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 100])
def test_stored_nodes_give_rfc6962_audit_paths(size: int) -> None:
    leaves, stored = _nodes(size)
    # a tree of n leaves has 2n - 1 perfect subtrees at most; each is written once
    assert len(stored) <= 2 * size - 1
    for tree_size in {1, size // 2 + 1, size}:
        root = merkle.root_hash(leaves[:tree_size])
        for index in range(tree_size):
            plan = merkle.audit_path_plan(index, tree_size)
            assert len(plan) <= max(1, tree_size - 1).bit_length()  # O(log n) elements
            path = [merkle.fold_parts([stored[merkle.node_key(*p)] for p in el]) for el in plan]
            assert path == merkle.inclusion_proof(index, leaves[:tree_size])
            assert merkle.verify_inclusion(index, tree_size, leaves[index], path, root)


def test_inclusion_proof_matches_the_full_tree(store: TraceStore, demo_chain) -> None:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                'SELECT event_id, leaf_hash FROM events e JOIN log_leaves l ON l.event_seq = e.seq ORDER BY l."index"'
            )
        ).all()
    leaves = [bytes.fromhex(h) for _, h in rows]
    for index, (event_id, _) in enumerate(rows):
        proof = store.inclusion_proof(event_id)
        assert [bytes.fromhex(p) for p in proof["audit_path"]] == merkle.inclusion_proof(
            index, leaves
        )


def test_cached_verification_sees_an_edit_made_after_it(store: TraceStore, demo_chain) -> None:
    assert build_consumer_view(store, WASHED, "W-001")["chain_status"] == "intact"
    assert build_consumer_view(store, WASHED, "W-001")["chain_status"] == "intact"  # cached
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE events SET document = replace(document, '970.0', '975.0') "
                "WHERE biz_step = 'packing'"
            )
        )
    view = build_consumer_view(store, WASHED, "W-001")
    assert view["chain_status"] == "broken"
    assert "does not match its hash" in view["chain_problem"]


def test_edited_row_is_shown_broken_from_the_next_audit_on(store: TraceStore, demo_chain) -> None:
    """The served view carries the write-time verification; the audit re-checks the rows and
    replaces it (docs/SECURITY.md): an edit made outside the store is never shown as verified
    once a verify has run."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE events SET document = replace(document, '970.0', '975.0') "
                "WHERE biz_step = 'packing'"
            )
        )
    assert store.consumer_view(WASHED, "W-001")["chain_status"] == "intact"  # as verified at write
    report = store.verify_lot(WASHED, "W-001")
    assert not report.ok
    view = store.consumer_view(WASHED, "W-001")
    assert view["chain_status"] == "broken"
    assert "does not match its hash" in view["chain_problem"]
    with store.engine.connect() as conn:
        ok, size = conn.execute(
            text("SELECT chain_ok, checkpoint_size FROM consumer_views WHERE lot = 'W-001'")
        ).one()
    assert not ok and size == store.checkpoint()["tree_size"]


def test_a_new_checkpoint_is_verified_again(store: TraceStore, demo_chain) -> None:
    first = store.verify_lot(WASHED, "W-001")
    harvest(store, demo_chain, "H-NEW")
    second = store.verify_lot(WASHED, "W-001")
    assert first.ok and second.ok
    assert second.checkpoint_size == first.checkpoint_size + 1


def test_tampered_log_node_breaks_inclusion(store: TraceStore, demo_chain) -> None:
    assert store.verify_lot(WASHED, "W-001").ok
    # leaf 1's stored hash is the audit-path sibling of leaf 0 (the harvest of H-001)
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE log_nodes SET hash = :h WHERE key = :k"),
            {"h": "cd" * 32, "k": merkle.node_key(0, 1)},
        )
    report = store.verify_lot(WASHED, "W-001")
    assert not report.ok
    assert any("does not match its signed checkpoint" in p for p in report.problems)
    assert "not included in the signed log checkpoint" in report.first_broken.reason


def test_missing_log_nodes_are_reported(store: TraceStore, demo_chain) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM log_nodes"))
    report = store.verify_lot(WASHED, "W-001")
    assert not report.ok
    assert any("missing" in p for p in report.problems)


def test_stored_digest_is_the_documents_sha256_and_signed(store: TraceStore, demo_chain) -> None:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT document, document_digest FROM events")).all()
    assert rows and all(
        digest == hashlib.sha256(doc.encode("utf-8")).hexdigest() for doc, digest in rows
    )
    # a forged digest matching an edited document still fails: the recorder signed the original
    with store.engine.begin() as conn:
        edited = conn.execute(
            text("SELECT seq, document FROM events WHERE biz_step = 'inspecting'")
        ).one()
        document = edited.document.replace('"value":12.5', '"value":0.5')
        conn.execute(
            text("UPDATE events SET document = :d, document_digest = :h WHERE seq = :s"),
            {"d": document, "h": hashlib.sha256(document.encode()).hexdigest(), "s": edited.seq},
        )
    report = store.verify_lot(WASHED, "W-001")
    assert "signature" in report.first_broken.reason
