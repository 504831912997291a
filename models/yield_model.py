"""In-season yield forecasting: per-crop models per lead time, chosen by nested CV, with conformal intervals.

* One model per lead time (``"30d"``, ``"60d"``, ``"90d"``, ``"end"``) and crop, trained on that
  lead time's own feature table, so each uses only what is known by then.
* Why per crop and why a choice of structure: a region has a few hundred fields but only a
  handful of seasons. Season-wide features (weather and climate indices: GDD, rain, SPI, frost
  and heat days) take one value per season in a small region, so with ``S`` seasons each of
  them rests on ``S`` independent points, and trees happily map them to the identity of the
  training seasons: that fits the past and fails on a new season (with 5 seasons, maize lost
  to a plain NDVI regression at the end of the season). The canopy (NDVI peak, integral, mean;
  Becker-Reshef et al. 2010, *Remote Sens. Environ.* 114:1312; Rasmussen 1997, *Int. J. Remote
  Sens.* 18:1059) is observed per field and season and integrates what the weather did. So each
  crop's model is one of four structures fixed a priori (:data:`STRUCTURES`), from a ridge
  regression on the canopy and soil to a ridge on NDVI with gradient boosting of its residuals
  on every feature (boosting from a linear start, Friedman 2001, *Ann. Statist.* 29:1189, §4),
  and the structure is chosen by grouped (leave-one-season-out) CV *inside the training data*
  only: with :func:`evaluate` that is nested CV, the held-out season or cooperative never
  takes part in the choice.
* Prediction intervals: CV+ / split-conformal (Lei et al. 2018, *JASA* 113:1094; Barber et al.
  2021, *Ann. Statist.* 49:486) on the scale-free score ``|log y - log ŷ|``, out of fold with
  the same groups (seasons), per crop, so the interval is ``ŷ·exp(±q)`` and its width reflects
  season-to-season error, not within-season noise; the season-wide part of the error of a new
  season is drawn from its random-effects predictive distribution (:func:`clustered_scores`).
  The residuals are those of the whole select-then-fit procedure: each calibration season's
  come from the structure the inner CV would have chosen without that season
  (:func:`selection_aware_residuals`), not from the winner chosen with its help.
* Evaluation (:func:`evaluate`): leave-one-season-out and leave-cooperative-out CV; per crop
  and lead time n, MAPE, RMSE, R², year-to-year anomaly skill, interval coverage, against two
  baselines: the field's mean yield in its other seasons, and a per-crop linear model on the
  NDVI integral alone.

Persistence (:func:`save_model`/:func:`load_model`) stores the feature lists and package
versions with joblib; mismatched features raise :class:`~models.errors.FeatureMismatchError`.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import joblib
import numpy as np
import pandas as pd
import sklearn
import xarray as xr
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from models.errors import FeatureMismatchError, ModelError, ModelInputError

TARGET = "yield_t_ha"
ID_COLUMNS = ("field_id", "season", "crop")
SCHEMES = {"leave_one_season_out": "season", "leave_cooperative_out": "cooperative_id"}
DEFAULT_PARAMS: dict[str, Any] = {
    "max_iter": 80, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 20,
    "l2_regularization": 1.0, "early_stopping": False, "random_state": 0,
}
FORMAT_VERSION = 3
LINEAR_FEATURES: tuple[str, ...] = ("ndvi_peak", "ndvi_integral", "ndvi_mean")
"""Canopy features of the ridge part of the boosted structures: the classic NDVI yield proxies
(peak: Becker-Reshef et al. 2010; seasonal integral: Rasmussen 1997; mean)."""
INNER_SPLITS = 5
"""At most this many groups (seasons) in the inner CV that chooses the structure and calibrates."""
THREADS = 1
"""OpenMP threads per fit: the pipeline and CV already run many small fits side by side, and
oversubscribed OpenMP on a shared machine is orders of magnitude slower than one thread."""


@dataclass(frozen=True)
class Structure:
    """A model structure: which features enter the ridge part and which the boosted residual part.

    Feature sets: ``"canopy"`` = :data:`LINEAR_FEATURES` present (all field features if none),
    ``"field"`` = every feature except the season-wide ones, ``"all"`` = every feature;
    ``boosted=None`` is the ridge alone.
    """

    name: str
    linear: str
    boosted: str | None


STRUCTURES: tuple[Structure, ...] = (
    Structure("ridge(canopy+soil)", linear="field", boosted=None),
    Structure("ridge(all)", linear="all", boosted=None),
    Structure("ridge(canopy)+boosting(canopy+soil)", linear="canopy", boosted="field"),
    Structure("ridge(canopy)+boosting(all)", linear="canopy", boosted="all"),
)
"""Candidate structures, fixed a priori, from the most to the least constrained."""


@dataclass
class CropModel:
    """The fitted model of one crop at one lead time."""

    structure: str
    estimator: LinearPlusBoosting
    q_log: float
    n_train: int
    selection_mape: dict[str, float]


@dataclass
class LeadModel:
    """The fitted models of one lead time, one per crop."""

    lead: str
    features: list[str]
    crops: list[str]
    models: dict[str, CropModel]
    n_train: int


@dataclass
class YieldModel:
    """Fitted models for every lead time, with the interval coverage and package versions."""

    leads: dict[str, LeadModel]
    coverage: float
    target: str = TARGET
    versions: dict[str, str] = field(default_factory=dict)

    def features(self, lead: str) -> list[str]:
        return list(self._lead(lead).features)

    def _lead(self, lead: str) -> LeadModel:
        if lead not in self.leads:
            raise ModelInputError("no model for this lead time", field="lead", expected=f"one of {list(self.leads)}",
                                  got=lead)
        return self.leads[lead]


def package_versions() -> dict[str, str]:
    """Versions that a saved model depends on."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        nongshu = version("nongshu")
    except PackageNotFoundError:
        nongshu = "unknown"
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "joblib": joblib.__version__, "nongshu": nongshu}


