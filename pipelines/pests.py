"""Pest trap observations to a smooth pressure surface (catch per trap per week), pure numpy/pandas.

1. Recency: each trap's readings up to the valid date are averaged with weights
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
catch per trap per week).
"""

from __future__ import annotations

from collections.abc import Iterator

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


def _weighted(weights: Iterator[NDArray], rates: NDArray, shape: tuple[int, ...]) -> NDArray:
    """Kernel-weighted mean of ``rates`` times the support ``min(1, sum of weights)`` (see module docstring);
    ``weights`` yields one trap's kernel at a time, so a block holds two sums, not one array per trap."""
    total = np.zeros(shape, dtype="float64")
    weighted = np.zeros(shape, dtype="float64")
    for w, r in zip(weights, np.asarray(rates, dtype="float64"), strict=True):
        total += w
        weighted += r * w
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, weighted / total, 0.0)
    return mean * np.minimum(total, 1.0)


def pressure_at(
    xs: NDArray, ys: NDArray, px: NDArray, py: NDArray, rates: NDArray, bandwidth_m: float = BANDWIDTH_M
) -> NDArray:
    """Pressure (catch per trap per week) at points ``(xs[i], ys[i])`` (projected metres)."""
    xs, ys = np.asarray(xs, dtype="float64"), np.asarray(ys, dtype="float64")
    weights = (np.exp(-0.5 * (((xs - x0) ** 2 + (ys - y0) ** 2) / bandwidth_m**2))
               for x0, y0 in zip(np.asarray(px, dtype="float64"), np.asarray(py, dtype="float64"), strict=True))
    return _weighted(weights, rates, xs.shape)


def pressure_block(
    xs: NDArray, ys: NDArray, px: NDArray, py: NDArray, rates: NDArray, bandwidth_m: float = BANDWIDTH_M
) -> NDArray:
    """Pressure on the pixel centres ``xs`` (columns) x ``ys`` (rows) of one raster block (separable kernel)."""
    xs, ys = np.asarray(xs, dtype="float64"), np.asarray(ys, dtype="float64")
    weights = (np.outer(np.exp(-0.5 * ((ys - y0) / bandwidth_m) ** 2), np.exp(-0.5 * ((xs - x0) / bandwidth_m) ** 2))
               for x0, y0 in zip(np.asarray(px, dtype="float64"), np.asarray(py, dtype="float64"), strict=True))
    return _weighted(weights, rates, (len(ys), len(xs))).astype("float32")
