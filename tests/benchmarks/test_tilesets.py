"""Viewport bursts: 20 tiles each, inside the footprint, never shared between bursts."""

from __future__ import annotations

import pytest

from benchmarks.tilesets import TMS, tile_range, viewport_bursts, zooms_for

# about 41 km x 41 km around Dingxi
BOUNDS = (104.40, 35.60, 104.85, 35.97)


def test_bursts_are_disjoint_blocks_inside_the_bounds() -> None:
    zooms = zooms_for(BOUNDS, max_zoom=15)
    bursts = viewport_bursts(BOUNDS, zooms, 30, seed=1)
    assert len(bursts) == 30
    seen = set()
    for burst in bursts:
        assert len(burst) == 20
        assert len({t.z for t in burst}) == 1
        for tile in burst:
            assert tile not in seen
            seen.add(tile)
            west, south, east, north = TMS.bounds(tile.x, tile.y, tile.z)
            assert (
                BOUNDS[0] <= west
                and east <= BOUNDS[2]
                and BOUNDS[1] <= south
                and north <= BOUNDS[3]
            )
    assert {b[0].z for b in bursts} == set(zooms)


def test_first_zoom_holds_a_whole_burst() -> None:
    zooms = zooms_for(BOUNDS, max_zoom=16)
    x0, y0, x1, y1 = tile_range(BOUNDS, zooms[0])
    assert x1 - x0 + 1 >= 5 and y1 - y0 + 1 >= 4
    x0, y0, x1, y1 = tile_range(BOUNDS, zooms[0] - 1)
    assert x1 - x0 + 1 < 5 or y1 - y0 + 1 < 4
    assert zooms == list(range(zooms[0], 17))  # capped at max_zoom
    assert len(zooms_for(BOUNDS, max_zoom=22)) == 5


def test_too_small_a_region_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        zooms_for((104.5, 35.7, 104.5001, 35.7001), max_zoom=10)
