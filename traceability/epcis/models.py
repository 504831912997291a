"""Pydantic models of EPCIS 2.0 JSON-LD documents, used to validate imports at run time.

They follow the official EPCIS 2.0 JSON schema (GS1 EPCIS 2.0 §12, the
``EPCIS-JSON-Schema.json`` published with the standard) for the event types
Nongshu stores (ObjectEvent, AggregationEvent, TransformationEvent): required
fields, enumerations of actions, CBV business steps and dispositions, UN/ECE
rec. 20 units, time-zone offsets, and that extension properties are URIs
(compact ``prefix:name`` or absolute). :func:`parse_document` turns a
validation failure into :class:`EpcisValidationError` whose ``field`` is the
JSON path of the offending value (``$.epcisBody.eventList[2].eventTime``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from traceability.errors import EpcisValidationError

BIZ_STEPS = [
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
    "sensor_reporting",
    "sampling",
]
DISPOSITIONS = [
    "active",
    "container_closed",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "no_pedigree_match",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unknown",
    "available",
    "completeness_verified",
    "completeness_inferred",
    "conformant",
    "container_open",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "non_conformant",
    "unavailable",
]
SOURCE_DEST_TYPES = ("owning_party", "possessing_party", "location")

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_OFFSET = re.compile(r"^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$")
_CBV_URN = re.compile(r"^(urn:epcglobal:cbv|https?://ns\.gs1\.org/cbv/)")


def _uri(value: str) -> str:
    if not _URI.match(value):
        raise ValueError("expected an absolute URI (scheme:...)")
    return value


def _vocab(allowed: tuple[str, ...] | list[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value in allowed:
            return value
        if _URI.match(value) and not _CBV_URN.match(value):
            return value
        raise ValueError(
            f"expected a CBV 2.0 {what} ({', '.join(list(allowed)[:6])}, ...) or a non-CBV URI"
        )

    return check


def _time(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            "expected an ISO 8601 date-time such as 2025-09-20T08:00:00+08:00"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError("expected a date-time with a time zone (Z or +hh:mm)")
    return value


def _offset(value: str) -> str:
    if not _OFFSET.match(value):
        raise ValueError("expected a time-zone offset such as +08:00")
    return value


Uri = Annotated[str, AfterValidator(_uri)]
#: A time stamp kept as the string it was sent as (it is hashed as sent); must carry a zone.
Time = Annotated[str, Field(strict=True), AfterValidator(_time)]
BizStep = Annotated[str, AfterValidator(_vocab(BIZ_STEPS, "business step"))]
Disposition = Annotated[str, AfterValidator(_vocab(DISPOSITIONS, "disposition"))]
SourceDestType = Annotated[
    str, AfterValidator(_vocab(SOURCE_DEST_TYPES, "source/destination type"))
]
TzOffset = Annotated[str, AfterValidator(_offset)]
Uom = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$")]


def _no_nulls(data: Any) -> Any:
    """EPCIS JSON has no ``null`` values: an absent property is left out."""
    if isinstance(data, dict):
        for key, value in data.items():
            if value is None:
                raise ValueError(f"property {key!r} is null: leave it out instead")
    return data


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    _nulls = model_validator(mode="before")(_no_nulls)


class _Extensible(BaseModel):
    """Objects whose extra properties must be URI-named extensions (``prefix:name``)."""

    model_config = ConfigDict(extra="allow")

    _nulls = model_validator(mode="before")(_no_nulls)

    @model_validator(mode="after")
    def _extension_names(self) -> _Extensible:
        for key in self.model_extra or {}:
            if not _URI.match(key):
                raise ValueError(
                    f"unknown property {key!r}: extensions must be URIs such as 'example:{key}'"
                )
        return self


class QuantityElement(_Strict):
    epcClass: Uri
    quantity: float | None = None
    uom: Uom | None = None


class Location(_Extensible):
    id: Uri


class Source(_Strict):
    type: SourceDestType
    source: Uri


class Destination(_Strict):
    type: SourceDestType
    destination: Uri


class BizTransaction(_Strict):
    type: Uri | None = None
    bizTransaction: Uri


class SensorReport(_Extensible):
    type: str
    deviceID: Uri | None = None
    deviceMetadata: Uri | None = None
    rawData: Uri | None = None
    dataProcessingMethod: Uri | None = None
    bizRules: Uri | None = None
    exception: str | None = None
    component: str | None = None
    uriValue: Uri | None = None
    hexBinaryValue: str | None = None
    sDev: float | None = None
    percRank: float | None = None
    percValue: float | None = None
    coordinateReferenceSystem: Uri | None = None
    chemicalSubstance: Uri | None = None
    microorganism: Uri | None = None
    value: float | None = None
    minValue: float | None = None
    maxValue: float | None = None
    meanValue: float | None = None
    uom: str | None = None
    stringValue: str | None = None
    booleanValue: bool | None = None
    time: Time | None = None


class SensorMetadata(_Extensible):
    time: Time | None = None
    deviceID: Uri | None = None
    deviceMetadata: Uri | None = None
    rawData: Uri | None = None
    dataProcessingMethod: Uri | None = None
    bizRules: Uri | None = None
    startTime: Time | None = None
    endTime: Time | None = None


class SensorElement(_Extensible):
    sensorMetadata: SensorMetadata | None = None
    sensorReport: list[SensorReport]


class ErrorDeclaration(_Extensible):
    declarationTime: Time
    reason: str | None = None
    correctiveEventIDs: list[Uri] | None = None


class _Event(_Extensible):
    context: Any = Field(default=None, alias="@context")
    eventTime: Time
    eventTimeZoneOffset: TzOffset
    recordTime: Time | None = None
    eventID: Uri | None = None
    certificationInfo: Uri | list[Uri] | None = None
    errorDeclaration: ErrorDeclaration | None = None
    bizStep: BizStep | None = None
    disposition: Disposition | None = None
    readPoint: Location | None = None
    bizLocation: Location | None = None
    bizTransactionList: list[BizTransaction] | None = None
    sourceList: list[Source] | None = None
    destinationList: list[Destination] | None = None
    sensorElementList: list[SensorElement] | None = None


def _ilmd_keys(value: dict[str, Any] | None) -> dict[str, Any] | None:
    for key in value or {}:
        if not _URI.match(key):
            raise ValueError(f"ILMD property {key!r} must be a URI such as 'example:{key}'")
    return value


Ilmd = Annotated[dict[str, Any] | None, AfterValidator(_ilmd_keys)]


class ObjectEvent(_Event):
    type: Literal["ObjectEvent"]
    action: Literal["OBSERVE", "ADD", "DELETE"]
    epcList: list[Uri] | None = None
    quantityList: list[QuantityElement] | None = None
    ilmd: Ilmd = None

    @model_validator(mode="after")
    def _has_objects(self) -> ObjectEvent:
        if self.epcList is None and self.quantityList is None:
            raise ValueError("an ObjectEvent needs epcList or quantityList")
        return self


class AggregationEvent(_Event):
    type: Literal["AggregationEvent"]
    action: Literal["OBSERVE", "ADD", "DELETE"]
    parentID: Uri | None = None
    childEPCs: list[Uri] | None = None
    childQuantityList: list[QuantityElement] | None = None


class TransformationEvent(_Event):
    type: Literal["TransformationEvent"]
    inputEPCList: list[Uri] | None = None
    inputQuantityList: list[QuantityElement] | None = None
    outputEPCList: list[Uri] | None = None
    outputQuantityList: list[QuantityElement] | None = None
    transformationID: Uri | None = None
    ilmd: Ilmd = None

    @model_validator(mode="after")
    def _has_io(self) -> TransformationEvent:
        ins = [*(self.inputEPCList or []), *(self.inputQuantityList or [])]
        outs = [*(self.outputEPCList or []), *(self.outputQuantityList or [])]
        if not self.transformationID and not (ins and outs):
            raise ValueError(
                "a TransformationEvent needs inputs and outputs (or a transformationID)"
            )
        return self


Event = Annotated[ObjectEvent | AggregationEvent | TransformationEvent, Field(discriminator="type")]


class EpcisBody(_Strict):
    eventList: list[Event]


class EpcisDocument(_Extensible):
    context: str | list[str | dict[str, Any]] = Field(alias="@context")
    type: Literal["EPCISDocument"]
    schemaVersion: str = Field(pattern=r"^\d+\.\d+$")
    creationDate: Time
    id: Uri | None = None
    instanceIdentifier: str | None = None
    sender: str | None = None
    receiver: str | None = None
    epcisHeader: dict[str, Any] | None = None
    epcisBody: EpcisBody


def json_path(loc: tuple[int | str, ...]) -> str:
    """``('epcisBody', 'eventList', 0, 'ObjectEvent', 'eventTime')`` -> ``$.epcisBody.eventList[0].eventTime``."""
    path = "$"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("ObjectEvent", "AggregationEvent", "TransformationEvent") or part.startswith(
            "function-"
        ):
            continue
        elif part == "context":
            path += ".@context"
        else:
            path += f".{part}"
    return path


def parse_document(data: Any, *, source: str = "EPCIS document") -> EpcisDocument:
    """Validate a decoded EPCIS 2.0 JSON document; the first error names its JSON path."""
    if not isinstance(data, dict):
        raise EpcisValidationError(
            "an EPCIS document is a JSON object",
            source=source,
            field="$",
            expected="an object with type EPCISDocument",
            got=type(data).__name__,
        )
    try:
        return EpcisDocument.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        message = first["msg"]
        if first["type"] == "union_tag_invalid":
            message = "unsupported event type (ObjectEvent, AggregationEvent, TransformationEvent are stored)"
        elif first["type"] == "extra_forbidden":
            message = f"unknown property {loc[-1]!r}"
        raise EpcisValidationError(
            message,
            source=source,
            field=json_path(loc),
            got=first.get("input") if not isinstance(first.get("input"), dict) else None,
        ) from err


def event_datetime(value: str) -> datetime:
    """Parse an event timestamp that validation has accepted."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
