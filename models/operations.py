"""Reading the farm-operations log (农事作业记录) for the models: last irrigation, last effective spray.

The log is a DataFrame with the ``operations.csv`` columns of docs/DATA_LAYOUT.md:
``field_id, date, operation, product, active_ingredient, dose, unit, operator``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.errors import ModelInputError

OPERATIONS = ("sowing", "irrigation", "fertilising", "spraying", "harvest")
REQUIRED = ("field_id", "date", "operation")


def check_operations(ops: pd.DataFrame) -> pd.DataFrame:
    """The log with ``date`` parsed and ``operation`` lower-cased; a clear error on missing columns/bad values."""
    missing = [c for c in REQUIRED if c not in ops.columns]
    if missing:
        raise ModelInputError("operations log lacks columns", source="operations.csv", field=",".join(missing),
                              expected=f"columns {list(REQUIRED)}")
    out = ops.copy()
    try:
        out["date"] = pd.to_datetime(out["date"])
    except (ValueError, TypeError) as err:
        raise ModelInputError("dates not understood", source="operations.csv", field="date",
                              expected="ISO dates (YYYY-MM-DD)") from err
    out["operation"] = out["operation"].astype(str).str.strip().str.lower()
    bad = sorted(set(out["operation"]) - set(OPERATIONS))
    if bad:
        raise ModelInputError("unknown operation", source="operations.csv", field="operation",
                              expected=f"one of {OPERATIONS}", got=bad[:5])
    out["field_id"] = out["field_id"].astype(str)
    return out


def field_operations(ops: pd.DataFrame, field_id: str, operation: str, on) -> pd.DataFrame:
    """Rows of ``operation`` on ``field_id`` dated on or before ``on``, latest first."""
    log = check_operations(ops)
    when = pd.Timestamp(on)
    sel = log[(log["field_id"] == str(field_id)) & (log["operation"] == operation) & (log["date"] <= when)]
    return sel.sort_values("date", ascending=False)


def days_since(ops: pd.DataFrame, field_id: str, operation: str, on) -> float:
    """Days from the latest ``operation`` on the field to ``on`` (NaN if none)."""
    rows = field_operations(ops, field_id, operation, on)
    if rows.empty:
        return float("nan")
    return float((pd.Timestamp(on) - rows["date"].iloc[0]).days)


def days_since_irrigation(ops: pd.DataFrame, field_ids, on) -> np.ndarray:
    """Days since the last irrigation of each field (NaN: none logged), for the drought model."""
    return np.array([days_since(ops, f, "irrigation", on) for f in field_ids], dtype="float64")
