"""The demo chains behind ``nongshu trace demo`` (``make demo``); idempotent.

Reads the demo region's fields (ids, township, cooperative, crop; no
geometry) and operations log, then records, as real organisations would:

* chain 1: harvest -> inspection -> washing/sorting into a new lot -> packing -> shipping -> receiving -> sale;
* chain 2: two harvests mixed, the mix split into two lots for two shops; one of them recalled by the bureau;
* a harvest taken 3 days after a spraying whose pre-harvest interval is longer (flagged lot).
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio

from traceability.epcis import builders
from traceability.errors import TraceError, UnknownLotError
from traceability.gs1 import location_uri, with_check_digit
from traceability.operations import read_operations, season_operations, sprayings
from traceability.phi import interval_for
from traceability.store import Principal, TraceStore

CST = timezone(timedelta(hours=8))
GTIN_FRESH = with_check_digit("0690000000001")
GTIN_WASHED = with_check_digit("0690000000002")
#: Rapid enzyme-inhibition test for organophosphate and carbamate residues in vegetables (GB/T 5009.199).
RAPID_TEST_METHOD = builders.NONGSHU_NS + "method/GB-T-5009.199"
SUBSTANCE = builders.NONGSHU_NS + "substance/organophosphate-carbamate"
ORGS = [  # (GLN body, name, role, public name, business contact)
    (
        "690000010001",
        "Anding Potato Cooperative",
        "cooperative",
        "安定区马铃薯专业合作社",
        "0932-8000001",
    ),
    ("690000010002", "Dingxi Washing & Packing Co.", "processor", "定西净菜加工厂", "0932-8000002"),
    ("690000010003", "Gansu Cold Chain Logistics", "logistics", "甘肃冷链物流", None),
    ("690000010004", "Lanzhou Fresh Market", "retailer", "兰州鲜生超市", "0931-8000004"),
    ("690000010005", "Xi'an Grocer", "retailer", "西安果蔬店", "029-8000005"),
    (
        "690000010006",
        "Anding County Inspection Station",
        "inspector",
        "安定区农产品质量检测站",
        None,
    ),
    ("690000010007", "Anding Agriculture Bureau", "bureau", "安定区农业农村局", None),
]


def _gln(body: str) -> str:
    return with_check_digit(body)


def _read_fields(inputs: Path) -> pd.DataFrame:
    path = inputs / "fields" / "fields.gpkg"
    if not path.is_file():
        raise TraceError(
            "fields file not found",
            source=str(path),
            expected="fields/fields.gpkg (layer 'fields')",
        )
    frame = pyogrio.read_dataframe(
        path,
        layer="fields",
        read_geometry=False,
        columns=["field_id", "crop", "cooperative_id", "cooperative_name", "township"],
    )
    return frame.sort_values("field_id").reset_index(drop=True)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=CST)


def create_demo(
    store: TraceStore, inputs: Path, *, data_dir: Path, resolver: str
) -> dict[str, Any]:
    """Create the demo organisations, API keys (written once to ``<data_dir>/demo_api_keys.json``) and chains."""
    fields = _read_fields(inputs)
    ops_path = inputs / "operations" / "operations.csv"
    ops = read_operations(ops_path) if ops_path.is_file() else None
    potato = fields[fields["crop"] == "potato"]
    chosen = (potato if len(potato) >= 4 else fields).head(4)
    if len(chosen) < 4:
        raise TraceError(
            "the demo needs at least 4 fields", source=str(inputs / "fields" / "fields.gpkg")
        )
    orgs = {
        role: store.create_organisation(
            gln=_gln(body), name=name, role=role, public_name=public, business_contact=contact
        )
        for body, name, role, public, contact in ORGS[:3] + ORGS[5:]
    }
    shops = [
        store.create_organisation(gln=_gln(b), name=n, role=r, public_name=p, business_contact=c)
        for b, n, r, p, c in ORGS[3:5]
    ]
    coop, proc = orgs["cooperative"], orgs["processor"]
    keys_file = data_dir / "demo_api_keys.json"
    wrote_keys = False
    if not keys_file.exists():
        keys = {
            p.name: {
                "gln": p.gln,
                "role": p.role,
                "api_key": store.issue_api_key(p.gln, label="demo"),
            }
            for p in [*orgs.values(), *shops]
        }
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(
                {"warning": "DEMO ONLY: these keys are for the local demo", "keys": keys},
                fh,
                ensure_ascii=False,
                indent=2,
            )
        wrote_keys = True

    crop = str(chosen.iloc[0]["crop"])
    store.register_product(gtin=GTIN_FRESH, name=f"{crop} (fresh)", crop=crop)
    store.register_product(gtin=GTIN_WASHED, name=f"{crop} (washed, sorted)", crop=crop)
    field_uris = []
    for row in chosen.itertuples():
        field_uris.append(
            store.register_location(
                uri=location_uri(coop.gln, row.field_id),
                kind="field",
                name=f"Field {row.field_id}",
                organisation_gln=coop.gln,
                field_id=row.field_id,
                township=row.township,
                cooperative_id=row.cooperative_id,
                cooperative_name=row.cooperative_name,
                crop=row.crop,
            )
        )
    packhouse = store.register_location(
        uri=location_uri(proc.gln),
        kind="packhouse",
        name="定西净菜加工厂",
        organisation_gln=proc.gln,
    )
    lab = store.register_location(
        uri=location_uri(orgs["inspector"].gln),
        kind="lab",
        name="安定区检测站",
        organisation_gln=orgs["inspector"].gln,
    )
    shop_uris = [
        store.register_location(
            uri=location_uri(s.gln), kind="shop", name=s.name, organisation_gln=s.gln
        )
        for s in shops
    ]

    season = _season(ops)
    harvest_day = date(season, 9, 20)
    field_ids = list(chosen["field_id"])

    def exists(gtin: str, lot: str) -> bool:
        try:
            store.lot(gtin, lot)
        except UnknownLotError:
            return False
        return True

    def harvest(i: int, lot: str, kg: float, day: date) -> None:
        season_ops = season_operations(ops, field_ids[i], day) if ops is not None else []
        store.record_event(
            coop,
            builders.harvest_event(
                gtin=GTIN_FRESH,
                lot=lot,
                quantity_kg=kg,
                when=_at(day, 8),
                field_location=field_uris[i],
                field_id=field_ids[i],
                crop=crop,
                variety=None,
                grower_gln=coop.gln,
                operations=season_ops,
            ),
        )

    def ship(
        sender: Principal, receiver: Principal, gtin: str, lot: str, day: date, where: str
    ) -> None:
        store.record_event(
            sender,
            builders.shipping_event(
                gtin=gtin,
                lot=lot,
                when=_at(day, 10),
                location=where,
                source_gln=sender.gln,
                destination_gln=receiver.gln,
            ),
        )
        store.record_event(
            receiver,
            builders.receiving_event(
                gtin=gtin,
                lot=lot,
                when=_at(day, 17),
                location=where,
                source_gln=sender.gln,
                destination_gln=receiver.gln,
            ),
        )

    p = f"{season}"
    lots: dict[str, list[str]] = {"chain": [], "mix_split": [], "phi_flag": [], "recalled": []}
    d = harvest_day
    if not exists(GTIN_WASHED, f"W{p}-001"):
        harvest(0, f"H{p}-001", 2000.0, d)
        store.record_event(
            orgs["inspector"],
            builders.inspection_event(
                gtin=GTIN_FRESH,
                lot=f"H{p}-001",
                when=_at(d, 15),
                location=lab,
                conformant=True,
                results=[{"substance": SUBSTANCE, "value": 8.5, "uom": "P1"}],
                method=RAPID_TEST_METHOD,
            ),
        )
        ship(coop, proc, GTIN_FRESH, f"H{p}-001", d + timedelta(days=1), packhouse)
        store.record_event(
            proc,
            builders.transformation_event(
                inputs=[(GTIN_FRESH, f"H{p}-001", 2000.0)],
                outputs=[(GTIN_WASHED, f"W{p}-001", 1940.0)],
                when=_at(d + timedelta(days=2), 9),
                location=packhouse,
                process="washing_sorting",
            ),
        )
        store.record_event(
            proc,
            builders.packing_event(
                sscc=with_check_digit(f"0690000010{season}001"),
                lots=[(GTIN_WASHED, f"W{p}-001", 1940.0)],
                when=_at(d + timedelta(days=2), 14),
                location=packhouse,
            ),
        )
        ship(proc, shops[0], GTIN_WASHED, f"W{p}-001", d + timedelta(days=3), shop_uris[0])
        store.record_event(
            shops[0],
            builders.retail_sale_event(
                gtin=GTIN_WASHED,
                lot=f"W{p}-001",
                when=_at(d + timedelta(days=4), 11),
                location=shop_uris[0],
            ),
        )
    lots["chain"] = [f"H{p}-001", f"W{p}-001"]
    if not exists(GTIN_WASHED, f"S{p}-002"):
        harvest(1, f"H{p}-002", 1200.0, d)
        harvest(2, f"H{p}-003", 800.0, d)
        for lot in (f"H{p}-002", f"H{p}-003"):
            ship(coop, proc, GTIN_FRESH, lot, d + timedelta(days=1), packhouse)
        store.record_event(
            proc,
            builders.transformation_event(
                inputs=[(GTIN_FRESH, f"H{p}-002", 1200.0), (GTIN_FRESH, f"H{p}-003", 800.0)],
                outputs=[(GTIN_WASHED, f"M{p}-001", 1950.0)],
                when=_at(d + timedelta(days=2), 10),
                location=packhouse,
                process="mixing",
            ),
        )
        store.record_event(
            proc,
            builders.transformation_event(
                inputs=[(GTIN_WASHED, f"M{p}-001", 1950.0)],
                outputs=[(GTIN_WASHED, f"S{p}-001", 1000.0), (GTIN_WASHED, f"S{p}-002", 950.0)],
                when=_at(d + timedelta(days=2), 11),
                location=packhouse,
                process="splitting",
            ),
        )
        ship(proc, shops[0], GTIN_WASHED, f"S{p}-001", d + timedelta(days=3), shop_uris[0])
        ship(proc, shops[1], GTIN_WASHED, f"S{p}-002", d + timedelta(days=3), shop_uris[1])
        store.record_event(
            orgs["inspector"],
            builders.inspection_event(
                gtin=GTIN_WASHED,
                lot=f"S{p}-002",
                when=_at(d + timedelta(days=4), 9),
                location=shop_uris[1],
                conformant=False,
                results=[{"substance": SUBSTANCE, "value": 61.0, "uom": "P1"}],
                method=RAPID_TEST_METHOD,
            ),
        )
        store.recall(
            orgs["bureau"],
            GTIN_WASHED,
            f"S{p}-002",
            reason="rapid test inhibition rate above 50 % (GB/T 5009.199)",
            when=_at(d + timedelta(days=4), 12),
        )
    lots["mix_split"] = [f"H{p}-002", f"H{p}-003", f"M{p}-001", f"S{p}-001", f"S{p}-002"]
    lots["recalled"] = [f"S{p}-002"]
    early = _early_harvest(ops, field_ids[3], crop, season) if ops is not None else None
    if early is not None:
        if not exists(GTIN_FRESH, f"H{p}-004"):
            harvest(3, f"H{p}-004", 900.0, early)
        lots["phi_flag"] = [f"H{p}-004"]
    return {
        "gtins": {"fresh": GTIN_FRESH, "washed": GTIN_WASHED},
        "lots": lots,
        "consumer_uri": f"{resolver}/01/{GTIN_WASHED}/10/W{p}-001",
        "consumer_lot": [GTIN_WASHED, f"W{p}-001"],
        "api_keys_file": str(keys_file) if wrote_keys else None,
    }


def _season(ops: pd.DataFrame | None) -> int:
    if ops is None or ops.empty:
        return datetime.now(CST).year - 1
    return max(d.year for d in ops["date"])


def _early_harvest(ops: pd.DataFrame, field_id: str, crop: str, season: int) -> date | None:
    """Three days after the field's last spraying of the season with a known pre-harvest interval > 3 d."""
    season_ops = season_operations(ops, field_id, date(season, 12, 31))
    candidates = [
        op["date"]
        for op in sprayings(season_ops)
        if op["active_ingredient"]
        and (rule := interval_for(op["active_ingredient"], crop))
        and rule.days > 3
    ]
    return max(candidates) + timedelta(days=3) if candidates else None
