"""Benchmark 4: QR trace lookups — the GS1 Digital Link resolver and the JSON consumer view under load.

A SQLite trace store is bulk-filled (:mod:`benchmarks.trace_bulk`: one
template lot through the product's API, the rest copied with ``executemany``,
every event hashed, signed, chained and logged as the store would) to
1,000,000 events (``make bench``) or 20,000 (``--quick``), once, and cached
under ``benchmarks/work/``. The in-process lookup time is probed at doubling
store sizes: a lookup that does not scan stays flat. The consumer view served is
the one the store derived (and verified) when the lot's events were written
(:mod:`traceability.views`); building it anew is probed beside it. Then Nongshu (gunicorn, 2 workers)
answers ``/01/{gtin}/10/{lot}`` for random lots at 32 concurrent clients, side
by side with a bare Flask endpoint on the same gunicorn setup; the three load
runs are interleaved in rounds (the machine's load changes over minutes) and
the median round of each is reported, with the CPU time the server's process
tree spent per request (master and workers, from psutil): on a shared machine
that moves far less than req/s with what else runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil

from benchmarks.context import BenchContext, BenchmarkSkipped
from benchmarks.loadgen import run_load
from benchmarks.results import BenchResult, ratio
from benchmarks.servers import HOST
from benchmarks.trace_bulk import cached_bulk_store
from benchmarks.trace_data import EVENTS_PER_LOT, lot_code, probe_url
from benchmarks.webservers import (
    WORKERS,
    bare_server,
    check_nongshu_app,
    gunicorn_setup,
    nongshu_server,
)

#: Requests of each lookup sent (on lots not measured) before the measured rounds.
WARMUP_REQUESTS = 256
#: columns of one load run in the lookups table.
LOAD_COLUMNS = ("requests", "errors", "req_per_s", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms")

def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (a gunicorn master and workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return float("nan")
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def warm_page_cache(path: Path, chunk: int = 2**24) -> None:
    """Read a file (and its WAL) once so the lookups find it in the OS page cache."""
    for part in (path, path.with_name(path.name + "-wal")):
        if part.exists():
            with part.open("rb") as fh:
                while fh.read(chunk):
                    pass


def benchmark(ctx: BenchContext) -> BenchResult:
    try:
        import traceability.consumer  # noqa: F401
        import traceability.store  # noqa: F401
    except ImportError as err:
        raise BenchmarkSkipped(f"traceability is not importable yet: {err}") from err
    check_nongshu_app()
    target = ctx.pick(tiny=2_000, quick=20_000, full=1_000_000)
    clients = ctx.pick(tiny=4, quick=32, full=32)
    requests = ctx.pick(tiny=40, quick=640, full=960)
    stages = [1_000 * 2**k for k in range(20) if 1_000 * 2**k < target]
    with ctx.step(f"trace: bulk-filling the store to {target:,} events", total=target) as step:
        url, meta = cached_bulk_store(
            ctx.subdir("store"),
            target,
            stages=stages,
            probe=probe_url,
            on_progress=lambda n: step.update(completed=n),
        )
    events, lots, gtin = meta["events"], meta["lots"], meta["gtin"]
    result = BenchResult(
        settings={
            "target_events": target,
            "events_stored": events,
            "lots": lots,
            "events_per_lot": EVENTS_PER_LOT,
            "database": "SQLite (WAL), file read once before the load runs (OS page cache warm)",
            "fill": meta["method"],
            "clients": clients,
            "requests": requests,
            "workers": WORKERS,
            "gunicorn": gunicorn_setup(),
            "warmup": f"{WARMUP_REQUESTS} requests of each lookup on other lots, not measured, "
            "before the rounds (both servers)",
        }
    )
    fill = result.table("Filling the store (once; cached)", ["events", "seconds", "method"])
    fill.add(events=events, seconds=meta["seconds"], method=meta["method"])
    if meta.get("copies_checked"):
        result.notes.append(f"bulk copies that did not verify: {meta['copies_checked']}")
    probes = result.table(
        "Lookup time vs store size (in-process, median of 25 lots, cold verification caches; "
        "consumer_view_ms: the served, stored view; view_build_ms: building and verifying it "
        "from the lot's chain, as a write or an audit does)",
        ["events", "consumer_view_ms", "view_build_ms", "lot_read_ms"],
    )
    for row in meta.get("lookup_probes", []):
        probes.add(**{k: row[k] for k in ("events", "consumer_view_ms", "view_build_ms", "lot_read_ms")})
    with ctx.step("trace: reading the store once (warm OS page cache, as for the tiles)"):
        warm_page_cache(Path(url.removeprefix("sqlite:///")))
    rng = np.random.default_rng(1)
    rounds = ctx.pick(tiny=1, quick=3, full=3)
    # every round asks for lots nobody asked for before: no answer comes from a cache
    wanted = requests * rounds + WARMUP_REQUESTS
    chosen = [lot_code(int(i)) for i in rng.choice(lots, min(lots, wanted), replace=False)]
    picks, warmup_lots = chosen[: requests * rounds], chosen[requests * rounds :] or chosen[:clients]
    variants = {
        "consumer view JSON": ("nongshu", "", {"Accept": "application/json"}),
        "resolver linkset": ("nongshu", "?linkType=linkset", {}),
        "bare": ("bare flask", "", {}),
    }
    table = result.table(
        f"Lookups at {clients} clients (median round of {rounds}, rounds interleaved; "
        "server_cpu_ms: CPU time of the gunicorn master and workers per request)",
        ["server", "lookup", *LOAD_COLUMNS],
    )
    logs = ctx.subdir("logs")
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with (
        ctx.step("trace: load runs", total=len(variants) * rounds) as step,
        nongshu_server(ctx.subdir("data"), logs, database_url=url) as server,
        bare_server(logs) as bare,
    ):
        ports = {"nongshu": server.port, "bare flask": bare.port}
        pids = {"nongshu": server.proc.pid, "bare flask": bare.proc.pid}  # type: ignore[union-attr]
        # Warm-up, not measured: each worker opens its trace store (schema check) and every
        # worker thread its database connection, as in a server that has been up a while.
        for who, query, headers in variants.values():
            paths = [f"/01/{gtin}/10/{lot}{query}" for lot in warmup_lots]
            run_load(HOST, ports[who], [paths[i::clients] for i in range(clients)], headers=headers)
        for r in range(rounds):
            lots_now = picks[r * requests : (r + 1) * requests] or picks[:requests]
            for name, (who, query, headers) in variants.items():
                step.update(description=f"trace: round {r + 1}, {who} {name}")
                paths = [f"/01/{gtin}/10/{lot}{query}" for lot in lots_now]
                cpu_before = tree_cpu_seconds(pids[who])
                load = run_load(
                    HOST, ports[who], [paths[i::clients] for i in range(clients)], headers=headers
                )
                cpu_ms = (tree_cpu_seconds(pids[who]) - cpu_before) * 1000 / max(load.requests, 1)
                runs[name].append({**load.summary(), "server_cpu_ms": cpu_ms})
                if load.error_samples:
                    result.notes.append(f"{who} {name}: errors {load.error_samples}")
                step.advance()
    measured = {}
    for name, (who, _query, _headers) in variants.items():
        by_rate = sorted(runs[name], key=lambda m: m["req_per_s"])
        measured[name] = by_rate[len(by_rate) // 2]
        table.add(
            server=who,
            lookup="fixed JSON" if name == "bare" else name,
            **{k: measured[name][k] for k in LOAD_COLUMNS},
        )
    result.raw = {"rounds": runs}
    view = measured["consumer view JSON"]
    result.target(
        f"trace: consumer view req/s vs bare Flask at {clients} clients",
        ratio(view["req_per_s"], measured["bare"]["req_per_s"]),
        ">=",
        0.5,
    )
    result.target(
        f"trace: consumer view p99 at {clients} clients", view["p99_ms"], "<=", 50.0, unit="ms"
    )
    # Not a target of the issue: the same comparison in CPU per request, which moves far less
    # than req/s with what else runs on a shared machine.
    cpu_ratio = ratio(view["server_cpu_ms"], measured["bare"]["server_cpu_ms"])
    if cpu_ratio is not None:
        result.notes.append(
            f"server CPU per request, consumer view / bare: {cpu_ratio:.2f}x "
            f"({view['server_cpu_ms']:.2f} ms vs {measured['bare']['server_cpu_ms']:.2f} ms)"
        )
    result.target(
        f"trace: resolver linkset p99 at {clients} clients",
        measured["resolver linkset"]["p99_ms"],
        "<=",
        50.0,
        unit="ms",
    )
    if len(probes.rows) >= 2:
        first, last = probes.rows[0], probes.rows[-1]
        result.target(
            f"trace: lookups do not scan (view time at {last['events']:,} / at {first['events']:,} events)",
            ratio(last["consumer_view_ms"], first["consumer_view_ms"]),
            "<=",
            1.5,
        )
    result.target("trace: events stored", float(events), ">=", float(target), unit="events")
    return result
