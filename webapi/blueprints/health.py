"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from webapi.app import ctx
from webapi.problems import problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness: the process answers.
    ---
    get:
      tags: [health]
      summary: Liveness probe
      responses:
        200:
          description: The process is alive
          content:
            application/json:
              schema: {type: object, properties: {status: {type: string, enum: [ok]}}, required: [status]}
    """
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness: the outputs directory is readable and the trace database answers.
    ---
    get:
      tags: [health]
      summary: Readiness probe (outputs and trace database reachable)
      responses:
        200:
          description: Ready to serve
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Readiness'}
        503:
          $ref: '#/components/responses/Problem'
    """
    context = ctx()
    checks: dict[str, str] = {}
    outputs = context.runs.outputs_dir
    try:
        runs = context.runs.runs()
        checks["outputs"] = f"ok ({len(runs)} runs)" if outputs.is_dir() else "missing"
    except OSError as err:
        checks["outputs"] = f"error: {err.strerror}"
    try:
        from webapi.trace_adapter import ping

        ping(context.get_trace_store())
        checks["trace_database"] = "ok"
    except Exception as err:  # noqa: BLE001 - any failure means "not ready", reported, not raised
        checks["trace_database"] = f"error: {type(err).__name__}"
    ready = all(v.startswith("ok") for v in checks.values())
    if not ready:
        return problem(503, "Service Unavailable", "not ready: " + "; ".join(f"{k} {v}" for k, v in checks.items()), checks=checks)
    return jsonify(status="ready", checks=checks)