# ----------------------------------------------------------------------------- design matrices

def _check_table(table: pd.DataFrame, features: Sequence[str], lead: str, need_target: bool) -> None:
    required = [*ID_COLUMNS[2:], *features] + ([TARGET] if need_target else [])
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise FeatureMismatchError(f"feature table of lead '{lead}' lacks columns {missing}",
                                   source=f"features[{lead}]", field=",".join(missing),
                                   expected=f"columns {required}")
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise ModelInputError("feature columns must be numeric", source=f"features[{lead}]", field=",".join(bad))
    if need_target:
        y = pd.to_numeric(table[TARGET], errors="coerce")
        if (~(y > 0)).any():
            raise ModelInputError("yields must be positive numbers", source=f"features[{lead}]", field=TARGET,
                                  got=table.loc[~(y > 0), TARGET].head(3).tolist())


def _matrix(table: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    return table[list(features)].to_numpy(dtype="float64")


def feature_sets(features: Sequence[str], season_features: Iterable[str] = ()) -> dict[str, list[int]]:
    """Column indices of the ``"canopy"``, ``"field"`` and ``"all"`` feature sets of :class:`Structure`."""
    season = set(season_features)
    all_ = list(range(len(features)))
    field_ = [i for i, f in enumerate(features) if f not in season] or all_
    canopy = [i for i, f in enumerate(features) if f in LINEAR_FEATURES] or field_
    return {"canopy": canopy, "field": field_, "all": all_}


class LinearPlusBoosting(RegressorMixin, BaseEstimator):
    """Ridge regression on some columns, then (optionally) gradient boosting of its residuals on others.

    Trees cannot extrapolate: a season drier than any in the training years would get the
    yield of the driest seen. The ridge part (median-imputed, standardised, alpha by efficient
    leave-one-out, ``RidgeCV``) carries the first-order, extrapolating response and is fitted
    on yield itself (t/ha), where NDVI-yield relations are linear; the boosted trees
    (``boost_columns``; ``None`` = no boosting) add interactions and thresholds in log space.
    One crop per estimator; predictions stay inside [0.2 x lowest, 1.5 x highest] recorded yield.
    """

    def __init__(self, linear_columns: Sequence[int] | None = None, boost_columns: Sequence[int] | None = None,
                 boosting: Mapping[str, Any] | None = None) -> None:
        self.linear_columns = linear_columns
        self.boost_columns = boost_columns
        self.boosting = boosting

    @staticmethod
    def _ridge() -> Pipeline:
        return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                             RidgeCV(alphas=np.logspace(-2, 3, 11)))

    def _cols(self, x: np.ndarray, cols: Sequence[int] | None) -> np.ndarray:
        return x if cols is None else x[:, list(cols)]

    def fit(self, x: np.ndarray, y: np.ndarray) -> LinearPlusBoosting:
        """``y`` is log(yield)."""
        raw = np.exp(y)
        self.floor_ = 0.2 * float(raw.min())
        # Never forecast beyond 1.5x the best yield ever recorded for the crop: per-pixel
        # features outside the training range must not extrapolate the linear part upwards.
        self.ceiling_ = 1.5 * float(raw.max())
        self.linear_ = self._ridge().fit(self._cols(x, self.linear_columns), raw) if len(raw) >= 5 else None
        self.mean_ = float(raw.mean())
        self.boost_ = None
        if self.boost_columns is not None:
            self.boost_ = HistGradientBoostingRegressor(**{**DEFAULT_PARAMS, **(self.boosting or {})})
            self.boost_.fit(self._cols(x, self.boost_columns), y - self._base(x))
        return self

    def _base(self, x: np.ndarray) -> np.ndarray:
        pred = (np.full(len(x), self.mean_) if self.linear_ is None
                else self.linear_.predict(self._cols(x, self.linear_columns)))
        return np.log(np.clip(pred, self.floor_, self.ceiling_))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """log(yield), kept inside [0.2 x lowest, 1.5 x highest] recorded yield of the crop."""
        out = self._base(x)
        if self.boost_ is not None:
            out = out + self.boost_.predict(self._cols(x, self.boost_columns))
        return np.clip(out, np.log(self.floor_), np.log(self.ceiling_))


