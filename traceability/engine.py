"""Open the trace store's database: engine options per backend and Alembic ``upgrade head``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from traceability.errors import StoreError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Bytes of the SQLite file mapped into memory (address space, not RAM; https://sqlite.org/mmap.html).
SQLITE_MMAP_BYTES = 2**30
#: SQLite page cache per connection, KiB (the default is 2,000 KiB).
SQLITE_CACHE_KIB = 16_384


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Durable and consistent: WAL journal, fsync on every commit, foreign keys enforced.
    dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN IMMEDIATE
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Reads through a memory map of the file (the OS page cache, shared by every worker) instead
    # of a read() system call per page; SQLite's own cache per connection raised from 2 MiB.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def _sqlite_begin_deferred(conn: Any) -> None:
    # Readers take no lock up front: under WAL they see a consistent snapshot beside the writer.
    conn.exec_driver_sql("BEGIN")


def _sqlite_begin(conn: Any) -> None:
    # Take the write lock at BEGIN so concurrent writers queue instead of failing mid-transaction.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_store_engine(url: str, *, for_reading: bool = False) -> Engine:
    """An engine for ``sqlite:///...`` or ``postgresql+psycopg://...``.

    On SQLite, writers begin with ``BEGIN IMMEDIATE`` (one writer at a time, the
    others wait up to 30 s); ``for_reading`` engines begin deferred transactions.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise StoreError(
            "not a database URL",
            field="database_url",
            expected="sqlite:///path or postgresql+psycopg://user@host:port/db",
            got=url,
        ) from err
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin_deferred if for_reading else _sqlite_begin)
            return engine
        if parsed.get_backend_name() == "postgresql":
            return create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as err:
        raise StoreError("database driver not installed", field="database_url", got=url) from err
    raise StoreError(
        "unsupported database", field="database_url", expected="sqlite or postgresql", got=url
    )


def migrate(engine: Engine) -> None:
    """Run the package's Alembic migrations up to ``head`` on ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                # Serialise concurrent first opens (several gunicorn workers) on one advisory lock.
                connection.execute(text("SELECT pg_advisory_xact_lock(7250001)"))
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except OperationalError as err:
        raise StoreError(
            "cannot open the trace database",
            field="database_url",
            got=engine.url.render_as_string(hide_password=True),
        ) from err
