"""CSV tables: yield history and farm operations (农事作业记录).

Both accept UTF-8, UTF-8 with BOM and GBK/GB18030 (what Excel and WPS write on
Chinese-locale Windows); see :func:`geodata.readers.common.decode_text`.
Problems are reported with CSV line numbers (the header is line 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geodata.errors import InputError
from geodata.readers.common import csv_lines, parse_dates, read_csv
from geodata.readers.vector import CROPS

YIELD_COLUMNS: tuple[str, ...] = ("field_id", "season", "crop", "yield_t_ha")

#: Plausible field-level yields, t/ha (potato: fresh tubers; cereals: grain at
#: 13 % moisture). Bounds bracket the national and provincial yields of FAOSTAT
#: (FAO, Crops and livestock products, domain QCL, China 2000-2022: roughly
#: potato 14-20 t/ha, maize 4.5-6.5, wheat 3.7-5.9 t/ha) and of the China
#: Statistical Yearbook and the Gansu / Tibet statistical yearbooks (dry-land
#: potato in Dingxi and highland barley in Tibet a few t/ha below those). The
#: lower bound is 0: a failed harvest in a drought or frost year is a real record
#: (a field abandoned or ploughed under) that the yield model must see. The upper
#: bound covers record irrigated plots (maize above 20 t/ha in Xinjiang; potato
#: 60 t/ha irrigated); above it a unit mistake (kg/mu, kg/ha) is the likely cause.
YIELD_RANGE_T_HA: dict[str, tuple[float, float]] = {
    "potato": (0.0, 60.0),
    "spring_wheat": (0.0, 12.0),
    "winter_wheat": (0.0, 12.0),
    "highland_barley": (0.0, 10.0),
    "maize": (0.0, 20.0),
}

OPERATION_COLUMNS: tuple[str, ...] = (
    "field_id", "date", "operation", "product", "active_ingredient", "dose", "unit", "operator",
)
OPERATIONS: tuple[str, ...] = ("sowing", "irrigation", "fertilising", "spraying", "harvest")
#: Dose units (per hectare; ``mm`` is irrigation depth), docs/DATA_LAYOUT.md.
DOSE_UNITS: tuple[str, ...] = ("kg/ha", "L/ha", "g/ha", "mm")


def read_yield_history(path: str | Path) -> pd.DataFrame:
    """Read ``field_id, season, crop, yield_t_ha``; refuse implausible or malformed rows.

    Returns a DataFrame with ``season`` as int and ``yield_t_ha`` as float.
    """
    source = str(path)
    frame = read_csv(path, required=YIELD_COLUMNS)
    blank = frame["field_id"] == ""
    if blank.any():
        raise InputError(f"missing field_id at lines {csv_lines(np.flatnonzero(blank))}", source=source,
                         field="field_id", expected="a field id on every row")
    season = pd.to_numeric(frame["season"], errors="coerce")
    bad = season.isna() | (season != np.floor(season)) | (season < 1900) | (season > 2100)
    if bad.any():
        raise InputError(
            f"invalid season at lines {csv_lines(np.flatnonzero(bad))}", source=source, field="season",
            expected="a year such as 2024", got=frame.loc[bad, "season"].iloc[0],
        )
    unknown = ~frame["crop"].isin(CROPS)
    if unknown.any():
        raise InputError(
            f"unknown crop at lines {csv_lines(np.flatnonzero(unknown))}", source=source, field="crop",
            expected=f"one of {', '.join(CROPS)}", got=frame.loc[unknown, "crop"].iloc[0],
        )
    value = pd.to_numeric(frame["yield_t_ha"], errors="coerce")
    if value.isna().any():
        bad = value.isna()
        raise InputError(
            f"non-numeric yield at lines {csv_lines(np.flatnonzero(bad))}", source=source, field="yield_t_ha",
            expected="a number in t/ha", got=frame.loc[bad, "yield_t_ha"].iloc[0],
        )
    low = frame["crop"].map(lambda c: YIELD_RANGE_T_HA[c][0])
    high = frame["crop"].map(lambda c: YIELD_RANGE_T_HA[c][1])
    out_of_range = (value < low) | (value > high)
    if out_of_range.any():
        rows = np.flatnonzero(out_of_range)
        first = rows[0]
        crop = frame["crop"].iloc[first]
        raise InputError(
            f"implausible yield at lines {csv_lines(rows)}", source=source, field="yield_t_ha",
            expected=f"{crop} within {YIELD_RANGE_T_HA[crop][0]}-{YIELD_RANGE_T_HA[crop][1]} t/ha",
            got=float(value.iloc[first]),
        )
    dup = frame.duplicated(["field_id", "season"], keep=False)
    if dup.any():
        raise InputError(
            f"duplicated field_id/season at lines {csv_lines(np.flatnonzero(dup))}", source=source,
            field="season", expected="one row per field and season",
        )
    return pd.DataFrame(
        {"field_id": frame["field_id"], "season": season.astype("int64"), "crop": frame["crop"],
         "yield_t_ha": value.astype("float64")}
    )


def read_operations(path: str | Path) -> pd.DataFrame:
    """Read the farm-operations log; refuse unknown operations/units, bad dates, negative doses.

    ``dose`` may be empty (e.g. a harvest row); when given it needs a ``unit``
    from :data:`DOSE_UNITS`. Returns ``date`` as datetime64 and ``dose`` as float
    (NaN when empty); text columns are kept as read (Chinese text intact).
    """
    source = str(path)
    frame = read_csv(path, required=OPERATION_COLUMNS)
    blank = frame["field_id"] == ""
    if blank.any():
        raise InputError(f"missing field_id at lines {csv_lines(np.flatnonzero(blank))}", source=source,
                         field="field_id", expected="a field id on every row")
    frame["date"] = parse_dates(frame["date"], source=source, field="date")
    unknown = ~frame["operation"].isin(OPERATIONS)
    if unknown.any():
        raise InputError(
            f"unknown operation at lines {csv_lines(np.flatnonzero(unknown))}", source=source,
            field="operation", expected=f"one of {', '.join(OPERATIONS)}",
            got=frame.loc[unknown, "operation"].iloc[0],
        )
    dose = pd.to_numeric(frame["dose"].replace("", np.nan), errors="coerce")
    non_numeric = dose.isna() & (frame["dose"] != "")
    if non_numeric.any():
        raise InputError(
            f"non-numeric dose at lines {csv_lines(np.flatnonzero(non_numeric))}", source=source,
            field="dose", expected="a number >= 0", got=frame.loc[non_numeric, "dose"].iloc[0],
        )
    negative = dose < 0
    if negative.any():
        raise InputError(
            f"negative dose at lines {csv_lines(np.flatnonzero(negative))}", source=source, field="dose",
            expected="a dose >= 0", got=float(dose[negative].iloc[0]),
        )
    has_dose = dose.notna()
    bad_unit = has_dose & ~frame["unit"].isin(DOSE_UNITS)
    if bad_unit.any():
        raise InputError(
            f"unknown or missing unit at lines {csv_lines(np.flatnonzero(bad_unit))}", source=source,
            field="unit", expected=f"one of {', '.join(DOSE_UNITS)}", got=frame.loc[bad_unit, "unit"].iloc[0],
        )
    frame["dose"] = dose.astype("float64")
    return frame
