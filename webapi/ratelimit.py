"""Per-client token-bucket rate limiting for public lookups and failed logins, shared by every worker.

Each (bucket, client) pair holds up to ``burst`` tokens refilled at ``rate``
tokens per second; a request that finds the bucket empty gets a 429 with a
``Retry-After`` equal to the whole seconds until one token is back
(RFC 9110 §10.2.3; RFC 6585 §4 for 429).

The buckets live in a small SQLite file (WAL journal), so all gunicorn workers of
one server count together: two workers do not double the limit. A request is one
atomic statement (an ``INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING``
upsert, SQLite >= 3.35) that refills, tests and spends the bucket in place; no
explicit write transaction is held, so the write lock lasts one statement and the
workers are not serialised behind Python code. A limit that can never run out
(:attr:`Limit.unlimited`) never touches the file. ``nongshu serve`` builds the app once in the
gunicorn master (``preload_app``) and forks the workers, so the file chosen at
build time is the one every worker uses. Without an explicit ``path`` the file is
private to this server instance (a fresh temporary directory, removed when the
process that created it exits), which gives the same lifetime as in-memory
counters; pass a path to keep counts across restarts. Connections are opened
lazily per process and thread (SQLite handles must not cross a ``fork``).

A storage failure (e.g. a full disk) is logged and the request is let through:
the limiter protects capacity, it must not turn a storage hiccup into a 500.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from webapi.errors import RateLimitedError

log = logging.getLogger(__name__)

#: First SQLite release with ``RETURNING`` (https://sqlite.org/lang_returning.html).
MIN_SQLITE = (3, 35, 0)
#: Rows are pruned once per this many writes of one connection.
PRUNE_EVERY = 500
#: How long a writer waits for SQLite's write lock before giving up, in milliseconds.
BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    bucket  TEXT NOT NULL,
    client  TEXT NOT NULL,
    tokens  REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (bucket, client)
) WITHOUT ROWID
"""


#: A bucket refilling at least this many tokens per second never runs out: no single
#: server answers a million requests per second (the tile and trace benchmarks measure
#: a few thousand on 2 cores), so such a limit is treated as no limit at all.
UNLIMITED_RATE_PER_S = 1e6

#: Spend ``:cost`` tokens of one bucket in one statement. A new client starts from a full
#: bucket; an existing one is refilled for the time since ``updated`` (a clock step back
#: adds nothing), capped at ``:burst``. The ``WHERE`` of ``DO UPDATE`` leaves the row
#: untouched when the refilled bucket holds less than ``:cost``: then no row is returned
#: (denied). SET expressions read the row as it was before the update.
_SPEND = """
INSERT INTO buckets (bucket, client, tokens, updated) VALUES (:bucket, :client, :burst - :cost, :now)
ON CONFLICT (bucket, client) DO UPDATE SET
    tokens = min(:burst, buckets.tokens + max(:now - buckets.updated, 0.0) * :rate) - :cost,
    updated = :now
WHERE min(:burst, buckets.tokens + max(:now - buckets.updated, 0.0) * :rate) >= :cost
RETURNING tokens
"""
_READ = "SELECT tokens, updated FROM buckets WHERE bucket = ? AND client = ?"


@dataclass(frozen=True)
class Limit:
    """``burst`` requests at once, refilled at ``per_minute`` per minute."""

    burst: float
    per_minute: float

    @classmethod
    def none(cls) -> Limit:
        """No limit: every request passes and the counter file is never touched."""
        return cls(burst=math.inf, per_minute=math.inf)

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.per_minute / 60.0

    @property
    def unlimited(self) -> bool:
        """True when the bucket can never run out (infinite, or refilled >= :data:`UNLIMITED_RATE_PER_S`)."""
        return self.burst >= 1 and (math.isinf(self.burst) or self.rate >= UNLIMITED_RATE_PER_S)

    def refill(self, tokens: float, elapsed_s: float) -> float:
        """Tokens after ``elapsed_s`` seconds (never above ``burst``; a clock step back adds nothing)."""
        return min(float(self.burst), tokens + max(elapsed_s, 0.0) * self.rate)

    def wait_for(self, missing: float) -> float:
        """Seconds until ``missing`` tokens are back (an hour when the limit never refills)."""
        return missing / self.rate if self.rate > 0 else 3600.0


