"""CSV tables: yield history and farm operations, in UTF-8, UTF-8-BOM and GBK."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from geodata.errors import InputError
from geodata.readers.common import decode_text
from geodata.readers.tables import read_operations, read_yield_history


def _load_bad_inputs() -> ModuleType:
    """Import the sibling ``bad_inputs.py`` (works under ``--import-mode=importlib``)."""
    name = "tests_geodata_bad_inputs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("bad_inputs.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


bad = _load_bad_inputs()

OPERATIONS = (
    "field_id,date,operation,product,active_ingredient,dose,unit,operator\n"
    "DX-000001,2025-04-20,sowing,陇薯7号种薯,,2500,kg/ha,张伟\n"
    "DX-000001,2025-05-15,fertilising,尿素,尿素,150,kg/ha,张伟\n"
    "DX-000001,2025-07-20,spraying,代森锰锌可湿性粉剂,代森锰锌,1.8,kg/ha,李娜\n"
    "DX-000001,2025-06-01,irrigation,,,30,mm,张伟\n"
    "DX-000001,2025-09-25,harvest,,,,,合作社\n"
)
YIELDS = (
    "field_id,season,crop,yield_t_ha\n"
    "DX-000001,2023,potato,21.5\n"
    "DX-000002,2023,spring_wheat,3.2\n"
    "DX-000003,2023,maize,7.9\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_operations_in_every_encoding(tmp_path: Path, encoding: str) -> None:
    path = bad.write_text(tmp_path / "operations.csv", OPERATIONS, encoding)
    ops = read_operations(path)
    assert list(ops.columns)[0] == "field_id"  # no BOM glued to the first header
    assert ops.loc[2, "product"] == "代森锰锌可湿性粉剂"
    assert ops.loc[0, "operator"] == "张伟"
    assert ops.loc[2, "dose"] == pytest.approx(1.8)
    assert str(ops.loc[3, "date"].date()) == "2025-06-01"
    assert ops["dose"].isna().tolist() == [False, False, False, False, True]


def test_decode_reports_encoding(tmp_path: Path) -> None:
    assert decode_text(bad.write_text(tmp_path / "a.csv", "名称\n马铃薯\n", "gbk"))[1] == "gb18030"
    assert decode_text(bad.write_text(tmp_path / "b.csv", "名称\n马铃薯\n", "utf-8-sig")) == ("名称\n马铃薯\n", "utf-8-sig")


def test_undecodable_csv(tmp_path: Path) -> None:
    path = tmp_path / "ops.csv"
    path.write_bytes(b"field_id\n\xff\xff\xff\n")
    with pytest.raises(InputError, match="ops.csv: cannot decode text"):
        read_operations(path)


def test_zero_size_csv(tmp_path: Path) -> None:
    path = tmp_path / "operations.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="operations.csv: file is empty"):
        read_operations(path)


@pytest.mark.parametrize(
    "row, pattern",
    [
        ("DX-000002,2025-05-01,weeding,,,1,kg/ha,x", r"operation: unknown operation at lines 7"),
        ("DX-000002,2025-13-01,spraying,p,a,1,kg/ha,x", r"date: unparseable or missing dates at lines 7"),
        ("DX-000002,2025-05-01,spraying,p,a,-1,kg/ha,x", r"dose: negative dose at lines 7"),
        ("DX-000002,2025-05-01,spraying,p,a,lots,kg/ha,x", r"dose: non-numeric dose at lines 7"),
        ("DX-000002,2025-05-01,spraying,p,a,1,斤/亩,x", r"unit: unknown or missing unit at lines 7"),
    ],
)
def test_operations_rejections(tmp_path: Path, row: str, pattern: str) -> None:
    path = bad.write_text(tmp_path / "operations.csv", OPERATIONS + row + "\n", "utf-8")
    with pytest.raises(InputError, match="operations.csv: " + pattern):
        read_operations(path)


def test_operations_missing_column(tmp_path: Path) -> None:
    text = OPERATIONS.replace(",operator\n", "\n", 1)
    path = bad.write_text(tmp_path / "operations.csv", text, "utf-8")
    with pytest.raises(InputError, match=r"operator: missing column"):
        read_operations(path)


def test_yield_history(tmp_path: Path) -> None:
    table = read_yield_history(bad.write_text(tmp_path / "yield.csv", YIELDS, "utf-8-sig"))
    assert table["season"].tolist() == [2023] * 3
    assert table["yield_t_ha"].tolist() == [21.5, 3.2, 7.9]


@pytest.mark.parametrize(
    "row",
    ["DX-000009,2023,potato,-1.5", "DX-000009,2023,potato,75", "DX-000009,2023,spring_wheat,14",
     "DX-000009,2023,highland_barley,10.5"],
)
def test_implausible_yield_names_line(tmp_path: Path, row: str) -> None:
    path = bad.write_text(tmp_path / "yield.csv", YIELDS + row + "\n", "utf-8")
    with pytest.raises(InputError, match=r"yield.csv: yield_t_ha: implausible yield at lines 5"):
        read_yield_history(path)


def test_failed_harvest_is_a_valid_record(tmp_path: Path) -> None:
    """A crop failure (0 t/ha, or a few hundred kg) in a drought year is data, not an error."""
    path = bad.write_text(tmp_path / "yield.csv", YIELDS + "DX-000009,2023,maize,0.0\nDX-000010,2023,potato,0.4\n", "utf-8")
    table = read_yield_history(path)
    assert table["yield_t_ha"].tolist()[-2:] == [0.0, 0.4]


def test_yield_potato_kg_per_mu_mistake(tmp_path: Path) -> None:
    """A classic: potato yield typed in kg/mu (1500) instead of t/ha (22.5)."""
    path = bad.write_text(tmp_path / "yield.csv", YIELDS.replace("21.5", "1500"), "gbk")
    with pytest.raises(InputError, match=r"lines 2.*expected potato within 0.0-60.0 t/ha; got 1500.0"):
        read_yield_history(path)


def test_yield_duplicate_and_bad_season(tmp_path: Path) -> None:
    path = bad.write_text(tmp_path / "yield.csv", YIELDS + "DX-000001,2023,potato,20\n", "utf-8")
    with pytest.raises(InputError, match=r"duplicated field_id/season at lines 2, 5"):
        read_yield_history(path)
    path = bad.write_text(tmp_path / "yield2.csv", YIELDS + "DX-000001,twenty,potato,20\n", "utf-8")
    with pytest.raises(InputError, match=r"season: invalid season at lines 5"):
        read_yield_history(path)
