"""The `nongshu run` and `nongshu model` commands: clear errors, and a model directory from `model train`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nongshu.cli import main


def test_run_on_a_missing_inputs_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--inputs", str(tmp_path / "nowhere"), "--season", "2025",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "inputs directory not found" in result.output and "nowhere" in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_as_of_date_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--inputs", str(tmp_path), "--season", "2025", "--out",
                                       str(tmp_path / "out"), "--as-of", "mid-July"])
    assert result.exit_code == 2
    assert "--as-of" in result.output and "mid-July" in result.output


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path, region: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--inputs", str(region), "--season", "2026", "--out",
                                       str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler" in result.output
    assert not any((tmp_path / "out").iterdir())  # nothing half-written


def test_given_model_without_files_is_a_clear_error(tmp_path: Path, region: Path) -> None:
    (tmp_path / "empty-model").mkdir()
    result = CliRunner().invoke(main, ["run", "--inputs", str(region), "--season", "2026", "--out",
                                       str(tmp_path / "out"), "--model", str(tmp_path / "empty-model"),
                                       "--workers", "1"])
    assert result.exit_code == 2
    assert "no yield model found" in result.output


@pytest.mark.slow
def test_model_train_writes_model_card_and_plot(tmp_path: Path, region: Path) -> None:
    out = tmp_path / "model"
    result = CliRunner().invoke(main, ["model", "train", "--inputs", str(region), "--out", str(out),
                                       "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert {"model.joblib", "model_card.json"} <= {p.name for p in out.iterdir()}
    card = json.loads((out / "model_card.json").read_text())
    assert set(card["leads"]) == {"30d", "60d", "90d", "end"}
    assert card["training"]["seasons"] == [2024, 2025]
    from pipelines import training

    model, _ = training.load(out)
    assert model.features("end") == list(training.FEATURES)
