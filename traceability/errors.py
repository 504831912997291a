"""Errors of the traceability store and its rules."""

from __future__ import annotations

from nongshu.errors import NongshuError


class TraceError(NongshuError):
    """Root of the errors raised by :mod:`traceability`."""
