"""Pest trap observations to a smooth pressure surface (catch per trap per week), pure numpy/pandas.

1. Recency: each trap's readings up to a day are averaged with weights
   ``exp(-age / tau)``, tau = 7 days (about one aphid generation in summer;
   Dixon 1998, *Aphid Ecology*), giving the trap's current catch per week
   (pheromone and yellow sticky traps are read weekly).
2. Space: the kernel-weighted mean of the traps' rates (Nadaraya 1964,
   Watson 1964) with a Gaussian kernel of bandwidth ``h`` (Silverman 1986,
   *Density Estimation*), normalised to 1 at a trap, times the kernel support
   ``min(1, sum of weights)``: the surface equals a lone trap's catch at the
   trap and fades to 0 far from any trap, and where traps overlap it is their
   weighted mean — two traps each catching 10 a week do not make 20 between them.

The surface is in the units the pest models expect (``models.risk.pest``:
catch per trap per week). :func:`daily_pressure` gives it as of every day of a
season, so a season's pest risk follows the flights as they were caught.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: Gaussian kernel bandwidth, metres: the attraction radius of a pheromone or yellow trap
#: and the scale of local dispersal are a few hundred metres to ~1 km.
BANDWIDTH_M = 750.0
#: recency time constant, days.
RECENCY_TAU_DAYS = 7.0


def trap_rates(
    observations: pd.DataFrame, valid_date: pd.Timestamp, tau_days: float = RECENCY_TAU_DAYS
) -> pd.DataFrame:
    """Per trap: ``x, y`` and ``rate`` (recency-weighted mean catch per week) from readings up to ``valid_date``.

    ``observations`` needs ``trap_id, date, count, x, y`` (projected metres).
    """
    obs = observations[pd.to_datetime(observations["date"]) <= valid_date]
    if obs.empty:
        return pd.DataFrame({"x": [], "y": [], "rate": []})
    age = (valid_date - pd.to_datetime(obs["date"])).dt.days.clip(lower=0).to_numpy(dtype="float64")
    weight = np.exp(-age / tau_days)
    frame = obs.assign(w=weight, wc=weight * obs["count"].to_numpy(dtype="float64"))
    grouped = frame.groupby("trap_id").agg(x=("x", "mean"), y=("y", "mean"), w=("w", "sum"), wc=("wc", "sum"))
    grouped["rate"] = grouped["wc"] / grouped["w"]
    return grouped[["x", "y", "rate"]].reset_index()


def kernel_weights(xs: NDArray, ys: NDArray, px: NDArray, py: NDArray, bandwidth_m: float = BANDWIDTH_M) -> NDArray:
    """Gaussian kernel weight of every trap ``(px, py)`` at every point ``(xs, ys)``, 1 at a trap: ``(point, trap)``."""
    xs, ys = np.asarray(xs, dtype="float64").ravel(), np.asarray(ys, dtype="float64").ravel()
    px, py = np.asarray(px, dtype="float64"), np.asarray(py, dtype="float64")
    return np.exp(-0.5 * ((xs[:, None] - px[None, :]) ** 2 + (ys[:, None] - py[None, :]) ** 2) / bandwidth_m**2)


def supported_mean(kernel: NDArray, rates: NDArray) -> NDArray:
    """Kernel-weighted mean of trap ``rates`` ``(..., trap)`` at the points of ``kernel`` ``(point, trap)``, times
    the support ``min(1, sum of weights)``; traps whose rate is NaN (not read yet) take no part: ``(..., point)``."""
    rates = np.asarray(rates, dtype="float64")
    active = np.isfinite(rates)
    total = active.astype("float64") @ kernel.T
    weighted = np.where(active, rates, 0.0) @ kernel.T
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, weighted / total, 0.0)
    return mean * np.minimum(total, 1.0)


def pressure_at(
    xs: NDArray, ys: NDArray, px: NDArray, py: NDArray, rates: NDArray, bandwidth_m: float = BANDWIDTH_M
) -> NDArray:
    """Pressure (catch per trap per week) at points ``(xs[i], ys[i])`` (projected metres)."""
    shape = np.shape(xs)
    return supported_mean(kernel_weights(xs, ys, px, py, bandwidth_m), rates).reshape(shape)


def daily_trap_rates(
    observations: pd.DataFrame, days: pd.DatetimeIndex, tau_days: float = RECENCY_TAU_DAYS
) -> tuple[pd.DataFrame, NDArray]:
    """:func:`trap_rates` as of every day of ``days``: ``(traps[trap_id, x, y], rates[day, trap])``.

    Day ``d``'s rate of a trap uses only its readings dated on or before ``d`` (NaN before its
    first reading), weighted ``exp(-age / tau)``, so the value on any day equals
    ``trap_rates(observations, d)`` and no reading counts before it was made.
    """
    obs = observations.assign(date=pd.to_datetime(observations["date"]).dt.normalize())
    traps = obs.groupby("trap_id").agg(x=("x", "mean"), y=("y", "mean")).reset_index()
    if obs.empty or len(days) == 0:
        return traps, np.full((len(days), len(traps)), np.nan)
    # readings grouped by trap (every trap has at least one), so per-trap sums are one reduceat per day
    trap_index = pd.Index(traps["trap_id"]).get_indexer(obs["trap_id"])
    order = np.argsort(trap_index, kind="stable")
    starts = np.searchsorted(trap_index[order], np.arange(len(traps)))
    dates = obs["date"].to_numpy()[order]
    counts = obs["count"].to_numpy(dtype="float64")[order]
    age = (days.normalize().to_numpy()[:, None] - dates[None, :]) / np.timedelta64(1, "D")
    weight = np.where(age >= 0, np.exp(-np.maximum(age, 0.0) / tau_days), 0.0)  # (days, readings)
    total = np.add.reduceat(weight, starts, axis=1)
    weighted = np.add.reduceat(weight * counts[None, :], starts, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(total > 0, weighted / total, np.nan)
    return traps, rates


def daily_pressure(
    xs: NDArray, ys: NDArray, observations: pd.DataFrame, days: pd.DatetimeIndex,
    bandwidth_m: float = BANDWIDTH_M, tau_days: float = RECENCY_TAU_DAYS,
) -> NDArray:
    """Pressure (catch per trap per week) at points ``(xs, ys)`` on every day of ``days``: ``(day, point)``.

    Each day is :func:`pressure_at` over the traps read by then (:func:`daily_trap_rates`), so a
    season's pest risk follows the flights as they happened instead of the catch of its last day.
    """
    traps, rates = daily_trap_rates(observations, days, tau_days)
    return supported_mean(kernel_weights(xs, ys, traps["x"], traps["y"], bandwidth_m), rates)
