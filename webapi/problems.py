"""RFC 9457 ``application/problem+json`` for every error the app answers with.

One table maps exception types to HTTP statuses (in the manner of titiler's
``DEFAULT_STATUS_CODES``); the message shown to the client is the exception's
own user-facing text, and unexpected exceptions are logged with their traceback
and answered with a generic 500 problem that reveals nothing internal.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from nongshu.errors import ConfigError, NongshuError
from traceability import errors as trace_errors
from webapi.errors import RateLimitedError, WebApiError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: exception type -> HTTP status, most specific first; the first ``isinstance`` match wins.
#: A :class:`WebApiError` (or any error with an integer ``status``) carries its own status.
STATUS_TABLE: list[tuple[type[BaseException], int]] = [
    (trace_errors.UnknownLotError, 404),
    (trace_errors.IdentifierError, 400),
    (trace_errors.EpcisValidationError, 422),
    (trace_errors.AuthError, 401),
    (trace_errors.PermissionDeniedError, 403),
    (trace_errors.EventConflictError, 409),
    (trace_errors.EventRuleError, 422),
    (trace_errors.PayloadTooLargeError, 413),
    (trace_errors.StoreError, 503),
    (ConfigError, 500),
    (NongshuError, 400),
]


def status_for(err: BaseException) -> int:
    """The HTTP status of a Nongshu error (its own ``status`` or the table's)."""
    own = getattr(err, "status", None)
    if isinstance(err, WebApiError) and isinstance(own, int):
        return own
    for exc_type, status in STATUS_TABLE:
        if isinstance(err, exc_type):
            return status
    return own if isinstance(own, int) else 400


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    """A problem+json response (RFC 9457 section 3)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    body.update({k: v for k, v in extra.items() if v is not None})
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    if status == 503:
        response.headers["Retry-After"] = "30"  # dependencies restart within seconds (RFC 9110 §10.2.3)
    return response


def _titles() -> dict[int, str]:
    from http import HTTPStatus

    return {s.value: s.phrase for s in HTTPStatus}


_TITLES = _titles()


def register_error_handlers(app: Flask) -> None:
    """Install the handlers: Nongshu errors, HTTP errors, and a last-resort 500."""

    @app.errorhandler(NongshuError)
    def _nongshu_error(err: NongshuError) -> Response:
        status = status_for(err)
        if status >= 500:
            log.error("server-side error on %s: %s", request.path, err, exc_info=err)
            detail = ("a service the API depends on is unavailable; try again shortly" if status == 503
                      else "the server could not read its own data; the operators have been told")
            return problem(status, _TITLES.get(status, "Error"), detail)
        response = problem(
            status, _TITLES.get(status, "Error"), str(err), field=err.field, expected=err.expected,
        )
        if isinstance(err, RateLimitedError):
            response.headers["Retry-After"] = str(err.retry_after)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="nongshu-trace"'
        return response

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        detail = err.description
        if status == 413:
            detail = f"the request body is larger than the accepted {app.config.get('MAX_CONTENT_LENGTH')} bytes"
        response = problem(status, _TITLES.get(status, err.name), detail)
        valid_methods = getattr(err, "valid_methods", None)
        if status == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(OperationalError)
    def _database_down(err: OperationalError) -> Response:
        log.error("trace database unavailable on %s: %s", request.path, err)
        return problem(503, "Service Unavailable", "the trace database cannot be reached; try again shortly")

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "an unexpected error occurred; it has been logged")
