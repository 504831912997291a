"""Crop calendar of a season: each field's sowing date and the season's analysis window.

Rule of docs/DATA_LAYOUT.md: in another season than the current one, a field
was sown on the date of its ``sowing`` row in ``operations.csv`` for that
season; without one, on the month/day of its ``sowing_date`` in that year.
Winter wheat carries the label of its harvest year, so its sowing falls in
the calendar year before the season. The season of a field ends at
``sowing + crop.max_days`` (:mod:`models.crops`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from models.crops import get_crop
from pipelines.errors import PipelineError

#: crops whose season label is the harvest year, sown in the previous calendar year.
SOWN_YEAR_BEFORE = frozenset({"winter_wheat"})
#: imagery before sowing used to anchor the start of the NDVI curve (bare soil), days.
LEAD_IN_DAYS = 20


def _move_to_year(day: pd.Timestamp, year: int) -> pd.Timestamp:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a common year
        return day.replace(year=year, day=28)


def sowing_dates(
    fields: pd.DataFrame, operations: pd.DataFrame | None, season: int
) -> pd.Series:
    """Sowing date (Timestamp) of each field in ``season``, indexed by ``field_id``.

    ``fields`` needs ``field_id, crop, sowing_date``; ``operations`` (optional)
    ``field_id, date, operation``.
    """
    for column in ("field_id", "crop", "sowing_date"):
        if column not in fields:
            raise PipelineError("fields lack a column", source="fields", field=column)
    out: dict[str, pd.Timestamp] = {}
    logged: dict[str, pd.Timestamp] = {}
    if operations is not None and len(operations):
        sow = operations[operations["operation"].astype(str) == "sowing"].copy()
        sow["date"] = pd.to_datetime(sow["date"])
        for row in sow.itertuples(index=False):
            logged.setdefault(f"{row.field_id}|{row.date.year}", row.date)
    for row in fields.itertuples(index=False):
        year = season - 1 if row.crop in SOWN_YEAR_BEFORE else season
        key = f"{row.field_id}|{year}"
        if key in logged:
            out[row.field_id] = logged[key]
        else:
            out[row.field_id] = _move_to_year(pd.Timestamp(row.sowing_date), year)
    return pd.Series(out, name="sowing", dtype="datetime64[ns]").rename_axis("field_id")


def season_ends(fields: pd.DataFrame, sowing: pd.Series) -> pd.Series:
    """Last day of each field's season: sowing + the crop's maximum season length (days)."""
    days = fields.set_index("field_id")["crop"].map(lambda c: get_crop(c).max_days)
    return (sowing + pd.to_timedelta(days.reindex(sowing.index), unit="D")).rename("season_end")


@dataclass(frozen=True)
class SeasonWindow:
    """Period a run analyses: from before the first sowing to the last harvest or ``as_of``."""

    season: int
    start: dt.date
    end: dt.date
    as_of: dt.date | None

    @property
    def valid_to(self) -> dt.date:
        return self.end if self.as_of is None else min(self.end, self.as_of)

    @property
    def complete(self) -> bool:
        return self.as_of is None or self.as_of >= self.end

    def shifted(self, season: int) -> SeasonWindow:
        """The same calendar window in another season (for anomalies and VCI), never cut by ``as_of``."""
        years = season - self.season
        return SeasonWindow(
            season,
            _move_to_year(pd.Timestamp(self.start), self.start.year + years).date(),
            _move_to_year(pd.Timestamp(self.valid_to), self.valid_to.year + years).date(),
            None,
        )


def season_window(sowing: pd.Series, ends: pd.Series, season: int, as_of: dt.date | None = None) -> SeasonWindow:
    """The window of ``season``; refuses an ``as_of`` before it starts."""
    start = (sowing.min() - pd.Timedelta(days=LEAD_IN_DAYS)).date()
    end = ends.max().date()
    if as_of is not None and as_of < sowing.min().date():
        raise PipelineError(
            "--as-of is before the first sowing of the season: nothing to analyse yet",
            field="--as-of", expected=f"a date on or after {sowing.min().date()}", got=str(as_of),
        )
    return SeasonWindow(season, start, end, as_of)
