"""JSON API: runs, layers, fields (GeoJSON), field detail, NDVI chart and advice."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from webapi.app import ctx
from webapi.charts import ndvi_chart_png
from webapi.errors import BadRequestError, NotFoundError
from webapi.fields_query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    BodyCache,
    collection_etag,
    collection_json,
    encoded_features,
    etag_response,
    filter_fields,
    page_links,
    parse_bbox,
    parse_int,
    parse_level,
)
from webapi.i18n import choose_lang
from webapi.layers import LAYERS
from webapi.runs import Run
from webapi.views_data import field_detail

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_FIELD_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def current_run() -> Run:
    """The run named by ``?run=`` (default: the newest)."""
    name = request.args.get("run") or "latest"
    return ctx().runs.get(name)


def lookup_field_id(field_id: str) -> str:
    if not _FIELD_ID.match(field_id):
        raise NotFoundError("unknown field", field="field_id", expected="a field id such as DX-000123", got=field_id)
    return field_id


@bp.get("/runs")
def list_runs() -> ResponseReturnValue:
    """Published runs, newest first.
    ---
    get:
      tags: [runs]
      summary: Available seasons and runs
      responses:
        200:
          description: The complete runs found in the outputs directory
          content:
            application/json:
              schema:
                type: object
                required: [runs]
                properties:
                  runs: {type: array, items: {$ref: '#/components/schemas/Run'}}
    """
    return jsonify(runs=[r.describe() for r in ctx().runs.runs()])


@bp.get("/layers")
def list_layers() -> ResponseReturnValue:
    """Raster layers with units, ranges, legends, and per run availability.
    ---
    get:
      tags: [runs]
      summary: Raster layers of a run with unit, value range, legend and valid date
      parameters:
        - run
      responses:
        200:
          description: Layers of the run
          content:
            application/json:
              schema:
                type: object
                required: [run, layers]
                properties:
                  run: {type: string}
                  layers: {type: array, items: {$ref: '#/components/schemas/Layer'}}
        404:
          $ref: '#/components/responses/Problem'
    """
    run = current_run()
    valid_from, valid_to = run.valid_period()
    layers = []
    for name in run.layer_names():
        entry = LAYERS[name].describe()
        entry["valid_from"], entry["valid_to"] = valid_from, valid_to
        entry["tiles"] = request.host_url.rstrip("/") + f"/tiles/{run.name}/{name}/{{z}}/{{x}}/{{y}}.png"
        layers.append(entry)
    return jsonify(run=run.name, layers=layers)


@bp.get("/fields")
def list_fields() -> ResponseReturnValue:
    """Fields as a GeoJSON FeatureCollection, filtered and paged.
    ---
    get:
      tags: [fields]
      summary: Field boundaries and statistics (GeoJSON), with filters and paging
      parameters:
        - run
        - name: bbox
          in: query
          description: minlon,minlat,maxlon,maxlat (WGS84 degrees)
          schema: {type: string, example: "104.3,35.5,104.5,35.7"}
        - {name: crop, in: query, schema: {type: string, maxLength: 64}}
        - {name: cooperative, in: query, description: cooperative_id, schema: {type: string, maxLength: 64}}
        - name: alert_level
          in: query
          description: worst alert level, 0-4 or a colour name
          schema: {type: string, enum: ["0", "1", "2", "3", "4", none, blue, yellow, orange, red]}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 100}}
        - {name: offset, in: query, schema: {type: integer, minimum: 0, maximum: 10000000, default: 0}}
      responses:
        200:
          description: A page of fields
          headers:
            ETag: {schema: {type: string}}
          content:
            application/geo+json:
              schema: {$ref: '#/components/schemas/FieldCollection'}
        304:
          description: Not modified (If-None-Match matched the ETag)
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
    """
    run = current_run()
    args = request.args
    bbox = parse_bbox(args["bbox"]) if args.get("bbox") else None
    level = parse_level(args["alert_level"]) if args.get("alert_level") else None
    limit = parse_int(args.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = parse_int(args.get("offset"), "offset", 0, 0, 10_000_000)
    for name in ("crop", "cooperative"):
        if len(args.get(name, "")) > 64:
            raise BadRequestError("value too long", field=name, expected="at most 64 characters")
    # 404 when the run has no field table; concurrent first requests share one read (RunStore is single-flight)
    fields = ctx().runs.fields(run)
    version = fields_version(run)
    etag = collection_etag(version, request.url)
    gzipped = "gzip" in request.accept_encodings
    if etag in request.if_none_match:
        return etag_response(b"", etag, mimetype="application/geo+json", status=304)

    def build() -> bytes:
        matched = filter_fields(
            fields, bbox=bbox, crop=args.get("crop"), cooperative=args.get("cooperative"), alert_level=level
        )
        page = matched.iloc[offset : offset + limit]

        def href_at(start: int) -> str:
            query = {**args.to_dict(), "offset": str(start), "limit": str(limit)}
            return url_for("api.list_fields", _external=True, **query)

        head = {
            "type": "FeatureCollection",
            "run": run.name,
            "numberMatched": int(len(matched)),
            "numberReturned": int(len(page)),
            "links": page_links(request.url, href_at, offset=offset, limit=limit, matched=len(matched),
                                media_type="application/geo+json"),
        }
        features = encoded_features(fields, version, page.index) if len(page) else []
        return collection_json(head, features).encode("utf-8")

    body = _BODIES.get_or_build(etag, gzipped=gzipped, build=build)
    return etag_response(body, etag, mimetype="application/geo+json", gzipped=gzipped)


#: Recent /fields bodies by ETag (plain and gzip), per worker.
_BODIES = BodyCache()


def fields_version(run: Run) -> tuple[str, int, int]:
    """Identity of the run's field table: path, modification time (ns) and size of ``fields.parquet``."""
    stat = (run.path / "fields.parquet").stat()
    return str(run.path / "fields.parquet"), stat.st_mtime_ns, stat.st_size


