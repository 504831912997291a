"""The product caches the web benchmarks measure: shared tile cache, fields ETags, pre-encoded GeoJSON."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rasterio.warp import transform_bounds

from benchmarks.synthetic_run import write_run
from nongshu.settings import Settings

REGION, RUN_ID = "bench", "2026"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cachedata")
    write_run(root, REGION, RUN_ID, size=512, fields=40)
    return root


def _centre_tile(cog: Path, z: int) -> tuple[int, int, int]:
    import morecantile
    import rasterio

    with rasterio.open(cog) as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    t = morecantile.tms.get("WebMercatorQuad").tile((w + e) / 2, (s + n) / 2, z)
    return t.z, t.x, t.y


def test_tiles_rendered_by_one_worker_are_served_by_another(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapi import tiles
    from webapi.layers import LAYERS

    cog = data_dir / "outputs" / REGION / RUN_ID / "risk_drought.tif"
    layer = LAYERS["risk_drought"]
    z, x, y = _centre_tile(cog, 14)
    first = tiles.TileRenderer(cache_size=0)  # worker 1: no in-memory cache
    png, etag = first.tile(cog, layer, z, x, y, cache_dir=tmp_path)
    picture = np.asarray(Image.open(io.BytesIO(png)))
    assert picture.shape == (256, 256, 4) and picture[..., 3].any()  # rendered, not empty

    def no_rendering(*_args, **_kwargs):
        raise AssertionError("worker 2 must not render a tile worker 1 rendered")

    monkeypatch.setattr(tiles, "render_tile", no_rendering)
    second = tiles.TileRenderer(cache_size=0)  # worker 2
    assert second.tile(cog, layer, z, x, y, cache_dir=tmp_path) == (png, etag)
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_rewritten_cog_is_rendered_again(data_dir: Path, tmp_path: Path) -> None:
    import shutil

    from webapi import tiles
    from webapi.layers import LAYERS

    cog = tmp_path / "risk_drought.tif"
    shutil.copyfile(data_dir / "outputs" / REGION / RUN_ID / "risk_drought.tif", cog)
    layer = LAYERS["risk_drought"]
    z, x, y = _centre_tile(cog, 13)
    renderer = tiles.TileRenderer(cache_size=16)
    cache = tmp_path / "cache"
    before, _ = renderer.tile(cog, layer, z, x, y, cache_dir=cache)
    import rasterio

    from benchmarks.synthetic_run import write_cog

    with rasterio.open(cog) as src:  # a new run version: every pixel 0 (the lowest colour)
        zeros, transform = np.zeros((src.height, src.width), "float32"), src.transform
    write_cog(cog, zeros, transform)
    os.utime(cog, ns=(cog.stat().st_atime_ns, cog.stat().st_mtime_ns + 10**9))
    after, _ = renderer.tile(cog, layer, z, x, y, cache_dir=cache)
    assert after != before
    assert len(list(cache.iterdir())) == 1  # the old version's tiles were removed


def test_renderer_reuses_its_reader_per_thread(data_dir: Path, tmp_path: Path) -> None:
    from webapi import tiles
    from webapi.layers import LAYERS

    cog = data_dir / "outputs" / REGION / RUN_ID / "risk_drought.tif"
    renderer = tiles.TileRenderer(cache_size=0)
    z, x, y = _centre_tile(cog, 13)
    version = cog.stat().st_mtime_ns
    assert renderer._reader(cog, version) is renderer._reader(cog, version)
    # the cached reader renders exactly what a freshly opened one does
    layer = LAYERS["risk_drought"]
    assert tiles.render_tile(cog, layer, z, x, y) == tiles.render_tile(
        cog, layer, z, x, y, reader=renderer._reader(cog, version)
    )


@pytest.fixture()
def client(data_dir: Path):
    from webapi import create_app

    app = create_app(Settings.from_env({"NONGSHU_DATA_DIR": str(data_dir)}))
    app.config["TESTING"] = True
    return app.test_client()


def test_fields_have_an_etag_and_answer_304(client) -> None:
    first = client.get("/api/v1/fields?limit=10")
    assert first.status_code == 200 and first.headers["ETag"]
    assert "no-cache" in first.headers["Cache-Control"]
    again = client.get("/api/v1/fields?limit=10", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/api/v1/fields?limit=11", headers={"If-None-Match": first.headers["ETag"]})
    assert other.status_code == 200 and other.headers["ETag"] != first.headers["ETag"]


def test_cached_gzip_body_is_the_plain_body(client) -> None:
    plain = client.get("/api/v1/fields?limit=25")
    for _ in range(2):  # the second answer comes from the body cache
        zipped = client.get("/api/v1/fields?limit=25", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(zipped.data)) == plain.get_json()


def test_pre_encoded_features_match_geopandas(data_dir: Path) -> None:
    """Features written by GEOS + json equal geopandas' own GeoJSON of the same rows."""
    import geopandas as gpd

    from webapi.fields_query import encode_features

    frame = gpd.read_parquet(data_dir / "outputs" / REGION / RUN_ID / "fields.parquet")
    frame = frame.to_crs("EPSG:4326").set_index("field_id", drop=False)
    ours = [json.loads(f) for f in encode_features(frame)]
    reference = json.loads(frame.to_json(drop_id=True))["features"]
    assert [f["id"] for f in ours] == [str(i) for i in frame["field_id"]]
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine["geometry"]["type"] == theirs["geometry"]["type"]
        a = np.asarray(mine["geometry"]["coordinates"][0])
        b = np.asarray(theirs["geometry"]["coordinates"][0])
        assert np.allclose(a, b, rtol=0, atol=1e-12)
        assert mine["properties"].keys() == theirs["properties"].keys()


def test_disk_cache_is_bounded_to_useful_zooms(data_dir: Path, tmp_path: Path) -> None:
    from webapi import tiles
    from webapi.layers import LAYERS

    cog = data_dir / "outputs" / REGION / RUN_ID / "risk_drought.tif"
    renderer = tiles.TileRenderer(cache_size=0)
    layer = LAYERS["risk_drought"]
    deep = _centre_tile(cog, tiles.DISK_CACHE_MAX_ZOOM + 2)
    renderer.tile(cog, layer, *deep, cache_dir=tmp_path)
    renderer.tile(cog, layer, 3, 0, 0, cache_dir=tmp_path)  # far outside the data: empty
    assert [p for p in tmp_path.rglob("*.png")] == []
    renderer.tile(cog, layer, *_centre_tile(cog, 14), cache_dir=tmp_path)
    assert len(list(tmp_path.rglob("*.png"))) == 1
