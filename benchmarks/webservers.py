"""The three servers of the web benchmarks, all on 127.0.0.1 with 2 worker processes.

* Nongshu: its Flask app factory under gunicorn configured by ``nongshu serve``'s
  own :func:`webapi.cli.gunicorn_options` (:mod:`benchmarks.serve_app`);
* bare Flask: :func:`benchmarks.webapps.bare_app` under that same gunicorn setup;
* TiTiler: :mod:`benchmarks.titiler_app` under ``uvicorn --workers 2``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from benchmarks import PACKAGE_DIR
from benchmarks.servers import HOST, Server, free_port

WORKERS = 2
REPO = PACKAGE_DIR.parent


def nongshu_server(
    data_dir: Path, logs: Path, *, tile_cache: int | None = None, database_url: str | None = None
) -> Server:
    port = free_port()
    # A fresh server starts cold: drop the tile cache its workers share on disk.
    shutil.rmtree(data_dir / "cache" / "tiles", ignore_errors=True)
    env = {
        "NONGSHU_DATA_DIR": str(data_dir),
        "NONGSHU_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }
    if tile_cache is not None:
        env["NONGSHU_TILE_CACHE"] = str(tile_cache)
    if database_url is not None:
        env["NONGSHU_DATABASE_URL"] = database_url
    return Server(
        "nongshu (gunicorn)",
        [sys.executable, "-m", "benchmarks.serve_app", "nongshu", str(port), str(WORKERS)],
        port,
        ready_path="/healthz",
        env=env,
        cwd=REPO,
        log_path=logs / f"nongshu-{port}.log",
    )


def bare_server(logs: Path) -> Server:
    port = free_port()
    return Server(
        "bare flask (gunicorn)",
        [sys.executable, "-m", "benchmarks.serve_app", "bare", str(port), str(WORKERS)],
        port,
        ready_path="/healthz",
        env={"PYTHONPATH": str(REPO)},
        cwd=REPO,
        log_path=logs / f"bare-{port}.log",
    )


def titiler_server(logs: Path) -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.titiler_app:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return Server(
        "titiler (uvicorn)",
        command,
        port,
        ready_path="/healthz",
        env={"PYTHONPATH": str(REPO)},
        cwd=REPO,
        log_path=logs / f"titiler-{port}.log",
    )


def check_nongshu_app() -> None:
    """Build Nongshu's app once in this process so a broken or unfinished webapi is reported clearly.

    Raises :class:`~benchmarks.context.BenchmarkSkipped` naming the import or build error.
    """
    from benchmarks.context import BenchmarkSkipped

    try:
        from benchmarks.webapps import nongshu_app

        nongshu_app()
    except ImportError as err:
        raise BenchmarkSkipped(
            f"Nongshu's web app cannot be built yet: {type(err).__name__}: {err}"
        ) from err


def gunicorn_setup() -> str:
    """The gunicorn options both Flask servers run with, for the results files."""
    try:
        from webapi.cli import gunicorn_options
    except ImportError:
        return "webapi.cli not available"
    options = gunicorn_options(HOST, 0, WORKERS)
    keep = ("workers", "worker_class", "threads", "timeout", "accesslog")
    return ", ".join(f"{k}={options[k]}" for k in keep if k in options)
