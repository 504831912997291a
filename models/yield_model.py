"""In-season yield forecasting: per-crop models per lead time, an equal-weight mean of fixed structures, with conformal intervals.

* One model per lead time (``"30d"``, ``"60d"``, ``"90d"``, ``"end"``) and crop, trained on that
  lead time's own feature table, so each uses only what is known by then.
* Why per crop and why several structures: a region has a few hundred fields but only a
  handful of seasons. Season-wide features (weather and climate indices: GDD, rain, SPI, frost
  and heat days) take one value per season in a small region, so with ``S`` seasons each of
  them rests on ``S`` independent points, and trees happily map them to the identity of the
  training seasons: that fits the past and fails on a new season. The canopy (NDVI peak,
  integral, mean; Becker-Reshef et al. 2010, *Remote Sens. Environ.* 114:1312; Rasmussen 1997,
  *Int. J. Remote Sens.* 18:1059) is observed per field and season and integrates what the
  weather did. Four structures are fixed a priori (:data:`STRUCTURES`), from a ridge regression
  on the canopy and soil to a ridge on NDVI with gradient boosting of its residuals on every
  feature (boosting from a linear start, Friedman 2001, *Ann. Statist.* 29:1189, §4), and each
  crop's forecast is the **equal-weight mean of their log forecasts**. Choosing one of them by
  inner leave-one-season-out CV (this module's rule until November 2026) rests on four or five
  seasons, and the choice was noisier than the differences it chose between: on three demo
  regions (seeds 42, 7, 11) the mean had the lower season-held-out MAPE on two and the better
  interval coverage on all three. That simple averages of forecasts beat choosing, and beat
  weights estimated from short records, is the "forecast combination puzzle" (Clemen 1989,
  *Int. J. Forecast.* 5:559; Smith & Wallis 2009, *Oxf. Bull. Econ. Stat.* 71:331).
* The ridge penalty is chosen by leave-one-season-out CV (:class:`GroupedRidgeCV`): a penalty
  chosen by leave-one-row-out predicts a field from the other fields of its own season, which
  season-wide features do perfectly, and then extrapolates them to a new season almost
  unpenalised.
* Prediction intervals: CV+ / split-conformal (Lei et al. 2018, *JASA* 113:1094; Barber et al.
  2021, *Ann. Statist.* 49:486) on the scale-free score ``|log y - log ŷ|``, out of fold with
  the same groups (seasons), per crop, so the interval is ``ŷ·exp(±q)`` and its width reflects
  season-to-season error, not within-season noise; the season-wide part of the error of a new
  season is drawn from its random-effects predictive distribution, its spread moderated
  across the crops of the lead time (:mod:`models.intervals`). The mean involves no choice, so
  its out-of-fold residuals calibrate it without selection bias.
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
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from models.errors import FeatureMismatchError, ModelError, ModelInputError
from models.intervals import SeasonErrors, interval_halfwidths, season_errors

TARGET = "yield_t_ha"
ID_COLUMNS = ("field_id", "season", "crop")
SCHEMES = {"leave_one_season_out": "season", "leave_cooperative_out": "cooperative_id"}
DEFAULT_PARAMS: dict[str, Any] = {
    "max_iter": 80, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 20,
    "l2_regularization": 1.0, "early_stopping": False, "random_state": 0,
}
FORMAT_VERSION = 4
LINEAR_FEATURES: tuple[str, ...] = ("ndvi_peak", "ndvi_integral", "ndvi_mean")
"""Canopy features of the ridge part of the boosted structures: the classic NDVI yield proxies
(peak: Becker-Reshef et al. 2010; seasonal integral: Rasmussen 1997; mean)."""
RIDGE_ALPHAS = np.logspace(-2, 3, 11)
"""Ridge penalties tried (on standardised features)."""
INNER_SPLITS = 5
"""At most this many groups (seasons) in the inner CV that calibrates the interval."""
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
"""Structures fixed a priori, from the most to the least constrained; the model is their mean."""


MEAN_NAME = "mean of " + ", ".join(s.name for s in STRUCTURES)
"""The ``structure`` of every crop model: the equal-weight mean of :data:`STRUCTURES`."""


class StructureMean(RegressorMixin, BaseEstimator):
    """Equal-weight mean of fitted members' log(yield) forecasts (each a :class:`LinearPlusBoosting`)."""

    def __init__(self, members: Sequence[LinearPlusBoosting]) -> None:
        self.members = members

    def predict(self, x: np.ndarray) -> np.ndarray:
        """log(yield): the mean of the members' log forecasts."""
        return np.mean([m.predict(x) for m in self.members], axis=0)


