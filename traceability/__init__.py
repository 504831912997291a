"""Produce traceability from origin field to sale: GS1 EPCIS 2.0 events, hash chain, Digital Link QR.

Public API (what the web layer and the CLI call)::

    from traceability import TraceStore, Principal, build_digital_link, parse_digital_link, qr_png, qr_svg

    store = TraceStore.open(settings.trace_database_url)       # migrates to the latest schema
    principal = store.authenticate(api_key)                     # AuthError (status 401) if unknown/revoked
    store.record_event(principal, event_dict)                   # -> RecordedEvent(event_id, event_hash, log_index, created)
    store.import_document(principal, raw_bytes, max_bytes=settings.max_upload_bytes)  # -> [RecordedEvent]
    store.export_lot(gtin, lot)                                 # EPCIS 2.0 JSON-LD document (dict)
    store.verify_lot(gtin, lot, recompute_hashes=False)         # -> VerifyReport(.ok, .first_broken, .as_dict()); O(log n), cached per checkpoint;
                                                                #    also audits the lot's stored consumer view (replaced when it differs)
    store.audit(recompute_hashes=True, on_lot=None)             # verify_lot for every lot -> {"lots_checked", "lots_broken"}
    store.consumer_view(gtin, lot, season_summary_provider=f)   # public page data, stored at write time (one indexed read);
                                                                #    f(field_id, season) -> dict | None
    store.consumer_view_json(gtin, lot, season_summary_provider=f)  # the same as compact JSON text (the stored text itself)
    store.lots(status=None, custodian_gln=None, limit=1000, offset=0)
    store.lot(gtin, lot); store.find_lot(lot, gtin=None); store.certificate(gtin, lot)
    store.trace_backward(gtin, lot); store.trace_forward(gtin, lot); store.trace_field(field_id)
    store.recall(principal, gtin, lot, reason=...)              # -> {"lots", "shops", "events"}
    store.checkpoint(); store.inclusion_proof(event_id)         # signed Merkle log head, RFC 6962 audit path
    store.create_organisation(gln=, name=, role=, ...); store.issue_api_key(gln) -> key (shown once)
    store.revoke_api_key(key_id)
    traceability.season_summary.fields_csv_provider(outputs_dir)  # a season_summary_provider over runs' fields.csv
    traceability.qr.write_qr(uri, "lot.png" | "lot.svg")

Roles: cooperative, grower, processor, logistics, wholesaler, retailer, inspector, bureau.
Errors derive from :class:`traceability.errors.TraceError`; those with an HTTP meaning carry
``status`` (AuthError 401, PermissionDeniedError 403, EventConflictError 409, EventRuleError 422,
PayloadTooLargeError 413, StoreError 503); the others (IdentifierError, EpcisValidationError with the
JSON path in ``field``, UnknownLotError) are client errors (400/404).
"""

from traceability.consumer import SeasonSummaryProvider
from traceability.epcis import builders
from traceability.epcis.hashing import event_hash
from traceability.gs1 import DigitalLink, build_digital_link, normalise_gtin, parse_digital_link
from traceability.qr import qr_png, qr_svg
from traceability.store import (
    ROLES,
    BrokenEvent,
    Principal,
    RecordedEvent,
    TraceStore,
    VerifyReport,
)

__all__ = [
    "ROLES",
    "BrokenEvent",
    "DigitalLink",
    "Principal",
    "RecordedEvent",
    "SeasonSummaryProvider",
    "TraceStore",
    "VerifyReport",
    "build_digital_link",
    "builders",
    "event_hash",
    "normalise_gtin",
    "parse_digital_link",
    "qr_png",
    "qr_svg",
]
