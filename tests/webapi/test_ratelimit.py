"""The rate limiter spends tokens in one atomic statement and leaves unlimited buckets alone."""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from pathlib import Path

import pytest

from webapi.errors import RateLimitedError
from webapi.ratelimit import Limit, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _allowed(limiter: RateLimiter, n: int, client: str = "c") -> int:
    ok = 0
    for _ in range(n):
        try:
            limiter.hit("b", client)
            ok += 1
        except RateLimitedError:
            pass
    return ok


def test_unlimited_limits_are_recognised():
    assert Limit.none().unlimited
    assert Limit(burst=10**9, per_minute=1e12).unlimited  # refills 1.7e10 tokens/s
    assert not Limit(burst=10**6, per_minute=10**6).unlimited  # 16,667 tokens/s can run out
    assert not Limit(burst=120, per_minute=600).unlimited
    assert not Limit(burst=0, per_minute=1e12).unlimited  # an empty bucket stays empty


def test_unlimited_buckets_never_touch_the_file(tmp_path: Path, caplog):
    limiter = RateLimiter(
        {"b": Limit.none(), "c": Limit(burst=1, per_minute=1)}, path=tmp_path / "rl.sqlite"
    )
    limiter.path.write_bytes(b"this is not a SQLite database" * 100)
    limiter._local.__dict__.clear()  # as a new thread would: open the (now broken) file afresh
    with caplog.at_level(logging.WARNING, logger="webapi.ratelimit"):
        for _ in range(50):
            limiter.hit("b", "anyone")
            limiter.check("b", "anyone")
        assert "rate limiter storage" not in caplog.text
        limiter.hit("c", "anyone")  # a real limit does use the (broken) file: let through, logged
    assert "rate limiter storage" in caplog.text


def test_a_request_is_one_autocommit_statement(tmp_path: Path):
    """No explicit transaction is opened: after a hit no connection is left inside one, and the
    whole decision is a single INSERT … ON CONFLICT … RETURNING statement."""
    limiter = RateLimiter(
        {"b": Limit(burst=3, per_minute=60)}, clock=FakeClock(), path=tmp_path / "rl.sqlite"
    )
    statements: list[str] = []
    conn = limiter._connection()
    conn.set_trace_callback(statements.append)
    limiter.hit("b", "c")
    conn.set_trace_callback(None)
    assert len(statements) == 1 and statements[0].lstrip().startswith("INSERT INTO buckets")
    assert "RETURNING" in statements[0] and not conn.in_transaction
    assert not any(s.upper().startswith("BEGIN") for s in statements)


def test_bucket_state_after_spending_and_refill(tmp_path: Path):
    clock = FakeClock()
    # burst 5, 30 per minute = 0.5 token/s
    limiter = RateLimiter(
        {"b": Limit(burst=5, per_minute=30)}, clock=clock, path=tmp_path / "rl.sqlite"
    )
    assert _allowed(limiter, 3) == 3
    with sqlite3.connect(limiter.path) as raw:
        assert raw.execute("SELECT tokens, updated FROM buckets").fetchall() == [(2.0, 1_000_000.0)]
    clock.now += 3  # +1.5 tokens -> 3.5
    assert _allowed(limiter, 4) == 3  # 3.5 -> 0.5 left, the fourth is denied
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("b", "c")
    assert info.value.retry_after == 1  # 0.5 token missing at 0.5 token/s = 1 s
    clock.now += 100  # refill caps at the burst
    assert _allowed(limiter, 7) == 5


def test_a_clock_step_back_adds_no_tokens(tmp_path: Path):
    clock = FakeClock()
    limiter = RateLimiter(
        {"b": Limit(burst=1, per_minute=6)}, clock=clock, path=tmp_path / "rl.sqlite"
    )
    limiter.hit("b", "c")
    clock.now -= 3600
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("b", "c")
    assert info.value.retry_after == 10  # one whole token missing at 0.1 token/s


def test_a_cost_above_the_burst_is_refused_without_storage(tmp_path: Path):
    limiter = RateLimiter({"b": Limit(burst=2, per_minute=60)}, path=tmp_path / "rl.sqlite")
    assert limiter._take("b", "c", 5.0) == pytest.approx(3.0)  # 3 tokens missing at 1 token/s
    with sqlite3.connect(limiter.path) as raw:
        assert raw.execute("SELECT count(*) FROM buckets").fetchone() == (0,)


def test_concurrent_threads_never_overspend(tmp_path: Path):
    """8 threads (each with its own SQLite connection) race for a bucket of 100 that never refills."""
    limiter = RateLimiter({"b": Limit(burst=100, per_minute=1e-9)}, path=tmp_path / "rl.sqlite")
    counts: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        n = _allowed(limiter, 40)
        with lock:
            counts.append(n)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(counts) == 8 and sum(counts) == 100  # 320 tries, exactly the burst allowed


def test_retry_after_is_whole_seconds_rounded_up(tmp_path: Path):
    clock = FakeClock()
    limiter = RateLimiter(
        {"b": Limit(burst=1, per_minute=7)}, clock=clock, path=tmp_path / "rl.sqlite"
    )
    limiter.hit("b", "c")
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("b", "c")
    assert info.value.retry_after == math.ceil(60 / 7) == 9  # 8.57 s until one token at 7/min
