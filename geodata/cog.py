"""Atomic Cloud-Optimized GeoTIFF writing, block by block.

Every raster Nongshu writes (demo inputs and pipeline outputs) goes through
:class:`CogWriter` or :func:`write_cog`:

1. the data are written window by window into a tiled, DEFLATE-compressed
   GeoTIFF in a hidden temporary file *in the destination directory*, so a
   raster larger than memory (4096 x 4096 and up) is never held at once;
2. on close, GDAL's ``COG`` driver copies it into a second temporary file with
   internal overviews and the COG layout (IFDs first, tiles ordered), 512 px
   tiles, DEFLATE with a predictor;
3. that file is moved into place with :func:`os.replace`, which is atomic on
   POSIX: readers see the old file or the complete new one, never a half.

Any failure removes the temporary files and leaves a previous file untouched;
an ``OSError`` (disk full, read-only directory) becomes
:class:`geodata.errors.OutputError` naming the path.

Reference: COG specification, https://github.com/cogeotiff/cog-spec; GDAL COG
driver, https://gdal.org/drivers/raster/cog.html.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio._err import CPLE_BaseError  # GDAL errors raised as such by rasterio.shutil.copy
from rasterio.errors import RasterioError
from rasterio.transform import Affine
from rasterio.windows import Window

from geodata.errors import OutputError

#: Internal tile size of every COG (px); the DATA_LAYOUT contract.
BLOCKSIZE = 512
#: Overviews are built until the smallest fits in one 256 px web-map tile, so a
#: map client at low zoom never reads full-resolution pixels, even for rasters
#: no larger than one internal block (GDAL's AUTO would build none for those).
OVERVIEW_TARGET_PX = 256


def overview_count(width: int, height: int, target: int = OVERVIEW_TARGET_PX) -> int:
    """Number of 2x overview levels until the largest side is <= ``target`` px."""
    side, levels = max(width, height), 0
    while side > target:
        side = -(-side // 2)
        levels += 1
    return levels

Resampling = Literal["average", "nearest", "bilinear", "mode"]


class CogWriter:
    """Write a COG window by window, atomically.

    Use as a context manager::

        with CogWriter(path, width=4096, height=4096, dtype="uint16", crs=32648,
                       transform=t, nodata=0) as cog:
            for window, block in blocks:
                cog.write(window, block)

    The COG appears at ``path`` only when the ``with`` block ends without an
    exception. ``cog[rows, cols] = array`` is also accepted so that the writer
    can be the target of :func:`dask.array.store`.

    Parameters
    ----------
    path : destination file.
    width, height : raster size in pixels.
    count : number of bands.
    dtype : numpy dtype name of the pixels.
    crs : anything :meth:`rasterio.crs.CRS.from_user_input` accepts.
    transform : affine pixel-to-CRS transform.
    nodata : the nodata value (``float("nan")`` for float rasters).
    scales, offsets : per-band scale and offset (``value = DN * scale + offset``).
    tags : dataset-level metadata tags.
    band_descriptions : one description per band (e.g. ``"B04"``).
    band_tags : per-band metadata tags (e.g. units).
    overview_resampling : ``"average"`` for continuous data, ``"nearest"`` or
        ``"mode"`` for classes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        dtype: str | np.dtype[Any],
        crs: Any,
        transform: Affine,
        nodata: float | int | None,
        count: int = 1,
        scales: Sequence[float] | None = None,
        offsets: Sequence[float] | None = None,
        tags: Mapping[str, Any] | None = None,
        band_descriptions: Sequence[str] | None = None,
        band_tags: Sequence[Mapping[str, Any]] | None = None,
        overview_resampling: Resampling = "average",
    ) -> None:
        self.path = Path(path)
        self.width, self.height, self.count = int(width), int(height), int(count)
        self.dtype = np.dtype(dtype)
        self.crs = CRS.from_user_input(crs)
        self.transform = transform
        self.nodata = nodata
        self.scales = list(scales) if scales is not None else None
        self.offsets = list(offsets) if offsets is not None else None
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.band_descriptions = list(band_descriptions) if band_descriptions else None
        self.band_tags = list(band_tags) if band_tags else None
        self.overview_resampling = overview_resampling
        for name, seq in (("scales", self.scales), ("offsets", self.offsets),
                          ("band_descriptions", self.band_descriptions),
                          ("band_tags", self.band_tags)):
            if seq is not None and len(seq) != self.count:
                raise ValueError(f"{name} has {len(seq)} entries for {self.count} band(s)")
        self._dataset: Any = None
        self._tmp_tiled: Path | None = None
        self._lock = threading.Lock()

    # -- context manager ---------------------------------------------------
    def __enter__(self) -> CogWriter:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- writing -------------------------------------------------------------
    def open(self) -> None:
        """Create the temporary tiled GeoTIFF next to the destination."""
        self._tmp_tiled = self._temp_name(".tiled.tif")
        profile = {
            "driver": "GTiff",
            "width": self.width,
            "height": self.height,
            "count": self.count,
            "dtype": self.dtype.name,
            "crs": self.crs,
            "transform": self.transform,
            "nodata": self.nodata,
            "tiled": True,
            "blockxsize": BLOCKSIZE,
            "blockysize": BLOCKSIZE,
            "compress": "DEFLATE",
            "predictor": 3 if self.dtype.kind == "f" else 2,
            "zlevel": 1,  # the intermediate file is short-lived: favour speed
            "bigtiff": "IF_SAFER",
            "interleave": "band",
        }
        try:
            # tiles never written read back as nodata (GDAL sparse-tile behaviour)
            self._dataset = rasterio.open(self._tmp_tiled, "w", **profile)
        except (OSError, RasterioError, CPLE_BaseError) as err:
            self._cleanup()
            raise OutputError(
                "cannot create the raster (is the directory writable and is there space?)",
                source=str(self.path), got=str(err),
            ) from err

    def write(self, window: Window, array: np.ndarray) -> None:
        """Write ``array`` (``(rows, cols)`` or ``(bands, rows, cols)``) into ``window``."""
        if self._dataset is None:
            raise RuntimeError("CogWriter is not open; use it as a context manager")
        data = np.asarray(array)
        if data.ndim == 2:
            data = data[np.newaxis]
        if data.shape[0] != self.count:
            raise ValueError(f"array has {data.shape[0]} band(s), raster has {self.count}")
        if data.shape[1:] != (int(window.height), int(window.width)):
            raise ValueError(f"array shape {data.shape[1:]} does not match window {window}")
        try:
            with self._lock:
                self._dataset.write(data.astype(self.dtype, copy=False), window=window)
        except (OSError, RasterioError, CPLE_BaseError) as err:
            raise OutputError("cannot write a block of the raster", source=str(self.path),
                              got=str(err)) from err

    def __setitem__(self, key: tuple[slice, ...], value: np.ndarray) -> None:
        """``writer[rows, cols] = block`` (or with a leading band slice), for :func:`dask.array.store`."""
        spatial = key[-2:]
        rows, cols = (s.indices(n) for s, n in zip(spatial, (self.height, self.width), strict=True))
        window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
        self.write(window, value)

    def close(self) -> None:
        """Finish: build overviews and the COG layout, then move it into place."""
        if self._dataset is None:
            return
        tmp_cog: Path | None = None
        try:
            tmp_cog = self._temp_name(".cog.tif")
            self._finish_metadata()
            self._dataset.close()
            self._dataset = None
            levels = overview_count(self.width, self.height)
            rasterio.shutil.copy(
                self._tmp_tiled,
                tmp_cog,
                driver="COG",
                BLOCKSIZE=BLOCKSIZE,
                COMPRESS="DEFLATE",
                PREDICTOR="YES",
                LEVEL=6,
                OVERVIEW_RESAMPLING=self.overview_resampling.upper(),
                OVERVIEWS="IGNORE_EXISTING" if levels else "NONE",
                OVERVIEW_COUNT=max(levels, 1),
                BIGTIFF="IF_SAFER",
                NUM_THREADS="1",
            )
            os.replace(tmp_cog, self.path)
        except OutputError:
            _silent_unlink(tmp_cog)
            raise
        except (OSError, RasterioError, CPLE_BaseError) as err:
            _silent_unlink(tmp_cog)
            raise OutputError("cannot finish the Cloud-Optimized GeoTIFF", source=str(self.path),
                              got=str(err)) from err
        except BaseException:
            _silent_unlink(tmp_cog)
            raise
        finally:
            self._cleanup()

    def abort(self) -> None:
        """Drop everything written so far; any previous file at ``path`` stays."""
        self._cleanup()

    # -- helpers -------------------------------------------------------------
    def _finish_metadata(self) -> None:
        ds = self._dataset
        if self.scales is not None:
            ds.scales = tuple(float(s) for s in self.scales)
        if self.offsets is not None:
            ds.offsets = tuple(float(o) for o in self.offsets)
        if self.tags:
            ds.update_tags(**self.tags)
        if self.band_descriptions:
            for i, text in enumerate(self.band_descriptions, start=1):
                ds.set_band_description(i, str(text))
        if self.band_tags:
            for i, btags in enumerate(self.band_tags, start=1):
                ds.update_tags(i, **{str(k): str(v) for k, v in btags.items()})

    def _temp_name(self, suffix: str) -> Path:
        directory = self.path.parent
        if not directory.is_dir():
            raise OutputError("the output directory does not exist", source=str(self.path),
                              expected="an existing directory", got=str(directory))
        try:
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=suffix, dir=directory)
        except OSError as err:
            raise OutputError("cannot write in the output directory (read-only or full?)",
                              source=str(self.path), got=str(err)) from err
        os.close(fd)
        return Path(name)

    def _cleanup(self) -> None:
        if self._dataset is not None:
            with contextlib.suppress(Exception):
                self._dataset.close()
            self._dataset = None
        if self._tmp_tiled is not None:
            _silent_unlink(self._tmp_tiled)
            self._tmp_tiled = None