def _estimator(structure: Structure, sets: Mapping[str, list[int]],
               params: Mapping[str, Any] | None) -> LinearPlusBoosting:
    boosting = {k: v for k, v in (params or {}).items() if k != "linear_features"}
    return LinearPlusBoosting(linear_columns=sets[structure.linear],
                              boost_columns=None if structure.boosted is None else sets[structure.boosted],
                              boosting=boosting)


def _mape_choice(ape: Mapping[str, np.ndarray], rows: np.ndarray, order: Sequence[str]) -> str:
    """The structure with the lowest mean absolute percentage error over ``rows``; ties go to the
    earlier in ``order`` (the more constrained, see :data:`STRUCTURES`)."""
    return min(order, key=lambda name: float(np.mean(ape[name][rows])))


def selection_aware_residuals(y: np.ndarray, oof: Mapping[str, np.ndarray], groups: np.ndarray,
                              order: Sequence[str] | None = None) -> np.ndarray:
    """Out-of-fold log residuals of the *select-then-fit* procedure, for conformal calibration.

    ``y``: log(yield); ``oof``: out-of-fold log(yield) predictions of every candidate structure
    (folds = ``groups``); ``order``: candidate names, most constrained first (default: ``oof``'s
    order). For each group ``g`` the structure is chosen as :func:`_fit_crop` chooses it (lowest
    MAPE, ties to the earlier) but on the rows of the *other* groups only, and ``g``'s residuals
    are ``y - oof[that structure]``. The final structure is chosen on every group, so the residuals
    of that winner on its own selection data are optimistic (the selection bias of cross-validation
    used for choosing; Varma & Simon 2006, *BMC Bioinformatics* 7:91; Cawley & Talbot 2010, *JMLR*
    11:2079), and calibrating on them made the leave-one-season-out intervals of the demo region
    cover 0.774 of held-out fields pooled over crops and lead times (0.803 with these). The other
    groups' out-of-fold predictions come from fits that did see ``g``; removing that too would
    take ``G`` times more fits. With one group, the residuals of the overall choice.
    """
    y = np.asarray(y, dtype="float64")
    g = np.asarray(groups)
    names = list(order) if order is not None else list(oof)
    if not names:
        raise ModelInputError("no candidate structures", field="oof")
    for name in names:
        if name not in oof or np.shape(oof[name]) != y.shape:
            raise ModelInputError("out-of-fold predictions must cover every row for every structure", field="oof",
                                  expected=f"{y.shape[0]} values per structure in {names}", got=name)
    if g.shape != y.shape:
        raise ModelInputError("one group label per row", field="groups", expected=y.shape[0], got=g.shape[0])
    ape = {name: np.abs(np.expm1(np.asarray(oof[name], dtype="float64") - y)) for name in names}
    labels = np.unique(g)
    if labels.size < 2:
        return y - np.asarray(oof[_mape_choice(ape, np.ones(y.size, dtype=bool), names)], dtype="float64")
    out = np.empty_like(y)
    for label in labels:
        held = g == label
        choice = _mape_choice(ape, ~held, names)
        out[held] = y[held] - np.asarray(oof[choice], dtype="float64")[held]
    return out


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """Finite-sample conformal quantile: the ceil((n+1)·coverage)-th smallest score."""
    s = np.sort(np.asarray(scores, dtype="float64")[np.isfinite(scores)])
    if s.size == 0:
        raise ModelError("no calibration residuals to build a prediction interval")
    k = min(s.size, math.ceil((s.size + 1) * coverage))
    return float(s[k - 1])


SEASON_GRID = 200
"""Equiprobable Student-t quantiles that represent a new season's shared error in :func:`clustered_scores`."""


