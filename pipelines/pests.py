"""Pest trap observations to a smooth pressure surface (catch per trap per week), pure numpy/pandas.

1. Recency: each trap's readings up to the valid date are averaged with weights
   ``exp(-age / tau)``, tau = 7 days (about one aphid generation in summer;
   Dixon 1998, *Aphid Ecology*), giving the trap's current catch per week
   (pheromone and yellow sticky traps are read weekly).
2. Space: a Gaussian kernel of bandwidth ``h`` (Silverman 1986, *Density
   Estimation*) spreads each trap's rate, normalised to 1 at the trap, so the
   surface equals the trap's catch at the trap and fades to 0 far from any
   trap; nearby traps add up.

The surface is in the units the pest models expect (``models.risk.pest``:
catch per trap per week).
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


def pressure_at(
    xs: NDArray, ys: NDArray, px: NDArray, py: NDArray, rates: NDArray, bandwidth_m: float = BANDWIDTH_M
) -> NDArray:
    """Pressure (catch per trap per week) at points ``(xs[i], ys[i])``."""
    xs, ys = np.asarray(xs, dtype="float64"), np.asarray(ys, dtype="float64")
    out = np.zeros(xs.shape, dtype="float64")
    for x0, y0, r in zip(np.asarray(px), np.asarray(py), np.asarray(rates), strict=True):
        out += r * np.exp(-0.5 * (((xs - x0) ** 2 + (ys - y0) ** 2) / bandwidth_m**2))
    return out


def pressure_block(
    xs: NDArray, ys: NDArray, px: NDArray, py: NDArray, rates: NDArray, bandwidth_m: float = BANDWIDTH_M
) -> NDArray:
    """Pressure on the pixel centres ``xs`` (columns) x ``ys`` (rows) of one raster block (separable kernel)."""
    xs, ys = np.asarray(xs, dtype="float64"), np.asarray(ys, dtype="float64")
    out = np.zeros((len(ys), len(xs)), dtype="float64")
    for x0, y0, r in zip(np.asarray(px), np.asarray(py), np.asarray(rates), strict=True):
        gx = np.exp(-0.5 * ((xs - x0) / bandwidth_m) ** 2)
        gy = np.exp(-0.5 * ((ys - y0) / bandwidth_m) ** 2)
        out += r * np.outer(gy, gx)
    return out.astype("float32")
