"""Alerts as JSON, CAP 1.2 XML and an Atom feed."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from cachetools import LRUCache
from flask import Blueprint, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from models.alerts import HAZARD_INFO
from webapi.advice import advice_for_alert, advice_text
from webapi.app import ctx
from webapi.blueprints.api import current_run
from webapi.cap import CAP_MEDIA_TYPE, build_atom, build_cap
from webapi.errors import BadRequestError, NotFoundError
from webapi.fields_query import (
    BodyCache,
    collection_etag,
    etag_response,
    page_links,
    parse_int,
    parse_level,
)
from webapi.layers import HAZARDS
from webapi.runs import Run

bp = Blueprint("alerts", __name__, url_prefix="/api/v1")

_ALERT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


#: Page size of ``/api/v1/alerts`` when ``limit`` is not given: the demo region of the tests (834 alerts)
#: fits in one page; a 10,000-field run (27,814 synthetic alerts) does not and says so with a ``next`` link.
DEFAULT_ALERT_LIMIT = 1000
#: Largest page: 5,000 alerts are about 1.8 MB of JSON (60 KB gzip), less than a page of 1,000 fields (2.4 MB).
MAX_ALERT_LIMIT = 5000
MAX_OFFSET = 10_000_000


@dataclass(frozen=True)
class AlertFilter:
    """Parsed ``/alerts`` filters; None means "any"."""

    level: int | None = None
    hazard: str | None = None
    township: str | None = None
    valid: str | None = None  # ISO date YYYY-MM-DD

    def matches(self, alert: Mapping[str, Any]) -> bool:
        """Whether ``alert`` passes every given filter (``valid``: valid_from <= day <= valid_to)."""
        if self.level is not None and int(alert.get("level", 0)) != self.level:
            return False
        if self.hazard is not None and alert.get("hazard") != self.hazard:
            return False
        if self.township is not None and str(alert.get("township")) != self.township:
            return False
        if self.valid is not None:
            return str(alert.get("valid_from", ""))[:10] <= self.valid <= str(alert.get("valid_to", "9999"))[:10]
        return True


def parse_alert_filter(args: Mapping[str, str]) -> AlertFilter:
    """The filters ``level``, ``hazard``, ``township`` and ``valid`` of a query; 400 naming the bad one."""
    level = parse_level(args["level"], field="level") if args.get("level") else None
    hazard = args.get("hazard") or None
    if hazard is not None and hazard not in HAZARDS:
        raise BadRequestError("unknown hazard", field="hazard", expected=", ".join(HAZARDS), got=hazard)
    valid = None
    if args.get("valid"):
        try:
            valid = date.fromisoformat(args["valid"]).isoformat()
        except ValueError:
            raise BadRequestError("not an ISO date", field="valid", expected="YYYY-MM-DD", got=args["valid"]) from None
    return AlertFilter(level=level, hazard=hazard, township=args.get("township") or None, valid=valid)


def worst_first(alerts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``alerts`` by level (highest first), then risk (highest first), then id."""
    return sorted(alerts, key=lambda a: (-int(a.get("level", 0)), -float(a.get("risk") or 0), str(a.get("id"))))


def select_alerts(ranked: Sequence[dict[str, Any]], where: AlertFilter) -> Sequence[dict[str, Any]]:
    """The alerts of the worst-first list ``ranked`` passing ``where``, still worst first (no copy without filters)."""
    if where == AlertFilter():
        return ranked
    return [a for a in ranked if where.matches(a)]


_RANKED: LRUCache[tuple[str, int, int], list[dict[str, Any]]] = LRUCache(maxsize=8)
_RANKED_LOCK = threading.Lock()


def ranked_alerts(run: Run) -> list[dict[str, Any]]:
    """The run's alerts worst first, sorted once per ``alerts.json`` version (per process; do not mutate).

    Reading ``alerts.json`` is single-flight in :class:`~webapi.runs.RunStore` and happens outside
    the lock; sorting 28,000 alerts (a 10,000-field run) takes about 40 ms and happens under it, so
    concurrent first requests wait for one sort.
    """
    version = alerts_version(run)
    with _RANKED_LOCK:
        hit = _RANKED.get(version)
    if hit is not None:
        return hit
    alerts = ctx().runs.alerts(run).get("alerts", [])
    with _RANKED_LOCK:
        hit = _RANKED.get(version)
        if hit is None:
            hit = _RANKED[version] = worst_first(alerts)
        return hit


