"""Each notebook runs top to bottom on the small demo region, and what it writes is right.

Expected values are recomputed here from the run's own files (``alerts.json``,
``fields.gpkg``, ``yield_history.csv``) or from the EPCIS document the drill
exported, not copied from the notebook.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from PIL import Image

from pipelines.fieldfeatures import LEADS
from pipelines.training import FEATURES
from traceability import parse_digital_link

pytestmark = pytest.mark.slow

LEVELS = ("blue", "yellow", "orange", "red")
#: the red of China's four warning colours as Nongshu paints it (models.alerts.COLOURS["red"], #E02020)
RED_RGB = (0xE0, 0x20, 0x20)
#: A4 portrait at 150 dpi: 210 x 297 mm / 25.4 mm per inch * 150 px per inch
A4_150_DPI_PX = (210 / 25.4 * 150, 297 / 25.4 * 150)


def last_season(data: Path) -> int:
    return max(json.loads((data / "dingxi" / "region.json").read_text(encoding="utf-8"))["seasons"])


# ----------------------------------------------------------------------------- 01 season review

def test_season_review_exports_a_one_page_a4_png(season_review: Path, nb_data: Path) -> None:
    png = season_review / f"season_summary_{last_season(nb_data)}.png"
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert abs(image.width - A4_150_DPI_PX[0]) <= 1 and abs(image.height - A4_150_DPI_PX[1]) <= 1
        counted = image.convert("RGB").getcolors(maxcolors=1 << 22)
    assert counted is not None
    colours = {c for _, c in counted}
    assert len(colours) > 100  # maps and text, not a blank page
    fields = pd.read_parquet(nb_data / "runs" / str(last_season(nb_data)) / "fields.parquet", columns=["alert_level"])
    if (fields["alert_level"] == 4).any():
        assert RED_RGB in colours  # the alert map of the page shows the red fields in the warning colour


def test_season_review_exports_a_one_page_pdf(season_review: Path, nb_data: Path) -> None:
    data = (season_review / f"season_summary_{last_season(nb_data)}.pdf").read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1


def test_alert_table_counts_field_alerts_by_township_and_level(season_review: Path, nb_data: Path) -> None:
    run = nb_data / "runs" / str(last_season(nb_data))
    alerts = [a for a in json.loads((run / "alerts.json").read_text(encoding="utf-8"))["alerts"]
              if a["target_type"] == "field"]
    fields = pyogrio.read_dataframe(nb_data / "dingxi" / "fields" / "fields.gpkg", layer="fields",
                                    read_geometry=False)
    table = pd.read_csv(season_review / "alerts_by_township.csv", index_col="township_id")
    by_level = Counter((a["township"], a["colour"]) for a in alerts)
    alerted = defaultdict(set)
    for a in alerts:
        alerted[a["township"]].add(a["target_id"])
    assert set(table.index) == set(fields["township"])
    for township in table.index:
        for level in LEVELS:
            assert table.at[township, level] == by_level.get((township, level), 0), (township, level)
        assert table.at[township, "fields alerted"] == len(alerted[township])
        assert table.at[township, "fields"] == int((fields["township"] == township).sum())
    assert table[list(LEVELS)].to_numpy().sum() == len(alerts)


# ----------------------------------------------------------------------------- 02 yield model

def test_cv_table_has_a_row_per_crop_and_scheme_with_every_record(yield_model_review: Path,
                                                                   nb_data: Path) -> None:
    history = pd.read_csv(nb_data / "dingxi" / "yield" / "yield_history.csv", dtype={"field_id": str})
    past = history[(history["season"] < last_season(nb_data)) & (history["yield_t_ha"] > 0)]
    expected = past.groupby("crop").size().to_dict()
    cv = pd.read_csv(yield_model_review / "cv_table.csv")
    for scheme in ("leave_one_season_out", "leave_cooperative_out"):
        rows = cv[cv["scheme"] == scheme]
        assert dict(zip(rows["crop"], rows["n"], strict=True)) == expected, scheme
    assert cv["80 % coverage"].between(0, 1).all()
    for column in ("MAPE model", "MAPE field mean", "MAPE NDVI linear", "RMSE (t/ha)"):
        assert all(math.isfinite(v) and v >= 0 for v in cv[column]), column


def test_permutation_importance_covers_every_feature_of_every_crop(yield_model_review: Path) -> None:
    importance = pd.read_csv(yield_model_review / "permutation_importance.csv")
    cv = pd.read_csv(yield_model_review / "cv_table.csv")
    assert set(importance["crop"]) == set(cv["crop"])
    for crop, rows in importance.groupby("crop"):
        assert sorted(rows["feature"]) == sorted(FEATURES), crop
    assert (importance["std_pct"] >= 0).all()
    # on a held-out season the yield forecast must lean on something: one feature matters for each crop
    assert (importance.groupby("crop")["mape_increase_pct"].max() > 0).all()


def test_skill_by_lead_has_every_lead_time_per_crop(yield_model_review: Path) -> None:
    skill = pd.read_csv(yield_model_review / "skill_by_lead.csv")
    for crop, rows in skill.groupby("crop"):
        assert list(rows["lead"]) == list(LEADS), crop
    with Image.open(yield_model_review / "predicted_vs_observed.png") as image:
        assert image.format == "PNG" and image.width > 300


# ----------------------------------------------------------------------------- 03 trace and recall

def lot_of(quantity: dict) -> tuple[str, str | None]:
    link = parse_digital_link(quantity["epcClass"])
    return link.gtin, link.lot


def expected_recall(events: list[dict]) -> tuple[set, set, str]:
    """From the EPCIS events alone: the failed lot's origin lots, everything made from them, their shops."""
    failed = [e for e in events if e.get("bizStep") == "inspecting" and e.get("disposition") == "non_conformant"]
    assert len(failed) == 1
    parents, children = defaultdict(set), defaultdict(set)
    for e in events:
        if e["type"] == "TransformationEvent":
            for i in e["inputQuantityList"]:
                for o in e["outputQuantityList"]:
                    parents[lot_of(o)].add(lot_of(i))
                    children[lot_of(i)].add(lot_of(o))
    origins, frontier = set(), [lot_of(failed[0]["quantityList"][0])]
    while frontier:
        lot = frontier.pop()
        if parents[lot]:
            frontier += parents[lot]
        else:
            origins.add(lot)
    affected, frontier = set(), list(origins)
    while frontier:
        lot = frontier.pop()
        if lot not in affected:
            affected.add(lot)
            frontier += children[lot]
    shops = {e["bizLocation"]["id"] for e in events if e.get("bizStep") == "receiving"
             and lot_of(e["quantityList"][0]) in affected and not children[lot_of(e["quantityList"][0])]}
    return affected, shops, failed[0]["eventID"]


