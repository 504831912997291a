"""The EPCIS Event Hash ID (GS1 CBV 2.0, "EPCIS Event Hash ID" section) of an event.

The canonical pre-hash string (fixed property order, UTC timestamps with
milliseconds, CBV values as GS1 Web URIs, EPC URIs as canonical Digital Link,
sorted lists, user extensions last) is computed by GS1's reference
implementation ``epcis-event-hash-generator``; the result is
``ni:///sha-256;<hex>?ver=CBV2.0`` (RFC 6920 named information).

JSON-LD contexts are resolved offline: the EPCIS 2.0 context ships with that
package, any other remote context is refused instead of fetched.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any

from epcis_event_hash_generator import hash_generator, json_to_py
from pyld import jsonld

from traceability.errors import EpcisValidationError

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
_OFFLINE_CONTEXTS = {EPCIS_CONTEXT, "https://gs1.github.io/EPCIS/epcis-context.jsonld"}
_lock = threading.Lock()


class _QuietReferenceImplementation(logging.Filter):
    """Drop the per-event INFO/DEBUG lines the reference implementation logs on the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            record.levelno >= logging.WARNING or "epcis_event_hash_generator" not in record.pathname
        )


logging.getLogger().addFilter(_QuietReferenceImplementation())
_reference_loader = jsonld.get_document_loader()


def _offline_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    if url not in _OFFLINE_CONTEXTS:
        raise jsonld.JsonLdError(
            f"remote JSON-LD context {url!r} is not fetched",
            "jsonld.LoadDocumentError",
            code="loading document failed",
        )
    return _reference_loader(url, options or {})


def _context_for(event: dict[str, Any], context: Any) -> Any:
    ctx = event.get("@context", context)
    if ctx is None:
        return [EPCIS_CONTEXT]
    ctx = ctx if isinstance(ctx, list) else [ctx]
    return ctx if EPCIS_CONTEXT in ctx else [EPCIS_CONTEXT, *ctx]


def _ordered(value: Any) -> Any:
    """Recursively order object keys: ``type`` first, then the rest sorted.

    The reference implementation reads nested objects (sources, destinations,
    sensor reports) in their key order; fixing that order makes the hash
    independent of how the JSON was serialised (e.g. ``sort_keys`` in storage).
    """
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (k != "type", k))
        return {k: _ordered(value[k]) for k in keys}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def pre_hash_string(event: dict[str, Any], context: Any = None, *, join_by: str = "") -> str:
    """The canonical pre-hash string of one event (``context``: the enclosing document's ``@context``)."""
    body = {
        k: _ordered(v)
        for k, v in copy.deepcopy(event).items()
        if k not in ("eventID", "recordTime", "@context")
    }
    # eventID and recordTime are not part of the Event Hash ID; everything else is (CBV 2.0).
    doc = {
        "@context": _context_for(event, context),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2000-01-01T00:00:00Z",
        "epcisBody": {"eventList": [body]},
    }
    with _lock:
        previous = jsonld.get_document_loader()
        jsonld.set_document_loader(_offline_loader)
        try:
            parsed = json_to_py.event_list_from_epcis_document_json(doc)
            strings = hash_generator.derive_prehashes_from_events(parsed, join_by=join_by)
        except jsonld.JsonLdError as err:
            raise EpcisValidationError(
                "cannot expand the event's JSON-LD context",
                field="@context",
                expected=f"{EPCIS_CONTEXT} plus inline namespace objects",
                got=str(err)[:200],
            ) from err
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as err:
            raise EpcisValidationError(
                "cannot canonicalise the event", field="event", got=str(err)
            ) from err
        finally:
            jsonld.set_document_loader(previous)
    if len(strings) != 1:
        raise EpcisValidationError(
            "cannot canonicalise the event", field="event", expected="an EPCIS 2.0 event"
        )
    return strings[0]


def event_hash(event: dict[str, Any], context: Any = None) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` of one EPCIS event."""
    return hash_generator.calculate_hashes_from_pre_hashes(
        [pre_hash_string(event, context)], "sha256"
    )[0]
