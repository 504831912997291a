"""A real `dask scheduler` + two `dask worker` processes give the same outputs as a LocalCluster, and
`--as-of` never reads later data: poisoned files dated after the cut-off change nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import rasterio
from distributed import Client

from pipelines.cluster import ClusterSpec
from pipelines.season import RunOptions, run_season

from .conftest import TEST_CLUSTER, link_copy

pytestmark = pytest.mark.slow

SEASON = 2026
AS_OF = "2026-07-15"
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """`dask scheduler` and two `dask worker` subprocesses on 127.0.0.1, random free ports."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask_cli = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [dask_cli, "worker", address, "--nthreads", "1", "--memory-limit", "2GiB", "--no-dashboard",
                 "--host", "127.0.0.1"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout=5, set_as_default=False) as client:
                    client.wait_for_workers(2, timeout=120)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def _poison(region: Path) -> None:
    """Plant data dated after the cut-off that would wreck the run if it were read."""
    items_path = region / "sentinel2" / "items.json"
    items = json.loads(items_path.read_text())
    late = json.loads(json.dumps(items["features"][-1]))
    late["id"] = "S2A_MSIL2A_20260801_POISON"
    late["properties"]["datetime"] = "2026-08-01T03:30:00Z"
    poison_dir = region / "sentinel2" / "2026" / "poison"
    poison_dir.mkdir(parents=True)
    for key, asset in late["assets"].items():
        (poison_dir / f"{key}.tif").write_bytes(b"II*\x00 this is not a GeoTIFF")
        asset["href"] = f"2026/poison/{key}.tif"
    items["features"].append(late)
    items_path.write_text(json.dumps(items))
    # absurd cold (-73 degC) every night after the cut-off, in the same weather file
    with netCDF4.Dataset(region / "weather" / f"era5land_daily_{SEASON}.nc", "r+") as nc:
        times = netCDF4.num2date(nc["time"][:], nc["time"].units, getattr(nc["time"], "calendar", "standard"))
        later = np.array([f"{t.year:04d}-{t.month:02d}-{t.day:02d}" > AS_OF for t in times])
        for name in ("tasmin", "tasmax", "tas"):
            if name in nc.variables:
                data = nc[name][:]
                data[later] = 200.0
                nc[name][:] = data
    # and a corrupt file for the next year, which must not even be opened
    (region / "weather" / f"era5land_daily_{SEASON + 1}.nc").write_bytes(b"corrupt")


def _same_outputs(a: Path, b: Path) -> None:
    rasters = sorted(p.name for p in a.glob("*.tif"))
    assert rasters == sorted(p.name for p in b.glob("*.tif")) and len(rasters) == 12
    for name in rasters:
        with rasterio.open(a / name) as x, rasterio.open(b / name) as y:
            np.testing.assert_array_equal(x.read(), y.read(), err_msg=name)
    pd.testing.assert_frame_equal(pd.read_csv(a / "fields.csv"), pd.read_csv(b / "fields.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(a / "field_timeseries.csv"), pd.read_csv(b / "field_timeseries.csv"))
    assert json.loads((a / "alerts.json").read_text()) == json.loads((b / "alerts.json").read_text())


def test_distributed_poisoned_as_of_run_equals_clean_local_run(
    region: Path, trained_model: Path, dask_cluster: str, tmp_path: Path
) -> None:
    clean = run_season(RunOptions(region, SEASON, tmp_path / "clean", as_of=pd.Timestamp(AS_OF).date(),
                                  model_dir=trained_model), TEST_CLUSTER)
    poisoned_region = link_copy(region, tmp_path / "poisoned",
                                copy=("sentinel2/items.json", f"weather/era5land_daily_{SEASON}.nc"))
    _poison(poisoned_region)
    # the poison is real: reading past the cut-off fails or sees the absurd values
    from geodata.errors import InputError
    from geodata.readers import read_sentinel2, read_weather

    with pytest.raises(InputError):
        read_sentinel2(poisoned_region / "sentinel2" / "items.json", start="2026-07-31", end="2026-08-01")
    late = read_weather(poisoned_region / "weather", start="2026-07-16", end="2026-12-31")
    assert float(late["tasmin"].max()) == pytest.approx(200.0)
    with pytest.raises(InputError):
        read_weather(poisoned_region / "weather", start="2027-01-01", end="2027-12-31")
    remote = run_season(RunOptions(poisoned_region, SEASON, tmp_path / "remote", as_of=pd.Timestamp(AS_OF).date(),
                                   model_dir=trained_model), ClusterSpec(scheduler=dask_cluster))
    assert clean.run_id == remote.run_id == "2026-asof-20260715"
    assert str(remote.valid_to) == AS_OF
    _same_outputs(clean.run_dir, remote.run_dir)
    run = json.loads((remote.run_dir / "run.json").read_text())
    used = {e["path"] for e in run["inputs"]}
    assert not [p for p in used if "poison" in p or "2027" in p]
    assert dask_cluster in run["parameters"]["cluster"]
    alerts = json.loads((remote.run_dir / "alerts.json").read_text())
    assert alerts["valid_to"] == AS_OF