class RateLimiter:
    """Token buckets keyed by (bucket name, client id) in a SQLite file shared by processes."""

    def __init__(
        self,
        limits: dict[str, Limit],
        clock: Callable[[], float] = time.time,
        path: str | Path | None = None,
    ) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise RuntimeError(
                f"error: the rate limiter needs SQLite >= {'.'.join(map(str, MIN_SQLITE))} "
                f"(INSERT … RETURNING), this Python links SQLite {sqlite3.sqlite_version}"
            )
        self.limits = dict(limits)
        self._clock = clock
        if path is None:
            path = _private_database()
        self.path = Path(path)
        self._local = threading.local()
        # create the file now, in the process that builds the app, and close it again:
        # no SQLite handle may be inherited by the forked workers.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(self._open()) as conn:
            conn.execute(_SCHEMA)

    # -- storage ---------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """This process's and thread's connection (a forked worker opens its own)."""
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        conn = self._open()
        self._local.held = (os.getpid(), conn)
        self._local.writes = 0
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")  # counters need no durability across a power cut
        return conn

    def _take(self, bucket: str, client: str, cost: float) -> float:
        """Take ``cost`` tokens; returns 0 when allowed, else the seconds to wait.

        One autocommit statement (:data:`_SPEND`) decides and spends atomically across
        processes; only a denied request reads the row again, to compute its ``Retry-After``.
        """
        limit = self.limits[bucket]
        if limit.unlimited:
            return 0.0
        if cost > limit.burst:
            return limit.wait_for(cost - limit.burst)  # can never be allowed; nothing to count
        try:
            conn = self._connection()
            now = self._clock()
            spent = conn.execute(
                _SPEND,
                {"bucket": bucket, "client": client, "cost": cost, "now": now,
                 "burst": float(limit.burst), "rate": limit.rate},
            ).fetchall()  # step to the end: the statement (and its write lock) completes here
            if spent:
                self._maybe_prune(conn, now)
                return 0.0
            row = conn.execute(_READ, (bucket, client)).fetchone()
        except sqlite3.Error as err:
            log.warning("rate limiter storage %s failed, request let through: %s", self.path, err)
            return 0.0
        tokens = float(limit.burst) if row is None else limit.refill(row[0], now - row[1])
        return max(limit.wait_for(cost - tokens), 1e-9)  # denied: always a positive wait

    def _peek(self, bucket: str, client: str) -> float:
        """Tokens the client has now, without spending any."""
        limit = self.limits[bucket]
        if limit.unlimited:
            return float(limit.burst)
        try:
            row = self._connection().execute(_READ, (bucket, client)).fetchone()
        except sqlite3.Error as err:
            log.warning("rate limiter storage %s failed, request let through: %s", self.path, err)
            return float(limit.burst)
        return float(limit.burst) if row is None else limit.refill(row[0], self._clock() - row[1])

    def _maybe_prune(self, conn: sqlite3.Connection, now: float) -> None:
        """Forget clients whose bucket has been full again for a while (bounded file size)."""
        self._local.writes = getattr(self._local, "writes", 0) + 1
        if self._local.writes % PRUNE_EVERY:
            return
        for name, limit in self.limits.items():
            full_after = limit.wait_for(float(limit.burst))
            conn.execute("DELETE FROM buckets WHERE bucket = ? AND updated < ?", (name, now - full_after))

    # -- public API ------------------------------------------------------------------------
    def hit(self, bucket: str, client: str) -> None:
        """Count one request; raise :class:`RateLimitedError` when the client is over its limit."""
        wait = self._take(bucket, client, 1.0)
        if wait > 0:
            raise RateLimitedError(
                f"too many requests from this client ({bucket}); try again later",
                retry_after=math.ceil(wait),
            )

    def check(self, bucket: str, client: str) -> None:
        """Raise when the client has no token left, without spending one (gate before auth)."""
        tokens = self._peek(bucket, client)
        if tokens < 1.0:
            raise RateLimitedError(
                f"too many requests from this client ({bucket}); try again later",
                retry_after=math.ceil(self.limits[bucket].wait_for(1.0 - tokens)),
            )


def _private_database() -> Path:
    """A new ``ratelimit.sqlite`` in a private temporary directory, removed when its creator exits."""
    directory = Path(tempfile.mkdtemp(prefix="nongshu-ratelimit-"))
    creator = os.getpid()

    def remove() -> None:
        if os.getpid() == creator:  # forked workers run atexit too; only the creator cleans up
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)
    return directory / "ratelimit.sqlite"
