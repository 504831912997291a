"""WSGI/ASGI apps the web benchmarks serve (imported by gunicorn and uvicorn in child processes).

* :func:`nongshu_app` — Nongshu's own app factory with the settings from the
  environment; the per-client rate limiter is raised out of the way because
  every benchmark client comes from 127.0.0.1 and would otherwise share one
  bucket (the limiter is a protection, not part of the measured work).
* :func:`bare_app` — the smallest Flask app answering a Digital Link path with
  a fixed JSON body: the ceiling of Flask + gunicorn on this machine.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify


def nongshu_app() -> Any:
    from nongshu.settings import Settings
    from webapi import create_app
    from webapi.ratelimit import Limit

    unlimited = Limit(burst=10**9, per_minute=1e12)
    return create_app(Settings.from_env(), limits={"public": unlimited, "auth_failure": unlimited})


def bare_app() -> Flask:
    app = Flask("bare")
    body = {
        "gtin": None,
        "lot": None,
        "product": "potato",
        "origin": {"field": "DX-000001"},
        "status": "intact",
    }

    @app.get("/01/<gtin>/10/<lot>")
    def resolve(gtin: str, lot: str) -> Any:
        return jsonify({**body, "gtin": gtin, "lot": lot})

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    return app
