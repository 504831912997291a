"""Assemble the view models served as JSON and rendered by the pages (no Flask here)."""

from __future__ import annotations

from typing import Any

from webapi.advice import advice_for_alert
from webapi.errors import NotFoundError
from webapi.fields_query import json_value, properties
from webapi.layers import ALERT_COLOURS
from webapi.runs import Run, RunStore

_STAT_SUFFIXES = ("_mean", "_min", "_max", "_std")


def field_alerts(store: RunStore, run: Run, field_id: str, lang: str) -> list[dict[str, Any]]:
    """The run's alerts for one field, worst first, each with its advice."""
    alerts = [a for a in store.alerts(run).get("alerts", []) if str(a.get("target_id")) == field_id]
    alerts.sort(key=lambda a: (-int(a.get("level", 0)), -float(a.get("risk") or 0)))
    operations = store.operations(run) if alerts else None
    return [{**a, "advice": advice_for_alert(a, lang, operations)} for a in alerts]


def field_detail(store: RunStore, run: Run, field_id: str, lang: str) -> dict[str, Any]:
    """Everything the field card and page show: attributes, stats, NDVI, yield, alerts, advice."""
    fields = store.fields(run)
    if field_id not in fields.index:
        raise NotFoundError("unknown field", field="field_id", expected=f"a field of run {run.name}", got=field_id)
    row = fields.loc[field_id]
    props = properties(row.to_dict())
    stats: dict[str, dict[str, Any]] = {}
    attributes: dict[str, Any] = {}
    for key, value in props.items():
        suffix = next((s for s in _STAT_SUFFIXES if key.endswith(s)), None)
        if suffix:
            stats.setdefault(key[: -len(suffix)], {})[suffix[1:]] = value
        elif not key.startswith(("alert_", "yield_pred", "yield_lo", "yield_hi")):
            attributes[key] = value
    ts = store.timeseries(run)
    ts = ts[ts["field_id"] == field_id]
    ndvi = [
        {"date": json_value(r.date), "ndvi": json_value(r.ndvi), "ndvi_smooth": json_value(getattr(r, "ndvi_smooth", None))}
        for r in ts.itertuples()
    ]
    level = int(props.get("alert_level") or 0)
    minx, miny, maxx, maxy = row.geometry.bounds if row.geometry is not None else (None,) * 4
    return {
        "field_id": field_id,
        "run": run.name,
        "season": run.season,
        "attributes": attributes,
        "bbox": [minx, miny, maxx, maxy],
        "stats": stats,
        "yield_forecast": {
            "unit": "t/ha",
            "pred": props.get("yield_pred_t_ha"),
            "lo": props.get("yield_lo_t_ha"),
            "hi": props.get("yield_hi_t_ha"),
            "interval": 0.8,
        },
        "alert_level": level,
        "alert_colour": ALERT_COLOURS.get(level, ALERT_COLOURS[0])[0],
        "alerts": field_alerts(store, run, field_id, lang),
        "ndvi": ndvi,
    }


def sparkline_points(values: list[float | None], width: int = 100, height: int = 24) -> str:
    """SVG polyline ``points`` for a sparkline of ``values`` scaled to the box (None skipped)."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return ""
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    span = (hi - lo) or 1.0
    n = len(values) - 1 or 1
    return " ".join(f"{i / n * width:.1f},{height - (v - lo) / span * height:.1f}" for i, v in pts)


def urgency_key(field: dict[str, Any]) -> tuple[float, float, str]:
    """Sort key: worst alert level first, then highest risk, then field id."""
    alerts = field.get("alerts", [])
    top_risk = max((float(a.get("risk") or 0) for a in alerts), default=0.0)
    return (-float(field.get("alert_level") or 0), -top_risk, str(field.get("field_id")))
