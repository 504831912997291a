"""Read one lot's chain (and its ancestors') in a handful of indexed queries, and verify it.

A lookup reads: the lot with the latest signed checkpoint and whether it has
parents (one query), its lineage (one query per generation, none for a lot made
from no other lot), every chain link of those lots joined with its event,
recorder and log leaf (one query) and the audit-path nodes of those events (one
primary-key query). Nothing here reads the whole log: the cost of a lookup
depends on the lot's history, not on the store's size.

Verification checks, per event: chain position, the document against its
write-time digest, the indexed columns, the recorder's Ed25519 signature
(version 2 covers the digest; for events signed before schema 0003, and in
``recompute_hashes`` audits, the GS1 EPCIS event hash is re-derived from the
document instead), the hash
chain link, the log leaf and its RFC 6962 inclusion in the signed checkpoint.
Results are cached per (content of every row read, log nodes, checkpoint):
any edited, deleted or reordered row, or a new checkpoint, changes the key.
Ed25519 outcomes are also cached per (key, signature, message) bytes, so a lot
read again after a new checkpoint re-checks its log inclusion but not its
events' signatures. The caches are per process (each gunicorn worker has its own).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Row, bindparam, exists, literal, select, true

from traceability import merkle, signing
from traceability.db import (
    Checkpoint,
    Event,
    EventLot,
    LogLeaf,
    LogNode,
    Lot,
    LotLink,
    Meta,
    Organisation,
    Product,
)
from traceability.epcis.hashing import event_hash
from traceability.errors import TraceError, UnknownLotError

GENESIS = "0" * 64
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A small thread-safe least-recently-used map (one per process)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


@dataclass(frozen=True)
class BrokenEvent:
    event_id: str
    position: int
    reason: str


@dataclass(frozen=True)
class ChainCheck:
    """Outcome of verifying the chains of a lot and its ancestors against one checkpoint."""

    events_checked: int
    lots_checked: int
    checkpoint_size: int
    first_broken: BrokenEvent | None
    problems: tuple[str, ...]


#: Columns of one chain link as read for a lookup (``event_lots`` ⋈ ``events`` ⋈ recorder ⋈ leaf).
LINK_COLUMNS = (
    EventLot.lot_id,
    EventLot.position,
    EventLot.role,
    EventLot.prev_hash,
    EventLot.chain_hash,
    Event.seq,
    Event.event_id,
    Event.event_hash,
    Event.document_digest,
    Event.event_type,
    Event.biz_step,
    Event.event_time,
    Event.recorded_at,
    Event.document,
    Event.signature,
    Event.log_index,
    Event.corrects_event_id,
    Organisation.gln.label("org_gln"),
    Organisation.public_key.label("org_public_key"),
    Organisation.public_name.label("org_public_name"),
    Organisation.role.label("org_role"),
    LogLeaf.index.label("leaf_index"),
    LogLeaf.leaf_hash,
)


#: The latest signed checkpoint (a one-row reverse rowid/primary-key read).
_LATEST_CHECKPOINT = (
    select(Checkpoint.__table__).order_by(Checkpoint.id.desc()).limit(1).subquery("latest_cp")
)
#: The lot with its product, current holder, whether it has parents, and the latest signed
#: checkpoint with the log's public key: one row, one round trip (each is an indexed read).
_LOT = (
    select(
        Lot.__table__,
        Product.name.label("product_name"),
        Product.crop.label("product_crop"),
        Product.variety.label("product_variety"),
        Organisation.public_name.label("custodian_name"),
        Organisation.role.label("custodian_role"),
        exists().where(LotLink.child_lot_id == Lot.id).label("has_parents"),
        _LATEST_CHECKPOINT.c.id.label("cp_id"),
        _LATEST_CHECKPOINT.c.tree_size.label("cp_tree_size"),
        _LATEST_CHECKPOINT.c.root_hash.label("cp_root_hash"),
        _LATEST_CHECKPOINT.c.signed_at.label("cp_signed_at"),
        _LATEST_CHECKPOINT.c.signature.label("cp_signature"),
        Meta.value.label("log_public_key"),
    )
    .join(Product, Product.gtin == Lot.gtin)
    .join(Organisation, Organisation.id == Lot.custodian_id)
    .outerjoin(_LATEST_CHECKPOINT, true())
    .outerjoin(Meta, Meta.key == literal("log_public_key"))
    .where(Lot.gtin == bindparam("gtin"), Lot.lot == bindparam("lot"))
)


@dataclass(frozen=True)
class CheckpointRow:
    """The latest signed checkpoint as read with the lot (the columns of ``checkpoints``)."""

    id: int
    tree_size: int
    root_hash: str
    signed_at: str
    signature: str


#: Parents of a generation of lots (lineage through transformations).
_PARENTS = (
    select(LotLink.child_lot_id.label("child_id"), Lot.__table__)
    .join(Lot, Lot.id == LotLink.parent_lot_id)
    .where(LotLink.child_lot_id.in_(bindparam("ids", expanding=True)))
)
_LINKS = (
    select(*LINK_COLUMNS)
    .join(Event, Event.seq == EventLot.event_seq)
    .join(Organisation, Organisation.id == Event.organisation_id)
    .outerjoin(LogLeaf, LogLeaf.event_seq == Event.seq)
    .where(EventLot.lot_id.in_(bindparam("ids", expanding=True)))
    .order_by(EventLot.lot_id, EventLot.position)
)
_NODES = select(LogNode.key, LogNode.hash).where(LogNode.key.in_(bindparam("keys", expanding=True)))


@dataclass
class LotChain:
    """Everything a lookup of one lot reads: the lot, its ancestors, their links, the checkpoint.

    Lots are rows of ``lots`` (attribute access); ``lot`` also carries its product's
    ``product_name``/``product_crop``/``product_variety`` and ``custodian_name``/``custodian_role``.
    """

    lot: Row[Any]
    ancestors: list[Row[Any]]
    fields: list[str]
    links: dict[int, list[Row[Any]]]  # lot id -> its links in chain order
    checkpoint: CheckpointRow | None
    log_public_key: bytes | None

    @property
    def lots(self) -> list[Row[Any]]:
        return [self.lot, *self.ancestors]


def lineage(conn: Connection, lot: Row[Any]) -> tuple[list[str], list[Row[Any]]]:
    """Origin field ids and every ancestor lot (through mixes and splits), one query per generation."""
    seen: dict[int, Row[Any]] = {}
    fields: set[str] = set()
    generation = [lot]
    while generation:
        rows: Sequence[Row[Any]]
        if not getattr(generation[0], "has_parents", True):  # the lot row says it has none
            rows = []
        else:
            rows = conn.execute(_PARENTS, {"ids": [g.id for g in generation]}).all()
        with_parents = {r.child_id for r in rows}
        fields.update(
            g.origin_field_id for g in generation if g.id not in with_parents and g.origin_field_id
        )
        nxt = []
        for parent in rows:
            if parent.id not in seen:
                seen[parent.id] = parent
                nxt.append(parent)
        generation = nxt
    return sorted(fields), list(seen.values())


def read_chain(conn: Connection, gtin: str, lot: str) -> LotChain:
    """The lot's chain and its ancestors' chains, with the latest checkpoint (indexed reads only).

    Raises :class:`~traceability.errors.UnknownLotError` for a lot that is not stored.
    """
    row = conn.execute(_LOT, {"gtin": gtin, "lot": lot}).first()
    if row is None:
        raise UnknownLotError("unknown lot", field="lot", got=f"{gtin}/{lot}")
    fields, ancestors = lineage(conn, row)
    ids = [row.id] + [a.id for a in ancestors]
    links: dict[int, list[Row[Any]]] = {i: [] for i in ids}
    link_rows: Sequence[Any] = conn.execute(_LINKS, {"ids": ids}).all()
    for r in link_rows:
        links[r.lot_id].append(r)
    cp = None
    if row.cp_id is not None:
        cp = CheckpointRow(
            row.cp_id, row.cp_tree_size, row.cp_root_hash, row.cp_signed_at, row.cp_signature
        )
    return LotChain(row, ancestors, fields, links, cp, row.log_public_key)


def audit_nodes(conn: Connection, plans: Sequence[list[list[tuple[int, int]]]]) -> dict[int, bytes]:
    """``node_key -> hash`` of every stored subtree the audit-path ``plans`` name (one query)."""
    keys = {merkle.node_key(level, i) for plan in plans for element in plan for level, i in element}
    return nodes_by_key(conn, keys)


def nodes_by_key(conn: Connection, keys: set[int]) -> dict[int, bytes]:
    """``node_key -> hash`` of the stored subtrees among ``keys`` (one query per 500 keys)."""
    found: dict[int, bytes] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):  # stay under every backend's bound-parameter limit
        for k, h in conn.execute(_NODES, {"keys": ordered[start : start + 500]}):
            try:
                found[k] = bytes.fromhex(h)
            except ValueError:
                continue
    return found


def path_from_keys(plan: list[tuple[int, ...]], nodes: dict[int, bytes]) -> list[bytes] | None:
    """RFC 6962 audit path from stored nodes (``plan``: :func:`merkle.audit_path_keys`); ``None`` when a node is missing."""
    path = []
    for element in plan:
        parts = []
        for k in element:
            node = nodes.get(k)
            if node is None:
                return None
            parts.append(node)
        path.append(parts[0] if len(parts) == 1 else merkle.fold_parts(parts))
    return path


def audit_path(plan: list[list[tuple[int, int]]], nodes: dict[int, bytes]) -> list[bytes] | None:
    """RFC 6962 audit path from stored nodes (``plan``: :func:`merkle.audit_path_plan`); ``None`` when a node is missing."""
    path = []
    for element in plan:
        parts = [nodes.get(merkle.node_key(level, i)) for level, i in element]
        if any(p is None for p in parts):
            return None
        path.append(merkle.fold_parts(parts))  # type: ignore[arg-type]
    return path


# --------------------------------------------------------------------- hashing
def document_digest(document: str) -> str:
    """SHA-256 (hex) of a stored event document's UTF-8 bytes."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def signed_message(
    *,
    event_id: str,
    event_hash: str,
    gln: str,
    event_type: str,
    biz_step: str | None,
    event_time: str,
    recorded_at: str,
    log_index: int,
    corrects_event_id: str | None,
    document_digest: str | None,
) -> bytes:
    """What a recorder signs: version 2 adds the stored document's digest (events since schema 0003)."""
    lines = [
        "nongshu-trace-event/2" if document_digest is not None else "nongshu-trace-event/1",
        event_id,
        event_hash,
        gln,
        event_type,
        biz_step or "",
        event_time,
        recorded_at,
        str(log_index),
        corrects_event_id or "",
    ]
    if document_digest is not None:
        lines.append(document_digest)
    return "\n".join(lines).encode("utf-8")


