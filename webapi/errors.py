"""Errors of the web layer (mapped to RFC 9457 problem+json responses)."""

from __future__ import annotations

from nongshu.errors import NongshuError


class WebApiError(NongshuError):
    """Root of the errors raised by :mod:`webapi`; ``status`` is the HTTP status to answer with."""

    status: int = 400


class BadRequestError(WebApiError):
    """A query parameter or path segment has a value the API cannot use (400)."""

    status = 400


class UnauthorizedError(WebApiError):
    """No API key, or an unknown or revoked one (401)."""

    status = 401


class ForbiddenError(WebApiError):
    """The API key is valid but its role may not do this (403)."""

    status = 403


class NotFoundError(WebApiError):
    """The run, layer, field, alert or lot asked for does not exist (404)."""

    status = 404


class RateLimitedError(WebApiError):
    """Too many requests from one client; ``retry_after`` is in seconds (429)."""

    status = 429

    def __init__(self, message: str, *, retry_after: int, **kwargs: object) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class NotReadyError(WebApiError):
    """A dependency (outputs, trace database) cannot be reached (503)."""

    status = 503
