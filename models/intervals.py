"""Conformal prediction intervals for errors that cluster by season, with season spreads moderated across crops.

A region has hundreds of fields but a handful of seasons, and one season's errors share a
season-wide part (a drought every field felt). The interval of a *new* season therefore rests
on the spread of that shared part, seen in only ``G`` (four or five) calibration seasons:

* :func:`season_errors` splits out-of-fold log residuals ``r = b_g + e`` (one-way random
  effects; Searle, Casella & McCulloch 1992, *Variance Components*, ch. 3) into the
  within-season parts ``e`` and the season variance ``σ̂_b²``;
* :func:`moderated_season_variances` shrinks each crop's ``σ̂_b²`` towards the crops' common
  level (empirical Bayes, Smyth 2004), because a variance estimated from four seasons is
  off by a factor of two or more about as often as not;
* :func:`clustered_scores` turns them into conformal scores of a new season and
  :func:`conformal_quantile` takes the finite-sample quantile (Lei et al. 2018, *JASA*
  113:1094).

Everything is in log(yield), so the interval is ``ŷ·exp(±q)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma
from scipy.stats import t as student_t

from models.errors import ModelError

SEASON_GRID = 200
"""Equiprobable Student-t quantiles that represent a new season's shared error in :func:`clustered_scores`."""


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """Finite-sample conformal quantile: the ceil((n+1)·coverage)-th smallest score."""
    s = np.sort(np.asarray(scores, dtype="float64")[np.isfinite(scores)])
    if s.size == 0:
        raise ModelError("no calibration residuals to build a prediction interval")
    k = min(s.size, math.ceil((s.size + 1) * coverage))
    return float(s[k - 1])


@dataclass(frozen=True)
class SeasonErrors:
    """Signed out-of-fold log residuals split by season (see :func:`season_errors`).

    ``residuals``: the finite residuals; ``within``: ``r - b̂_g``; ``var_season``: ``σ̂_b²``
    (method of moments, ``>= 0``); ``noise``: ``σ̂_e²·mean(1/n_g)``, the sampling variance of a
    season mean, below which ``σ̂_b²`` cannot be told from zero; ``n_groups``: ``G``.
    """

    residuals: np.ndarray
    within: np.ndarray
    var_season: float
    noise: float
    n_groups: int


def season_errors(residuals: np.ndarray, groups: np.ndarray) -> SeasonErrors:
    """One-way random-effects split of signed residuals ``r = b_g + e`` by group (season).

    The residuals are out of fold, so each ``b_g`` already is the error of a model that never
    saw season ``g`` and the errors have mean zero: ``σ̂_b² = mean(b̂_g²) - σ̂_e²·mean(1/n_g)``
    (the within-season noise in each season mean ``b̂_g`` removed), ``σ̂_e²`` the pooled
    within-season variance with ``n - G`` degrees of freedom.
    """
    r = np.asarray(residuals, dtype="float64")
    g = np.asarray(groups)
    ok = np.isfinite(r)
    r, g = r[ok], g[ok]
    labels, index = np.unique(g, return_inverse=True)
    n_groups = int(labels.size)
    if n_groups < 2:
        return SeasonErrors(r, r, 0.0, 0.0, n_groups)
    counts = np.bincount(index, minlength=n_groups).astype("float64")
    means = np.bincount(index, weights=r, minlength=n_groups) / counts
    within = r - means[index]
    var_within = float(np.sum(within**2) / max(r.size - n_groups, 1))
    noise = var_within * float(np.mean(1.0 / counts))
    var_season = max(float(np.mean(means**2)) - noise, 0.0)
    return SeasonErrors(r, within, var_season, noise, n_groups)


