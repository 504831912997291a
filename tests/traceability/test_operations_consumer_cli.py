"""Operations log (UTF-8/BOM/GBK), pre-harvest interval flag, consumer view privacy, CLI and demo."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner
from PIL import Image
from shapely.geometry import box

from nongshu.cli import main
from traceability.errors import OperationsLogError
from traceability.operations import read_operations, season_operations
from traceability.phi import check_pre_harvest_intervals
from traceability.store import TraceStore

from .conftest import POTATO, WASHED, harvest

OPS_CSV = """field_id,date,operation,product,active_ingredient,dose,unit,operator
DX-000001,2025-04-20,sowing,陇薯7号,,2250,kg/ha,张三
DX-000001,2025-06-10,fertilising,尿素,,150,kg/ha,张三
DX-000001,2025-08-20,spraying,代森锰锌80%可湿性粉剂,代森锰锌,1800,g/ha,张三
DX-000001,2025-08-26,spraying,吡虫啉,imidacloprid,300,g/ha,李四
DX-000002,2025-08-01,spraying,Ridomil Gold MZ,metalaxyl-M·mancozeb,2000,g/ha,王五
DX-000001,2024-07-01,spraying,old season,mancozeb,1800,g/ha,张三
"""


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_operations_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "operations.csv"
    path.write_bytes(OPS_CSV.encode(encoding))
    ops = read_operations(path)
    season = season_operations(ops, "DX-000001", date(2025, 9, 1))
    assert [op["operation"] for op in season] == ["sowing", "fertilising", "spraying", "spraying"]
    assert season[2]["active_ingredient"] == "代森锰锌" and season[2]["dose"] == 1800.0


def test_operations_csv_errors_name_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "operations.csv"
    path.write_text(
        OPS_CSV.replace("2025-06-10,fertilising", "2025-13-10,fertilising"), encoding="utf-8"
    )
    with pytest.raises(OperationsLogError, match=r"operations.csv: date: row 3: not a date"):
        read_operations(path)
    path.write_text("field_id,date\nDX-1,2025-01-01\n", encoding="utf-8")
    with pytest.raises(OperationsLogError, match="missing columns"):
        read_operations(path)


def test_pre_harvest_interval_by_hand() -> None:
    sprays = [
        {"date": date(2025, 8, 20), "active_ingredient": "代森锰锌", "product": "x"},
        {"date": date(2025, 8, 26), "active_ingredient": "imidacloprid", "product": "y"},
        {"date": date(2025, 8, 1), "active_ingredient": "unknown-ai", "product": "z"},
    ]
    checks = check_pre_harvest_intervals(sprays, date(2025, 9, 1), "potato")
    # mancozeb: 12 days before harvest < 15 d -> violated; imidacloprid: 6 d < 14 d -> violated.
    assert [
        (c.active_ingredient, c.days_before_harvest, c.required_days, c.violated) for c in checks
    ] == [
        ("mancozeb", 12, 15, True),
        ("imidacloprid", 6, 14, True),
        ("unknown-ai", 31, None, False),
    ]
    ok = check_pre_harvest_intervals(sprays[:1], date(2025, 9, 4), "potato")
    assert not ok[0].violated  # exactly 15 days


def test_phi_flag_reaches_lot_and_consumer_view_without_personal_data(
    store: TraceStore, actors, tmp_path: Path
) -> None:
    path = tmp_path / "operations.csv"
    path.write_bytes(OPS_CSV.encode("gbk"))
    ops = season_operations(read_operations(path), "DX-000001", date(2025, 9, 1))
    harvest(store, actors, "H-PHI", operations=ops)  # harvest on 2025-09-01
    assert store.lot(POTATO, "H-PHI")["phi_flag"] is True

    def summary(field_id: str, season: int) -> dict:
        assert (field_id, season) == ("DX-000001", 2025)
        return {
            "yield_class": "high",
            "alerts": [{"hazard": "frost", "colour": "orange"}],
            "secret": "drop me",
        }

    view = store.consumer_view(POTATO, "H-PHI", season_summary_provider=summary)
    assert view["pre_harvest_interval"]["flag"] is True
    assert {v["active_ingredient"] for v in view["pre_harvest_interval"]["violations"]} == {
        "mancozeb",
        "imidacloprid",
    }
    assert view["origin"] == [
        {"field_id": "DX-000001", "township": "Fengxiang", "cooperative": "安定区马铃薯合作社"}
    ]
    assert view["season_summary"] == [
        {
            "field_id": "DX-000001",
            "yield_class": "high",
            "alerts": [{"hazard": "frost", "colour": "orange"}],
        }
    ]
    assert view["chain_status"] == "intact"
    text = json.dumps(view, ensure_ascii=False)
    for personal in (
        "13800138000",
        "620102198001011234",
        "某村12号",
        "张三",
        "李四",
        "13900139000",
    ):
        assert personal not in text


def test_consumer_view_of_demo_chain(store: TraceStore, demo_chain) -> None:
    view = store.consumer_view(WASHED, "W-001")
    assert [e["step"] for e in view["custody"]] == [
        "harvest",
        "inspection",
        "shipping",
        "receiving",
        "processing",
        "packing",
        "shipping",
        "receiving",
        "retail sale",
    ]
    assert view["harvest_date"] == "2025-09-01"
    assert view["inspections"][0]["result"] == "conformant"
    assert view["certificate"]["basis"] == "quality_control"
    assert view["certificate"]["contact"] is None  # the processor has no public business contact
    assert view["chain_status"] == "intact"


def test_cli_qr_png_decodes(tmp_path: Path) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    out = tmp_path / "lot.png"
    result = CliRunner().invoke(
        main,
        [
            "trace",
            "qr",
            "--gtin",
            "4006381333931",
            "--lot",
            "DX/2025-01",
            "--out",
            str(out),
            "--resolver",
            "https://trace.example.cn",
        ],
    )
    assert result.exit_code == 0, result.output
    expected = "https://trace.example.cn/01/04006381333931/10/DX%2F2025-01"
    assert result.output.strip() == expected
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(out.read_bytes())))
    assert [d.text for d in decoded] == [expected]
    bad = CliRunner().invoke(
        main,
        ["trace", "qr", "--gtin", "4006381333932", "--lot", "L", "--out", str(tmp_path / "x.png")],
    )
    assert bad.exit_code == 2 and "check digit" in bad.output


@pytest.fixture()
def tiny_region(tmp_path: Path) -> Path:
    inputs = tmp_path / "region"
    (inputs / "fields").mkdir(parents=True)
    (inputs / "operations").mkdir()
    gdf = gpd.GeoDataFrame(
        {
            "field_id": [f"DX-00000{i}" for i in range(1, 6)],
            "crop": ["potato"] * 5,
            "cooperative_id": ["C01"] * 5,
            "cooperative_name": ["安定区马铃薯专业合作社"] * 5,
            "township": ["T01", "T01", "T02", "T02", "T03"],
        },
        geometry=[box(i * 100, 0, i * 100 + 90, 90) for i in range(5)],
        crs="EPSG:32648",
    )
    gdf.to_file(inputs / "fields" / "fields.gpkg", layer="fields", driver="GPKG")
    ops = OPS_CSV + "DX-000004,2025-08-10,spraying,代森锰锌,mancozeb,1800,g/ha,赵六\n"
    (inputs / "operations" / "operations.csv").write_bytes(ops.encode("utf-8-sig"))
    return inputs


def test_cli_demo_export_verify_import(
    tmp_path: Path, tiny_region: Path, standards_dir: Path, store_url: str
) -> None:
    import jsonschema

    runner = CliRunner(env={"NONGSHU_DATA_DIR": str(tmp_path / "data")})
    db = ["--database-url", store_url]
    outputs = tmp_path / "outputs"
    (outputs / "2025").mkdir(parents=True)
    (outputs / "2025" / "fields.csv").write_text(
        "field_id,crop,yield_pred_t_ha,alert_frost,alert_level\nDX-000001,potato,30,2,2\nDX-000002,potato,20,0,0\n"
        "DX-000003,potato,25,0,0\n",
        encoding="utf-8",
    )
    first = runner.invoke(
        main, ["trace", "demo", "--inputs", str(tiny_region), "--outputs", str(outputs), *db]
    )
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["consumer_season_summary"][0]["field_id"] == "DX-000001"
    assert summary["consumer_season_summary"][0]["yield_class"] == "high"
    assert summary["consumer_season_summary"][0]["alerts"] == [
        {"hazard": "frost", "level": 2, "colour": "yellow"}
    ]
    keys = json.loads((tmp_path / "data" / "demo_api_keys.json").read_text())
    assert "DEMO ONLY" in keys["warning"]
    again = runner.invoke(main, ["trace", "demo", "--inputs", str(tiny_region), *db])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["api_keys_file"] is None

    lots = json.loads(runner.invoke(main, ["trace", "lots", "--json", *db]).stdout)
    by_lot = {r["lot"]: r for r in lots}
    assert by_lot["S2025-002"]["recalled"] and by_lot["H2025-004"]["phi_flag"]
    assert by_lot["W2025-001"]["status"] == "sold" and not by_lot["W2025-001"]["phi_flag"]

    out = tmp_path / "w.jsonld"
    assert (
        runner.invoke(main, ["trace", "export", "W2025-001", "--out", str(out), *db]).exit_code == 0
    )
    schema = json.loads((standards_dir / "EPCIS-JSON-Schema.json").read_text())
    jsonschema.validate(json.loads(out.read_text()), schema)
    verify = runner.invoke(main, ["trace", "verify", "W2025-001", *db])
    assert verify.exit_code == 0 and json.loads(verify.stdout)["ok"] is True
    unknown = runner.invoke(main, ["trace", "verify", "NOPE", *db])
    assert unknown.exit_code == 2 and "unknown lot" in unknown.output
    coop_key = next(v["api_key"] for v in keys["keys"].values() if v["role"] == "cooperative")
    imported = runner.invoke(main, ["trace", "import", str(out), "--api-key", coop_key, *db])
    assert imported.exit_code == 0 and "0 new" in imported.stdout
    denied = runner.invoke(
        main, ["trace", "import", str(out), "--api-key", "nsk_000000000000_x", *db]
    )
    assert denied.exit_code == 2 and "unknown or revoked API key" in denied.output
    recall = runner.invoke(
        main, ["trace", "recall", "S2025-001", "--reason", "test", "--api-key", coop_key, *db]
    )
    assert recall.exit_code == 2 and "custodian" in recall.output
    assert summary["lots"]["phi_flag"] == ["H2025-004"]


@pytest.mark.slow
def test_demo_on_the_generated_demo_region(
    demo_region: Path, tmp_path: Path, standards_dir: Path
) -> None:
    """``make demo``'s trace step on the real demo region; its export validates against the official schema."""
    import jsonschema

    url = f"sqlite:///{tmp_path / 'trace.db'}"
    runner = CliRunner(env={"NONGSHU_DATA_DIR": str(tmp_path / "data")})
    result = runner.invoke(
        main, ["trace", "demo", "--inputs", str(demo_region), "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    schema = json.loads((standards_dir / "EPCIS-JSON-Schema.json").read_text())
    with TraceStore.open(url) as store:
        for lot in summary["lots"]["chain"] + summary["lots"]["mix_split"]:
            gtin, number = store.find_lot(lot)
            jsonschema.validate(store.export_lot(gtin, number), schema)
            assert store.verify_lot(gtin, number).ok
        gtin, lot = summary["consumer_lot"]
        view = store.consumer_view(gtin, lot)
        assert view["chain_status"] == "intact" and view["origin"][0]["cooperative"]
