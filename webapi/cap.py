"""CAP 1.2 alert messages and an Atom feed from the alerts of a run (pure: no Flask, no I/O).

OASIS Common Alerting Protocol 1.2 (2010): one ``<alert>`` per message with one
``<info>`` per language (``zh-CN``, ``en``). China's four warning colours map to
CAP severity as in the CMA CAP profile: blue→Minor, yellow→Moderate,
orange→Severe, red→Extreme. ``certainty`` follows the CAP 1.2 definitions with
the model's risk as the probability: Likely (p > ~50 %), else Possible.
Weather hazards are category ``Met``; pests and disease ``Env``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from models.alerts import COLOURS, HAZARD_INFO, LEVEL_NAMES, cap_info

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"
CHINA_TZ = timezone(timedelta(hours=8))

LANGS = ("zh", "en")

def cap_time(moment: datetime) -> str:
    """CAP dateTime: ``YYYY-MM-DDThh:mm:ss+hh:mm`` (the schema forbids ``Z`` and fractions)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_TZ)
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "+00:00" if text.endswith("+00:00") else text


def _day(text: str | None, end: bool = False) -> datetime | None:
    if not text:
        return None
    d = date.fromisoformat(str(text)[:10])
    return datetime.combine(d, time(23, 59, 59) if end else time(0, 0, 0), tzinfo=CHINA_TZ)


def urgency(valid_from: str | None, valid_to: str | None, now: datetime, current: str = "Expected") -> str:
    """``Past`` when expired, ``Future`` when not yet valid, else ``current`` (the model's urgency)."""
    start, stop = _day(valid_from), _day(valid_to, end=True)
    if stop is not None and now > stop:
        return "Past"
    if start is not None and now < start:
        return "Future"
    return current


