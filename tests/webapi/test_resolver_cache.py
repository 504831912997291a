"""HTTP caching of the Digital Link answers: strong ETag, public max-age, 304 on If-None-Match."""

from __future__ import annotations

from webdata import gln, t  # type: ignore[import-not-found]

JSON = {"Accept": "application/json"}


def _url(world) -> str:
    return f"/01/{world.gtin}/10/H-001"


def test_consumer_view_has_a_strong_etag_and_public_max_age(trace_client, trace_world):
    first = trace_client.get(_url(trace_world), headers=JSON)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")  # strong (RFC 9110 §8.8.3)
    assert first.cache_control.public and first.cache_control.max_age == 60
    assert {"Accept", "Accept-Encoding"} <= set(first.vary)
    again = trace_client.get(_url(trace_world), headers=JSON)
    assert again.headers["ETag"] == etag and again.data == first.data


def test_if_none_match_gets_an_empty_304(trace_client, trace_world):
    etag = trace_client.get(_url(trace_world), headers=JSON).headers["ETag"]
    cached = trace_client.get(_url(trace_world), headers={**JSON, "If-None-Match": etag})
    assert cached.status_code == 304 and cached.data == b""
    assert cached.headers["ETag"] == etag
    other = trace_client.get(_url(trace_world), headers={**JSON, "If-None-Match": '"not-this-one"'})
    assert other.status_code == 200 and other.get_json()["lot"] == "H-001"


def test_representations_have_different_etags(trace_client, trace_world):
    url = _url(trace_world)
    plain = trace_client.get(url, headers=JSON)
    packed = trace_client.get(url, headers={**JSON, "Accept-Encoding": "gzip"})
    page = trace_client.get(url, headers={"Accept": "text/html"})
    linkset = trace_client.get(url + "?linkType=linkset")
    tags = [r.headers["ETag"] for r in (plain, packed, page, linkset)]
    assert len(set(tags)) == 4
    assert packed.headers.get("Content-Encoding") == "gzip"
    assert "Accept-Language" in page.vary  # the page language follows the header without ?lang=
    revalidated = trace_client.get(url, headers={"Accept": "text/html", "If-None-Match": tags[2]})
    assert revalidated.status_code == 304


def test_etag_changes_when_an_event_for_the_lot_lands(trace_client, trace_world):
    from traceability.epcis import builders

    before = trace_client.get(_url(trace_world), headers=JSON)
    shipping = builders.shipping_event(
        gtin=trace_world.gtin,
        lot="H-001",
        when=t(3),
        location=trace_world.packhouse,
        source_gln=gln(2),
        destination_gln=gln(3),
    )
    posted = trace_client.post(
        "/api/v1/trace/events",
        json=shipping,
        headers={"Authorization": f"Bearer {trace_world.keys['processor']}"},
    )
    assert posted.status_code == 201, posted.data
    after = trace_client.get(
        _url(trace_world), headers={**JSON, "If-None-Match": before.headers["ETag"]}
    )
    assert after.status_code == 200  # the old tag no longer matches: a full, new view
    assert after.headers["ETag"] != before.headers["ETag"]
    assert len(after.get_json()["custody"]) == len(before.get_json()["custody"]) + 1


def test_unknown_lot_is_not_cacheable(trace_client, trace_world):
    response = trace_client.get(f"/01/{trace_world.gtin}/10/NO-SUCH-LOT", headers=JSON)
    assert response.status_code == 404
    assert "ETag" not in response.headers and not response.cache_control.public
