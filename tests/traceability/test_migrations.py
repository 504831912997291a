"""Alembic migrations: head matches the ORM models, and an old store upgrades in place."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from traceability.db import Base
from traceability.engine import MIGRATIONS, create_store_engine
from traceability.store import TraceStore

from .conftest import POTATO, harvest, make_actors


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def test_head_schema_matches_the_models(store: TraceStore) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert (
            context.get_current_revision()
            == ScriptDirectory.from_config(_config()).get_current_head()
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_downgrade_and_upgrade_keep_the_data(store_url: str) -> None:
    with TraceStore.open(store_url) as store:
        harvest(store, make_actors(store), "H-MIG")
    engine = create_store_engine(store_url)
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0001"
    engine.dispose()
    with TraceStore.open(store_url) as store:  # upgrades to head on open
        with store.engine.connect() as conn:
            assert (
                MigrationContext.configure(conn).get_current_revision()
                == ScriptDirectory.from_config(_config()).get_current_head()
            )
        assert store.verify_lot(POTATO, "H-MIG").ok
        assert (
            store.certificate(POTATO, "H-MIG")["origin"]
            == "Fengxiang, 安定区马铃薯合作社, field DX-000001"
        )


def test_store_from_before_0004_serves_live_views_until_audited(store_url: str) -> None:
    """Upgrading to 0004 stores no views (building them verifies every chain); lookups build them
    as before until ``audit`` stores them, and new events store theirs at once."""
    from sqlalchemy import text

    with TraceStore.open(store_url) as store:
        actors = make_actors(store)
        harvest(store, actors, "H-OLD")
        before = store.consumer_view(POTATO, "H-OLD")
    engine = create_store_engine(store_url)
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    engine.dispose()
    with TraceStore.open(store_url) as store:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM consumer_views")).scalar_one() == 0
        assert store.consumer_view(POTATO, "H-OLD") == before
        harvest(store, actors, "H-NEW")
        assert store.audit() == {"lots_checked": 2, "lots_broken": 0}
        with store.engine.connect() as conn:
            stored = conn.execute(text("SELECT lot FROM consumer_views ORDER BY lot")).scalars().all()
        assert stored == ["H-NEW", "H-OLD"]
        assert store.consumer_view(POTATO, "H-OLD") == before
