"""EPCIS 2.0: event hash, export valid against the official schema, import rejects what the schema rejects."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from traceability.epcis.hashing import event_hash
from traceability.errors import EpcisValidationError, PayloadTooLargeError
from traceability.store import TraceStore

from .conftest import POTATO, WASHED, gln, make_actors, make_demo_chain


@pytest.fixture(scope="module")
def epcis_validator(standards_dir: Path) -> jsonschema.Draft7Validator:
    schema = json.loads((standards_dir / "EPCIS-JSON-Schema.json").read_text())
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def test_event_hash_matches_hand_written_canonical_string() -> None:
    event = {
        "type": "ObjectEvent",
        "eventTime": "2025-09-20T08:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": ["https://id.gs1.org/01/04006381333931/21/A1"],
        "action": "OBSERVE",
        "bizStep": "shipping",
    }
    # CBV 2.0 §8.9: fixed order, UTC with milliseconds, CBV short names expanded to GS1 Web URIs, no separators.
    canonical = (
        "eventType=ObjectEvent"
        "eventTime=2025-09-20T00:00:00.000Z"
        "eventTimeZoneOffset=+08:00"
        "epcListepc=https://id.gs1.org/01/04006381333931/21/A1"
        "action=OBSERVE"
        "bizStep=https://ref.gs1.org/cbv/BizStep-shipping"
    )
    expected = "ni:///sha-256;" + hashlib.sha256(canonical.encode()).hexdigest() + "?ver=CBV2.0"
    assert event_hash(event) == expected
    reordered = dict(reversed(list(event.items())))
    assert event_hash(reordered) == expected
    assert event_hash({**event, "bizStep": "receiving"}) != expected


def test_export_of_demo_chain_validates(store: TraceStore, demo_chain, epcis_validator) -> None:
    doc = store.export_lot(WASHED, "W-001")
    errors = sorted(epcis_validator.iter_errors(doc), key=str)
    assert not errors, errors[0].message
    steps = [e.get("bizStep") for e in doc["epcisBody"]["eventList"]]
    assert steps == [
        "commissioning",
        "inspecting",
        "shipping",
        "receiving",
        "commissioning",
        "packing",
        "shipping",
        "receiving",
        "retail_selling",
    ]
    harvest = doc["epcisBody"]["eventList"][0]
    assert harvest["ilmd"]["nongshu:fieldID"] == "DX-000001"


@pytest.fixture(scope="module")
def good_document(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The export of the demo chain's harvest lot (built once, on SQLite)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('good') / 'trace.db'}"
    with TraceStore.open(url) as s:
        make_demo_chain(s, make_actors(s))
        return s.export_lot(POTATO, "H-001")


BREAKAGES = {
    "no eventTime": (
        lambda d: d["epcisBody"]["eventList"][0].pop("eventTime"),
        "eventList[0].eventTime",
    ),
    "bad action": (
        lambda d: d["epcisBody"]["eventList"][0].__setitem__("action", "CREATE"),
        "eventList[0].action",
    ),
    "bad timezone": (
        lambda d: d["epcisBody"]["eventList"][0].__setitem__("eventTimeZoneOffset", "+8"),
        "eventList[0].eventTimeZoneOffset",
    ),
    "bad uom": (
        lambda d: d["epcisBody"]["eventList"][0]["quantityList"][0].__setitem__("uom", "kg"),
        "quantityList[0].uom",
    ),
    "CBV 1.x URN bizStep": (
        lambda d: d["epcisBody"]["eventList"][0].__setitem__(
            "bizStep", "urn:epcglobal:cbv:bizstep:x"
        ),
        "eventList[0].bizStep",
    ),
    "no context": (lambda d: d.pop("@context"), "$.@context"),
    "wrong doc type": (lambda d: d.__setitem__("type", "EPCISDoc"), "$.type"),
    "no schemaVersion": (lambda d: d.pop("schemaVersion"), "$.schemaVersion"),
    "eventList not a list": (
        lambda d: d["epcisBody"].__setitem__("eventList", {}),
        "$.epcisBody.eventList",
    ),
    "destination without type": (
        lambda d: d["epcisBody"]["eventList"][2]["destinationList"][0].pop("type"),
        "eventList[2].destinationList[0].type",
    ),
    "extra quantity property": (
        lambda d: d["epcisBody"]["eventList"][0]["quantityList"][0].__setitem__("kg", 1),
        "quantityList[0].kg",
    ),
    "quantity as text": (
        lambda d: d["epcisBody"]["eventList"][0]["quantityList"][0].__setitem__("quantity", "lots"),
        "quantityList[0].quantity",
    ),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_import_rejects_what_the_official_schema_rejects(
    store: TraceStore, good_document, epcis_validator, name: str
) -> None:
    coop = store.create_organisation(
        gln=gln(1), name="Anding Potato Cooperative", role="cooperative"
    )
    doc = copy.deepcopy(good_document)
    assert epcis_validator.is_valid(doc)
    breakage, where = BREAKAGES[name]
    breakage(doc)
    assert not epcis_validator.is_valid(doc), "the fixture must break the official schema"
    with pytest.raises(EpcisValidationError) as info:
        store.import_document(coop, json.dumps(doc))
    assert info.value.field is not None and where in info.value.field


def test_import_malformed_and_oversized(store: TraceStore, demo_chain) -> None:
    with pytest.raises(EpcisValidationError, match="not valid JSON"):
        store.import_document(demo_chain.coop, b'{"type": "EPCISDocument",')
    with pytest.raises(PayloadTooLargeError):
        store.import_document(demo_chain.coop, b" " * 2048, max_bytes=1024)


def test_reimport_of_own_export_is_idempotent(store: TraceStore, demo_chain) -> None:
    doc = store.export_lot(POTATO, "H-001")
    before = len(store.lot(POTATO, "H-001")["events"])
    recorded = store.import_document(demo_chain.coop, json.dumps(doc))
    assert recorded and not any(r.created for r in recorded)
    assert len(store.lot(POTATO, "H-001")["events"]) == before