def _silent_unlink(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def iter_windows(height: int, width: int, block: int = BLOCKSIZE * 2) -> Iterator[Window]:
    """Row-major windows of ``block`` x ``block`` px covering a raster."""
    for row in range(0, height, block):
        for col in range(0, width, block):
            yield Window(col, row, min(block, width - col), min(block, height - row))


def write_cog(
    path: str | os.PathLike[str],
    array: Any,
    *,
    crs: Any,
    transform: Affine,
    nodata: float | int | None,
    dtype: str | np.dtype[Any] | None = None,
    scales: Sequence[float] | None = None,
    offsets: Sequence[float] | None = None,
    tags: Mapping[str, Any] | None = None,
    band_descriptions: Sequence[str] | None = None,
    band_tags: Sequence[Mapping[str, Any]] | None = None,
    overview_resampling: Resampling = "average",
) -> Path:
    """Write a numpy or dask array (``(rows, cols)`` or ``(bands, rows, cols)``) as a COG.

    A dask array is computed and written chunk by chunk (:func:`dask.array.store`
    into a :class:`CogWriter`), so it is never in memory as a whole; a numpy
    array is written in 1024 px windows. Returns the path written.
    """
    ndim = len(array.shape)
    if ndim not in (2, 3):
        raise ValueError(f"expected a 2-D or 3-D array, got shape {array.shape}")
    count = 1 if ndim == 2 else int(array.shape[0])
    height, width = int(array.shape[-2]), int(array.shape[-1])
    out_dtype = np.dtype(dtype) if dtype is not None else np.dtype(array.dtype)
    writer = CogWriter(
        path, width=width, height=height, count=count, dtype=out_dtype, crs=crs,
        transform=transform, nodata=nodata, scales=scales, offsets=offsets, tags=tags,
        band_descriptions=band_descriptions, band_tags=band_tags,
        overview_resampling=overview_resampling,
    )
    with writer:
        if _is_dask(array):
            import dask.array as da

            target_array = array if ndim == 3 else array[np.newaxis]
            target: Any = writer  # any object with __setitem__ is a valid store target
            da.store(target_array.rechunk({0: -1}).astype(out_dtype), target, lock=True)
        else:
            data = np.asarray(array)
            for window in iter_windows(height, width):
                rows, cols = window.toslices()
                writer.write(window, data[..., rows, cols])
    return Path(path)


def _is_dask(array: Any) -> bool:
    return type(array).__module__.startswith("dask.")
