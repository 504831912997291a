"""Pure helpers of the web layer: bbox parsing, rate limits, JSON depth, sparklines, yield classes, times."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapi.errors import BadRequestError, RateLimitedError
from webapi.fields_query import parse_bbox, parse_level
from webapi.ratelimit import Limit, RateLimiter

lon = st.floats(-180, 180, allow_nan=False)
lat = st.floats(-90, 90, allow_nan=False)


@given(lon, lat, lon, lat)
def test_parse_bbox_accepts_exactly_ordered_wgs84_boxes(x1, y1, x2, y2):
    text = f"{x1!r},{y1!r},{x2!r},{y2!r}"
    if x1 <= x2 and y1 <= y2:
        assert parse_bbox(text) == (x1, y1, x2, y2)
    else:
        with pytest.raises(BadRequestError) as info:
            parse_bbox(text)
        assert info.value.field == "bbox"


@pytest.mark.parametrize("text", ["", "1,2,3", "1,2,3,4,5", "x,1,2,3", "inf,0,1,1", "0,-91,1,1", "1e400,0,1,1"])
def test_parse_bbox_rejects(text):
    with pytest.raises(BadRequestError):
        parse_bbox(text)


def test_parse_level_names_and_numbers():
    assert [parse_level(x) for x in ("0", "blue", "YELLOW", "3", "red")] == [0, 1, 2, 3, 4]
    with pytest.raises(BadRequestError):
        parse_level("5")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_refill_and_retry_after():
    clock = FakeClock()
    limiter = RateLimiter({"b": Limit(burst=2, per_minute=6)}, clock=clock)  # one token per 10 s
    limiter.hit("b", "a")
    limiter.hit("b", "a")
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("b", "a")
    assert info.value.retry_after == 10
    limiter.hit("b", "other-client")  # clients are counted separately
    clock.now += 4
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("b", "a")
    assert info.value.retry_after == 6  # 0.4 token back, 0.6 missing at 0.1 token/s
    clock.now += 6
    limiter.hit("b", "a")


def test_check_does_not_spend_tokens():
    clock = FakeClock()
    limiter = RateLimiter({"b": Limit(burst=1, per_minute=60)}, clock=clock)
    for _ in range(5):
        limiter.check("b", "a")
    limiter.hit("b", "a")
    with pytest.raises(RateLimitedError):
        limiter.check("b", "a")


def test_json_depth():
    from webapi.blueprints.trace import json_depth

    assert json_depth({"a": 1}, 10) == 1
    assert json_depth({"a": [{"b": []}]}, 10) == 4
    assert json_depth(json.loads("[" * 50 + "]" * 50), 10) == 11  # stops early


def test_sparkline_points_scale_to_the_box():
    from webapi.views_data import sparkline_points

    assert sparkline_points([0.0, 0.5, 1.0], width=100, height=20) == "0.0,20.0 50.0,10.0 100.0,0.0"
    assert sparkline_points([0.2, None, 0.4], width=10, height=10) == "0.0,10.0 10.0,0.0"
    assert sparkline_points([0.3]) == ""


def test_yield_class_terciles():
    from webapi.trace_adapter import yield_class

    peers = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # terciles at 2.667 and 4.333
    assert [yield_class(v, peers) for v in (2.0, 3.0, 5.0)] == ["low", "average", "high"]
    assert yield_class(float("nan"), peers) is None
    assert yield_class(3.0, pd.Series([3.0])) == "average"


def test_china_time():
    from webapi.app import china_time

    assert china_time("2026-09-01T01:00:00.000Z") == "2026-09-01 09:00"
    assert china_time("2026-09-01T20:30:00+00:00") == "2026-09-02 04:30"
    assert china_time(None) == "" and china_time("garbage") == "garbage"


def test_language_choice():
    from werkzeug.datastructures import LanguageAccept

    from webapi.i18n import choose_lang

    assert choose_lang(None, LanguageAccept([])) == "zh"
    assert choose_lang(None, LanguageAccept([("en-US", 1), ("zh-CN", 0.5)])) == "en"
    assert choose_lang(None, LanguageAccept([("zh-TW", 1), ("en", 0.5)])) == "zh"
    assert choose_lang("EN", LanguageAccept([("zh", 1)])) == "en"
    with pytest.raises(BadRequestError):
        choose_lang("de", LanguageAccept([]))


def test_layer_registry_refuses_duplicates():
    from webapi.layers import LAYERS, LayerRegistry

    with pytest.raises(ValueError, match="twice"):
        LayerRegistry([LAYERS["gdd"], LAYERS["gdd"]])
