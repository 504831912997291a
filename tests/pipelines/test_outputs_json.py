"""JSON outputs (alerts.json, run.json, model_card.json): plain JSON, NaN as null, clear errors."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geodata.errors import OutputError
from pipelines.outputs import write_json


def test_numpy_dates_paths_and_nan_become_plain_json(tmp_path: Path) -> None:
    data = {
        "alerts": [{"risk": np.float32(0.25), "level": np.int64(3), "triggers": {"spi": math.nan, "hours": np.nan}}],
        "valid_to": dt.date(2026, 7, 15),
        "at": pd.Timestamp("2026-07-15T06:00"),
        "source": Path("/data/in"),
        "grid": np.array([[1, 2], [3, 4]], dtype="int16"),
        "bounds": (1.5, math.inf),
        3: "non-string key",
    }
    path = write_json(tmp_path / "out.json", data)
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text and text.endswith("}\n")
    assert json.loads(text) == {
        "alerts": [{"risk": 0.25, "level": 3, "triggers": {"spi": None, "hours": None}}],
        "valid_to": "2026-07-15",
        "at": "2026-07-15T06:00:00",
        "source": "/data/in",
        "grid": [[1, 2], [3, 4]],
        "bounds": [1.5, None],
        "3": "non-string key",
    }


def test_chinese_text_is_written_as_utf8(tmp_path: Path) -> None:
    path = write_json(tmp_path / "a.json", {"advice": "48 小时内喷施保护性杀菌剂"})
    assert "小时" in path.read_text(encoding="utf-8")


def test_an_unserialisable_value_names_the_file_and_type(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="out.json") as err:
        write_json(tmp_path / "out.json", {"x": object()})
    assert "object" in str(err.value)
    assert not (tmp_path / "out.json").exists()
