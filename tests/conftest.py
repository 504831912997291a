"""Fixtures shared by every test package.

``demo_region`` generates the small Dingxi demo region once per test session
(512 px, 3 seasons, fixed seed) so that readers, pipeline and web tests all
work on the same files the product would see.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nongshu.settings import Settings

SHARED_STANDARDS = Path(__file__).resolve().parents[2] / "shared" / "standards"
#: The server ``scripts/postgres.sh`` starts; override with ``NONGSHU_TEST_POSTGRES_URL``.
DEFAULT_PG = "postgresql+psycopg://nongshu@127.0.0.1:55432/nongshu_test"

_PG_PROBE: dict[str, str | None] = {}


@pytest.fixture(scope="session")
def standards_dir() -> Path:
    """``../shared/standards`` (EPCIS JSON schema, CAP 1.2 XSD), skipped when absent."""
    if not SHARED_STANDARDS.is_dir():
        pytest.skip(f"official standards not found at {SHARED_STANDARDS}")
    return SHARED_STANDARDS


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Laptop settings pointing at a fresh temporary data directory."""
    return Settings.from_env({"NONGSHU_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture(scope="session")
def demo_region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 512 px, 3-season Dingxi demo region (generated once per session)."""
    from geodata.demo import generate_region

    out = tmp_path_factory.mktemp("demo") / "dingxi"
    generate_region("dingxi", out, size=512, seasons=3, seed=7)
    return out


def postgres_url() -> str:
    """The test PostgreSQL server's URL; skip (fail under CI=true) when it does not answer. Probed once per session."""
    from sqlalchemy import create_engine, text

    url = os.environ.get("NONGSHU_TEST_POSTGRES_URL", DEFAULT_PG)
    if url not in _PG_PROBE:
        try:
            engine = create_engine(url, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _PG_PROBE[url] = None
        except Exception as err:  # any driver or connection failure means "no server"
            _PG_PROBE[url] = f"{type(err).__name__}: {err}".splitlines()[0]
    problem = _PG_PROBE[url]
    if problem is not None:
        message = f"PostgreSQL not reachable at {url} (start it with scripts/postgres.sh): {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def trace_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty trace database: a new SQLite file, or a new schema on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trace.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
