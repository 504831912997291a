"""Run Nongshu's app or the bare Flask app under gunicorn exactly as ``nongshu serve`` configures it.

``python -m benchmarks.serve_app nongshu|bare PORT WORKERS`` uses
:func:`webapi.cli.gunicorn_options` and :class:`webapi.cli.GunicornApp` (worker
class, threads, timeouts, logging), so Nongshu and the bare endpoint share one
gunicorn setup and the benchmark follows any change to ``nongshu serve``.
"""

from __future__ import annotations

import sys

from benchmarks.servers import HOST
from benchmarks.webapps import bare_app, nongshu_app

APPS = {"nongshu": nongshu_app, "bare": bare_app}


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[0] not in APPS:
        raise SystemExit(f"usage: python -m benchmarks.serve_app {{{'|'.join(APPS)}}} PORT WORKERS")
    from webapi.cli import GunicornApp, gunicorn_options

    name, port, workers = argv[0], int(argv[1]), int(argv[2])
    GunicornApp(APPS[name], gunicorn_options(HOST, port, workers)).run()


if __name__ == "__main__":
    main(sys.argv[1:])
