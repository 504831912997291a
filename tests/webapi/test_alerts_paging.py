"""Paging of ``/api/v1/alerts``: limit/offset, next/prev links, totals, ETags per page, filters with paging.

The run has 1,203 alerts whose worst-first order is known by construction
(:func:`webdata.many_alerts`): more than one default page (1,000 alerts).
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from test_api import assert_problem  # type: ignore[import-not-found]
from webdata import RUN, make_run, many_alerts, write_alerts  # type: ignore[import-not-found]

N = 1203
ALERTS, EXPECTED = many_alerts(N)
BY_ID = {a["id"]: a for a in ALERTS}
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def paged_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("paged")
    write_alerts(make_run(root / "outputs"), ALERTS)
    return root


@pytest.fixture()
def pclient(paged_dir: Path):
    from nongshu.settings import Settings
    from webapi import create_app

    app = create_app(Settings.from_env({"NONGSHU_DATA_DIR": str(paged_dir)}))
    app.config["TESTING"] = True
    return app.test_client()


def local(href: str) -> str:
    """The path and query of an absolute link of the test app."""
    parts = urlsplit(href)
    return f"{parts.path}?{parts.query}"


def link(body: dict, rel: str) -> str | None:
    hrefs = [entry["href"] for entry in body["links"] if entry["rel"] == rel]
    assert len(hrefs) <= 1
    return hrefs[0] if hrefs else None


def follow(client, url: str) -> tuple[list[str], list[dict]]:
    """Every alert id reached by following rel=next from ``url``, and the pages' bodies."""
    ids, pages = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.data[:300]
        body = response.get_json()
        pages.append(body)
        ids += [a["id"] for a in body["alerts"]]
        nxt = link(body, "next")
        url = local(nxt) if nxt else None
    return ids, pages


def expected_where(**attrs) -> list[str]:
    """EXPECTED restricted to alerts whose attributes equal ``attrs`` (a plain filter over the construction)."""
    return [i for i in EXPECTED if all(BY_ID[i][k] == v for k, v in attrs.items())]


def test_pages_cover_every_alert_once_worst_first(pclient):
    ids, pages = follow(pclient, "/api/v1/alerts?limit=100")
    assert ids == EXPECTED  # each alert once, in level / risk / id order
    assert len(pages) == 13  # 12 full pages of 100 and one of 3
    assert [p["numberReturned"] for p in pages] == [100] * 12 + [3]
    assert all(p["numberMatched"] == N and p["count"] == N and p["run"] == RUN for p in pages)
    assert all(p["numberReturned"] == len(p["alerts"]) for p in pages)
    assert [a["level"] for a in pages[0]["alerts"][:3]] == [4, 4, 4]
    assert pages[-1]["alerts"][-1]["risk"] is None and pages[-1]["alerts"][-1]["level"] == 1


def test_default_page_is_the_worst_thousand_with_a_next_link(pclient):
    body = pclient.get("/api/v1/alerts").get_json()
    assert body["numberMatched"] == N and body["numberReturned"] == 1000
    assert [a["id"] for a in body["alerts"]] == EXPECTED[:1000]
    nxt = parse_qs(urlsplit(link(body, "next")).query)
    assert nxt["offset"] == ["1000"] and nxt["limit"] == ["1000"]
    assert link(body, "prev") is None
    rest = pclient.get(local(link(body, "next"))).get_json()
    assert [a["id"] for a in rest["alerts"]] == EXPECTED[1000:] and link(rest, "next") is None


def test_largest_page_holds_the_whole_run(pclient):
    body = pclient.get("/api/v1/alerts?limit=5000").get_json()
    assert [a["id"] for a in body["alerts"]] == EXPECTED
    assert [entry["rel"] for entry in body["links"]] == ["self"]


def test_prev_links_step_back_and_stop_at_zero(pclient):
    body = pclient.get("/api/v1/alerts?limit=10&offset=25").get_json()
    assert [a["id"] for a in body["alerts"]] == EXPECTED[25:35]
    prev = parse_qs(urlsplit(link(body, "prev")).query)
    assert prev["offset"] == ["15"] and prev["limit"] == ["10"]
    first = pclient.get("/api/v1/alerts?limit=10&offset=5").get_json()
    assert parse_qs(urlsplit(link(first, "prev")).query)["offset"] == ["0"]
    assert link(body, "self").endswith("/api/v1/alerts?limit=10&offset=25")


