"""Rate limits are shared by all gunicorn workers: the N+1-th request in the window is a 429 with a
Retry-After whichever worker serves it."""

from __future__ import annotations

import multiprocessing
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from webapi.errors import RateLimitedError
from webapi.ratelimit import Limit, RateLimiter

from .conftest import FAULTS, Server, child_env, free_port, request


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def allowed(limiter: RateLimiter, n: int, bucket: str = "b", client: str = "c") -> int:
    ok = 0
    for _ in range(n):
        try:
            limiter.hit(bucket, client)
            ok += 1
        except RateLimitedError:
            pass
    return ok


def test_two_limiters_on_one_file_share_the_bucket(tmp_path: Path):
    clock = FakeClock()
    limits = {"b": Limit(burst=4, per_minute=6)}  # one token back every 10 s
    one = RateLimiter(limits, clock=clock, path=tmp_path / "rl.sqlite")
    two = RateLimiter(limits, clock=clock, path=tmp_path / "rl.sqlite")
    assert allowed(one, 3) == 3
    assert allowed(two, 3) == 1  # 4 in total, not 4 each
    with pytest.raises(RateLimitedError) as info:
        one.hit("b", "c")
    assert info.value.retry_after == 10
    two.hit("b", "someone-else")  # per client
    clock.now += 10
    assert allowed(two, 2) == 1  # one token came back, seen through the other instance
    with pytest.raises(RateLimitedError):
        one.check("b", "c")


def test_private_files_are_separate_servers():
    limits = {"b": Limit(burst=1, per_minute=1)}
    one, two = RateLimiter(limits), RateLimiter(limits)
    assert one.path != two.path and one.path.is_file()
    assert allowed(one, 2) == 1 and allowed(two, 2) == 1


def _hammer(path: str, n: int, queue) -> None:  # runs in a forked child
    limiter = RateLimiter({"b": Limit(burst=25, per_minute=1e-6)}, path=path)
    queue.put(allowed(limiter, n))


def test_forked_processes_count_together(tmp_path: Path):
    """Processes forked after the limiter was built (as gunicorn forks workers) share one budget of 25."""
    limiter = RateLimiter({"b": Limit(burst=25, per_minute=1e-6)}, path=tmp_path / "rl.sqlite")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    procs = [context.Process(target=_hammer, args=(str(limiter.path), 20, queue)) for _ in range(3)]
    for proc in procs:
        proc.start()
    try:
        counts = [queue.get(timeout=60) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    assert sum(counts) == 25  # not 25 each


def test_storage_failure_lets_the_request_through(tmp_path: Path, caplog):
    limiter = RateLimiter({"b": Limit(burst=1, per_minute=1)}, path=tmp_path / "rl.sqlite")
    limiter.path.write_bytes(b"this is not a SQLite database" * 100)
    limiter._local.__dict__.clear()  # as a new thread would: open the (now broken) file afresh
    limiter.hit("b", "c")
    limiter.hit("b", "c")
    assert "rate limiter storage" in caplog.text


BURST = 6


@pytest.fixture()
def limited_server(tmp_path: Path, servers: list[Server]) -> Server:
    """gunicorn with 2 workers and a public/auth-failure limit of 6 requests, ~no refill."""
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    argv = [sys.executable, str(FAULTS / "serve_limited.py"), str(data), str(port), "2", str(BURST), "0.01"]
    env = child_env(NONGSHU_DATABASE_URL=f"sqlite:///{tmp_path / 'trace.db'}")
    server = Server(argv, port, env, tmp_path / "server.log")
    servers.append(server)
    return server.start()


def _worker_pids(log: Path, path_prefix: str) -> set[str]:
    return {m.group(1) for m in re.finditer(rf'pid=<?(\d+)>? "\w+ {re.escape(path_prefix)}', log.read_text())}


@pytest.mark.slow
def test_limit_holds_across_two_gunicorn_workers(limited_server: Server, tmp_path: Path):
    port = limited_server.port
    log = tmp_path / "server.log"
    lookup = "/api/v1/trace/lots/NO-SUCH-LOT"
    public: list = []
    # concurrent clients on fresh connections; keep going until both workers have answered
    with ThreadPoolExecutor(6) as pool:
        while len(public) < 300:
            public += pool.map(lambda _: request(port, "GET", lookup), range(4 * BURST))
            if len(_worker_pids(log, lookup)) == 2:
                break
    assert len(_worker_pids(log, lookup)) == 2, "one worker took every request; cannot show sharing"
    statuses = [r.status for r in public]
    assert statuses.count(404) == BURST and statuses.count(429) == len(public) - BURST
    for resp in public:
        if resp.status == 429:
            assert int(resp.headers["retry-after"]) >= 1
            assert resp.headers["content-type"].startswith("application/problem+json")
    # failed authentications: the same budget, counted separately
    bad = {"Content-Type": "application/json", "Authorization": "Bearer nsk_not_a_key"}
    with ThreadPoolExecutor(6) as pool:
        auth = list(pool.map(lambda _: request(port, "POST", "/api/v1/trace/events", b"{}", bad), range(3 * BURST)))
    assert sorted(r.status for r in auth) == [401] * BURST + [429] * (2 * BURST)
