"""Vegetation condition indices in the sense of Kogan (1995) and FAO ASIS.

VCI = 100 (NDVI - NDVImin) / (NDVImax - NDVImin)
TCI = 100 (Tmax - T) / (Tmax - Tmin)
VHI = 0.5 VCI + 0.5 TCI

Kogan, F. N. (1995) "Application of vegetation index and brightness
temperature for drought detection", Adv. Space Res. 15(11); FAO ASIS
methodology (Rojas et al. 2011, Remote Sens. Environ. 115). The minima and
maxima are per pixel over the seasons available (the current one included).
Nongshu has no thermal band, so TCI uses the season's mean daily maximum air
temperature (a documented proxy for the brightness temperature); VHI below 40
indicates drought stress in FAO ASIS.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: FAO ASIS: VHI < 40 marks agricultural drought stress (0-100 scale).
VHI_DROUGHT_THRESHOLD = 40.0


def _scaled(current: NDArray, history: NDArray, *, inverse: bool) -> NDArray:
    """100 * position of ``current`` between the per-pixel min and max of ``history`` (axis 0)."""
    current = np.asarray(current, dtype="float64")
    stack = np.concatenate([np.asarray(history, dtype="float64"), current[None]], axis=0)
    lo, hi = np.nanmin(stack, axis=0), np.nanmax(stack, axis=0)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (hi - current) / span if inverse else (current - lo) / span
    # no contrast between seasons: the neutral mid value rather than 0/0
    frac = np.where(span > 0, frac, 0.5)
    return np.where(np.isnan(current), np.nan, 100.0 * np.clip(frac, 0, 1)).astype("float32")


def vci(current: NDArray, history: NDArray) -> NDArray:
    """Vegetation Condition Index, 0-100 (0 = worst of the record)."""
    return _scaled(current, history, inverse=False)


def tci(current: NDArray, history: NDArray) -> NDArray:
    """Temperature Condition Index, 0-100 (0 = hottest of the record)."""
    return _scaled(current, history, inverse=True)


def vhi(vci_: NDArray, tci_: NDArray, alpha: float = 0.5) -> NDArray:
    """Vegetation Health Index = alpha VCI + (1 - alpha) TCI, alpha = 0.5 (Kogan 1995)."""
    return (alpha * np.asarray(vci_, dtype="float32") + (1 - alpha) * np.asarray(tci_, dtype="float32")).astype(
        "float32"
    )


def anomaly(current: NDArray, history: NDArray) -> NDArray:
    """Difference to the mean of the other seasons (same units as the input); NaN without history."""
    history = np.asarray(history, dtype="float32")
    if history.shape[0] == 0:
        return np.full(np.shape(current), np.nan, dtype="float32")
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(history, axis=0)
    return (np.asarray(current, dtype="float32") - mean).astype("float32")
