"""Advice for an alert: rules from ``advice_rules.yaml``, filtered by the farm-operations log.

:func:`advice_for` picks the most specific rule for the alert's hazard, crop, stage and level
(exact crop beats ``"*"``, exact stage beats ``"*"``) and returns its actions in the asked
language, except that

* a ``spray`` action is replaced by a note while the field is protected by an effective
  product (active ingredient whose ``targets`` include the action's) sprayed within that
  product's protection interval;
* an ``irrigate`` action is replaced by a note when the field was irrigated within the
  hazard's ``recent_irrigation_days``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from models.errors import ModelInputError
from models.operations import field_operations

LANGS = ("zh", "en")


@dataclass(frozen=True)
class Advice:
    """One piece of advice for one field: an action, or a note saying why an action is withheld."""

    field_id: str
    hazard: str
    level: int
    action: str
    text: str
    lang: str
    rule: str
    suppressed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=1)
def load_rules() -> dict[str, Any]:
    """The packaged rule set (parsed once)."""
    text = resources.files("models").joinpath("advice_rules.yaml").read_text(encoding="utf-8")
    return validate_rules(yaml.safe_load(text))


def validate_rules(rules: Mapping[str, Any]) -> dict[str, Any]:
    """Check a rule set's structure; raises :class:`ModelInputError` naming the bad rule."""
    for key in ("rules", "products", "notes", "recent_irrigation_days"):
        if key not in rules:
            raise ModelInputError("rule set lacks a section", source="advice_rules.yaml", field=key)
    for i, rule in enumerate(rules["rules"]):
        for key in ("hazard", "crop", "stage", "levels", "actions"):
            if key not in rule:
                raise ModelInputError("rule lacks a key", source="advice_rules.yaml", field=f"rules[{i}].{key}")
        for j, action in enumerate(rule["actions"]):
            for key in ("type", *LANGS):
                if key not in action:
                    raise ModelInputError("action lacks a key", source="advice_rules.yaml",
                                          field=f"rules[{i}].actions[{j}].{key}")
    return dict(rules)


def _lang(lang: str) -> str:
    short = lang.lower().split("-")[0].split("_")[0]
    if short not in LANGS:
        raise ModelInputError("unsupported language", field="lang", expected="zh or en", got=lang)
    return short


def _crop_matches(rule_crop: Any, crop: str) -> int:
    """Specificity of a rule's crop for ``crop``: 2 exact/list, 1 wildcard, -1 no match."""
    if rule_crop == "*":
        return 1
    crops = rule_crop if isinstance(rule_crop, list) else [rule_crop]
    return 2 if crop in crops else -1


def match_rule(hazard: str, crop: str, stage: str, level: int, rules: Mapping[str, Any] | None = None) -> tuple[int, dict] | None:
    """(index, rule) of the most specific rule for the combination, or ``None``."""
    rs = rules or load_rules()
    best: tuple[int, int, dict] | None = None
    for i, rule in enumerate(rs["rules"]):
        if rule["hazard"] != hazard or int(level) not in rule["levels"]:
            continue
        c = _crop_matches(rule["crop"], crop)
        if c < 0 or rule["stage"] not in ("*", stage):
            continue
        score = c * 2 + (1 if rule["stage"] == stage else 0)
        if best is None or score > best[0]:
            best = (score, i, rule)
    return None if best is None else (best[1], best[2])


def _protecting_spray(ops: pd.DataFrame, field_id: str, on: pd.Timestamp, targets: list[str],
                      rules: Mapping[str, Any]) -> dict | None:
    """The latest spraying row still protecting the field against one of ``targets``."""
    products = {k.lower(): v for k, v in rules["products"].items()}
    aliases = {v["zh"]: k for k, v in products.items() if "zh" in v}
    for row in field_operations(ops, field_id, "spraying", on).to_dict("records"):
        ai = str(row.get("active_ingredient") or row.get("product") or "").strip()
        key = aliases.get(ai, ai.lower())
        info = products.get(key)
        if info is None or not set(info["targets"]) & set(targets):
            continue
        until = row["date"] + pd.Timedelta(days=int(info["protection_days"]))
        if on < until:
            return {"date": row["date"], "until": until, "product": row.get("product") or ai, "ingredient": key}
    return None


def advice_for(alert: Mapping[str, Any], operations: pd.DataFrame | None = None, lang: str = "zh",
               on=None, rules: Mapping[str, Any] | None = None) -> list[Advice]:
    """Advice for one alert record (``alerts.json`` shape), honouring the field's operations log.

    ``on`` is the date the advice is for (default: the alert's ``valid_from``).
    Returns an empty list when no rule covers the alert.
    """
    rs = rules or load_rules()
    lg = _lang(lang)
    for key in ("hazard", "level", "target_id"):
        if key not in alert:
            raise ModelInputError("alert lacks a key", source="alert", field=key)
    hazard, level = alert["hazard"], int(alert["level"])
    crop, stage = alert.get("crop") or "*", alert.get("stage") or "*"
    field_id = str(alert["target_id"])
    when = pd.Timestamp(on if on is not None else alert.get("valid_from"))
    found = match_rule(hazard, crop, stage, level, rs)
    if found is None:
        return []
    index, rule = found
    rule_key = f"{hazard}/{crop}/{stage}/{level}#rule{index}"
    ops = operations if operations is not None and not operations.empty else None
    out: list[Advice] = []
    for action in rule["actions"]:
        kind = action["type"]
        note = None
        if ops is not None and kind == "spray":
            hit = _protecting_spray(ops, field_id, when, list(action.get("targets", [])), rs)
            if hit:
                note = rs["notes"]["spray_protected"][lg].format(
                    date=hit["date"].date().isoformat(), until=hit["until"].date().isoformat(), product=hit["product"])
        elif ops is not None and kind == "irrigate":
            window = int(rs["recent_irrigation_days"].get(hazard, 3))
            rows = field_operations(ops, field_id, "irrigation", when)
            if not rows.empty and (when - rows["date"].iloc[0]).days <= window:
                note = rs["notes"]["irrigated_recently"][lg].format(
                    date=rows["date"].iloc[0].date().isoformat(), days=window)
        if note is None:
            out.append(Advice(field_id, hazard, level, kind, action[lg], lg, rule_key))
        else:
            out.append(Advice(field_id, hazard, level, kind, note, lg, rule_key, suppressed=True))
    return out