def moderated_season_variances(parts: Mapping[str, SeasonErrors]) -> dict[str, tuple[float, float]]:
    """``{key: (σ̃_b², degrees of freedom)}``: each crop's season variance shrunk towards the crops' common level.

    A variance from ``G`` seasons has ``G`` degrees of freedom: with four, its 10–90 % range
    is 0.27–1.9 times the true value, so one crop's four seasons may miss a drought the other
    crops' errors show, or hold one bad season that makes its interval cover everything. The
    empirical-Bayes moderated variance of Smyth (2004, *Stat. Appl. Genet. Mol. Biol.* 3:3,
    eqs. 6–7 and §6.2) treats the crops' true variances as draws from a scaled inverse
    chi-square prior ``s₀²·d₀/χ²_{d₀}``, and the posterior is

        ``σ̃_b² = (d₀·s₀² + G·σ̂_b²) / (d₀ + G)``, a new draw Student-t with ``d₀ + G`` df;

    ``s₀²`` from the mean log variance with the chi-square bias removed, ``log s₀² =
    mean(log σ̂_b² - ψ(G/2) + log(G/2)) + ψ(d₀/2) - log(d₀/2)`` (the geometric mean when all
    ``G`` are equal), each ``σ̂_b²`` floored at its :attr:`SeasonErrors.noise` for the logarithm.
    The prior's weight is fixed a priori at ``d₀ = median G`` — the crops' common level counts
    as much as the crop's own seasons — because estimating ``d₀`` from the spread of three
    crops' variances (Smyth's §6.2) is itself too noisy. Keys with fewer than two groups, or
    fewer than two keys with a usable variance, keep ``(σ̂_b², G)``.
    """
    out = {k: (p.var_season, float(p.n_groups)) for k, p in parts.items()}
    usable = {k: p for k, p in parts.items() if p.n_groups >= 2 and max(p.var_season, p.noise) > 0}
    if len(usable) < 2:
        return out
    d0 = float(np.median([p.n_groups for p in usable.values()]))
    log_prior = float(np.mean([math.log(max(p.var_season, p.noise)) - digamma(p.n_groups / 2) + math.log(p.n_groups / 2)
                               for p in usable.values()])) + digamma(d0 / 2) - math.log(d0 / 2)
    prior = math.exp(log_prior)
    for k, p in parts.items():
        if p.n_groups >= 2:
            out[k] = ((d0 * prior + p.n_groups * p.var_season) / (d0 + p.n_groups), d0 + p.n_groups)
    return out


def clustered_scores(residuals: np.ndarray | SeasonErrors, groups: np.ndarray | None = None,
                     var_season: float | None = None, df: float | None = None) -> np.ndarray:
    """Conformal scores for a *new* group from signed out-of-fold residuals whose errors cluster by group.

    ``residuals`` and ``groups``, or a :class:`SeasonErrors`; ``var_season`` and ``df`` override
    the season variance and its degrees of freedom (:func:`moderated_season_variances`;
    default ``σ̂_b²`` and ``G``). What is uncertain is the *spread* of the season part seen in
    only ``G`` seasons, so the scores are built as

    * within-season part: the empirical ``e = r - b̂_g`` (no shape assumed);
    * season part: ``σ_b · k · t_df``, Student's t — the predictive distribution of a new draw
      when the variance rests on ``df`` draws — taken at :data:`SEASON_GRID` equiprobable
      quantiles, and ``k = sqrt(1 - 1/G²)``: the inner models miss a new season by
      ``σ_b²(1 + 1/(G-1))`` having been fitted on ``G - 1`` seasons, the final model, fitted on
      ``G``, by ``σ_b²(1 + 1/G)``;

    and the scores are ``|e_i + σ_b k t_j|`` for every pair: their conformal quantile is the
    point of a new season's error at that coverage. Scaling the *observed* season means
    instead (an earlier rule, ``b̂_g·sqrt((G+1)/(G-1))``) put the 80 % point beyond every held-out
    season where the season part dominates. With no season spread (``σ_b² <= 0``) the scores are
    the within-season ``|r - b̂_g|``; with one group, the plain ``|r|``.
    """
    parts = residuals if isinstance(residuals, SeasonErrors) else season_errors(residuals, groups)
    if parts.n_groups < 2:
        return np.abs(parts.residuals)
    variance = parts.var_season if var_season is None else float(var_season)
    if variance <= 0.0:
        return np.abs(parts.within)
    scale = math.sqrt(variance * (1.0 - 1.0 / parts.n_groups**2))
    season = scale * student_t.ppf((np.arange(SEASON_GRID) + 0.5) / SEASON_GRID,
                                   df=parts.n_groups if df is None else df)
    return np.abs(parts.within[:, None] + season[None, :]).ravel()


def interval_halfwidths(parts: Mapping[str, SeasonErrors], coverage: float) -> dict[str, float]:
    """``{key: q}``, the log half-width at ``coverage`` of each key's (crop's) interval, season
    spreads moderated across the keys (:func:`moderated_season_variances`)."""
    moderated = moderated_season_variances(parts)
    return {k: conformal_quantile(clustered_scores(p, var_season=moderated[k][0], df=moderated[k][1]), coverage)
            for k, p in parts.items()}
