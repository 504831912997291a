"""QR codes carrying GS1 Digital Link URIs, rendered with segno."""

from __future__ import annotations

import io

import segno

from traceability.errors import IdentifierError


def _qr(uri: str) -> segno.QRCode:
    if not uri:
        raise IdentifierError(
            "nothing to encode", field="uri", expected="a Digital Link URI", got=uri
        )
    # Error correction M (15 %) as recommended for on-pack GS1 QR codes (GS1 Gen Specs §5.7.3).
    return segno.make_qr(uri, error="m", boost_error=False)


def qr_svg(uri: str, *, scale: int = 4, border: int = 4) -> bytes:
    """An SVG image (UTF-8 bytes) of a QR code encoding ``uri``; quiet zone of ``border`` modules."""
    out = io.BytesIO()
    _qr(uri).save(
        out,
        kind="svg",
        scale=scale,
        border=border,
        xmldecl=True,
        svgns=True,
        title=uri,
        desc="GS1 Digital Link",
    )
    return out.getvalue()


def qr_png(uri: str, *, scale: int = 8, border: int = 4) -> bytes:
    """A PNG image of a QR code encoding ``uri``; ``scale`` pixels per module."""
    out = io.BytesIO()
    _qr(uri).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def write_qr(uri: str, path: str, *, scale: int | None = None) -> None:
    """Write a QR code to ``path``; the format (``.png`` or ``.svg``) follows the suffix."""
    lower = str(path).lower()
    if lower.endswith(".png"):
        data = qr_png(uri, scale=scale or 8)
    elif lower.endswith(".svg"):
        data = qr_svg(uri, scale=scale or 4)
    else:
        raise IdentifierError(
            "unknown QR image format", source=str(path), expected="a .png or .svg file name"
        )
    with open(path, "wb") as fh:
        fh.write(data)
