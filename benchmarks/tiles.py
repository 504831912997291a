"""Benchmark 3: map tiles from the same COG, Nongshu (gunicorn, 2 workers) vs TiTiler (uvicorn, 2 workers).

For each client count (1, 8, 16) both servers are started fresh (cold: empty
tile cache, fresh GDAL caches; the OS page cache is warm for both), replay the
same non-overlapping 20-tile viewport bursts across five zooms, then replay
them again (warm). Sample tiles from both are decoded and compared pixel by
pixel. TiTiler gets the layer's colormap, value range and resampling as query
parameters, so both render the same picture.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import rasterio
from PIL import Image
from rasterio.warp import transform_bounds

from benchmarks.context import BenchContext, BenchmarkSkipped
from benchmarks.loadgen import run_load
from benchmarks.results import BenchResult, ratio
from benchmarks.servers import HOST, Server
from benchmarks.synthetic_run import write_run
from benchmarks.tilesets import Tile, viewport_bursts, zooms_for
from benchmarks.webservers import (
    WORKERS,
    check_nongshu_app,
    gunicorn_setup,
    nongshu_server,
    titiler_server,
)

REGION, RUN_ID, LAYER = "bench", "2026", "risk_drought"
CLIENTS = (1, 8, 16)


def layer_style() -> dict[str, str]:
    """TiTiler query parameters reproducing Nongshu's rendering of :data:`LAYER`."""
    from webapi.layers import LAYERS

    layer = LAYERS[LAYER]
    resampling = "nearest" if layer.categorical else "bilinear"
    return {
        "rescale": f"{layer.vmin:g},{layer.vmax:g}",
        "colormap_name": layer.colormap,
        "resampling": resampling,
        "reproject": resampling,
    }


def nongshu_path(tile: Tile) -> str:
    return f"/tiles/{REGION}.{RUN_ID}/{LAYER}/{tile.z}/{tile.x}/{tile.y}.png"


def titiler_path(tile: Tile, cog: Path, style: dict[str, str]) -> str:
    query = urlencode({"url": str(cog), **style})
    return f"/cog/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png?{query}"


def fetch(server: Server, path: str) -> bytes:
    import http.client

    conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"{server.name} answered {resp.status} for {path}: {body[:200]!r}")
    return body


def compare_png(a: bytes, b: bytes) -> dict[str, float]:
    """Share of identical RGBA pixels and the largest channel difference."""
    pa = np.asarray(Image.open(io.BytesIO(a)).convert("RGBA"), dtype="int16")
    pb = np.asarray(Image.open(io.BytesIO(b)).convert("RGBA"), dtype="int16")
    if pa.shape != pb.shape:
        return {"identical_fraction": 0.0, "max_channel_diff": 255.0}
    return {
        "identical_fraction": float(np.mean(np.all(pa == pb, axis=-1))),
        "max_channel_diff": float(np.abs(pa - pb).max()),
    }


