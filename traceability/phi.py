"""Pre-harvest intervals (安全间隔期) and the check of a harvest against them.

The interval is the minimum number of days between the last application of a
pesticide and harvest. In China it is fixed per product, crop and dose by the
"Guideline for safety application of pesticides" GB/T 8321 (parts 1-10) and
printed on the registered label; NY/T 1276 (pesticide safety application)
requires it to be observed. The table below lists the intervals used for the
crops of the demo regions; each row names its source. Pure computation, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class PreHarvestInterval:
    active_ingredient: str
    crop: str  # "*" when the interval does not depend on the crop
    days: int
    source: str


#: Intervals in days. ``crop="*"`` applies to every crop without a specific row.
PHI_TABLE: tuple[PreHarvestInterval, ...] = (
    PreHarvestInterval(
        "mancozeb",
        "potato",
        15,
        "GB/T 8321 (mancozeb 80 % WP on potato late blight); registered label",
    ),
    PreHarvestInterval("mancozeb", "*", 15, "GB/T 8321 (mancozeb 80 % WP); registered label"),
    PreHarvestInterval(
        "imidacloprid", "*", 14, "GB/T 8321 (imidacloprid 10 % WP); registered label"
    ),
    PreHarvestInterval(
        "lambda-cyhalothrin", "*", 7, "GB/T 8321 (lambda-cyhalothrin 2.5 % EC); registered label"
    ),
    PreHarvestInterval(
        "metalaxyl-m·mancozeb",
        "*",
        7,
        "registered label of metalaxyl-M·mancozeb 68 % WG (e.g. Ridomil Gold MZ)",
    ),
    PreHarvestInterval(
        "cymoxanil", "*", 7, "registered label of cymoxanil 20 % SC on potato late blight"
    ),
    PreHarvestInterval(
        "cymoxanil·mancozeb",
        "*",
        7,
        "registered label of cymoxanil·mancozeb 72 % WP (e.g. Curzate M) on potato",
    ),
)

#: Chinese common names (GB 4839 pesticide names) to the English ISO names used above.
SYNONYMS: Mapping[str, str] = {
    "代森锰锌": "mancozeb",
    "吡虫啉": "imidacloprid",
    "高效氯氟氰菊酯": "lambda-cyhalothrin",
    "精甲霜灵·代森锰锌": "metalaxyl-m·mancozeb",
    "精甲霜·锰锌": "metalaxyl-m·mancozeb",
    "霜脲氰": "cymoxanil",
    "霜脲·锰锌": "cymoxanil·mancozeb",
    "metalaxyl-m+mancozeb": "metalaxyl-m·mancozeb",
    "metalaxyl-m mancozeb": "metalaxyl-m·mancozeb",
    "mefenoxam·mancozeb": "metalaxyl-m·mancozeb",
}


def normalise_ingredient(name: str) -> str:
    """Lower-case English name; mixtures joined with ``·`` (``a; b``, ``a+b``, ``a・b`` -> ``a·b``)."""
    text = re.sub(r"\s+", " ", str(name).strip().lower())
    if text in SYNONYMS:
        return SYNONYMS[text]
    parts = [p.strip() for p in re.split(r"[;+·・，,]", text) if p.strip()]
    joined = "·".join(SYNONYMS.get(p, p) for p in parts)
    return SYNONYMS.get(joined, joined)


def _lookup(ai: str, crop: str, table: list[PreHarvestInterval]) -> PreHarvestInterval | None:
    rows = [r for r in table if r.active_ingredient == ai]
    for row in rows:
        if row.crop == crop:
            return row
    for row in rows:
        if row.crop == "*":
            return row
    return None


def interval_for(
    active_ingredient: str, crop: str, table: Iterable[PreHarvestInterval] = PHI_TABLE
) -> PreHarvestInterval | None:
    """The interval of ``active_ingredient`` on ``crop`` (crop-specific row first), or ``None``.

    A mixture without its own row takes the longest interval of its components
    (the conservative reading of NY/T 1276 for tank mixes).
    """
    rows = list(table)
    ai = normalise_ingredient(active_ingredient)
    found = _lookup(ai, crop, rows)
    if found is not None or "·" not in ai:
        return found
    parts = [r for r in (_lookup(p, crop, rows) for p in ai.split("·")) if r is not None]
    if not parts:
        return None
    longest = max(parts, key=lambda r: r.days)
    return PreHarvestInterval(
        ai, longest.crop, longest.days, f"longest of its components: {longest.source}"
    )


@dataclass(frozen=True)
class PhiCheck:
    """One spraying checked against its pre-harvest interval."""

    active_ingredient: str
    product: str
    applied_on: date
    days_before_harvest: int
    required_days: int | None
    source: str | None

    @property
    def violated(self) -> bool:
        return self.required_days is not None and self.days_before_harvest < self.required_days

    def as_dict(self) -> dict[str, object]:
        return {
            "active_ingredient": self.active_ingredient,
            "product": self.product,
            "applied_on": self.applied_on.isoformat(),
            "days_before_harvest": self.days_before_harvest,
            "required_days": self.required_days,
            "source": self.source,
            "violated": self.violated,
        }


def check_pre_harvest_intervals(
    sprayings: Iterable[Mapping[str, object]], harvest_date: date, crop: str
) -> list[PhiCheck]:
    """Check every spraying (``date``, ``active_ingredient``, ``product``) against the table."""
    checks = []
    for row in sprayings:
        applied = row["date"]
        assert isinstance(applied, date)
        ai = str(row.get("active_ingredient") or "")
        if not ai:
            continue
        rule = interval_for(ai, crop)
        checks.append(
            PhiCheck(
                active_ingredient=normalise_ingredient(ai),
                product=str(row.get("product") or ""),
                applied_on=applied,
                days_before_harvest=(harvest_date - applied).days,
                required_days=rule.days if rule else None,
                source=rule.source if rule else None,
            )
        )
    return checks
