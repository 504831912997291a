"""Serve the app under gunicorn exactly as ``nongshu serve`` does, with given rate limits.

``python tests/faults/serve_limited.py DATA_DIR PORT WORKERS BURST PER_MINUTE`` uses
:func:`webapi.cli.gunicorn_options` and :class:`webapi.cli.GunicornApp`; the access log
line carries the worker's pid so a test can see which worker answered.
"""

from __future__ import annotations

import sys
from pathlib import Path

ACCESS_LOG_FORMAT = 'pid=%(p)s "%(r)s" %(s)s'


def main(argv: list[str]) -> None:
    data_dir, port, workers, burst, per_minute = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3]), float(argv[4])
    from nongshu.settings import Settings
    from webapi.cli import GunicornApp, gunicorn_options
    from webapi.ratelimit import Limit

    limit = Limit(burst=burst, per_minute=per_minute)

    def factory():
        from webapi import create_app

        return create_app(Settings.from_env().with_(data_dir=data_dir), limits={"public": limit, "auth_failure": limit})

    options = gunicorn_options("127.0.0.1", port, workers)
    options["access_log_format"] = ACCESS_LOG_FORMAT
    GunicornApp(factory, options).run()


if __name__ == "__main__":
    main(sys.argv[1:])
