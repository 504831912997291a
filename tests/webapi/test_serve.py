"""``nongshu serve`` runs the app under gunicorn."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from webdata import RUN  # type: ignore[import-not-found]


def test_serve_help_lists_options():
    from nongshu.cli import main

    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--data", "--host", "--port", "--workers", "--proxy-hops"):
        assert option in result.output


def test_serve_refuses_missing_data_dir(tmp_path):
    from nongshu.cli import main

    result = CliRunner().invoke(main, ["serve", "--data", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "is not a directory" in result.output


def test_gunicorn_options():
    from webapi.cli import gunicorn_options

    opts = gunicorn_options("127.0.0.1", 5001, 3)
    assert opts["bind"] == "127.0.0.1:5001" and opts["workers"] == 3 and opts["worker_class"] == "gthread"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_under_gunicorn(data_dir: Path, tmp_path: Path):
    port = free_port()
    env = {**os.environ, "NONGSHU_DATABASE_URL": f"sqlite:///{tmp_path / 'trace.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nongshu", "serve", "--data", str(data_dir), "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stdout.read().decode(errors="replace") if proc.stdout else "no output") from None
                time.sleep(0.3)
        with urllib.request.urlopen(f"{base}/tiles/{RUN}/alert_level/5/0/0.png", timeout=10) as response:
            assert response.headers["Content-Type"] == "image/png"
        with urllib.request.urlopen(f"{base}/readyz", timeout=10) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert b"/healthz" in output  # gunicorn's access log
