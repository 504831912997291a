"""The Flask application factory: no configuration is read at import time."""

from __future__ import annotations

import gzip
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, request, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from nongshu.settings import Settings
from webapi.problems import register_error_handlers
from webapi.ratelimit import Limit, RateLimiter
from webapi.runs import RunStore
from webapi.tiles import TileRenderer

if TYPE_CHECKING:
    from traceability.store import TraceStore

log = logging.getLogger(__name__)

#: Public lookups (resolver, consumer view) and failed authentications, per client, counted
#: across all workers of one server (webapi.ratelimit).
DEFAULT_LIMITS = {
    "public": Limit(burst=120, per_minute=600),
    "auth_failure": Limit(burst=10, per_minute=10),
}
_GZIP_TYPES = (
    "application/json", "application/geo+json", "application/problem+json", "application/linkset+json",
    "application/ld+json", "application/cap+xml", "application/atom+xml",
)
_GZIP_MIN_BYTES = 1024


@dataclass
class WebContext:
    """What the views need, built once per app and kept in ``app.extensions["nongshu"]``."""

    settings: Settings
    runs: RunStore
    tiles: TileRenderer
    limiter: RateLimiter
    trace_store: TraceStore | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get_trace_store(self) -> TraceStore:
        """The trace store (opened once, on first use, from ``settings.trace_database_url``)."""
        if self.trace_store is None:
            with self._lock:
                if self.trace_store is None:
                    from webapi.trace_adapter import open_store

                    self.trace_store = open_store(self.settings)
        return self.trace_store


def ctx() -> WebContext:
    """The :class:`WebContext` of the current app."""
    return current_app.extensions["nongshu"]


def create_app(
    settings: Settings | None = None,
    *,
    data_dir: str | Path | None = None,
    trace_store: TraceStore | None = None,
    limits: dict[str, Limit] | None = None,
    proxy_hops: int = 0,
    ratelimit_db: str | Path | None = None,
) -> Flask:
    """Build the app.

    ``settings`` defaults to :meth:`Settings.from_env`; ``data_dir`` overrides its
    data directory (outputs are read from ``<data_dir>/outputs``). ``trace_store``
    injects an open trace store (default: opened lazily from the settings).
    ``proxy_hops`` trusts that many ``X-Forwarded-*`` proxies (for gunicorn behind nginx).
    ``ratelimit_db`` is the SQLite file of the rate-limit counters shared by the gunicorn
    workers forked from this app (default: a private file for this server instance).
    """
    settings = settings or Settings.from_env()
    if data_dir is not None:
        settings = settings.with_(data_dir=Path(data_dir))
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["nongshu"] = WebContext(
        settings=settings,
        runs=RunStore(settings.data_dir / "outputs"),
        tiles=TileRenderer(settings.tile_cache_size),
        limiter=RateLimiter(limits or DEFAULT_LIMITS, path=ratelimit_db),
        trace_store=trace_store,
    )
    if proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_hops, x_proto=proxy_hops, x_host=proxy_hops)  # type: ignore[method-assign]

    app.jinja_env.filters["cst"] = china_time
    register_error_handlers(app)
    _register_blueprints(app)
    _register_vendor_static(app)
    app.after_request(_security_headers)
    app.after_request(_gzip_json)

    from webapi.openapi import register_openapi

    register_openapi(app)
    return app


def china_time(value: str | None) -> str:
    """``YYYY-MM-DD HH:MM`` in China Standard Time (UTC+8) from a stored UTC ISO timestamp."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")


def _register_blueprints(app: Flask) -> None:
    from webapi.blueprints import alerts, api, health, pages, resolver, tiles, trace

    for module in (health, api, tiles, alerts, trace, resolver, pages):
        app.register_blueprint(module.bp)


def _register_vendor_static(app: Flask) -> None:
    """Serve Leaflet from the installed ``xstatic-leaflet`` package (no CDN, nothing copied)."""
    import xstatic.pkg.leaflet as leaflet

    base = Path(leaflet.BASE_DIR)
    app.config["LEAFLET_VERSION"] = leaflet.VERSION

    @app.get("/static/vendor/leaflet/<path:filename>")
    def leaflet_static(filename: str) -> Response:
        if filename.endswith(".map"):
            raise NotFound("source maps are not served")
        response = send_from_directory(base, filename, max_age=86400)
        return response


def _security_headers(response: Response) -> Response:
    """``nosniff`` everywhere; tiles and public JSON may be used by other map clients (CORS ``*`` on GET)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.method in ("GET", "HEAD") and (request.path.startswith("/tiles/") or request.path == "/openapi.json"):
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    return response


def _gzip_json(response: Response) -> Response:
    """Compress JSON/GeoJSON bodies when the client accepts gzip (RFC 9110 §8.4)."""
    if (
        response.direct_passthrough
        or response.status_code < 200
        or response.mimetype not in _GZIP_TYPES
        or "Content-Encoding" in response.headers
    ):
        return response
    response.vary.add("Accept-Encoding")
    if "gzip" not in request.accept_encodings:
        return response
    body = response.get_data()
    if len(body) < _GZIP_MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    return response
