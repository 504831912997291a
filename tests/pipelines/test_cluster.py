"""Cluster selection: local by default, an existing scheduler by address, clear errors."""

from __future__ import annotations

import os
import socket

import pytest

from nongshu.settings import Settings
from pipelines.cluster import ClusterSpec, dask_client, worker_peak_memory
from pipelines.errors import ClusterError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_spec_prefers_explicit_options_over_environment() -> None:
    settings = Settings.from_env({"DASK_SCHEDULER_ADDRESS": "tcp://10.0.0.1:8786", "NONGSHU_WORKERS": "3"})
    assert ClusterSpec.from_settings(settings).scheduler == "tcp://10.0.0.1:8786"
    assert ClusterSpec.from_settings(settings).workers == 3
    spec = ClusterSpec.from_settings(settings, scheduler="tcp://127.0.0.1:1", workers=1, memory_limit="1GiB")
    assert (spec.scheduler, spec.workers, spec.memory_limit) == ("tcp://127.0.0.1:1", 1, "1GiB")


def test_bad_memory_limit_is_named() -> None:
    from nongshu.errors import ConfigError

    with pytest.raises(ConfigError, match="--memory-limit"):
        ClusterSpec.from_settings(Settings(), memory_limit="lots")


def test_unreachable_scheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelines.cluster.CONNECT_TIMEOUT_S", 2)
    address = f"tcp://127.0.0.1:{_free_port()}"
    with (
        pytest.raises(ClusterError, match="cannot reach the Dask scheduler") as info,
        dask_client(ClusterSpec(scheduler=address)),
    ):
        pass
    assert address in str(info.value)


def test_local_cluster_runs_tasks_in_worker_processes() -> None:
    import os

    with dask_client(ClusterSpec(workers=1, memory_limit="1GiB")) as client:
        pids = client.run(os.getpid)
        assert len(pids) == 1 and os.getpid() not in pids.values()
        assert client.submit(sum, [1, 2, 3]).result() == 6
        peaks = worker_peak_memory(client)
        assert set(peaks) == set(pids) and all(v > 10 * 2**20 for v in peaks.values())


def test_local_cluster_workers_get_a_bounded_gdal_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """GDAL's default cache (5 % of RAM per process) made worker RSS grow with the region size."""
    from pipelines.cluster import GDAL_CACHE_MB, bound_gdal_cache

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    bound_gdal_cache()
    with dask_client(ClusterSpec(workers=1, memory_limit="1GiB")) as client:
        seen = client.run(lambda: os.environ.get("GDAL_CACHEMAX"))
    assert list(seen.values()) == [str(GDAL_CACHE_MB)]
    monkeypatch.setenv("GDAL_CACHEMAX", "64")
    bound_gdal_cache()  # a value the user chose is kept
    assert os.environ["GDAL_CACHEMAX"] == "64"