def filtered_alerts(run: Run) -> list[dict[str, Any]]:
    """All the run's alerts matching the request's ``level``, ``hazard``, ``township`` and ``valid`` (date),
    worst first, unpaged (CAP and Atom are whole documents)."""
    return list(select_alerts(ranked_alerts(run), parse_alert_filter(request.args)))


def _geometry_lookup(run: Run):  # noqa: ANN202
    fields = ctx().runs.fields(run)

    def geometry_of(alert: dict[str, Any]) -> BaseGeometry | None:
        target = str(alert.get("target_id"))
        if alert.get("target_type", "field") == "field":
            return fields.geometry.get(target) if target in fields.index else None
        if alert.get("target_type") == "township" and "township" in fields:
            members = fields[fields["township"].astype(str) == target]
            return unary_union(list(members.geometry)).convex_hull if len(members) else None
        return None

    return geometry_of


def _advice_lookup(run: Run):  # noqa: ANN202
    operations = ctx().runs.operations(run)

    def advice_of(alert: dict[str, Any], lang: str) -> str | None:
        return advice_text(advice_for_alert(alert, lang, operations))

    return advice_of


def _cap_response(run: Run, alerts: list[dict[str, Any]], identifier: str) -> Response:
    host = urlsplit(request.host_url).hostname or "localhost"

    def web_of(alert: dict[str, Any]) -> str:
        return url_for("pages.field_page", field_id=alert.get("target_id"), run=run.name, _external=True)

    body = build_cap(
        identifier, f"nongshu@{host}", alerts, geometry_of=_geometry_lookup(run), advice_of=_advice_lookup(run), web_of=web_of,
        note=f"run {run.name}",
    )
    return Response(body, mimetype=CAP_MEDIA_TYPE)


@bp.get("/alerts")
def list_alerts() -> ResponseReturnValue:
    """Alerts of a run, filtered, worst first, in pages.
    ---
    get:
      tags: [alerts]
      summary: Alerts (filters level, hazard, township, valid date), worst first, paged with limit/offset
      description: >-
        Alerts sorted by level, then risk (both highest first), then id, so the first page holds the
        worst. `numberMatched` (and, as before paging, `count`) is the number of alerts matching the
        filters; `numberReturned` the number on this page; `links` has `self`, and `next` / `prev`
        (same filters and limit) while there are more. Follow `next` until it is absent to get every
        alert. CAP (`/alerts.cap`) and Atom (`/alerts.atom`) stay whole, unpaged documents.
      parameters:
        - run
        - {name: level, in: query, schema: {type: string, enum: ["0", "1", "2", "3", "4", none, blue, yellow, orange, red]}}
        - {name: hazard, in: query, schema: {type: string, enum: [drought, frost, heat, waterlogging, pest, disease]}}
        - {name: township, in: query, schema: {type: string}}
        - {name: valid, in: query, description: alerts valid on this date, schema: {type: string, format: date}}
        - {name: limit, in: query, description: alerts per page, schema: {type: integer, minimum: 1, maximum: 5000, default: 1000}}
        - {name: offset, in: query, description: alerts to skip, schema: {type: integer, minimum: 0, maximum: 10000000, default: 0}}
      responses:
        200:
          description: A page of alerts
          headers:
            ETag: {schema: {type: string}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/AlertList'}
        304:
          description: Not modified (If-None-Match matched the ETag)
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
    """
    run = current_run()
    args = request.args
    where = parse_alert_filter(args)
    limit = parse_int(args.get("limit"), "limit", DEFAULT_ALERT_LIMIT, 1, MAX_ALERT_LIMIT)
    offset = parse_int(args.get("offset"), "offset", 0, 0, MAX_OFFSET)
    etag = collection_etag(alerts_version(run), request.url)
    if etag in request.if_none_match:
        return etag_response(b"", etag, mimetype="application/json", status=304)
    gzipped = "gzip" in request.accept_encodings

    def build() -> bytes:
        matched = select_alerts(ranked_alerts(run), where)  # reads alerts.json once per process and version
        doc = ctx().runs.alerts(run)
        page = list(matched[offset : offset + limit])

        def href_at(start: int) -> str:
            query = {**args.to_dict(), "offset": str(start), "limit": str(limit)}
            return url_for("alerts.list_alerts", _external=True, **query)

        links = page_links(request.url, href_at, offset=offset, limit=limit, matched=len(matched),
                           media_type="application/json")
        listing = jsonify(run=run.name, season=run.season, valid_from=doc.get("valid_from"), valid_to=doc.get("valid_to"),
                          count=len(matched), numberMatched=len(matched), numberReturned=len(page), links=links,
                          alerts=page)
        return listing.get_data()

    body = _BODIES.get_or_build(etag, gzipped=gzipped, build=build)
    return etag_response(body, etag, mimetype="application/json", gzipped=gzipped)


