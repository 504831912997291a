"""Fixtures of the web tests: a published run directory, a seeded trace store, apps and clients.

The data builders live in ``webdata.py`` (importable by the tests: this folder is
put on ``sys.path`` because pytest runs with ``--import-mode=importlib``).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from webdata import REGION, TraceWorld, make_run, seed_trace  # noqa: E402

from nongshu.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with one published run and a hidden, incomplete one."""
    root = tmp_path_factory.mktemp("webdata")
    make_run(root / "outputs")
    hidden = root / "outputs" / REGION / ".2027-tmp"
    hidden.mkdir()
    (hidden / "run.json").write_text("{}")
    return root


@pytest.fixture()
def web_settings(data_dir: Path) -> Settings:
    return Settings.from_env({"NONGSHU_DATA_DIR": str(data_dir), "NONGSHU_TILE_CACHE": "16"})


@pytest.fixture()
def app(web_settings: Settings):
    from webapi import create_app

    app = create_app(web_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def trace_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded SQLite trace store built once; tests get a copy."""
    path = tmp_path_factory.mktemp("trace") / "trace.db"
    world = seed_trace(f"sqlite:///{path}")
    (path.parent / "world.json").write_text(json.dumps(world.__dict__))
    return path


@pytest.fixture()
def trace_world(trace_template: Path, tmp_path: Path) -> TraceWorld:
    target = tmp_path / "trace.db"
    shutil.copyfile(trace_template, target)
    data = json.loads((trace_template.parent / "world.json").read_text())
    data["url"] = f"sqlite:///{target}"
    return TraceWorld(**data)


@pytest.fixture()
def trace_app(web_settings: Settings, trace_world: TraceWorld):
    from webapi import create_app

    app = create_app(web_settings.with_(database_url=trace_world.url))
    app.config["TESTING"] = True
    yield app
    store = app.extensions["nongshu"].trace_store
    if store is not None:
        store.close()


@pytest.fixture()
def trace_client(trace_app):
    return trace_app.test_client()
