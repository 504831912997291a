"""Render 256 px WebMercatorQuad PNG tiles from the output COGs with rio-tiler.

Pure of Flask: :class:`TileRenderer` takes a file, a :class:`~webapi.layers.Layer`
and z/x/y and returns PNG bytes plus an ETag; an LRU cache (size from
``Settings.tile_cache_size``) keeps recently rendered tiles. rio-tiler reads the
COG's overviews for low zooms, masks nodata (transparent pixels) and returns
:class:`~rio_tiler.errors.TileOutsideBounds` outside the data, which becomes a
fully transparent tile.
"""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import numpy as np
from cachetools import LRUCache
from PIL import Image
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

from webapi.errors import BadRequestError
from webapi.layers import ALERT_NODATA, Layer

TILE_SIZE = 256
#: Deepest zoom served: 10 m pixels are ~0.6 m at z18, nothing finer is useful.
MAX_ZOOM = 22


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


class TileRenderer:
    """Renders and caches tiles; thread-safe."""

    def __init__(self, cache_size: int) -> None:
        self._cache: LRUCache[tuple[str, int, str, int, int, int], tuple[bytes, str]] | None = (
            LRUCache(maxsize=cache_size) if cache_size > 0 else None
        )
        self._lock = threading.Lock()

    def tile(self, path: Path, layer: Layer, z: int, x: int, y: int) -> tuple[bytes, str]:
        """PNG bytes and a strong ETag for tile z/x/y of ``layer`` stored in ``path``."""
        check_tile_coords(z, x, y)
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, layer.name, z, x, y)
        if self._cache is not None:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None:
                return hit
        png = render_tile(path, layer, z, x, y)
        etag = hashlib.sha256(png).hexdigest()[:32]
        if self._cache is not None:
            with self._lock:
                self._cache[key] = (png, etag)
        return png, etag


def render_tile(path: Path, layer: Layer, z: int, x: int, y: int) -> bytes:
    """Render one tile: nodata transparent, values rescaled to the layer range and coloured."""
    resampling = "nearest" if layer.categorical else "bilinear"
    with Reader(str(path)) as src:
        try:
            img = src.tile(
                x, y, z, tilesize=TILE_SIZE, resampling_method=resampling, reproject_method=resampling
            )
        except TileOutsideBounds:
            return EMPTY_TILE
    if layer.categorical:
        # level 0 ("no alert") is drawn transparent like nodata
        img.array.mask = np.ma.getmaskarray(img.array) | (img.array.data == 0) | (img.array.data == ALERT_NODATA)
    else:
        img.array.mask = np.ma.getmaskarray(img.array) | ~np.isfinite(img.array.data)
        with np.errstate(invalid="ignore"):  # the NaN fill value of masked pixels cast to uint8
            img.rescale(in_range=((layer.vmin, layer.vmax),))
    return img.render(img_format="PNG", colormap=layer.colour_table())
