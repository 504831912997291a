"""Trace API: record EPCIS events (API-key auth), export a lot as EPCIS, verify its chain."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from traceability.errors import AuthError, EpcisValidationError
from traceability.gs1 import validate_lot
from webapi.app import ctx
from webapi.errors import BadRequestError, UnauthorizedError, WebApiError
from webapi.trace_adapter import register_gs1_converter

bp = Blueprint("trace", __name__, url_prefix="/api/v1/trace")
bp.record_once(register_gs1_converter)  # before the routes below use <dlvalue:lot>

#: Deepest JSON nesting accepted in a request body (an EPCIS event nests about 6 levels).
MAX_JSON_DEPTH = 32
_JSON_TYPES = ("application/json", "application/ld+json")


class UnsupportedMediaTypeError(WebApiError):
    """The request body is not JSON (415)."""

    status = 415


def client_id() -> str:
    """The client address used for rate limits (``remote_addr``; behind a proxy see ``proxy_hops``)."""
    return request.remote_addr or "unknown"


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, stopping once it exceeds ``limit``."""
    depth, frontier = 0, [value]
    while frontier:
        depth += 1
        if depth > limit:
            return depth
        nxt: list[Any] = []
        for item in frontier:
            if isinstance(item, dict):
                nxt.extend(v for v in item.values() if isinstance(v, dict | list))
            elif isinstance(item, list):
                nxt.extend(v for v in item if isinstance(v, dict | list))
        frontier = nxt
    return depth


