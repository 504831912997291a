"""GS1 Digital Link resolver (GS1 Digital Link standard 1.2, GS1-Conformant Resolver standard 1.0).

``/01/{gtin}/10/{lot}`` answers a browser with the consumer trace page,
``Accept: application/json`` with the consumer view data and
``?linkType=linkset`` (or ``Accept: application/linkset+json``) with an RFC 9264
linkset; ``?linkType=gs1:<type>`` redirects (307) to that link.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from werkzeug.http import quote_etag

from traceability.gs1 import build_digital_link, normalise_gtin, validate_lot
from webapi.app import ctx
from webapi.blueprints.pages import page_lang, render_page
from webapi.blueprints.trace import bp as trace_bp
from webapi.blueprints.trace import client_id
from webapi.trace_adapter import quote_gs1_value, register_gs1_converter, season_summary_provider

bp = Blueprint("resolver", __name__)
bp.record_once(register_gs1_converter)  # before the routes below use <dlvalue:lot>

GS1_VOC = "https://gs1.org/voc/"
#: Seconds a browser or shared cache may reuse a lot's page or view without asking again. A lot
#: changes only when an event for its chain lands, which for a lot on a shop shelf is rare; one
#: minute bounds how long a recall or new inspection can stay unseen by a re-scan. After that the
#: strong ETag (a digest of the body) lets the client revalidate for a bodiless 304.
VIEW_MAX_AGE_S = 60
LINKSET_TYPE = "application/linkset+json"
LINK_TYPES = ("gs1:pip", "gs1:traceability", "gs1:certificationInfo")
#: ``Cache-Control`` of a lot's page, view and linkset (RFC 9111 §5.2.2.9, §5.2.2.1).
CACHE_CONTROL = f"public, max-age={VIEW_MAX_AGE_S}"
#: The trace blueprint's URL prefix without its leading slash (``api/v1/trace``).
TRACE_PREFIX = (trace_bp.url_prefix or "").strip("/")


def _links(gtin: str, lot: str) -> dict[str, dict[str, Any]]:
    """link type -> target (absolute URL, media type, title) for one lot.

    The URLs are those ``url_for(..., _external=True)`` builds for the resolver's page and the
    trace blueprint's export and certificate routes (same root, same percent-encoding of the lot,
    ``tests/webapi/test_resolver_cache.py`` compares them), formatted directly: the linkset is a
    hot path and each URL-map build costs more than the rest of the answer.
    """
    lot_q = quote_gs1_value(lot)
    api = f"{_url_root()}{TRACE_PREFIX}/lots/{lot_q}"
    return {
        "gs1:pip": {"href": _self_link(gtin, lot, "linkType=gs1:pip"),
                    "type": "text/html", "title": "产品追溯信息 Product trace page", "hreflang": ["zh", "en"]},
        "gs1:traceability": {"href": f"{api}?gtin={gtin}",
                             "type": "application/ld+json", "title": "EPCIS 2.0 events"},
        "gs1:certificationInfo": {"href": f"{api}/certificate?gtin={gtin}",
                                  "type": "application/json", "title": "承诺达标合格证 Certificate"},
    }


def linkset(gtin: str, lot: str) -> dict[str, Any]:
    """RFC 9264 linkset (JSON) of the lot, anchored at its Digital Link URI."""
    anchor = build_digital_link(gtin, lot, resolver=request.host_url.rstrip("/"))
    entry: dict[str, Any] = {"anchor": anchor}
    links = _links(gtin, lot)
    for link_type, target in links.items():
        entry[GS1_VOC + link_type.split(":", 1)[1]] = [target]
    entry[GS1_VOC + "defaultLink"] = [links["gs1:pip"]]
    return {"linkset": [entry]}


def _wants(media_type: str) -> bool:
    """Whether the client prefers ``media_type`` to the HTML page: a strictly higher quality in
    ``Accept`` (which is also when ``best_match([media_type, "text/html"])`` picks it)."""
    raw = request.headers.get("Accept", "").lower()
    if media_type not in raw and "*" not in raw:
        return False  # not named and no wildcard: quality 0, never preferred (no parsing needed)
    accept = request.accept_mimetypes
    return accept[media_type] > accept["text/html"]


def _self_link(gtin: str, lot: str, query: str) -> str:
    """Absolute URL of this resolver's Digital Link of the lot plus ``query``: what
    ``url_for("resolver.digital_link", …, _external=True)`` builds (same root, same percent-encoding
    of the lot), without a URL-map build on the hot path."""
    return f"{_url_root()}01/{gtin}/10/{quote_gs1_value(lot)}?{query}"


#: ``request.url_root`` by the WSGI environ values it is made of (bounded: hosts come from clients).
_ROOTS: dict[tuple[Any, ...], str] = {}
_ROOTS_MAX = 64
_ROOT_KEYS = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME")


def _url_root() -> str:
    """``request.url_root``, remembered per (scheme, host, port, script root): werkzeug re-derives
    and IRI-decodes it on every call, a noticeable share of a Digital Link answer."""
    environ = request.environ
    key = tuple(environ.get(k) for k in _ROOT_KEYS)
    root = _ROOTS.get(key)
    if root is None:
        root = request.url_root
        if len(_ROOTS) >= _ROOTS_MAX:
            _ROOTS.clear()
        _ROOTS[key] = root
    return root


@bp.get("/01/<gtin>/10/<dlvalue:lot>")
def digital_link(gtin: str, lot: str) -> ResponseReturnValue:
    """Resolve a GS1 Digital Link of a lot.
    ---
    get:
      tags: [resolver]
      summary: GS1 Digital Link of a lot (consumer page, JSON view, RFC 9264 linkset or redirect by linkType)
      parameters:
        - {name: gtin, in: path, required: true, description: 'GTIN-8/12/13/14 (check digit verified: a wrong one is a 400)', schema: {type: string, pattern: '^([0-9]{8}|[0-9]{12,14})$'}}
        - {name: lot, in: path, required: true, schema: {type: string, pattern: '^[-!"%&''()*+,./0-9:;<=>?A-Z_a-z]{1,20}$', description: 'GS1 lot number (AI 10, character set 82; "/" percent-encoded as %2F per GS1 Digital Link)'}}
        - name: linkType
          in: query
          schema: {type: string, enum: [linkset, all, "gs1:pip", "gs1:traceability", "gs1:certificationInfo"]}
        - lang
      responses:
        200:
          description: Consumer page (HTML), consumer view (JSON) or linkset
          content:
            text/html:
              schema: {type: string}
            application/json:
              schema: {$ref: '#/components/schemas/ConsumerView'}
            application/linkset+json:
              schema: {type: object, required: [linkset], properties: {linkset: {type: array, items: {type: object}}}}
        307:
          description: Redirect to the requested link type
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
        429:
          $ref: '#/components/responses/Problem'
    """
    context = ctx()
    context.limiter.hit("public", client_id())
    gtin = normalise_gtin(gtin)
    lot = validate_lot(lot)
    store = context.get_trace_store()
    link_type = request.args.get("linkType")
    wants_linkset = link_type is None and _wants(LINKSET_TYPE)  # Accept parsed once per request
    if link_type is not None or wants_linkset:
        gtin, lot = store.find_lot(lot, gtin)  # 404 for an unknown lot before answering with links
    links_header = f'<{_self_link(gtin, lot, "linkType=linkset")}>; rel="linkset"; type="{LINKSET_TYPE}"'
    if link_type in ("linkset", "all") or wants_linkset:
        response = Response(json.dumps(linkset(gtin, lot), ensure_ascii=False), mimetype=LINKSET_TYPE)
        response.headers["Link"] = links_header
        return _cacheable(response, "Accept")  # without ?linkType the linkset is chosen by Accept
    if link_type and link_type != "gs1:pip":
        links = _links(gtin, lot)
        target = links.get(link_type) or links["gs1:pip"]
        moved = redirect(target["href"], code=307)
        moved.headers["Link"] = links_header
        return moved
    summaries = season_summary_provider(context.runs)
    if link_type is None and _wants("application/json"):
        # the stored JSON text as is (what jsonify would write for it), not parsed and re-encoded
        body = store.consumer_view_json(gtin, lot, season_summary_provider=summaries)
        response = Response(body + "\n", mimetype="application/json")
        vary = "Accept"
    else:
        view = store.consumer_view(gtin, lot, season_summary_provider=summaries)
        lang = page_lang()
        response = render_page("lot.html", lang=lang, view=view, gtin=gtin, lot=lot,
                               digital_link=build_digital_link(gtin, lot, resolver=context.settings.resolver_url))
        vary = "Accept, Accept-Language"  # the page language follows it when ?lang= is absent
    response.headers["Link"] = links_header
    return _cacheable(response, vary)


def _cacheable(response: Response, vary: str) -> Response:
    """A public response with a strong ETag of its body, answered with 304 on a matching If-None-Match.

    The ETag is a digest of the body, so it changes exactly when the view does: a new event
    in the lot's chain, a recall, a new certificate or a season summary of a new run
    (RFC 9110 §8.8.3, §13.1.2; Cache-Control: RFC 9111 §5.2.2). The app gzips JSON for
    clients that accept it, and a strong ETag must differ between content codings
    (RFC 9110 §8.8.3.3), so those clients get the tag with ``-gzip`` appended. ``vary`` names
    the request headers the answer was chosen by (``Accept-Encoding`` is added). Headers are
    set as whole strings: each update through werkzeug's header objects re-serialises them.
    """
    tag = hashlib.sha256(response.get_data()).hexdigest()[:40]
    encodings = request.headers.get("Accept-Encoding", "").lower()
    if "gzip" in encodings and response.is_json and "gzip" in request.accept_encodings:
        tag += "-gzip"
    response.headers["ETag"] = quote_etag(tag)
    already = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
    response.headers["Vary"] = ", ".join(dict.fromkeys([*already, *vary.split(", "), "Accept-Encoding"]))
    response.headers["Cache-Control"] = CACHE_CONTROL
    if "If-None-Match" in request.headers and request.if_none_match.contains_weak(tag):
        response.status_code = 304  # If-None-Match uses the weak comparison (RFC 9110 §13.1.2)
        response.set_data(b"")
    return response


@bp.get("/.well-known/gs1resolver")
def resolver_description() -> ResponseReturnValue:
    """Resolver description (GS1-Conformant Resolver standard 1.0, section 6).
    ---
    get:
      tags: [resolver]
      summary: Description of this GS1 Digital Link resolver
      responses:
        200:
          description: Resolver description
          content:
            application/json:
              schema: {type: object, required: [name, resolverRoot, supportedPrimaryKeys]}
    """
    root = request.host_url.rstrip("/")
    return jsonify({
        "name": "Nongshu (农数) GS1 Digital Link resolver",
        "resolverRoot": root,
        "supportedPrimaryKeys": ["gtin"],
        "supportedQualifiers": {"gtin": ["10"]},
        "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:", "profile": GS1_VOC + t.split(":", 1)[1]} for t in LINK_TYPES],
        "linkTypeDefaultCanBeLinkset": True,
        "supportedContextValuesEnumerated": [],
        "validatesAIcombination": True,
        "contact": {"name": "Nongshu", "url": root},
    })