def test_offset_past_the_end_is_an_empty_page(pclient):
    body = pclient.get(f"/api/v1/alerts?offset={N + 7}&limit=50").get_json()
    assert body["alerts"] == [] and body["numberReturned"] == 0 and body["numberMatched"] == N
    assert link(body, "next") is None and link(body, "prev") is not None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "5001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"offset": "10000001"}, "offset"),
        ({"limit": "10", "level": "purple"}, "level"),
    ],
)
def test_bad_paging_parameters_are_400_naming_the_field(pclient, query, field):
    body = assert_problem(pclient.get("/api/v1/alerts", query_string=query), 400, field)
    assert body["detail"]


@pytest.mark.parametrize(
    ("query", "attrs"),
    [
        ({"hazard": "frost"}, {"hazard": "frost"}),
        ({"level": "red"}, {"level": 4}),
        ({"level": "2", "township": "T03"}, {"level": 2, "township": "T03"}),
        ({"valid": "2026-05-12"}, {"valid_from": "2026-05-10"}),  # only the even alerts (10th to 24th May)
        ({"valid": "2026-05-12", "township": "T02"}, {"valid_from": "2026-05-10", "township": "T02"}),
        ({"valid": "2026-05-22"}, {}),  # every alert is valid on the 22nd
    ],
)
def test_filters_combined_with_paging(pclient, query, attrs):
    expected = expected_where(**attrs)
    assert 30 < len(expected) <= N
    url = "/api/v1/alerts?" + "&".join(f"{k}={v}" for k, v in query.items()) + "&limit=30"
    ids, pages = follow(pclient, url)
    assert ids == expected
    assert all(p["numberMatched"] == len(expected) for p in pages)
    for page in pages[:-1]:  # the next links keep the filters
        assert {k: [v] for k, v in query.items()}.items() <= parse_qs(urlsplit(link(page, "next")).query).items()


def test_each_page_has_its_etag_and_revalidates(pclient):
    one = pclient.get("/api/v1/alerts?limit=50", headers={"Accept-Encoding": "gzip"})
    two = pclient.get("/api/v1/alerts?limit=50&offset=50", headers={"Accept-Encoding": "gzip"})
    assert one.status_code == two.status_code == 200
    assert one.headers["ETag"] and two.headers["ETag"] and one.headers["ETag"] != two.headers["ETag"]
    assert one.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in one.headers["Vary"]
    again = pclient.get("/api/v1/alerts?limit=50", headers={"If-None-Match": one.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    crossed = pclient.get("/api/v1/alerts?limit=50&offset=50", headers={"If-None-Match": one.headers["ETag"]})
    assert crossed.status_code == 200
    assert [a["id"] for a in crossed.get_json()["alerts"]] == EXPECTED[50:100]
    plain = pclient.get("/api/v1/alerts?limit=50&offset=50")  # from the body cache: same document
    assert gzip.decompress(two.data) == plain.data == crossed.data


def test_cached_pages_follow_a_rewritten_alerts_file(tmp_path):
    from nongshu.settings import Settings
    from webapi import create_app

    run = make_run(tmp_path / "outputs")
    write_alerts(run, ALERTS)
    client = create_app(Settings.from_env({"NONGSHU_DATA_DIR": str(tmp_path)})).test_client()
    first = client.get("/api/v1/alerts?limit=20&offset=20")
    assert [a["id"] for a in first.get_json()["alerts"]] == EXPECTED[20:40]
    kept = [a for a in ALERTS if a["level"] != 4]
    write_alerts(run, kept + [{**BY_ID[EXPECTED[0]], "id": "2026-X", "level": 1, "colour": "blue", "risk": 0.05}])
    changed = client.get("/api/v1/alerts?limit=20&offset=20", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
    level4 = len(expected_where(level=4))
    assert changed.get_json()["numberMatched"] == N - level4 + 1
    assert [a["id"] for a in changed.get_json()["alerts"]] == EXPECTED[level4 + 20 : level4 + 40]


def test_cap_and_atom_stay_whole_documents(pclient):
    """limit/offset do not apply to the CAP message and the Atom feed: they carry every matching alert."""
    feed = ET.fromstring(pclient.get("/api/v1/alerts.atom?limit=1").data)
    assert len(feed.findall(f"{ATOM}entry")) == N  # every alert is blue or above
    matching = expected_where(hazard="heat", township="T03")
    assert len(matching) > 1
    cap = ET.fromstring(pclient.get("/api/v1/alerts.cap?hazard=heat&township=T03&limit=1").data)
    infos = cap.findall("{urn:oasis:names:tc:emergency:cap:1.2}info")
    assert len(infos) == 2 * len(matching)  # zh-CN and en per alert
