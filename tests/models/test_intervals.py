"""Season-clustered conformal intervals: the random-effects split, the moderated season variance, and its effect."""

from __future__ import annotations

import numpy as np
import pytest

from models.intervals import (
    SeasonErrors,
    clustered_scores,
    conformal_quantile,
    interval_halfwidths,
    moderated_season_variances,
    season_errors,
)

EULER_GAMMA = 0.5772156649
PSI_1 = -EULER_GAMMA                       # ψ(1)
PSI_2 = 1.0 - EULER_GAMMA                  # ψ(2)
PSI_1_5 = 2.0 - EULER_GAMMA - 2 * np.log(2)  # ψ(3/2)


def _errors(var_season: float, n_groups: int, noise: float = 0.0) -> SeasonErrors:
    r = np.zeros(2 * n_groups)
    return SeasonErrors(r, r, var_season, noise, n_groups)


def test_season_errors_by_hand():
    # A: 0.1, 0.3 (mean 0.2); B: -0.2, -0.2, -0.5 (mean -0.3): within -0.1, 0.1, 0.1, 0.1, -0.2
    # σ_e² = (0.01 + 0.01 + 0.01 + 0.01 + 0.04) / (5 - 2) = 0.026667; noise = σ_e² · (1/2 + 1/3)/2 = 0.011111;
    # σ_b² = (0.04 + 0.09)/2 - 0.011111 = 0.053889
    e = season_errors(np.array([0.1, 0.3, -0.2, -0.2, -0.5, np.nan]), np.array(["A", "A", "B", "B", "B", "B"]))
    np.testing.assert_allclose(e.within, [-0.1, 0.1, 0.1, 0.1, -0.2], atol=1e-12)
    assert e.noise == pytest.approx(0.0111111, rel=1e-5)
    assert e.var_season == pytest.approx(0.0538889, rel=1e-5)
    assert e.n_groups == 2
    one = season_errors(np.array([0.2, -0.1]), np.array(["A", "A"]))
    assert (one.n_groups, one.var_season) == (1, 0.0)


def test_moderation_with_equal_seasons_is_the_geometric_mean_by_hand():
    # G = 4 for both: d₀ = 4 and the bias terms cancel, s₀² = sqrt(0.16 · 0.01) = 0.04;
    # σ̃² = (4 · 0.04 + 4 σ̂²)/8: 0.1 for the first, 0.025 for the second, 8 degrees of freedom each
    out = moderated_season_variances({"maize": _errors(0.16, 4), "potato": _errors(0.01, 4)})
    assert out["maize"] == pytest.approx((0.1, 8.0))
    assert out["potato"] == pytest.approx((0.025, 8.0))


def test_moderation_with_unequal_seasons_by_hand():
    # G = 4 and 2: d₀ = median = 3. log s₀² = mean(log 0.1 - ψ(2) + log 2, log 0.02 - ψ(1) + log 1) + ψ(3/2) - log(3/2)
    log_s0 = np.mean([np.log(0.1) - PSI_2 + np.log(2), np.log(0.02) - PSI_1]) + PSI_1_5 - np.log(1.5)
    # = exp(mean(-2.302585 + 0.270363, -3.912023 + 0.577216) - 0.368975) = exp(-3.052490) = 0.047241
    s0 = np.exp(log_s0)
    assert s0 == pytest.approx(0.047241, rel=1e-4)
    out = moderated_season_variances({"a": _errors(0.1, 4), "b": _errors(0.02, 2)})
    assert out["a"] == pytest.approx(((3 * s0 + 4 * 0.1) / 7, 7.0))
    assert out["b"] == pytest.approx(((3 * s0 + 2 * 0.02) / 5, 5.0))


