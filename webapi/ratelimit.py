"""Per-client token-bucket rate limiting (in-process) for public lookups and failed logins.

Each (bucket, client) pair holds up to ``burst`` tokens refilled at ``rate``
tokens per second; a request that finds the bucket empty gets a 429 with a
``Retry-After`` equal to the seconds until one token is back (RFC 9110 §10.2.3).
Behind several gunicorn workers each worker counts separately, so the
effective limit is at most ``workers`` times the configured one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from webapi.errors import RateLimitedError


@dataclass(frozen=True)
class Limit:
    """``burst`` requests at once, refilled at ``per_minute`` per minute."""

    burst: int
    per_minute: float

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0


class RateLimiter:
    """Token buckets keyed by (bucket name, client id); the oldest idle clients are forgotten."""

    def __init__(self, limits: dict[str, Limit], clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = dict(limits)
        self._clock = clock
        self._buckets: LRUCache[tuple[str, str], tuple[float, float]] = LRUCache(maxsize=100_000)
        self._lock = threading.Lock()

    def _take(self, bucket: str, client: str, cost: float) -> float:
        """Take ``cost`` tokens; returns 0 when allowed, else the seconds to wait."""
        limit = self.limits[bucket]
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get((bucket, client), (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.rate)
            if tokens >= cost:
                self._buckets[(bucket, client)] = (tokens - cost, now)
                return 0.0
            self._buckets[(bucket, client)] = (tokens, now)
            return (cost - tokens) / limit.rate if limit.rate > 0 else 3600.0

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
        limit = self.limits[bucket]
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get((bucket, client), (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - last) * limit.rate)
        if tokens < 1.0:
            wait = (1.0 - tokens) / limit.rate if limit.rate > 0 else 3600.0
            raise RateLimitedError(
                f"too many requests from this client ({bucket}); try again later",
                retry_after=math.ceil(wait),
            )
