"""Alerts as JSON, CAP 1.2 XML and an Atom feed."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

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
from webapi.fields_query import BodyCache, collection_etag, etag_response, parse_level
from webapi.layers import HAZARDS
from webapi.runs import Run

bp = Blueprint("alerts", __name__, url_prefix="/api/v1")

_ALERT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def filtered_alerts(run: Run) -> list[dict[str, Any]]:
    """The run's alerts matching ``level``, ``hazard``, ``township`` and ``valid`` (date), worst first."""
    args = request.args
    alerts = list(ctx().runs.alerts(run).get("alerts", []))
    if args.get("level"):
        level = parse_level(args["level"], field="level")
        alerts = [a for a in alerts if int(a.get("level", 0)) == level]
    if args.get("hazard"):
        if args["hazard"] not in HAZARDS:
            raise BadRequestError("unknown hazard", field="hazard", expected=", ".join(HAZARDS), got=args["hazard"])
        alerts = [a for a in alerts if a.get("hazard") == args["hazard"]]
    if args.get("township"):
        alerts = [a for a in alerts if str(a.get("township")) == args["township"]]
    if args.get("valid"):
        try:
            day = date.fromisoformat(args["valid"]).isoformat()
        except ValueError:
            raise BadRequestError("not an ISO date", field="valid", expected="YYYY-MM-DD", got=args["valid"]) from None
        alerts = [a for a in alerts if str(a.get("valid_from", ""))[:10] <= day <= str(a.get("valid_to", "9999"))[:10]]
    alerts.sort(key=lambda a: (-int(a.get("level", 0)), -float(a.get("risk") or 0), str(a.get("id"))))
    return alerts


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
    """Alerts of a run, filtered, worst first.
    ---
    get:
      tags: [alerts]
      summary: Alerts (filters level, hazard, township, valid date)
      parameters:
        - run
        - {name: level, in: query, schema: {type: string, enum: ["0", "1", "2", "3", "4", none, blue, yellow, orange, red]}}
        - {name: hazard, in: query, schema: {type: string, enum: [drought, frost, heat, waterlogging, pest, disease]}}
        - {name: township, in: query, schema: {type: string}}
        - {name: valid, in: query, description: alerts valid on this date, schema: {type: string, format: date}}
      responses:
        200:
          description: The alerts
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
    etag = collection_etag(alerts_version(run), request.url)
    if etag in request.if_none_match:
        return etag_response(b"", etag, mimetype="application/json", status=304)
    gzipped = "gzip" in request.accept_encodings
    body = _BODIES.get(etag, gzipped=gzipped)
    if body is None:
        doc = ctx().runs.alerts(run)
        alerts = filtered_alerts(run)
        listing = jsonify(run=run.name, season=run.season, valid_from=doc.get("valid_from"), valid_to=doc.get("valid_to"),
                          count=len(alerts), alerts=alerts)
        _BODIES.put(etag, listing.get_data())
        body = _BODIES.get(etag, gzipped=gzipped)
        assert body is not None
    return etag_response(body, etag, mimetype="application/json", gzipped=gzipped)


#: Recent alert listings by ETag (plain and gzip), per worker: a county's list is requested far more often than it changes.
_BODIES = BodyCache()


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
