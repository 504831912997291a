"""Bad input to the store: each refused with a clear error, nothing half-written."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from traceability.db import ApiKey
from traceability.epcis import builders
from traceability.errors import (
    AuthError,
    EventConflictError,
    EventRuleError,
    IdentifierError,
    PermissionDeniedError,
    UnknownLotError,
)
from traceability.store import TraceStore

from .conftest import (
    POTATO,
    WASHED,
    harvest,
    harvest_and_ship,
    race,
    receiving_event,
    ship,
    t,
)


def test_invalid_gtin_and_unknown_lot(store: TraceStore, actors) -> None:
    with pytest.raises(IdentifierError, match="check digit"):
        store.register_product(gtin="06901234567893", name="x", crop="potato")
    with pytest.raises(UnknownLotError):
        store.verify_lot(POTATO, "NOPE")
    with pytest.raises(UnknownLotError):
        store.record_event(
            actors.inspector,
            builders.inspection_event(
                gtin=POTATO, lot="NOPE", when=t(1), location=actors.lab, results=[], conformant=True
            ),
        )


def test_event_before_harvest_and_after_sale(store: TraceStore, demo_chain) -> None:
    a = demo_chain
    with pytest.raises(EventRuleError, match="before the lot's harvest"):
        store.record_event(
            a.inspector,
            builders.inspection_event(
                gtin=POTATO, lot="H-001", when=t(-1), location=a.lab, results=[], conformant=True
            ),
        )
    with pytest.raises(EventRuleError, match="after the lot's sale"):
        store.record_event(
            a.retailer,
            builders.retail_sale_event(gtin=WASHED, lot="W-001", when=t(6), location=a.shop),
        )


def test_shipping_a_lot_one_does_not_hold(store: TraceStore, actors) -> None:
    harvest(store, actors, "H-010")
    with pytest.raises(PermissionDeniedError, match="custody"):
        store.record_event(
            actors.processor,
            builders.shipping_event(
                gtin=POTATO,
                lot="H-010",
                when=t(1),
                location=actors.packhouse,
                source_gln=actors.processor.gln,
                destination_gln=actors.retailer.gln,
            ),
        )
    assert store.lot(POTATO, "H-010")["status"] == "active"


def test_duplicate_event_id_is_idempotent_and_a_different_event_is_refused(
    store: TraceStore, actors
) -> None:
    event = builders.inspection_event(
        gtin=POTATO, lot="H-011", when=t(1), location=actors.lab, results=[], conformant=True
    )
    harvest(store, actors, "H-011")
    event["eventID"] = "urn:uuid:6f1c3a3e-1111-4c1d-9a35-0a0a0a0a0a0a"
    first = store.record_event(actors.inspector, dict(event))
    again = store.record_event(actors.inspector, dict(event))
    assert first.created and not again.created and again.event_hash == first.event_hash
    assert len(store.lot(POTATO, "H-011")["events"]) == 2
    changed = {**event, "disposition": "non_conformant"}
    with pytest.raises(EventConflictError, match="different event"):
        store.record_event(actors.inspector, changed)
    assert store.lot(POTATO, "H-011")["inspection"] == "conformant"


def test_unbalanced_transformation_is_refused(store: TraceStore, actors) -> None:
    harvest(store, actors, "H-012", kg=1000)
    ship(store, actors.coop, actors.processor, POTATO, "H-012", 1, actors.packhouse)
    with pytest.raises(EventRuleError, match="do not balance"):
        store.record_event(
            actors.processor,
            builders.transformation_event(
                inputs=[(POTATO, "H-012", 1000.0)],
                outputs=[(WASHED, "W-012", 1200.0)],
                when=t(2),
                location=actors.packhouse,
                process="washing",
            ),
        )
    assert store.lot(POTATO, "H-012")["status"] == "active"
    with pytest.raises(UnknownLotError):
        store.lot(WASHED, "W-012")


def test_api_keys_hashed_revocable_and_roles(store: TraceStore, actors) -> None:
    key = store.issue_api_key(actors.coop.gln, label="phone")
    principal = store.authenticate(key)
    assert (principal.gln, principal.role) == (actors.coop.gln, "cooperative")
    with store._read() as s:
        stored = s.scalars(select(ApiKey.key_hash)).all()
    assert key not in stored and all(len(h) == 64 for h in stored)
    with pytest.raises(AuthError):
        store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B"))
    with pytest.raises(AuthError):
        store.authenticate("not-a-key")
    store.revoke_api_key(principal.key_id)
    with pytest.raises(AuthError):
        store.authenticate(key)
    harvest(store, actors, "H-013")
    with pytest.raises(PermissionDeniedError, match="growers and cooperatives"):
        store.record_event(
            actors.retailer,
            builders.harvest_event(
                gtin=POTATO,
                lot="H-014",
                quantity_kg=1,
                when=t(0),
                field_location=actors.field_a,
                field_id="DX-000001",
                crop="potato",
                variety=None,
                grower_gln=actors.coop.gln,
            ),
        )


def test_concurrent_receiving_exactly_one_wins(store_url: str, store: TraceStore, actors) -> None:
    harvest_and_ship(store, actors, "H-020")

    def receipt_by(who):
        def write(other: TraceStore) -> None:
            other.record_event(
                who, receiving_event(actors.coop, who, POTATO, "H-020", 1, actors.packhouse, 15)
            )

        return write

    # The shipment names the processor; the retailer races it with a receipt of its own.
    outcomes = race(store_url, [receipt_by(actors.processor), receipt_by(actors.retailer)])
    assert sorted(outcomes) == ["ok", "refused"]
    assert store.lot(POTATO, "H-020")["custodian_gln"] == actors.processor.gln


def test_concurrent_double_receipt_by_the_addressee(
    store_url: str, store: TraceStore, actors
) -> None:
    harvest_and_ship(store, actors, "H-021")

    def receipt_at(hour: int):
        def write(other: TraceStore) -> None:
            other.record_event(
                actors.processor,
                receiving_event(
                    actors.coop, actors.processor, POTATO, "H-021", 1, actors.packhouse, hour
                ),
            )

        return write

    outcomes = race(store_url, [receipt_at(14), receipt_at(15)])
    assert sorted(outcomes) == ["ok", "refused"]
    assert store.verify_lot(POTATO, "H-021").ok


def test_overlong_identifiers_are_refused_cleanly(store: TraceStore, actors) -> None:
    harvest(store, actors, "H-030")
    event = builders.inspection_event(
        gtin=POTATO, lot="H-030", when=t(1), location=actors.lab, results=[], conformant=True
    )
    with pytest.raises(EventRuleError, match="eventID too long"):
        store.record_event(actors.inspector, {**event, "eventID": "urn:uuid:" + "a" * 400})
    with pytest.raises(EventRuleError, match="bizStep too long"):
        store.record_event(
            actors.inspector, {**event, "bizStep": "https://example.org/" + "b" * 300}
        )
    with pytest.raises(EventRuleError, match="not a lot identifier"):
        store.record_event(
            actors.inspector,
            {
                **event,
                "quantityList": [{"epcClass": f"https://id.gs1.org/01/{POTATO}/10/{'L' * 30}"}],
            },
        )
    with pytest.raises(EventRuleError, match="bizLocation too long"):
        store.record_event(
            actors.inspector, {**event, "bizLocation": {"id": "https://example.org/" + "c" * 300}}
        )


def test_role_matrix_for_lots_not_in_custody(store: TraceStore, actors) -> None:
    """Who may record what on a lot held by the cooperative (no shipment to anyone)."""
    harvest(store, actors, "H-040")
    everyone = {
        "cooperative2": actors.coop2,
        "processor": actors.processor,
        "logistics": actors.logistics,
        "retailer": actors.retailer,
        "inspector": actors.inspector,
        "bureau": actors.bureau,
    }
    allowed = {}
    for hour, (name, who) in enumerate(everyone.items()):
        inspect = builders.inspection_event(
            gtin=POTATO,
            lot="H-040",
            when=t(1, hour),
            location=actors.lab,
            results=[],
            conformant=True,
        )
        sale = builders.retail_sale_event(
            gtin=POTATO, lot="H-040", when=t(1, hour), location=actors.shop
        )
        for action, event in (("inspect", inspect), ("sell", sale)):
            try:
                store.record_event(who, dict(event))
                allowed[(name, action)] = True
            except PermissionDeniedError:
                allowed[(name, action)] = False
    assert [k for k, ok in allowed.items() if ok] == [("inspector", "inspect")]
    with pytest.raises(PermissionDeniedError):
        store.recall(actors.retailer, POTATO, "H-040", reason="not theirs")
    assert store.recall(actors.bureau, POTATO, "H-040", reason="bureau order")["lots"] == [
        (POTATO, "H-040")
    ]
