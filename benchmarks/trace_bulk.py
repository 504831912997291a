"""Bulk-fill a SQLite trace store to a million events, every one of which verifies.

Recording 1,000,000 events one transaction at a time through the API takes
hours (the GS1 event hash alone canonicalises each event's JSON-LD), so the
benchmark fills the store the way a migration would: one template lot (the
five events of :func:`benchmarks.trace_data.lot_documents`) is recorded through
:meth:`TraceStore.import_document`; every other lot is a copy of it with its own
lot number, written with ``executemany`` in large transactions. Each copy gets
what the store itself would compute — its GS1 event hash (the template's
canonical pre-hash string with the lot number substituted: the lot appears
only in the EPC URI), document digest, the recorder's Ed25519 signature, hash
chain links, log leaves and Merkle subtree nodes, and the lot's stored consumer
view (the template's, built and verified by the store at write time, with the lot
number substituted, stamped with the checkpoint size after the copy's own events)
— and every stage ends with a signed checkpoint. Event times are the template's (the lot number is the only
thing that differs between lots), which does not change what a lookup reads.
:func:`check_copies` checks sample copies against the product's own hashing,
verification and consumer view.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.trace_data import EVENTS_PER_LOT, Parties, lot_code, lot_documents

_EVENT_COLUMNS = (
    "event_id",
    "event_hash",
    "document_digest",
    "event_type",
    "biz_step",
    "event_time",
    "recorded_at",
    "organisation_id",
    "document",
    "signature",
    "log_index",
    "corrects_event_id",
)


#: Version of the cached store's layout: a cache written by an older version is rebuilt.
#: 3: stored consumer views (schema 0004).
CACHE_VERSION = 3


@dataclass
class _Template:
    lot: dict[str, Any]
    certificate: dict[str, Any]
    view: dict[str, Any]
    events: list[dict[str, Any]]  # in log order, with "pre_hash" and "role"
    private_keys: dict[int, Any]  # organisation id -> Ed25519PrivateKey
    glns: dict[int, str]


def _rows(conn: sqlite3.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    cur = conn.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _template(conn: sqlite3.Connection, parties: Parties) -> _Template:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from traceability.epcis import builders
    from traceability.epcis.hashing import pre_hash_string

    code = lot_code(0)
    lot = _rows(conn, "SELECT * FROM lots WHERE gtin = ? AND lot = ?", parties.gtin, code)[0]
    cert = _rows(conn, "SELECT * FROM certificates WHERE lot_id = ?", lot["id"])[0]
    view = _rows(conn, "SELECT * FROM consumer_views WHERE lot_id = ?", lot["id"])[0]
    if not view["chain_ok"] or view["body"].count(code) != 2:
        raise RuntimeError("the template's view must verify and name its lot exactly twice")
    events = _rows(
        conn,
        "SELECT e.*, el.role FROM events e JOIN event_lots el ON el.event_seq = e.seq "
        "WHERE el.lot_id = ? ORDER BY el.position",
        lot["id"],
    )
    built = lot_documents(parties, 0)
    for ev, (_principal, event) in zip(events, built, strict=True):
        event.setdefault("@context", builders.CONTEXT)
        ev["pre_hash"] = pre_hash_string(event)
        if _ni(ev["pre_hash"]) != ev["event_hash"]:
            raise RuntimeError("the template's pre-hash string does not give its stored hash")
        if ev["pre_hash"].count(code) != 1:
            raise RuntimeError("the lot number must appear exactly once in the pre-hash string")
    keys, glns = {}, {}
    for org_id, gln, private in conn.execute("SELECT id, gln, private_key FROM organisations"):
        keys[org_id] = Ed25519PrivateKey.from_private_bytes(private)
        glns[org_id] = gln
    return _Template(lot, cert, view, events, keys, glns)


def _ni(pre_hash: str) -> str:
    """``ni:///sha-256;…?ver=CBV2.0`` of a pre-hash string (as the GS1 reference implementation)."""
    return "ni:///sha-256;" + hashlib.sha256(pre_hash.encode("utf-8")).hexdigest() + "?ver=CBV2.0"


