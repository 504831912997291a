"""The web layer's use of the trace store (:mod:`traceability`): opening it, probing it, season summaries.

The store itself (EPCIS validation, custody rules, hash chain, consumer view)
belongs to :mod:`traceability`; this module only connects it to the settings
and to the pipeline outputs the web app reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from flask.blueprints import BlueprintSetupState
from sqlalchemy import text
from werkzeug.routing import PathConverter

from nongshu.settings import Settings
from webapi.runs import RunStore

#: RFC 3986 unreserved marks (letters and digits are never quoted): the rest of a value is percent-encoded.
_UNRESERVED = "-._~"


class Gs1ValueConverter(PathConverter):
    """URL converter ``<dlvalue:lot>`` for a GS1 key qualifier such as an AI 10 batch/lot.

    GS1 AI 10 values may contain ``/`` (character set 82); GS1 Digital Link 1.2
    (§ 4.8) has such characters percent-encoded (``/`` as ``%2F``). WSGI servers
    decode ``%2F`` before routing, so the value is matched across slashes (as
    ``<path:…>``) and built percent-encoded for links.
    """

    def to_url(self, value: str) -> str:
        return quote_gs1_value(value)


def quote_gs1_value(value: str) -> str:
    """A GS1 key qualifier as it appears in a Digital Link path: everything but letters, digits
    and RFC 3986 unreserved marks percent-encoded (``/`` as ``%2F``, GS1 Digital Link 1.2 § 4.8)."""
    return quote(str(value), safe=_UNRESERVED)


def register_gs1_converter(state: BlueprintSetupState) -> None:
    """Blueprint setup hook: make ``<dlvalue:…>`` available before the blueprint's rules are added."""
    state.app.url_map.converters.setdefault("dlvalue", Gs1ValueConverter)


def open_store(settings: Settings) -> Any:
    """Open (and migrate) the trace store at ``settings.trace_database_url``."""
    from traceability.store import TraceStore

    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return TraceStore.open(settings.trace_database_url)


def ping(store: Any) -> None:
    """Raise when the trace database does not answer ``SELECT 1``."""
    with store.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def season_summary_provider(runs: RunStore) -> Callable[[str, int], Mapping[str, Any] | None]:
    """``(field_id, season) -> summary`` from the published run of that season, for the consumer view.

    The summary is public: crop, forecast or season yield class, and the alerts the
    field had (hazard, level, validity); nothing personal.
    """

    def provider(field_id: str, season: int) -> Mapping[str, Any] | None:
        for run in runs.runs():
            if str(run.season) != str(season):
                continue
            try:
                fields = runs.fields(run)
            except Exception:  # noqa: BLE001 - a run without a field table has no summary
                continue
            if field_id not in fields.index:
                continue
            row = fields.loc[field_id]
            alerts = [
                {"hazard": a.get("hazard"), "level": a.get("level"), "colour": a.get("colour"),
                 "valid_from": a.get("valid_from"), "valid_to": a.get("valid_to")}
                for a in runs.alerts(run).get("alerts", []) if str(a.get("target_id")) == field_id
            ]
            pred = row.get("yield_pred_t_ha")
            same_crop = fields[fields["crop"] == row.get("crop")]["yield_pred_t_ha"] if "crop" in fields else None
            return {
                "run_id": run.name,
                "season": run.season,
                "yield_pred_t_ha": None if pred is None or pred != pred else round(float(pred), 1),
                "yield_class": yield_class(pred, same_crop),
                "alert_level": int(row.get("alert_level") or 0),
                "alerts": alerts,
            }
        return None

    return provider


def yield_class(value: Any, peers: Any) -> str | None:
    """``low``/``average``/``high``: the tercile of ``value`` among the same crop's fields of the run."""
    if value is None or value != value or peers is None:
        return None
    peers = peers.dropna()
    if len(peers) < 3:
        return "average"
    lo, hi = peers.quantile([1 / 3, 2 / 3])
    return "low" if value < lo else "high" if value > hi else "average"
