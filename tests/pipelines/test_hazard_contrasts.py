"""The demo region's designed contrasts show up in the alerts: drought vs wet season, valley vs slope frost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.alerts import risk_to_level
from pipelines import fieldfeatures
from pipelines.season import field_risk_table

pytestmark = pytest.mark.slow


def _season_risks(field_data, season: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = field_data.seasons[season]
    table = field_data.table(season, data.sowing, fieldfeatures.cutoffs(data.sowing, data.ends, "end"))
    risks = field_risk_table(field_data, season, table, (data.window.start, data.window.valid_to))
    risks["level"] = [int(risk_to_level(np.nan if r is None else r, h)) for r, h in zip(risks["risk"], risks["hazard"], strict=True)]
    return table, risks


@pytest.fixture(scope="module")
def season_types(region: Path) -> dict[str, int]:
    types = json.loads((region / "region.json").read_text())["season_types"]
    return {kind: int(year) for year, kind in types.items()}


def test_drought_season_has_more_drought_alerts_than_the_wet_season(field_data, season_types) -> None:
    counts = {}
    for kind in ("drought", "wet"):
        _, risks = _season_risks(field_data, season_types[kind])
        drought = risks[risks["hazard"] == "drought"]
        counts[kind] = int((drought["level"] >= 1).sum())
    assert counts["drought"] > counts["wet"], counts
    assert counts["drought"] > 0


def test_valley_fields_get_more_frost_alerts_than_slope_fields(field_data, season_types) -> None:
    alerted = []
    for kind in ("drought", "wet"):
        table, risks = _season_risks(field_data, season_types[kind])
        frost = risks[risks["hazard"] == "frost"].set_index("target_id")["level"]
        alerted.append(pd.DataFrame({"rel_elev": table["rel_elev"], "alert": frost.reindex(table.index) >= 1,
                                     "crop": table["crop"]}))
    both = pd.concat(alerted)
    valley = both[both["rel_elev"] <= both["rel_elev"].quantile(1 / 3)]
    slope = both[both["rel_elev"] >= both["rel_elev"].quantile(2 / 3)]
    assert valley["alert"].sum() > slope["alert"].sum(), (valley["alert"].sum(), slope["alert"].sum())
