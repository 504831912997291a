"""A bounded soak: gunicorn (2 workers) serves a run while concurrent clients ask for tiles, fields,
alerts and consumer (QR) pages, and meanwhile a pipeline run re-publishes the same run id and a
publisher keeps swapping fresh copies in. Zero 5xx, every tile a valid PNG, never a missing or
incomplete run, and the server's memory stays bounded.

``NONGSHU_SOAK_SECONDS`` lengthens it by hand (default 60 s).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from .conftest import (
    FAULTS,
    LOTS,
    REPO,
    SEASON,
    Server,
    child_env,
    free_port,
    request,
    seed_custody,
)

pytestmark = pytest.mark.slow

SOAK_SECONDS = float(os.environ.get("NONGSHU_SOAK_SECONDS", "60"))
CLIENTS = 4
REGION = "dingxi"
RUN = f"{REGION}.{SEASON}"
#: resident memory after the soak may be at most this factor of the memory before, plus a fixed slack
RSS_FACTOR, RSS_SLACK_MIB = 1.5, 150


def rss_mib(pids: list[int]) -> float:
    """Summed resident set size (VmRSS) of the processes, MiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def tiles_over(run_dir: Path, zoom: int = 12) -> list[tuple[int, int, int]]:
    """The WebMercatorQuad tiles covering the run's extent at ``zoom`` (by morecantile, rio-tiler's TMS)."""
    import morecantile
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(run_dir / "alert_level.tif") as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    tms = morecantile.tms.get("WebMercatorQuad")
    return [(t.z, t.x, t.y) for t in tms.tiles(west, south, east, north, [zoom])]


def expected_layers(run_dir: Path) -> set[str]:
    from webapi.layers import LAYERS

    return {name for name, layer in LAYERS.items() if (run_dir / layer.file).is_file()}


