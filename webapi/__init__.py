"""Flask web API and pages: tiles, fields, alerts (CAP 1.2), advice, GS1 Digital Link trace pages.

Build the app with :func:`create_app` (nothing is configured at import time)::

    from webapi import create_app
    app = create_app(Settings.from_env())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(*args: Any, **kwargs: Any) -> Flask:
    """See :func:`webapi.app.create_app`."""
    from webapi.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]
