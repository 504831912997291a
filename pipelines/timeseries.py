"""NDVI time series on a regular time axis: gap filling, Savitzky-Golay smoothing, season metrics.

Pure numpy along axis 0 (time); every other axis is independent pixels, so
the functions apply unchanged to a dask block ``(time, y, x)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.signal import savgol_filter

#: regular time step of the smoothed series, days (5-day composites as in FAO ASIS dekadal/pentadal products).
STEP_DAYS = 5
#: Savitzky-Golay window (points on the regular axis) and polynomial order; 7 x 5 d = 35 d window,
#: the order-2 filter of Chen et al. (2004) "A simple method for reconstructing a high-quality NDVI
#: time-series data set based on the Savitzky-Golay filter", Remote Sens. Environ. 91.
SG_WINDOW = 7
SG_ORDER = 2
#: pixels processed at once by the per-pixel steps: their temporaries are ``(time, batch)`` float64/int64
#: arrays, so a batch bounds a task's extra memory (64 Ki pixels x 73 steps x ~64 B = ~300 MiB) whatever
#: the block size.
PIXEL_BATCH = 65536
#: a set of valid dates shared by fewer pixels than this is not worth its own smoothing operator
#: (building one costs about as much as gap-filling ~50 pixels one by one).
MIN_PATTERN_PIXELS = 48


def pixel_batches(n_pixels: int, batch: int | None = None) -> list[slice]:
    """Consecutive slices of at most ``batch`` (default :data:`PIXEL_BATCH`) pixels covering ``range(n_pixels)``."""
    size = batch or PIXEL_BATCH
    return [slice(i, min(i + size, n_pixels)) for i in range(0, n_pixels, size)]


def regular_axis(start: np.datetime64, end: np.datetime64, step_days: int = STEP_DAYS) -> NDArray:
    """Dates ``start, start + step, ...`` up to and including ``end`` (datetime64[D])."""
    first = np.asarray(start, dtype="datetime64[D]")
    n = int((np.asarray(end, dtype="datetime64[D]") - first) / np.timedelta64(1, "D")) // step_days + 1
    return first + np.arange(n) * np.timedelta64(step_days, "D")


def interpolate_gaps(values: NDArray, obs_days: NDArray, target_days: NDArray) -> NDArray:
    """Linear interpolation of each pixel's valid (finite) observations onto ``target_days``.

    ``values`` has time first, ``obs_days``/``target_days`` are increasing numbers
    (days). Before a pixel's first and after its last valid observation the
    nearest valid value is held; a pixel with no valid observation stays NaN.
    Vectorised over pixels: no Python loop over pixels.
    """
    values = np.asarray(values, dtype="float32")
    obs_days = np.asarray(obs_days, dtype="float64")
    target_days = np.asarray(target_days, dtype="float64")
    n_obs = values.shape[0]
    out_shape = (len(target_days), *values.shape[1:])
    if n_obs == 0:
        return np.full(out_shape, np.nan, dtype="float32")
    flat = values.reshape(n_obs, -1)
    valid = np.isfinite(flat)
    index = np.arange(n_obs)[:, None]
    # last valid observation at or before each index; first valid at or after
    prev_idx = np.maximum.accumulate(np.where(valid, index, -1), axis=0)
    next_idx = np.minimum.accumulate(np.where(valid, index, n_obs)[::-1], axis=0)[::-1]
    first_valid = next_idx[0]
    last_valid = prev_idx[-1]
    any_valid = last_valid >= 0

    # bracketing observation positions for each target day
    right = np.searchsorted(obs_days, target_days, side="left").clip(0, n_obs - 1)
    left = (np.searchsorted(obs_days, target_days, side="right") - 1).clip(0, n_obs - 1)
    lo = prev_idx[left]  # (n_target, n_pix), -1 when none before
    hi = next_idx[right]  # n_obs when none after
    lo = np.where(lo < 0, first_valid, lo)
    hi = np.where(hi >= n_obs, last_valid, hi)
    lo = np.where(any_valid, lo, 0)
    hi = np.where(any_valid, hi, 0)
    cols = np.arange(flat.shape[1])
    v_lo, v_hi = flat[lo, cols], flat[hi, cols]
    d_lo, d_hi = obs_days[lo], obs_days[hi]
    span = d_hi - d_lo
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(span > 0, (target_days[:, None] - d_lo) / span, 0.0).clip(0, 1)
    out = v_lo + (v_hi - v_lo) * w
    out = np.where(any_valid, out, np.nan)
    return out.reshape(out_shape).astype("float32")


def smooth(series: NDArray, window: int = SG_WINDOW, order: int = SG_ORDER) -> NDArray:
    """Savitzky-Golay smoothing along time; short series get the largest odd window that fits."""
    series = np.asarray(series, dtype="float32")
    n = series.shape[0]
    window = min(window, n if n % 2 else n - 1)
    if window <= order:
        return series.copy()
    filled = np.nan_to_num(series, nan=0.0)
    out = savgol_filter(filled, window, order, axis=0, mode="interp")
    return np.where(np.isnan(series), np.nan, out).astype("float32")


def smoothed_ndvi(values: NDArray, obs_days: NDArray, target_days: NDArray) -> NDArray:
    """Gap-filled, Savitzky-Golay-smoothed NDVI on ``target_days``, clipped to [-1, 1].

    Same result as ``clip(smooth(interpolate_gaps(values)))``, computed faster:
    for a given set of valid (cloud-free) dates both steps are linear, so all
    pixels sharing that set go through one matrix product with
    ``S @ I`` (``I`` the gap-filling weights, ``S`` the Savitzky-Golay
    operator). Cloud masks are spatially coherent, so a block holds few
    distinct sets; pixels with a rare set take the per-pixel path. Pixels are
    processed in :data:`PIXEL_BATCH` batches (bounded temporaries). The result
    is a time-first view of a pixel-major array (time is the fastest axis).
    """
    values = np.asarray(values, dtype="float32")
    obs_days = np.asarray(obs_days, dtype="float64")
    target_days = np.asarray(target_days, dtype="float64")
    flat = values.reshape(values.shape[0], -1)
    out = np.empty((flat.shape[1], len(target_days)), dtype="float32")
    smoother = savgol_operator(len(target_days))
    for part in pixel_batches(flat.shape[1]):
        out[part] = _smoothed_by_pattern(flat[:, part], obs_days, target_days, smoother)
    return out.T.reshape((len(target_days), *values.shape[1:]))


def savgol_operator(n: int, window: int = SG_WINDOW, order: int = SG_ORDER) -> NDArray:
    """The ``(n, n)`` matrix of :func:`smooth` on a complete series of ``n`` steps (``smooth(x) == S @ x``)."""
    window = min(window, n if n % 2 else n - 1)
    if window <= order:
        return np.eye(n)
    return savgol_filter(np.eye(n), window, order, axis=0, mode="interp")


def gap_fill_weights(valid: NDArray, obs_days: NDArray, target_days: NDArray) -> NDArray:
    """``(sets, targets, observations)`` weights of :func:`interpolate_gaps` for sets of valid observations.

    ``valid`` is ``(sets, observations)`` boolean, each set with at least one
    true: linear between the valid observations that bracket a target day, the
    nearest one held before the first and after the last.
    """
    valid = np.atleast_2d(np.asarray(valid, dtype=bool))
    n_sets, n_obs = valid.shape
    index = np.arange(n_obs)
    prev_idx = np.maximum.accumulate(np.where(valid, index, -1), axis=1)
    next_idx = np.minimum.accumulate(np.where(valid, index, n_obs)[:, ::-1], axis=1)[:, ::-1]
    right = np.searchsorted(obs_days, target_days, side="left").clip(0, n_obs - 1)
    left = (np.searchsorted(obs_days, target_days, side="right") - 1).clip(0, n_obs - 1)
    lo, hi = prev_idx[:, left], next_idx[:, right]  # (sets, targets)
    lo = np.where(lo < 0, next_idx[:, :1], lo)  # before the first valid date: hold it
    hi = np.where(hi >= n_obs, prev_idx[:, -1:], hi)  # after the last: hold it
    span = obs_days[hi] - obs_days[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(span > 0, (target_days - obs_days[lo]) / span, 0.0).clip(0, 1)
    weights = np.zeros((n_sets, len(target_days), n_obs))
    sets, targets = np.ogrid[:n_sets, :len(target_days)]
    weights[sets, targets, lo] = 1.0 - w
    weights[sets, targets, hi] += w  # lo == hi only where w == 0
    return weights


def _smoothed_by_pattern(flat: NDArray, obs_days: NDArray, target_days: NDArray, smoother: NDArray) -> NDArray:
    """:func:`smoothed_ndvi` of a ``(time, pixels)`` batch as ``(pixels, targets)``, one product per set of dates."""
    n_obs, n_pix = flat.shape
    result = np.full((n_pix, len(target_days)), np.nan, dtype="float32")
    if n_obs == 0 or n_pix == 0:
        return result
    valid = np.isfinite(flat)
    # one key per pixel: its valid dates as packed bits; pixels sorted by key
    packed = np.ascontiguousarray(np.packbits(valid, axis=0).T)
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(first) + 1))
    masks = valid[:, first].T  # (sets, observations)
    common = (np.diff(bounds) >= MIN_PATTERN_PIXELS) & masks.any(axis=1)
    grouped = np.ascontiguousarray(np.where(valid, flat, np.float32(0.0)).T[order])
    sorted_out = np.full_like(result, np.nan)
    if common.any():
        # (sets, observations, targets): value rows @ operator = smoothed rows
        operators = np.einsum("st,kto->kos", smoother, gap_fill_weights(masks[common], obs_days, target_days))
        for k, op in zip(np.flatnonzero(common), operators.astype("float32"), strict=True):
            np.matmul(grouped[bounds[k]:bounds[k + 1]], op, out=sorted_out[bounds[k]:bounds[k + 1]])
    rare = ~common[inverse[order]] & masks.any(axis=1)[inverse[order]]
    if rare.any():  # few pixels per set: the per-pixel path is cheaper than building operators
        filled = interpolate_gaps(flat[:, order[rare]], obs_days, target_days)
        sorted_out[rare] = (smoother.astype("float32") @ filled).T
    np.clip(sorted_out, -1, 1, out=sorted_out)
    result[order] = sorted_out
    return result


def season_peak(series: NDArray) -> NDArray:
    """Highest value of the smoothed series (NaN for all-NaN pixels)."""
    series = np.asarray(series, dtype="float32")
    out = np.max(np.where(np.isnan(series), -np.inf, series), axis=0)
    return np.where(np.isfinite(out), out, np.nan).astype("float32")


def season_integral(series: NDArray, days: NDArray) -> NDArray:
    """Area under the smoothed curve above zero, NDVI x days (trapezoid rule)."""
    series = np.clip(np.asarray(series, dtype="float64"), 0, None)
    if series.shape[0] < 2:
        return np.where(np.isnan(series[0]), np.nan, 0.0).astype("float32") if series.shape[0] else series
    return np.trapezoid(series, x=np.asarray(days, dtype="float64"), axis=0).astype("float32")


def season_mean(series: NDArray) -> NDArray:
    """Mean of the smoothed series over the period (NaN-aware)."""
    series = np.asarray(series, dtype="float32")
    count = np.sum(np.isfinite(series), axis=0)
    total = np.nansum(series, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype("float32")


def windowed_metrics(series: NDArray, days: NDArray, lo: NDArray, hi: NDArray) -> NDArray:
    """Peak, integral (NDVI·day) and mean of a smoothed series restricted to days in ``[lo, hi]``.

    ``series`` is ``(time, ...)`` on ``days``; ``lo``/``hi`` broadcast against
    the other axes (e.g. each field's sowing day and cut-off day). Returns a
    ``(3, ...)`` float32 array; NaN where the window holds no valid value.
    Pixels are processed in :data:`PIXEL_BATCH` batches.
    """
    series = np.asarray(series)
    pixels = series.shape[1:]
    flat = series.reshape(series.shape[0], -1)
    lo_flat = np.broadcast_to(np.asarray(lo, dtype="float64"), pixels).reshape(-1)
    hi_flat = np.broadcast_to(np.asarray(hi, dtype="float64"), pixels).reshape(-1)
    out = np.empty((3, flat.shape[1]), dtype="float32")
    for part in pixel_batches(flat.shape[1]):
        out[:, part] = _windowed_metrics(flat[:, part], days, lo_flat[part], hi_flat[part])
    return out.reshape((3, *pixels))


def _windowed_metrics(series: NDArray, days: NDArray, lo: NDArray, hi: NDArray) -> NDArray:
    """:func:`windowed_metrics` of a ``(time, pixels)`` batch."""
    series = np.asarray(series, dtype="float64")
    days = np.asarray(days, dtype="float64").reshape((-1,) + (1,) * (series.ndim - 1))
    inside = (days >= np.asarray(lo, dtype="float64")) & (days <= np.asarray(hi, dtype="float64"))
    values = np.where(inside, series, np.nan)
    peak = season_peak(values)
    step = np.diff(days, axis=0, prepend=days[:1])
    positive = np.clip(np.nan_to_num(values, nan=0.0), 0, None)
    # trapezoids between consecutive in-window steps
    pair = inside[1:] & inside[:-1]
    integral = np.sum(np.where(pair, (positive[1:] + positive[:-1]) / 2 * step[1:], 0.0), axis=0)
    mean = season_mean(values)
    integral = np.where(np.isnan(mean), np.nan, integral)
    return np.stack([peak, integral.astype("float32"), mean]).astype("float32")
