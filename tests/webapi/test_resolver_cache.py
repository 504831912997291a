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


ODD_LOTS = ("H-001", "A/B %C:d?e&f#g+h", "x'y(z)*,;!")


def test_link_targets_are_the_urls_url_for_builds(trace_app):
    """The resolver formats its link URLs directly (a hot path); they must stay what Flask's URL
    map builds for the same routes, including under a script root and for lots that need
    percent-encoding (GS1 AI 10 character set 82)."""
    from flask import url_for

    from webapi.blueprints.resolver import _links, _self_link

    gtin = "06900000000014"
    with trace_app.test_request_context("/x", base_url="http://example.org:8080/nongshu/"):
        for lot in ODD_LOTS:
            links = _links(gtin, lot)
            expected = {
                "gs1:pip": url_for("resolver.digital_link", gtin=gtin, lot=lot, linkType="gs1:pip", _external=True),
                "gs1:traceability": url_for("trace.export_lot", lot=lot, gtin=gtin, _external=True),
                "gs1:certificationInfo": url_for("trace.lot_certificate", lot=lot, gtin=gtin, _external=True),
            }
            assert {k: v["href"] for k, v in links.items()} == expected
            assert _self_link(gtin, lot, "linkType=linkset") == url_for(
                "resolver.digital_link", gtin=gtin, lot=lot, linkType="linkset", _external=True
            )
        assert links["gs1:traceability"]["href"] == (
            "http://example.org:8080/nongshu/api/v1/trace/lots/x%27y%28z%29%2A%2C%3B%21?gtin=06900000000014"
        )


def test_accept_negotiation_prefers_json_only_when_asked_for_more_than_html(trace_app):
    """Content negotiation (RFC 9110 §12.5.1): JSON when its quality beats text/html's."""
    from webapi.blueprints.resolver import LINKSET_TYPE, _wants

    cases = {
        None: (False, False),
        "application/json": (True, False),
        "APPLICATION/JSON": (True, False),
        "text/html,application/json;q=0.9": (False, False),
        "application/json,text/html;q=0.5": (True, False),
        "*/*": (False, False),
        "application/*,text/html;q=0.1": (True, True),
        "application/linkset+json": (False, True),
        "text/html, */*;q=0.8": (False, False),
    }
    for accept, (json_wanted, linkset_wanted) in cases.items():
        headers = {} if accept is None else {"Accept": accept}
        with trace_app.test_request_context("/x", headers=headers):
            assert _wants("application/json") is json_wanted, accept
            assert _wants(LINKSET_TYPE) is linkset_wanted, accept


def test_json_view_is_what_jsonify_writes(trace_client, trace_world):
    """The stored JSON text served as is equals Flask's jsonify of the same view."""
    import json

    got = trace_client.get(_url(trace_world), headers=JSON)
    assert got.mimetype == "application/json" and got.data.endswith(b"\n")
    view = got.get_json()
    assert got.data.decode() == json.dumps(view, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert view["lot"] == "H-001" and view["chain_status"] == "intact"
