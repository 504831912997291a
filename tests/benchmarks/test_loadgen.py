"""The load generator against a tiny local HTTP server with known answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.loadgen import run_load, split_round_robin


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        Handler.hits.append(self.path)
        if self.path.startswith("/missing"):
            body, status = b"no", 404
        else:
            body, status = b"x" * int(self.path.strip("/") or 1), 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if self.path.endswith("7"):
            self.send_header("Connection", "close")  # like gunicorn sync workers
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[int]:
    Handler.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_every_request_is_made_once_and_counted(server: int) -> None:
    paths = [f"/{n}" for n in range(1, 41)]
    result = run_load("127.0.0.1", server, split_round_robin(paths, 4))
    assert sorted(Handler.hits) == sorted(paths)
    assert result.requests == 40 and result.errors == 0 and result.clients == 4
    assert result.bytes_received == sum(range(1, 41))
    assert result.latencies_ms.shape == (40,)
    summary = result.summary()
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert summary["mean_bytes"] == pytest.approx(sum(range(1, 41)) / 40)


def test_error_statuses_are_errors(server: int) -> None:
    result = run_load("127.0.0.1", server, [["/3", "/missing", "/missing2"]])
    assert result.requests == 3 and result.errors == 2
    assert result.status_counts == {200: 1, 404: 2}
    assert result.error_samples == ["HTTP 404"]


def test_refused_connections_are_errors_not_crashes() -> None:
    from benchmarks.servers import free_port

    result = run_load("127.0.0.1", free_port(), [["/1", "/2"]], timeout=2)
    assert result.requests == 2 and result.errors == 2
    assert "ConnectionRefusedError" in result.error_samples[0]


def test_only_this_machine_is_a_target() -> None:
    with pytest.raises(ValueError, match="127.0.0.1"):
        run_load("example.org", 80, [["/"]])


def test_round_robin_shares() -> None:
    assert split_round_robin(["a", "b", "c", "d", "e"], 2) == [["a", "c", "e"], ["b", "d"]]
