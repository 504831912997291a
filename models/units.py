"""Unit helpers: thresholds are written with their units (xclim style, e.g. ``"10 degC"``).

Conversions go through xclim's pint registry (:func:`xclim.core.units.convert_units_to`),
so ``"283.15 K"`` and ``"10 degC"`` are the same threshold. A data array without a
``units`` attribute is refused with a clear :class:`~models.errors.UnitsError`.
"""

from __future__ import annotations

from typing import Any

import xarray as xr
from xclim.core.units import convert_units_to

from models.errors import UnitsError

Quantity = str | float | int
"""A threshold: a string with units (``"-2 degC"``) or a bare number already in the target unit."""


def magnitude(value: Quantity, target: str) -> float:
    """The number of ``target`` units in ``value`` (``magnitude("0 degC", "K") == 273.15``)."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(convert_units_to(value, target))
    except Exception as err:  # pint raises many types; report one clear error
        raise UnitsError(
            "threshold cannot be converted", field=str(value), expected=f"a quantity in {target}", got=value
        ) from err


def to_units(da: xr.DataArray, target: str, name: str | None = None) -> xr.DataArray:
    """``da`` converted to ``target`` units; lazy for dask-backed arrays.

    Raises :class:`UnitsError` naming the variable when ``units`` is missing or incompatible.
    """
    label = name or (str(da.name) if da.name is not None else "variable")
    if not isinstance(da, xr.DataArray):
        raise UnitsError("expected an xarray.DataArray with a 'units' attribute", field=label, got=type(da).__name__)
    units = da.attrs.get("units")
    if not units:
        raise UnitsError("has no 'units' attribute", field=label, expected=f"units convertible to {target}")
    try:
        out = convert_units_to(da, target, context="hydro")
    except Exception as err:
        raise UnitsError(
            "has units that cannot be converted", field=label, expected=f"units convertible to {target}", got=units
        ) from err
    out.attrs["units"] = target
    return out


def require_dim(da: Any, dim: str, name: str) -> None:
    """Raise :class:`UnitsError` unless ``da`` is a DataArray with dimension ``dim``."""
    if not isinstance(da, xr.DataArray) or dim not in da.dims:
        raise UnitsError(f"needs a '{dim}' dimension", field=name, expected=f"an xarray.DataArray with dim '{dim}'",
                         got=getattr(da, "dims", type(da).__name__))
