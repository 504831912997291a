"""Run the analyst notebooks (``notebooks/*.ipynb``) with nbclient on a small demo region.

The region is generated once per session with the notebooks' own defaults
(``NONGSHU_NB_SIZE=256``, ``NONGSHU_NB_SEASONS=4``, ``NONGSHU_NB_SEED=7``), so each
notebook finds and reuses it; each notebook then runs once per session from a temp
copy, in a fresh kernel whose environment points it at that folder, and the tests
assert on the files it wrote.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: demo region of the notebook runs: 256 px (73 fields), 4 seasons so that 3 have yield records (the CV needs >= 3).
REGION = {"NONGSHU_NB_SIZE": "256", "NONGSHU_NB_SEASONS": "4", "NONGSHU_NB_SEED": "7"}
#: seconds a single cell may take (the season run is the longest, ~1 min on an idle 2-core machine).
CELL_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def nb_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The notebooks' working folder, with the demo region already generated where they look for it."""
    from geodata.demo import generate_region

    data = tmp_path_factory.mktemp("nbdata")
    generate_region("dingxi", data / "dingxi", size=int(REGION["NONGSHU_NB_SIZE"]),
                    seasons=int(REGION["NONGSHU_NB_SEASONS"]), seed=int(REGION["NONGSHU_NB_SEED"]))
    return data


def execute_notebook(name: str, data: Path, workdir: Path) -> nbformat.NotebookNode:
    """Execute a temp copy of ``notebooks/<name>`` in a fresh python3 kernel; raises on the first failing cell."""
    copy = workdir / name
    shutil.copy(NOTEBOOKS / name, copy)
    notebook = nbformat.read(copy, as_version=4)
    env = {**os.environ, **REGION, "NONGSHU_NB_DATA": str(data), "NONGSHU_DATA_DIR": str(data / "nongshu"),
           "NONGSHU_WORKERS": "1", "NONGSHU_THREADS_PER_WORKER": "2", "NONGSHU_MEMORY_LIMIT": "2GiB",
           "MPLBACKEND": "Agg"}
    env.pop("NONGSHU_NB_INPUTS", None)
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env=env)
    nbformat.write(notebook, copy)  # kept next to the outputs for debugging a failure
    return notebook


@pytest.fixture(scope="session")
def season_review(nb_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``01_season_review.ipynb`` executed; returns its output folder."""
    execute_notebook("01_season_review.ipynb", nb_data, tmp_path_factory.mktemp("nb01"))
    return nb_data / "season_review"


@pytest.fixture(scope="session")
def yield_model_review(nb_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``02_yield_model.ipynb`` executed; returns its output folder."""
    execute_notebook("02_yield_model.ipynb", nb_data, tmp_path_factory.mktemp("nb02"))
    return nb_data / "yield_model"


@pytest.fixture(scope="session")
def recall_drill(nb_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``03_trace_and_recall.ipynb`` executed; returns its output folder."""
    execute_notebook("03_trace_and_recall.ipynb", nb_data, tmp_path_factory.mktemp("nb03"))
    return nb_data / "trace_drill"
