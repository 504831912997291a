"""Stored consumer views: the public view of each lot, derived when its chain changes.

A QR scan asks for the view of one lot far more often than the lot changes, so
the view is derived data (as the read models of mature trace services): it is
built — chain verification included — in the write transaction that records an
event for the lot or for one of its ancestors (a recall or correction is such an
event), and stored in ``consumer_views`` keyed by ``(gtin, lot)``. Serving it is
one primary-key read (:func:`read_stored_body`).

The stored row records the verification outcome and the size of the signed
checkpoint it was checked against. ``TraceStore.verify_lot`` (the audit behind
``nongshu trace verify``, ``nongshu trace audit`` and the ``/verify`` endpoint)
re-derives the view from the rows as they are now and replaces the stored one
when it differs, so an edited event, link, log entry or view row is shown as
broken (or corrected) from the next audit on (docs/SECURITY.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select

from traceability.consumer import (
    SEASON_KEYS,
    SeasonSummaryProvider,
    chain_problem,
    derive_view,
)
from traceability.db import ConsumerView, ConsumerViewRef, Lot, LotLink, driver_sql, fetch_raw
from traceability.lot_chain import read_chain, verify_chain

Short = Callable[[str | None], str | None]
log = logging.getLogger(__name__)

_CHILDREN = select(LotLink.child_lot_id).where(
    LotLink.parent_lot_id.in_(bindparam("ids", expanding=True))
)
_LOT_KEYS = select(Lot.id, Lot.gtin, Lot.lot).where(Lot.id.in_(bindparam("ids", expanding=True)))
_STORED = select(ConsumerView.body, ConsumerView.chain_ok).where(
    ConsumerView.lot_id == bindparam("lot_id")
)
_REFERRING = select(ConsumerViewRef.lot_id).where(
    ConsumerViewRef.ref.in_(bindparam("refs", expanding=True))
)


#: Where a stored body's top-level season summary sits: the last occurrence, since only
#: ``chain_status`` (a fixed word) and ``chain_problem`` (a JSON string, whose quotes are
#: escaped) follow it, so no text from an event can imitate it there.
_SEASON_SLOT = '"season_summary":null,"chain_status":'


def encode(value: Any) -> str:
    """Compact JSON text, key order kept, non-ASCII as is: a stored view's body, and byte for
    byte what Flask's ``jsonify`` writes for it (without the final newline) in production."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def season_of(body: dict[str, Any]) -> tuple[list[str], int | None]:
    """The origin field ids and season whose pipeline summary the view shows (``None``: none)."""
    fields = [o["field_id"] for o in body.get("origin") or []]
    harvest = body.get("harvest_date")
    return fields, (int(harvest[:4]) if fields and harvest else None)


def summaries(
    fields: list[str], season: int | None, provider: SeasonSummaryProvider | None
) -> list[dict[str, Any]] | None:
    """The season summaries of the origin fields (as :func:`traceability.consumer.add_season_summary`)."""
    if provider is None or season is None:
        return None
    found = []
    for field_id in fields:
        got = provider(field_id, season)
        if got:
            found.append({"field_id": field_id, **{k: got[k] for k in SEASON_KEYS if k in got}})
    return found or None


def with_season_summary(text: str, summary: list[dict[str, Any]] | None) -> str:
    """A stored body with its season summary filled in, without parsing the body."""
    if summary is None:
        return text
    at = text.rfind(_SEASON_SLOT)
    if at < 0:  # not a body this module wrote: take the long way
        body = json.loads(text)
        body["season_summary"] = summary
        return encode(body)
    head = '"season_summary":' + encode(summary) + ',"chain_status":'
    return text[:at] + head + text[at + len(_SEASON_SLOT) :]


def digest(text: str) -> str:
    """SHA-256 (hex) of a stored body's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def descendants(conn: Connection, lot_ids: Iterable[int]) -> list[int]:
    """The lots and every lot made from them (through any number of transformations), sorted."""
    seen = set(lot_ids)
    frontier = sorted(seen)
    while frontier:
        found = {c for (c,) in conn.execute(_CHILDREN, {"ids": frontier}) if c not in seen}
        seen |= found
        frontier = sorted(found)
    return sorted(seen)


def referring(conn: Connection, refs: list[str]) -> list[int]:
    """Lots whose stored view names one of ``refs`` (``uri:…``/``field:…``) that was unknown."""
    return sorted({lot_id for (lot_id,) in conn.execute(_REFERRING, {"refs": refs})})


def refresh(
    conn: Connection,
    lot_ids: Iterable[int],
    *,
    short: Short,
    built_at: str,
    recompute_hashes: bool = False,
) -> int:
    """Re-derive, verify and store the views of ``lot_ids`` on ``conn`` (inside the caller's
    write transaction, which must have flushed its rows); returns the number of views stored."""
    ids = sorted(set(lot_ids))
    stored = 0
    for start in range(0, len(ids), 500):  # under every backend's bound-parameter limit
        for lot_id, gtin, lot in conn.execute(_LOT_KEYS, {"ids": ids[start : start + 500]}).all():
            conn.execute(delete(ConsumerViewRef).where(ConsumerViewRef.lot_id == lot_id))
            conn.execute(delete(ConsumerView).where(ConsumerView.lot_id == lot_id))
            chain = read_chain(conn, gtin, lot)
            check = verify_chain(conn, chain, short=short, recompute_hashes=recompute_hashes)
            try:
                derived = derive_view(conn, chain, chain_problem(check))
            except (ValueError, TypeError, KeyError, AttributeError) as err:
                # A lot row edited outside the store (say, unreadable ``phi_json``) must not make
                # every later write to the lot fail: it keeps no stored view, so its page is
                # built on request (and fails there, as it did before views were stored).
                log.warning("consumer view of %s/%s not stored: %s", gtin, lot, err)
                continue
            text = encode(derived.body)
            fields, season = season_of(derived.body)
            conn.execute(
                insert(ConsumerView),
                {
                    "gtin": gtin,
                    "lot": lot,
                    "lot_id": lot_id,
                    "body": text,
                    "digest": digest(text),
                    "fields": encode(fields),
                    "season": season,
                    "chain_ok": chain_problem(check) is None,
                    "checkpoint_size": check.checkpoint_size,
                    "built_at": built_at,
                },
            )
            if derived.unresolved:
                conn.execute(
                    insert(ConsumerViewRef),
                    [{"ref": ref, "lot_id": lot_id} for ref in sorted(derived.unresolved)],
                )
            stored += 1
    return stored


def stored_matches(conn: Connection, lot_id: int, body: dict[str, Any]) -> bool:
    """Whether the stored view of the lot is exactly ``body`` (and its verification flag agrees)."""
    row = conn.execute(_STORED, {"lot_id": lot_id}).first()
    if row is None:
        return False
    return bool(row.body == encode(body) and row.chain_ok == (body["chain_problem"] is None))


def stored_body_sql(engine: Engine) -> str:
    """The one-row primary-key read of a stored view in the driver's own parameter style."""
    return driver_sql(engine, "SELECT body, fields, season FROM consumer_views WHERE gtin = {p} AND lot = {p}")


def read_stored_body(
    engine: Engine, sql: str, gtin: str, lot: str
) -> tuple[str, list[str], int | None] | None:
    """The stored view's JSON text, origin field ids and season, or ``None`` when the lot has
    none (yet); one statement on a plain DB-API cursor (:func:`traceability.db.fetch_raw`)."""
    rows = fetch_raw(engine, sql, (gtin, lot))
    row = rows[0] if rows else None
    return None if row is None else (row[0], json.loads(row[1]), row[2])