def parse_json_body() -> tuple[bytes, Any]:
    """The raw body and its parsed JSON; 415 for other media types, 400 for bad or too deep JSON."""
    if request.mimetype not in _JSON_TYPES:
        raise UnsupportedMediaTypeError(
            "the body must be JSON", field="Content-Type", expected=" or ".join(_JSON_TYPES), got=request.mimetype or None
        )
    raw = request.get_data(cache=True)
    try:
        parsed = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as err:
        raise BadRequestError(f"the body is not valid JSON: {err}", field="body") from err
    except RecursionError:
        raise BadRequestError("JSON nested too deeply", field="body", expected=f"at most {MAX_JSON_DEPTH} levels") from None
    if json_depth(parsed, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadRequestError("JSON nested too deeply", field="body", expected=f"at most {MAX_JSON_DEPTH} levels")
    return raw, parsed


def api_key() -> str | None:
    """The API key from ``Authorization: Bearer <key>`` or ``X-API-Key``."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("X-API-Key") or None


def authenticate() -> Any:
    """The :class:`~traceability.store.Principal` of the request; 401 and rate-limited failures otherwise."""
    context = ctx()
    client = client_id()
    context.limiter.check("auth_failure", client)
    key = api_key()
    if not key:
        context.limiter.hit("auth_failure", client)
        raise UnauthorizedError("an API key is required", field="Authorization", expected="Authorization: Bearer <API key>")
    try:
        return context.get_trace_store().authenticate(key)
    except AuthError:
        context.limiter.hit("auth_failure", client)
        raise


def resolve_lot(lot: str) -> tuple[str, str]:
    """``(gtin, lot)`` from the path's lot number and an optional ``?gtin=``."""
    validate_lot(lot)
    gtin = request.args.get("gtin") or None
    return ctx().get_trace_store().find_lot(lot, gtin)


@bp.post("/events")
def post_events() -> ResponseReturnValue:
    """Record one EPCIS 2.0 event or a whole EPCISDocument.
    ---
    post:
      tags: [trace]
      summary: Record EPCIS 2.0 events (one event or an EPCISDocument), API key required
      security: [{apiKey: []}]
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object}
          application/ld+json:
            schema: {type: object}
      responses:
        200:
          description: Every event was already recorded (idempotent replay)
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Recorded'}
        201:
          description: Events recorded
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Recorded'}
        400:
          $ref: '#/components/responses/Problem'
        401:
          $ref: '#/components/responses/Problem'
        403:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
        409:
          $ref: '#/components/responses/Problem'
        413:
          $ref: '#/components/responses/Problem'
        415:
          $ref: '#/components/responses/Problem'
        422:
          $ref: '#/components/responses/Problem'
        429:
          $ref: '#/components/responses/Problem'
    """
    principal = authenticate()
    raw, parsed = parse_json_body()
    store = ctx().get_trace_store()
    if not isinstance(parsed, dict):
        raise EpcisValidationError("expected an EPCIS event or EPCISDocument object", source="body", field="$")
    if parsed.get("type") == "EPCISDocument":
        recorded = store.import_document(principal, raw, max_bytes=ctx().settings.max_upload_bytes, source="body")
    else:
        recorded = [store.record_event(principal, parsed, context=parsed.get("@context"))]
    created = any(r.created for r in recorded)
    body = {
        "recorded": [
            {"event_id": r.event_id, "event_hash": r.event_hash, "log_index": r.log_index, "created": r.created}
            for r in recorded
        ],
        "recorded_by": principal.gln,
    }
    return jsonify(body), 201 if created else 200


@bp.get("/lots/<dlvalue:lot>")
def export_lot(lot: str) -> ResponseReturnValue:
    """A lot's history as an EPCIS 2.0 JSON-LD document.
    ---
    get:
      tags: [trace]
      summary: EPCIS 2.0 export of a lot (and the lots it came from)
      parameters:
        - {name: lot, in: path, required: true, schema: {type: string, pattern: '^[-!"%&''()*+,./0-9:;<=>?A-Z_a-z]{1,20}$', description: 'GS1 lot number (AI 10, character set 82; "/" percent-encoded as %2F per GS1 Digital Link)'}}
        - {name: gtin, in: query, description: 'GTIN-8/12/13/14 (check digit verified: a wrong one is a 400)', schema: {type: string, pattern: '^([0-9]{8}|[0-9]{12,14})$'}}
      responses:
        200:
          description: EPCISDocument
          content:
            application/ld+json:
              schema: {$ref: '#/components/schemas/EpcisDocument'}
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
        429:
          $ref: '#/components/responses/Problem'
    """
    ctx().limiter.hit("public", client_id())
    gtin, number = resolve_lot(lot)
    doc = ctx().get_trace_store().export_lot(gtin, number)
    return Response(json.dumps(doc, ensure_ascii=False), mimetype="application/ld+json")


@bp.get("/lots/<dlvalue:lot>/verify")
def verify_lot(lot: str) -> ResponseReturnValue:
    """Verify a lot's signatures, hash chain and Merkle log inclusion.
    ---
    get:
      tags: [trace]
      summary: Verify the chain of a lot; reports the first broken event
      parameters:
        - {name: lot, in: path, required: true, schema: {type: string, pattern: '^[-!"%&''()*+,./0-9:;<=>?A-Z_a-z]{1,20}$', description: 'GS1 lot number (AI 10, character set 82; "/" percent-encoded as %2F per GS1 Digital Link)'}}
        - {name: gtin, in: query, description: 'GTIN-8/12/13/14 (check digit verified: a wrong one is a 400)', schema: {type: string, pattern: '^([0-9]{8}|[0-9]{12,14})$'}}
      responses:
        200:
          description: Verification report (ok is false when the chain is broken)
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Verification'}
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
        429:
          $ref: '#/components/responses/Problem'
    """
    ctx().limiter.hit("public", client_id())
    gtin, number = resolve_lot(lot)
    return jsonify(ctx().get_trace_store().verify_lot(gtin, number).as_dict())


@bp.get("/lots/<dlvalue:lot>/certificate")
def lot_certificate(lot: str) -> ResponseReturnValue:
    """The lot's certificate of commitment to standards (承诺达标合格证).
    ---
    get:
      tags: [trace]
      summary: The lot's 承诺达标合格证 (certificate of commitment to standards)
      parameters:
        - {name: lot, in: path, required: true, schema: {type: string, pattern: '^[-!"%&''()*+,./0-9:;<=>?A-Z_a-z]{1,20}$', description: 'GS1 lot number (AI 10, character set 82; "/" percent-encoded as %2F per GS1 Digital Link)'}}
        - {name: gtin, in: query, description: 'GTIN-8/12/13/14 (check digit verified: a wrong one is a 400)', schema: {type: string, pattern: '^([0-9]{8}|[0-9]{12,14})$'}}
      responses:
        200:
          description: The latest certificate
          content:
            application/json:
              schema: {type: object}
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
        429:
          $ref: '#/components/responses/Problem'
    """
    ctx().limiter.hit("public", client_id())
    gtin, number = resolve_lot(lot)
    cert = ctx().get_trace_store().certificate(gtin, number)
    if cert is None:
        from webapi.errors import NotFoundError

        raise NotFoundError("this lot has no certificate yet", field="lot", got=number)
    return jsonify(cert)
