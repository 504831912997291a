"""Nongshu (农数): geospatial smart-agriculture analytics.

The root package holds what every part shares: the root exception
(:mod:`nongshu.errors`), the settings object (:mod:`nongshu.settings`) and the
``nongshu`` command line (:mod:`nongshu.cli`). The work itself lives in the
sibling packages ``geodata``, ``pipelines``, ``models``, ``traceability`` and
``webapi``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nongshu")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
