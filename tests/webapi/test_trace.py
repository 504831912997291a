"""Trace API and GS1 Digital Link resolver with a seeded SQLite trace store."""

from __future__ import annotations

import json

import jsonschema
import pytest
from test_api import assert_problem  # type: ignore[import-not-found]
from webdata import EVIL, gln, t  # type: ignore[import-not-found]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def harvest(world, lot: str) -> dict:
    from traceability.epcis import builders

    return builders.harvest_event(
        gtin=world.gtin, lot=lot, quantity_kg=500.0, when=t(0), field_location=world.field_location,
        field_id="DX-000001", crop="potato", variety="陇薯7号", grower_gln=gln(1))


def shipping(world, lot: str, source: int, destination: int) -> dict:
    from traceability.epcis import builders

    return builders.shipping_event(gtin=world.gtin, lot=lot, when=t(3), location=world.packhouse,
                                   source_gln=gln(source), destination_gln=gln(destination))


def test_post_event_records_and_is_idempotent(trace_client, trace_world):
    event = shipping(trace_world, "H-001", source=2, destination=3)  # the processor holds H-001
    first = trace_client.post("/api/v1/trace/events", json=event, headers=bearer(trace_world.keys["processor"]))
    assert first.status_code == 201, first.data
    body = first.get_json()
    assert body["recorded_by"] == gln(2)
    assert body["recorded"][0]["created"] is True
    assert body["recorded"][0]["event_hash"].startswith("ni:///sha-256;")
    again = trace_client.post("/api/v1/trace/events", json=event, headers={"X-API-Key": trace_world.keys["processor"]})
    assert again.status_code == 200 and again.get_json()["recorded"][0]["created"] is False
    assert trace_client.get("/api/v1/trace/lots/H-001/verify").get_json()["ok"] is True


def test_post_epcis_document(trace_client, trace_world):
    from traceability.epcis import builders

    doc = builders.document([harvest(trace_world, "H-100"), harvest(trace_world, "H-101")])
    response = trace_client.post("/api/v1/trace/events", data=json.dumps(doc), content_type="application/ld+json",
                                 headers=bearer(trace_world.keys["cooperative"]))
    assert response.status_code == 201, response.data
    assert len(response.get_json()["recorded"]) == 2


@pytest.mark.parametrize(
    ("role", "status"),
    [("cooperative", 201), ("processor", 403), ("retailer", 403), ("inspector", 403), ("bureau", 403),
     ("logistics", 403), (None, 401), ("unknown-key", 401)],
)
def test_role_matrix_for_harvest(trace_client, trace_world, role, status):
    headers = {} if role is None else bearer(trace_world.keys.get(role, "nsk_000000000000_bogus"))
    response = trace_client.post("/api/v1/trace/events", json=harvest(trace_world, "H-200"), headers=headers)
    if status == 201:
        assert response.status_code == 201
    else:
        assert_problem(response, status)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_write_outside_custody_is_403(trace_client, trace_world):
    # the retailer does not hold H-001 and may not ship it
    response = trace_client.post("/api/v1/trace/events", json=shipping(trace_world, "H-001", 3, 5),
                                 headers=bearer(trace_world.keys["retailer"]))
    assert_problem(response, 403)


def test_revoked_key_is_401(trace_app, trace_world):
    from traceability.signing import key_id_of

    store = trace_app.extensions["nongshu"].get_trace_store()
    store.revoke_api_key(key_id_of(trace_world.keys["cooperative"]))
    response = trace_app.test_client().post("/api/v1/trace/events", json=harvest(trace_world, "H-300"),
                                            headers=bearer(trace_world.keys["cooperative"]))
    assert_problem(response, 401)


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda e: e.pop("eventTime"), 422),
        (lambda e: e.update(type="NotAnEvent"), 422),
        (lambda e: e.update(action="EXPLODE"), 422),
    ],
)
def test_invalid_epcis_is_rejected_with_its_path(trace_client, trace_world, mutate, status):
    event = harvest(trace_world, "H-400")
    mutate(event)
    response = trace_client.post("/api/v1/trace/events", json=event, headers=bearer(trace_world.keys["cooperative"]))
    body = assert_problem(response, status)
    assert body["detail"]


def test_body_errors(trace_client, trace_world):
    headers = bearer(trace_world.keys["cooperative"])
    assert_problem(trace_client.post("/api/v1/trace/events", data="x=1", headers=headers,
                                     content_type="application/x-www-form-urlencoded"), 415, "Content-Type")
    assert_problem(trace_client.post("/api/v1/trace/events", data="{nope", headers=headers,
                                     content_type="application/json"), 400, "body")
    assert_problem(trace_client.post("/api/v1/trace/events", data="[1, 2]", headers=headers,
                                     content_type="application/json"), 422)
    deep = "[" * 100_000 + "]" * 100_000
    assert_problem(trace_client.post("/api/v1/trace/events", data=deep, headers=headers,
                                     content_type="application/json"), 400, "body")
    nested = json.dumps(json.loads("[" * 40 + "]" * 40))
    assert_problem(trace_client.post("/api/v1/trace/events", data=nested, headers=headers,
                                     content_type="application/json"), 400, "body")


