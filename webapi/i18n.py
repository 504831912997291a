"""Language choice (``?lang=`` beats ``Accept-Language``; Chinese by default) and page strings."""

from __future__ import annotations

from werkzeug.datastructures import LanguageAccept

from models.alerts import HAZARD_INFO
from webapi.errors import BadRequestError

LANGS = ("zh", "en")


def choose_lang(query_lang: str | None, accept: LanguageAccept) -> str:
    """``zh`` or ``en``: the ``lang`` query parameter, else the best Accept-Language match, else ``zh``."""
    if query_lang:
        lang = query_lang.lower().split("-")[0]
        if lang not in LANGS:
            raise BadRequestError("unsupported language", field="lang", expected="zh or en", got=query_lang)
        return lang
    for value, quality in sorted(accept, key=lambda item: -item[1]):  # stable: header order on ties
        primary = value.lower().replace("_", "-").split("-")[0]
        if quality > 0 and primary in LANGS:
            return primary
    return "zh"


#: key -> (zh, en)
STRINGS: dict[str, tuple[str, str]] = {
    "app": ("农数", "Nongshu"),
    "map_title": ("风险地图", "Risk map"),
    "layer": ("图层", "Layer"),
    "legend": ("图例", "Legend"),
    "alerts": ("预警", "Alerts"),
    "no_alerts": ("当前无预警", "No current alerts"),
    "all_levels": ("全部等级", "All levels"),
    "all_hazards": ("全部灾害", "All hazards"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "export_geojson": ("导出 GeoJSON", "Export GeoJSON"),
    "field": ("地块", "Field"),
    "crop": ("作物", "Crop"),
    "area": ("面积", "Area"),
    "cooperative": ("合作社", "Cooperative"),
    "township": ("乡镇", "Township"),
    "yield_forecast": ("产量预测", "Yield forecast"),
    "interval": ("80% 区间", "80 % interval"),
    "advice": ("建议", "Advice"),
    "valid": ("有效期", "Valid"),
    "ndvi": ("NDVI 曲线", "NDVI curve"),
    "fields_by_urgency": ("地块（按紧急程度排序）", "Fields (most urgent first)"),
    "details": ("详情", "Details"),
    "switch_lang": ("English", "中文"),
    "run": ("批次", "Run"),
    "product": ("产品", "Product"),
    "lot": ("批号", "Lot"),
    "origin": ("产地", "Origin"),
    "grower": ("生产者", "Grower"),
    "harvest_date": ("采收日期", "Harvest date"),
    "certificate": ("合格证", "Certificate"),
    "inspections": ("检测结果", "Inspections"),
    "custody": ("流通记录", "Chain of custody"),
    "season_summary": ("产地本季概况", "Origin field this season"),
    "chain_ok": ("追溯链完整，已验证", "Trace chain intact and verified"),
    "chain_broken": ("警告：追溯链不完整或被篡改，请谨慎", "Warning: the trace chain is broken or was tampered with"),
    "recalled": ("此批次已召回，请勿食用", "This lot has been recalled: do not eat it"),
    "passed": ("合格", "passed"),
    "failed": ("不合格", "failed"),
    "t_ha": ("吨/公顷", "t/ha"),
    "no_data": ("暂无数据", "no data"),
    "loading": ("加载中…", "Loading…"),
    "close": ("关闭", "Close"),
    "level": ("等级", "Level"),
    "hazard": ("灾害", "Hazard"),
    "risk": ("风险", "Risk"),
    "stage": ("生育期", "Stage"),
}

CROPS: dict[str, tuple[str, str]] = {
    "potato": ("马铃薯", "potato"),
    "spring_wheat": ("春小麦", "spring wheat"),
    "winter_wheat": ("冬小麦", "winter wheat"),
    "maize": ("玉米", "maize"),
    "highland_barley": ("青稞", "highland barley"),
}

#: the ticked basis on a 承诺达标合格证 (Ministry of Agriculture and Rural Affairs template, 2019)
CERTIFICATE_BASES: dict[str, tuple[str, str]] = {
    "quality_control": ("质量安全控制符合要求", "quality and safety controls met"),
    "own_test": ("自行检测合格", "passed own test"),
    "commissioned_test": ("委托检测合格", "passed commissioned test"),
}

HAZARDS: dict[str, tuple[str, str]] = {h: (info["zh"], info["en"]) for h, info in HAZARD_INFO.items()}


def translator(lang: str):  # noqa: ANN201 - returns a plain function for templates
    """A ``t(key)`` function for templates; ``t.crop(x)``/``t.hazard(x)`` translate vocabularies."""
    idx = 0 if lang == "zh" else 1

    def t(key: str) -> str:
        pair = STRINGS.get(key)
        return pair[idx] if pair else key

    def vocab(table: dict[str, tuple[str, str]]):  # noqa: ANN202
        return lambda value: table.get(str(value), (str(value), str(value)))[idx]

    t.crop = vocab(CROPS)  # type: ignore[attr-defined]
    t.hazard = vocab(HAZARDS)  # type: ignore[attr-defined]
    t.basis = vocab(CERTIFICATE_BASES)  # type: ignore[attr-defined]
    t.lang = lang  # type: ignore[attr-defined]
    return t
