"""The OpenAPI document describes every route of the app, its parameters and problem responses."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_openapi_is_valid_and_complete(app, client):
    doc = client.get("/openapi.json").get_json()
    validate(doc)
    documented = set(doc["paths"])
    rules = {
        re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", r.rule)
        for r in app.url_map.iter_rules()
        if not r.rule.startswith("/static") and r.rule not in ("/", "/openapi.json")
    }
    assert rules == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "500" in op["responses"], (path, method)
            path_params = {p["name"] for p in op.get("parameters", []) if isinstance(p, dict) and p.get("in") == "path"}
            assert path_params == set(re.findall(r"{(\w+)}", path)), (path, method)
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    assert response == {"$ref": "#/components/responses/Problem"}, (path, method, status)


def test_operation_ids_are_unique(client):
    doc = client.get("/openapi.json").get_json()
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
