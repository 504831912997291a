"""Server-rendered pages: the bureau map, the cooperative and field advice pages.

The consumer trace page lives with the resolver (:mod:`webapi.blueprints.resolver`).
Templates are Jinja with autoescaping; user data is never marked ``|safe``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask.typing import ResponseReturnValue

from webapi.app import ctx
from webapi.blueprints.api import current_run, lookup_field_id
from webapi.errors import NotFoundError
from webapi.i18n import choose_lang, translator
from webapi.layers import ALERT_COLOURS, HAZARDS
from webapi.runs import Run
from webapi.views_data import field_detail, sparkline_points, urgency_key

bp = Blueprint("pages", __name__)


def page_lang() -> str:
    return choose_lang(request.args.get("lang"), request.accept_languages)


def render_page(template: str, **context: Any) -> Response:
    lang = context.pop("lang", None) or page_lang()
    other = "en" if lang == "zh" else "zh"
    args = request.args.to_dict()
    args["lang"] = other
    html = render_template(
        template,
        lang=lang,
        t=translator(lang),
        colours={level: rgba for level, (_n, rgba, _z, _e) in ALERT_COLOURS.items()},
        colour_names={level: name for level, (name, *_r) in ALERT_COLOURS.items()},
        switch_url=url_for(request.endpoint or "pages.map_page", **{**(request.view_args or {}), **args}),
        **context,
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Language"] = "zh-CN" if lang == "zh" else "en"
    response.vary.add("Accept-Language")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: https: http:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _card(run: Run, field_id: str, lang: str) -> dict[str, Any]:
    detail = field_detail(ctx().runs, run, field_id, lang)
    values = [p["ndvi_smooth"] if p["ndvi_smooth"] is not None else p["ndvi"] for p in detail["ndvi"]]
    detail["sparkline"] = sparkline_points(values)
    return detail


@bp.get("/")
def index() -> ResponseReturnValue:
    """Landing: the bureau map."""
    return map_page()


@bp.get("/map")
def map_page() -> ResponseReturnValue:
    """The bureau risk map (Leaflet).
    ---
    get:
      tags: [pages]
      summary: Bureau risk map page (HTML)
      parameters:
        - run
        - lang
      responses:
        200:
          description: HTML page
          content:
            text/html:
              schema: {type: string}
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
    """
    lang = page_lang()
    runs = ctx().runs.runs()
    run = current_run() if runs or request.args.get("run") else None
    config = {
        "run": run.name if run else None,
        "runs": [r.name for r in runs],
        "lang": lang,
        "basemap": ctx().settings.basemap_url,
        "hazards": list(HAZARDS),
        "colours": {str(k): "#{:02x}{:02x}{:02x}".format(*v[1][:3]) for k, v in ALERT_COLOURS.items()},
        "strings": {k: translator(lang)(k) for k in ("crop", "area", "yield_forecast", "advice", "alerts", "no_alerts",
                                                    "cooperative", "township", "details", "interval", "level", "hazard",
                                                    "risk", "valid", "no_data", "legend", "close")},
        "crops": {c: translator(lang).crop(c) for c in ("potato", "spring_wheat", "winter_wheat", "maize", "highland_barley")},
        "hazard_names": {h: translator(lang).hazard(h) for h in HAZARDS},
    }
    return render_page("map.html", lang=lang, run=run, config=config,
                       leaflet=url_for("leaflet_static", filename="leaflet.js"),
                       leaflet_css=url_for("leaflet_static", filename="leaflet.css"))


@bp.get("/coop/<cooperative>")
def coop_page(cooperative: str) -> ResponseReturnValue:
    """A cooperative's fields, most urgent first, with alerts, advice and forecasts.
    ---
    get:
      tags: [pages]
      summary: Cooperative advice page (HTML, phone-first)
      parameters:
        - {name: cooperative, in: path, required: true, schema: {type: string}}
        - run
        - lang
      responses:
        200:
          description: HTML page
          content:
            text/html:
              schema: {type: string}
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
    """
    lang = page_lang()
    run = current_run()
    fields = ctx().runs.fields(run)
    members = fields[fields["cooperative_id"].astype(str) == cooperative] if "cooperative_id" in fields else fields.iloc[0:0]
    if not len(members):
        raise NotFoundError("unknown cooperative", field="cooperative", expected=f"a cooperative_id of run {run.name}", got=cooperative)
    cards = sorted((_card(run, fid, lang) for fid in members.index), key=urgency_key)
    name = str(members["cooperative_name"].iloc[0]) if "cooperative_name" in members else cooperative
    return render_page("coop.html", lang=lang, run=run, cooperative=cooperative, cooperative_name=name, cards=cards)


@bp.get("/field/<field_id>")
def field_page(field_id: str) -> ResponseReturnValue:
    """One field's advice page.
    ---
    get:
      tags: [pages]
      summary: Field advice page (HTML, phone-first)
      parameters:
        - {name: field_id, in: path, required: true, schema: {type: string}}
        - run
        - lang
      responses:
        200:
          description: HTML page
          content:
            text/html:
              schema: {type: string}
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
    """
    lang = page_lang()
    run = current_run()
    card = _card(run, lookup_field_id(field_id), lang)
    return render_page("field.html", lang=lang, run=run, card=card)
