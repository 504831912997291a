"""Hostile events: any mutation of a valid event is recorded or refused with a TraceError, never a crash."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traceability.epcis import builders
from traceability.errors import TraceError
from traceability.store import TraceStore

from .conftest import POTATO, harvest, harvest_event, shipping_event, t

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _templates(actors) -> list[dict]:
    return [
        harvest_event(
            actors,
            "H-FUZZ",
            kg=10,
            operations=[
                {
                    "date": t(-10).date(),
                    "operation": "spraying",
                    "product": "p",
                    "active_ingredient": "mancozeb",
                    "dose": 1.0,
                    "unit": "kg/ha",
                }
            ],
        )[1],
        shipping_event(actors.coop, actors.processor, POTATO, "H-BASE", 1, actors.field_a),
        builders.transformation_event(
            inputs=[(POTATO, "H-BASE", 100)],
            outputs=[(POTATO, "T-FUZZ", 99)],
            when=t(2),
            location=actors.packhouse,
            process="washing",
        ),
    ]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_events_never_crash(store: TraceStore, actors, data: st.DataObject) -> None:
    if not store.lots():
        harvest(store, actors, "H-BASE", kg=100)
    template = data.draw(st.sampled_from(_templates(actors)))
    event = copy.deepcopy(template)
    path = data.draw(st.sampled_from(_paths(event)))
    _set(event, path, data.draw(JSON_VALUES))
    json.dumps(event)  # the hostile event is plain JSON
    try:
        store.record_event(actors.coop, event)
    except TraceError as err:
        assert str(err)
