"""Risk -> China's four warning colours, CAP 1.2 fields, and alert records for ``alerts.json``.

Warning colours follow the national early-warning signal scheme (气象灾害预警信号, CMA Order
No. 16, 2007; GB/T 27962-2011 气象灾害预警信号图形): blue (IV, 一般) < yellow (III, 较重) <
orange (II, 严重) < red (I, 特别严重). Level codes here: 0 none, 1 blue, 2 yellow, 3 orange,
4 red (``alert_level.tif`` uses the same codes).

Risk thresholds per hazard (risk >= threshold gives the level), anchored on each model's scale:

* frost, heat: 0.25 / 0.45 / 0.65 / 0.85 — 0.25 is Tmin (Tmax) exactly at the stage's injury
  onset, 1.0 at its severe-kill (severe-heat) temperature (see :mod:`models.risk.frost`).
* waterlogging: 0.20 / 0.40 / 0.55 / 0.70 — 0.20 is a 50 mm rainstorm (暴雨) on free-draining
  ground, 0.40 the same rain on flat low ground, 0.70 a 100 mm heavy rainstorm (大暴雨) there.
* drought: 0.15 / 1/3 / 2/3 / 1.0 — the GB/T 20481-2017 (气象干旱等级) SPI bands on the dryness
  scale of :mod:`models.risk.drought` (``(-0.5 - SPI)/1.5``) at full stage weight: yellow at
  moderate drought (SPI <= -1.0), orange at severe (<= -1.5, the CMA orange drought signal is
  重旱), red at extreme (<= -2.0, CMA red = 特旱, with VHI at its extreme too, as dryness averages
  both); blue from SPI about -0.72, inside the light band (-1.0, -0.5]. (Earlier thresholds
  0.30 / 0.50 / 0.70 raised orange and red one band too early: SPI -1.25 and -1.55.)
* pest: 0.25 / 0.50 / 0.75 / 0.95 — fraction of a generation completed under a trap catch at
  the action threshold.
* disease: 0.40 / 0.60 / 0.75 / 0.90 — late blight: 0.75 is a Hutton period (the UK AHDB warning),
  0.60 a BLITECAST 7-day severity of 3 (the first spray class), 0.90 a 7-day severity near 5;
  stripe rust: 3, 5, 6 and 7 full infection nights within one 14-day latent period.

CAP 1.2 (OASIS 2010) severity: blue Minor, yellow Moderate, orange Severe, red Extreme.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from models.errors import ModelInputError

HAZARDS = ("drought", "frost", "heat", "waterlogging", "pest", "disease")
LEVEL_NAMES = {0: "none", 1: "blue", 2: "yellow", 3: "orange", 4: "red"}
COLOURS = {
    "none": {"hex": "#FFFFFF", "zh": "无预警", "en": "No warning"},
    "blue": {"hex": "#1E6FD9", "zh": "蓝色预警", "en": "Blue warning"},
    "yellow": {"hex": "#FFD500", "zh": "黄色预警", "en": "Yellow warning"},
    "orange": {"hex": "#FF8C00", "zh": "橙色预警", "en": "Orange warning"},
    "red": {"hex": "#E02020", "zh": "红色预警", "en": "Red warning"},
}
CAP_SEVERITY = {1: "Minor", 2: "Moderate", 3: "Severe", 4: "Extreme"}
THRESHOLDS: dict[str, tuple[float, float, float, float]] = {
    "frost": (0.25, 0.45, 0.65, 0.85),
    "heat": (0.25, 0.45, 0.65, 0.85),
    "waterlogging": (0.20, 0.40, 0.55, 0.70),
    "drought": (0.15, 1.0 / 3.0, 2.0 / 3.0, 1.0 - 1e-9),  # GB/T 20481-2017 SPI bands, see above
    "pest": (0.25, 0.50, 0.75, 0.95),
    "disease": (0.40, 0.60, 0.75, 0.90),
}
HAZARD_INFO = {
    "drought": {"cap_category": "Met", "zh": "农业干旱", "en": "Agricultural drought"},
    "frost": {"cap_category": "Met", "zh": "低温冻害", "en": "Frost / low-temperature damage"},
    "heat": {"cap_category": "Met", "zh": "高温热害", "en": "Heat stress"},
    "waterlogging": {"cap_category": "Met", "zh": "暴雨渍涝", "en": "Heavy rain / waterlogging"},
    "pest": {"cap_category": "Env", "zh": "虫害", "en": "Insect pest"},
    "disease": {"cap_category": "Env", "zh": "病害", "en": "Crop disease"},
}
"""CAP ``<category>``: weather-driven hazards are ``Met``; pests and plant diseases are biological
hazards to the environment/crops, ``Env`` (``Health`` is reserved for human/animal health)."""


def _check_hazard(hazard: str) -> None:
    if hazard not in THRESHOLDS:
        raise ModelInputError("unknown hazard", field="hazard", expected=f"one of {HAZARDS}", got=hazard)


def risk_to_level(risk, hazard: str):
    """Warning level 0-4 per element of ``risk`` (numpy, dask or xarray; NaN -> 0)."""
    _check_hazard(hazard)
    t = THRESHOLDS[hazard]
    r = risk.fillna(0.0) if hasattr(risk, "fillna") else np.nan_to_num(np.asarray(risk, dtype="float64"), nan=0.0)
    level = (r >= t[0]) * 1 + (r >= t[1]) * 1 + (r >= t[2]) * 1 + (r >= t[3]) * 1
    return level.astype("uint8")


def colour(level: int) -> str:
    """``"blue"`` ... ``"red"`` (``"none"`` for 0)."""
    if int(level) not in LEVEL_NAMES:
        raise ModelInputError("warning level out of range", field="level", expected="0..4", got=level)
    return LEVEL_NAMES[int(level)]


def legend(lang: str = "zh") -> list[dict[str, Any]]:
    """The map legend of ``alert_level.tif``: value, colour name, hex and label."""
    return [{"value": lvl, "colour": name, "hex": COLOURS[name]["hex"], "label": COLOURS[name][lang if lang in ("zh", "en") else "en"]}
            for lvl, name in LEVEL_NAMES.items()]


def cap_info(hazard: str, level: int, lang: str = "zh") -> dict[str, str]:
    """CAP 1.2 ``<info>`` fields for a hazard at a level (1-4): event, category, severity, urgency, certainty."""
    _check_hazard(hazard)
    if int(level) not in CAP_SEVERITY:
        raise ModelInputError("CAP alerts need a level 1..4", field="level", got=level)
    name = colour(level)
    info = HAZARD_INFO[hazard]
    label = info["zh" if lang.startswith("zh") else "en"]
    colour_label = COLOURS[name]["zh" if lang.startswith("zh") else "en"]
    return {
        "event": f"{label}{colour_label}" if lang.startswith("zh") else f"{label} — {colour_label}",
        "category": info["cap_category"],
        "severity": CAP_SEVERITY[int(level)],
        "urgency": "Immediate" if level >= 3 else "Expected",
        "certainty": "Likely" if level >= 2 else "Possible",
        "language": "zh-CN" if lang.startswith("zh") else "en-US",
    }


def _missing(value: Any) -> bool:
    """True for None/NaN/NaT scalars (pandas fills absent optional cells with NaN)."""
    if isinstance(value, Mapping | list | tuple | np.ndarray):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 3)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def build_alerts(
    risks: pd.DataFrame,
    season: int | str,
    valid_from: str,
    valid_to: str,
    min_level: int = 1,
) -> list[dict[str, Any]]:
    """Alert records in the ``alerts.json`` shape from a per-target, per-hazard risk table.

    ``risks`` has one row per (target, hazard) with columns ``target_id``, ``hazard``, ``risk``
    and optionally ``target_type`` (default ``"field"``), ``township``, ``cooperative_id``,
    ``crop``, ``stage`` and ``triggers`` (a dict of the numbers behind the risk, e.g. the
    aggregated trigger variables of the hazard). Rows below ``min_level`` are dropped; the
    result is sorted by level (worst first), then hazard and target.
    """
    required = {"target_id", "hazard", "risk"}
    missing = required - set(risks.columns)
    if missing:
        raise ModelInputError("risk table lacks columns", source="risk table", field=",".join(sorted(missing)),
                              expected=f"columns {sorted(required)}")
    alerts = []
    for raw in risks.to_dict("records"):
        row = {k: (None if _missing(v) else v) for k, v in raw.items()}
        hazard = str(row["hazard"])
        _check_hazard(hazard)
        risk = row["risk"]
        if risk is None:
            continue
        level = int(risk_to_level(float(risk), hazard))
        if level < max(min_level, 1):
            continue
        name = colour(level)
        crop = row.get("crop")
        stage = row.get("stage") or "any"
        triggers = row.get("triggers") or {}
        if not isinstance(triggers, Mapping):
            raise ModelInputError("triggers must be a mapping", field="triggers", got=triggers)
        alerts.append(
            {
                "id": f"{season}-{row['target_id']}-{hazard}",
                "target_type": row.get("target_type") or "field",
                "target_id": str(row["target_id"]),
                "township": _jsonable(row.get("township")),
                "cooperative_id": _jsonable(row.get("cooperative_id")),
                "crop": crop,
                "hazard": hazard,
                "level": level,
                "colour": name,
                "risk": round(float(risk), 3),
                "stage": stage,
                "triggers": {k: _jsonable(v) for k, v in triggers.items()},
                "valid_from": str(valid_from),
                "valid_to": str(valid_to),
                "advice_key": f"{hazard}/{crop or 'any'}/{stage}/{name}",
            }
        )
    alerts.sort(key=lambda a: (-a["level"], a["hazard"], a["target_id"]))
    return alerts


def level_counts(alerts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Number of alerts per colour (for run summaries)."""
    counts = {name: 0 for name in ("blue", "yellow", "orange", "red")}
    for a in alerts:
        counts[a["colour"]] += 1
    return counts