def cap_polygons(geometry: BaseGeometry | None, tolerance: float = 1e-4) -> list[str]:
    """CAP polygons (``"lat,lon lat,lon ..."``, closed, >= 4 points) of the exterior rings, WGS84."""
    if geometry is None or geometry.is_empty:
        return []
    geometry = geometry.simplify(tolerance, preserve_topology=True)
    parts: Iterable[Polygon]
    if isinstance(geometry, Polygon):
        parts = [geometry]
    elif isinstance(geometry, MultiPolygon):
        parts = list(geometry.geoms)
    else:
        parts = [geometry.convex_hull] if isinstance(geometry.convex_hull, Polygon) else []
    out = []
    for poly in parts:
        coords = list(poly.exterior.coords)
        if len(coords) >= 4:
            out.append(" ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in coords))
    return out


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = str(text)
    return el


def _info(
    root: ET.Element,
    alert: dict[str, Any],
    lang: str,
    *,
    area_desc: str,
    polygons: list[str],
    advice_text: str | None,
    web: str | None,
    sender_name: str,
    now: datetime,
) -> None:
    level = int(alert["level"])
    hazard = str(alert["hazard"])
    fields = cap_info(hazard, level, lang)
    event = HAZARD_INFO[hazard][lang]
    colour = COLOURS[LEVEL_NAMES[level]][lang]
    risk = alert.get("risk")
    info = _sub(root, "info")
    _sub(info, "language", fields["language"])
    _sub(info, "category", fields["category"])
    _sub(info, "event", fields["event"])
    _sub(info, "responseType", "Prepare")
    _sub(info, "urgency", urgency(alert.get("valid_from"), alert.get("valid_to"), now, fields["urgency"]))
    _sub(info, "severity", fields["severity"])
    _sub(info, "certainty", fields["certainty"])
    code = _sub(info, "eventCode")
    _sub(code, "valueName", "nongshu:hazard")
    _sub(code, "value", hazard)
    for tag, value in (("effective", _day(alert.get("valid_from"))), ("onset", _day(alert.get("valid_from"))),
                       ("expires", _day(alert.get("valid_to"), end=True))):
        if value is not None:
            _sub(info, tag, cap_time(value))
    _sub(info, "senderName", sender_name)
    target = alert.get("target_id", "")
    if lang == "zh":
        headline = f"{area_desc} {event}{colour}"
        description = (f"{target}：{event}风险 {float(risk or 0):.2f}，生育期 {alert.get('stage', '')}，"
                       f"有效期 {alert.get('valid_from')} 至 {alert.get('valid_to')}。")
    else:
        headline = f"{colour}: {event.lower()} for {area_desc}"
        description = (f"{target}: {event.lower()} risk {float(risk or 0):.2f} at stage {alert.get('stage', '')}, "
                       f"valid {alert.get('valid_from')} to {alert.get('valid_to')}.")
    _sub(info, "headline", headline)
    _sub(info, "description", description)
    if advice_text:
        _sub(info, "instruction", advice_text)
    if web:
        _sub(info, "web", web)
    parameters: list[tuple[str, Any]] = [
        ("nongshu:level", level), ("nongshu:colour", LEVEL_NAMES[level]), ("nongshu:risk", risk),
        ("nongshu:crop", alert.get("crop")), ("nongshu:target", target),
    ]
    for name, param_value in parameters:
        if param_value is not None:
            param = _sub(info, "parameter")
            _sub(param, "valueName", name)
            _sub(param, "value", param_value)
    area = _sub(info, "area")
    _sub(area, "areaDesc", area_desc)
    for poly in polygons:
        _sub(area, "polygon", poly)
    if alert.get("township"):
        geocode = _sub(area, "geocode")
        _sub(geocode, "valueName", "nongshu:township")
        _sub(geocode, "value", alert["township"])


def build_cap(
    identifier: str,
    sender: str,
    alerts: list[dict[str, Any]],
    *,
    geometry_of: Callable[[dict[str, Any]], BaseGeometry | None],
    advice_of: Callable[[dict[str, Any], str], str | None],
    web_of: Callable[[dict[str, Any]], str | None],
    sender_name: str = "农数 Nongshu",
    now: datetime | None = None,
    note: str | None = None,
) -> bytes:
    """One CAP 1.2 ``<alert>`` with a zh-CN and an en ``<info>`` per Nongshu alert (levels 1-4)."""
    now = now or datetime.now(CHINA_TZ)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", identifier)
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(now))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", "Alert")
    _sub(root, "scope", "Public")
    if note:
        _sub(root, "note", note)
    for alert in alerts:
        if int(alert.get("level", 0)) not in (1, 2, 3, 4):
            continue
        polygons = cap_polygons(geometry_of(alert))
        area_desc = f"{alert.get('target_id', '')} ({alert.get('township', '')})".strip()
        for lang in LANGS:
            _info(root, alert, lang, area_desc=area_desc, polygons=polygons,
                  advice_text=advice_of(alert, lang), web=web_of(alert), sender_name=sender_name, now=now)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)


def build_atom(
    feed_id: str,
    title: str,
    self_url: str,
    entries: list[dict[str, Any]],
    now: datetime | None = None,
) -> bytes:
    """An Atom 1.0 feed (RFC 4287); each entry ``{"id","title","summary","link","updated"}`` links a CAP message."""
    now = now or datetime.now(CHINA_TZ)
    feed = ET.Element("feed", {"xmlns": ATOM_NS})

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, tag, attrs)
        if text is not None:
            el.text = text
        return el

    sub(feed, "id", feed_id)
    sub(feed, "title", title)
    sub(feed, "updated", now.isoformat(timespec="seconds"))
    sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    author = sub(feed, "author")
    sub(author, "name", "农数 Nongshu")
    for entry in entries:
        item = sub(feed, "entry")
        sub(item, "id", entry["id"])
        sub(item, "title", entry["title"])
        sub(item, "updated", entry.get("updated") or now.isoformat(timespec="seconds"))
        sub(item, "summary", entry.get("summary", ""))
        sub(item, "link", rel="alternate", href=entry["link"], type=CAP_MEDIA_TYPE)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
