"""One settings object, read from ``NONGSHU_*`` environment variables.

Defaults run on one laptop: data under ``./data``, a SQLite trace store in the
data directory, a local Dask cluster with two workers. Settings are built once
by the caller (CLI command, app factory, test fixture) and passed down
explicitly; nothing reads the environment at import time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from nongshu.errors import ConfigError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}


def parse_size(text: str, *, name: str = "size") -> int:
    """Parse ``"4GiB"``, ``"512MB"`` or ``"1048576"`` into bytes."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ConfigError(
            "cannot read this size", field=name, expected="a number of bytes such as 4GiB or 512MB", got=text
        )
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "B").upper()])


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with laptop defaults.

    Environment variables (all optional):

    ``NONGSHU_DATA_DIR``        root of inputs, outputs and the trace store (``./data``)
    ``NONGSHU_DATABASE_URL``    SQLAlchemy URL of the trace store (``sqlite:///<data>/trace.db``)
    ``DASK_SCHEDULER_ADDRESS``  an existing Dask scheduler (``tcp://host:8786``); unset = LocalCluster
    ``NONGSHU_WORKERS``         LocalCluster worker processes (2)
    ``NONGSHU_THREADS_PER_WORKER`` threads per worker (1)
    ``NONGSHU_MEMORY_LIMIT``    memory limit per worker (``4GiB``)
    ``NONGSHU_RESOLVER_URL``    public base URL of the GS1 Digital Link resolver (``http://127.0.0.1:5000``)
    ``NONGSHU_BASEMAP_URL``     optional XYZ basemap template for the bureau map (none)
    ``NONGSHU_MAX_UPLOAD``      largest accepted request body / import file (``10MiB``)
    ``NONGSHU_TILE_CACHE``      tiles kept in the in-process LRU cache (2048)
    ``NONGSHU_LOG_LEVEL``       logging level (``INFO``)
    """

    data_dir: Path = Path("data")
    database_url: str | None = None
    scheduler_address: str | None = None
    workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str = "4GiB"
    resolver_url: str = "http://127.0.0.1:5000"
    basemap_url: str | None = None
    max_upload_bytes: int = 10 * 2**20
    tile_cache_size: int = 2048
    log_level: str = "INFO"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def trace_database_url(self) -> str:
        """The trace store URL: explicit, or SQLite inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'trace.db').resolve()}"

    @property
    def memory_limit_bytes(self) -> int:
        return parse_size(self.memory_limit, name="NONGSHU_MEMORY_LIMIT")

    def with_(self, **changes: object) -> Settings:
        """A copy with some values changed (settings are immutable)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ

        def integer(name: str, default: int, minimum: int = 0) -> int:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = int(raw)
            except ValueError as err:
                raise ConfigError("not an integer", field=name, expected="an integer", got=raw) from err
            if value < minimum:
                raise ConfigError("too small", field=name, expected=f"an integer >= {minimum}", got=raw)
            return value

        memory = env.get("NONGSHU_MEMORY_LIMIT") or cls.memory_limit
        parse_size(memory, name="NONGSHU_MEMORY_LIMIT")
        upload = env.get("NONGSHU_MAX_UPLOAD")
        return cls(
            data_dir=Path(env.get("NONGSHU_DATA_DIR") or "data"),
            database_url=env.get("NONGSHU_DATABASE_URL") or None,
            scheduler_address=env.get("DASK_SCHEDULER_ADDRESS") or None,
            workers=integer("NONGSHU_WORKERS", cls.workers, 1),
            threads_per_worker=integer("NONGSHU_THREADS_PER_WORKER", cls.threads_per_worker, 1),
            memory_limit=memory,
            resolver_url=(env.get("NONGSHU_RESOLVER_URL") or cls.resolver_url).rstrip("/"),
            basemap_url=env.get("NONGSHU_BASEMAP_URL") or None,
            max_upload_bytes=parse_size(upload, name="NONGSHU_MAX_UPLOAD") if upload else cls.max_upload_bytes,
            tile_cache_size=integer("NONGSHU_TILE_CACHE", cls.tile_cache_size, 0),
            log_level=(env.get("NONGSHU_LOG_LEVEL") or cls.log_level).upper(),
        )
