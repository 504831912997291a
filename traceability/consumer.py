"""The consumer view of a lot: exactly what the public QR trace page may show.

Only public data leaves here: field id, township and cooperative name (no
coordinates of homes), organisations' public names (never personal phone or ID
numbers, which stay in the store), dates, inspection results, the certificate
and the chain status. The season summary of the origin field comes from the
pipeline outputs through ``season_summary_provider(field_id, season)`` so that
this package never reads rasters.

:func:`derive_view` builds the view from a lot's chain (:func:`read_chain`) and
the outcome of verifying it; :mod:`traceability.views` stores it at write time
and ``TraceStore.consumer_view`` serves the stored one. :func:`build_consumer_view`
builds it now (lots without a stored view, and the audit's comparison).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, bindparam, or_, select

from traceability.db import Certificate, Location
from traceability.lot_chain import LotChain, read_chain

if TYPE_CHECKING:
    from traceability.store import TraceStore

SeasonSummaryProvider = Callable[[str, int], "Mapping[str, Any] | None"]
STEP_LABELS = {
    "commissioning": ("harvest", "采收"),
    "inspecting": ("inspection", "检测"),
    "packing": ("packing", "包装"),
    "shipping": ("shipping", "发货"),
    "receiving": ("receiving", "收货"),
    "retail_selling": ("retail sale", "零售"),
    "holding": ("recall", "召回"),
}
#: Keys of a season summary that may be shown (anything else a provider returns is dropped).
SEASON_KEYS = ("season", "yield_class", "yield_pred_t_ha", "alert_level", "alerts", "run_id")


_PLACES = select(
    Location.uri,
    Location.name,
    Location.kind,
    Location.field_id,
    Location.township,
    Location.cooperative_name,
).where(
    or_(
        Location.uri.in_(bindparam("uris", expanding=True)),
        Location.field_id.in_(bindparam("fields", expanding=True)),
    )
)
_CERTIFICATE = (
    select(Certificate.__table__)
    .where(Certificate.lot_id == bindparam("lot_id"))
    .order_by(Certificate.id.desc())
    .limit(1)
)
CERTIFICATE_KEYS = (
    "number",
    "product_name",
    "quantity_kg",
    "origin",
    "issued_on",
    "committing_entity",
    "contact",
    "basis",
    "status",
    "supersedes",
)


def _places(
    conn: Connection, uris: set[str], field_ids: list[str]
) -> tuple[dict[str, Row[Any]], dict[str, Row[Any]]]:
    """Locations by URI and by field id, in one indexed query."""
    if not uris and not field_ids:
        return {}, {}
    rows: Sequence[Any] = conn.execute(_PLACES, {"uris": sorted(uris), "fields": field_ids}).all()
    by_field: dict[str, Row[Any]] = {}
    for loc in rows:
        if loc.field_id and loc.field_id not in by_field:
            by_field[loc.field_id] = loc
    return {loc.uri: loc for loc in rows}, by_field


def _public_location(places: Mapping[str, Row[Any]], uri: str | None) -> dict[str, Any] | None:
    if not uri:
        return None
    loc = places.get(uri)
    if loc is None:
        return {"name": None, "kind": None}
    return {"name": loc.name, "kind": loc.kind}


def _document(text: str) -> dict[str, Any]:
    """A stored event document; ``{}`` when it no longer parses (the chain check reports that)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _where(doc: Mapping[str, Any]) -> str | None:
    return (doc.get("bizLocation") or doc.get("readPoint") or {}).get("id")


@dataclass(frozen=True)
class DerivedView:
    """A lot's public view as stored (``season_summary`` left ``None``) and the location URIs
    (``uri:…``) and field ids (``field:…``) it names that the store does not know yet."""

    body: dict[str, Any]
    unresolved: frozenset[str]


def chain_problem(check: Any) -> str | None:
    """The consumer view's ``chain_problem`` of a verification result (``None`` when intact)."""
    if check.first_broken is None and not check.problems:
        return None
    return check.first_broken.reason if check.first_broken else "; ".join(check.problems)


