"""Read the farm operations log (农事作业记录) of docs/DATA_LAYOUT.md.

``operations/operations.csv``: ``field_id, date, operation, product,
active_ingredient, dose, unit, operator``; UTF-8, UTF-8 with BOM or GBK (as
written by Chinese office software). Reading is separate from selecting the
operations of one field and season (:func:`season_operations`, pure).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from traceability.errors import OperationsLogError

COLUMNS = (
    "field_id",
    "date",
    "operation",
    "product",
    "active_ingredient",
    "dose",
    "unit",
    "operator",
)
OPERATIONS = ("sowing", "irrigation", "fertilising", "spraying", "harvest")
ENCODINGS = ("utf-8-sig", "gbk")


def _decode(raw: bytes, source: str) -> str:
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise OperationsLogError(
        "cannot decode the file", source=source, expected="UTF-8, UTF-8 with BOM or GBK text"
    )


def read_operations(path: str | Path) -> pd.DataFrame:
    """The operations log as a DataFrame with parsed dates; clear errors name the file and row."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise OperationsLogError(f"cannot read the file: {err.strerror}", source=source) from err
    try:
        frame = pd.read_csv(io.StringIO(_decode(raw, source)), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise OperationsLogError("not a readable CSV table", source=source, got=str(err)) from err
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise OperationsLogError(
            "missing columns", source=source, field=", ".join(missing), expected=", ".join(COLUMNS)
        )
    frame = frame.loc[:, list(COLUMNS)].copy()
    for col in COLUMNS:
        frame[col] = frame[col].astype(str).str.strip()
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")
    bad = dates.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise OperationsLogError(
            f"row {row + 2}: not a date",
            source=source,
            field="date",
            expected="YYYY-MM-DD",
            got=frame["date"].iloc[row],
        )
    frame["date"] = dates.dt.date
    unknown = ~frame["operation"].isin(OPERATIONS)
    if unknown.any():
        row = int(unknown.to_numpy().nonzero()[0][0])
        raise OperationsLogError(
            f"row {row + 2}: unknown operation",
            source=source,
            field="operation",
            expected=" / ".join(OPERATIONS),
            got=frame["operation"].iloc[row],
        )
    dose = pd.to_numeric(frame["dose"].replace("", None), errors="coerce")
    bad_dose = dose.isna() & (frame["dose"] != "")
    if bad_dose.any():
        row = int(bad_dose.to_numpy().nonzero()[0][0])
        raise OperationsLogError(
            f"row {row + 2}: dose is not a number",
            source=source,
            field="dose",
            expected="a number per hectare",
            got=frame["dose"].iloc[row],
        )
    frame["dose"] = dose
    return frame


def season_operations(
    frame: pd.DataFrame, field_id: str, harvest_date: date
) -> list[dict[str, Any]]:
    """Operations on ``field_id`` from its last sowing before ``harvest_date`` up to the harvest.

    Without a sowing row the season starts on 1 January of the harvest year. The
    ``harvest`` rows themselves are left out (the harvest is the event).
    """
    rows = frame[(frame["field_id"] == field_id) & (frame["date"] <= harvest_date)]
    sowings = rows[rows["operation"] == "sowing"]["date"]
    start = max(sowings) if len(sowings) else date(harvest_date.year, 1, 1)
    rows = rows[(rows["date"] >= start) & (rows["operation"] != "harvest")].sort_values(
        "date", kind="stable"
    )
    return [_record(r) for r in rows.to_dict("records")]


def _record(row: dict[str, Any]) -> dict[str, Any]:
    dose = row["dose"]
    return {
        "date": row["date"],
        "operation": row["operation"],
        "product": row["product"] or None,
        "active_ingredient": row["active_ingredient"] or None,
        "dose": None if pd.isna(dose) else float(dose),
        "unit": row["unit"] or None,
        "operator": row["operator"] or None,
    }


def sprayings(operations: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [op for op in operations if op["operation"] == "spraying"]
