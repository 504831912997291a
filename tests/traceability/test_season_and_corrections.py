"""Season summaries from pipeline fields.csv; corrections as EPCIS error declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from traceability.epcis import builders
from traceability.errors import EventRuleError, PermissionDeniedError
from traceability.season_summary import fields_csv_provider
from traceability.store import TraceStore

from .conftest import POTATO, harvest, t

FIELDS_CSV = """field_id,crop,yield_pred_t_ha,alert_drought,alert_frost,alert_heat,alert_waterlogging,alert_pest,alert_disease,alert_level
DX-000001,potato,31.0,0,3,0,0,1,0,3
DX-000002,potato,18.0,0,0,0,0,0,0,0
DX-000003,potato,24.0,2,0,0,0,0,0,2
DX-000009,maize,9.0,0,0,0,0,0,0,0
"""


def test_fields_csv_provider(tmp_path: Path) -> None:
    (tmp_path / "2025").mkdir()
    (tmp_path / "2025" / "fields.csv").write_text(FIELDS_CSV, encoding="utf-8")
    (tmp_path / ".2026.partial").mkdir()
    (tmp_path / ".2026.partial" / "fields.csv").write_text(FIELDS_CSV, encoding="utf-8")
    provider = fields_csv_provider(tmp_path)
    # Potato yields 18, 24, 31: 31 is above the upper tercile -> high; 18 below the lower -> low.
    assert provider("DX-000001", 2025) == {
        "season": 2025,
        "run_id": "2025",
        "yield_pred_t_ha": 31.0,
        "yield_class": "high",
        "alerts": [
            {"hazard": "frost", "level": 3, "colour": "orange"},
            {"hazard": "pest", "level": 1, "colour": "blue"},
        ],
        "alert_level": 3,
    }
    assert provider("DX-000002", 2025)["yield_class"] == "low"
    assert provider("DX-000003", 2025)["yield_class"] == "medium"
    assert provider("DX-000001", 2026) is None  # only a hidden, incomplete run exists
    assert provider("DX-999999", 2025) is None


def test_consumer_view_uses_the_pipeline_summary(store: TraceStore, actors, tmp_path: Path) -> None:
    (tmp_path / "2025-asof-20250820").mkdir()
    (tmp_path / "2025-asof-20250820" / "fields.csv").write_text(FIELDS_CSV, encoding="utf-8")
    harvest(store, actors, "H-S1")
    view = store.consumer_view(
        POTATO, "H-S1", season_summary_provider=fields_csv_provider(tmp_path)
    )
    assert view["season_summary"][0]["yield_class"] == "high"
    assert view["season_summary"][0]["run_id"] == "2025-asof-20250820"


def test_error_declaration_is_stored_beside_the_original(store: TraceStore, actors) -> None:
    harvest(store, actors, "H-E1")
    wrong = builders.inspection_event(
        gtin=POTATO, lot="H-E1", when=t(1), location=actors.lab, results=[], conformant=False
    )
    recorded = store.record_event(actors.inspector, dict(wrong))
    declaration = {
        **wrong,
        "eventID": recorded.event_id,
        "errorDeclaration": {
            "declarationTime": "2025-09-03T10:00:00.000+08:00",
            "reason": "incorrect_data",
        },
    }
    with pytest.raises(PermissionDeniedError):
        store.record_event(actors.retailer, dict(declaration))
    correction = store.record_event(actors.inspector, dict(declaration))
    assert correction.created and correction.event_id == recorded.event_id + "#error-declaration"
    again = store.record_event(actors.inspector, dict(declaration))
    assert not again.created
    events = store.lot(POTATO, "H-E1")["events"]
    assert [e["corrects"] for e in events] == [None, None, recorded.event_id]
    assert events[1]["event_hash"] == recorded.event_hash  # the original is never edited
    assert store.verify_lot(POTATO, "H-E1").ok
    assert (
        store.lot(POTATO, "H-E1")["inspection"] == "none"
    )  # the wrong non-conformant result no longer counts
    view = store.consumer_view(POTATO, "H-E1")
    assert [(e["step"], e["declared_erroneous"]) for e in view["custody"]] == [
        ("harvest", False),
        ("inspection", True),
        ("correction", False),
    ]
    assert view["inspections"] == [] and view["inspection_status"] == "none"
    with pytest.raises(EventRuleError, match="unknown event"):
        store.record_event(
            actors.inspector,
            {**declaration, "eventID": "urn:uuid:00000000-0000-4000-8000-000000000000"},
        )