def clustered_scores(residuals: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Conformal scores for a *new* group from signed out-of-fold residuals whose errors cluster by group.

    Errors of one season share a season-wide part (a drought all fields felt): ``r = b_g + e``,
    ``b_g ~ N(0, σ_b²)`` (one-way random effects; Searle, Casella & McCulloch 1992, *Variance
    Components*, ch. 3). The residuals are out of fold, so each ``b_g`` already is the error of
    a model that never saw season ``g``; the earlier rule that multiplied every season mean
    ``b̂_g`` by ``sqrt((G+1)/(G-1))`` counted that twice and, worse, scaled the *observed*
    extreme seasons: where the season part dominates (30 days after sowing: season spread ~0.45
    against ~0.17 within a season, in log yield) the 80 % quantile of the pooled scores sits
    inside the worst calibration season, and widening that by 1.29 (G = 4) put it beyond every
    held-out season (coverage 0.93 and 0.98). What is uncertain is the *spread* of ``b`` seen
    in only ``G`` seasons, so the scores are built as

    * within-season part: the empirical ``e = r - b̂_g`` (no shape assumed);
    * season part: ``σ̂_b · k · t_G`` with ``σ̂_b² = mean(b̂_g²) - σ̂_e² · mean(1/n_g)`` (zero-mean
      errors; the within-season noise in each ``b̂_g`` removed), ``t_G`` Student's t with ``G``
      degrees of freedom — the predictive distribution of a new draw when the variance rests
      on ``G`` draws — taken at :data:`SEASON_GRID` equiprobable quantiles, and
      ``k = sqrt(1 - 1/G²)``: the inner models miss a new season by ``σ_b²(1 + 1/(G-1))`` having
      been fitted on ``G - 1`` seasons, the final model, fitted on ``G``, by ``σ_b²(1 + 1/G)``;

    and the scores are ``|e_i + σ̂_b k t_j|`` for every pair: the conformal quantile of them is
    the 80 % point of a new season's error. With no season spread left (``σ̂_b² <= 0``) the
    scores are the within-season ``|r - b̂_g|``; with one group, the plain ``|r|``.
    """
    from scipy.stats import t as student_t

    r = np.asarray(residuals, dtype="float64")
    g = np.asarray(groups)
    ok = np.isfinite(r)
    r, g = r[ok], g[ok]
    labels, index = np.unique(g, return_inverse=True)
    n_groups = labels.size
    if n_groups < 2:
        return np.abs(r)
    counts = np.bincount(index, minlength=n_groups).astype("float64")
    means = np.bincount(index, weights=r, minlength=n_groups) / counts
    within = r - means[index]
    dof = max(r.size - n_groups, 1)
    var_within = float(np.sum(within**2) / dof)
    var_season = max(float(np.mean(means**2)) - var_within * float(np.mean(1.0 / counts)), 0.0)
    if var_season == 0.0:
        return np.abs(within)
    scale = math.sqrt(var_season * (1.0 - 1.0 / n_groups**2))
    season = scale * student_t.ppf((np.arange(SEASON_GRID) + 0.5) / SEASON_GRID, df=n_groups)
    return np.abs(within[:, None] + season[None, :]).ravel()


def _calibration_groups(table: pd.DataFrame, preferred: str) -> np.ndarray:
    """Groups of the inner CV: ``preferred`` (seasons) when it has two or more values, else
    seasons, cooperatives, fields, so out-of-fold residuals always come from unseen groups."""
    for column in (preferred, "season", "cooperative_id", "field_id"):
        if column in table.columns and table[column].nunique() >= 2:
            return table[column].astype(str).to_numpy()
    raise ModelInputError("a crop needs at least two seasons, cooperatives or fields of yield records",
                          field="season", got=str(table["crop"].iloc[0]) if len(table) else None)


def _oof_log_predictions(x: np.ndarray, y: np.ndarray, groups: np.ndarray, structures: Sequence[Structure],
                         sets: Mapping[str, list[int]], params: Mapping[str, Any] | None,
                         n_splits: int) -> dict[str, np.ndarray]:
    """Out-of-fold log(yield) predictions of every structure, folds formed by ``groups``."""
    k = min(n_splits, len(np.unique(groups)))
    out = {s.name: np.full(len(y), np.nan) for s in structures}
    for train, test in GroupKFold(n_splits=k).split(x, y, groups):
        for s in structures:
            with threadpool_limits(THREADS, user_api="openmp"):
                out[s.name][test] = _estimator(s, sets, params).fit(x[train], y[train]).predict(x[test])
    return out


def _fit_crop(table: pd.DataFrame, features: Sequence[str], sets: Mapping[str, list[int]], coverage: float,
              params: Mapping[str, Any] | None, calib_groups: str, calib_splits: int) -> CropModel:
    """Choose the structure by inner grouped CV (MAPE), refit it on all rows of the crop, and
    calibrate its interval on the out-of-fold residuals of the selection procedure
    (:func:`selection_aware_residuals`: each calibration season scored with the structure chosen
    without it)."""
    x = _matrix(table, features)
    y = np.log(table[TARGET].to_numpy(dtype="float64"))
    groups = _calibration_groups(table, calib_groups)
    oof = _oof_log_predictions(x, y, groups, STRUCTURES, sets, params, calib_splits)
    order = [s.name for s in STRUCTURES]
    ape = {name: np.abs(np.expm1(p - y)) for name, p in oof.items()}  # |ŷ - y| / y
    mape = {name: float(np.mean(a) * 100.0) for name, a in ape.items()}
    best_name = _mape_choice(ape, np.ones(len(y), dtype=bool), order)
    best = next(s for s in STRUCTURES if s.name == best_name)
    with threadpool_limits(THREADS, user_api="openmp"):
        est = _estimator(best, sets, params).fit(x, y)
    q = conformal_quantile(clustered_scores(selection_aware_residuals(y, oof, groups, order), groups), coverage)
    return CropModel(best.name, est, q, len(table), {k: round(v, 2) for k, v in mape.items()})


def _fit_lead(table: pd.DataFrame, lead: str, features: Sequence[str], coverage: float,
              params: Mapping[str, Any] | None, season_features: Iterable[str] = (),
              calib_groups: str = "season", calib_splits: int = INNER_SPLITS) -> LeadModel:
    _check_table(table, features, lead, need_target=True)
    crops = sorted(table["crop"].astype(str).unique())
    sets = feature_sets(features, season_features)
    crop_col = table["crop"].astype(str)
    models = {c: _fit_crop(table[crop_col == c].reset_index(drop=True), features, sets, coverage, params,
                           calib_groups, calib_splits) for c in crops}
    return LeadModel(lead, list(features), crops, models, len(table))


def _features_for(features: Mapping[str, Sequence[str]] | Sequence[str], lead: str) -> list[str]:
    if isinstance(features, Mapping):
        if lead not in features:
            raise ModelInputError("no feature list for lead time", field="features", expected=f"keys {list(features)}",
                                  got=lead)
        return list(features[lead])
    return list(features)


def fit_yield_model(tables: Mapping[str, pd.DataFrame], features: Mapping[str, Sequence[str]] | Sequence[str],
                    coverage: float = 0.8, params: Mapping[str, Any] | None = None,
                    season_features: Iterable[str] = ()) -> YieldModel:
    """Fit one model per lead time and crop.

    ``tables``: ``{lead: DataFrame}`` with columns ``field_id, season, crop, yield_t_ha`` and the
    numeric feature columns known at that lead time; ``features``: the feature columns, one
    list for all leads or ``{lead: [...]}``; ``coverage``: nominal interval coverage (0.8);
    ``season_features``: those of the features that are season-wide (weather, climate
    indices), left out of the ``"field"`` feature set of :data:`STRUCTURES`; ``params``:
    overrides of :data:`DEFAULT_PARAMS` for the boosted part.
    """
    if not 0 < coverage < 1:
        raise ModelInputError("coverage must be in (0, 1)", field="coverage", got=coverage)
    if not tables:
        raise ModelInputError("no feature tables given", field="tables")
    season_features = tuple(season_features)
    leads = {lead: _fit_lead(t.reset_index(drop=True), lead, _features_for(features, lead), coverage, params,
                             season_features)
             for lead, t in tables.items()}
    return YieldModel(leads, coverage, TARGET, package_versions())


# ----------------------------------------------------------------------------- prediction

def _predict_log(lm: LeadModel, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """log(yield) and the interval's log half-width per row, each with its crop's model."""
    crop = table["crop"].astype(str).to_numpy()
    unknown = sorted(set(crop) - set(lm.crops))
    if unknown:
        raise ModelInputError("crop not seen in training", field="crop", expected=f"one of {lm.crops}", got=unknown)
    x = _matrix(table, lm.features)
    logp, q = np.full(len(x), np.nan), np.full(len(x), np.nan)
    for c in np.unique(crop):
        rows = crop == c
        cm = lm.models[c]
        with threadpool_limits(THREADS, user_api="openmp"):
            logp[rows] = cm.estimator.predict(x[rows])
        q[rows] = cm.q_log
    return logp, q


def predict(model: YieldModel, table: pd.DataFrame, lead: str) -> pd.DataFrame:
    """Point forecast and 80 % (model.coverage) interval per row: ``yield_pred_t_ha, yield_lo_t_ha, yield_hi_t_ha``.

    Raises :class:`FeatureMismatchError` naming the feature columns the table lacks.
    """
    lm = model._lead(lead)
    _check_table(table, lm.features, lead, need_target=False)
    logp, q = _predict_log(lm, table)
    return pd.DataFrame(
        {"yield_pred_t_ha": np.exp(logp), "yield_lo_t_ha": np.exp(logp - q), "yield_hi_t_ha": np.exp(logp + q)},
        index=table.index,
    )


def _pixel_block(*blocks: np.ndarray, cm: CropModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shape = np.broadcast(*blocks).shape
    x = np.stack([np.broadcast_to(b, shape).reshape(-1) for b in blocks], axis=1).astype("float64")
    ok = np.isfinite(x).all(axis=1)
    pred = np.full(x.shape[0], np.nan)
    if ok.any():
        with threadpool_limits(THREADS, user_api="openmp"):
            pred[ok] = cm.estimator.predict(x[ok])
    p = np.exp(pred)
    return tuple(a.reshape(shape).astype("float32") for a in (p, p * np.exp(-cm.q_log), p * np.exp(cm.q_log)))


def predict_pixels(model: YieldModel, feature_arrays: Mapping[str, Any], crop: str, lead: str = "end"):
    """Per-pixel forecast ``(pred, lo, hi)`` in t/ha (float32, NaN where any feature is NaN).

    ``feature_arrays`` maps each feature name of the lead's model to an array of the same
    shape: numpy, dask or xarray (numpy- or dask-backed, then computed block by block with
    ``xr.apply_ufunc(dask="parallelized")``). Features must match exactly.
    """
    lm = model._lead(lead)
    missing = sorted(set(lm.features) - set(feature_arrays))
    extra = sorted(set(feature_arrays) - set(lm.features))
    if missing or extra:
        raise FeatureMismatchError(f"pixel features do not match the '{lead}' model: missing {missing}, extra {extra}",
                                   field="feature_arrays", expected=f"exactly {lm.features}")
    if crop not in lm.crops:
        raise ModelInputError("crop not seen in training", field="crop", expected=f"one of {lm.crops}", got=crop)
    cm = lm.models[crop]
    arrays = [feature_arrays[f] for f in lm.features]
    if all(isinstance(a, np.ndarray) for a in arrays):
        return _pixel_block(*arrays, cm=cm)
    wrapped = [a if isinstance(a, xr.DataArray) else xr.DataArray(a, dims=[f"dim_{i}" for i in range(a.ndim)])
               for a in arrays]
    outs = xr.apply_ufunc(_pixel_block, *wrapped, kwargs={"cm": cm}, dask="parallelized",
                          output_dtypes=["float32"] * 3, output_core_dims=[[], [], []])
    if not any(isinstance(a, xr.DataArray) for a in arrays):
        return tuple(o.data for o in outs)
    for o, name in zip(outs, ("yield_t_ha", "yield_lo_t_ha", "yield_hi_t_ha"), strict=True):
        o.name = name
        o.attrs = {"units": "t ha-1"}
    return outs


# ----------------------------------------------------------------------------- evaluation

def _field_mean_baseline(table: pd.DataFrame, test_idx: np.ndarray, train_idx: np.ndarray) -> np.ndarray:
    """Mean yield of each test row's field in its *other* seasons; crop mean of training if none."""
    y = table[TARGET]
    crop_mean = table.iloc[train_idx].groupby("crop")[TARGET].mean()
    out = np.empty(len(test_idx))
    by_field = table.groupby("field_id")
    for k, i in enumerate(test_idx):
        row = table.iloc[i]
        hist = by_field.get_group(row["field_id"])
        other = hist.loc[hist["season"] != row["season"], TARGET]
        out[k] = other.mean() if len(other) else crop_mean.get(row["crop"], y.iloc[train_idx].mean())
    return out


def _ndvi_baseline(table: pd.DataFrame, test_idx: np.ndarray, train_idx: np.ndarray, ndvi: str) -> np.ndarray:
    """Per-crop linear regression of yield on the NDVI integral alone."""
    out = np.full(len(test_idx), np.nan)
    if ndvi not in table.columns:
        return out
    train, test = table.iloc[train_idx], table.iloc[test_idx]
    for crop, rows in test.groupby("crop"):
        tr = train[(train["crop"] == crop) & train[ndvi].notna()]
        if len(tr) < 3:
            continue
        lr = LinearRegression().fit(tr[[ndvi]].to_numpy(), tr[TARGET].to_numpy())
        pos = np.flatnonzero(test["crop"].to_numpy() == crop)
        xs = rows[[ndvi]].to_numpy()
        ok = np.isfinite(xs[:, 0])
        out[pos[ok]] = lr.predict(xs[ok])
    return out


def _cv_predictions(table: pd.DataFrame, lead: str, features: Sequence[str], scheme: str, coverage: float,
                    params: Mapping[str, Any] | None, ndvi: str, season_features: Iterable[str]) -> pd.DataFrame:
    """Outer CV by the scheme's groups; structure choice and calibration run inside each training fold
    (inner CV by the same kind of group), so the held-out group is never seen (nested CV)."""
    group_col = SCHEMES[scheme]
    groups = table[group_col].astype(str).to_numpy()
    rows = []
    for g in np.unique(groups):
        test_idx = np.flatnonzero(groups == g)
        train_idx = np.flatnonzero(groups != g)
        train = table.iloc[train_idx].reset_index(drop=True)
        lm = _fit_lead(train, lead, features, coverage, params, season_features, calib_groups=group_col)
        test = table.iloc[test_idx]
        seen = test["crop"].astype(str).isin(lm.crops).to_numpy()
        logp, q = np.full(len(test), np.nan), np.full(len(test), np.nan)
        if seen.any():
            logp[seen], q[seen] = _predict_log(lm, test[seen])
        crops = test["crop"].astype(str)
        chosen = {c: m.structure for c, m in lm.models.items()}
        rows.append(pd.DataFrame({
            "scheme": scheme, "lead": lead, "fold": g,
            "field_id": test["field_id"].to_numpy(), "season": test["season"].to_numpy(),
            "crop": crops.to_numpy(),
            "structure": crops.map(chosen).to_numpy(),
            "observed": test[TARGET].to_numpy(dtype="float64"),
            "predicted": np.exp(logp), "lo": np.exp(logp - q), "hi": np.exp(logp + q),
            "baseline_field_mean": _field_mean_baseline(table, test_idx, train_idx),
            "baseline_ndvi_linear": _ndvi_baseline(table, test_idx, train_idx, ndvi),
        }))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def evaluate(tables: Mapping[str, pd.DataFrame], features: Mapping[str, Sequence[str]] | Sequence[str],
             coverage: float = 0.8, schemes: Iterable[str] = tuple(SCHEMES), ndvi_feature: str = "ndvi_integral",
             params: Mapping[str, Any] | None = None, season_features: Iterable[str] = ()) -> pd.DataFrame:
    """Out-of-fold predictions for every scheme and lead time, with both baselines and intervals.

    Returns one row per (scheme, lead, table row): ``observed``, ``predicted``, ``lo``, ``hi``,
    ``baseline_field_mean``, ``baseline_ndvi_linear``; summarise it with :func:`metrics_table`.
    ``leave_cooperative_out`` needs a ``cooperative_id`` column (skipped without one).
    ``structure`` names the structure each training fold chose for the row's crop.
    """
    season_features = tuple(season_features)
    parts = []
    for lead, table in tables.items():
        feats = _features_for(features, lead)
        t = table.reset_index(drop=True)
        _check_table(t, feats, lead, need_target=True)
        for scheme in schemes:
            if scheme not in SCHEMES:
                raise ModelInputError("unknown CV scheme", field="schemes", expected=f"one of {list(SCHEMES)}",
                                      got=scheme)
            if SCHEMES[scheme] not in t.columns or t[SCHEMES[scheme]].nunique() < 2:
                continue
            parts.append(_cv_predictions(t, lead, feats, scheme, coverage, params, ndvi_feature, season_features))
    if not parts:
        raise ModelInputError("not enough seasons or cooperatives to cross-validate (need >= 2)", field="season")
    return pd.concat(parts, ignore_index=True)


def _scores(obs: np.ndarray, pred: np.ndarray, field_mean: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(pred) & np.isfinite(obs)
    if ok.sum() < 2:
        return {"mape": math.nan, "rmse": math.nan, "r2": math.nan, "anomaly_r2": math.nan}
    o, p, m = obs[ok], pred[ok], field_mean[ok]
    anom_ok = np.isfinite(m)
    anomaly = r2_score(o[anom_ok] - m[anom_ok], p[anom_ok] - m[anom_ok]) if anom_ok.sum() >= 2 else math.nan
    return {
        "mape": float(np.mean(np.abs(o - p) / o) * 100.0),
        "rmse": float(np.sqrt(mean_squared_error(o, p))),
        "r2": float(r2_score(o, p)),
        "anomaly_r2": float(anomaly),
    }


def metrics_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per scheme, lead and crop: n, MAPE (%), RMSE (t/ha), R², anomaly R² of the model and both baselines,
    interval coverage and mean width (t/ha).

    The anomaly skill compares year-to-year departures from each field's mean yield over all
    its seasons in the table (observed vs predicted), so spatial differences between fields,
    which are easy, do not count.
    """
    p = predictions.copy()
    p["field_all_mean"] = p.groupby(["scheme", "lead", "field_id"])["observed"].transform("mean")
    p.loc[p.groupby(["scheme", "lead", "field_id"])["observed"].transform("size") < 2, "field_all_mean"] = np.nan
    rows = []
    for (scheme, lead, crop), g in p.groupby(["scheme", "lead", "crop"], sort=True):
        obs, m = g["observed"].to_numpy(), g["field_all_mean"].to_numpy()
        row: dict[str, Any] = {"scheme": scheme, "lead": lead, "crop": crop, "n": int(len(g))}
        for prefix, col in (("model", "predicted"), ("field_mean", "baseline_field_mean"),
                            ("ndvi_linear", "baseline_ndvi_linear")):
            for k, v in _scores(obs, g[col].to_numpy(dtype="float64"), m).items():
                row[f"{prefix}_{k}"] = v
        inside = (g["lo"] <= g["observed"]) & (g["observed"] <= g["hi"])
        row["coverage"] = float(inside[g["predicted"].notna()].mean())
        row["interval_width_t_ha"] = float((g["hi"] - g["lo"]).mean())
        if "structure" in g.columns:
            chosen = g.dropna(subset=["structure"]).drop_duplicates("fold")["structure"]
            row["structures"] = {str(k): int(v) for k, v in chosen.value_counts().sort_index().items()}
        rows.append(row)
    return pd.DataFrame(rows)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    return value


def model_card(model: YieldModel, metrics: pd.DataFrame | None = None) -> dict[str, Any]:
    """JSON-able description of the model: leads, features, versions and per crop × lead CV skill.

    ``metrics`` is :func:`metrics_table` output; the card nests it as
    ``evaluation[scheme][crop][lead] = {n, model:{mape,rmse,r2,anomaly_r2}, baseline_field_mean:{...},
    baseline_ndvi_linear:{...}, coverage, interval_width_t_ha, structures}`` (``structures``: how
    many outer folds chose each structure, when the predictions carried it).
    """
    card: dict[str, Any] = {
        "model": ("per crop and lead time: RidgeCV, optionally + HistGradientBoostingRegressor on its residuals "
                  "in log(yield); the structure chosen by leave-one-season-out CV inside the training data"),
        "structures": [{"name": s.name, "linear": s.linear, "boosted": s.boosted} for s in STRUCTURES],
        "target": f"{model.target} (fresh tubers for potato, grain at 13 % moisture for cereals)",
        "interval": {"method": ("CV+ split conformal on |log y - log ŷ| per crop, seasons as groups: within-season "
                               "residuals plus a new season's shared error from its random-effects predictive "
                               "distribution (Student t, G degrees of freedom); each calibration season's "
                               "residuals from the structure chosen without that season"),
                     "nominal_coverage": model.coverage},
        "leads": {lead: {"features": lm.features, "crops": lm.crops, "n_train": lm.n_train,
                         "per_crop": {c: {"structure": cm.structure, "n_train": cm.n_train,
                                          "interval_log_halfwidth": cm.q_log,
                                          "inner_cv_mape": cm.selection_mape} for c, cm in lm.models.items()}}
                  for lead, lm in model.leads.items()},
        "versions": model.versions,
        "evaluation": {},
    }
    if metrics is not None and not metrics.empty:
        for r in metrics.to_dict("records"):
            entry = {"n": r["n"], "coverage": r["coverage"], "interval_width_t_ha": r["interval_width_t_ha"]}
            if isinstance(r.get("structures"), dict):
                entry["structures"] = r["structures"]
            for prefix, key in (("model", "model"), ("field_mean", "baseline_field_mean"),
                                ("ndvi_linear", "baseline_ndvi_linear")):
                entry[key] = {k: r[f"{prefix}_{k}"] for k in ("mape", "rmse", "r2", "anomaly_r2")}
            card["evaluation"].setdefault(r["scheme"], {}).setdefault(r["crop"], {})[r["lead"]] = entry
    return _clean(card)


# ----------------------------------------------------------------------------- persistence and plots

def save_model(model: YieldModel, target: str | IO[bytes]) -> None:
    """Write the model, its feature lists and versions with joblib (a path or a binary file object)."""
    payload = {"format": FORMAT_VERSION, "model": model, "features": {k: v.features for k, v in model.leads.items()},
               "versions": model.versions}
    joblib.dump(payload, target, compress=3)


def load_model(source: str | IO[bytes], features: Mapping[str, Sequence[str]] | None = None) -> YieldModel:
    """Read a model saved by :func:`save_model`.

    With ``features`` (``{lead: [columns]}`` the caller will supply), any difference raises
    :class:`FeatureMismatchError` naming the missing and extra columns per lead.
    """
    payload = joblib.load(source)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise ModelError("not a Nongshu yield model (or an incompatible format version)", source=str(source))
    model: YieldModel = payload["model"]
    if features is not None:
        problems = []
        for lead, lm in model.leads.items():
            given = set(features.get(lead, ()))
            missing, extra = sorted(set(lm.features) - given), sorted(given - set(lm.features))
            if missing or extra:
                problems.append(f"{lead}: missing {missing}, extra {extra}")
        if problems:
            raise FeatureMismatchError("features do not match the saved model (" + "; ".join(problems) + ")",
                                       source=str(source), field="features")
    return model


def plot_predicted_vs_observed(predictions: pd.DataFrame, lead: str | None = None,
                               scheme: str = "leave_one_season_out"):
    """A matplotlib Figure, one panel per crop: out-of-fold predicted vs observed with 80 % intervals."""
    from matplotlib.figure import Figure

    sel = predictions[predictions["scheme"] == scheme]
    lead = lead or (sel["lead"].iloc[-1] if len(sel) else None)
    sel = sel[sel["lead"] == lead]
    crops = sorted(sel["crop"].unique())
    if not crops:
        raise ModelInputError("no predictions for this scheme and lead", field="lead", got=(scheme, lead))
    fig = Figure(figsize=(4 * len(crops), 4), layout="constrained")
    for ax, crop in zip(fig.subplots(1, len(crops), squeeze=False)[0], crops, strict=True):
        g = sel[sel["crop"] == crop]
        ax.errorbar(g["observed"], g["predicted"], yerr=[g["predicted"] - g["lo"], g["hi"] - g["predicted"]],
                    fmt="o", ms=3, alpha=0.6, elinewidth=0.5, label="model (80 % interval)")
        ax.plot(g["observed"], g["baseline_field_mean"], "x", ms=3, alpha=0.5, label="field mean baseline")
        lim = [float(np.nanmin(g[["observed", "lo"]].to_numpy())) * 0.95,
               float(np.nanmax(g[["observed", "hi"]].to_numpy())) * 1.05]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set(xlim=lim, ylim=lim, xlabel="observed yield (t/ha)", ylabel="predicted yield (t/ha)",
               title=f"{crop} — {lead}, {scheme.replace('_', ' ')}")
        ax.legend(fontsize=7, loc="upper left")
    return fig