class _Log:
    """The Merkle log's compact range, continued from the store's state."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        from traceability import merkle

        self.merkle = merkle
        row = conn.execute("SELECT value FROM meta WHERE key = 'log_frontier'").fetchone()
        self.frontier = [(n, bytes.fromhex(h)) for n, h in json.loads(row[0])] if row else []
        self.size = sum(n for n, _ in self.frontier)

    def append(self, leaf: bytes) -> list[tuple[int, str]]:
        self.frontier, nodes = self.merkle.append_with_nodes(self.frontier, leaf)
        self.size += 1
        return [(k, h.hex()) for k, h in nodes]


def _lot_rows(
    t: _Template, i: int, lot_id: int, seq: int, log: _Log, now: str
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """``(table, row)`` of lot ``i``: the lot, its certificate, five events, links, leaves,
    nodes and its consumer view."""
    from traceability import lot_chain, views

    code, old = lot_code(i), lot_code(0)
    lot = {**t.lot, "id": lot_id, "lot": code, "created_at": now}
    yield "lots", tuple(lot.values())
    cert = {
        **t.certificate,
        "id": None,
        "lot_id": lot_id,
        "number": t.certificate["number"].replace(old, code),
    }
    yield "certificates", tuple(cert.values())
    prev = lot_chain.GENESIS
    for position, ev in enumerate(t.events):
        pre_hash = ev["pre_hash"].replace(old, code)
        digest_ni = _ni(pre_hash)
        document = ev["document"].replace(old, code).replace(ev["event_hash"], digest_ni)
        doc_digest = lot_chain.document_digest(document)
        event_id = (
            digest_ni if ev["event_id"] == ev["event_hash"] else ev["event_id"].replace(old, code)
        )
        log_index = log.size
        message = lot_chain.signed_message(
            event_id=event_id,
            event_hash=digest_ni,
            gln=t.glns[ev["organisation_id"]],
            event_type=ev["event_type"],
            biz_step=ev["biz_step"],
            event_time=ev["event_time"],
            recorded_at=now,
            log_index=log_index,
            corrects_event_id=None,
            document_digest=doc_digest,
        )
        signature = t.private_keys[ev["organisation_id"]].sign(message).hex()
        values = {
            "event_id": event_id,
            "event_hash": digest_ni,
            "document_digest": doc_digest,
            "event_type": ev["event_type"],
            "biz_step": ev["biz_step"],
            "event_time": ev["event_time"],
            "recorded_at": now,
            "organisation_id": ev["organisation_id"],
            "document": document,
            "signature": signature,
            "log_index": log_index,
            "corrects_event_id": None,
        }
        yield "events", (seq, *(values[c] for c in _EVENT_COLUMNS))
        chain = lot_chain.link_hash(prev, digest_ni, signature, ev["role"])
        yield "event_lots", (seq, lot_id, ev["role"], position, prev, chain)
        prev = chain
        leaf = lot_chain.leaf_for(event_id, digest_ni, signature)
        yield "log_leaves", (log_index, seq, leaf.hex())
        for key, h in log.append(leaf):
            yield "log_nodes", (key, h)
        seq += 1
    body = t.view["body"].replace(old, code)  # the lot number and the certificate number
    view = {
        **t.view,
        "lot": code,
        "lot_id": lot_id,
        "body": body,
        "digest": views.digest(body),
        "checkpoint_size": log.size,
        "built_at": now,
    }
    yield "consumer_views", tuple(view.values())


_INSERTS = {
    "lots": None,  # filled from the template's column order
    "certificates": None,
    "events": "INSERT INTO events (seq, {}) VALUES ({})".format(
        ", ".join(_EVENT_COLUMNS), ", ".join("?" * (len(_EVENT_COLUMNS) + 1))
    ),
    "event_lots": "INSERT INTO event_lots (event_seq, lot_id, role, position, prev_hash, chain_hash) "
    "VALUES (?, ?, ?, ?, ?, ?)",
    "log_leaves": 'INSERT INTO log_leaves ("index", event_seq, leaf_hash) VALUES (?, ?, ?)',
    "log_nodes": "INSERT INTO log_nodes (key, hash) VALUES (?, ?)",
    "consumer_views": None,
}


def _sign_checkpoint(conn: sqlite3.Connection, log: _Log, now: str) -> None:
    """Store the compact range and a signed checkpoint of the current tree (as the store does)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from traceability import lot_chain

    root = log.merkle.frontier_root(log.frontier).hex()
    (private,) = conn.execute("SELECT value FROM meta WHERE key = 'log_private_key'").fetchone()
    signature = Ed25519PrivateKey.from_private_bytes(private).sign(
        lot_chain.checkpoint_message(log.size, root, now)
    )
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'log_frontier'",
        (json.dumps([[n, h.hex()] for n, h in log.frontier]).encode(),),
    )
    conn.execute(
        "INSERT INTO checkpoints (tree_size, root_hash, signed_at, signature) VALUES (?, ?, ?, ?)",
        (log.size, root, now, signature.hex()),
    )


