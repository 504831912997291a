"""Tables of a demo season: pest trap counts, farm operations, yield history (pure pandas).

Pest traps (one pheromone trap for potato tuber moth *Phthorimaea operculella*
and one yellow sticky trap for the green peach aphid *Myzus persicae* per
~60 ha of potato, read weekly 1 May - 30 September):

* moth catches follow its generations: degree-days above 10.8 °C
  (Sporleder et al. 2004) since 1 April; a flight peak every 430 °C·d,
  expected catch ``12 · (0.5 - 0.5 cos(2π DD/430)) · min(1, DD/300)`` per week;
* aphid catches grow with degree-days above 4.3 °C (Whalon & Smilowitz 1979)
  ``3 · exp(DD/450)`` capped at 150, and fall by half after a week with more
  than 40 mm of rain (wash-off);
* counts are negative-binomial (dispersion 3) around the expectation.

Scouting reports (``method = scouting``) record late blight
(*Phytophthora infestans*, % of plants with lesions) a week after humid spells.

Operations follow the simulated season: sowing (seed rate), compound
fertiliser 15-15-15 at sowing and urea top-dressing 35 days later, irrigation
(30 mm) from the water balance, fungicide sprays against late blight
(mancozeb 80 % WP 1.8 kg/ha, metalaxyl-M·mancozeb 68 % WG 1.5 kg/ha,
cymoxanil·mancozeb 72 % WP 1.8 kg/ha), insecticide after trap peaks
(imidacloprid 10 % WP 300 g/ha; lambda-cyhalothrin 2.5 % EC 0.3 L/ha), and the
harvest. One potato field per season is sprayed with lambda-cyhalothrin three
days before harvest, inside its pre-harvest interval (GB 2763: 14 days on
potato), so that traceability has a violation to find.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

MOTH = "Phthorimaea operculella"
APHID = "Myzus persicae"
BLIGHT = "Phytophthora infestans"

FUNGICIDES = (
    ("mancozeb 80% WP", "mancozeb", 1.8, "kg/ha"),
    ("metalaxyl-M·mancozeb 68% WG", "metalaxyl-M; mancozeb", 1.5, "kg/ha"),
    ("cymoxanil·mancozeb 72% WP", "cymoxanil; mancozeb", 1.8, "kg/ha"),
)
INSECTICIDES = (
    ("imidacloprid 10% WP", "imidacloprid", 300.0, "g/ha"),
    ("lambda-cyhalothrin 2.5% EC", "lambda-cyhalothrin", 0.3, "L/ha"),
)


def day(year: int, doy: int) -> dt.date:
    """The date of 1-based day ``doy`` of ``year``."""
    return dt.date(year, 1, 1) + dt.timedelta(days=int(doy) - 1)


def _negbin(mean: np.ndarray, rng: np.random.Generator, k: float = 3.0) -> np.ndarray:
    mean = np.maximum(mean, 1e-6)
    return rng.negative_binomial(k, k / (k + mean))


def trap_counts(year: int, tmean_c: np.ndarray, pr_mm: np.ndarray, traps: pd.DataFrame,
                blight_spell: tuple[int, int] | None, rng: np.random.Generator) -> list[dict]:
    """Weekly trap readings (and blight scouting) of one season as GeoJSON property dicts.

    ``tmean_c``/``pr_mm``: regional daily series of the year; ``traps``: columns
    ``trap_id, lon, lat, observer``.
    """
    doys = np.arange(1, len(tmean_c) + 1)
    from_april = doys >= 91
    dd_moth = np.cumsum(np.where(from_april, np.clip(tmean_c - 10.8, 0, None), 0))
    dd_aphid = np.cumsum(np.where(from_april, np.clip(tmean_c - 4.3, 0, None), 0))
    rows: list[dict] = []
    for doy in range(121, 274, 7):
        i = doy - 1
        moth_mean = 12 * (0.5 - 0.5 * np.cos(2 * np.pi * dd_moth[i] / 430)) * min(1, dd_moth[i] / 300)
        aphid_mean = min(150.0, 3 * np.exp(dd_aphid[i] / 450))
        if pr_mm[max(0, i - 7): i + 1].sum() > 40:
            aphid_mean *= 0.5
        for _, trap in traps.iterrows():
            for species, mean, method, suffix in ((MOTH, moth_mean, "pheromone_trap", "M"),
                                                  (APHID, aphid_mean, "yellow_sticky_trap", "A")):
                rows.append({"lon": trap.lon, "lat": trap.lat, "date": day(year, doy).isoformat(),
                             "species": species, "count": int(_negbin(np.array(mean), rng)),
                             "observer": trap.observer, "method": method,
                             "trap_id": f"{trap.trap_id}-{suffix}"})
    if blight_spell is not None:
        doy = blight_spell[1] + 1 + 7
        for _, trap in traps.iterrows():
            rows.append({"lon": trap.lon + 0.001, "lat": trap.lat, "date": day(year, doy).isoformat(),
                         "species": BLIGHT, "count": int(rng.integers(2, 30)),
                         "observer": trap.observer, "method": "scouting",
                         "trap_id": f"{trap.trap_id}-S"})
    return rows


def operations(year: int, fields: pd.DataFrame, sow_doy: np.ndarray, harvest_doy: np.ndarray,
               irrigation: list[tuple[int, int]], blight_sprays: list[tuple[int, int]],
               insecticide_doys: list[int], crops: dict, rng: np.random.Generator) -> list[dict]:
    """Operation rows of one season (``fields``: field_id, crop, variety, cooperative_id, winter flag)."""
    rows: list[dict] = []

    def add(k: int, doy: int, op: str, product: str = "", ai: str = "",
            dose: float | None = None, unit: str = "", y: int = year) -> None:
        rows.append({"field_id": fields.field_id.iloc[k], "date": day(y, doy).isoformat(),
                     "operation": op, "product": product, "active_ingredient": ai,
                     "dose": dose, "unit": unit,
                     "operator": f"{fields.cooperative_id.iloc[k]}-op{1 + k % 4}"})

    for k in range(len(fields)):
        crop = crops[fields.crop.iloc[k]]
        sow_year = year - 1 if crop.winter else year
        add(k, int(sow_doy[k]), "sowing", f"{fields.variety.iloc[k]} seed", "",
            crop.seed_dose_kg_ha, "kg/ha", sow_year)
        add(k, int(sow_doy[k]), "fertilising", "compound fertiliser 15-15-15",
            "N; P2O5; K2O", crop.base_fertiliser_kg_ha, "kg/ha", sow_year)
        top = 100 if crop.winter else int(sow_doy[k]) + 35
        add(k, top, "fertilising", "urea", "N 46%", 150.0, "kg/ha")
    for k, doy in irrigation:
        if doy < harvest_doy[k]:
            add(k, doy, "irrigation", "", "", 30.0, "mm")
    for n_spray, (k, doy) in enumerate(blight_sprays):
        product, ai, dose, unit = FUNGICIDES[n_spray % len(FUNGICIDES)]
        add(k, doy, "spraying", product, ai, dose, unit)
    potato = np.flatnonzero(fields.crop.to_numpy() == "potato")
    cereals = np.flatnonzero(fields.crop.to_numpy() != "potato")
    for n_peak, doy in enumerate(insecticide_doys):
        targets = potato if n_peak % 2 == 0 or len(cereals) == 0 else cereals
        chosen = targets[rng.random(len(targets)) < 0.5]
        product, ai, dose, unit = INSECTICIDES[n_peak % 2]
        for k in chosen:
            if doy < harvest_doy[k]:
                add(int(k), doy + int(rng.integers(0, 3)), "spraying", product, ai, dose, unit)
    late = potato if len(potato) else np.arange(len(fields))
    if len(late):
        k = int(late[rng.integers(len(late))])
        product, ai, dose, unit = INSECTICIDES[1]
        add(k, int(harvest_doy[k]) - 3, "spraying", product, ai, dose, unit)
    for k in range(len(fields)):
        add(k, int(harvest_doy[k]), "harvest", f"{fields.crop.iloc[k]} ({fields.variety.iloc[k]})")
    return rows


def insecticide_days(rows: list[dict], year: int) -> list[int]:
    """Days of year (1-based) two days after each trap-catch peak above the action threshold.

    Action thresholds: 10 moths / trap / week, 60 aphids / trap / week.
    """
    if not rows:
        return []
    df = pd.DataFrame(rows)
    df = df[df.method != "scouting"]
    mean = df.groupby(["species", "date"])["count"].mean().unstack(0)
    out = []
    for species, limit in ((MOTH, 10.0), (APHID, 60.0)):
        if species not in mean:
            continue
        series = mean[species]
        above = series > limit
        starts = above & ~above.shift(1, fill_value=False)
        for date in series.index[starts]:
            out.append(dt.date.fromisoformat(date).timetuple().tm_yday + 2)
    return sorted(out)[:4]
