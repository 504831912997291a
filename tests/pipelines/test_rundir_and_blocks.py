"""Atomic run directories and block-wise COG writing from a Dask cluster."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from pipelines.blockwrite import LayerSpec, write_layers
from pipelines.cluster import ClusterSpec, dask_client
from pipelines.rundir import staged_run_dir


def test_failed_run_leaves_nothing_and_keeps_the_previous_run(tmp_path: Path) -> None:
    with staged_run_dir(tmp_path, "2025") as staging:
        (staging / "run.json").write_text("old")
    assert (tmp_path / "2025" / "run.json").read_text() == "old"
    with pytest.raises(RuntimeError, match="boom"), staged_run_dir(tmp_path, "2025") as staging:
        (staging / "run.json").write_text("new, half written")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025"]  # no hidden leftovers
    assert (tmp_path / "2025" / "run.json").read_text() == "old"


def test_rerun_replaces_the_run(tmp_path: Path) -> None:
    for text in ("first", "second"):
        with staged_run_dir(tmp_path, "2025") as staging:
            (staging / "run.json").write_text(text)
    assert (tmp_path / "2025" / "run.json").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025"]


def test_write_layers_block_by_block_from_the_cluster(tmp_path: Path) -> None:
    # pixel value encodes its own position, so any misplaced block shows
    rows, cols = np.mgrid[0:700, 0:900]
    expected = (rows * 1000 + cols).astype("float32")
    a = da.from_array(expected, chunks=256)
    classes = (a % 5).astype("float32")
    classes = da.where(a < 500, np.nan, classes)  # NaN -> nodata 255 for the integer layer
    specs = {"a": LayerSpec("a.tif"), "c": LayerSpec("c.tif", dtype="uint8", nodata=255, resampling="nearest")}
    seen = []
    with dask_client(ClusterSpec(workers=1, memory_limit="1GiB")) as client:
        out = write_layers(client, {"a": a, "c": classes}, specs, tmp_path, crs=32648,
                           transform=from_origin(500000, 4000000, 10, 10), on_block=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (12, 12)
    for path in out.values():
        assert cog_validate(str(path))[0]
    with rasterio.open(out["a"]) as src:
        np.testing.assert_array_equal(src.read(1), expected)
        assert src.crs.to_epsg() == 32648
    with rasterio.open(out["c"]) as src:
        got = src.read(1)
        assert src.nodata == 255 and src.dtypes[0] == "uint8"
    assert (got[0, :500] == 255).all()
    np.testing.assert_array_equal(got[1:], (expected[1:] % 5).astype("uint8"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "c.tif"]  # temp files gone


def test_close_together_finishes_every_cog_and_raises_the_failure(tmp_path: Path) -> None:
    from rasterio.windows import Window

    from geodata.cog import CogWriter
    from geodata.errors import OutputError
    from pipelines.blockwrite import close_together

    writers = [CogWriter(tmp_path / f"l{i}.tif", width=64, height=64, dtype="float32", crs="EPSG:32648",
                         transform=from_origin(500000.0, 4000000.0, 10.0, 10.0), nodata=float("nan"))
               for i in range(3)]
    for i, w in enumerate(writers):
        w.open()
        w.write(Window(0, 0, 64, 64), np.full((64, 64), float(i), dtype="float32"))
    writers[1]._dataset.close()  # the intermediate file of l1 disappears before it is finished
    Path(writers[1]._tmp_tiled).unlink()
    with pytest.raises(OutputError, match="l1.tif"):
        close_together(writers, threads=2)
    for i in (0, 2):
        assert cog_validate(str(tmp_path / f"l{i}.tif"))[0]
        with rasterio.open(tmp_path / f"l{i}.tif") as src:
            assert float(src.read(1).mean()) == float(i)
    assert not (tmp_path / "l1.tif").exists()
