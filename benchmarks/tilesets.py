"""Viewport bursts of XYZ tiles over a raster's footprint (pure: morecantile maths only).

A map client opening or panning a viewport asks for about 20 tiles at one zoom
(5 x 4 at 256 px on a 1280 x 1024 screen). A burst here is such a block, wholly
inside the raster's bounds so both servers answer every tile with data; bursts
do not share tiles, so a run over them is a true cold-cache run.
"""

from __future__ import annotations

from dataclasses import dataclass

import morecantile
import numpy as np

TMS = morecantile.tms.get("WebMercatorQuad")
BURST_COLS, BURST_ROWS = 5, 4


@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int


def tile_range(
    bounds_wgs84: tuple[float, float, float, float], z: int
) -> tuple[int, int, int, int]:
    """(xmin, ymin, xmax, ymax) of the tiles at zoom ``z`` lying wholly inside ``bounds``."""
    west, south, east, north = bounds_wgs84
    ul = TMS.tile(west, north, z)
    lr = TMS.tile(east, south, z)
    # shrink by one on each side: edge tiles are only partly inside
    return ul.x + 1, ul.y + 1, lr.x - 1, lr.y - 1


def zooms_for(
    bounds_wgs84: tuple[float, float, float, float], max_zoom: int, count: int = 5
) -> list[int]:
    """Up to ``count`` consecutive zooms from the first that holds a whole burst, none beyond ``max_zoom``."""
    for z in range(0, max_zoom + 1):
        x0, y0, x1, y1 = tile_range(bounds_wgs84, z)
        if x1 - x0 + 1 >= BURST_COLS and y1 - y0 + 1 >= BURST_ROWS:
            return list(range(z, min(z + count, max_zoom + 1)))
    raise ValueError(
        f"bounds {bounds_wgs84} are too small for a {BURST_COLS}x{BURST_ROWS} burst up to zoom {max_zoom}"
    )


def viewport_bursts(
    bounds_wgs84: tuple[float, float, float, float], zooms: list[int], count: int, seed: int
) -> list[list[Tile]]:
    """``count`` non-overlapping bursts cycling through ``zooms`` (fewer only if the region is exhausted)."""
    rng = np.random.default_rng(seed)
    used: set[Tile] = set()
    bursts: list[list[Tile]] = []
    ranges = {z: tile_range(bounds_wgs84, z) for z in zooms}
    misses = 0
    i = 0
    while len(bursts) < count and misses < 50 * count:
        z = zooms[i % len(zooms)]
        i += 1
        x0, y0, x1, y1 = ranges[z]
        if x1 - x0 + 1 < BURST_COLS or y1 - y0 + 1 < BURST_ROWS:
            misses += 1
            continue
        left = int(rng.integers(x0, x1 - BURST_COLS + 2))
        top = int(rng.integers(y0, y1 - BURST_ROWS + 2))
        burst = [Tile(z, left + c, top + r) for r in range(BURST_ROWS) for c in range(BURST_COLS)]
        if used.intersection(burst):
            misses += 1
            continue
        used.update(burst)
        bursts.append(burst)
    return bursts
