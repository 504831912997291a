"""Build EPCIS 2.0 / CBV 2.0 events for the steps of a produce chain.

Each function returns one JSON-LD event (a ``dict``) ready for
:meth:`traceability.store.TraceStore.record_event`. Lots are class-level
identifiers (``quantityList`` with a GS1 Digital Link ``epcClass`` and a
quantity in kilograms, UN/ECE rec. 20 code ``KGM``); locations are GLNs (AI
414, fields with an AI 254 extension), parties are party GLNs (AI 417).
Nongshu's own ILMD and extension properties live in the ``nongshu:``
namespace declared in :data:`CONTEXT`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from traceability.epcis.hashing import EPCIS_CONTEXT
from traceability.errors import EventRuleError
from traceability.gs1 import lot_class_uri, party_uri, sscc_uri

NONGSHU_NS = "https://w3id.org/nongshu/voc/"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"nongshu": NONGSHU_NS}]
#: Basis of a 承诺达标合格证 promise (农业农村部 承诺达标合格证 template, 2019).
CERTIFICATE_BASES = ("quality_control", "own_test", "commissioned_test")


def _time(when: datetime) -> tuple[str, str]:
    if when.tzinfo is None:
        raise EventRuleError(
            "event time must carry a time zone", field="eventTime", got=when.isoformat()
        )
    offset = when.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    tz = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return when.isoformat(timespec="milliseconds"), tz


def _qty(gtin: str, lot: str, kg: float | None) -> dict[str, Any]:
    item: dict[str, Any] = {"epcClass": lot_class_uri(gtin, lot)}
    if kg is not None:
        item["quantity"] = round(float(kg), 3)
        item["uom"] = "KGM"
    return item


def _base(kind: str, when: datetime, **props: Any) -> dict[str, Any]:
    event_time, tz = _time(when)
    event: dict[str, Any] = {"type": kind, "eventTime": event_time, "eventTimeZoneOffset": tz}
    event.update({k: v for k, v in props.items() if v is not None})
    return event


def _ops_ilmd(operations: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for op in operations:
        if op["operation"] not in ("fertilising", "spraying", "irrigation", "sowing"):
            continue
        item: dict[str, Any] = {
            "nongshu:operation": op["operation"],
            "nongshu:date": op["date"].isoformat() if isinstance(op["date"], date) else op["date"],
        }
        for key, name in (
            ("product", "product"),
            ("active_ingredient", "activeIngredient"),
            ("dose", "dose"),
            ("unit", "unit"),
        ):
            if op.get(key) not in (None, ""):
                item[f"nongshu:{name}"] = op[key]
        out.append(item)
    return out


def harvest_event(
    *,
    gtin: str,
    lot: str,
    quantity_kg: float,
    when: datetime,
    field_location: str,
    field_id: str,
    crop: str,
    variety: str | None,
    grower_gln: str,
    operations: Iterable[Mapping[str, Any]] = (),
    certificate_basis: str = "quality_control",
) -> dict[str, Any]:
    """Harvest: ObjectEvent ADD ``commissioning`` at the field, ILMD with the season's operations.

    Operator names in the operations log are personal data and are not copied.
    """
    if certificate_basis not in CERTIFICATE_BASES:
        raise EventRuleError(
            "unknown certificate basis",
            field="certificate_basis",
            expected=" / ".join(CERTIFICATE_BASES),
            got=certificate_basis,
        )
    ilmd = {
        "nongshu:harvestDate": when.date().isoformat(),
        "nongshu:crop": crop,
        "nongshu:fieldID": field_id,
        "nongshu:grower": party_uri(grower_gln),
        "nongshu:farmOperations": _ops_ilmd(operations),
        "nongshu:certificateBasis": certificate_basis,
    }
    if variety:
        ilmd["nongshu:variety"] = variety
    return _base(
        "ObjectEvent",
        when,
        action="ADD",
        epcList=[],
        quantityList=[_qty(gtin, lot, quantity_kg)],
        bizStep="commissioning",
        disposition="active",
        readPoint={"id": field_location},
        bizLocation={"id": field_location},
        ilmd=ilmd,
    )


def inspection_event(
    *,
    gtin: str,
    lot: str,
    when: datetime,
    location: str,
    results: Sequence[Mapping[str, Any]],
    conformant: bool,
    method: str | None = None,
) -> dict[str, Any]:
    """Inspection: ObjectEvent OBSERVE ``inspecting`` with residue results in ``sensorElementList``.

    ``results``: ``{"substance": <URI or CAS-based URN>, "value": float, "uom": "E41"/"P1"...}``;
    for the GB 2763 rapid enzyme-inhibition test the value is the inhibition rate in percent (``P1``).
    """
    reports = [
        {
            "type": "MassConcentration" if r.get("uom", "P1") != "P1" else "Dimensionless",
            "chemicalSubstance": r["substance"],
            "value": float(r["value"]),
            "uom": r.get("uom", "P1"),
        }
        for r in results
    ]
    metadata: dict[str, Any] = {"time": _time(when)[0]}
    if method:
        metadata["bizRules"] = method
    return _base(
        "ObjectEvent",
        when,
        action="OBSERVE",
        epcList=[],
        quantityList=[_qty(gtin, lot, None)],
        bizStep="inspecting",
        disposition="conformant" if conformant else "non_conformant",
        readPoint={"id": location},
        bizLocation={"id": location},
        sensorElementList=[{"sensorMetadata": metadata, "sensorReport": reports}]
        if reports
        else None,
    )


def transformation_event(
    *,
    inputs: Sequence[tuple[str, str, float]],
    outputs: Sequence[tuple[str, str, float]],
    when: datetime,
    location: str,
    process: str,
    certificate_basis: str = "quality_control",
) -> dict[str, Any]:
    """Processing (washing, sorting, cutting, mixing, splitting): TransformationEvent; ``(gtin, lot, kg)``."""
    return _base(
        "TransformationEvent",
        when,
        inputQuantityList=[_qty(g, lot, kg) for g, lot, kg in inputs],
        outputQuantityList=[_qty(g, lot, kg) for g, lot, kg in outputs],
        bizStep="commissioning",
        disposition="active",
        readPoint={"id": location},
        bizLocation={"id": location},
        ilmd={"nongshu:process": process, "nongshu:certificateBasis": certificate_basis},
    )


def packing_event(
    *, sscc: str, lots: Sequence[tuple[str, str, float | None]], when: datetime, location: str
) -> dict[str, Any]:
    """Packing onto a logistic unit: AggregationEvent ADD ``packing`` (parent = SSCC)."""
    return _base(
        "AggregationEvent",
        when,
        parentID=sscc_uri(sscc),
        childEPCs=[],
        childQuantityList=[_qty(g, lot, kg) for g, lot, kg in lots],
        action="ADD",
        bizStep="packing",
        disposition="in_progress",
        readPoint={"id": location},
        bizLocation={"id": location},
    )


def _transfer(
    step: str,
    disposition: str,
    *,
    gtin: str,
    lot: str,
    when: datetime,
    location: str,
    source_gln: str | None = None,
    destination_gln: str | None = None,
) -> dict[str, Any]:
    return _base(
        "ObjectEvent",
        when,
        action="OBSERVE",
        epcList=[],
        quantityList=[_qty(gtin, lot, None)],
        bizStep=step,
        disposition=disposition,
        readPoint={"id": location},
        bizLocation={"id": location} if step != "shipping" else None,
        sourceList=[{"type": "owning_party", "source": party_uri(source_gln)}]
        if source_gln
        else None,
        destinationList=[{"type": "owning_party", "destination": party_uri(destination_gln)}]
        if destination_gln
        else None,
    )


def shipping_event(
    *, gtin: str, lot: str, when: datetime, location: str, source_gln: str, destination_gln: str
) -> dict[str, Any]:
    """Shipping to another organisation: ObjectEvent OBSERVE ``shipping``, disposition ``in_transit``."""
    return _transfer(
        "shipping",
        "in_transit",
        gtin=gtin,
        lot=lot,
        when=when,
        location=location,
        source_gln=source_gln,
        destination_gln=destination_gln,
    )


def receiving_event(
    *, gtin: str, lot: str, when: datetime, location: str, source_gln: str, destination_gln: str
) -> dict[str, Any]:
    """Receiving: ObjectEvent OBSERVE ``receiving``, disposition ``in_progress``; receiver becomes custodian."""
    return _transfer(
        "receiving",
        "in_progress",
        gtin=gtin,
        lot=lot,
        when=when,
        location=location,
        source_gln=source_gln,
        destination_gln=destination_gln,
    )


def retail_sale_event(*, gtin: str, lot: str, when: datetime, location: str) -> dict[str, Any]:
    """Retail sale of the lot at a shop: ObjectEvent OBSERVE ``retail_selling``, ``retail_sold``."""
    return _transfer(
        "retail_selling", "retail_sold", gtin=gtin, lot=lot, when=when, location=location
    )


def recall_event(
    *, gtin: str, lot: str, when: datetime, location: str | None, reason: str
) -> dict[str, Any]:
    """Recall: ObjectEvent OBSERVE ``holding`` with disposition ``recalled`` and the reason."""
    event = _base(
        "ObjectEvent",
        when,
        action="OBSERVE",
        epcList=[],
        quantityList=[_qty(gtin, lot, None)],
        bizStep="holding",
        disposition="recalled",
        readPoint={"id": location} if location else None,
    )
    event["nongshu:recallReason"] = reason
    return event


def document(
    events: Sequence[Mapping[str, Any]], *, created: datetime | None = None
) -> dict[str, Any]:
    """An EPCIS 2.0 JSON-LD document carrying ``events``."""
    created = created or datetime.now(UTC)
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "epcisBody": {"eventList": [dict(e) for e in events]},
    }
