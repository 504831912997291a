"""Alerts as JSON, CAP 1.2 (validated against the official XSD) and Atom."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
import xmlschema
from test_api import assert_problem  # type: ignore[import-not-found]
from webdata import RUN  # type: ignore[import-not-found]

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def cap_schema(standards_dir):
    return xmlschema.XMLSchema(str(standards_dir / "CAP-v1.2.xsd"))


def test_alert_list_sorted_worst_first(client):
    body = client.get("/api/v1/alerts").get_json()
    assert body["run"] == RUN and body["count"] == 3
    assert [a["level"] for a in body["alerts"]] == [4, 2, 1]


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ({"level": "red"}, ["2026-DX-000001-frost"]),
        ({"level": "2"}, ["2026-DX-000002-drought"]),
        ({"hazard": "pest"}, ["2026-DX-000003-pest"]),
        ({"township": "T01"}, ["2026-DX-000001-frost", "2026-DX-000002-drought"]),
        ({"valid": "2026-05-10"}, ["2026-DX-000001-frost", "2026-DX-000002-drought", "2026-DX-000003-pest"]),
        ({"valid": "2026-06-01"}, []),
    ],
)
def test_alert_filters(client, query, ids):
    assert [a["id"] for a in client.get("/api/v1/alerts", query_string=query).get_json()["alerts"]] == ids


@pytest.mark.parametrize(
    ("query", "field"),
    [({"level": "9"}, "level"), ({"hazard": "volcano"}, "hazard"), ({"valid": "10/05/2026"}, "valid")],
)
def test_alert_filter_errors(client, query, field):
    assert_problem(client.get("/api/v1/alerts", query_string=query), 400, field)


def test_alerts_cap_is_valid_cap_1_2(client, cap_schema):
    response = client.get("/api/v1/alerts.cap")
    assert response.status_code == 200 and response.mimetype == "application/cap+xml"
    cap_schema.validate(response.data)
    root = ET.fromstring(response.data)
    infos = root.findall(f"{CAP}info")
    assert len(infos) == 6  # 3 alerts x (zh-CN, en)
    assert [i.findtext(f"{CAP}language") for i in infos[:2]] == ["zh-CN", "en-US"]
    # China's colours -> CAP severity, hazards -> category
    assert [i.findtext(f"{CAP}severity") for i in infos[::2]] == ["Extreme", "Moderate", "Minor"]
    assert [i.findtext(f"{CAP}category") for i in infos[::2]] == ["Met", "Met", "Env"]
    assert infos[0].findtext(f"{CAP}eventCode/{CAP}value") == "frost"
    assert [i.findtext(f"{CAP}certainty") for i in infos[::2]] == ["Likely", "Likely", "Possible"]
    assert infos[0].findtext(f"{CAP}expires") == "2026-05-24T23:59:59+08:00"


def test_cap_polygon_is_the_field_boundary(client, cap_schema):
    from pyproj import Transformer
    from webdata import X0, Y0  # type: ignore[import-not-found]

    response = client.get("/api/v1/alerts/2026-DX-000001-frost.cap")
    cap_schema.validate(response.data)
    polygon = ET.fromstring(response.data).findtext(f"{CAP}info/{CAP}area/{CAP}polygon")
    points = [tuple(map(float, p.split(","))) for p in polygon.split()]
    assert points[0] == points[-1] and len(points) == 5
    lon, lat = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True).transform(X0 + 800, Y0 - 800)
    assert min(abs(p[0] - lat) + abs(p[1] - lon) for p in points) < 1e-5  # "lat,lon" order


def test_single_alert_unknown_is_404(client):
    assert_problem(client.get("/api/v1/alerts/nope.cap"), 404, "alert_id")


def test_cap_instruction_is_the_advice_of_the_rules(client):
    from models.advice import advice_for

    alert = next(a for a in client.get("/api/v1/alerts").get_json()["alerts"] if a["hazard"] == "frost")
    root = ET.fromstring(client.get("/api/v1/alerts/2026-DX-000001-frost.cap").data)
    got = [i.findtext(f"{CAP}instruction") for i in root.findall(f"{CAP}info")]
    expected = ["\n".join(a.text for a in advice_for(alert, None, lang=lang)) for lang in ("zh", "en")]
    assert got == expected and all(expected)


def test_urgency_follows_validity():
    from webapi.cap import urgency

    cst = timezone(timedelta(hours=8))
    assert urgency("2026-05-10", "2026-05-24", datetime(2026, 5, 1, tzinfo=cst)) == "Future"
    assert urgency("2026-05-10", "2026-05-24", datetime(2026, 5, 24, 23, tzinfo=cst)) == "Expected"
    assert urgency("2026-05-10", "2026-05-24", datetime(2026, 5, 25, tzinfo=cst)) == "Past"


def test_atom_feed_links_each_cap_alert(client):
    response = client.get("/api/v1/alerts.atom")
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 3
    link = entries[0].find(f"{ATOM}link")
    assert link.get("type") == "application/cap+xml"
    path = link.get("href").replace("http://localhost", "")
    assert client.get(path).status_code == 200


def test_alert_list_revalidates_with_etag_and_follows_a_rewritten_file(tmp_path):
    """A repeated request with the ETag gets 304 and no body; rewriting alerts.json changes the answer."""
    import json

    from webdata import make_run  # type: ignore[import-not-found]

    from nongshu.settings import Settings
    from webapi import create_app

    run_dir = make_run(tmp_path / "outputs")
    client = create_app(Settings.from_env({"NONGSHU_DATA_DIR": str(tmp_path)})).test_client()
    first = client.get("/api/v1/alerts", headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "gzip" and first.headers["ETag"]
    assert "Accept-Encoding" in first.headers["Vary"]
    again = client.get("/api/v1/alerts", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    filtered = client.get("/api/v1/alerts?level=red")
    assert filtered.headers["ETag"] != first.headers["ETag"] and filtered.get_json()["count"] == 1

    doc = json.loads((run_dir / "alerts.json").read_text())
    doc["alerts"] = [a for a in doc["alerts"] if a["level"] != 4]
    (run_dir / "alerts.json").write_text(json.dumps(doc, indent=2))
    changed = client.get("/api/v1/alerts", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.get_json()["count"] == 2
    assert [a["level"] for a in changed.get_json()["alerts"]] == [2, 1]
