"""Advice texts for alerts, from the advice rules of :func:`models.advice.advice_for`.

The rules (and their reading of the farm-operations log: no "spray now" within a
product's protection interval, no "irrigate" right after irrigation) live with
the models; this module only finds the region's operations log and shapes the
rule output for JSON and pages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from models.advice import advice_for
from nongshu.errors import NongshuError

log = logging.getLogger(__name__)


def warm_up() -> None:
    """Import the operations reader now (it pulls in the geodata readers, a few seconds) rather
    than inside the first request that needs advice."""
    import geodata.readers.tables  # noqa: F401


def read_operations_log(path: Path) -> pd.DataFrame | None:
    """The farm-operations CSV (``inputs/<region>/operations/operations.csv``) or None when absent/unreadable."""
    if not path.is_file():
        return None
    from geodata.readers.tables import read_operations

    try:
        return read_operations(path)
    except NongshuError as err:
        log.warning("advice without the operations log: %s", err)
        return None


def advice_for_alert(alert: dict[str, Any], lang: str, operations: pd.DataFrame | None = None) -> dict[str, Any] | None:
    """``{"key", "lang", "actions": [{"action", "text", "suppressed"}]}`` for one alert; None without a rule.

    Each action is one concrete step in ``lang``; a withheld action (``suppressed``)
    carries the note saying why (e.g. the field is still protected by a spray).
    """
    try:
        items = advice_for(alert, operations, lang=lang)
    except NongshuError as err:
        log.info("no advice for alert %s: %s", alert.get("id"), err)
        return None
    if not items:
        return None
    return {
        "key": items[0].rule,
        "lang": items[0].lang,
        "actions": [{"action": a.action, "text": a.text, "suppressed": a.suppressed} for a in items],
    }


def advice_text(advice: dict[str, Any] | None) -> str | None:
    """The advice as plain text, one action per line (CAP ``instruction``)."""
    if not advice:
        return None
    return "\n".join(a["text"] for a in advice["actions"])
