"""Errors of the models."""

from __future__ import annotations

from nongshu.errors import NongshuError


class ModelError(NongshuError):
    """Root of the errors raised by :mod:`models`."""


class FeatureMismatchError(ModelError, ValueError):
    """A fitted model was given features other than those it was trained on."""
