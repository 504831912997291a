"""GS1 identifiers: GTIN/GLN check digits and GS1 Digital Link URIs.

Sources: GS1 General Specifications 24.0 §7.9 (check digit: weights 3,1,3,...
from the right, check = (10 - sum mod 10) mod 10) and GS1 Digital Link URI
Syntax 1.4 (``/01/{gtin}/10/{lot}/21/{serial}``: primary key first, then key
qualifiers in the fixed order 22, 10, 21; values percent-encoded per RFC 3986).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from traceability.errors import IdentifierError

#: The resolver used in EPCIS documents when no organisation resolver applies
#: (GS1's canonical domain for identifiers, GS1 Digital Link 1.4 §4.1).
CANONICAL_RESOLVER = "https://id.gs1.org"

# GS1 AI encodable character set 82 (GS1 General Specifications figure 7.11-1).
_CSET82 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")
# RFC 3986 unreserved characters stay literal; everything else is %-encoded.
_UNRESERVED = "-._~"


def gs1_check_digit(body: str) -> int:
    """Check digit of a GS1 key without its check digit (weights 3,1,3,... from the right)."""
    if not body.isdigit():
        raise IdentifierError("a GS1 key has digits only", field="gs1 key", got=body)
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _validated_key(value: str, *, length: int, name: str, pad_from: tuple[int, ...] = ()) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise IdentifierError(
            f"a {name} has digits only", field=name, expected=f"{length} digits", got=value
        )
    if len(text) in pad_from:
        text = text.zfill(length)
    if len(text) != length:
        raise IdentifierError(
            f"wrong {name} length", field=name, expected=f"{length} digits", got=value
        )
    expected = gs1_check_digit(text[:-1])
    if int(text[-1]) != expected:
        raise IdentifierError(
            f"invalid {name} check digit",
            field=name,
            expected=f"check digit {expected} (…{text[-4:-1]}{expected})",
            got=value,
        )
    return text


def normalise_gtin(value: str) -> str:
    """Return the GTIN-14 of a GTIN-8/12/13/14, its check digit verified."""
    return _validated_key(value, length=14, name="GTIN", pad_from=(8, 12, 13))


def normalise_gln(value: str) -> str:
    """Return a 13-digit GLN, its check digit verified."""
    return _validated_key(value, length=13, name="GLN")


def normalise_sscc(value: str) -> str:
    """Return an 18-digit SSCC (logistic unit, e.g. a pallet), its check digit verified."""
    return _validated_key(value, length=18, name="SSCC")


def with_check_digit(body: str) -> str:
    """Append the GS1 check digit to ``body``."""
    return f"{body}{gs1_check_digit(body)}"


def validate_lot(lot: str, *, name: str = "lot") -> str:
    """A batch/lot or serial number: 1-20 characters of GS1 character set 82."""
    if not isinstance(lot, str) or not _CSET82.match(lot):
        raise IdentifierError(
            f"not a valid GS1 {name} number",
            field=name,
            expected="1-20 characters of GS1 AI character set 82 (letters, digits, !\"%&'()*+,-./:;<=>?_)",
            got=lot,
        )
    return lot


@dataclass(frozen=True)
class DigitalLink:
    """The parts of a GS1 Digital Link URI for a trade item."""

    gtin: str
    lot: str | None = None
    serial: str | None = None
    resolver: str = CANONICAL_RESOLVER

    @property
    def uri(self) -> str:
        return build_digital_link(self.gtin, self.lot, self.serial, resolver=self.resolver)


def build_digital_link(
    gtin: str,
    lot: str | None = None,
    serial: str | None = None,
    *,
    resolver: str = CANONICAL_RESOLVER,
) -> str:
    """``https://<resolver>/01/<GTIN-14>[/10/<lot>][/21/<serial>]`` with percent-encoded values."""
    parts = urlsplit(resolver)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise IdentifierError(
            "resolver must be an http(s) base URL",
            field="resolver",
            expected="e.g. https://id.gs1.org",
            got=resolver,
        )
    path = f"/01/{normalise_gtin(gtin)}"
    if lot is not None:
        path += "/10/" + quote(validate_lot(lot), safe=_UNRESERVED)
    if serial is not None:
        path += "/21/" + quote(validate_lot(serial, name="serial"), safe=_UNRESERVED)
    return resolver.rstrip("/") + path


