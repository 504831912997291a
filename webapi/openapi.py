"""The OpenAPI 3 document, generated with apispec from the YAML in each view's docstring.

Every rule of the app's URL map whose view has an operation in its docstring
(after a ``---`` line) is added; shared schemas, parameters and the
problem+json response are registered here once.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.yaml_utils import load_operations_from_docstring
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from nongshu import __version__

_CONVERTER = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": "string"},
        "expected": {"type": "string"},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

_NULLABLE_NUMBER = {"type": "number", "nullable": True}
#: Paging links of a listing: rel self, next, prev (same filters and limit).
_LINKS = {"type": "array", "items": {"type": "object", "required": ["rel", "href"],
                                     "properties": {"rel": {"type": "string", "enum": ["self", "next", "prev"]},
                                                    "href": {"type": "string"}, "type": {"type": "string"}}}}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": PROBLEM_SCHEMA,
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {"status": {"type": "string"}, "checks": {"type": "object", "additionalProperties": {"type": "string"}}},
    },
    "Run": {
        "type": "object",
        "required": ["name", "region", "run_id", "season", "layers"],
        "properties": {
            "name": {"type": "string", "example": "dingxi.2026"},
            "region": {"type": "string"},
            "run_id": {"type": "string"},
            "season": {"type": "string"},
            "valid_from": {"type": "string", "nullable": True},
            "valid_to": {"type": "string", "nullable": True},
            "layers": {"type": "array", "items": {"type": "string"}},
            "created": {"type": "string", "nullable": True},
        },
    },
    "LegendEntry": {
        "type": "object",
        "required": ["value", "colour", "label_zh", "label_en"],
        "properties": {
            "value": {"type": "number"},
            "colour": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
            "label_zh": {"type": "string"},
            "label_en": {"type": "string"},
            "name": {"type": "string"},
        },
    },
    "Layer": {
        "type": "object",
        "required": ["name", "unit", "range", "legend", "tiles"],
        "properties": {
            "name": {"type": "string"},
            "title_zh": {"type": "string"},
            "title_en": {"type": "string"},
            "unit": {"type": "string"},
            "range": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
            "colormap": {"type": "string"},
            "categorical": {"type": "boolean"},
            "legend": {"type": "array", "items": {"$ref": "#/components/schemas/LegendEntry"}},
            "valid_from": {"type": "string", "nullable": True},
            "valid_to": {"type": "string", "nullable": True},
            "tiles": {"type": "string", "description": "XYZ URL template"},
        },
    },
    "FieldCollection": {
        "type": "object",
        "required": ["type", "features", "numberMatched", "numberReturned", "links"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "run": {"type": "string"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
            "links": _LINKS,
            "features": {"type": "array", "items": {
                "type": "object", "required": ["type", "id", "geometry", "properties"],
                "properties": {"type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"},
                               "geometry": {"type": "object", "nullable": True}, "properties": {"type": "object"}}}},
        },
    },
    "AdviceText": {
        "type": "object",
        "nullable": True,
        "required": ["key", "lang", "actions"],
        "properties": {"key": {"type": "string"}, "lang": {"type": "string", "enum": ["zh", "en"]},
                       "actions": {"type": "array", "items": {"type": "object", "required": ["action", "text", "suppressed"],
                                                              "properties": {"action": {"type": "string"}, "text": {"type": "string"},
                                                                             "suppressed": {"type": "boolean"}}}}},
    },
    "Alert": {
        "type": "object",
        "required": ["id", "target_id", "hazard", "level"],
        "properties": {
            "id": {"type": "string"}, "target_type": {"type": "string"}, "target_id": {"type": "string"},
            "township": {"type": "string", "nullable": True}, "cooperative_id": {"type": "string", "nullable": True},
            "crop": {"type": "string", "nullable": True}, "hazard": {"type": "string"},
            "level": {"type": "integer", "minimum": 0, "maximum": 4}, "colour": {"type": "string"},
            "risk": _NULLABLE_NUMBER, "stage": {"type": "string", "nullable": True}, "triggers": {"type": "object"},
            "valid_from": {"type": "string"}, "valid_to": {"type": "string"}, "advice_key": {"type": "string", "nullable": True},
        },
    },
    "AlertList": {
        "type": "object",
        "required": ["run", "count", "numberMatched", "numberReturned", "links", "alerts"],
        "properties": {"run": {"type": "string"}, "season": {"type": "string"},
                       "count": {"type": "integer", "minimum": 0, "description": "alerts matching the filters (= numberMatched)"},
                       "numberMatched": {"type": "integer", "minimum": 0, "description": "alerts matching the filters, on all pages"},
                       "numberReturned": {"type": "integer", "minimum": 0, "description": "alerts on this page"},
                       "links": _LINKS,
                       "valid_from": {"type": "string", "nullable": True}, "valid_to": {"type": "string", "nullable": True},
                       "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}}},
    },
    "FieldDetail": {
        "type": "object",
        "required": ["field_id", "run", "attributes", "stats", "yield_forecast", "alerts", "ndvi"],
        "properties": {
            "field_id": {"type": "string"}, "run": {"type": "string"}, "season": {"type": "string"},
            "attributes": {"type": "object"}, "bbox": {"type": "array", "items": _NULLABLE_NUMBER},
            "stats": {"type": "object", "additionalProperties": {"type": "object"}},
            "yield_forecast": {"type": "object", "properties": {"unit": {"type": "string"}, "pred": _NULLABLE_NUMBER,
                                                                  "lo": _NULLABLE_NUMBER, "hi": _NULLABLE_NUMBER, "interval": {"type": "number"}}},
            "alert_level": {"type": "integer"}, "alert_colour": {"type": "string"},
            "alerts": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Alert"}, {"type": "object", "properties": {"advice": {"$ref": "#/components/schemas/AdviceText"}}}]}},
            "ndvi": {"type": "array", "items": {"type": "object", "properties": {"date": {"type": "string"}, "ndvi": _NULLABLE_NUMBER, "ndvi_smooth": _NULLABLE_NUMBER}}},
        },
    },
    "Advice": {
        "type": "object",
        "required": ["field_id", "lang", "advice"],
        "properties": {"field_id": {"type": "string"}, "lang": {"type": "string", "enum": ["zh", "en"]}, "run": {"type": "string"},
                       "advice": {"type": "array", "items": {"type": "object", "properties": {
                           "alert_id": {"type": "string"}, "hazard": {"type": "string"}, "level": {"type": "integer"},
                           "advice": {"$ref": "#/components/schemas/AdviceText"}}}}},
    },
    "Recorded": {
        "type": "object",
        "required": ["recorded", "recorded_by"],
        "properties": {"recorded_by": {"type": "string"}, "recorded": {"type": "array", "items": {
            "type": "object", "required": ["event_id", "event_hash", "log_index", "created"],
            "properties": {"event_id": {"type": "string"}, "event_hash": {"type": "string"},
                           "log_index": {"type": "integer"}, "created": {"type": "boolean"}}}}},
    },
    "ConsumerView": {"type": "object", "description": "Public data of a lot (no personal data)", "additionalProperties": True},
    "EpcisDocument": {"type": "object", "description": "EPCIS 2.0 JSON-LD EPCISDocument", "additionalProperties": True},
    "Verification": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}, "additionalProperties": True},
}

PARAMETERS: dict[str, dict[str, Any]] = {
    "run": {"name": "run", "in": "query", "required": False, "description": "run name (default: the newest run)",
            "schema": {"type": "string", "default": "latest", "example": "latest"}},
    "lang": {"name": "lang", "in": "query", "required": False, "description": "zh or en (default: Accept-Language, else zh)",
             "schema": {"type": "string", "enum": ["zh", "en"]}},
}


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of every documented route of ``app``."""
    spec = APISpec(
        title="Nongshu (农数) API",
        version=__version__,
        openapi_version="3.0.3",
        info={"description": "Risk and yield maps, field statistics, alerts (CAP 1.2), advice and produce traceability (GS1 EPCIS 2.0, Digital Link). Errors are RFC 9457 problem+json."},
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for name, param in PARAMETERS.items():
        spec.components.parameter(name, param["in"], {k: v for k, v in param.items() if k not in ("name", "in")})
    spec.components.response("Problem", {"description": "Problem details (RFC 9457)",
                                         "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer", "description": "API key of an organisation"})
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        if view is None or not view.__doc__:
            continue
        operations = load_operations_from_docstring(view.__doc__)
        if not operations:
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault(500, {"$ref": "#/components/responses/Problem"})
            if {"trace", "resolver"} & set(operation.get("tags", [])) and rule.rule != "/.well-known/gs1resolver":
                responses.setdefault(503, {"$ref": "#/components/responses/Problem"})  # trace database down
            operation.setdefault("operationId", rule.endpoint.replace(".", "_"))
        spec.path(path=_CONVERTER.sub(r"{\1}", rule.rule), operations=operations)
    return spec.to_dict()


def register_openapi(app: Flask) -> None:
    """Serve the document at ``/openapi.json`` (built once, on first request)."""
    cache: dict[str, Any] = {}

    @app.get("/openapi.json")
    def openapi_document() -> ResponseReturnValue:
        if "doc" not in cache:
            cache["doc"] = build_spec(app)
        return jsonify(cache["doc"])