def derive_view(conn: Connection, chain: LotChain, problem: str | None) -> DerivedView:
    """The public view of a lot from its chain as read by :func:`read_chain` and the outcome of
    verifying it (``problem``: ``None`` when intact); two indexed queries (certificate, places)."""
    row = chain.lot
    gtin, lot = row.gtin, row.lot
    cert = conn.execute(_CERTIFICATE, {"lot_id": row.id}).first()
    fields = chain.fields
    links = [link for target in chain.lots for link in chain.links[target.id]]
    docs = {link.event_id: _document(link.document) for link in links}
    uris = {u for d in docs.values() if (u := _where(d))}
    places, by_field = _places(conn, uris, fields)
    unresolved = frozenset(
        [f"uri:{u}" for u in uris if u not in places]
        + [f"field:{f}" for f in fields if f not in by_field]
    )
    certificate = None if cert is None else {k: getattr(cert, k) for k in CERTIFICATE_KEYS}
    origins = [
        {
            "field_id": field_id,
            "township": by_field[field_id].township if field_id in by_field else None,
            "cooperative": by_field[field_id].cooperative_name if field_id in by_field else None,
        }
        for field_id in fields
    ]
    timeline: list[dict[str, Any]] = []
    inspections: list[dict[str, Any]] = []
    harvest_dates: list[str] = []
    variety = row.product_variety
    seen: set[str] = set()
    erroneous = {ev.corrects_event_id for ev in links if ev.corrects_event_id}
    for ev in links:
        if ev.event_id in seen:
            continue
        seen.add(ev.event_id)
        doc = docs[ev.event_id]
        step = ev.biz_step or ""
        if ev.corrects_event_id:
            label = ("correction", "更正")
        elif ev.event_type == "TransformationEvent":
            label = ("processing", "加工")
        elif ev.event_type == "AggregationEvent":
            label = STEP_LABELS["packing"]
        else:
            label = STEP_LABELS.get(step, (step, step))
        timeline.append(
            {
                "date": ev.event_time,
                "step": label[0],
                "step_zh": label[1],
                "organisation": ev.org_public_name,
                "role": ev.org_role,
                "location": _public_location(places, _where(doc)),
                "declared_erroneous": ev.event_id in erroneous,
            }
        )
        if ev.corrects_event_id or ev.event_id in erroneous:
            continue
        if step == "commissioning" and ev.event_type == "ObjectEvent":
            harvest_dates.append(ev.event_time[:10])
            variety = (doc.get("ilmd") or {}).get("nongshu:variety") or variety
        if step == "inspecting":
            results = [
                {
                    "substance": r.get("chemicalSubstance"),
                    "value": r.get("value"),
                    "uom": r.get("uom"),
                }
                for el in doc.get("sensorElementList") or []
                for r in el.get("sensorReport") or []
            ]
            inspections.append(
                {
                    "date": ev.event_time,
                    "inspector": ev.org_public_name,
                    "result": (doc.get("disposition") or "").rsplit("-", 1)[-1],
                    "measurements": results,
                }
            )
    timeline.sort(key=lambda e: e["date"])
    inspections.sort(key=lambda e: e["date"])
    status = "recalled" if row.recalled else ("intact" if problem is None else "broken")
    phi_checks = [c for c in json.loads(row.phi_json) if c.get("violated")]
    body = {
        "gtin": gtin,
        "lot": lot,
        "product": row.product_name,
        "crop": row.product_crop,
        "variety": variety,
        "quantity_kg": row.quantity_kg,
        "origin": origins,
        "harvest_date": min(harvest_dates) if harvest_dates else None,
        "certificate": certificate,
        "inspections": inspections,
        "inspection_status": row.inspection,
        "custody": timeline,
        "current_holder": {"name": row.custodian_name, "role": row.custodian_role},
        "pre_harvest_interval": {"flag": row.phi_flag, "violations": phi_checks},
        "season_summary": None,
        "chain_status": status,
        "chain_problem": problem,
    }
    return DerivedView(body, unresolved)


def add_season_summary(
    view: dict[str, Any], season_summary_provider: SeasonSummaryProvider | None
) -> dict[str, Any]:
    """Fill ``view["season_summary"]`` (in place) from the pipeline outputs: the origin fields'
    summaries of the season of the earliest harvest, ``None`` when there are none."""
    fields = [o["field_id"] for o in view.get("origin") or []]
    harvest = view.get("harvest_date")
    if season_summary_provider is None or not fields or not harvest:
        return view
    season = int(harvest[:4])
    summaries = []
    for field_id in fields:
        got = season_summary_provider(field_id, season)
        if got:
            summaries.append({"field_id": field_id, **{k: got[k] for k in SEASON_KEYS if k in got}})
    view["season_summary"] = summaries or None
    return view


def build_consumer_view(
    store: TraceStore,
    gtin: str,
    lot: str,
    season_summary_provider: SeasonSummaryProvider | None = None,
) -> dict[str, Any]:
    """The public view of one lot built from its chain now, verification included (no scan of the
    store): what :meth:`TraceStore.consumer_view` stores at write time and serves."""
    with store._read_engine.connect() as conn:
        chain = read_chain(conn, gtin, lot)
        problem = chain_problem(store._report(conn, chain))
        view = derive_view(conn, chain, problem).body
    return add_season_summary(view, season_summary_provider)