_ORDER = {"01": 0, "22": 1, "10": 2, "21": 3}


def parse_digital_link(uri: str) -> DigitalLink:
    """Parse a Digital Link URI (with any resolver and path prefix) into GTIN, lot and serial."""
    parts = urlsplit(str(uri))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise IdentifierError(
            "not a GS1 Digital Link URI",
            field="uri",
            expected="https://<resolver>/01/<GTIN>…",
            got=uri,
        )
    segments = parts.path.split("/")
    try:
        start = segments.index("01")
    except ValueError:
        raise IdentifierError(
            "no GTIN (AI 01) in the path",
            field="uri",
            expected="a path containing /01/<GTIN>",
            got=uri,
        ) from None
    pairs = segments[start:]
    if len(pairs) % 2:
        raise IdentifierError(
            "AI without a value in the path", field="uri", expected="/AI/value pairs", got=uri
        )
    values: dict[str, str] = {}
    last = -1
    for ai, raw in zip(pairs[0::2], pairs[1::2], strict=True):
        if ai not in _ORDER:
            raise IdentifierError(
                f"unsupported application identifier {ai!r}",
                field="uri",
                expected="AIs 01, 22, 10, 21",
                got=uri,
            )
        if _ORDER[ai] <= last:
            raise IdentifierError(
                "key qualifiers out of order or repeated",
                field="uri",
                expected="/01/…/22/…/10/…/21/…",
                got=uri,
            )
        last = _ORDER[ai]
        values[ai] = unquote(raw)
    prefix = "/".join(segments[:start]).rstrip("/")
    resolver = f"{parts.scheme}://{parts.netloc}{prefix}"
    return DigitalLink(
        gtin=normalise_gtin(values["01"]),
        lot=validate_lot(values["10"]) if "10" in values else None,
        serial=validate_lot(values["21"], name="serial") if "21" in values else None,
        resolver=resolver,
    )


def lot_class_uri(gtin: str, lot: str) -> str:
    """The EPCIS ``epcClass`` of a lot (GS1 Digital Link on id.gs1.org, EPCIS 2.0 §8.3.4)."""
    return build_digital_link(gtin, lot)


def location_uri(gln: str, extension: str | None = None) -> str:
    """A location (AI 414 GLN, optional AI 254 extension such as a field id) as a Digital Link."""
    uri = f"{CANONICAL_RESOLVER}/414/{normalise_gln(gln)}"
    if extension is not None:
        uri += "/254/" + quote(validate_lot(extension, name="GLN extension"), safe=_UNRESERVED)
    return uri


def party_uri(gln: str) -> str:
    """A party (AI 417 party GLN) as a Digital Link, used in EPCIS source/destination lists."""
    return f"{CANONICAL_RESOLVER}/417/{normalise_gln(gln)}"


def sscc_uri(sscc: str) -> str:
    """A logistic unit (AI 00 SSCC) as a Digital Link, the parentID of a packing event."""
    return f"{CANONICAL_RESOLVER}/00/{normalise_sscc(sscc)}"


def parse_location_uri(uri: str) -> tuple[str, str | None]:
    """``(gln, extension)`` of an AI 414 location URI."""
    match = re.match(r"^https?://[^/]+/414/(\d{13})(?:/254/([^/]+))?$", str(uri))
    if not match:
        raise IdentifierError(
            "not a GLN location URI",
            field="location",
            expected=".../414/<GLN>[/254/<ext>]",
            got=uri,
        )
    return normalise_gln(match.group(1)), unquote(match.group(2)) if match.group(2) else None


def parse_party_uri(uri: str) -> str:
    """The GLN of an AI 417 party URI."""
    match = re.match(r"^https?://[^/]+/417/(\d{13})$", str(uri))
    if not match:
        raise IdentifierError(
            "not a party GLN URI", field="party", expected=".../417/<GLN>", got=uri
        )
    return normalise_gln(match.group(1))
