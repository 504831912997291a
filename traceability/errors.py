"""Errors of the traceability store and its rules."""

from __future__ import annotations

from nongshu.errors import NongshuError


class TraceError(NongshuError):
    """Root of the errors raised by :mod:`traceability`; a client error (HTTP 400) unless a subclass says."""

    status = 400


class IdentifierError(TraceError):
    """A GS1 identifier (GTIN, GLN, lot, Digital Link URI) is malformed."""


class EpcisValidationError(TraceError):
    """An EPCIS document or event does not follow EPCIS 2.0; ``field`` is its JSON path."""


class UnknownLotError(TraceError):
    """A lot (GTIN + lot number) is not in the store (HTTP 404)."""

    status = 404


class AuthError(TraceError):
    """An API key is unknown or revoked (HTTP 401)."""

    status = 401


class PermissionDeniedError(TraceError):
    """The organisation's role or custody does not allow this write (HTTP 403)."""

    status = 403


class EventConflictError(TraceError):
    """An event contradicts the stored history (duplicate id, custody, time order) (HTTP 409)."""

    status = 409


class OperationsLogError(TraceError):
    """The farm operations CSV cannot be read."""


class EventRuleError(TraceError):
    """An event breaks a business rule (time order, unbalanced quantities, unknown party) (HTTP 422)."""

    status = 422


class PayloadTooLargeError(TraceError):
    """An import is larger than the configured limit (HTTP 413)."""

    status = 413


class StoreError(TraceError):
    """The trace store cannot be opened or migrated."""

    status = 503
