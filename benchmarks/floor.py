"""The I/O floor of a season run: read every input pixel, NDVI + temporal mean in numpy, write the outputs.

Nothing here can be skipped by any implementation of the pipeline: each input
raster the run opened is read in full with rasterio (same files, so the same
codec and block size), the only arithmetic is a cloud-masked NDVI and its
mean over time, and as many float32 outputs as the run wrote are written as
tiled DEFLATE GeoTIFFs with overviews. Work is split by 512 px blocks of the
10 m grid over ``threads`` threads, each with its own dataset handles (GDAL
handles are not thread-safe); writes to a shared output are serialised by a
lock per file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

#: SCL classes masked as in docs/DATA_LAYOUT.md: no data, defective, shadow, clouds, cirrus, snow.
SCL_MASKED = np.array([0, 1, 3, 8, 9, 10, 11], dtype="uint8")
BLOCK = 512


@dataclass(frozen=True)
class Acquisition:
    """One date's band files (band name -> path); needs at least B04, B08 and SCL."""

    bands: dict[str, Path]


@dataclass(frozen=True)
class FloorStats:
    pixels_read: int
    outputs_written: int


def ndvi_block(red_dn: np.ndarray, nir_dn: np.ndarray, scl: np.ndarray) -> np.ndarray:
    """Cloud-masked NDVI from L2A digital numbers (offset -1000, scale 1e-4), NaN where masked."""
    red = (red_dn.astype("float32") - 1000.0) * 1e-4
    nir = (nir_dn.astype("float32") - 1000.0) * 1e-4
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (nir - red) / (nir + red)
    bad = np.isin(scl, SCL_MASKED) | (red_dn == 0) | (nir_dn == 0)
    out[bad] = np.nan
    return out


def _scaled_window(win: Window, factor: int) -> Window:
    return Window(
        win.col_off // factor,
        win.row_off // factor,
        -(-win.width // factor),
        -(-win.height // factor),
    )


def _upsample(block: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    if factor == 1:
        return block
    return np.repeat(np.repeat(block, factor, axis=0), factor, axis=1)[: shape[0], : shape[1]]


def run_floor(
    acquisitions: Sequence[Acquisition],
    other_rasters: Sequence[Path],
    out_dir: Path,
    n_outputs: int,
    *,
    threads: int = 2,
    on_block: Callable[[], None] | None = None,
) -> FloorStats:
    """Run the floor; returns how many pixels were read and outputs written."""
    if not acquisitions:
        raise ValueError("the floor needs at least one acquisition with B04, B08 and SCL")
    ref_path = acquisitions[0].bands["B08"]
    with rasterio.open(ref_path) as ref:
        profile = ref.profile
        height, width = ref.height, ref.width
    out_dir.mkdir(parents=True, exist_ok=True)
    out_profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "width": width,
        "height": height,
        "crs": profile["crs"],
        "transform": profile["transform"],
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": "deflate",
        "predictor": 3,
    }
    out_paths = [out_dir / f"floor_{i:02d}.tif" for i in range(n_outputs)]
    outputs = [rasterio.open(p, "w", **out_profile) for p in out_paths]
    locks = [threading.Lock() for _ in outputs]
    windows = [
        Window(col, row, min(BLOCK, width - col), min(BLOCK, height - row))
        for row in range(0, height, BLOCK)
        for col in range(0, width, BLOCK)
    ]
    counter = threading.Lock()
    pixels = [0]

    def worker(my_windows: list[Window]) -> None:
        handles = [
            {band: rasterio.open(p) for band, p in acq.bands.items()} for acq in acquisitions
        ]
        try:
            for win in my_windows:
                total = np.zeros((win.height, win.width), dtype="float32")
                count = np.zeros((win.height, win.width), dtype="uint16")
                read = 0
                for bands in handles:
                    arrays = {}
                    for name, src in bands.items():
                        factor = max(1, round(width / src.width))
                        data = src.read(1, window=_scaled_window(win, factor))
                        read += data.size
                        arrays[name] = _upsample(data, factor, (win.height, win.width))
                    ndvi = ndvi_block(arrays["B04"], arrays["B08"], arrays["SCL"])
                    ok = np.isfinite(ndvi)
                    total[ok] += ndvi[ok]
                    count += ok
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = np.where(count > 0, total / count, np.nan).astype("float32")
                for dst, lock in zip(outputs, locks, strict=True):
                    with lock:
                        dst.write(mean, 1, window=win)
                with counter:
                    pixels[0] += read
                if on_block is not None:
                    on_block()
        finally:
            for bands in handles:
                for src in bands.values():
                    src.close()

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(worker, [windows[i::threads] for i in range(threads)]))
    finally:
        for dst in outputs:
            dst.close()
    for path in out_paths:  # overviews, as the pipeline's COGs have them
        with rasterio.open(path, "r+") as dst:
            dst.build_overviews([2, 4, 8, 16], rasterio.enums.Resampling.average)
    for path in other_rasters:  # weather, soil, DEM: small, read whole
        pixels[0] += read_whole(path)
    return FloorStats(pixels_read=pixels[0], outputs_written=n_outputs)


def read_whole(path: Path) -> int:
    """Read every value of a raster (GeoTIFF or NetCDF) and return how many were read."""
    if path.suffix == ".nc":
        import netCDF4

        n = 0
        with netCDF4.Dataset(path) as ds:
            for var in ds.variables.values():
                n += int(np.asarray(var[:]).size)
        return n
    with rasterio.open(path) as src:
        return int(src.read().size)


def floor_blocks(acquisitions: Sequence[Acquisition]) -> int:
    """How many 512 px blocks the floor will process (for a progress bar)."""
    with rasterio.open(acquisitions[0].bands["B08"]) as ref:
        return (-(-ref.height // BLOCK)) * (-(-ref.width // BLOCK))
