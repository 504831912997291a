"""SQLAlchemy 2 ORM tables of the trace store (schema created by the Alembic migrations).

Timestamps are stored as ISO-8601 UTC strings (``2025-09-20T00:00:00.000Z``)
so that the bytes that are hashed and signed are identical on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gln: Mapped[str] = mapped_column(String(13), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    public_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    business_contact: Mapped[str | None] = mapped_column(String(100))
    # Personal data: never leaves the store through public views.
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    id_number: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(300))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    private_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[str] = mapped_column(String(32))


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(12), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[str] = mapped_column(String(32))
    revoked_at: Mapped[str | None] = mapped_column(String(32))


class Product(Base):
    __tablename__ = "products"
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    crop: Mapped[str] = mapped_column(String(40))
    variety: Mapped[str | None] = mapped_column(String(100))


class Location(Base):
    __tablename__ = "locations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uri: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    field_id: Mapped[str | None] = mapped_column(String(60), index=True)
    township: Mapped[str | None] = mapped_column(String(100))
    cooperative_id: Mapped[str | None] = mapped_column(String(60))
    cooperative_name: Mapped[str | None] = mapped_column(String(200))
    crop: Mapped[str | None] = mapped_column(String(40))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))


class Lot(Base):
    __tablename__ = "lots"
    __table_args__ = (UniqueConstraint("gtin", "lot", name="uq_lots_gtin_lot"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gtin: Mapped[str] = mapped_column(ForeignKey("products.gtin"))
    lot: Mapped[str] = mapped_column(String(20), index=True)
    quantity_kg: Mapped[float | None] = mapped_column(Float)
    custodian_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[str] = mapped_column(String(16))
    in_transit_to_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    location_uri: Mapped[str | None] = mapped_column(String(300))
    origin_field_id: Mapped[str | None] = mapped_column(String(60), index=True)
    harvested_at: Mapped[str | None] = mapped_column(String(32))
    sold_at: Mapped[str | None] = mapped_column(String(32))
    inspection: Mapped[str] = mapped_column(String(20), default="none")
    recalled: Mapped[bool] = mapped_column(Boolean, default=False)
    phi_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    phi_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[str] = mapped_column(String(32))


class LotLink(Base):
    """Lineage: ``child`` was made (transformation) from ``parent``."""

    __tablename__ = "lot_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    child_lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq"))


class Event(Base):
    __tablename__ = "events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(300), unique=True)
    event_hash: Mapped[str] = mapped_column(String(100))
    #: SHA-256 (hex) of ``document`` as stored, computed once at write time and covered by the
    #: recorder's signature (message version 2), so reads check content without re-canonicalising.
    #: Filled for older events by migration 0003 (their version 1 signature does not cover it).
    document_digest: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(40))
    biz_step: Mapped[str | None] = mapped_column(String(200))
    event_time: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[str] = mapped_column(String(32))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    document: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    log_index: Mapped[int] = mapped_column(Integer, unique=True)
    corrects_event_id: Mapped[str | None] = mapped_column(String(300))


class EventLot(Base):
    """One link of a lot's hash chain."""

    __tablename__ = "event_lots"
    __table_args__ = (UniqueConstraint("lot_id", "position", name="uq_event_lots_position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))


class LogLeaf(Base):
    __tablename__ = "log_leaves"
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq"), unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))


class LogNode(Base):
    """A perfect subtree of the Merkle log (leaves included), written once when it completes.

    ``key`` is :func:`traceability.merkle.node_key` ``(level, index)``; audit paths are
    read from here with one primary-key lookup per node (O(log n) rows).
    """

    __tablename__ = "log_nodes"
    key: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    hash: Mapped[str] = mapped_column(String(64))


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(Integer)
    root_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))


class Certificate(Base):
    """承诺达标合格证: one valid certificate per lot; re-issued on merge/split."""

    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    product_name: Mapped[str] = mapped_column(String(200))
    quantity_kg: Mapped[float | None] = mapped_column(Float)
    origin: Mapped[str] = mapped_column(Text)
    issued_on: Mapped[str] = mapped_column(String(10))
    committing_entity: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(100))
    basis: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(12), default="valid")
    supersedes: Mapped[str | None] = mapped_column(Text)


class Meta(Base):
    """Store-wide secrets and settings (the log's checkpoint signing key)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


class ConsumerView(Base):
    """The public consumer view of one lot, derived when its chain (or an ancestor's) changes.

    ``body`` is the JSON the resolver serves (``season_summary`` left ``null``: it comes from
    the pipeline outputs at read time); ``chain_ok``/``checkpoint_size`` record the
    verification the body's ``chain_status`` came from and the signed checkpoint it was
    checked against. A GET is one primary-key read of this table; ``verify_lot`` (the audit)
    re-derives the row and replaces it when it differs (see docs/SECURITY.md).
    """

    __tablename__ = "consumer_views"
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    lot: Mapped[str] = mapped_column(String(20), primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), unique=True)
    body: Mapped[str] = mapped_column(Text)
    #: SHA-256 (hex) of ``body``'s UTF-8 bytes.
    digest: Mapped[str] = mapped_column(String(64))
    #: JSON list of the origin field ids and the season (year of the earliest harvest) whose
    #: pipeline summary fills ``season_summary`` when served (``None``: the view has none).
    fields: Mapped[str] = mapped_column(Text)
    season: Mapped[int | None] = mapped_column(Integer)
    chain_ok: Mapped[bool] = mapped_column(Boolean)
    checkpoint_size: Mapped[int] = mapped_column(Integer)
    built_at: Mapped[str] = mapped_column(String(32))


class ConsumerViewRef(Base):
    """A location (``uri:<GLN URI>``) or field (``field:<id>``) a stored view names but the store
    did not know when the view was built: registering it rebuilds the views listed here."""

    __tablename__ = "consumer_view_refs"
    ref: Mapped[str] = mapped_column(String(310), primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), primary_key=True, index=True)


# ------------------------------------------------------------ hot-path reads
def driver_sql(engine: Engine, template: str) -> str:
    """``template`` with each ``{p}`` replaced by the driver's parameter marker (``?`` or ``%s``)."""
    return template.format(p="?" if engine.dialect.paramstyle == "qmark" else "%s")


def fetch_raw(engine: Engine, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows of one statement on a plain DB-API cursor of a pooled connection.

    For the public read paths (resolver, consumer view): one statement is atomic on its own on
    SQLite (autocommit) and PostgreSQL, and the Core layer's begin/rollback round trips would
    cost more than the indexed read itself.
    """
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            return [tuple(row) for row in cur.fetchall()]
        finally:
            cur.close()
    finally:
        raw.close()
