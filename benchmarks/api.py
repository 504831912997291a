"""Benchmark 5: API reads — ``/api/v1/fields`` GeoJSON at 1k and 10k fields and ``/api/v1/alerts``.

Two published runs with 1,000 and 10,000 fields (:mod:`benchmarks.synthetic_run`)
are served by Nongshu under gunicorn (2 workers). Clients ask with
``Accept-Encoding: gzip`` as browsers do; response bytes are counted as sent on
the wire, and once uncompressed for comparison. A revalidating client (one that
holds the page and sends its ETag in ``If-None-Match``) gets ``304`` without a body. The bare Flask endpoint on the
same gunicorn setup gives the ceiling of any Flask JSON response here.

``/api/v1/alerts`` is paged (worst first). The "all pages" row is what the bureau map
does: start at ``limit=5000`` and follow the ``next`` links to the end; its latency
and req/s are per page request, its bytes the sum over all pages (the whole list).
The "first page" row is a client that only wants the worst alerts (default page).
Other rows give the bytes of one response.
"""

from __future__ import annotations

import gzip
import http.client
import json
from urllib.parse import urlsplit

from benchmarks.context import BenchContext
from benchmarks.loadgen import run_load
from benchmarks.results import BenchResult
from benchmarks.servers import HOST, Server
from benchmarks.synthetic_run import write_run
from benchmarks.webservers import (
    WORKERS,
    bare_server,
    check_nongshu_app,
    gunicorn_setup,
    nongshu_server,
)

GZIP = {"Accept-Encoding": "gzip"}
REVALIDATED = "of 1000, revalidated (If-None-Match)"
ALERT_PAGE = 5000  # the bureau map's page size (webapi/static/js/map.js)


def wire_and_plain_bytes(
    server: Server, path: str, headers: dict[str, str] | None = None
) -> tuple[int, int, str, str | None]:
    """(bytes on the wire with gzip, bytes uncompressed, Content-Encoding, ETag) of one response."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
    conn.request("GET", path, headers=headers or GZIP)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status not in (200, 304):
        raise RuntimeError(f"{server.name} answered {resp.status} for {path}: {body[:300]!r}")
    encoding = resp.getheader("Content-Encoding") or "identity"
    plain = gzip.decompress(body) if encoding == "gzip" and body else body
    return len(body), len(plain), encoding, resp.getheader("ETag")


def alert_pages(server: Server, start: str) -> tuple[list[str], int, int, int]:
    """Follow ``next`` links from ``start``: (page paths, alerts, wire bytes, plain bytes summed over the pages)."""
    paths, alerts, wire, plain, path = [], 0, 0, 0, start
    while path:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
        conn.request("GET", path, headers=GZIP)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"{server.name} answered {resp.status} for {path}: {body[:300]!r}")
        text = gzip.decompress(body) if resp.getheader("Content-Encoding") == "gzip" else body
        page = json.loads(text)
        paths.append(path)
        alerts += len(page["alerts"])
        wire, plain = wire + len(body), plain + len(text)
        nxt = [link["href"] for link in page.get("links", []) if link["rel"] == "next"]
        path = urlsplit(nxt[0])._replace(scheme="", netloc="").geturl() if nxt else ""
        if len(paths) > 10_000:
            raise RuntimeError(f"{start}: more than 10,000 pages, a next-link loop?")
    if alerts != page["numberMatched"]:
        raise RuntimeError(f"{start}: {alerts} alerts on the pages, numberMatched {page['numberMatched']}")
    return paths, alerts, wire, plain


def predicted_pages(server: Server, start: str) -> list[str]:
    """The paths a client following ``next`` from ``start`` will ask for, from the first page alone
    (``numberMatched`` and the first ``next`` link with its offset stepped)."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
    conn.request("GET", start)
    page = json.loads(conn.getresponse().read())
    conn.close()
    nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
    if not nxt:
        return [start]
    template = urlsplit(nxt[0])._replace(scheme="", netloc="").geturl()
    step = page["numberReturned"]
    offsets = range(step, page["numberMatched"], step)
    return [start] + [template.replace(f"offset={step}", f"offset={o}") for o in offsets]


