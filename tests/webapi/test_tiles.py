"""Tiles: colours at known places (positions computed independently with pyproj + morecantile)."""

from __future__ import annotations

import io

import matplotlib
import morecantile
import numpy as np
import pytest
from PIL import Image
from pyproj import Transformer
from webdata import RUN, X0, Y0  # type: ignore[import-not-found]

TMS = morecantile.tms.get("WebMercatorQuad")
TO_WGS84 = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
ZOOM = 15


def locate(x_utm: float, y_utm: float, zoom: int = ZOOM) -> tuple[morecantile.Tile, int, int]:
    """The tile containing a UTM point and the point's pixel (col, row) inside it."""
    lon, lat = TO_WGS84.transform(x_utm, y_utm)
    tile = TMS.tile(lon, lat, zoom)
    bounds = TMS.xy_bounds(tile)
    mx, my = TMS.xy(lon, lat)
    col = int((mx - bounds.left) / (bounds.right - bounds.left) * 256)
    row = int((bounds.top - my) / (bounds.top - bounds.bottom) * 256)
    return tile, col, row


def fetch(client, layer: str, tile: morecantile.Tile) -> np.ndarray:
    response = client.get(f"/tiles/{RUN}/{layer}/{tile.z}/{tile.x}/{tile.y}.png")
    assert response.status_code == 200, response.data[:200]
    assert response.mimetype == "image/png"
    img = Image.open(io.BytesIO(response.data))
    assert img.size == (256, 256)
    return np.asarray(img.convert("RGBA"))


@pytest.mark.parametrize(
    ("x_off", "y_off", "rgba"),
    [
        (500, 500, (0xE0, 0x20, 0x20, 255)),  # north-west quadrant: level 4, red #E02020
        (1500, 500, (0xFF, 0xD5, 0x00, 255)),  # north-east: level 2, yellow #FFD500
        (500, 1500, (0x1E, 0x6F, 0xD9, 255)),  # south-west: level 1, blue #1E6FD9
        (1500, 1500, (0, 0, 0, 0)),  # south-east: level 0 is transparent
    ],
)
def test_alert_level_tile_uses_the_four_warning_colours(client, x_off, y_off, rgba):
    tile, col, row = locate(X0 + x_off, Y0 - y_off)
    pixels = fetch(client, "alert_level", tile)
    if rgba[3] == 0:
        assert pixels[row, col, 3] == 0
    else:
        assert tuple(pixels[row, col]) == rgba


def test_continuous_layer_colour_and_nodata_transparency(client):
    # column 150 of the grid (x = X0 + 1505 m): yield = 20 + 0.05 * 150 = 27.5 t/ha, range 0..60 -> viridis
    tile, col, row = locate(X0 + 1505, Y0 - 1005)
    pixels = fetch(client, "yield_t_ha", tile)
    expected = np.array(matplotlib.colormaps["viridis"](round(27.5 / 60 * 255) / 255, bytes=True))
    assert np.abs(pixels[row, col].astype(int) - expected.astype(int)).max() <= 6
    # the NaN corner (first 20x20 pixels) is transparent
    tile, col, row = locate(X0 + 55, Y0 - 55)
    assert fetch(client, "yield_t_ha", tile)[row, col, 3] == 0


def test_tile_outside_data_is_transparent(client):
    pixels = fetch(client, "risk_frost", morecantile.Tile(0, 0, 5))
    assert pixels.shape == (256, 256, 4) and pixels[..., 3].max() == 0


def test_low_zoom_tile_reads_overviews(client):
    tile, col, row = locate(X0 + 500, Y0 - 500, zoom=11)
    pixels = fetch(client, "alert_level", tile)
    assert pixels[..., 3].max() == 255  # the data shows up, a few pixels wide


def test_etag_and_conditional_get(client):
    tile, _, _ = locate(X0 + 500, Y0 - 500)
    url = f"/tiles/{RUN}/alert_level/{tile.z}/{tile.x}/{tile.y}.png"
    first = client.get(url)
    etag = first.headers["ETag"]
    assert "max-age=3600" in first.headers["Cache-Control"] and "public" in first.headers["Cache-Control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_tile_cache_returns_same_bytes_and_is_bounded(app):
    context = app.extensions["nongshu"]
    client = app.test_client()
    tile, _, _ = locate(X0 + 500, Y0 - 500)
    url = f"/tiles/{RUN}/risk_frost/{tile.z}/{tile.x}/{tile.y}.png"
    assert client.get(url).data == client.get(url).data
    assert len(context.tiles._cache) == 1
    for x in range(20):
        client.get(f"/tiles/{RUN}/risk_frost/5/{x}/0.png")
    assert len(context.tiles._cache) == 16  # NONGSHU_TILE_CACHE=16 in the fixture


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("23/0/0", "z"),
        ("3/8/0", "x"),
        ("3/0/8", "y"),
        ("-1/0/0", "z"),
        ("a/0/0", "z"),
        ("3/1.5/0", "x"),
        ("3/0/99999999999999", "y"),
    ],
)
def test_bad_tile_coordinates_are_400(client, path, field):
    from test_api import assert_problem  # type: ignore[import-not-found]

    assert_problem(client.get(f"/tiles/{RUN}/alert_level/{path}.png"), 400, field)


@pytest.mark.parametrize(
    ("run", "layer", "field"),
    [
        ("nope", "alert_level", "run"),
        (RUN, "nope", "layer"),
        (RUN, "ndvi_peak", "layer"),  # registered but not in this run
        (RUN, "..%2F..%2Frun.json", "layer"),
        ("..%2F..", "alert_level", "run"),
        (RUN, "fields.parquet", "layer"),
    ],
)
def test_unknown_run_or_layer_is_404(client, run, layer, field):
    from test_api import assert_problem  # type: ignore[import-not-found]

    response = client.get(f"/tiles/{run}/{layer}/3/0/0.png")
    # encoded slashes split the path: no route matches, still a problem+json 404
    assert_problem(response, 404, None if "%2F" in run + layer else field)
