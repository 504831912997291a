"""The trace store: organisations, lots and signed, chained, logged EPCIS events.

Every write runs in one serialised transaction (SQLite ``BEGIN IMMEDIATE``,
PostgreSQL advisory lock) so that custody checks, the per-lot hash chains and
the gapless Merkle log stay consistent under concurrent writers: of two
organisations receiving the same shipped lot at once, exactly one succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from traceability import consumer, lot_chain, merkle, signing, views
from traceability.db import (
    ApiKey,
    Certificate,
    Checkpoint,
    Event,
    EventLot,
    Location,
    LogLeaf,
    LogNode,
    Lot,
    LotLink,
    Meta,
    Organisation,
    Product,
    driver_sql,
    fetch_raw,
)
from traceability.engine import create_store_engine, migrate
from traceability.epcis import builders
from traceability.epcis.hashing import event_hash
from traceability.epcis.models import parse_document
from traceability.errors import (
    AuthError,
    EpcisValidationError,
    EventConflictError,
    EventRuleError,
    PayloadTooLargeError,
    PermissionDeniedError,
    TraceError,
    UnknownLotError,
)
from traceability.gs1 import (
    normalise_gln,
    normalise_gtin,
    parse_digital_link,
    parse_party_uri,
    validate_lot,
)
from traceability.lot_chain import BrokenEvent
from traceability.phi import check_pre_harvest_intervals

ROLES = (
    "cooperative",
    "grower",
    "processor",
    "logistics",
    "wholesaler",
    "retailer",
    "inspector",
    "bureau",
)
HARVEST_ROLES = ("cooperative", "grower")
#: Roles that may recall any lot (besides its custodian).
RECALL_ROLES = ("bureau", "inspector")
#: Largest relative mismatch between input and output mass of a TransformationEvent.
MASS_TOLERANCE = 0.05
#: Events may be dated at most this far in the future (clock skew between partners).
CLOCK_SKEW = timedelta(minutes=10)
GENESIS = "0" * 64
#: Longest accepted eventID (the column holds 300 characters, corrections add a suffix).
MAX_EVENT_ID = 280
NONGSHU = builders.NONGSHU_NS


#: ``(gtin, lot)`` of a lot number (``ix_lots_lot``), and of a lot number of one GTIN
#: (``uq_lots_gtin_lot``), with ``{p}`` for the driver's parameter marker.
_FIND_LOT_SQL = "SELECT gtin, lot FROM lots WHERE lot = {p}"
_FIND_LOT_OF_GTIN_SQL = "SELECT gtin, lot FROM lots WHERE gtin = {p} AND lot = {p}"


def _now() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``: the stored form of every timestamp."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Principal:
    """An authenticated organisation."""

    gln: str
    name: str
    role: str
    key_id: str | None = None


@dataclass(frozen=True)
class RecordedEvent:
    event_id: str
    event_hash: str
    log_index: int
    created: bool


@dataclass
class VerifyReport:
    """Outcome of :meth:`TraceStore.verify_lot`."""

    gtin: str
    lot: str
    events_checked: int = 0
    lots_checked: int = 0
    checkpoint_size: int = 0
    first_broken: BrokenEvent | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_broken is None and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "gtin": self.gtin,
            "lot": self.lot,
            "ok": self.ok,
            "events_checked": self.events_checked,
            "lots_checked": self.lots_checked,
            "checkpoint_size": self.checkpoint_size,
            "first_broken": None if self.first_broken is None else vars(self.first_broken),
            "problems": list(self.problems),
        }


def _lot_key(uri: str, path: str) -> tuple[str, str]:
    try:
        link = parse_digital_link(uri)
    except TraceError as err:
        raise EventRuleError(
            "not a lot identifier",
            field=path,
            expected="https://id.gs1.org/01/<GTIN>/10/<lot>",
            got=uri,
        ) from err
    if link.lot is None:
        raise EventRuleError(
            "identifier without a lot number", field=path, expected="…/01/<GTIN>/10/<lot>", got=uri
        )
    return link.gtin, link.lot


def _kg(item: Mapping[str, Any], path: str) -> float | None:
    qty = item.get("quantity")
    if qty is None:
        return None
    factor = {"KGM": 1.0, "TNE": 1000.0, "GRM": 0.001, None: None}.get(item.get("uom"))
    if factor is None:
        raise EventRuleError(
            "unsupported unit of mass",
            field=f"{path}.uom",
            expected="KGM, TNE or GRM",
            got=item.get("uom"),
        )
    return float(qty) * factor


def _objects(event: Mapping[str, Any], *keys: str) -> list[tuple[str, str, float | None, str]]:
    """``(gtin, lot, kg, json_path)`` of the lots named in the given EPC/quantity lists."""
    out: list[tuple[str, str, float | None, str]] = []
    for key in keys:
        for i, item in enumerate(event.get(key) or []):
            path = f"$.{key}[{i}]"
            if isinstance(item, str):
                gtin, lot = _lot_key(item, path)
                out.append((gtin, lot, None, path))
            else:
                gtin, lot = _lot_key(item["epcClass"], f"{path}.epcClass")
                out.append((gtin, lot, _kg(item, path), path))
    return out


def _short(value: str | None) -> str | None:
    if value is None:
        return None
    for prefix in (
        "https://ref.gs1.org/cbv/BizStep-",
        "https://ref.gs1.org/cbv/Disp-",
        "https://ref.gs1.org/cbv/",
    ):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


class TraceStore:
    """Open with :meth:`open`; every public method runs its own transaction."""

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        if migrate_schema:
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if self.engine.dialect.name == "sqlite":
            self._read_engine = create_store_engine(url, for_reading=True)
        else:
            self._read_engine = self.engine
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        self._find_lot_sql = driver_sql(self._read_engine, _FIND_LOT_SQL)
        self._find_lot_of_gtin_sql = driver_sql(self._read_engine, _FIND_LOT_OF_GTIN_SQL)
        self._view_sql = views.stored_body_sql(self._read_engine)

    @classmethod
    def open(cls, url: str) -> TraceStore:
        """Open (and migrate to the latest schema) the store at a SQLAlchemy URL."""
        return cls(url)

    def close(self) -> None:
        self.engine.dispose()
        self._read_engine.dispose()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A serialised write transaction; before it commits, the consumer views of the lots
        its events touched (and of every lot made from them) are rebuilt and stored."""
        with self._sessions() as session, session.begin():
            if self.engine.dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(7250002)"))
            yield session
            dirty = session.info.pop("dirty_lots", None)
            if dirty:
                session.flush()
                conn = session.connection()
                views.refresh(
                    conn, views.descendants(conn, dirty), short=_short, built_at=iso(_now())
                )

    @staticmethod
    def _touch(s: Session, lot_ids: Iterable[int]) -> None:
        """Mark lots whose consumer view must be rebuilt before the transaction commits."""
        s.info.setdefault("dirty_lots", set()).update(lot_ids)

    # ------------------------------------------------------------ organisations
    def create_organisation(
        self,
        *,
        gln: str,
        name: str,
        role: str,
        public_name: str | None = None,
        business_contact: str | None = None,
        contact_phone: str | None = None,
        id_number: str | None = None,
        address: str | None = None,
    ) -> Principal:
        """Register an organisation with a new Ed25519 signing key; idempotent on ``gln``."""
        gln = normalise_gln(gln)
        limits = {
            "name": (name, 200),
            "public_name": (public_name, 200),
            "business_contact": (business_contact, 100),
            "contact_phone": (contact_phone, 40),
            "id_number": (id_number, 40),
            "address": (address, 300),
        }
        for key, (value, limit) in limits.items():
            if value is not None and len(value) > limit:
                raise TraceError(
                    "value too long", field=key, expected=f"at most {limit} characters"
                )
        if role not in ROLES:
            raise TraceError(
                "unknown organisation role", field="role", expected=" / ".join(ROLES), got=role
            )
        with self._write() as s:
            existing = s.scalar(select(Organisation).where(Organisation.gln == gln))
            if existing is not None:
                if existing.role != role:
                    raise EventConflictError(
                        "GLN already registered with another role", field="gln", got=gln
                    )
                return Principal(existing.gln, existing.name, existing.role)
            keys = signing.new_keypair()
            s.add(
                Organisation(
                    gln=gln,
                    name=name,
                    public_name=public_name or name,
                    role=role,
                    business_contact=business_contact,
                    contact_phone=contact_phone,
                    id_number=id_number,
                    address=address,
                    public_key=keys.public,
                    private_key=keys.private,
                    created_at=iso(_now()),
                )
            )
        return Principal(gln, name, role)

    def issue_api_key(self, gln: str, *, label: str = "") -> str:
        """A new API key for the organisation; only its SHA-256 is stored, the key is returned once."""
        gln = normalise_gln(gln)
        key, key_id, digest = signing.new_api_key()
        with self._write() as s:
            org = self._org(s, gln)
            s.add(
                ApiKey(
                    key_id=key_id,
                    key_hash=digest,
                    organisation_id=org.id,
                    label=label,
                    created_at=iso(_now()),
                )
            )
        return key

    def api_keys(self, gln: str | None = None) -> list[dict[str, Any]]:
        """Issued API keys (id, organisation, label, created/revoked times), never the key or its digest."""
        with self._read() as s:
            query = select(ApiKey, Organisation).join(Organisation, ApiKey.organisation_id == Organisation.id)
            if gln is not None:
                query = query.where(Organisation.gln == self._org(s, normalise_gln(gln)).gln)
            rows = s.execute(query.order_by(ApiKey.created_at, ApiKey.key_id)).all()
            return [
                {"key_id": key.key_id, "gln": org.gln, "organisation": org.name, "role": org.role,
                 "label": key.label, "created_at": key.created_at, "revoked_at": key.revoked_at}
                for key, org in rows
            ]

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key by its id: every later request with it is a 401 (events it recorded stay valid)."""
        with self._write() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
            if row is None:
                raise AuthError("unknown API key id", field="key_id", got=key_id)
            row.revoked_at = row.revoked_at or iso(_now())

    def authenticate(self, api_key: str) -> Principal:
        """The organisation of an API key; :class:`AuthError` (HTTP 401) when unknown or revoked."""
        key_id = signing.key_id_of(api_key or "")
        presented = signing.hash_api_key(api_key or "")
        with self._read() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_id == (key_id or "")))
            stored = row.key_hash if row is not None else "0" * 64
            # Compare even when the id is unknown so both paths cost the same.
            matches = signing.digests_equal(presented, stored)
            if row is None or not matches or row.revoked_at is not None:
                raise AuthError("unknown or revoked API key", field="api_key")
            org = s.get(Organisation, row.organisation_id)
            assert org is not None
            return Principal(org.gln, org.name, org.role, key_id)

    def organisation(self, gln: str) -> dict[str, Any]:
        """Public description of an organisation (no personal data)."""
        with self._read() as s:
            org = self._org(s, gln)
            return {
                "gln": org.gln,
                "name": org.public_name,
                "role": org.role,
                "public_key": org.public_key.hex(),
                "business_contact": org.business_contact,
            }

    @staticmethod
    def _org(s: Session, gln: str) -> Organisation:
        org = s.scalar(select(Organisation).where(Organisation.gln == gln))
        if org is None:
            raise PermissionDeniedError("unknown organisation", field="gln", got=gln)
        return org

    # -------------------------------------------------------------- master data
    def register_product(
        self, *, gtin: str, name: str, crop: str, variety: str | None = None
    ) -> str:
        gtin = normalise_gtin(gtin)
        with self._write() as s:
            row = s.get(Product, gtin)
            if row is None:
                s.add(Product(gtin=gtin, name=name, crop=crop, variety=variety))
        return gtin

    def register_location(
        self,
        *,
        uri: str,
        kind: str,
        name: str,
        organisation_gln: str | None = None,
        field_id: str | None = None,
        township: str | None = None,
        cooperative_id: str | None = None,
        cooperative_name: str | None = None,
        crop: str | None = None,
    ) -> str:
        """A field, warehouse, lab or shop (``kind``), keyed by its GLN URI; idempotent."""
        if kind not in ("field", "warehouse", "packhouse", "lab", "shop", "market"):
            raise TraceError(
                "unknown location kind",
                field="kind",
                expected="field / warehouse / packhouse / lab / shop / market",
                got=kind,
            )
        with self._write() as s:
            row = s.scalar(select(Location).where(Location.uri == uri))
            org_id = self._org(s, organisation_gln).id if organisation_gln else None
            if row is None:
                s.add(
                    Location(
                        uri=uri,
                        kind=kind,
                        name=name,
                        organisation_id=org_id,
                        field_id=field_id,
                        township=township,
                        cooperative_id=cooperative_id,
                        cooperative_name=cooperative_name,
                        crop=crop,
                    )
                )
                # Views built while this place was unknown show it without a name: rebuild them.
                refs = [f"uri:{uri}"] + ([f"field:{field_id}"] if field_id else [])
                s.flush()
                waiting = views.referring(s.connection(), refs)
                if waiting:
                    views.refresh(s.connection(), waiting, short=_short, built_at=iso(_now()))
        return uri

    # ------------------------------------------------------------------ writes
    def record_event(
        self, principal: Principal, event: Mapping[str, Any], *, context: Any = None
    ) -> RecordedEvent:
        """Validate, authorise, hash, sign, chain and log one EPCIS event (idempotent on ``eventID``)."""
        doc = parse_document(builders.document([event]), source="event")
        del doc  # validated shape; work on the plain dict from here
        with self._write() as s:
            return self._record(s, principal, dict(event), context)

    def import_document(
        self,
        principal: Principal,
        data: bytes | str | Mapping[str, Any],
        *,
        max_bytes: int = 10 * 2**20,
        source: str = "EPCIS document",
    ) -> list[RecordedEvent]:
        """Import a partner's EPCIS 2.0 JSON-LD document atomically: all its events or none."""
        if isinstance(data, (bytes, str)):
            raw = data.encode("utf-8") if isinstance(data, str) else data
            if len(raw) > max_bytes:
                raise PayloadTooLargeError(
                    "import too large",
                    source=source,
                    expected=f"at most {max_bytes} bytes",
                    got=len(raw),
                )
            try:
                parsed = json.loads(raw.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise EpcisValidationError(
                    f"not valid JSON: {err}", source=source, field="$"
                ) from err
        else:
            parsed = dict(data)
        parse_document(parsed, source=source)
        context = parsed.get("@context")
        with self._write() as s:
            out = []
            for i, event in enumerate(parsed["epcisBody"]["eventList"]):
                try:
                    out.append(self._record(s, principal, dict(event), context))
                except TraceError as err:
                    where = f"$.epcisBody.eventList[{i}]"
                    err.field = where + (
                        err.field[1:]
                        if err.field and err.field.startswith("$")
                        else (f".{err.field}" if err.field else "")
                    )
                    err.source = source
                    err.args = (err._format(),)
                    raise
            return out

    def _record(
        self,
        s: Session,
        principal: Principal,
        event: dict[str, Any],
        context: Any,
        *,
        recall_authorised: bool = False,
    ) -> RecordedEvent:
        org = self._org(s, principal.gln)
        event.setdefault("@context", context if context is not None else builders.CONTEXT)
        digest = event_hash(event)
        for key, limit in (("eventID", MAX_EVENT_ID), ("bizStep", 200)):
            value = event.get(key)
            if isinstance(value, str) and len(value) > limit:
                raise EventRuleError(
                    f"{key} too long", field=f"$.{key}", expected=f"at most {limit} characters"
                )
        for key in ("readPoint", "bizLocation"):
            where = event.get(key)
            if (
                isinstance(where, dict)
                and isinstance(where.get("id"), str)
                and len(where["id"]) > 300
            ):
                raise EventRuleError(
                    f"{key} too long", field=f"$.{key}.id", expected="at most 300 characters"
                )
        if event.get("errorDeclaration"):
            # A correction re-sends the original event (same eventID) with errorDeclaration added
            # (EPCIS 2.0 §7.4.1.2); it is stored beside the original, which is never edited.
            event_id = f"{event.get('eventID')}#error-declaration"
        else:
            event_id = event.get("eventID") or digest
            event["eventID"] = event_id
        existing = s.scalar(select(Event).where(Event.event_id == event_id))
        if existing is not None:
            if existing.event_hash == digest:
                # Idempotent replay: nothing changes, the event stays attributed to its first recorder.
                return RecordedEvent(
                    existing.event_id, existing.event_hash, existing.log_index, False
                )
            raise EventConflictError(
                "a different event with this eventID is already stored",
                field="eventID",
                got=event_id,
            )
        event_time = _parse_time(event["eventTime"])
        if event_time > _now() + CLOCK_SKEW:
            raise EventRuleError(
                "event time is in the future", field="eventTime", got=event["eventTime"]
            )
        effects = self._apply(s, org, event, event_time, recall_authorised=recall_authorised)
        recorded_at = iso(_now())
        last_index = s.scalar(select(func.max(LogLeaf.index)))
        log_index = 0 if last_index is None else last_index + 1
        document = json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        row = Event(
            event_id=event_id,
            event_hash=digest,
            event_type=event["type"],
            biz_step=_short(event.get("bizStep")),
            event_time=iso(event_time),
            recorded_at=recorded_at,
            organisation_id=org.id,
            document=document,
            document_digest=lot_chain.document_digest(document),
            signature="",
            log_index=log_index,
            corrects_event_id=effects.get("corrects"),
        )
        row.signature = signing.sign(org.private_key, self._signed_message(row, org.gln)).hex()
        s.add(row)
        s.flush()
        for lot, role in effects["lots"]:
            self._chain(s, row, lot, role)
        self._touch(s, (lot.id for lot, _role in effects["lots"]))
        for parent, child in effects.get("links", []):
            s.add(LotLink(parent_lot_id=parent.id, child_lot_id=child.id, event_seq=row.seq))
        leaf = self._leaf(row)
        s.add(LogLeaf(index=log_index, event_seq=row.seq, leaf_hash=leaf.hex()))
        s.flush()
        self._checkpoint(s, leaf, log_index + 1)
        return RecordedEvent(event_id, digest, log_index, True)

    @staticmethod
    def _signed_message(row: Event, gln: str) -> bytes:
        return lot_chain.signed_message(
            event_id=row.event_id,
            event_hash=row.event_hash,
            gln=gln,
            event_type=row.event_type,
            biz_step=row.biz_step,
            event_time=row.event_time,
            recorded_at=row.recorded_at,
            log_index=row.log_index,
            corrects_event_id=row.corrects_event_id,
            document_digest=row.document_digest,
        )

    @staticmethod
    def _leaf(row: Event) -> bytes:
        return lot_chain.leaf_for(row.event_id, row.event_hash, row.signature)

    @staticmethod
    def _link_hash(prev: str, row: Event, role: str) -> str:
        return lot_chain.link_hash(prev, row.event_hash, row.signature, role)

    def _chain(self, s: Session, row: Event, lot: Lot, role: str) -> None:
        last = s.scalar(
            select(EventLot)
            .where(EventLot.lot_id == lot.id)
            .order_by(EventLot.position.desc())
            .limit(1)
        )
        prev = last.chain_hash if last else GENESIS
        s.add(
            EventLot(
                event_seq=row.seq,
                lot_id=lot.id,
                role=role,
                position=(last.position + 1) if last else 0,
                prev_hash=prev,
                chain_hash=self._link_hash(prev, row, role),
            )
        )

    def _checkpoint(self, s: Session, leaf: bytes, size: int) -> None:
        """Extend the log's compact range with ``leaf`` and sign a checkpoint of the new tree head."""
        state = s.get(Meta, "log_frontier")
        frontier = [(n, bytes.fromhex(h)) for n, h in json.loads(state.value)] if state else []
        if sum(n for n, _ in frontier) != size - 1:
            # Compact range missing or out of step: rebuild it from the stored leaves.
            frontier = []
            for h in s.scalars(
                select(LogLeaf.leaf_hash).where(LogLeaf.index < size - 1).order_by(LogLeaf.index)
            ):
                frontier = merkle.frontier_append(frontier, bytes.fromhex(h))
        frontier, nodes = merkle.append_with_nodes(frontier, leaf)
        s.add_all(LogNode(key=key, hash=h.hex()) for key, h in nodes)
        encoded = json.dumps([[n, h.hex()] for n, h in frontier]).encode()
        if state is None:
            s.add(Meta(key="log_frontier", value=encoded))
        else:
            state.value = encoded
        root = merkle.frontier_root(frontier).hex()
        signed_at = iso(_now())
        message = self._checkpoint_message(size, root, signed_at)
        s.add(
            Checkpoint(
                tree_size=size,
                root_hash=root,
                signed_at=signed_at,
                signature=signing.sign(self._log_key(s).private, message).hex(),
            )
        )

    @staticmethod
    def _checkpoint_message(size: int, root: str, signed_at: str) -> bytes:
        return lot_chain.checkpoint_message(size, root, signed_at)

    @staticmethod
    def _log_key(s: Session) -> signing.KeyPair:
        priv = s.get(Meta, "log_private_key")
        pub = s.get(Meta, "log_public_key")
        if priv is None or pub is None:
            keys = signing.new_keypair()
            s.add_all(
                [
                    Meta(key="log_private_key", value=keys.private),
                    Meta(key="log_public_key", value=keys.public),
                ]
            )
            s.flush()
            return keys
        return signing.KeyPair(private=priv.value, public=pub.value)

    # ----------------------------------------------------------- event effects
    def _lot(self, s: Session, gtin: str, lot: str, path: str = "lot") -> Lot:
        row = s.scalar(select(Lot).where(Lot.gtin == gtin, Lot.lot == lot))
        if row is None:
            raise UnknownLotError("unknown lot", field=path, got=f"{gtin}/{lot}")
        return row

    def _check_time(
        self, lot: Lot, when: datetime, path: str, *, allow_after_sale: bool = False
    ) -> None:
        if lot.harvested_at and when < _parse_time(lot.harvested_at):
            raise EventRuleError(
                "event before the lot's harvest",
                field="$.eventTime",
                expected=f"not before {lot.harvested_at}",
                got=iso(when),
            )
        if lot.status == "sold" and not allow_after_sale:
            raise EventRuleError(
                "event after the lot's sale",
                field=path,
                expected=f"no event after {lot.sold_at}",
                got=f"{lot.gtin}/{lot.lot}",
            )
        if lot.status == "consumed" and not allow_after_sale:
            raise EventRuleError(
                "the lot was used up by a transformation", field=path, got=f"{lot.gtin}/{lot.lot}"
            )

    def _held(self, org: Organisation, lot: Lot, path: str, action: str) -> None:
        if lot.custodian_id != org.id or lot.status not in ("active",):
            state = "in transit" if lot.status == "in_transit" else "not in its custody"
            raise PermissionDeniedError(
                f"cannot record {action}: lot {state}", field=path, got=f"{lot.gtin}/{lot.lot}"
            )

    def _new_lot(
        self,
        s: Session,
        org: Organisation,
        gtin: str,
        lot: str,
        kg: float | None,
        path: str,
        location: str | None,
    ) -> Lot:
        validate_lot(lot)
        if s.get(Product, gtin) is None:
            raise EventRuleError(
                "unknown product GTIN: register the product first", field=path, got=gtin
            )
        if s.scalar(select(Lot.id).where(Lot.gtin == gtin, Lot.lot == lot)) is not None:
            raise EventConflictError("lot already exists", field=path, got=f"{gtin}/{lot}")
        row = Lot(
            gtin=gtin,
            lot=lot,
            quantity_kg=kg,
            custodian_id=org.id,
            status="active",
            location_uri=location,
            created_at=iso(_now()),
            inspection="none",
            recalled=False,
            phi_flag=False,
            phi_json="[]",
        )
        s.add(row)
        s.flush()
        return row

    def _apply(
        self,
        s: Session,
        org: Organisation,
        event: dict[str, Any],
        when: datetime,
        *,
        recall_authorised: bool = False,
    ) -> dict[str, Any]:
        kind = event["type"]
        step = _short(event.get("bizStep"))
        disposition = _short(event.get("disposition"))
        location = (event.get("bizLocation") or event.get("readPoint") or {}).get("id")
        if event.get("errorDeclaration"):
            return self._apply_error_declaration(s, org, event)
        if kind == "TransformationEvent":
            return self._apply_transformation(s, org, event, when, location)
        if kind == "AggregationEvent":
            lots = []
            for gtin, lot, _kg, path in _objects(event, "childEPCs", "childQuantityList"):
                row = self._lot(s, gtin, lot, path)
                self._check_time(row, when, path)
                self._held(org, row, path, "packing")
                lots.append((row, "subject"))
            if not lots:
                raise EventRuleError("packing names no lot", field="$.childQuantityList")
            return {"lots": lots}
        action = event.get("action")
        objects = _objects(event, "epcList", "quantityList")
        if not objects:
            raise EventRuleError("event names no lot", field="$.quantityList")
        if action == "ADD" and step == "commissioning":
            return self._apply_harvest(s, org, event, when, objects, location)
        lots = []
        for gtin, lot, _kg, path in objects:
            row = self._lot(s, gtin, lot, path)
            if disposition == "recalled":
                self._check_time(row, when, path, allow_after_sale=True)
                if (
                    not recall_authorised
                    and org.role not in RECALL_ROLES
                    and row.custodian_id != org.id
                ):
                    raise PermissionDeniedError(
                        "only the custodian, an inspector or the bureau may recall a lot",
                        field=path,
                        got=f"{gtin}/{lot}",
                    )
                row.recalled = True
            elif step == "inspecting":
                self._check_time(row, when, path)
                if org.role != "inspector" and row.custodian_id != org.id:
                    raise PermissionDeniedError(
                        "only inspectors or the custodian may inspect a lot", field=path
                    )
                if disposition in ("conformant", "non_conformant"):
                    row.inspection = (
                        "non_conformant"
                        if "non_conformant" in (disposition, row.inspection)
                        else disposition
                    )
            elif step == "shipping":
                self._check_time(row, when, path)
                self._held(org, row, path, "shipping")
                dest = [
                    d
                    for d in event.get("destinationList") or []
                    if _short(d.get("type")) in ("owning_party", "possessing_party")
                ]
                if not dest:
                    raise EventRuleError(
                        "shipping needs a destination party",
                        field="$.destinationList",
                        expected="an owning_party or possessing_party GLN",
                    )
                to_gln = parse_party_uri(dest[0]["destination"])
                receiver = s.scalar(select(Organisation).where(Organisation.gln == to_gln))
                if receiver is None:
                    raise EventRuleError(
                        "unknown destination party",
                        field="$.destinationList[0].destination",
                        got=to_gln,
                    )
                row.status, row.in_transit_to_id = "in_transit", receiver.id
            elif step == "receiving":
                self._check_time(row, when, path)
                if row.status != "in_transit" or row.in_transit_to_id != org.id:
                    raise PermissionDeniedError(
                        "lot was not shipped to this organisation (or was already received)",
                        field=path,
                        got=f"{gtin}/{lot}",
                    )
                # Guarded update: the row changes only if it is still in transit to us.
                row.status, row.custodian_id, row.in_transit_to_id, row.location_uri = (
                    "active",
                    org.id,
                    None,
                    location,
                )
            elif step == "retail_selling":
                self._check_time(row, when, path)
                self._held(org, row, path, "a retail sale")
                if org.role != "retailer":
                    raise PermissionDeniedError(
                        "only retailers record retail sales", field="role", got=org.role
                    )
                row.status, row.sold_at, row.location_uri = "sold", iso(when), location
            else:
                self._check_time(row, when, path)
                self._held(org, row, path, step or "an event")
            lots.append((row, "subject"))
        return {"lots": lots}

    @staticmethod
    def _sprayings(ops: Any) -> list[dict[str, Any]]:
        """The spraying records of a harvest's ILMD ``nongshu:farmOperations`` list."""
        path = "$.ilmd.nongshu:farmOperations"
        if not isinstance(ops, list):
            raise EventRuleError("farm operations must be a list", field=path)
        sprays = []
        for i, op in enumerate(ops):
            if not isinstance(op, dict):
                raise EventRuleError("a farm operation must be an object", field=f"{path}[{i}]")
            if op.get("nongshu:operation") != "spraying":
                continue
            try:
                applied = date.fromisoformat(str(op.get("nongshu:date")))
            except ValueError:
                raise EventRuleError(
                    "not a date",
                    field=f"{path}[{i}].nongshu:date",
                    expected="YYYY-MM-DD",
                    got=op.get("nongshu:date"),
                ) from None
            ai = op.get("nongshu:activeIngredient")
            sprays.append(
                {
                    "date": applied,
                    "product": str(op.get("nongshu:product") or ""),
                    "active_ingredient": ai if isinstance(ai, str) else None,
                }
            )
        return sprays

    def _apply_harvest(
        self,
        s: Session,
        org: Organisation,
        event: dict[str, Any],
        when: datetime,
        objects: list[tuple[str, str, float | None, str]],
        location: str | None,
    ) -> dict[str, Any]:
        if org.role not in HARVEST_ROLES:
            raise PermissionDeniedError(
                "only growers and cooperatives record harvests", field="role", got=org.role
            )
        ilmd = event.get("ilmd") or {}
        field_id = ilmd.get("nongshu:fieldID")
        crop = ilmd.get("nongshu:crop")
        if not isinstance(field_id, str) or not field_id or not isinstance(crop, str) or not crop:
            raise EventRuleError(
                "harvest ILMD needs the field and crop",
                field="$.ilmd",
                expected="strings nongshu:fieldID and nongshu:crop",
            )
        if len(field_id) > 60 or len(crop) > 40:
            raise EventRuleError(
                "field id or crop too long", field="$.ilmd", expected="<= 60 / 40 characters"
            )
        sprays = self._sprayings(ilmd.get("nongshu:farmOperations") or [])
        checks = [c.as_dict() for c in check_pre_harvest_intervals(sprays, when.date(), crop)]
        flagged = any(c["violated"] for c in checks)
        lots = []
        for gtin, lot, kg, path in objects:
            row = self._new_lot(s, org, gtin, lot, kg, path, location)
            row.origin_field_id, row.harvested_at = field_id, iso(when)
            row.phi_flag, row.phi_json = flagged, json.dumps(checks, ensure_ascii=False)
            self._issue_certificate(
                s,
                org,
                row,
                when,
                ilmd.get("nongshu:certificateBasis") or "quality_control",
                origin=self._origin_text(s, field_id),
                supersedes=None,
            )
            lots.append((row, "output"))
        return {"lots": lots}

    def _apply_transformation(
        self,
        s: Session,
        org: Organisation,
        event: dict[str, Any],
        when: datetime,
        location: str | None,
    ) -> dict[str, Any]:
        inputs = _objects(event, "inputEPCList", "inputQuantityList")
        outputs = _objects(event, "outputEPCList", "outputQuantityList")
        if not inputs or not outputs:
            raise EventRuleError(
                "a transformation needs input and output lots", field="$.inputQuantityList"
            )
        in_rows = []
        for gtin, lot, _kg, path in inputs:
            row = self._lot(s, gtin, lot, path)
            self._check_time(row, when, path)
            self._held(org, row, path, "processing")
            in_rows.append(row)
        kg_in = [
            kg if kg is not None else r.quantity_kg
            for (_g, _l, kg, _p), r in zip(inputs, in_rows, strict=True)
        ]
        kg_out = [kg for *_x, kg, _p in outputs]
        if all(k is not None for k in kg_in) and all(k is not None for k in kg_out):
            total_in, total_out = sum(kg_in), sum(kg_out)  # type: ignore[arg-type]
            if total_in <= 0 or abs(total_out - total_in) > MASS_TOLERANCE * total_in:
                raise EventRuleError(
                    "input and output quantities do not balance",
                    field="$.outputQuantityList",
                    expected=f"outputs within {MASS_TOLERANCE:.0%} of inputs ({total_in:g} kg)",
                    got=f"{total_out:g} kg",
                )
        ilmd = event.get("ilmd") or {}
        basis = ilmd.get("nongshu:certificateBasis") or "quality_control"
        harvested = [r.harvested_at for r in in_rows if r.harvested_at]
        fields = sorted({f for r in in_rows for f in self._origin_fields(s, r)})
        phi = [c for r in in_rows for c in json.loads(r.phi_json)]
        out_rows = []
        for gtin, lot, kg, path in outputs:
            row = self._new_lot(s, org, gtin, lot, kg, path, location)
            row.harvested_at = max(harvested) if harvested else None
            row.origin_field_id = fields[0] if len(fields) == 1 else None
            row.phi_flag = any(r.phi_flag for r in in_rows)
            row.phi_json = json.dumps(phi, ensure_ascii=False)
            row.inspection = (
                "non_conformant"
                if any(r.inspection == "non_conformant" for r in in_rows)
                else "none"
            )
            out_rows.append(row)
        superseded = []
        for r in in_rows:
            r.status = "consumed"
            for cert in s.scalars(
                select(Certificate).where(Certificate.lot_id == r.id, Certificate.status == "valid")
            ):
                cert.status = "superseded"
                superseded.append(cert.number)
        for row in out_rows:
            origin = "; ".join(self._origin_text(s, f) for f in fields) or "mixed origin"
            self._issue_certificate(
                s, org, row, when, basis, origin=origin, supersedes=",".join(superseded) or None
            )
        roles = [(r, "input") for r in in_rows] + [(r, "output") for r in out_rows]
        return {"lots": roles, "links": [(p, c) for p in in_rows for c in out_rows]}

    def _apply_error_declaration(
        self, s: Session, org: Organisation, event: dict[str, Any]
    ) -> dict[str, Any]:
        """A correction (EPCIS 2.0 §7.4.1.2): the original event re-sent with ``errorDeclaration``."""
        original_id = event.get("eventID")
        original = s.scalar(
            select(Event).where(Event.corrects_event_id.is_(None), Event.event_id == original_id)
        )
        if original is None:
            raise EventRuleError(
                "error declaration for an unknown event", field="$.eventID", got=original_id
            )
        if original.organisation_id != org.id and org.role not in RECALL_ROLES:
            raise PermissionDeniedError(
                "only the recording organisation may declare its event erroneous", field="$.eventID"
            )
        found = [
            s.get(Lot, el.lot_id)
            for el in s.scalars(select(EventLot).where(EventLot.event_seq == original.seq))
        ]
        lots = [lot for lot in found if lot is not None]
        if original.biz_step == "inspecting":
            for lot in lots:
                lot.inspection = self._inspection_status(s, lot, ignore={original.event_id})
        return {"lots": [(lot, "correction") for lot in lots], "corrects": original_id}

    @staticmethod
    def _inspection_status(s: Session, lot: Lot, ignore: set[str]) -> str:
        """Worst disposition of the lot's inspections that were not declared erroneous."""
        corrected = set(
            s.scalars(select(Event.corrects_event_id).where(Event.corrects_event_id.is_not(None)))
        )
        status = "none"
        q = (
            select(Event)
            .join(EventLot, EventLot.event_seq == Event.seq)
            .where(
                EventLot.lot_id == lot.id,
                Event.biz_step == "inspecting",
                Event.corrects_event_id.is_(None),
            )
        )
        for ev in s.scalars(q):
            if ev.event_id in ignore or ev.event_id in corrected:
                continue
            disposition = _short(json.loads(ev.document).get("disposition"))
            if disposition == "non_conformant":
                return "non_conformant"
            if disposition == "conformant":
                status = "conformant"
        return status

    # ---------------------------------------------------------- certificates
    def _origin_fields(self, s: Session, lot: Lot) -> set[str]:
        if lot.origin_field_id:
            return {lot.origin_field_id}
        return set(self._backward(s, lot)[0])

    @staticmethod
    def _origin_text(s: Session, field_id: str) -> str:
        loc = s.scalar(select(Location).where(Location.field_id == field_id))
        if loc is None:
            return f"field {field_id}"
        parts = [loc.township, loc.cooperative_name, f"field {field_id}"]
        return ", ".join(p for p in parts if p)

    def _issue_certificate(
        self,
        s: Session,
        org: Organisation,
        lot: Lot,
        when: datetime,
        basis: str,
        *,
        origin: str,
        supersedes: str | None,
    ) -> None:
        if basis not in builders.CERTIFICATE_BASES:
            raise EventRuleError(
                "unknown certificate basis",
                field="$.ilmd.nongshu:certificateBasis",
                expected=" / ".join(builders.CERTIFICATE_BASES),
                got=basis,
            )
        product = s.get(Product, lot.gtin)
        assert product is not None
        s.add(
            Certificate(
                number=f"CN-HGZ-{lot.gtin}-{lot.lot}",
                lot_id=lot.id,
                product_name=product.name,
                quantity_kg=lot.quantity_kg,
                origin=origin,
                issued_on=when.date().isoformat(),
                committing_entity=org.public_name,
                contact=org.business_contact,
                basis=basis,
                status="valid",
                supersedes=supersedes,
            )
        )

    # ------------------------------------------------------------------ reads
    def find_lot(self, lot: str, gtin: str | None = None) -> tuple[str, str]:
        """``(gtin, lot)`` of a lot number, optionally with its GTIN; refuses ambiguous numbers."""
        # A hot path (every resolver lookup): one statement on a pooled DB-API connection.
        params: tuple[str, ...]
        if gtin:
            sql, params = self._find_lot_of_gtin_sql, (normalise_gtin(gtin), lot)
        else:
            sql, params = self._find_lot_sql, (lot,)
        rows = fetch_raw(self._read_engine, sql, params)
        if not rows:
            raise UnknownLotError(
                "unknown lot", field="lot", got=lot if not gtin else f"{gtin}/{lot}"
            )
        if len(rows) > 1:
            raise UnknownLotError(
                "lot number used by several products: give the GTIN",
                field="lot",
                got=[r[0] for r in rows],
            )
        return rows[0][0], rows[0][1]

    def lots(
        self,
        *,
        status: str | None = None,
        custodian_gln: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Summaries of lots, newest first."""
        with self._read() as s:
            q = (
                select(Lot, Product, Organisation)
                .join(Product, Product.gtin == Lot.gtin)
                .join(Organisation, Organisation.id == Lot.custodian_id)
            )
            if status:
                q = q.where(Lot.status == status)
            if custodian_gln:
                q = q.where(Organisation.gln == custodian_gln)
            q = q.order_by(Lot.id.desc()).limit(max(0, min(limit, 10000))).offset(max(0, offset))
            return [
                self._lot_summary(lot, product, org) for lot, product, org in s.execute(q).all()
            ]

    @staticmethod
    def _lot_summary(lot: Lot, product: Product, org: Organisation) -> dict[str, Any]:
        return {
            "gtin": lot.gtin,
            "lot": lot.lot,
            "product": product.name,
            "crop": product.crop,
            "quantity_kg": lot.quantity_kg,
            "status": lot.status,
            "custodian": org.public_name,
            "custodian_gln": org.gln,
            "origin_field_id": lot.origin_field_id,
            "harvested_at": lot.harvested_at,
            "inspection": lot.inspection,
            "recalled": lot.recalled,
            "phi_flag": lot.phi_flag,
        }

    def lot(self, gtin: str, lot: str) -> dict[str, Any]:
        """A lot's summary, certificate, pre-harvest interval checks and events (oldest first)."""
        gtin = normalise_gtin(gtin)
        with self._read() as s:
            row = self._lot(s, gtin, lot)
            product = s.get(Product, row.gtin)
            org = s.get(Organisation, row.custodian_id)
            assert product is not None and org is not None
            out = self._lot_summary(row, product, org)
            out["phi_checks"] = json.loads(row.phi_json)
            out["certificate"] = self._certificate(s, row)
            out["events"] = [
                {
                    "event_id": e.event_id,
                    "type": e.event_type,
                    "biz_step": e.biz_step,
                    "event_time": e.event_time,
                    "recorded_by": o.public_name,
                    "role": el.role,
                    "event_hash": e.event_hash,
                    "corrects": e.corrects_event_id,
                }
                for el, e, o in self._lot_events(s, row)
            ]
            return out

    @staticmethod
    def _lot_events(s: Session, lot: Lot) -> list[tuple[EventLot, Event, Organisation]]:
        q = (
            select(EventLot, Event, Organisation)
            .join(Event, Event.seq == EventLot.event_seq)
            .join(Organisation, Organisation.id == Event.organisation_id)
            .where(EventLot.lot_id == lot.id)
            .order_by(EventLot.position)
        )
        return [tuple(r) for r in s.execute(q).all()]  # type: ignore[misc]

    @staticmethod
    def _certificate(s: Session, lot: Lot) -> dict[str, Any] | None:
        cert = s.scalar(
            select(Certificate).where(Certificate.lot_id == lot.id).order_by(Certificate.id.desc())
        )
        if cert is None:
            return None
        return {
            "number": cert.number,
            "product_name": cert.product_name,
            "quantity_kg": cert.quantity_kg,
            "origin": cert.origin,
            "issued_on": cert.issued_on,
            "committing_entity": cert.committing_entity,
            "contact": cert.contact,
            "basis": cert.basis,
            "status": cert.status,
            "supersedes": cert.supersedes,
        }

    def certificate(self, gtin: str, lot: str) -> dict[str, Any] | None:
        """The lot's 承诺达标合格证 (the latest issued)."""
        with self._read() as s:
            return self._certificate(s, self._lot(s, normalise_gtin(gtin), lot))

    def lineage_lots(self, gtin: str, lot: str) -> list[tuple[str, str]]:
        """The lot and every lot it was made from (its history for an export)."""
        with self._read() as s:
            row = self._lot(s, normalise_gtin(gtin), lot)
            _fields, ancestors = self._backward(s, row)
            return [(row.gtin, row.lot)] + [(a.gtin, a.lot) for a in ancestors]

    def export_lot(self, gtin: str, lot: str) -> dict[str, Any]:
        """EPCIS 2.0 JSON-LD document with every event of the lot and of the lots it came from."""
        gtin = normalise_gtin(gtin)
        with self._read() as s:
            row = self._lot(s, gtin, lot)
            _fields, ancestors = self._backward(s, row)
            lot_ids = [row.id] + [a.id for a in ancestors]
            q = (
                select(Event)
                .join(EventLot, EventLot.event_seq == Event.seq)
                .where(EventLot.lot_id.in_(lot_ids))
                .distinct()
                .order_by(Event.seq)
            )
            events = []
            for e in s.scalars(q):
                doc = json.loads(e.document)
                if doc.get("@context") == builders.CONTEXT:
                    del doc["@context"]
                doc["recordTime"] = e.recorded_at
                events.append(doc)
        return builders.document(events)

    # ----------------------------------------------------------------- tracing
    def _backward(self, s: Session, lot: Lot) -> tuple[list[str], list[Lot]]:
        seen: dict[int, Lot] = {}
        frontier = [lot]
        fields: set[str] = set()
        while frontier:
            current = frontier.pop()
            parents = list(
                s.scalars(
                    select(Lot)
                    .join(LotLink, LotLink.parent_lot_id == Lot.id)
                    .where(LotLink.child_lot_id == current.id)
                )
            )
            if not parents and current.origin_field_id:
                fields.add(current.origin_field_id)
            for p in parents:
                if p.id not in seen:
                    seen[p.id] = p
                    frontier.append(p)
        return sorted(fields), list(seen.values())

    def _forward(self, s: Session, roots: list[Lot]) -> list[Lot]:
        seen: dict[int, Lot] = {r.id: r for r in roots}
        frontier = list(roots)
        while frontier:
            current = frontier.pop()
            for child in s.scalars(
                select(Lot)
                .join(LotLink, LotLink.child_lot_id == Lot.id)
                .where(LotLink.parent_lot_id == current.id)
            ):
                if child.id not in seen:
                    seen[child.id] = child
                    frontier.append(child)
        return list(seen.values())

    def trace_backward(self, gtin: str, lot: str) -> dict[str, Any]:
        """Every origin field and ancestor lot of a lot (through mixes and splits)."""
        with self._read() as s:
            row = self._lot(s, normalise_gtin(gtin), lot)
            fields, ancestors = self._backward(s, row)
            return {"fields": fields, "lots": sorted((a.gtin, a.lot) for a in ancestors)}

    def _shops(self, s: Session, lots: list[Lot]) -> list[dict[str, Any]]:
        ids = [lot.id for lot in lots]
        shops: dict[str, dict[str, Any]] = {}
        q = (
            select(Event, Lot)
            .join(EventLot, EventLot.event_seq == Event.seq)
            .join(Lot, Lot.id == EventLot.lot_id)
            .where(EventLot.lot_id.in_(ids), Event.biz_step.in_(("retail_selling", "receiving")))
        )
        for e, lot in s.execute(q).all():
            org = s.get(Organisation, e.organisation_id)
            assert org is not None
            if org.role != "retailer":
                continue
            doc = json.loads(e.document)
            loc_uri = (doc.get("bizLocation") or doc.get("readPoint") or {}).get("id")
            loc = s.scalar(select(Location).where(Location.uri == loc_uri)) if loc_uri else None
            entry = shops.setdefault(
                loc_uri or org.gln,
                {
                    "location": loc_uri,
                    "name": loc.name if loc else org.public_name,
                    "retailer": org.public_name,
                    "retailer_gln": org.gln,
                    "lots": [],
                },
            )
            if [lot.gtin, lot.lot] not in entry["lots"]:
                entry["lots"].append([lot.gtin, lot.lot])
        return sorted(shops.values(), key=lambda d: d["name"])

    def trace_forward(self, gtin: str, lot: str) -> dict[str, Any]:
        """Every lot made from this lot and every shop they reached."""
        with self._read() as s:
            lots = self._forward(s, [self._lot(s, normalise_gtin(gtin), lot)])
            return {"lots": sorted((x.gtin, x.lot) for x in lots), "shops": self._shops(s, lots)}

    def trace_field(self, field_id: str) -> dict[str, Any]:
        """Forward trace from a field: its harvest lots, everything made from them, the shops."""
        with self._read() as s:
            roots = list(s.scalars(select(Lot).where(Lot.origin_field_id == field_id)))
            harvests = [
                r
                for r in roots
                if not s.scalar(select(LotLink.id).where(LotLink.child_lot_id == r.id))
            ]
            lots = self._forward(s, harvests)
            return {"lots": sorted((x.gtin, x.lot) for x in lots), "shops": self._shops(s, lots)}

    def trace_inspection(self, event_id: str) -> dict[str, Any]:
        """Forward trace from an inspection event: the inspected lots and everything made from them."""
        with self._read() as s:
            ev = s.scalar(select(Event).where(Event.event_id == event_id))
            if ev is None:
                raise TraceError("unknown event", field="event_id", got=event_id)
            roots = [
                s.get(Lot, el.lot_id)
                for el in s.scalars(select(EventLot).where(EventLot.event_seq == ev.seq))
            ]
            lots = self._forward(s, [r for r in roots if r is not None])
            return {"lots": sorted((x.gtin, x.lot) for x in lots), "shops": self._shops(s, lots)}

    def recall(
        self,
        principal: Principal,
        gtin: str,
        lot: str,
        *,
        reason: str,
        when: datetime | None = None,
    ) -> dict[str, Any]:
        """Recall a lot and every lot made from it; returns the lots and the shops to notify."""
        when = when or _now()
        gtin = normalise_gtin(gtin)
        with self._write() as s:
            org = self._org(s, principal.gln)
            root = self._lot(s, gtin, lot)
            if org.role not in RECALL_ROLES and root.custodian_id != org.id:
                raise PermissionDeniedError(
                    "only the custodian, an inspector or the bureau may recall a lot",
                    field="lot",
                    got=f"{gtin}/{lot}",
                )
            affected = self._forward(s, [root])
            recorded = []
            for row in sorted(affected, key=lambda r: r.id):
                if row.recalled:
                    continue
                event = builders.recall_event(
                    gtin=row.gtin,
                    lot=row.lot,
                    when=max(when, _parse_time(row.harvested_at)) if row.harvested_at else when,
                    location=row.location_uri,
                    reason=reason,
                )
                event["@context"] = builders.CONTEXT
                # Whoever may recall the root lot may recall what was made from it (held by others).
                recorded.append(
                    self._record(
                        s, principal, event, builders.CONTEXT, recall_authorised=True
                    ).event_id
                )
            shops = self._shops(s, affected)
            return {
                "lots": sorted((x.gtin, x.lot) for x in affected),
                "shops": shops,
                "events": recorded,
            }

    # ----------------------------------------------------------------- verify
    def checkpoint(self) -> dict[str, Any]:
        """The latest signed checkpoint of the Merkle log, for publication."""
        with self._read() as s:
            cp = s.scalar(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1))
            key = s.get(Meta, "log_public_key")
            if cp is None or key is None:
                return {"tree_size": 0, "root_hash": merkle.root_hash([]).hex(), "signature": None}
            return {
                "tree_size": cp.tree_size,
                "root_hash": cp.root_hash,
                "signed_at": cp.signed_at,
                "signature": cp.signature,
                "public_key": key.value.hex(),
                "algorithm": "Ed25519",
                "message": self._checkpoint_message(
                    cp.tree_size, cp.root_hash, cp.signed_at
                ).decode(),
            }

    def inclusion_proof(self, event_id: str) -> dict[str, Any]:
        """RFC 6962 audit path of an event's log leaf against the latest checkpoint."""
        with self._read() as s:
            ev = s.scalar(select(Event).where(Event.event_id == event_id))
            if ev is None:
                raise TraceError("unknown event", field="event_id", got=event_id)
            cp = s.scalar(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1))
            assert cp is not None
            plan = merkle.audit_path_plan(ev.log_index, cp.tree_size)
            path = lot_chain.audit_path(plan, lot_chain.audit_nodes(s.connection(), [plan]))
            if path is None:
                raise TraceError(
                    "the Merkle log is missing nodes of this event's audit path",
                    field="event_id",
                    got=event_id,
                )
            return {
                "leaf_index": ev.log_index,
                "tree_size": cp.tree_size,
                "root_hash": cp.root_hash,
                "leaf_hash": self._leaf(ev).hex(),
                "audit_path": [p.hex() for p in path],
            }

    def verify_lot(self, gtin: str, lot: str, *, recompute_hashes: bool = False) -> VerifyReport:
        """Check content, signatures, the hash chains and log inclusion of the lot and its ancestors,
        and audit its stored consumer view.

        Reads only the lot's lineage and O(log n) log nodes; the result is cached per
        (stored rows, signed checkpoint). ``recompute_hashes`` also re-derives every
        GS1 EPCIS event hash from its document (an audit; slower). When the view derived
        from the rows as they are now differs from the stored one (an edited row, a view
        missing or tampered with), the views of the lot and of every lot made from it are
        rebuilt: the public page shows what this check found.
        """
        gtin = normalise_gtin(gtin)
        with self._read_engine.connect() as conn:
            chain = lot_chain.read_chain(conn, gtin, lot)
            report = self._report(conn, chain, recompute_hashes=recompute_hashes)
            fresh = consumer.derive_view(conn, chain, consumer.chain_problem(report))
            current = views.stored_matches(conn, chain.lot.id, fresh.body)
        if not current:
            with self._write() as s:
                conn = s.connection()
                views.refresh(
                    conn,
                    views.descendants(conn, [chain.lot.id]),
                    short=_short,
                    built_at=iso(_now()),
                    recompute_hashes=recompute_hashes,
                )
        return report

    def audit(
        self, *, recompute_hashes: bool = True, on_lot: Callable[[VerifyReport], None] | None = None
    ) -> dict[str, int]:
        """Verify every lot (oldest first) and audit its stored consumer view (:meth:`verify_lot`).

        Returns counts of lots checked and broken; ``on_lot`` sees each report. O(lots):
        the re-check behind the write-time verification the public page shows.
        """
        checked = broken = 0
        after = 0
        while True:
            with self._read() as s:
                batch = s.execute(
                    select(Lot.id, Lot.gtin, Lot.lot).where(Lot.id > after).order_by(Lot.id).limit(500)
                ).all()
            if not batch:
                return {"lots_checked": checked, "lots_broken": broken}
            for lot_id, gtin, number in batch:
                report = self.verify_lot(gtin, number, recompute_hashes=recompute_hashes)
                checked += 1
                broken += not report.ok
                if on_lot is not None:
                    on_lot(report)
                after = lot_id

    @staticmethod
    def _report(
        conn: Connection, chain: lot_chain.LotChain, *, recompute_hashes: bool = False
    ) -> VerifyReport:
        check = lot_chain.verify_chain(conn, chain, short=_short, recompute_hashes=recompute_hashes)
        return VerifyReport(
            gtin=chain.lot.gtin,
            lot=chain.lot.lot,
            events_checked=check.events_checked,
            lots_checked=check.lots_checked,
            checkpoint_size=check.checkpoint_size,
            first_broken=check.first_broken,
            problems=list(check.problems),
        )

    # ----------------------------------------------------------- consumer view
    def consumer_view(
        self,
        gtin: str,
        lot: str,
        *,
        season_summary_provider: Callable[[str, int], Mapping[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """Exactly what the public trace page may show (no personal data); see :mod:`traceability.consumer`.

        One primary-key read of the view stored when the lot's chain last changed (or was
        last audited), its ``chain_status`` the verification done then (:mod:`traceability.views`).
        A lot without a stored view (recorded before schema 0004 and not audited since) is
        built and verified now, as before. The season summary is read now from the outputs.
        """
        gtin = normalise_gtin(gtin)
        stored = views.read_stored_body(self._read_engine, self._view_sql, gtin, lot)
        if stored is None:
            return consumer.build_consumer_view(self, gtin, lot, season_summary_provider)
        view = json.loads(stored[0])
        view["season_summary"] = views.summaries(stored[1], stored[2], season_summary_provider)
        return view

    def consumer_view_json(
        self,
        gtin: str,
        lot: str,
        *,
        season_summary_provider: Callable[[str, int], Mapping[str, Any] | None] | None = None,
    ) -> str:
        """:meth:`consumer_view` as compact JSON text (:func:`traceability.views.encode`): the
        stored text itself, with the season summary put in place, never parsed and re-encoded."""
        gtin = normalise_gtin(gtin)
        stored = views.read_stored_body(self._read_engine, self._view_sql, gtin, lot)
        if stored is None:
            return views.encode(
                consumer.build_consumer_view(self, gtin, lot, season_summary_provider)
            )
        text, fields, season = stored
        return views.with_season_summary(
            text, views.summaries(fields, season, season_summary_provider)
        )
