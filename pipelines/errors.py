"""Errors of the season pipeline."""

from __future__ import annotations

from nongshu.errors import NongshuError


class PipelineError(NongshuError):
    """Root of the errors raised by :mod:`pipelines`."""


class ClusterError(PipelineError):
    """The Dask cluster could not be started or reached."""
