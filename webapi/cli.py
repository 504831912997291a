"""``nongshu serve``: run the web app under gunicorn.

Production: run it on 127.0.0.1 behind a reverse proxy (nginx, Caddy) that
terminates TLS, set ``--proxy-hops 1`` so client addresses (rate limits) and
URLs (Digital Links, next links) come from the ``X-Forwarded-*`` headers, and
scale with ``--workers``: the workers share the rate-limit counters (one SQLite
file per server, :mod:`webapi.ratelimit`) and the rendered-tile disk cache
(``<data>/cache/tiles``); each keeps a small in-memory cache of open rasters.
Settings come from ``NONGSHU_*`` environment variables.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from nongshu.cli import get_settings


class GunicornApp(BaseApplication):
    """Gunicorn running the app of :func:`webapi.create_app`, built once in the master (``preload_app``) and forked into the workers."""

    def __init__(self, app_factory: Any, options: dict[str, Any]) -> None:
        self.app_factory = app_factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key.lower(), value)

    def load(self) -> Any:
        return self.app_factory()


def gunicorn_options(host: str, port: int, workers: int, timeout: int = 60) -> dict[str, Any]:
    """Gunicorn settings: threaded workers (tiles and SQLite reads release the GIL), access log to stderr."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": timeout,
        "graceful_timeout": 20,
        "accesslog": "-",
        "errorlog": "-",
        "forwarded_allow_ips": "127.0.0.1",
        # build the app once in the master: heavy imports are paid once and shared by the forked
        # workers; the trace store's connections are opened lazily inside each worker.
        "preload_app": True,
    }


@click.command("serve")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data directory with outputs/<region>/<run> and the trace store (default NONGSHU_DATA_DIR).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Gunicorn worker processes (default: min(4, 2 x CPUs)).")
@click.option("--proxy-hops", default=0, show_default=True, type=click.IntRange(0, 5),
              help="Number of reverse proxies in front whose X-Forwarded-* headers are trusted.")
@click.pass_context
def serve(ctx: click.Context, data_dir: Path | None, host: str, port: int, workers: int | None, proxy_hops: int) -> None:
    """Serve the API, tiles and pages under gunicorn on http://HOST:PORT.

    \b
    Production: keep --host 127.0.0.1 behind a reverse proxy (nginx, Caddy) that
    terminates TLS and forwards X-Forwarded-For/-Proto/-Host, and pass
    --proxy-hops 1 so rate limits see client addresses and links use the public
    URL. Set NONGSHU_RESOLVER_URL to the public base URL printed in QR codes.
    """
    settings = get_settings(ctx)
    if data_dir is not None:
        settings = settings.with_(data_dir=data_dir)
    if not settings.data_dir.is_dir():
        raise click.BadParameter(f"{settings.data_dir} is not a directory", param_hint="--data")
    count = workers or min(4, 2 * multiprocessing.cpu_count())

    def factory() -> Any:
        from webapi import create_app
        from webapi.advice import warm_up

        warm_up()
        return create_app(settings, proxy_hops=proxy_hops)

    click.echo(f"nongshu: serving {settings.data_dir} on http://{host}:{port} with {count} workers", err=True)
    GunicornApp(factory, gunicorn_options(host, port, count)).run()
