"""Trace-store fixtures: a fresh store on SQLite and on PostgreSQL, organisations and a small chain.

PostgreSQL comes from ``scripts/postgres.sh`` (URL in ``NONGSHU_TEST_POSTGRES_URL``);
each test gets its own schema. Without a server the PostgreSQL variants skip,
except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from traceability.epcis import builders
from traceability.errors import PermissionDeniedError
from traceability.gs1 import location_uri, with_check_digit
from traceability.store import Principal, TraceStore

CST = timezone(timedelta(hours=8))


@pytest.fixture()
def store_url(trace_db_url: str) -> str:
    """A database URL for an empty store (the shared ``trace_db_url``: SQLite and PostgreSQL)."""
    return trace_db_url


@pytest.fixture()
def store(store_url: str) -> Iterator[TraceStore]:
    with TraceStore.open(store_url) as s:
        yield s


def gln(n: int) -> str:
    return with_check_digit(f"690123400{n:03d}")


POTATO = with_check_digit("0690123456789")  # GTIN-14
WASHED = with_check_digit("0690123456790")


@dataclass
class Actors:
    coop: Principal
    coop2: Principal
    processor: Principal
    logistics: Principal
    retailer: Principal
    retailer2: Principal
    inspector: Principal
    bureau: Principal
    field_a: str
    field_b: str
    packhouse: str
    lab: str
    shop: str
    shop2: str


def t(day: int, hour: int = 9) -> datetime:
    """A time in the 2025 season, China Standard Time."""
    return datetime(2025, 9, 1, hour, tzinfo=CST) + timedelta(days=day)


@pytest.fixture()
def actors(store: TraceStore) -> Actors:
    return make_actors(store)


def make_actors(store: TraceStore) -> Actors:
    """Organisations (with personal data seeded for the privacy tests), products and locations."""
    coop = store.create_organisation(
        gln=gln(1),
        name="Anding Potato Cooperative",
        role="cooperative",
        public_name="安定区马铃薯合作社",
        business_contact="0932-8000001",
        contact_phone="13800138000",
        id_number="620102198001011234",
        address="安定区某村12号",
    )
    coop2 = store.create_organisation(
        gln=gln(2), name="Lintao Cooperative", role="cooperative", contact_phone="13900139000"
    )
    processor = store.create_organisation(gln=gln(3), name="Dingxi Washing Plant", role="processor")
    logistics = store.create_organisation(gln=gln(4), name="Gansu Cold Chain", role="logistics")
    retailer = store.create_organisation(gln=gln(5), name="Lanzhou Fresh Market", role="retailer")
    retailer2 = store.create_organisation(gln=gln(6), name="Xi'an Grocer", role="retailer")
    inspector = store.create_organisation(
        gln=gln(7), name="County Inspection Station", role="inspector"
    )
    bureau = store.create_organisation(gln=gln(8), name="Anding Agriculture Bureau", role="bureau")
    store.register_product(
        gtin=POTATO, name="马铃薯 (fresh potato)", crop="potato", variety="Longshu 7"
    )
    store.register_product(
        gtin=WASHED, name="净菜马铃薯 (washed potato)", crop="potato", variety="Longshu 7"
    )
    field_a = store.register_location(
        uri=location_uri(gln(1), "DX-000001"),
        kind="field",
        name="Field DX-000001",
        organisation_gln=gln(1),
        field_id="DX-000001",
        township="Fengxiang",
        cooperative_id="C01",
        cooperative_name="安定区马铃薯合作社",
        crop="potato",
    )
    field_b = store.register_location(
        uri=location_uri(gln(2), "DX-000002"),
        kind="field",
        name="Field DX-000002",
        organisation_gln=gln(2),
        field_id="DX-000002",
        township="Xigongyi",
        cooperative_id="C02",
        cooperative_name="Lintao Cooperative",
        crop="potato",
    )
    packhouse = store.register_location(
        uri=location_uri(gln(3)),
        kind="packhouse",
        name="Dingxi Washing Plant",
        organisation_gln=gln(3),
    )
    lab = store.register_location(
        uri=location_uri(gln(7)), kind="lab", name="County Lab", organisation_gln=gln(7)
    )
    shop = store.register_location(
        uri=location_uri(gln(5)),
        kind="shop",
        name="Lanzhou Fresh Market, Chengguan",
        organisation_gln=gln(5),
    )
    shop2 = store.register_location(
        uri=location_uri(gln(6)), kind="shop", name="Xi'an Grocer, Yanta", organisation_gln=gln(6)
    )
    return Actors(
        coop,
        coop2,
        processor,
        logistics,
        retailer,
        retailer2,
        inspector,
        bureau,
        field_a,
        field_b,
        packhouse,
        lab,
        shop,
        shop2,
    )


def harvest_event(
    a: Actors,
    lot: str,
    *,
    kg: float = 1000.0,
    day: int = 0,
    field: str = "A",
    operations: list | None = None,
) -> tuple[Principal, dict]:
    """``(recorder, event)`` of a harvest of ``lot`` at field A (cooperative 1) or B (cooperative 2)."""
    coop, loc, fid = (
        (a.coop, a.field_a, "DX-000001") if field == "A" else (a.coop2, a.field_b, "DX-000002")
    )
    return coop, builders.harvest_event(
        gtin=POTATO,
        lot=lot,
        quantity_kg=kg,
        when=t(day),
        field_location=loc,
        field_id=fid,
        crop="potato",
        variety="Longshu 7",
        grower_gln=coop.gln,
        operations=operations or [],
    )


def harvest(
    store: TraceStore,
    a: Actors,
    lot: str,
    *,
    kg: float = 1000.0,
    day: int = 0,
    field: str = "A",
    operations: list | None = None,
) -> None:
    store.record_event(*harvest_event(a, lot, kg=kg, day=day, field=field, operations=operations))


def shipping_event(
    sender: Principal, receiver: Principal, gtin: str, lot: str, day: int, location: str
) -> dict:
    return builders.shipping_event(
        gtin=gtin,
        lot=lot,
        when=t(day, 10),
        location=location,
        source_gln=sender.gln,
        destination_gln=receiver.gln,
    )


def receiving_event(
    sender: Principal,
    receiver: Principal,
    gtin: str,
    lot: str,
    day: int,
    location: str,
    hour: int = 16,
) -> dict:
    return builders.receiving_event(
        gtin=gtin,
        lot=lot,
        when=t(day, hour),
        location=location,
        source_gln=sender.gln,
        destination_gln=receiver.gln,
    )


def ship(
    store: TraceStore,
    sender: Principal,
    receiver: Principal,
    gtin: str,
    lot: str,
    day: int,
    location: str,
) -> None:
    """Shipping by ``sender`` and receipt by ``receiver`` on the same day."""
    store.record_event(sender, shipping_event(sender, receiver, gtin, lot, day, location))
    store.record_event(receiver, receiving_event(sender, receiver, gtin, lot, day, location))


def harvest_and_ship(store: TraceStore, a: Actors, lot: str) -> None:
    """A lot harvested at field A on day 0 and shipped (not yet received) to the processor on day 1."""
    harvest(store, a, lot)
    store.record_event(a.coop, shipping_event(a.coop, a.processor, POTATO, lot, 1, a.field_a))


def race(store_url: str, writes: list[Callable[[TraceStore], None]]) -> list[str]:
    """Run each write at the same moment in its own thread and store (as separate server workers).

    Returns ``"ok"`` or ``"refused"`` (:class:`PermissionDeniedError`) per write, in finishing order.
    """
    outcomes: list[str] = []
    barrier = threading.Barrier(len(writes))

    def run(write: Callable[[TraceStore], None]) -> None:
        other = TraceStore.open(store_url)
        try:
            barrier.wait()
            write(other)
            outcomes.append("ok")
        except PermissionDeniedError:
            outcomes.append("refused")
        finally:
            other.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in writes]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return outcomes


SUBSTANCE = builders.NONGSHU_NS + "substance/organophosphate-carbamate"


@pytest.fixture()
def demo_chain(store: TraceStore, actors: Actors) -> Actors:
    return make_demo_chain(store, actors)


def make_demo_chain(store: TraceStore, a: Actors) -> Actors:
    """harvest -> inspection -> washing/sorting into a new lot -> packing -> shipping -> receiving -> sale."""
    harvest(store, a, "H-001", kg=1000.0)
    store.record_event(
        a.inspector,
        builders.inspection_event(
            gtin=POTATO,
            lot="H-001",
            when=t(1),
            location=a.lab,
            conformant=True,
            results=[{"substance": SUBSTANCE, "value": 12.5, "uom": "P1"}],
        ),
    )
    ship(store, a.coop, a.processor, POTATO, "H-001", 2, a.packhouse)
    store.record_event(
        a.processor,
        builders.transformation_event(
            inputs=[(POTATO, "H-001", 1000.0)],
            outputs=[(WASHED, "W-001", 970.0)],
            when=t(3),
            location=a.packhouse,
            process="washing_sorting",
        ),
    )
    store.record_event(
        a.processor,
        builders.packing_event(
            sscc=with_check_digit("06901234000000001"),
            lots=[(WASHED, "W-001", 970.0)],
            when=t(3, 14),
            location=a.packhouse,
        ),
    )
    ship(store, a.processor, a.retailer, WASHED, "W-001", 4, a.shop)
    store.record_event(
        a.retailer, builders.retail_sale_event(gtin=WASHED, lot="W-001", when=t(5), location=a.shop)
    )
    return a