def leaf_for(event_id: str, event_hash: str, signature: str) -> bytes:
    return merkle.leaf_hash(f"{event_id}\n{event_hash}\n{signature}".encode())


def link_hash(prev: str, event_hash: str, signature: str, role: str) -> str:
    return hashlib.sha256(f"{prev}\n{event_hash}\n{signature}\n{role}".encode()).hexdigest()


def checkpoint_message(size: int, root: str, signed_at: str) -> bytes:
    return f"nongshu-trace-log/1\n{size}\n{root}\n{signed_at}\n".encode()


# ------------------------------------------------------------------ verifying
_REHASHED: LruCache[tuple[str, str], str] = LruCache(50_000)
_CHECKPOINTS: LruCache[tuple[bytes, bytes, str], bool] = LruCache(64)
_VERIFIED: LruCache[tuple[str, bool], ChainCheck] = LruCache(20_000)
#: Outcomes of Ed25519 checks by SHA-256 of (public key, signature, message): a fact about those
#: bytes, still true under a new checkpoint, so a lot re-read after other lots were recorded
#: (a new checkpoint: a ``_VERIFIED`` miss) does not verify its events' signatures again.
_SIGNATURES: LruCache[bytes, bool] = LruCache(100_000)


def _signature_ok(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """:func:`signing.verify_signature`, remembered per (key, signature, message) bytes."""
    key = hashlib.sha256(
        len(public_key).to_bytes(2, "big")
        + public_key
        + len(signature).to_bytes(2, "big")
        + signature
        + message
    ).digest()
    ok = _SIGNATURES.get(key)
    if ok is None:
        ok = signing.verify_signature(public_key, message, signature)
        _SIGNATURES.put(key, ok)
    return ok


def _rehash(document: str, doc: dict[str, Any]) -> str:
    """The EPCIS event hash re-derived from a stored document (cached by the document's bytes)."""
    key = (document_digest(document), json.dumps(doc.get("@context"), sort_keys=True))
    cached = _REHASHED.get(key)
    if cached is None:
        cached = event_hash(doc, doc.get("@context"))
        _REHASHED.put(key, cached)
    return cached


def _checkpoint_ok(public_key: bytes, cp: CheckpointRow) -> bool:
    message = checkpoint_message(cp.tree_size, cp.root_hash, cp.signed_at)
    key = (public_key, message, cp.signature)
    ok = _CHECKPOINTS.get(key)
    if ok is None:
        try:
            signature = bytes.fromhex(cp.signature)
        except ValueError:
            signature = b""
        ok = signing.verify_signature(public_key, message, signature)
        _CHECKPOINTS.put(key, ok)
    return ok


def _fingerprint(
    chain: LotChain, nodes: dict[int, bytes], recompute_hashes: bool
) -> tuple[str, bool]:
    """Digest of everything a verification reads: checkpoint, key, lots, links, log nodes."""
    digest = hashlib.sha256()
    cp = chain.checkpoint
    digest.update(
        repr(
            (
                chain.log_public_key,
                None
                if cp is None
                else (cp.id, cp.tree_size, cp.root_hash, cp.signed_at, cp.signature),
            )
        ).encode()
    )
    for lot in chain.lots:
        digest.update(repr((lot.id, lot.gtin, lot.lot)).encode())
        for r in chain.links[lot.id]:
            digest.update(repr(tuple(r)).encode())
    digest.update(repr(sorted(nodes.items())).encode())
    return digest.hexdigest(), recompute_hashes


def _plans(chain: LotChain) -> dict[int, list[tuple[int, ...]]]:
    """Audit-path plan (node keys) of every event of the chain in the latest checkpoint's tree."""
    cp = chain.checkpoint
    if cp is None:
        return {}
    return {
        r.log_index: merkle.audit_path_keys(r.log_index, cp.tree_size)
        for lot in chain.lots
        for r in chain.links[lot.id]
        if 0 <= r.log_index < cp.tree_size
    }


def _parse_time(value: str) -> str:
    from datetime import UTC

    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def verify_chain(
    conn: Connection,
    chain: LotChain,
    *,
    short: Callable[[str | None], str | None],
    recompute_hashes: bool = False,
) -> ChainCheck:
    """Verify the lot's and its ancestors' chains.

    The result is cached under a digest of every row it depends on (links, log
    nodes, checkpoint): an edited row or a new checkpoint is a cache miss.
    """
    plans = _plans(chain)
    nodes = nodes_by_key(conn, {k for plan in plans.values() for element in plan for k in element})
    key = _fingerprint(chain, nodes, recompute_hashes)
    cached = _VERIFIED.get(key)
    if cached is not None:
        return cached
    result = _verify(chain, plans, nodes, short=short, recompute_hashes=recompute_hashes)
    _VERIFIED.put(key, result)
    return result


def _verify(
    chain: LotChain,
    plans: dict[int, list[tuple[int, ...]]],
    nodes: dict[int, bytes],
    *,
    short: Callable[[str | None], str | None],
    recompute_hashes: bool,
) -> ChainCheck:
    cp, public_key = chain.checkpoint, chain.log_public_key
    if cp is None or public_key is None:
        return ChainCheck(0, 0, 0, None, ("no signed checkpoint of the log",))
    problems: list[str] = []
    if not _checkpoint_ok(public_key, cp):
        problems.append("the latest log checkpoint's signature does not verify")
    try:
        root = bytes.fromhex(cp.root_hash)
    except ValueError:
        root = b""
    events_checked = 0
    first_broken = None
    for lot in chain.lots:
        prev = GENESIS
        for expected_pos, r in enumerate(chain.links[lot.id]):
            events_checked += 1

            found = _check_link(r, expected_pos, prev, short, recompute_hashes)
            if found is None:
                found = _check_log(r, cp.tree_size, root, plans.get(r.log_index), nodes, problems)
            if found is not None:
                if first_broken is None:
                    first_broken = BrokenEvent(
                        r.event_id, r.position, f"lot {lot.gtin}/{lot.lot}: {found}"
                    )
                break
            prev = r.chain_hash
    return ChainCheck(
        events_checked, len(chain.lots), cp.tree_size, first_broken, tuple(dict.fromkeys(problems))
    )


def _check_link(
    r: Row[Any],
    expected_pos: int,
    prev: str,
    short: Callable[[str | None], str | None],
    recompute_hashes: bool,
) -> str | None:
    """Why the link ``r`` is broken (content, signature, chain), or ``None``."""
    if r.position != expected_pos:
        return f"chain position {r.position} where {expected_pos} was expected (missing event)"
    actual = document_digest(r.document)
    if r.document_digest is not None and r.document_digest != actual:
        return "event content does not match its hash"
    try:
        doc = json.loads(r.document)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except ValueError as err:
        return f"stored event cannot be read: {err}"
    if doc.get("eventID") != r.event_id and not r.corrects_event_id:
        return "event id does not match the stored document"
    try:
        same_time = _parse_time(doc["eventTime"]) == r.event_time
    except (KeyError, TypeError, ValueError):
        same_time = False
    if doc.get("type") != r.event_type or short(doc.get("bizStep")) != r.biz_step or not same_time:
        return "indexed columns do not match the stored document"
    try:
        signature = bytes.fromhex(r.signature)
    except ValueError:
        signature = b""
    fields = {
        "event_id": r.event_id,
        "event_hash": r.event_hash,
        "gln": r.org_gln,
        "event_type": r.event_type,
        "biz_step": r.biz_step,
        "event_time": r.event_time,
        "recorded_at": r.recorded_at,
        "log_index": r.log_index,
        "corrects_event_id": r.corrects_event_id,
    }
    # Version 2 signs the document's digest: the content is bound without re-canonicalising.
    bound = _signature_ok(
        r.org_public_key, signed_message(**fields, document_digest=actual), signature
    )
    if not bound and not _signature_ok(
        r.org_public_key, signed_message(**fields, document_digest=None), signature
    ):
        return "signature of the recording organisation does not verify"
    if not bound or recompute_hashes:
        try:
            if _rehash(r.document, doc) != r.event_hash:
                return "event content does not match its hash"
        except TraceError as err:
            return f"stored event cannot be read: {err}"
    if r.prev_hash != prev or r.chain_hash != link_hash(prev, r.event_hash, r.signature, r.role):
        return "hash chain broken (event edited, removed or reordered)"
    return None


def _check_log(
    r: Row[Any],
    tree_size: int,
    root: bytes,
    plan: list[tuple[int, ...]] | None,
    nodes: dict[int, bytes],
    problems: list[str],
) -> str | None:
    """Why the event's log entry is wrong or not in the checkpoint (adding log-wide ``problems``), or ``None``."""
    if r.leaf_index is None or r.leaf_index != r.log_index:
        problems.append("the Merkle log has missing or reordered entries")
        return "log entry does not match the event"
    if r.log_index >= tree_size:
        return None  # recorded after the checkpoint read (cannot happen within one transaction)
    path = None if plan is None else path_from_keys(plan, nodes)
    if path is None:
        problems.append("the Merkle log has missing or reordered entries")
        return "event not included in the signed log checkpoint"
    try:
        stored = bytes.fromhex(r.leaf_hash)
    except ValueError:
        stored = b""
    stored_included = merkle.verify_inclusion(r.log_index, tree_size, stored, path, root)
    if not stored_included:
        problems.append("the Merkle log does not match its signed checkpoint")
    if stored != leaf_for(r.event_id, r.event_hash, r.signature):
        return "log entry does not match the event"
    if not stored_included:
        return "event not included in the signed log checkpoint"
    return None


def clear_caches() -> None:
    """Forget cached verification results (for measurements of cold lookups)."""
    for cache in (_REHASHED, _CHECKPOINTS, _VERIFIED, _SIGNATURES):
        cache.clear()