@bp.get("/fields/<field_id>")
def get_field(field_id: str) -> ResponseReturnValue:
    """One field: statistics, NDVI curve, yield forecast, alerts and advice.
    ---
    get:
      tags: [fields]
      summary: Field detail (stats, NDVI curve, yield forecast with interval, alerts, advice)
      parameters:
        - {name: field_id, in: path, required: true, schema: {type: string}}
        - run
        - lang
      responses:
        200:
          description: The field
          content:
            application/json:
              schema: {$ref: '#/components/schemas/FieldDetail'}
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
    """
    lang = choose_lang(request.args.get("lang"), request.accept_languages)
    return jsonify(field_detail(ctx().runs, current_run(), lookup_field_id(field_id), lang))


@bp.get("/fields/<field_id>/timeseries.png")
def field_chart(field_id: str) -> ResponseReturnValue:
    """A small NDVI chart of the field.
    ---
    get:
      tags: [fields]
      summary: NDVI time series chart (PNG)
      parameters:
        - {name: field_id, in: path, required: true, schema: {type: string}}
        - run
      responses:
        200:
          description: PNG chart
          content:
            image/png:
              schema: {type: string, format: binary}
        404:
          $ref: '#/components/responses/Problem'
    """
    run = current_run()
    fid = lookup_field_id(field_id)
    fields = ctx().runs.fields(run)
    if fid not in fields.index:
        raise NotFoundError("unknown field", field="field_id", got=fid, source=run.name)
    ts = ctx().runs.timeseries(run)
    png = ndvi_chart_png(ts[ts["field_id"] == fid], title=fid)
    response = Response(png, mimetype="image/png")
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@bp.get("/advice")
def advice() -> ResponseReturnValue:
    """Advice for a field's current alerts in Chinese or English.
    ---
    get:
      tags: [advice]
      summary: Advice for the current alerts of a field (zh or en)
      parameters:
        - {name: field_id, in: query, required: true, schema: {type: string, minLength: 1, maxLength: 64}}
        - run
        - lang
      responses:
        200:
          description: Advice per alert
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Advice'}
        400:
          $ref: '#/components/responses/Problem'
        404:
          $ref: '#/components/responses/Problem'
    """
    fid = request.args.get("field_id")
    if not fid:
        raise BadRequestError("field_id is required", field="field_id", expected="a field id such as DX-000123")
    lang = choose_lang(request.args.get("lang"), request.accept_languages)
    detail = field_detail(ctx().runs, current_run(), lookup_field_id(fid), lang)
    response = jsonify(
        field_id=detail["field_id"],
        lang=lang,
        run=detail["run"],
        advice=[{"alert_id": a["id"], "hazard": a["hazard"], "level": a["level"], "advice": a["advice"]} for a in detail["alerts"]],
    )
    response.headers["Content-Language"] = "zh-CN" if lang == "zh" else "en"
    response.vary.add("Accept-Language")
    return response


