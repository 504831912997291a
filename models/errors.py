"""Errors of the models."""

from __future__ import annotations

from nongshu.errors import NongshuError


class ModelError(NongshuError):
    """Root of the errors raised by :mod:`models`."""


class FeatureMismatchError(ModelError, ValueError):
    """A fitted model was given features other than those it was trained on."""


class UnitsError(ModelError, ValueError):
    """An input array or threshold lacks units, or has units that cannot be converted."""


class ModelInputError(ModelError, ValueError):
    """An input table or array does not have the shape, columns or values a model needs."""
