"""Errors of the I/O layer: bad inputs and failed writes."""

from __future__ import annotations

from nongshu.errors import NongshuError


class GeodataError(NongshuError):
    """Root of the errors raised by :mod:`geodata`."""


class InputError(GeodataError, ValueError):
    """An input file is unreadable, incomplete or inconsistent (names file, field, expectation)."""


class OutputError(GeodataError, OSError):
    """An output could not be written (disk full, read-only directory, ...); nothing half-written is left."""
