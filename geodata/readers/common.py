"""Small helpers shared by the readers: warnings, dates, CSV decoding, file checks.

Nothing here knows about a particular product; the product readers build on it.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from geodata.errors import InputError

#: Encodings tried, in order, when a CSV is decoded. ``utf-8-sig`` reads plain
#: UTF-8 and UTF-8 with a byte-order mark; GB18030 is the superset of GBK/GB2312
#: that Chinese-locale Excel and WPS write ("ANSI" on a Chinese Windows).
CSV_ENCODINGS: tuple[str, ...] = ("utf-8-sig", "gb18030")

DateLike: TypeAlias = str | dt.date | dt.datetime | np.datetime64 | pd.Timestamp


class InputWarning(UserWarning):
    """An input was usable only after a repair (e.g. an invalid polygon made valid)."""


def as_timestamp(value: DateLike | None, *, name: str) -> pd.Timestamp | None:
    """Parse a date argument (``"2025-05-01"``, ``date``, ``datetime64``) to a naive UTC day."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise InputError(
            "is not a date", field=name, expected="an ISO date such as 2025-05-01", got=value
        ) from err
    if ts is pd.NaT:
        raise InputError("is not a date", field=name, expected="an ISO date", got=value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def check_date_range(start: pd.Timestamp | None, end: pd.Timestamp | None) -> None:
    """Refuse ``start`` after ``end``."""
    if start is not None and end is not None and start > end:
        raise InputError(
            "start date is after end date", field="start", expected=f"<= {end.date()}", got=str(start.date())
        )


def require_file(path: str | Path) -> Path:
    """The path as :class:`Path`, or an :class:`InputError` when it is missing or empty."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", source=str(path))
    if path.is_dir():
        raise InputError("is a directory, expected a file", source=str(path))
    if path.stat().st_size == 0:
        raise InputError("file is empty (0 bytes)", source=str(path))
    return path


def decode_text(path: str | Path) -> tuple[str, str]:
    """Read a text file whose encoding is UTF-8, UTF-8 with BOM or GBK/GB18030.

    Returns ``(text, encoding)``. UTF-8 is tried first because GBK decoding of
    UTF-8 bytes sometimes "succeeds" with garbage, whereas UTF-8 decoding of GBK
    Chinese text fails reliably (GBK lead bytes 0x81-0xFE are not valid UTF-8
    continuation patterns).
    """
    path = require_file(path)
    raw = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise InputError(
        "cannot decode text", source=str(path), expected="UTF-8, UTF-8 with BOM or GBK (GB18030)"
    )


def read_csv(path: str | Path, *, required: Sequence[str]) -> pd.DataFrame:
    """Read a CSV in any accepted encoding, strip header whitespace, check required columns.

    All columns are read as strings so each reader parses and reports its own
    fields; the frame gets an attribute ``attrs["encoding"]``.
    """
    text, encoding = decode_text(path)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"not a readable CSV: {err}", source=str(path)) from err
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}",
            source=str(path),
            field=missing[0],
            expected=f"columns {', '.join(required)}",
            got=list(frame.columns),
        )
    frame = frame.apply(lambda col: col.str.strip())
    frame.attrs["encoding"] = encoding
    return frame


def csv_lines(index: Iterable[Any]) -> str:
    """CSV line numbers (header is line 1) of the given 0-based row positions, shortened."""
    lines = [int(i) + 2 for i in index]
    return shorten([str(n) for n in lines])


def shorten(items: Sequence[str], limit: int = 10) -> str:
    """``a, b, c`` or ``a, b, ... (+12 more)``."""
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... (+{len(items) - limit} more)"


def parse_dates(
    values: pd.Series, *, source: str, field: str, labels: pd.Series | None = None
) -> pd.Series:
    """Parse ISO dates; unparseable or empty values -> :class:`InputError`.

    The error names the CSV line numbers of the bad rows, or their ``labels``
    (e.g. field ids) when given.
    """
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        if labels is None:
            where = "lines " + csv_lines(np.flatnonzero(bad))
        else:
            where = shorten([str(v) for v in labels[bad]])
        raise InputError(
            f"unparseable or missing dates at {where}",
            source=source,
            field=field,
            expected="ISO dates (YYYY-MM-DD)",
            got=values[bad].iloc[0],
        )
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed
