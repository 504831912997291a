"""The demo chains behind ``nongshu trace demo`` (``make demo``); idempotent.

Reads the demo region's fields (ids, township, cooperative, crop; no
geometry) and operations log, then records, as real organisations would:

* chain 1: harvest -> inspection -> washing/sorting into a new lot -> packing -> shipping -> receiving -> sale;
* chain 2: two harvests mixed, the mix split into two lots for two shops; one of them recalled by the bureau;
* a harvest flagged for its pre-harvest interval: the first field whose logged harvest
  came too soon after a spraying, or else a harvest taken 3 days after a field's last
  spraying whose interval is longer.

Harvest dates are the ``harvest`` rows of the operations log for the latest season
(20 September when a field has none).
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio

from traceability.epcis import builders
from traceability.errors import TraceError, UnknownLotError
from traceability.gs1 import location_uri, with_check_digit
from traceability.operations import read_operations, season_operations, sprayings
from traceability.phi import check_pre_harvest_intervals, interval_for
from traceability.store import Principal, TraceStore

CST = timezone(timedelta(hours=8))
#: Demo GTINs (GS1 China prefix 690), one per crop, plus the washed product of the main crop.
CROP_GTINS = {
    "potato": "0690000000001",
    "spring_wheat": "0690000000003",
    "maize": "0690000000004",
    "highland_barley": "0690000000005",
    "winter_wheat": "0690000000006",
}
GTIN_WASHED = with_check_digit("0690000000002")
#: Rapid enzyme-inhibition test for organophosphate and carbamate residues in vegetables (GB/T 5009.199).
RAPID_TEST_METHOD = builders.NONGSHU_NS + "method/GB-T-5009.199"
SUBSTANCE = builders.NONGSHU_NS + "substance/organophosphate-carbamate"
ORGS = [  # (GLN body, name, role, public name, business contact)
    ("690000010002", "Dingxi Washing & Packing Co.", "processor", "定西净菜加工厂", "0932-8000002"),
    ("690000010003", "Gansu Cold Chain Logistics", "logistics", "甘肃冷链物流", None),
    (
        "690000010006",
        "Anding County Inspection Station",
        "inspector",
        "安定区农产品质量检测站",
        None,
    ),
    ("690000010007", "Anding Agriculture Bureau", "bureau", "安定区农业农村局", None),
]
SHOPS = [
    ("690000010004", "Lanzhou Fresh Market", "retailer", "兰州鲜生超市", "0931-8000004"),
    ("690000010005", "Xi'an Grocer", "retailer", "西安果蔬店", "029-8000005"),
]


FIELD_COLUMNS = ("field_id", "crop", "cooperative_id", "cooperative_name", "township")


def _gln(body: str) -> str:
    return with_check_digit(body)


def crop_gtin(crop: str) -> str:
    body = CROP_GTINS.get(crop)
    if body is None:
        raise TraceError(
            "no demo GTIN for this crop", field="crop", expected=", ".join(CROP_GTINS), got=crop
        )
    return with_check_digit(body)


def _read_fields(inputs: Path) -> pd.DataFrame:
    path = inputs / "fields" / "fields.gpkg"
    if not path.is_file():
        raise TraceError(
            "fields file not found",
            source=str(path),
            expected="fields/fields.gpkg (layer 'fields')",
        )
    frame = pyogrio.read_dataframe(path, layer="fields", read_geometry=False)
    missing = [c for c in FIELD_COLUMNS if c not in frame.columns]
    if missing:
        raise TraceError(
            "missing columns",
            source=str(path),
            field=", ".join(missing),
            expected=", ".join(FIELD_COLUMNS),
        )
    if "variety" not in frame.columns:
        frame["variety"] = None
    frame = (
        frame[[*FIELD_COLUMNS, "variety"]]
        .astype(object)
        .where(frame[[*FIELD_COLUMNS, "variety"]].notna(), None)
    )
    for col in FIELD_COLUMNS:
        frame[col] = frame[col].astype(str)
    return frame.sort_values("field_id").reset_index(drop=True)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=CST)


def _main_crop(fields: pd.DataFrame) -> str:
    counts = fields["crop"].value_counts()
    if counts.get("potato", 0) >= 3:
        return "potato"
    if counts.iloc[0] < 3:
        raise TraceError(
            "the demo needs at least 3 fields of one crop", field="crop", got=counts.to_dict()
        )
    return str(counts.index[0])


def harvest_dates(ops: pd.DataFrame | None, season: int, latest: date) -> dict[str, date]:
    """``field_id -> harvest date`` from the log's ``harvest`` rows of ``season`` (not after ``latest``)."""
    if ops is None:
        return {}
    rows = ops[(ops["operation"] == "harvest") & ops["date"].map(lambda d: d.year == season)]
    return {str(r.field_id): min(r.date, latest) for r in rows.itertuples()}


def _season(ops: pd.DataFrame | None, today: date) -> int:
    if ops is None or ops.empty:
        return today.year - 1
    return max(d.year for d in ops["date"] if d <= today)


def create_demo(
    store: TraceStore, inputs: Path, *, data_dir: Path, resolver: str
) -> dict[str, Any]:
    """Create the demo organisations, API keys (written once to ``<data_dir>/demo_api_keys.json``) and chains."""
    fields = _read_fields(inputs)
    ops_path = inputs / "operations" / "operations.csv"
    ops = read_operations(ops_path) if ops_path.is_file() else None
    today = datetime.now(UTC).date()
    season = _season(ops, today)
    latest = today - timedelta(days=7)
    harvested = harvest_dates(ops, season, latest)
    crop = _main_crop(fields)
    chosen = fields[fields["crop"] == crop].head(3)

    orgs = {
        role: store.create_organisation(
            gln=_gln(b), name=n, role=role, public_name=p, business_contact=c
        )
        for b, n, role, p, c in ORGS
    }
    shops = [
        store.create_organisation(gln=_gln(b), name=n, role=r, public_name=p, business_contact=c)
        for b, n, r, p, c in SHOPS
    ]
    proc = orgs["processor"]
    coops: dict[str, Principal] = {}
    for k, (cid, cname) in enumerate(
        sorted(set(zip(fields["cooperative_id"], fields["cooperative_name"], strict=True)))
    ):
        digits = re.sub(r"\D", "", cid)
        number = int(digits) if digits and int(digits) < 10000 else 5000 + k
        coops[cid] = store.create_organisation(
            gln=_gln(f"69000002{number:04d}"), name=cname, role="cooperative", public_name=cname
        )
    coop_of = {row.field_id: coops[row.cooperative_id] for row in fields.itertuples()}
    keys_file = _write_keys_once(store, data_dir, [*orgs.values(), *shops, *coops.values()])

    gtin_fresh = crop_gtin(crop)
    store.register_product(gtin=gtin_fresh, name=f"{crop} (fresh)", crop=crop)
    store.register_product(gtin=GTIN_WASHED, name=f"{crop} (washed, sorted)", crop=crop)
    field_uri: dict[str, str] = {}
    for row in fields.itertuples():
        field_uri[row.field_id] = store.register_location(
            uri=location_uri(coop_of[row.field_id].gln, row.field_id),
            kind="field",
            name=f"Field {row.field_id}",
            organisation_gln=coop_of[row.field_id].gln,
            field_id=row.field_id,
            township=row.township,
            cooperative_id=row.cooperative_id,
            cooperative_name=row.cooperative_name,
            crop=row.crop,
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
    crops = dict(zip(fields["field_id"], fields["crop"], strict=True))
    varieties = {f: v for f, v in zip(fields["field_id"], fields["variety"], strict=True) if v}

    def exists(gtin: str, lot: str) -> bool:
        try:
            store.lot(gtin, lot)
        except UnknownLotError:
            return False
        return True

    def day_of(field_id: str) -> date:
        return harvested.get(field_id, min(date(season, 9, 20), latest))

    def harvest(field_id: str, lot: str, kg: float, day: date) -> None:
        field_crop = crops[field_id]
        gtin = crop_gtin(field_crop)
        store.register_product(gtin=gtin, name=f"{field_crop} (fresh)", crop=field_crop)
        season_ops = season_operations(ops, field_id, day) if ops is not None else []
        coop = coop_of[field_id]
        store.record_event(
            coop,
            builders.harvest_event(
                gtin=gtin,
                lot=lot,
                quantity_kg=kg,
                when=_at(day, 8),
                field_location=field_uri[field_id],
                field_id=field_id,
                crop=field_crop,
                variety=varieties.get(field_id),
                grower_gln=coop.gln,
                operations=season_ops,
            ),
        )

    def ship(
        sender: Principal, receiver: Principal, gtin: str, lot: str, day: date, where: str
    ) -> None:
        for make, hour in ((builders.shipping_event, 10), (builders.receiving_event, 17)):
            who = sender if make is builders.shipping_event else receiver
            store.record_event(
                who,
                make(
                    gtin=gtin,
                    lot=lot,
                    when=_at(day, hour),
                    location=where,
                    source_gln=sender.gln,
                    destination_gln=receiver.gln,
                ),
            )

    p = str(season)
    ids = list(chosen["field_id"])
    lots: dict[str, list[str]] = {"chain": [], "mix_split": [], "phi_flag": [], "recalled": []}

    d = day_of(ids[0])
    if not exists(GTIN_WASHED, f"W{p}-001"):
        harvest(ids[0], f"H{p}-001", 2000.0, d)
        store.record_event(
            orgs["inspector"],
            builders.inspection_event(
                gtin=gtin_fresh,
                lot=f"H{p}-001",
                when=_at(d, 15),
                location=lab,
                conformant=True,
                results=[{"substance": SUBSTANCE, "value": 8.5, "uom": "P1"}],
                method=RAPID_TEST_METHOD,
            ),
        )
        ship(coop_of[ids[0]], proc, gtin_fresh, f"H{p}-001", d + timedelta(days=1), packhouse)
        store.record_event(
            proc,
            builders.transformation_event(
                inputs=[(gtin_fresh, f"H{p}-001", 2000.0)],
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

    d1, d2 = day_of(ids[1]), day_of(ids[2])
    d = max(d1, d2) + timedelta(days=1)
    if not exists(GTIN_WASHED, f"S{p}-002"):
        harvest(ids[1], f"H{p}-002", 1200.0, d1)
        harvest(ids[2], f"H{p}-003", 800.0, d2)
        for lot, field_id in ((f"H{p}-002", ids[1]), (f"H{p}-003", ids[2])):
            ship(coop_of[field_id], proc, gtin_fresh, lot, d, packhouse)
        store.record_event(
            proc,
            builders.transformation_event(
                inputs=[(gtin_fresh, f"H{p}-002", 1200.0), (gtin_fresh, f"H{p}-003", 800.0)],
                outputs=[(GTIN_WASHED, f"M{p}-001", 1950.0)],
                when=_at(d + timedelta(days=1), 10),
                location=packhouse,
                process="mixing",
            ),
        )
        store.record_event(
            proc,
            builders.transformation_event(
                inputs=[(GTIN_WASHED, f"M{p}-001", 1950.0)],
                outputs=[(GTIN_WASHED, f"S{p}-001", 1000.0), (GTIN_WASHED, f"S{p}-002", 950.0)],
                when=_at(d + timedelta(days=1), 11),
                location=packhouse,
                process="splitting",
            ),
        )
        ship(proc, shops[0], GTIN_WASHED, f"S{p}-001", d + timedelta(days=2), shop_uris[0])
        ship(proc, shops[1], GTIN_WASHED, f"S{p}-002", d + timedelta(days=2), shop_uris[1])
        store.record_event(
            orgs["inspector"],
            builders.inspection_event(
                gtin=GTIN_WASHED,
                lot=f"S{p}-002",
                when=_at(d + timedelta(days=3), 9),
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
            when=_at(d + timedelta(days=3), 12),
        )
    lots["mix_split"] = [f"H{p}-002", f"H{p}-003", f"M{p}-001", f"S{p}-001", f"S{p}-002"]
    lots["recalled"] = [f"S{p}-002"]

    flagged = (
        _phi_harvest(ops, fields, season, harvested, latest, exclude=set(ids))
        if ops is not None
        else None
    )
    if flagged is not None:
        field_id, day = flagged
        if not exists(crop_gtin(crops[field_id]), f"H{p}-004"):
            harvest(field_id, f"H{p}-004", 900.0, day)
        lots["phi_flag"] = [f"H{p}-004"]
    return {
        "season": season,
        "gtins": {"fresh": gtin_fresh, "washed": GTIN_WASHED},
        "lots": lots,
        "consumer_uri": f"{resolver}/01/{GTIN_WASHED}/10/W{p}-001",
        "consumer_lot": [GTIN_WASHED, f"W{p}-001"],
        "api_keys_file": str(keys_file) if keys_file else None,
    }


def _write_keys_once(store: TraceStore, data_dir: Path, principals: list[Principal]) -> Path | None:
    """Issue one key per organisation and write them (mode 600) unless the file already exists."""
    keys_file = data_dir / "demo_api_keys.json"
    if keys_file.exists():
        try:
            stored = json.loads(keys_file.read_text(encoding="utf-8"))["keys"]
            for entry in stored.values():
                store.authenticate(entry["api_key"])
            if {e["gln"] for e in stored.values()} >= {p.gln for p in principals}:
                return None
        except (ValueError, KeyError, TypeError, TraceError):
            pass  # keys of another (deleted) store, or an unreadable file: issue new ones
        keys_file.unlink()
    keys = {
        p.name: {"gln": p.gln, "role": p.role, "api_key": store.issue_api_key(p.gln, label="demo")}
        for p in principals
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
    return keys_file


def _phi_harvest(
    ops: pd.DataFrame,
    fields: pd.DataFrame,
    season: int,
    harvested: dict[str, date],
    latest: date,
    *,
    exclude: set[str],
) -> tuple[str, date] | None:
    """A field and harvest date that break a pre-harvest interval: a logged one, else a made-up early one."""
    candidates = [
        f
        for f in fields["field_id"]
        if f not in exclude and fields.set_index("field_id").at[f, "crop"] in CROP_GTINS
    ]
    crops = dict(zip(fields["field_id"], fields["crop"], strict=True))
    for field_id in candidates:
        if field_id in harvested:
            day = harvested[field_id]
            sprays = sprayings(season_operations(ops, field_id, day))
            if any(c.violated for c in check_pre_harvest_intervals(sprays, day, crops[field_id])):
                return field_id, day
    for field_id in candidates:
        season_ops = season_operations(ops, field_id, min(date(season, 12, 31), latest))
        dates = [
            op["date"]
            for op in sprayings(season_ops)
            if op["active_ingredient"]
            and (rule := interval_for(op["active_ingredient"], crops[field_id])) is not None
            and rule.days > 3
        ]
        if dates and max(dates) + timedelta(days=3) <= latest:
            return field_id, max(dates) + timedelta(days=3)
    return None
