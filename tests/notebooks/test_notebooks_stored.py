"""The notebooks as stored: no outputs, a parameters cell first, bilingual headings, public API only."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from .conftest import NOTEBOOKS

EXPECTED = ("01_season_review.ipynb", "02_yield_model.ipynb", "03_trace_and_recall.ipynb")
PROJECT_PACKAGES = {"nongshu", "geodata", "pipelines", "models", "traceability", "webapi"}
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def code_of(notebook: nbformat.NotebookNode) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def test_the_three_analyst_notebooks_are_there() -> None:
    assert set(EXPECTED) <= {p.name for p in PATHS}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_stored_without_outputs_or_execution_counts(path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for k, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {k} has outputs: strip them before committing"
            assert cell.execution_count is None, f"{path.name} cell {k} has an execution count"
    assert "widgets" not in notebook.metadata
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_first_code_cell_reads_the_parameters_from_the_environment(path) -> None:
    first = code_of(nbformat.read(path, as_version=4))[0]
    assert "os.environ" in first and "NONGSHU_NB_DATA" in first


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_headings_are_in_chinese_and_english(path) -> None:
    notebook = nbformat.read(path, as_version=4)
    headings = [line for cell in notebook.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if re.match(r"#{1,3} ", line)]
    bilingual = [h for h in headings if re.search(r"[\u4e00-\u9fff]", h) and re.search(r"[A-Za-z]{3}", h)]
    assert len(bilingual) >= 4, headings


def private_names(source: str) -> list[str]:
    """Private project names a cell uses: ``_x`` imported from a project module or reached as an attribute."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PROJECT_PACKAGES:
            parts = [*node.module.split("."), *(a.name for a in node.names)]
            found += [f"{node.module}:{p}" for p in parts if p.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if any(p.startswith("_") for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(node.attr)
        if isinstance(node, ast.ImportFrom | ast.Import):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [m for m in modules if m.split(".")[0] in ("tests", "conftest")]
    return found


def test_private_name_detector_catches_what_it_should() -> None:
    assert private_names("from pipelines.season import _field_table") == ["pipelines.season:_field_table"]
    assert private_names("from models import _common") == ["models:_common"]
    assert private_names("import traceability._x") == ["traceability._x"]
    assert private_names("store._read()") == ["_read"]
    assert private_names("from tests.conftest import x") == ["tests.conftest"]
    assert private_names("from models.yield_model import predict\nx.__class__") == []


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_notebooks_use_only_the_public_api(path) -> None:
    notebook = nbformat.read(path, as_version=4)
    used = [name for source in code_of(notebook) for name in private_names(source)]
    assert used == [], f"{path.name} uses private names {used}"