def test_moderation_floors_an_unresolved_season_variance_at_its_noise():
    # crop b's season means are within noise (σ̂_b² = 0): its log variance uses the noise 0.0025 instead;
    # s₀² = sqrt(0.09 · 0.0025) = 0.015; b's posterior keeps its own 0: (4 · 0.015 + 0)/8 = 0.0075
    out = moderated_season_variances({"a": _errors(0.09, 4), "b": _errors(0.0, 4, noise=0.0025)})
    assert out["b"] == pytest.approx((0.0075, 8.0))
    assert out["a"] == pytest.approx(((0.06 + 0.36) / 8, 8.0))


def test_nothing_to_moderate_with_keeps_own_variances():
    assert moderated_season_variances({"a": _errors(0.09, 4)}) == {"a": (0.09, 4.0)}
    # a crop with one season cannot be moderated, nor does it inform the others
    out = moderated_season_variances({"a": _errors(0.09, 4), "b": _errors(0.0, 1)})
    assert out == {"a": (0.09, 4.0), "b": (0.0, 1.0)}
    # nothing at all (no season spread and no noise) in one of two crops: the other is left alone
    assert moderated_season_variances({"a": _errors(0.09, 4), "b": _errors(0.0, 4)})["a"] == (0.09, 4.0)


def test_clustered_scores_use_the_given_variance_and_degrees_of_freedom():
    from scipy.stats import t as student_t

    # two groups, no within-season spread: scores are |σ k t_df| on the grid; k² = 1 - 1/4
    r = np.array([0.2, 0.2, -0.2, -0.2])
    g = np.array(["A", "A", "B", "B"])
    s = np.sort(clustered_scores(r, g, var_season=0.04, df=10.0))
    grid = np.abs(student_t.ppf((np.arange(200) + 0.5) / 200, df=10.0))
    np.testing.assert_allclose(s, np.sort(np.tile(0.2 * np.sqrt(0.75) * grid, 4)), rtol=1e-12)
    # same result from a SeasonErrors
    np.testing.assert_allclose(clustered_scores(season_errors(r, g), var_season=0.04, df=10.0),
                               clustered_scores(r, g, var_season=0.04, df=10.0))


def _conditional_coverage(moderate: bool, replications: int = 300) -> np.ndarray:
    """Three crops whose season errors have the same true spread (σ_b = 0.3, within-season 0.1), four calibration
    seasons each. Per replication: crop "a"'s interval half-width q and its coverage of a *new* season, averaged
    over the new season's draw: P(|b + e| <= q), b ~ N(0, 0.3²·(1 + 1/4)) (the final model was fitted on four
    seasons), e ~ N(0, 0.1²)."""
    from scipy.stats import norm

    rng = np.random.default_rng(42)
    g = np.repeat(np.arange(4), 50)
    sd = np.sqrt(0.3**2 * 1.25 + 0.1**2)
    out = []
    for _ in range(replications):
        # inner fits on three seasons miss a new one by σ_b²(1 + 1/3)
        parts = {c: season_errors(np.repeat(rng.normal(0, 0.3 * np.sqrt(4 / 3), 4), 50) + rng.normal(0, 0.1, 200), g)
                 for c in ("a", "b", "c")}
        q = interval_halfwidths(parts, 0.8)["a"] if moderate else conformal_quantile(clustered_scores(parts["a"]), 0.8)
        out.append(2 * norm.cdf(q / sd) - 1)
    return np.array(out)


def test_moderation_keeps_the_nominal_coverage_and_steadies_it():
    """With the crops' true season spreads equal, borrowing strength from the other crops keeps the expected
    coverage of a new season near 80 % and makes it depend less on which four seasons calibrated the interval."""
    own = _conditional_coverage(moderate=False)
    mod = _conditional_coverage(moderate=True)
    assert 0.75 <= own.mean() <= 0.85 and 0.75 <= mod.mean() <= 0.85
    assert mod.std() < 0.8 * own.std()
    # how often the calibration alone puts a crop's interval outside 70-90 % coverage
    assert np.mean((mod < 0.7) | (mod > 0.9)) < np.mean((own < 0.7) | (own > 0.9))
