"""The root of every error Nongshu raises on purpose.

Each package has its own ``errors.py`` whose exceptions derive from
:class:`NongshuError`, so a caller (the CLI, the web layer) can catch one type
and show the message to a person. Messages name the file or field at fault and
what was expected, in the manner of rasterio's and rio-tiler's errors.
"""

from __future__ import annotations

from typing import Any


class NongshuError(Exception):
    """Root exception: something a user can act on, with a clear message.

    Parameters
    ----------
    message:
        What went wrong, in words a person can act on.
    source:
        The file, URL, table or request part at fault (e.g. ``"fields.gpkg"``).
    field:
        The field, band, variable or parameter at fault (e.g. ``"sowing_date"``).
    expected:
        What would have been accepted (e.g. ``"a GTIN-14 with a valid check digit"``).
    got:
        The offending value, shown with ``repr`` (long values are shortened).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        field: str | None = None,
        expected: str | None = None,
        got: Any = None,
    ) -> None:
        self.message = message
        self.source = None if source is None else str(source)
        self.field = field
        self.expected = expected
        self.got = got
        super().__init__(self._format())

    def _format(self) -> str:
        where = ": ".join(p for p in (self.source, self.field) if p)
        text = f"{where}: {self.message}" if where else self.message
        details = []
        if self.expected is not None:
            details.append(f"expected {self.expected}")
        if self.got is not None:
            shown = repr(self.got)
            if len(shown) > 120:
                shown = shown[:117] + "..."
            details.append(f"got {shown}")
        if details:
            text += f" ({'; '.join(details)})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (used for CLI ``--json`` output and problem+json)."""
        out: dict[str, Any] = {"error": type(self).__name__, "message": str(self)}
        for key in ("source", "field", "expected"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class ConfigError(NongshuError):
    """A setting (environment variable or option) has a value that cannot be used."""