def benchmark(ctx: BenchContext) -> BenchResult:
    check_nongshu_app()
    clients = ctx.pick(tiny=4, quick=16, full=32)
    per_endpoint = ctx.pick(tiny=20, quick=64, full=320)
    data = ctx.subdir("data")
    logs = ctx.subdir("logs")
    sizes = ctx.pick(tiny=(50,), quick=(1000, 10_000), full=(1000, 10_000))
    with ctx.step("api: writing the published runs", total=len(sizes)) as step:
        for n in sizes:
            write_run(data, f"api{n}", "2026", size=512, fields=n, seed=n)
            step.advance()
    endpoints: list[tuple[str, int, list[str]]] = []
    #: Titles whose paths are found by following the next links from the one path given.
    walked: set[str] = set()
    for n in sizes:
        run = f"api{n}.2026"
        pages = [f"/api/v1/fields?run={run}&limit=1000&offset={o}" for o in range(0, n, 1000)]
        endpoints.append((f"fields GeoJSON, {n:,} fields, pages of 1000", n, pages))
        endpoints.append(
            (f"fields GeoJSON, {n:,} fields, default page", n, [f"/api/v1/fields?run={run}"])
        )
        endpoints.append((f"fields GeoJSON, {n:,} fields, first page {REVALIDATED}", n, pages[:1]))
        title = f"alerts, {n:,} fields, all pages of {ALERT_PAGE} (bytes: whole list)"
        endpoints.append((title, n, [f"/api/v1/alerts?run={run}&limit={ALERT_PAGE}"]))
        walked.add(title)
        endpoints.append((f"alerts, {n:,} fields, first page (default 1000)", n, [f"/api/v1/alerts?run={run}"]))
    result = BenchResult(
        settings={
            "clients": clients,
            "requests_per_endpoint": per_endpoint,
            "workers": WORKERS,
            "gunicorn": gunicorn_setup(),
            "accept_encoding": "gzip",
        }
    )
    table = result.table(
        "Reads under load (gzip on)",
        [
            "endpoint",
            "server",
            "requests",
            "errors",
            "req_per_s",
            "p50_ms",
            "p99_ms",
            "wire_bytes",
            "plain_bytes",
            "encoding",
        ],
    )
    with (
        ctx.step("api: load runs", total=len(endpoints) + 1) as step,
        nongshu_server(data, logs) as server,
    ):
        for title, _, paths in endpoints:
            step.update(description=f"api: {title}")
            headers = dict(GZIP)
            wire, plain, encoding, etag = wire_and_plain_bytes(server, paths[0])
            if title in walked:  # the pages' paths, from the first page only: the others stay cold, as for fields
                paths = predicted_pages(server, paths[0])
            if title.endswith(REVALIDATED) and etag:
                headers["If-None-Match"] = etag  # a client that has the page: 304, no body
                wire, plain, encoding, _ = wire_and_plain_bytes(server, paths[0], headers)
            sequence = [paths[i % len(paths)] for i in range(per_endpoint)]
            load = run_load(
                HOST, server.port, [sequence[i::clients] for i in range(clients)], headers=headers
            )
            s = load.summary()
            table.add(
                endpoint=title,
                server="nongshu",
                requests=load.requests,
                errors=load.errors,
                req_per_s=load.req_per_s,
                p50_ms=s["p50_ms"],
                p99_ms=s["p99_ms"],
                wire_bytes=wire,
                plain_bytes=plain,
                encoding=encoding,
            )
            if load.error_samples:
                result.notes.append(f"{title}: errors {load.error_samples}")
            if title in walked:  # after the load: follow the links, check them, count the whole list's bytes
                followed, alerts, wire, plain = alert_pages(server, paths[0])
                if followed != paths:
                    raise RuntimeError(f"{title}: next links {followed} differ from {paths}")
                result.notes.append(f"{title}: {alerts:,} alerts in {len(paths)} page(s)")
                table.rows[-1].update(wire_bytes=wire, plain_bytes=plain)
            step.advance()
        nongshu_rss = server.rss_bytes() / 2**20
    with bare_server(logs) as bare:
        path = "/01/09506000134352/10/LOT1"
        wire, plain, encoding, _ = wire_and_plain_bytes(bare, path)
        load = run_load(
            HOST,
            bare.port,
            [[path] * (per_endpoint // clients) for _ in range(clients)],
            headers=GZIP,
        )
        s = load.summary()
        table.add(
            endpoint="bare Flask JSON (ceiling)",
            server="bare flask",
            requests=load.requests,
            errors=load.errors,
            req_per_s=load.req_per_s,
            p50_ms=s["p50_ms"],
            p99_ms=s["p99_ms"],
            wire_bytes=wire,
            plain_bytes=plain,
            encoding=encoding,
        )
    result.raw = {"nongshu_rss_mib_after": nongshu_rss}
    result.notes.append("The issue sets no ratio target for API reads; figures are for the record.")
    return result
