"""Per-process caches behind the listings: features encoded once per row, bodies built once per ETag."""

from __future__ import annotations

import gzip
import threading
import time

import geopandas as gpd
import pytest
from shapely.geometry import box
from webdata import REGION, RUN_ID  # type: ignore[import-not-found]

from webapi import fields_query
from webapi.fields_query import BodyCache, encode_features, encoded_features, page_links


@pytest.fixture()
def table() -> gpd.GeoDataFrame:
    """30 unit squares with a NaN, a bool and a text column (EPSG:4326), indexed by field_id."""
    ids = [f"F{i:03d}" for i in range(30)]
    frame = gpd.GeoDataFrame(
        {
            "field_id": ids,
            "crop": ["potato", "maize", "马铃薯"] * 10,
            "area_ha": [float(i) if i % 7 else float("nan") for i in range(30)],
            "irrigated": [i % 2 == 0 for i in range(30)],
            "alert_level": list(range(5)) * 6,
        },
        geometry=[box(i, 0, i + 1, 1) for i in range(30)],
        crs="EPSG:4326",
    )
    return frame.set_index("field_id", drop=False)


def test_rows_encoded_per_page_equal_the_whole_table_encode(table):
    whole = encode_features(table)
    version = ("test-table", time.time_ns())
    pages = [table.index[i : i + 7] for i in range(0, 30, 7)]
    for page in reversed(pages):  # out of order, as clients ask
        assert encoded_features(table, version, page) == [whole[i] for i in page]
    shuffled = list(table.index[::-3])
    assert encoded_features(table, version, shuffled) == [whole[i] for i in shuffled]
    assert '"area_ha": null' in whole["F000"] and '"crop": "马铃薯"' in whole["F002"]


def test_fixture_run_pages_are_byte_identical_to_the_whole_table(client, data_dir):
    """A page's features are exactly the strings of a whole-table encode (what the listing sent before)."""
    from webapi.runs import _read_fields

    frame = _read_fields(data_dir / "outputs" / REGION / RUN_ID / "fields.parquet")
    whole = encode_features(frame)
    body = client.get("/api/v1/fields?limit=2&offset=1").data.decode()
    assert body.endswith('"features":[' + ",".join(whole.iloc[1:3]) + "]}")


def test_concurrent_first_requests_encode_each_row_once(table, monkeypatch):
    calls: list[list[str]] = []
    real = fields_query.encode_features

    def counting(frame):
        calls.append(list(frame.index))
        time.sleep(0.05)  # a slow encode, so the threads overlap
        return real(frame)

    monkeypatch.setattr(fields_query, "encode_features", counting)
    version = ("concurrent", time.time_ns())
    results: list[list[str]] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        results.append(encoded_features(table, version, table.index[:10]))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [list(table.index[:10])]  # one encode of the ten rows, not eight
    assert len(results) == 8 and all(r == results[0] for r in results)


def test_body_cache_builds_once_under_concurrency():
    cache = BodyCache(entries=4)
    builds = []

    def build() -> bytes:
        builds.append(1)
        time.sleep(0.05)
        return b'{"x": 1}' * 100

    bodies: list[bytes] = []
    barrier = threading.Barrier(6)

    def ask(gzipped: bool) -> None:
        barrier.wait()
        bodies.append(cache.get_or_build("etag-1", gzipped=gzipped, build=build))

    threads = [threading.Thread(target=ask, args=(i % 2 == 0,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    plain = b'{"x": 1}' * 100
    assert sorted(gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b for b in bodies) == [plain] * 6
    assert cache.get("etag-1", gzipped=False) == plain


def test_page_links():
    def href_at(offset: int) -> str:
        return f"/x?offset={offset}"

    assert page_links("/x", href_at, offset=0, limit=10, matched=10, media_type="t") == [
        {"rel": "self", "type": "t", "href": "/x"}
    ]
    assert [(link["rel"], link["href"]) for link in page_links("/x", href_at, offset=5, limit=10, matched=30, media_type="t")] == [
        ("self", "/x"), ("next", "/x?offset=15"), ("prev", "/x?offset=0")
    ]
    assert [link["rel"] for link in page_links("/x", href_at, offset=20, limit=10, matched=30, media_type="t")] == ["self", "prev"]
