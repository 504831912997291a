"""Fixtures shared by every test package.

``demo_region`` generates the small Dingxi demo region once per test session
(512 px, 3 seasons, fixed seed) so that readers, pipeline and web tests all
work on the same files the product would see.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nongshu.settings import Settings

SHARED_STANDARDS = Path(__file__).resolve().parents[2] / "shared" / "standards"


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