def test_oversized_body_is_413(web_settings, trace_world):
    from webapi import create_app

    app = create_app(web_settings.with_(database_url=trace_world.url, max_upload_bytes=1000))
    response = app.test_client().post("/api/v1/trace/events", data="{" + " " * 5000 + "}",
                                      content_type="application/json", headers=bearer(trace_world.keys["cooperative"]))
    assert_problem(response, 413)


def test_failed_authentication_is_rate_limited(web_settings, trace_world):
    from webapi import create_app
    from webapi.ratelimit import Limit

    app = create_app(web_settings.with_(database_url=trace_world.url),
                     limits={"public": Limit(100, 100), "auth_failure": Limit(burst=3, per_minute=1)})
    client = app.test_client()
    statuses = [client.post("/api/v1/trace/events", json={}, headers=bearer("nsk_bad_key")).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    limited = client.post("/api/v1/trace/events", json={}, headers=bearer(trace_world.keys["cooperative"]))
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # another client is not affected
    other = client.post("/api/v1/trace/events", json={}, headers=bearer("nsk_bad"), environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 401


def test_public_lookups_are_rate_limited(web_settings, trace_world):
    from webapi import create_app
    from webapi.ratelimit import Limit

    app = create_app(web_settings.with_(database_url=trace_world.url),
                     limits={"public": Limit(burst=2, per_minute=6), "auth_failure": Limit(10, 10)})
    client = app.test_client()
    url = f"/01/{trace_world.gtin}/10/H-001"
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get(url).headers["Retry-After"] == "10"


def test_export_is_valid_epcis_2(trace_client, standards_dir):
    schema = json.loads((standards_dir / "EPCIS-JSON-Schema.json").read_text())
    response = trace_client.get("/api/v1/trace/lots/H-001")
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    doc = response.get_json(force=True)
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(doc)
    steps = [e.get("bizStep") for e in doc["epcisBody"]["eventList"]]
    assert steps == ["commissioning", "inspecting", "shipping", "receiving"]


def test_verify_and_certificate(trace_client, trace_world):
    report = trace_client.get(f"/api/v1/trace/lots/H-001/verify?gtin={trace_world.gtin}").get_json()
    assert report["ok"] is True and report["events_checked"] == 4
    cert = trace_client.get("/api/v1/trace/lots/H-001/certificate").get_json()
    assert cert["basis"] == "quality_control"


@pytest.mark.parametrize("lot", ["NOPE-1", "H-001'OR'1'='1", "H-001;DROP_TABLE", "%25", "*"])
def test_unknown_lot_is_404(trace_client, lot):
    assert_problem(trace_client.get("/api/v1/trace/lots/" + lot), 404, "lot")
    assert_problem(trace_client.get(f"/api/v1/trace/lots/{lot}/verify"), 404, "lot")


@pytest.mark.parametrize("gtin", ["06901234567892' OR 1=1", "0690123456789;", "%27", "1" * 40])
def test_sql_metacharacters_in_gtin_are_400(trace_client, gtin):
    for path in ("/api/v1/trace/lots/H-001", "/api/v1/trace/lots/H-001/verify", "/api/v1/trace/lots/H-001/certificate"):
        assert_problem(trace_client.get(path, query_string={"gtin": gtin}), 400)


def test_recalled_lot_shows_the_recall_banner(trace_app, trace_world):
    store = trace_app.extensions["nongshu"].get_trace_store()
    bureau = store.authenticate(trace_world.keys["bureau"])
    store.recall(bureau, trace_world.gtin, "H-001", reason="pesticide residue above the limit")
    client = trace_app.test_client()
    html = client.get(f"/01/{trace_world.gtin}/10/H-001").get_data(as_text=True)
    assert 'class="banner recall"' in html and "召回" in html
    view = client.get(f"/01/{trace_world.gtin}/10/H-001", headers={"Accept": "application/json"}).get_json()
    assert view["chain_status"] == "recalled"


@pytest.mark.parametrize("lot", ["L" * 30, "H-001' OR '1'='1", "批次1"])
def test_bad_lot_number_is_400(trace_client, lot):
    assert_problem(trace_client.get("/api/v1/trace/lots/" + lot), 400, "lot")


def test_tampered_chain_is_reported(trace_app, trace_world):
    from sqlalchemy import text

    store = trace_app.extensions["nongshu"].get_trace_store()
    with store.engine.begin() as conn:
        row = conn.execute(text("SELECT seq, document FROM events ORDER BY seq LIMIT 1")).one()
        doc = json.loads(row.document)
        doc["ilmd"]["nongshu:variety"] = "tampered"
        conn.execute(text("UPDATE events SET document = :d WHERE seq = :s"), {"d": json.dumps(doc), "s": row.seq})
    client = trace_app.test_client()
    report = client.get("/api/v1/trace/lots/H-001/verify").get_json()
    assert report["ok"] is False and report["first_broken"]["position"] == 0
    page = client.get(f"/01/{trace_world.gtin}/10/H-001")
    assert 'class="banner bad"' in page.get_data(as_text=True)


# ----------------------------------------------------------------------------- resolver
def test_digital_link_html_json_and_linkset(trace_client, trace_world):
    url = f"/01/{trace_world.gtin}/10/H-001"
    page = trace_client.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "H-001" in html and "DX-000001" in html and "banner good" in html
    assert 'rel="linkset"' in page.headers["Link"]

    view = trace_client.get(url, headers={"Accept": "application/json"}).get_json()
    assert view["lot"] == "H-001" and view["chain_status"] == "intact"
    assert view["season_summary"][0]["alerts"][0]["hazard"] == "frost"

    linkset = trace_client.get(url + "?linkType=linkset")
    assert linkset.mimetype == "application/linkset+json"
    entry = linkset.get_json()["linkset"][0]
    assert entry["anchor"].endswith(url)
    for rel in ("traceability", "certificationInfo", "pip"):
        assert entry[f"https://gs1.org/voc/{rel}"][0]["href"]
    export = entry["https://gs1.org/voc/traceability"][0]["href"].replace("http://localhost", "")
    assert trace_client.get(export).status_code == 200


def test_digital_link_redirects_by_link_type(trace_client, trace_world):
    response = trace_client.get(f"/01/{trace_world.gtin}/10/H-001?linkType=gs1:certificationInfo")
    assert response.status_code == 307
    assert "/api/v1/trace/lots/H-001/certificate" in response.headers["Location"]


def test_digital_link_gtin_short_form_is_normalised(trace_client, trace_world):
    assert trace_client.get(f"/01/{trace_world.gtin[1:]}/10/H-001", headers={"Accept": "application/json"}).status_code == 200


@pytest.mark.parametrize(("gtin", "status"), [("06901234567891", 400), ("123", 400), ("06901234567892", 404)])
def test_digital_link_errors(trace_client, gtin, status):
    assert_problem(trace_client.get(f"/01/{gtin}/10/NOPE"), status)


def test_consumer_page_escapes_user_text(trace_client, trace_world):
    from urllib.parse import quote

    response = trace_client.get(f"/01/{trace_world.gtin}/10/{quote(trace_world.evil_lot, safe='')}")
    assert response.status_code == 200, response.data[:300]
    html = response.get_data(as_text=True)
    assert "<i>X&1" not in html and "&lt;i&gt;X&amp;1" in html


def test_consumer_view_has_no_personal_data(trace_client, trace_world):
    url = f"/01/{trace_world.gtin}/10/H-001"
    for accept in ("text/html", "application/json"):
        text = trace_client.get(url, headers={"Accept": accept}).get_data(as_text=True)
        assert "13800138000" not in text and "620102198001011234" not in text
    for path in ("/api/v1/trace/lots/H-001", "/api/v1/trace/lots/H-001/certificate"):
        text = trace_client.get(path).get_data(as_text=True)
        assert "13800138000" not in text and "620102198001011234" not in text


def test_well_known_resolver_description(trace_client):
    body = trace_client.get("/.well-known/gs1resolver").get_json()
    assert body["supportedPrimaryKeys"] == ["gtin"]
    assert {lt["prefix"] + lt["profile"].rsplit("/", 1)[1] for lt in body["supportedLinkType"]} == {
        "gs1:pip", "gs1:traceability", "gs1:certificationInfo"}


def test_evil_names_never_reach_pages_unescaped(trace_client, client):
    assert EVIL not in client.get("/coop/C02").get_data(as_text=True)


def test_organisation_and_place_names_with_markup_are_shown_as_text(trace_client, trace_world):
    from traceability.epcis import builders

    ship = builders.shipping_event(gtin=trace_world.gtin, lot="H-001", when=t(4, 10), location=trace_world.shop,
                                   source_gln=gln(2), destination_gln=gln(3))
    receive = builders.receiving_event(gtin=trace_world.gtin, lot="H-001", when=t(4, 16), location=trace_world.shop,
                                       source_gln=gln(2), destination_gln=gln(3))
    assert trace_client.post("/api/v1/trace/events", json=ship, headers=bearer(trace_world.keys["processor"])).status_code == 201
    assert trace_client.post("/api/v1/trace/events", json=receive, headers=bearer(trace_world.keys["retailer"])).status_code == 201
    html = trace_client.get(f"/01/{trace_world.gtin}/10/H-001").get_data(as_text=True)
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;超市" in html  # the retailer's public name, as text
