"""Season summaries of origin fields read from pipeline run outputs (``<outputs>/<run_id>/fields.csv``).

:func:`fields_csv_provider` returns a ``season_summary_provider`` for
:meth:`TraceStore.consumer_view`: it reads only the run's ``fields.csv`` table
(docs/DATA_LAYOUT.md), never rasters. The yield class is the field's tercile
of ``yield_pred_t_ha`` among the run's fields of the same crop; alerts are the
hazards whose worst level (1 blue .. 4 red, China's four warning colours) is
above zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from traceability.errors import TraceError

COLOURS = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
HAZARDS = ("drought", "frost", "heat", "waterlogging", "pest", "disease")


def run_dir_for_season(outputs: Path, season: int) -> Path | None:
    """``<outputs>/<season>`` or else the latest ``<season>-asof-<yyyymmdd>``; hidden (partial) runs ignored."""
    exact = outputs / str(season)
    if (exact / "fields.csv").is_file():
        return exact
    asof = sorted(p for p in outputs.glob(f"{season}-asof-*") if (p / "fields.csv").is_file())
    return asof[-1] if asof else None


def yield_class(value: float, values: pd.Series) -> str | None:
    """``low`` / ``medium`` / ``high``: tercile of ``value`` among ``values`` (NaN ignored)."""
    clean = values.dropna()
    if pd.isna(value) or clean.empty:
        return None
    lo, hi = clean.quantile([1 / 3, 2 / 3])
    return "low" if value < lo else ("high" if value > hi else "medium")


def summarise_field(
    table: pd.DataFrame, field_id: str, season: int, run_id: str
) -> dict[str, Any] | None:
    """Pure: the season summary of one field from a run's field table."""
    rows = table[table["field_id"].astype(str) == field_id]
    if rows.empty:
        return None
    row = rows.iloc[0]
    out: dict[str, Any] = {"season": season, "run_id": run_id}
    if "yield_pred_t_ha" in table.columns:
        peers = (
            table["yield_pred_t_ha"]
            if "crop" not in table.columns
            else table.loc[table["crop"] == row.get("crop"), "yield_pred_t_ha"]
        )
        pred = float(row["yield_pred_t_ha"]) if pd.notna(row["yield_pred_t_ha"]) else float("nan")
        out["yield_pred_t_ha"] = None if pd.isna(pred) else round(pred, 2)
        out["yield_class"] = yield_class(pred, peers.astype(float))
    alerts = []
    for hazard in HAZARDS:
        col = f"alert_{hazard}"
        if col in table.columns and pd.notna(row[col]) and int(row[col]) > 0:
            level = int(row[col])
            alerts.append({"hazard": hazard, "level": level, "colour": COLOURS.get(level)})
    out["alerts"] = alerts
    if "alert_level" in table.columns and pd.notna(row["alert_level"]):
        out["alert_level"] = int(row["alert_level"])
    return out


def fields_csv_provider(outputs: str | Path) -> Callable[[str, int], Mapping[str, Any] | None]:
    """A ``season_summary_provider(field_id, season)`` over the runs under ``outputs``."""
    root = Path(outputs)

    @lru_cache(maxsize=16)
    def table(run: Path, mtime: float) -> pd.DataFrame:
        try:
            return pd.read_csv(run / "fields.csv", dtype={"field_id": str}, encoding="utf-8-sig")
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise TraceError(
                "cannot read the run's field table", source=str(run / "fields.csv"), got=str(err)
            ) from err

    def provider(field_id: str, season: int) -> Mapping[str, Any] | None:
        run = run_dir_for_season(root, season)
        if run is None:
            return None
        frame = table(run, (run / "fields.csv").stat().st_mtime)
        if "field_id" not in frame.columns:
            raise TraceError("missing column", source=str(run / "fields.csv"), field="field_id")
        return summarise_field(frame, field_id, season, run.name)

    return provider
