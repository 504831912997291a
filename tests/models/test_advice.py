"""Advice rules: coverage, phone-sized texts, and suppression by the farm-operations log."""

from __future__ import annotations

import pandas as pd
import pytest

from models.advice import advice_for, load_rules, match_rule
from models.alerts import HAZARDS
from models.crops import CROPS
from models.errors import ModelInputError


def alert(hazard="disease", level=3, crop="potato", stage="flowering", field="DX-1", day="2025-07-10"):
    return {"target_id": field, "hazard": hazard, "level": level, "crop": crop, "stage": stage, "valid_from": day}


def ops(*rows):
    return pd.DataFrame([dict(zip(("field_id", "date", "operation", "product", "active_ingredient"), r, strict=True))
                         for r in rows])


def test_every_hazard_crop_level_has_advice_in_both_languages():
    for hazard in HAZARDS:
        for crop in CROPS:
            for level in (1, 2, 3, 4):
                for lang in ("zh", "en"):
                    items = advice_for(alert(hazard, level, crop, "heading"), None, lang)
                    assert items, (hazard, crop, level, lang)


def test_texts_fit_a_phone_screen():
    rules = load_rules()
    for rule in rules["rules"]:
        for action in rule["actions"]:
            assert len(action["zh"]) <= 60, action["zh"]
            assert len(action["en"]) <= 140, action["en"]


def test_most_specific_rule_wins():
    _, potato = match_rule("frost", "potato", "emergence", 3)
    _, generic = match_rule("frost", "maize", "emergence", 3)
    assert potato["crop"] == "potato" and generic["crop"] == "*"
    _, wheat = match_rule("disease", "winter_wheat", "heading", 4)
    assert "条锈病" in wheat["actions"][0]["zh"]


def test_spray_withheld_within_protection_interval():
    log = ops(("DX-1", "2025-07-05", "spraying", "Revus", "mandipropamid"))  # 10-day protection -> until 07-15
    items = advice_for(alert(), log, "en")
    spray = [a for a in items if a.action == "spray"]
    assert len(spray) == 1 and spray[0].suppressed
    assert "2025-07-05" in spray[0].text and "2025-07-15" in spray[0].text
    assert any(a.action == "manage" and not a.suppressed for a in items)
    # after the interval, or for another field, the spray advice comes back
    assert not [a for a in advice_for(alert(day="2025-07-15"), log) if a.suppressed]
    assert not [a for a in advice_for(alert(field="DX-2"), log) if a.suppressed]


def test_spray_with_an_ineffective_product_does_not_protect():
    log = ops(("DX-1", "2025-07-08", "spraying", "吡虫啉", "吡虫啉"))  # an insecticide against late blight
    assert not [a for a in advice_for(alert(), log) if a.suppressed]
    log_zh = ops(("DX-1", "2025-07-08", "spraying", "代森锰锌可湿性粉剂", "代森锰锌"))  # Chinese name of mancozeb
    assert [a for a in advice_for(alert(), log_zh) if a.suppressed]


def test_irrigate_withheld_after_recent_irrigation():
    a = alert("drought", 3, "maize", "flowering")
    log = ops(("DX-1", "2025-07-08", "irrigation", "", ""))
    items = advice_for(a, log, "zh")
    irrigate = [x for x in items if x.action == "irrigate"]
    assert irrigate and irrigate[0].suppressed and "2025-07-08" in irrigate[0].text
    old = ops(("DX-1", "2025-06-20", "irrigation", "", ""))
    assert not advice_for(a, old, "zh")[0].suppressed


def test_bad_inputs_have_clear_errors():
    with pytest.raises(ModelInputError, match="lang"):
        advice_for(alert(), None, "fr")
    with pytest.raises(ModelInputError, match="operation"):
        advice_for(alert(), ops(("DX-1", "2025-07-08", "dancing", "", "")))