def benchmark(ctx: BenchContext) -> BenchResult:
    try:
        style = layer_style()
    except ImportError as err:
        raise BenchmarkSkipped(f"webapi is not importable yet: {err}") from err
    check_nongshu_app()
    size = ctx.pick(tiny=512, quick=2048, full=4096)
    # viewport bursts per client: 40/480/640 tiles per server and cache state (quick), 100/800/1600 (full)
    bursts_per = ctx.pick(
        tiny={1: 1, 8: 1, 16: 1}, quick={1: 2, 8: 3, 16: 2}, full={1: 5, 8: 5, 16: 5}
    )
    clients_list = [c for c in CLIENTS if ctx.scale != "tiny" or c == 1]
    data = ctx.subdir("data")
    logs = ctx.subdir("logs")
    with ctx.step("tiles: writing the COG (rio-cogeo)"):
        run_dir = write_run(data, REGION, RUN_ID, size=size, fields=100)
    cog = run_dir / f"{LAYER}.tif"
    with rasterio.open(cog) as src:
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    zooms = zooms_for(bounds, max_zoom=ctx.pick(tiny=18, quick=16, full=16))
    result = BenchResult(
        settings={
            "cog_px": size,
            "layer": LAYER,
            "zooms": zooms,
            "burst_tiles": 20,
            "workers_per_server": WORKERS,
            "nongshu": f"gunicorn as nongshu serve ({gunicorn_setup()}), NONGSHU_TILE_CACHE default, shared disk tile cache emptied before each cold run",
            "titiler": "uvicorn[standard] --workers 2, titiler.core TilerFactory",
            "titiler_style": style,
            "load_generator": "Python threads, one keep-alive http.client connection per client, same machine",
        }
    )
    table = result.table(
        "Tiles (cold: fresh servers; warm: the same tiles again)",
        [
            "server",
            "clients",
            "cache",
            "tiles",
            "errors",
            "tiles_per_s",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "rss_mib",
        ],
    )
    ratios = result.table(
        "Nongshu / TiTiler",
        ["clients", "cache", "tiles_per_s_ratio", "p99_ratio", "nongshu_warm_over_cold"],
    )
    samples: dict[str, list[bytes]] = {}
    measured: dict[tuple[str, int, str], dict] = {}
    steps = len(clients_list) * 2
    with ctx.step("tiles: load runs", total=steps) as step:
        for clients in clients_list:
            bursts = viewport_bursts(bounds, zooms, bursts_per[clients] * clients, seed=clients)
            per_client = [[t for b in bursts[i::clients] for t in b] for i in range(clients)]
            for name, make, to_path in (
                ("nongshu", lambda: nongshu_server(data, logs), nongshu_path),
                ("titiler", lambda: titiler_server(logs), lambda t: titiler_path(t, cog, style)),
            ):
                step.update(description=f"tiles: {name}, {clients} clients")
                paths = [[to_path(t) for t in tiles] for tiles in per_client]
                with make() as server:
                    for cache in ("cold", "warm"):
                        load = run_load(HOST, server.port, paths)
                        row = {
                            "server": name,
                            "clients": clients,
                            "cache": cache,
                            "tiles": load.requests,
                            **{
                                k: v
                                for k, v in load.summary().items()
                                if k in ("errors", "p50_ms", "p95_ms", "p99_ms")
                            },
                            "tiles_per_s": load.req_per_s,
                            "rss_mib": server.rss_bytes() / 2**20,
                        }
                        if load.error_samples:
                            result.notes.append(
                                f"{name} {clients} clients {cache}: errors {load.error_samples}"
                            )
                        table.add(**row)
                        measured[(name, clients, cache)] = row
                    if clients == clients_list[-1]:
                        sample_tiles = [b[len(b) // 2] for b in bursts[:: max(1, len(bursts) // 8)]]
                        samples[name] = [fetch(server, to_path(t)) for t in sample_tiles]
                step.advance()
    top = clients_list[-1]
    for clients in clients_list:
        for cache in ("cold", "warm"):
            ns, tt = measured[("nongshu", clients, cache)], measured[("titiler", clients, cache)]
            ratios.add(
                clients=clients,
                cache=cache,
                tiles_per_s_ratio=ratio(ns["tiles_per_s"], tt["tiles_per_s"]),
                p99_ratio=ratio(ns["p99_ms"], tt["p99_ms"]),
                nongshu_warm_over_cold=ratio(
                    measured[("nongshu", clients, "warm")]["tiles_per_s"],
                    measured[("nongshu", clients, "cold")]["tiles_per_s"],
                ),
            )
    pixels = [
        compare_png(a, b) for a, b in zip(samples["nongshu"], samples["titiler"], strict=True)
    ]
    same = result.table(
        "Same pixels? (sample tiles decoded from both servers)",
        ["tiles", "identical_fraction_min", "max_channel_diff"],
    )
    same.add(
        tiles=len(pixels),
        identical_fraction_min=min(p["identical_fraction"] for p in pixels),
        max_channel_diff=max(p["max_channel_diff"] for p in pixels),
    )
    cold_ns, cold_tt = measured[("nongshu", top, "cold")], measured[("titiler", top, "cold")]
    result.target(
        f"tiles: tiles/s vs TiTiler at {top} clients, cold",
        ratio(cold_ns["tiles_per_s"], cold_tt["tiles_per_s"]),
        ">=",
        1.0,
    )
    result.target(
        f"tiles: Nongshu p99 at {top} clients, cold", cold_ns["p99_ms"], "<=", 250.0, unit="ms"
    )
    result.target(
        f"tiles: Nongshu warm / cold tiles/s at {top} clients",
        ratio(measured[("nongshu", top, "warm")]["tiles_per_s"], cold_ns["tiles_per_s"]),
        ">=",
        5.0,
    )
    result.target(
        "tiles: identical pixels in sample tiles",
        same.rows[0]["identical_fraction_min"],
        ">=",
        0.999,
        unit="fraction",
    )
    result.raw = {"bounds_wgs84": list(bounds), "bursts_per_client": bursts_per}
    return result
