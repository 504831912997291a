"""Render 256 px WebMercatorQuad PNG tiles from the output COGs with rio-tiler.

Pure of Flask: :class:`TileRenderer` takes a file, a :class:`~webapi.layers.Layer`
and z/x/y and returns PNG bytes plus an ETag; an LRU cache per worker (size from
``Settings.tile_cache_size``) and a disk cache shared by the workers keep
rendered tiles. rio-tiler reads the
COG's overviews for low zooms, masks nodata (transparent pixels) and returns
:class:`~rio_tiler.errors.TileOutsideBounds` outside the data, which becomes a
fully transparent tile.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from cachetools import LRUCache
from PIL import Image
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

from webapi.errors import BadRequestError
from webapi.layers import ALERT_NODATA, Layer

log = logging.getLogger(__name__)

TILE_SIZE = 256
#: Deepest zoom served: 10 m pixels are ~0.6 m at z18, nothing finer is useful.
MAX_ZOOM = 22
#: Deepest zoom kept in the disk cache (2.4 m tile pixels, four per 10 m pixel): deeper tiles
#: are cheap magnifications, and caching them would let any client fill the disk (a 40 km
#: region has ~4,500 tiles at z16 but ~18 million at z22). Empty tiles are never written.
DISK_CACHE_MAX_ZOOM = 16


def check_tile_coords(z: int, x: int, y: int) -> None:
    """400 unless ``0 <= z <= MAX_ZOOM`` and ``0 <= x, y < 2**z`` (OGC WebMercatorQuad)."""
    if not 0 <= z <= MAX_ZOOM:
        raise BadRequestError("zoom out of range", field="z", expected=f"0..{MAX_ZOOM}", got=z)
    limit = 2**z
    for name, value in (("x", x), ("y", y)):
        if not 0 <= value < limit:
            raise BadRequestError(
                f"tile {name} out of range at zoom {z}", field=name, expected=f"0..{limit - 1}", got=value
            )


def _transparent_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (TILE_SIZE, TILE_SIZE), (0, 0, 0, 0)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


EMPTY_TILE = _transparent_png()


_STYLES: dict[tuple[Any, ...], tuple[str, dict[int, tuple[int, int, int, int]]]] = {}


def _style(layer: Layer) -> tuple[str, dict[int, tuple[int, int, int, int]]]:
    """``(style token, colour table)`` of a layer, built once per process (matplotlib is slow)."""
    key = (layer.name, layer.colormap, layer.vmin, layer.vmax, layer.categorical, repr(layer.categories))
    found = _STYLES.get(key)
    if found is None:
        colours = layer.colour_table()
        token = hashlib.sha256(repr((key, colours)).encode()).hexdigest()[:12]
        found = _STYLES[key] = (token, colours)
    return found


def style_token(layer: Layer) -> str:
    """Short digest of everything that changes a layer's pixels (colours, range, resampling)."""
    return _style(layer)[0]


class TileRenderer:
    """Renders and caches tiles; thread-safe.

    Three levels, fastest first: this worker's LRU of PNG bytes (``cache_size``
    tiles); a disk cache shared by every worker of the server (``cache_dir``, one
    file per (COG version, layer, style, z, x, y), written atomically); and
    rendering with rio-tiler through a :class:`~rio_tiler.io.Reader` kept open
    per thread and COG (GDAL handles are not thread-safe; re-opening a COG costs
    more than reading one tile from it).
    """

    #: COGs kept open per thread.
    OPEN_READERS = 8

    def __init__(self, cache_size: int) -> None:
        self._cache: LRUCache[tuple[str, int, str, int, int, int], tuple[bytes, str]] | None = (
            LRUCache(maxsize=cache_size) if cache_size > 0 else None
        )
        self._lock = threading.Lock()
        self._local = threading.local()
        self._pruned: set[Path] = set()

    def tile(
        self,
        path: Path,
        layer: Layer,
        z: int,
        x: int,
        y: int,
        *,
        cache_dir: Path | None = None,
    ) -> tuple[bytes, str]:
        """PNG bytes and a strong ETag for tile z/x/y of ``layer`` stored in ``path``."""
        check_tile_coords(z, x, y)
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, layer.name, z, x, y)
        if self._cache is not None:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None:
                return hit
        disk = None
        if cache_dir is not None and z <= DISK_CACHE_MAX_ZOOM:
            disk = self._disk_path(cache_dir, path, stat, layer) / str(z) / str(x) / f"{y}.png"
        png = _read_bytes(disk) if disk is not None else None
        if png is None:
            png = render_tile(path, layer, z, x, y, reader=self._reader(path, stat.st_mtime_ns))
            if disk is not None and png is not EMPTY_TILE:
                _write_atomically(disk, png)
        etag = hashlib.sha256(png).hexdigest()[:32]
        if self._cache is not None:
            with self._lock:
                self._cache[key] = (png, etag)
        return png, etag

    def _reader(self, path: Path, version: int) -> Reader:
        """This thread's open reader of ``path`` (re-opened when the file changed)."""
        readers: OrderedDict[tuple[str, int], Reader] | None = getattr(self._local, "readers", None)
        if readers is None:
            readers = self._local.readers = OrderedDict()
        key = (str(path), version)
        reader = readers.get(key)
        if reader is None:
            reader = Reader(str(path))
            readers[key] = reader
            while len(readers) > self.OPEN_READERS:
                readers.popitem(last=False)[1].close()
        readers.move_to_end(key)
        return reader

    def _disk_path(self, cache_dir: Path, path: Path, stat: os.stat_result, layer: Layer) -> Path:
        """``<cache_dir>/<cog id>-<version>/<layer>-<style>``; older versions of the COG are removed."""
        cog = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        version_dir = cache_dir / f"{cog}-{stat.st_mtime_ns}-{stat.st_size}"
        if version_dir not in self._pruned:
            with self._lock:
                self._pruned.add(version_dir)
            if cache_dir.is_dir():
                for stale in cache_dir.glob(f"{cog}-*"):
                    if stale != version_dir:
                        shutil.rmtree(stale, ignore_errors=True)
        return version_dir / f"{layer.name}-{style_token(layer)}"


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename (readers never see a partial tile).

    A cache that cannot be written (full or read-only disk) only costs re-rendering.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        log.warning("tile cache %s not written: %s", path, err)


def render_tile(
    path: Path, layer: Layer, z: int, x: int, y: int, *, reader: Reader | None = None
) -> bytes:
    """Render one tile: nodata transparent, values rescaled to the layer range and coloured."""
    resampling = "nearest" if layer.categorical else "bilinear"
    if reader is None:
        with Reader(str(path)) as src:
            return render_tile(path, layer, z, x, y, reader=src)
    try:
        img = reader.tile(
            x, y, z, tilesize=TILE_SIZE, resampling_method=resampling, reproject_method=resampling
        )
    except TileOutsideBounds:
        return EMPTY_TILE
    if layer.categorical:
        # level 0 ("no alert") is drawn transparent like nodata
        img.array.mask = (
            np.ma.getmaskarray(img.array) | (img.array.data == 0) | (img.array.data == ALERT_NODATA)
        )
    else:
        img.array.mask = np.ma.getmaskarray(img.array) | ~np.isfinite(img.array.data)
        with np.errstate(invalid="ignore"):  # the NaN fill value of masked pixels cast to uint8
            img.rescale(in_range=((layer.vmin, layer.vmax),))
    return img.render(img_format="PNG", colormap=_style(layer)[1])