@dataclass
class CropModel:
    """The fitted model of one crop at one lead time; ``inner_cv_mape``: leave-one-season-out MAPE (%)
    inside the training data of each structure and of their mean."""

    structure: str
    estimator: StructureMean
    q_log: float
    n_train: int
    inner_cv_mape: dict[str, float]


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
    yield of the driest seen. The ridge part (median-imputed, standardised, alpha by
    leave-one-season-out CV, :class:`GroupedRidgeCV`, when ``fit`` gets the seasons, else by
    efficient leave-one-row-out, ``RidgeCV``) carries the first-order, extrapolating response and is fitted
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
    def _ridge(splits: list[tuple[np.ndarray, np.ndarray]] | None = None) -> Pipeline:
        ridge = RidgeCV(alphas=RIDGE_ALPHAS) if splits is None else GroupedRidgeCV(RIDGE_ALPHAS, splits)
        return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), ridge)

    def _cols(self, x: np.ndarray, cols: Sequence[int] | None) -> np.ndarray:
        return x if cols is None else x[:, list(cols)]

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> LinearPlusBoosting:
        """``y`` is log(yield); ``groups`` (seasons), when there are three or more, choose the ridge penalty
        by leave-one-group-out CV instead of leave-one-row-out."""
        raw = np.exp(y)
        self.floor_ = 0.2 * float(raw.min())
        # Never forecast beyond 1.5x the best yield ever recorded for the crop: per-pixel
        # features outside the training range must not extrapolate the linear part upwards.
        self.ceiling_ = 1.5 * float(raw.max())
        self.linear_ = (self._ridge(_group_splits(groups)).fit(self._cols(x, self.linear_columns), raw)
                        if len(raw) >= 5 else None)
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


class GroupedRidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression whose penalty is chosen by grouped (leave-one-season-out) CV.

    ``RidgeCV``'s efficient leave-one-*row*-out picks the penalty that predicts a field from
    the other fields of its own season, which season-wide features (one value per season) do
    perfectly: it then extrapolates those features to a new season almost unpenalised. Here
    the squared error is summed over the held-out groups ``splits`` (train, test row indices),
    every penalty from one SVD per split (Hastie, Tibshirani & Friedman 2009, *Elements of
    Statistical Learning*, §3.4.1, eq. 3.47), and the final fit is a plain ``Ridge``.
    """

    def __init__(self, alphas: Sequence[float], splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        self.alphas = alphas
        self.splits = splits

    def fit(self, x: np.ndarray, y: np.ndarray) -> GroupedRidgeCV:
        alphas = np.asarray(self.alphas, dtype="float64")
        sse = np.zeros(alphas.size)
        for train, test in self.splits:
            xm, ym_ = x[train].mean(axis=0), y[train].mean()
            u, sv, vt = np.linalg.svd(x[train] - xm, full_matrices=False)
            uty = u.T @ (y[train] - ym_)
            coefs = vt.T @ ((sv[:, None] / (sv[:, None] ** 2 + alphas[None, :])) * uty[:, None])  # features x alphas
            pred = (x[test] - xm) @ coefs + ym_
            sse += np.sum((pred - y[test][:, None]) ** 2, axis=0)
        self.alpha_ = float(alphas[int(np.argmin(sse))])
        self.ridge_ = Ridge(alpha=self.alpha_).fit(x, y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.ridge_.predict(x)


def _group_splits(groups: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Leave-one-group-out splits for :class:`GroupedRidgeCV`, or ``None`` (``RidgeCV``'s efficient
    leave-one-row-out) with fewer than three groups."""
    if groups is None:
        return None
    g = np.asarray(groups)
    labels = np.unique(g)
    if labels.size < 3:
        return None
    return [(np.flatnonzero(g != label), np.flatnonzero(g == label)) for label in labels]


def _estimator(structure: Structure, sets: Mapping[str, list[int]],
               params: Mapping[str, Any] | None) -> LinearPlusBoosting:
    boosting = {k: v for k, v in (params or {}).items() if k != "linear_features"}
    return LinearPlusBoosting(linear_columns=sets[structure.linear],
                              boost_columns=None if structure.boosted is None else sets[structure.boosted],
                              boosting=boosting)


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
                out[s.name][test] = _estimator(s, sets, params).fit(x[train], y[train], groups[train]).predict(x[test])
    return out


