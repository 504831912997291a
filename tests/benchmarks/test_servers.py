"""Child servers: started on 127.0.0.1, waited for, measured, stopped with their whole group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.loadgen import run_load
from benchmarks.memory import tree_rss
from benchmarks.servers import HOST, Server, ServerError, free_port


def test_server_lifecycle(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello")
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        HOST,
        "--directory",
        str(tmp_path),
    ]
    with Server(
        "http.server", cmd, port, ready_path="/hello.txt", log_path=tmp_path / "log.txt"
    ) as srv:
        pid = srv.proc.pid
        assert srv.rss_bytes() > 0
        result = run_load(HOST, port, [["/hello.txt"] * 3, ["/hello.txt"] * 2])
        assert result.requests == 5 and result.errors == 0 and result.bytes_received == 25
    assert tree_rss(pid) == 0


def test_a_server_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-c", "import sys; print('cannot start: bad config'); sys.exit(3)"]
    with pytest.raises(ServerError, match="exited with code 3") as err:
        Server("broken", cmd, port, log_path=tmp_path / "log.txt", startup_timeout=30).__enter__()
    assert "bad config" in str(err.value)
