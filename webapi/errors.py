"""Errors of the web layer (mapped to RFC 9457 problem+json responses)."""

from __future__ import annotations

from nongshu.errors import NongshuError


class WebApiError(NongshuError):
    """Root of the errors raised by :mod:`webapi`; ``status`` is the HTTP status to answer with."""

    status: int = 400