class Soak:
    """Concurrent clients; every response is checked and counted."""

    def __init__(self, port: int, run_dir: Path, gtin: str) -> None:
        self.port = port
        self.layers = sorted(expected_layers(run_dir))
        self.tiles = tiles_over(run_dir)
        self.n_fields = len(pd.read_csv(run_dir / "fields.csv"))
        self.gtin = gtin
        self.statuses: Counter[int] = Counter()
        self.problems: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def note(self, problem: str) -> None:
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(problem)

    def one(self, i: int) -> None:
        kind = i % 6
        if kind in (0, 1, 2):  # tiles: the bulk of real traffic
            z, x, y = self.tiles[i % len(self.tiles)]
            layer = self.layers[i % len(self.layers)]
            path = f"/tiles/{RUN if i % 2 else 'latest'}/{layer}/{z}/{x}/{y}.png"
            resp = request(self.port, "GET", path)
            if resp.status == 200:
                try:
                    with Image.open(io.BytesIO(resp.body)) as img:
                        img.verify()
                    with Image.open(io.BytesIO(resp.body)) as img:
                        if img.size != (256, 256):
                            self.note(f"{path}: tile of size {img.size}")
                except Exception as err:  # PIL raises many types for a broken image
                    self.note(f"{path}: not a PNG ({err})")
        elif kind == 3:
            path = f"/api/v1/fields?run={RUN}&limit=1000"
            resp = request(self.port, "GET", path)
            if resp.status == 200 and len(json.loads(resp.body)["features"]) != self.n_fields:
                self.note(f"{path}: {len(json.loads(resp.body)['features'])} fields, expected {self.n_fields}")
        elif kind == 4:
            path = "/api/v1/runs" if i % 12 == 4 else f"/api/v1/alerts?run={RUN}"
            resp = request(self.port, "GET", path)
            if resp.status == 200 and path == "/api/v1/runs":
                runs = {r["name"]: r for r in json.loads(resp.body)["runs"]}
                if RUN not in runs:
                    self.note(f"{path}: {RUN} missing during publication")
                elif set(runs[RUN]["layers"]) != set(self.layers):
                    self.note(f"{path}: incomplete run, layers {runs[RUN]['layers']}")
        else:  # what a consumer's phone opens after scanning the QR code
            path = f"/01/{self.gtin}/10/{LOTS[i % len(LOTS)]}"
            resp = request(self.port, "GET", path, headers={"Accept": "text/html"})
            if resp.status == 200 and b"<html" not in resp.body[:500].lower():
                self.note(f"{path}: not an HTML page")
        with self.lock:
            self.statuses[resp.status] += 1
        if resp.status != 200:
            self.note(f"{path}: HTTP {resp.status} {resp.body[:200]!r}")

    def client(self, offset: int) -> None:
        i = offset
        while not self.stop.is_set():
            try:
                self.one(i)
            except OSError as err:
                self.note(f"connection error: {err}")
            i += CLIENTS

    def run(self, seconds: float, until=lambda: True, limit: float = 900) -> float:
        """Soak for at least ``seconds`` and until ``until()`` is true (at most ``limit`` s); returns the time."""
        threads = [threading.Thread(target=self.client, args=(k,)) for k in range(CLIENTS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        while True:
            elapsed = time.monotonic() - started
            if (elapsed >= seconds and until()) or elapsed >= limit:
                break
            time.sleep(0.5)
        self.stop.set()
        for t in threads:
            t.join(timeout=60)
        return time.monotonic() - started


def republish_loop(reference: Path, outputs: Path, stop: threading.Event, count: list[int]) -> None:
    """Publish fresh copies of the reference run as ``<region>/<season>`` again and again."""
    from pipelines.rundir import staged_run_dir

    while not stop.is_set():
        with staged_run_dir(outputs, str(SEASON)) as staging:
            for item in reference.iterdir():
                if item.is_file():
                    shutil.copy2(item, staging / item.name)
                else:
                    shutil.copytree(item, staging / item.name)
        count[0] += 1
        stop.wait(1.0)


def test_soak_while_runs_are_published(small_region: Path, reference_run: Path, tmp_path: Path,
                                       servers: list[Server], record_property):
    data = tmp_path / "data"
    outputs = data / "outputs" / REGION
    outputs.mkdir(parents=True)
    shutil.copytree(reference_run, outputs / str(SEASON))
    db_url = f"sqlite:///{tmp_path / 'trace.db'}"
    world = seed_custody(db_url)

    port = free_port()
    argv = [sys.executable, str(FAULTS / "serve_limited.py"), str(data), str(port), "2", "1000000000", "1e12"]
    server = Server(argv, port, child_env(NONGSHU_DATABASE_URL=db_url, NONGSHU_DATA_DIR=str(data)),
                    tmp_path / "server.log")
    servers.append(server)
    server.start()
    soak = Soak(port, reference_run, world["gtin"])
    soak.run(5)  # warm up: imports, caches, first tiles
    soak.stop.clear()
    before = rss_mib(server.pids())

    stop_publishing = threading.Event()
    published = [0]
    publisher = threading.Thread(target=republish_loop, args=(reference_run, outputs, stop_publishing, published))
    pipeline = subprocess.Popen(
        [sys.executable, "-m", "nongshu", "run", "--inputs", str(small_region), "--season", str(SEASON),
         "--out", str(outputs), "--workers", "1"],
        env=child_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        publisher.start()
        # keep the load on until the pipeline run has published too
        duration = soak.run(SOAK_SECONDS, until=lambda: pipeline.poll() is not None)
    finally:
        stop_publishing.set()
        publisher.join(timeout=60)
        try:
            _, pipeline_err = pipeline.communicate(timeout=600)
        finally:
            if pipeline.poll() is None:
                pipeline.kill()
    after = rss_mib(server.pids())
    record_property("rss_before_mib", round(before, 1))
    record_property("rss_after_mib", round(after, 1))
    total = sum(soak.statuses.values())
    print(f"soak: {total} requests in {duration:.0f} s, statuses {dict(soak.statuses)}, "
          f"{published[0]} re-publications, server RSS {before:.0f} MiB before, {after:.0f} MiB after")

    assert pipeline.returncode == 0, pipeline_err[-3000:]
    assert not [s for s in soak.statuses if s >= 500], soak.problems
    assert not soak.problems, soak.problems[:10]
    assert set(soak.statuses) == {200}
    assert total > 100 and published[0] >= 3
    assert after <= before * RSS_FACTOR + RSS_SLACK_MIB, f"RSS grew from {before:.0f} MiB to {after:.0f} MiB"
    assert sorted(p.name for p in outputs.iterdir()) == [str(SEASON)]
