"""The realistic lots of the trace benchmark and the probes of its lookups.

Each lot gets the five events of a short chain (:func:`lot_documents`): harvest
by the cooperative at its field, a residue inspection, shipping to a retailer,
receiving, retail sale, recorded by the parties of :func:`setup_parties`.
:mod:`benchmarks.trace_bulk` copies them in bulk into a store of 1,000,000
events; :func:`probe_url` times lot lookups on a store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

EVENTS_PER_LOT = 5
BASE_TIME = datetime(2026, 8, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Parties:
    coop: Any
    inspector: Any
    retailer: Any
    coop_gln: str
    retailer_gln: str
    field_uri: str
    lab_uri: str
    shop_uri: str
    gtin: str


def _gln(body12: str) -> str:
    from traceability.gs1 import with_check_digit

    return with_check_digit(body12)


def setup_parties(store: Any) -> Parties:
    """Organisations, product and locations of the benchmark chain (idempotent)."""
    from traceability.gs1 import location_uri, with_check_digit

    coop_gln, insp_gln, shop_gln = _gln("690000000001"), _gln("690000000002"), _gln("690000000003")
    coop = store.create_organisation(gln=coop_gln, name="定西马铃薯合作社", role="cooperative")
    inspector = store.create_organisation(gln=insp_gln, name="安定区农产品检测站", role="inspector")
    retailer = store.create_organisation(gln=shop_gln, name="兰州生鲜超市", role="retailer")
    gtin = store.register_product(
        gtin=with_check_digit("0690000000001"),
        name="定西马铃薯",
        crop="potato",
        variety="Longshu 7",
    )
    field_uri = store.register_location(
        uri=location_uri(coop_gln, "1"),
        kind="field",
        name="Field DX-000001",
        organisation_gln=coop_gln,
        field_id="DX-000001",
        township="T01",
        cooperative_id="C01",
        cooperative_name="定西马铃薯合作社",
        crop="potato",
    )
    lab_uri = store.register_location(
        uri=location_uri(insp_gln, "0"), kind="lab", name="Lab", organisation_gln=insp_gln
    )
    shop_uri = store.register_location(
        uri=location_uri(shop_gln, "0"), kind="shop", name="Shop", organisation_gln=shop_gln
    )
    return Parties(
        coop, inspector, retailer, coop_gln, shop_gln, field_uri, lab_uri, shop_uri, gtin
    )


def lot_code(i: int) -> str:
    return f"B{i:08d}"


def lot_documents(p: Parties, i: int) -> list[tuple[Any, dict[str, Any]]]:
    """The five (principal, event) pairs of lot ``i``."""
    from traceability.epcis import builders as b

    lot = lot_code(i)
    t0 = BASE_TIME + timedelta(seconds=i)
    return [
        (
            p.coop,
            b.harvest_event(
                gtin=p.gtin,
                lot=lot,
                quantity_kg=1000.0,
                when=t0,
                field_location=p.field_uri,
                field_id="DX-000001",
                crop="potato",
                variety="Longshu 7",
                grower_gln=p.coop_gln,
            ),
        ),
        (
            p.inspector,
            b.inspection_event(
                gtin=p.gtin,
                lot=lot,
                when=t0 + timedelta(hours=1),
                location=p.lab_uri,
                results=[
                    {
                        "substance": "urn:nongshu:substance:organophosphates",
                        "value": 12.0,
                        "uom": "P1",
                    }
                ],
                conformant=True,
            ),
        ),
        (
            p.coop,
            b.shipping_event(
                gtin=p.gtin,
                lot=lot,
                when=t0 + timedelta(hours=2),
                location=p.field_uri,
                source_gln=p.coop_gln,
                destination_gln=p.retailer_gln,
            ),
        ),
        (
            p.retailer,
            b.receiving_event(
                gtin=p.gtin,
                lot=lot,
                when=t0 + timedelta(hours=6),
                location=p.shop_uri,
                source_gln=p.coop_gln,
                destination_gln=p.retailer_gln,
            ),
        ),
        (
            p.retailer,
            b.retail_sale_event(
                gtin=p.gtin, lot=lot, when=t0 + timedelta(days=1), location=p.shop_uri
            ),
        ),
    ]


def probe_lookup(store: Any, gtin: str, lots: int, samples: int = 25) -> dict[str, float]:
    """Median in-process time of the served consumer view (the stored one), of building and
    verifying it from the lot's chain (what a write or an audit does) and of the bare lot read,
    over lots spread across the store (after two warm-up lookups, so connection set-up is not
    counted)."""
    import statistics

    from traceability.consumer import build_consumer_view

    step = max(1, lots // samples)
    picks = list(range(0, lots, step))[:samples]
    for i in {lots - 1, max(0, lots - 2)} - set(picks):  # warm-up lots, not measured
        store.consumer_view(gtin, lot_code(i))
        build_consumer_view(store, gtin, lot_code(i))
    view_ms, build_ms, lot_ms = [], [], []
    for i in picks:
        t0 = time.perf_counter()
        store.consumer_view(gtin, lot_code(i))
        view_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        build_consumer_view(store, gtin, lot_code(i))
        build_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        store.lot(gtin, lot_code(i))
        lot_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "events": lots * EVENTS_PER_LOT,
        "consumer_view_ms": statistics.median(view_ms),
        "view_build_ms": statistics.median(build_ms),
        "lot_read_ms": statistics.median(lot_ms),
    }


def probe_url(url: str, lots: int) -> dict[str, float]:
    """:func:`probe_lookup` on a freshly opened store, verification caches emptied."""
    from traceability import lot_chain
    from traceability.store import TraceStore

    lot_chain.clear_caches()
    with TraceStore.open(url) as store:
        return probe_lookup(store, store.find_lot(lot_code(0))[0], lots)
