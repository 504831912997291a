"""Advice texts for alerts, from the advice rules in :mod:`models.advice`.

The rules live with the models (pure functions); this module only adapts an
alert record of ``alerts.json`` to them and shapes the result for JSON and pages.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

log = logging.getLogger(__name__)


def _rules() -> Any:
    try:
        from models import advice as rules
    except ImportError:
        return None
    return rules


def advice_for_alert(alert: dict[str, Any], lang: str) -> dict[str, Any] | None:
    """``{"key", "lang", "title", "text", "actions"}`` for one alert, or None when no rule matches."""
    rules = _rules()
    if rules is None or not hasattr(rules, "advice_for"):
        return None
    func = rules.advice_for
    params = inspect.signature(func).parameters
    kwargs: dict[str, Any] = {}
    for name in ("hazard", "crop", "stage", "level", "colour", "lang", "risk", "triggers", "key", "advice_key", "alert"):
        if name not in params:
            continue
        if name == "lang":
            kwargs[name] = lang
        elif name in ("key", "advice_key"):
            kwargs[name] = alert.get("advice_key")
        elif name == "alert":
            kwargs[name] = alert
        else:
            kwargs[name] = alert.get(name)
    try:
        result = func(**kwargs)
    except (KeyError, ValueError, LookupError) as err:
        log.info("no advice for %s: %s", alert.get("advice_key"), err)
        return None
    return _shape(result, alert, lang)


def _shape(result: Any, alert: dict[str, Any], lang: str) -> dict[str, Any] | None:
    if result is None:
        return None
    if hasattr(result, "model_dump"):
        result = result.model_dump()
    elif hasattr(result, "__dataclass_fields__"):
        from dataclasses import asdict

        result = asdict(result)
    if isinstance(result, str):
        return {"key": alert.get("advice_key"), "lang": lang, "title": None, "text": result, "actions": []}
    if isinstance(result, dict):
        text = result.get("text") or result.get("summary") or result.get(lang) or ""
        actions = result.get("actions") or result.get("steps") or []
        if isinstance(text, dict):
            text = text.get(lang) or next(iter(text.values()), "")
        return {
            "key": result.get("key") or alert.get("advice_key"),
            "lang": lang,
            "title": result.get("title") if not isinstance(result.get("title"), dict) else result["title"].get(lang),
            "text": str(text),
            "actions": [str(a) for a in actions] if isinstance(actions, list) else [str(actions)],
        }
    return {"key": alert.get("advice_key"), "lang": lang, "title": None, "text": str(result), "actions": []}
