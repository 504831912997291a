"""A bounded HTTP load generator: N client threads replaying fixed request lists.

Each client owns one ``http.client.HTTPConnection`` (keep-alive when the
server allows it; re-opened transparently when the server closes it, as
gunicorn's sync workers do) and replays its own list of paths in order, so the
total work is fixed in advance and a run always ends. Latency is measured per
request from sending it to having read the whole body. Only 127.0.0.1 targets
are accepted.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class LoadResult:
    """Aggregated outcome of one load run."""

    clients: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray
    bytes_received: int
    status_counts: dict[int, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    @property
    def req_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("nan")

    def percentile(self, q: float) -> float:
        if self.latencies_ms.size == 0:
            return float("nan")
        return float(np.percentile(self.latencies_ms, q))

    def summary(self) -> dict[str, float | int]:
        return {
            "clients": self.clients,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": self.seconds,
            "req_per_s": self.req_per_s,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
            "mean_bytes": self.bytes_received / self.requests if self.requests else 0,
        }


def _client(
    host: str,
    port: int,
    paths: Sequence[str],
    headers: Mapping[str, str],
    timeout: float,
    start: threading.Barrier,
    out: list[tuple[float, int, int, str]],
) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    start.wait()
    for path in paths:
        t0 = time.perf_counter()
        try:
            conn.request("GET", path, headers=dict(headers))
            resp = conn.getresponse()
            body = resp.read()
            status, size, note = resp.status, len(body), ""
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            status, size, note = 0, 0, f"{type(err).__name__}: {err}"
        out.append(((time.perf_counter() - t0) * 1000.0, status, size, note))
    conn.close()


def run_load(
    host: str,
    port: int,
    per_client_paths: Sequence[Sequence[str]],
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    ok_statuses: frozenset[int] = frozenset({200, 304}),
) -> LoadResult:
    """Run one client thread per entry of ``per_client_paths`` against ``http://host:port``."""
    if host not in LOCAL_HOSTS:
        raise ValueError(f"the load generator only targets this machine (127.0.0.1), not {host!r}")
    clients = len(per_client_paths)
    if clients == 0:
        raise ValueError("no clients: per_client_paths is empty")
    start = threading.Barrier(clients + 1)
    outs: list[list[tuple[float, int, int, str]]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(
            target=_client,
            args=(host, port, paths, headers or {}, timeout, start, outs[i]),
            daemon=True,
        )
        for i, paths in enumerate(per_client_paths)
    ]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    records = [r for out in outs for r in out]
    statuses: dict[int, int] = {}
    for _, status, _, _ in records:
        statuses[status] = statuses.get(status, 0) + 1
    errors = [r for r in records if r[1] not in ok_statuses]
    return LoadResult(
        clients=clients,
        requests=len(records),
        errors=len(errors),
        seconds=seconds,
        latencies_ms=np.array([r[0] for r in records], dtype="float64"),
        bytes_received=sum(r[2] for r in records),
        status_counts=statuses,
        error_samples=sorted({r[3] or f"HTTP {r[1]}" for r in errors})[:5],
    )


def split_round_robin(items: Sequence[str], clients: int) -> list[list[str]]:
    """Deal ``items`` to ``clients`` lists like cards (each client gets a fair share)."""
    return [list(items[i::clients]) for i in range(clients)]
