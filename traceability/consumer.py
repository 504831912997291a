"""The consumer view of a lot: exactly what the public QR trace page may show.

Only public data leaves here: field id, township and cooperative name (no
coordinates of homes), organisations' public names (never personal phone or ID
numbers, which stay in the store), dates, inspection results, the certificate
and the chain status. The season summary of the origin field comes from the
pipeline outputs through ``season_summary_provider(field_id, season)`` so that
this package never reads rasters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from traceability.db import Location, Organisation, Product

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


def _public_location(s: Any, uri: str | None) -> dict[str, Any] | None:
    if not uri:
        return None
    loc = s.scalar(select(Location).where(Location.uri == uri))
    if loc is None:
        return {"name": None, "kind": None}
    return {"name": loc.name, "kind": loc.kind}


def build_consumer_view(
    store: TraceStore,
    gtin: str,
    lot: str,
    season_summary_provider: SeasonSummaryProvider | None = None,
) -> dict[str, Any]:
    verify = store.verify_lot(gtin, lot)
    detail = store.lot(gtin, lot)
    with store._read() as s:
        row = store._lot(s, gtin, lot)
        product = s.get(Product, gtin)
        assert product is not None
        fields, ancestors = store._backward(s, row)
        origins = []
        for field_id in fields:
            loc = s.scalar(select(Location).where(Location.field_id == field_id))
            origins.append(
                {
                    "field_id": field_id,
                    "township": loc.township if loc else None,
                    "cooperative": loc.cooperative_name if loc else None,
                }
            )
        timeline: list[dict[str, Any]] = []
        inspections: list[dict[str, Any]] = []
        harvest_dates: list[str] = []
        variety = product.variety
        seen: set[str] = set()
        erroneous = {
            ev.corrects_event_id
            for target in [row, *ancestors]
            for _l, ev, _o in store._lot_events(s, target)
            if ev.corrects_event_id
        }
        for target in [row, *ancestors]:
            for _link, ev, org in store._lot_events(s, target):
                if ev.event_id in seen:
                    continue
                seen.add(ev.event_id)
                doc = json.loads(ev.document)
                step = ev.biz_step or ""
                if ev.corrects_event_id:
                    label = ("correction", "更正")
                elif ev.event_type == "TransformationEvent":
                    label = ("processing", "加工")
                elif ev.event_type == "AggregationEvent":
                    label = STEP_LABELS["packing"]
                else:
                    label = STEP_LABELS.get(step, (step, step))
                entry = {
                    "date": ev.event_time,
                    "step": label[0],
                    "step_zh": label[1],
                    "organisation": org.public_name,
                    "role": org.role,
                    "location": _public_location(
                        s, (doc.get("bizLocation") or doc.get("readPoint") or {}).get("id")
                    ),
                    "declared_erroneous": ev.event_id in erroneous,
                }
                timeline.append(entry)
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
                            "inspector": org.public_name,
                            "result": (doc.get("disposition") or "").rsplit("-", 1)[-1],
                            "measurements": results,
                        }
                    )
        timeline.sort(key=lambda e: e["date"])
        inspections.sort(key=lambda e: e["date"])
        custodian = s.get(Organisation, row.custodian_id)
        assert custodian is not None
    season_summary = None
    if season_summary_provider is not None and fields and harvest_dates:
        season = int(min(harvest_dates)[:4])
        summaries = []
        for field_id in fields:
            got = season_summary_provider(field_id, season)
            if got:
                summaries.append(
                    {"field_id": field_id, **{k: got[k] for k in SEASON_KEYS if k in got}}
                )
        season_summary = summaries or None
    status = "recalled" if row.recalled else ("intact" if verify.ok else "broken")
    phi_checks = [c for c in detail["phi_checks"] if c.get("violated")]
    return {
        "gtin": gtin,
        "lot": lot,
        "product": product.name,
        "crop": product.crop,
        "variety": variety,
        "quantity_kg": row.quantity_kg,
        "origin": origins,
        "harvest_date": min(harvest_dates) if harvest_dates else None,
        "certificate": detail["certificate"],
        "inspections": inspections,
        "inspection_status": row.inspection,
        "custody": timeline,
        "current_holder": {"name": custodian.public_name, "role": custodian.role},
        "pre_harvest_interval": {"flag": row.phi_flag, "violations": phi_checks},
        "season_summary": season_summary,
        "chain_status": status,
        "chain_problem": None
        if verify.ok
        else (verify.first_broken.reason if verify.first_broken else "; ".join(verify.problems)),
    }