@dataclass
class _CropFit:
    """A crop's structures refitted on all its rows, with the residuals that calibrate their mean's interval."""

    estimator: StructureMean
    n_train: int
    inner_cv_mape: dict[str, float]
    errors: SeasonErrors


def _fit_crop(table: pd.DataFrame, features: Sequence[str], sets: Mapping[str, list[int]],
              params: Mapping[str, Any] | None, calib_groups: str, calib_splits: int) -> _CropFit:
    """Fit every structure on all rows of the crop; keep the out-of-fold residuals of their mean
    (inner grouped CV) split by season, and each structure's inner-CV MAPE for the card."""
    x = _matrix(table, features)
    y = np.log(table[TARGET].to_numpy(dtype="float64"))
    groups = _calibration_groups(table, calib_groups)
    oof = _oof_log_predictions(x, y, groups, STRUCTURES, sets, params, calib_splits)
    mean_oof = np.mean([oof[s.name] for s in STRUCTURES], axis=0)
    mape = {name: float(np.mean(np.abs(np.expm1(p - y))) * 100.0) for name, p in {**oof, "mean": mean_oof}.items()}
    with threadpool_limits(THREADS, user_api="openmp"):
        members = [_estimator(s, sets, params).fit(x, y, groups) for s in STRUCTURES]
    return _CropFit(StructureMean(members), len(table), {k: round(v, 2) for k, v in mape.items()},
                    season_errors(y - mean_oof, groups))


def _fit_lead(table: pd.DataFrame, lead: str, features: Sequence[str], coverage: float,
              params: Mapping[str, Any] | None, season_features: Iterable[str] = (),
              calib_groups: str = "season", calib_splits: int = INNER_SPLITS) -> LeadModel:
    """Fit every crop of one lead time; the crops' interval half-widths are calibrated together
    (:func:`models.intervals.interval_halfwidths`: season spreads moderated across crops)."""
    _check_table(table, features, lead, need_target=True)
    crops = sorted(table["crop"].astype(str).unique())
    sets = feature_sets(features, season_features)
    crop_col = table["crop"].astype(str)
    fits = {c: _fit_crop(table[crop_col == c].reset_index(drop=True), features, sets, params, calib_groups,
                         calib_splits) for c in crops}
    q = interval_halfwidths({c: f.errors for c, f in fits.items()}, coverage)
    models = {c: CropModel(MEAN_NAME, f.estimator, q[c], f.n_train, f.inner_cv_mape) for c, f in fits.items()}
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
    """Outer CV by the scheme's groups; the ridge penalties and the interval calibration run inside each
    training fold (inner CV by the same kind of group), so the held-out group is never seen (nested CV)."""
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
        rows.append(pd.DataFrame({
            "scheme": scheme, "lead": lead, "fold": g,
            "field_id": test["field_id"].to_numpy(), "season": test["season"].to_numpy(),
            "crop": crops.to_numpy(),
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
    baseline_ndvi_linear:{...}, coverage, interval_width_t_ha}``.
    """
    card: dict[str, Any] = {
        "model": ("per crop and lead time: the equal-weight mean, in log(yield), of the structures below (ridge "
                  "regression, penalty by leave-one-season-out CV, optionally + HistGradientBoostingRegressor on "
                  "its residuals)"),
        "structures": [{"name": s.name, "linear": s.linear, "boosted": s.boosted} for s in STRUCTURES],
        "target": f"{model.target} (fresh tubers for potato, grain at 13 % moisture for cereals)",
        "interval": {"method": ("CV+ split conformal on |log y - log ŷ| per crop, seasons as groups: within-season "
                               "residuals plus a new season's shared error from its random-effects predictive "
                               "distribution (Student t), its variance shrunk towards the crops' common level "
                               "(empirical Bayes, Smyth 2004; prior weight = G seasons, 2G degrees of freedom)"),
                     "nominal_coverage": model.coverage},
        "leads": {lead: {"features": lm.features, "crops": lm.crops, "n_train": lm.n_train,
                         "per_crop": {c: {"structure": cm.structure, "n_train": cm.n_train,
                                          "interval_log_halfwidth": cm.q_log,
                                          "inner_cv_mape": cm.inner_cv_mape} for c, cm in lm.models.items()}}
                  for lead, lm in model.leads.items()},
        "versions": model.versions,
        "evaluation": {},
    }
    if metrics is not None and not metrics.empty:
        for r in metrics.to_dict("records"):
            entry = {"n": r["n"], "coverage": r["coverage"], "interval_width_t_ha": r["interval_width_t_ha"]}
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
