"""The benchmark's own Dask cluster counts the tasks a separate client runs on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import Client

from benchmarks.dask_cluster import DaskCluster
from benchmarks.memory import tree_rss


def square(x: int) -> int:
    return x * x


@pytest.mark.slow
def test_counts_tasks_of_another_client(tmp_path: Path) -> None:
    with DaskCluster(tmp_path / "logs", workers=2) as cluster:
        assert cluster.address.startswith("tcp://127.0.0.1:")
        assert all(tree_rss(pid) > 0 for pid in cluster.pids)
        with Client(cluster.address) as client:
            futures = client.map(square, range(7))
            assert sum(client.gather(futures)) == sum(i * i for i in range(7))
        assert cluster.tasks() == {"finished": 7, "erred": 0}
        pids = cluster.pids
    assert all(tree_rss(pid) == 0 for pid in pids)
