"""The zonal-statistics contenders, each a module-level function run in its own process.

Every method takes one raster and several field files (one per size class),
reads each field file (untimed), times only the zonal call, and returns one
``(means, areas_m2, seconds)`` per field file, in the order of its fields.
Areas are what the method's pixel counting implies: exactextract's ``count``
is the sum of coverage fractions, rasterstats counts pixels whose centre falls
inside (``all_touched=False``).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio

Outcome = tuple[np.ndarray, np.ndarray, float]


def _pixel_area(src: rasterio.io.DatasetReader) -> float:
    return abs(src.transform.a * src.transform.e)


def exactextract_alone(raster: Path, fields: Path) -> Outcome:
    """``exactextract.exact_extract`` straight on the file (the reference of the field)."""
    from exactextract import exact_extract

    gdf = gpd.read_file(fields)
    with rasterio.open(raster) as src:
        px = _pixel_area(src)
    t0 = time.perf_counter()
    df = exact_extract(str(raster), gdf, ["mean", "count"], output="pandas")
    seconds = time.perf_counter() - t0
    return df["mean"].to_numpy("float64"), df["count"].to_numpy("float64") * px, seconds


def exactextract_raster_sequential(raster: Path, fields: Path) -> Outcome:
    """exactextract reading the raster once, block by block (``strategy="raster-sequential"``).

    The strategy exactextract documents for many features over one raster; shown
    beside the default (feature-sequential) as evidence for the pipeline's choice.
    """
    from exactextract import exact_extract

    gdf = gpd.read_file(fields)
    with rasterio.open(raster) as src:
        px = _pixel_area(src)
    t0 = time.perf_counter()
    df = exact_extract(
        str(raster), gdf, ["mean", "count"], output="pandas", strategy="raster-sequential"
    )
    seconds = time.perf_counter() - t0
    return df["mean"].to_numpy("float64"), df["count"].to_numpy("float64") * px, seconds


def rasterstats_file(raster: Path, fields: Path) -> Outcome:
    """rasterstats reading windows from the file for each feature."""
    from rasterstats import zonal_stats

    gdf = gpd.read_file(fields)
    with rasterio.open(raster) as src:
        px = _pixel_area(src)
    t0 = time.perf_counter()
    stats = zonal_stats(list(gdf.geometry), str(raster), stats=["mean", "count"])
    seconds = time.perf_counter() - t0
    return _unpack(stats, px, seconds)


def rasterstats_memory(raster: Path, fields: Path) -> Outcome:
    """rasterstats on an ndarray already in memory (the read is not timed)."""
    from rasterstats import zonal_stats

    gdf = gpd.read_file(fields)
    with rasterio.open(raster) as src:
        px = _pixel_area(src)
        array = src.read(1)
        transform, nodata = src.transform, src.nodata
    t0 = time.perf_counter()
    stats = zonal_stats(
        list(gdf.geometry), array, affine=transform, nodata=nodata, stats=["mean", "count"]
    )
    seconds = time.perf_counter() - t0
    return _unpack(stats, px, seconds)


def _unpack(stats: list[dict[str, Any]], px: float, seconds: float) -> Outcome:
    means = np.array([np.nan if s["mean"] is None else s["mean"] for s in stats], dtype="float64")
    counts = np.array([s["count"] or 0 for s in stats], dtype="float64")
    return means, counts * px, seconds


NONGSHU_STEP = "pipelines.zonal:field_statistics"


def find_nongshu_step() -> tuple[str, Any] | None:
    """The pipeline's per-field function if it exists yet, as (dotted name, callable)."""
    module_name, attr = NONGSHU_STEP.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    fn = getattr(module, attr, None)
    return (NONGSHU_STEP, fn) if callable(fn) else None


def nongshu_step(raster: Path, fields: Path) -> Outcome:
    """Nongshu's per-field step of the pipeline on the same file and fields.

    It computes what the pipeline writes to ``fields.parquet`` for a layer
    (mean, min, max, std, pixel count and valid fraction), more than the peers'
    mean and count: that is the product's real per-field cost.
    """
    found = find_nongshu_step()
    if found is None:
        raise RuntimeError(f"no per-field zonal step in pipelines (looked for {NONGSHU_STEP})")
    _, fn = found
    gdf = gpd.read_file(fields)
    with rasterio.open(raster) as src:
        px = _pixel_area(src)
    t0 = time.perf_counter()
    df = fn({"ramp": raster}, gdf, coverage_layer="ramp")
    seconds = time.perf_counter() - t0
    df = df.set_index("field_id").loc[gdf["field_id"]]
    return df["ramp_mean"].to_numpy("float64"), df["pixel_count"].to_numpy("float64") * px, seconds


METHODS = {
    "nongshu": nongshu_step,
    "exactextract": exactextract_alone,
    "exactextract (raster-sequential)": exactextract_raster_sequential,
    "rasterstats (file)": rasterstats_file,
    "rasterstats (memory)": rasterstats_memory,
}


def run_method(name: str, raster: Path, field_files: list[Path]) -> list[Outcome]:
    """Run method ``name`` on each field file in turn (one process, so peak RSS covers all)."""
    method = METHODS[name]
    return [method(raster, fields) for fields in field_files]
