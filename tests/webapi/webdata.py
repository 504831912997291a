"""Builders of the web tests' data: a tiny published run directory and a seeded trace store.

The run mirrors docs/DATA_LAYOUT.md "Outputs": 200x200 px COGs at 10 m in
EPSG:32648 (UTM 48N, Dingxi), four square fields, one per quadrant, and the
tables and alerts a pipeline run writes. Values are simple functions of the
pixel position so tests can compute expectations by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from shapely.geometry import box

CRS = "EPSG:32648"
X0, Y0, RES, SIZE = 445_000.0, 3_942_000.0, 10.0, 200
REGION, RUN_ID = "dingxi", "2026"
RUN = f"{REGION}.{RUN_ID}"
EVIL = "<script>alert('x')</script>"

# field id -> (quadrant row, quadrant col, crop, cooperative, township, alert level)
FIELDS = {
    "DX-000001": (0, 0, "potato", "C01", "T01", 4),
    "DX-000002": (0, 1, "potato", "C01", "T01", 2),
    "DX-000003": (1, 0, "spring_wheat", "C02", "T02", 1),
    "DX-000004": (1, 1, "maize", "C01", "T02", 0),
}
COOP_NAMES = {"C01": "安定区马铃薯合作社", "C02": EVIL + "合作社"}


def field_box(qrow: int, qcol: int):
    """The field polygon (UTM) inside quadrant (qrow, qcol): a 600 m square, 200 m from the edges."""
    left = X0 + qcol * 1000 + 200
    top = Y0 - qrow * 1000 - 200
    return box(left, top - 600, left + 600, top)


def _write_cog(path: Path, data: np.ndarray, nodata: float | int) -> None:
    profile = {
        "driver": "COG", "width": SIZE, "height": SIZE, "count": 1, "dtype": data.dtype.name,
        "crs": CRS, "transform": Affine(RES, 0.0, X0, 0.0, -RES, Y0), "nodata": nodata,
        "blocksize": 64, "compress": "deflate", "overviews": "auto",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def make_run(outputs: Path, run_id: str = RUN_ID, region: str = REGION) -> Path:
    """Write a complete run directory ``outputs/<region>/<run_id>`` and return it."""
    run = outputs / region / run_id
    run.mkdir(parents=True)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    yield_t = (20.0 + cols * 0.05).astype("float32")  # 20 .. 29.95 t/ha west to east
    yield_t[:20, :20] = np.nan  # a nodata corner (north-west)
    _write_cog(run / "yield_t_ha.tif", yield_t, np.nan)
    _write_cog(run / "risk_frost.tif", (rows / (SIZE - 1)).astype("float32"), np.nan)
    levels = np.full((SIZE, SIZE), 255, dtype="uint8")
    for qrow, qcol, *_rest, level in FIELDS.values():
        levels[qrow * 100:(qrow + 1) * 100, qcol * 100:(qcol + 1) * 100] = level
    _write_cog(run / "alert_level.tif", levels, 255)

    records = []
    for fid, (qrow, qcol, crop, coop, town, level) in FIELDS.items():
        pred = 20.0 + (qcol * 100 + 50) * 0.05
        records.append({
            "field_id": fid, "crop": crop, "variety": "陇薯7号" if crop == "potato" else "定西24",
            "cooperative_id": coop, "cooperative_name": COOP_NAMES[coop], "township": town,
            "sowing_date": "2026-04-20", "irrigated": False, "area_ha": 36.0,
            "yield_t_ha_mean": pred, "yield_t_ha_min": pred - 1.5, "yield_t_ha_max": pred + 1.5,
            "yield_t_ha_std": 0.9, "ndvi_peak_mean": 0.7 - 0.1 * qrow, "pixel_count": 3600,
            "valid_fraction": 1.0, "yield_pred_t_ha": pred, "yield_lo_t_ha": pred - 3.0,
            "yield_hi_t_ha": pred + 3.0, "alert_frost": level if qrow == 0 and qcol == 0 else 0,
            "alert_level": level, "geometry": field_box(qrow, qcol),
        })
    frame = gpd.GeoDataFrame(records, crs=CRS).to_crs(4326)
    frame.to_parquet(run / "fields.parquet")
    frame.drop(columns="geometry").to_csv(run / "fields.csv", index=False)

    dates = pd.date_range("2026-05-01", periods=12, freq="10D")
    ts = []
    for i, fid in enumerate(FIELDS):
        for j, day in enumerate(dates):
            ndvi = round(0.2 + 0.05 * j - 0.01 * i, 4)
            ts.append({"field_id": fid, "date": day.date().isoformat(), "ndvi": ndvi, "ndvi_smooth": ndvi})
    pd.DataFrame(ts).to_csv(run / "field_timeseries.csv", index=False)

    alerts = [
        _alert("DX-000001", "frost", 4, "red", 0.93, "emergence", "T01", "C01", "potato"),
        _alert("DX-000002", "drought", 2, "yellow", 0.45, "tuber_initiation", "T01", "C01", "potato"),
        _alert("DX-000003", "pest", 1, "blue", 0.3, "tillering", "T02", "C02", "spring_wheat"),
    ]
    (run / "alerts.json").write_text(json.dumps({
        "run_id": run_id, "season": "2026", "valid_from": "2026-05-10", "valid_to": "2026-05-24", "alerts": alerts,
    }, ensure_ascii=False), encoding="utf-8")
    (run / "run.json").write_text(json.dumps({
        "run_id": run_id, "season": 2026, "valid_from": "2026-05-10", "valid_to": "2026-05-24",
    }), encoding="utf-8")
    return run


def _alert(fid, hazard, level, colour, risk, stage, town, coop, crop):
    return {
        "id": f"2026-{fid}-{hazard}", "target_type": "field", "target_id": fid, "township": town,
        "cooperative_id": coop, "crop": crop, "hazard": hazard, "level": level, "colour": colour,
        "risk": risk, "stage": stage, "triggers": {"tmin_min_degC": -3.2} if hazard == "frost" else {},
        "valid_from": "2026-05-10", "valid_to": "2026-05-24",
        "advice_key": f"{hazard}/{crop}/{stage}/{colour}",
    }


def many_alerts(n: int, seed: int = 7) -> tuple[list[dict], list[str]]:
    """``n`` alerts on the four fixture fields, shuffled, and their ids in worst-first order.

    The list is built in the order the API promises (level 4 down to 1; within a
    level risk from high to low, ties of three alerts in increasing id order; one
    alert without a risk last in level 1) and then shuffled, so the expected order
    is known by construction. Alert ``k``: hazard ``HAZARDS[k % 6]``, township
    ``T0{k % 3 + 1}``, valid 2026-05-10..24 when ``k`` is even, 2026-05-20..06-03 when odd.
    """
    import random

    hazards = ("drought", "frost", "heat", "waterlogging", "pest", "disease")
    colours = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
    ordered = []
    for k in range(n):
        level = 4 - (4 * k) // n  # blocks of n/4: 4, 3, 2, 1
        first_of_level = -(-(4 - level) * n // 4)  # smallest j with 4 - 4j // n == level
        risk = round(0.999 - 0.001 * ((k - first_of_level) // 3), 3)  # three alerts per risk value
        if k == n - 1:
            risk = None
        fid = list(FIELDS)[k % 4]
        even = k % 2 == 0
        ordered.append({
            "id": f"2026-{k:05d}-{fid}-{hazards[k % 6]}", "target_type": "field", "target_id": fid,
            "township": f"T0{k % 3 + 1}", "cooperative_id": "C01", "crop": "potato", "hazard": hazards[k % 6],
            "level": level, "colour": colours[level], "risk": risk, "stage": "emergence", "triggers": {},
            "valid_from": "2026-05-10" if even else "2026-05-20", "valid_to": "2026-05-24" if even else "2026-06-03",
            "advice_key": f"{hazards[k % 6]}/potato/emergence/{colours[level]}",
        })
    expected = [a["id"] for a in ordered]
    shuffled = list(ordered)
    random.Random(seed).shuffle(shuffled)
    return shuffled, expected


def write_alerts(run: Path, alerts: list[dict]) -> None:
    """Replace the run's ``alerts.json`` with ``alerts`` (same header as :func:`make_run`)."""
    (run / "alerts.json").write_text(json.dumps({
        "run_id": run.name, "season": "2026", "valid_from": "2026-05-10", "valid_to": "2026-06-03", "alerts": alerts,
    }, ensure_ascii=False), encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# Trace store with one harvested, inspected, shipped lot (the Digital Link target of the pages)
# ------------------------------------------------------------------------------------------------

CST = timezone(timedelta(hours=8))
SUBSTANCE = "https://nongshu.example/substance/organophosphate-carbamate"


def gln(n: int) -> str:
    from traceability.gs1 import with_check_digit

    return with_check_digit(f"690123400{n:03d}")


def potato_gtin() -> str:
    from traceability.gs1 import with_check_digit

    return with_check_digit("0690123456789")


@dataclass
class TraceWorld:
    """Keys and names of the seeded trace store."""

    url: str
    gtin: str
    lot: str
    keys: dict[str, str]  # role -> API key
    field_location: str
    packhouse: str
    shop: str
    evil_lot: str


def t(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 9, 1, hour, tzinfo=CST) + timedelta(days=day)


def seed_trace(url: str) -> TraceWorld:
    """Organisations of every role with API keys, a product, locations and the lot ``H-001``.

    ``H-001``: harvested on field DX-000001 by the cooperative, inspected (conformant),
    shipped to and received by the processor. The retailer's public name contains HTML.
    ``<i>X&1`` is a second lot whose number itself contains markup characters.
    """
    from traceability.epcis import builders
    from traceability.gs1 import location_uri
    from traceability.store import TraceStore

    gtin = potato_gtin()
    with TraceStore.open(url) as store:
        roles = ["cooperative", "processor", "retailer", "inspector", "bureau", "logistics"]
        principals = {}
        keys = {}
        for i, role in enumerate(roles, start=1):
            public = EVIL + "超市" if role == "retailer" else f"{role} org"
            principals[role] = store.create_organisation(
                gln=gln(i), name=f"{role} org", role=role, public_name=public,
                contact_phone="13800138000", id_number="620102198001011234")
            keys[role] = store.issue_api_key(gln(i), label="test")
        store.register_product(gtin=gtin, name="马铃薯 (fresh potato)", crop="potato", variety="陇薯7号")
        field = store.register_location(
            uri=location_uri(gln(1), "DX-000001"), kind="field", name="Field DX-000001", organisation_gln=gln(1),
            field_id="DX-000001", township="T01", cooperative_id="C01", cooperative_name=COOP_NAMES["C01"], crop="potato")
        packhouse = store.register_location(uri=location_uri(gln(2)), kind="packhouse", name="Dingxi Washing Plant",
                                            organisation_gln=gln(2))
        lab = store.register_location(uri=location_uri(gln(4)), kind="lab", name="County Lab", organisation_gln=gln(4))
        shop = store.register_location(uri=location_uri(gln(3)), kind="shop", name=EVIL, organisation_gln=gln(3))
        coop, processor, inspector = principals["cooperative"], principals["processor"], principals["inspector"]
        for lot in ("H-001", "<i>X&1"):
            store.record_event(coop, builders.harvest_event(
                gtin=gtin, lot=lot, quantity_kg=1000.0, when=t(0), field_location=field, field_id="DX-000001",
                crop="potato", variety="陇薯7号", grower_gln=coop.gln))
        store.record_event(inspector, builders.inspection_event(
            gtin=gtin, lot="H-001", when=t(1), location=lab, conformant=True,
            results=[{"substance": SUBSTANCE, "value": 12.5, "uom": "P1"}]))
        store.record_event(coop, builders.shipping_event(
            gtin=gtin, lot="H-001", when=t(2, 10), location=packhouse, source_gln=coop.gln, destination_gln=processor.gln))
        store.record_event(processor, builders.receiving_event(
            gtin=gtin, lot="H-001", when=t(2, 16), location=packhouse, source_gln=coop.gln, destination_gln=processor.gln))
    return TraceWorld(url, gtin, "H-001", keys, field, packhouse, shop, "<i>X&1")


