"""Warning levels, CAP mapping and alert records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from models.alerts import (
    HAZARDS,
    THRESHOLDS,
    build_alerts,
    cap_info,
    legend,
    level_counts,
    risk_to_level,
)
from models.errors import ModelInputError


def test_frost_levels_at_documented_thresholds():
    risk = np.array([0.0, 0.2499, 0.25, 0.45, 0.65, 0.85, 1.0, np.nan])
    assert risk_to_level(risk, "frost").tolist() == [0, 0, 1, 2, 3, 4, 4, 0]


def test_levels_work_on_dask_backed_xarray():
    risk = xr.DataArray(np.linspace(0, 1, 12).reshape(3, 4), dims=("y", "x")).chunk({"y": 1})
    lazy = risk_to_level(risk, "drought")
    assert lazy.chunks is not None and lazy.dtype == np.uint8
    assert lazy.compute().values.tolist() == risk_to_level(risk.values, "drought").tolist()


def test_thresholds_increase_for_every_hazard():
    for hazard in HAZARDS:
        t = THRESHOLDS[hazard]
        assert list(t) == sorted(t) and t[0] > 0 and t[-1] <= 1


def test_cap_severity_and_category():
    assert [cap_info("frost", lvl)["severity"] for lvl in (1, 2, 3, 4)] == ["Minor", "Moderate", "Severe", "Extreme"]
    assert cap_info("frost", 1)["category"] == "Met"
    assert cap_info("disease", 4, "en")["category"] == "Env"
    assert cap_info("heat", 3)["event"] == "高温热害橙色预警"
    with pytest.raises(ModelInputError):
        cap_info("frost", 0)


def test_legend_has_hex_colours_and_labels():
    entries = legend("zh")
    assert [e["colour"] for e in entries] == ["none", "blue", "yellow", "orange", "red"]
    assert entries[4]["label"] == "红色预警" and entries[4]["hex"].startswith("#")
    assert legend("en")[2]["label"] == "Yellow warning"


def test_build_alerts_shape_matches_data_layout():
    table = pd.DataFrame([
        {"target_id": "DX-000123", "hazard": "frost", "risk": 0.71, "crop": "potato", "stage": "emergence",
         "township": "T01", "cooperative_id": "C03",
         "triggers": {"tmin_min_degC": np.float64(-3.2), "days_below_threshold": np.int64(2)}},
        {"target_id": "DX-000124", "hazard": "frost", "risk": 0.1, "crop": "potato", "stage": "emergence"},
        {"target_id": "DX-000125", "hazard": "disease", "risk": 0.95, "crop": "potato", "stage": "flowering"},
    ])
    alerts = build_alerts(table, 2025, "2025-05-10", "2025-05-24")
    assert [a["target_id"] for a in alerts] == ["DX-000125", "DX-000123"]  # worst first, below blue dropped
    frost = alerts[1]
    assert frost == {
        "id": "2025-DX-000123-frost", "target_type": "field", "target_id": "DX-000123", "township": "T01",
        "cooperative_id": "C03", "crop": "potato", "hazard": "frost", "level": 3, "colour": "orange",
        "risk": 0.71, "stage": "emergence", "triggers": {"tmin_min_degC": -3.2, "days_below_threshold": 2},
        "valid_from": "2025-05-10", "valid_to": "2025-05-24", "advice_key": "frost/potato/emergence/orange",
    }
    json.dumps(alerts)  # JSON-able
    assert level_counts(alerts) == {"blue": 0, "yellow": 0, "orange": 1, "red": 1}


def test_build_alerts_names_missing_columns_and_bad_hazard():
    with pytest.raises(ModelInputError, match="risk"):
        build_alerts(pd.DataFrame({"target_id": ["a"], "hazard": ["frost"]}), 2025, "a", "b")
    with pytest.raises(ModelInputError, match="hazard"):
        build_alerts(pd.DataFrame({"target_id": ["a"], "hazard": ["hail"], "risk": [0.9]}), 2025, "a", "b")


def test_drought_levels_follow_gb_t_20481_spi_bands():
    from models.risk.drought import spi_dryness

    # SPI at full stage weight: -0.9 light (blue), -1.2 moderate (yellow), -1.6 severe (orange),
    # -2.0 extreme (red); dryness = (-0.5 - SPI) / 1.5 = 0.267, 0.467, 0.733, 1.0
    spi = np.array([-0.4, -0.9, -1.2, -1.6, -2.0, -2.5])
    assert risk_to_level(spi_dryness(spi), "drought").tolist() == [0, 1, 2, 3, 4, 4]