def test_recall_reaches_exactly_the_lots_and_shops_downstream_of_the_origins(recall_drill: Path) -> None:
    events = json.loads((recall_drill / "drill_epcis.jsonld").read_text(encoding="utf-8"))["epcisBody"]["eventList"]
    affected, shops, _ = expected_recall(events)
    recall = json.loads((recall_drill / "recall.json").read_text(encoding="utf-8"))
    assert {tuple(x) for x in recall["lots"]} == affected
    assert {s["location"] for s in recall["shops"]} == shops
    recalled = {lot_of(e["quantityList"][0]) for e in events if e.get("bizStep") == "holding"}
    assert recalled == affected
    all_lots = {lot_of(q) for e in events for key in ("quantityList", "outputQuantityList") for q in e.get(key, [])}
    assert all_lots - affected, "the drill should leave an unaffected lot alone"
    assert len(shops) == 2 and len(affected) >= 4


def test_tampered_inspection_is_pinpointed(recall_drill: Path) -> None:
    events = json.loads((recall_drill / "drill_epcis.jsonld").read_text(encoding="utf-8"))["epcisBody"]["eventList"]
    _, _, inspection_id = expected_recall(events)
    tamper = json.loads((recall_drill / "tamper.json").read_text(encoding="utf-8"))
    assert tamper["original_ok"] is True
    assert tamper["ok"] is False
    assert tamper["first_broken"]["event_id"] == inspection_id
    assert tamper["consumer_chain_status"] == "broken"


def test_chain_export_is_an_epcis_2_document(recall_drill: Path) -> None:
    doc = json.loads((recall_drill / "chain_epcis.jsonld").read_text(encoding="utf-8"))
    assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
    steps = Counter(e.get("bizStep") for e in doc["epcisBody"]["eventList"])
    assert steps["commissioning"] >= 3 and steps["shipping"] == steps["receiving"] > 0
    with Image.open(recall_drill / "forward_trace.png") as image:
        assert image.format == "PNG"