#: Recent alert listings by ETag (plain and gzip), per worker: a county's list is requested far more often than it changes.
_BODIES = BodyCache(entries=64)


def alerts_version(run: Run) -> tuple[str, int, int]:
    """Identity of the run's ``alerts.json``: path, modification time (ns) and size (zeros when absent)."""
    path = run.path / "alerts.json"
    try:
        stat = path.stat()
    except FileNotFoundError:
        return str(path), 0, 0
    return str(path), stat.st_mtime_ns, stat.st_size


@bp.get("/alerts.cap")
def alerts_cap() -> ResponseReturnValue:
    """All current alerts of a run as one CAP 1.2 message.
    ---
    get:
      tags: [alerts]
      summary: Alerts as one CAP 1.2 message (an info block per alert and language)
      parameters:
        - run
        - {name: level, in: query, schema: {type: string, enum: ["0", "1", "2", "3", "4", none, blue, yellow, orange, red]}}
        - {name: hazard, in: query, schema: {type: string, enum: [drought, frost, heat, waterlogging, pest, disease]}}
        - {name: township, in: query, schema: {type: string}}
        - {name: valid, in: query, schema: {type: string, format: date}}
      responses:
        200:
          description: CAP 1.2 XML
          content:
            application/cap+xml:
              schema: {type: string}
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
    """
    run = current_run()
    return _cap_response(run, filtered_alerts(run), f"nongshu-{run.name}-alerts")


@bp.get("/alerts/<alert_id>.cap")
def alert_cap(alert_id: str) -> ResponseReturnValue:
    """One alert as a CAP 1.2 message.
    ---
    get:
      tags: [alerts]
      summary: One alert as CAP 1.2 XML (zh-CN and en info blocks)
      parameters:
        - {name: alert_id, in: path, required: true, schema: {type: string}}
        - run
      responses:
        200:
          description: CAP 1.2 XML
          content:
            application/cap+xml:
              schema: {type: string}
        404:
          $ref: '#/components/responses/Problem'
    """
    run = current_run()
    if _ALERT_ID.match(alert_id):
        for alert in ctx().runs.alerts(run).get("alerts", []):
            if str(alert.get("id")) == alert_id:
                return _cap_response(run, [alert], f"nongshu-{run.name}-{alert_id}")
    raise NotFoundError("unknown alert", field="alert_id", expected=f"an alert id of run {run.name}", got=alert_id)


@bp.get("/alerts.atom")
def alerts_atom() -> ResponseReturnValue:
    """Atom feed of the current CAP alerts.
    ---
    get:
      tags: [alerts]
      summary: Atom feed linking each current alert's CAP message
      parameters:
        - run
      responses:
        200:
          description: Atom 1.0 feed
          content:
            application/atom+xml:
              schema: {type: string}
        404:
          $ref: '#/components/responses/Problem'
    """
    run = current_run()
    entries = []
    for alert in filtered_alerts(run):
        if int(alert.get("level", 0)) < 1:
            continue
        names = HAZARD_INFO.get(str(alert.get("hazard")), {"zh": alert.get("hazard"), "en": alert.get("hazard")})
        event_zh, event_en = names["zh"], names["en"]
        link = url_for("alerts.alert_cap", alert_id=alert["id"], run=run.name, _external=True)
        entries.append({
            "id": link,
            "title": f"{alert.get('target_id')} {event_zh} / {event_en} ({alert.get('colour')})",
            "summary": f"level {alert.get('level')} {alert.get('colour')}, valid {alert.get('valid_from')} to {alert.get('valid_to')}",
            "link": link,
        })
    body = build_atom(f"urn:nongshu:alerts:{run.name}", f"农数预警 Nongshu alerts {run.name}", request.url, entries)
    return Response(body, mimetype="application/atom+xml")