def bulk_fill(
    url: str,
    target_events: int,
    *,
    stages: list[int],
    on_stage: Callable[[int, float], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fill the (new) store at ``url`` to ``target_events``; ``on_stage(events, seconds)`` after each stage size."""
    from benchmarks.trace_data import setup_parties
    from traceability.epcis import builders
    from traceability.store import TraceStore, iso

    start = time.perf_counter()
    with TraceStore.open(url) as store:
        parties = setup_parties(store)
        for principal, event in lot_documents(parties, 0):
            store.import_document(principal, builders.document([event]))
    database = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-400000")
        t = _template(conn, parties)
        from_template = {
            "lots": "INSERT INTO lots ({}) VALUES ({})".format(
                ", ".join(t.lot), ", ".join("?" * len(t.lot))
            ),
            "certificates": "INSERT INTO certificates ({}) VALUES ({})".format(
                ", ".join(t.certificate), ", ".join("?" * len(t.certificate))
            ),
            "consumer_views": "INSERT INTO consumer_views ({}) VALUES ({})".format(
                ", ".join(t.view), ", ".join("?" * len(t.view))
            ),
        }
        # in _INSERTS order: a lot's row before the rows that refer to it
        inserts: dict[str, str] = {k: v or from_template[k] for k, v in _INSERTS.items()}
        log = _Log(conn)
        (lot_id,) = conn.execute("SELECT max(id) FROM lots").fetchone()
        (seq,) = conn.execute("SELECT max(seq) FROM events").fetchone()
        now = iso(datetime.now(UTC))
        done = 1
        for stage in sorted({*(s for s in stages if s < target_events), target_events}):
            stage_lots = max(1, stage // EVENTS_PER_LOT)
            conn.execute("BEGIN")
            batch: dict[str, list[tuple[Any, ...]]] = {k: [] for k in inserts}
            while done < stage_lots:
                lot_id += 1
                for table, row in _lot_rows(t, done, lot_id, seq + 1, log, now):
                    batch[table].append(row)
                seq += EVENTS_PER_LOT
                done += 1
                if len(batch["events"]) >= 50_000 or done == stage_lots:
                    for table, rows in batch.items():
                        conn.executemany(inserts[table], rows)
                    batch = {k: [] for k in inserts}
                    if on_progress is not None:
                        on_progress(done * EVENTS_PER_LOT)
            _sign_checkpoint(conn, log, now)
            conn.execute("COMMIT")
            if on_stage is not None:
                on_stage(done * EVENTS_PER_LOT, time.perf_counter() - start)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("ANALYZE")
    return {
        "events": done * EVENTS_PER_LOT,
        "lots": done,
        "seconds": time.perf_counter() - start,
        "gtin": parties.gtin,
        "method": "one template lot through TraceStore.import_document, the rest copied with executemany",
    }


def check_copies(url: str, gtin: str, lots: list[int]) -> list[str]:
    """Problems found re-deriving sample copies with the product's own code (empty when they all
    verify and their stored consumer view is the one the product builds from their rows)."""
    from traceability.consumer import build_consumer_view
    from traceability.epcis.hashing import event_hash
    from traceability.store import TraceStore

    problems = []
    with TraceStore.open(url) as store:
        for i in lots:
            stored = store.consumer_view(gtin, lot_code(i))  # before the audit may replace it
            if stored != build_consumer_view(store, gtin, lot_code(i)):
                problems.append(f"{lot_code(i)}: stored consumer view differs from the product's")
            report = store.verify_lot(gtin, lot_code(i), recompute_hashes=True)
            if not report.ok:
                problems.append(f"{lot_code(i)}: {report.first_broken or report.problems}")
        with store.engine.connect() as conn:
            from sqlalchemy import text

            for (doc,) in conn.execute(
                text("SELECT document FROM events ORDER BY seq DESC LIMIT 5")
            ):
                parsed = json.loads(doc)
                if event_hash(parsed, parsed.get("@context")) != parsed.get("eventID"):
                    problems.append(f"event {parsed.get('eventID')}: hash differs")
    return problems


def cached_bulk_store(
    work: Path,
    target_events: int,
    *,
    stages: list[int],
    probe: Callable[[str, int], dict[str, float]],
    on_progress: Callable[[int], None] | None = None,
) -> tuple[str, dict[str, Any]]:
    """A bulk-filled store of ``target_events`` under ``work`` (reused when complete) and its probes."""
    db = work / f"trace-bulk-v{CACHE_VERSION}-{target_events}.db"
    meta_path = work / f"trace-bulk-v{CACHE_VERSION}-{target_events}.json"
    url = f"sqlite:///{db.resolve()}"
    if db.exists() and meta_path.exists():
        return url, json.loads(meta_path.read_text())
    older = [p for p in work.glob("trace-bulk-*") if not p.name.startswith(f"trace-bulk-v{CACHE_VERSION}-")]
    for stale in (db, meta_path, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), *older):
        stale.unlink(missing_ok=True)
    probes: list[dict[str, float]] = []

    def on_stage(events: int, seconds: float) -> None:
        probes.append({**probe(url, events // EVENTS_PER_LOT), "fill_seconds": seconds})

    meta = bulk_fill(url, target_events, stages=stages, on_stage=on_stage, on_progress=on_progress)
    meta["lookup_probes"] = probes
    meta["target_events"] = target_events
    meta["cache_version"] = CACHE_VERSION
    meta["copies_checked"] = check_copies(
        url, meta["gtin"], [1, meta["lots"] // 2, meta["lots"] - 1]
    )
    meta_path.write_text(json.dumps(meta, indent=2))
    return url, meta
