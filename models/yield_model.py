"""In-season yield forecasting: gradient boosting per lead time, honest cross-validation, conformal intervals.

* One model per lead time (e.g. ``"30d"``, ``"60d"``, ``"90d"``, ``"end"``), trained on
  ``log(yield)`` from that lead time's own feature table, so each uses only what is known by
  then: a per-crop ridge regression plus a
  :class:`~sklearn.ensemble.HistGradientBoostingRegressor` on its residuals
  (:class:`LinearPlusBoosting`). The crop enters as one-hot columns.
* Prediction intervals: split-conformal / CV+ style (Lei et al. 2018, *JASA* 113:1094;
  Barber et al. 2021, *Ann. Statist.* 49:486) on the scale-free score ``|log y - log ŷ|``
  computed out of fold with the seasons as groups, so the interval is ``ŷ·exp(±q)`` and its
  width reflects season-to-season error, not just within-season noise.
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
FORMAT_VERSION = 2
LINEAR_FEATURES: tuple[str, ...] = ("ndvi_integral",)
"""Features of the per-crop linear part: the season's NDVI integral, the classic yield proxy
(e.g. Becker-Reshef et al. 2010, *Remote Sens. Environ.* 114:1312); the boosted trees use all."""
THREADS = 1
"""OpenMP threads per fit: the pipeline and CV already run many small fits side by side, and
oversubscribed OpenMP on a shared machine is orders of magnitude slower than one thread."""


@dataclass
class LeadModel:
    """The fitted model of one lead time."""

    lead: str
    features: list[str]
    crops: list[str]
    estimator: LinearPlusBoosting
    q_log: float
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


def _matrix(table: pd.DataFrame, features: Sequence[str], crops: Sequence[str]) -> np.ndarray:
    x = table[list(features)].to_numpy(dtype="float64")
    crop = table["crop"].astype(str).to_numpy()
    onehot = np.stack([(crop == c).astype("float64") for c in crops], axis=1) if crops else np.empty((len(x), 0))
    return np.hstack([x, onehot])


class LinearPlusBoosting(RegressorMixin, BaseEstimator):
    """Per-crop ridge regression, then gradient boosting on its residuals.

    Trees cannot extrapolate: a season drier than any in the training years would get the
    yield of the driest seen. The ridge part (standardised features, alpha by efficient
    leave-one-out, ``RidgeCV``) carries the first-order, extrapolating response per crop; the
    boosted trees add interactions and thresholds on top (boosting from a linear
    initialisation, as in Friedman 2001, *Ann. Statist.* 29:1189, section 4).
    ``X`` = feature columns followed by ``n_crops`` one-hot crop columns.
    """

    def __init__(self, n_crops: int = 1, boosting: Mapping[str, Any] | None = None,
                 linear_columns: Sequence[int] | None = None) -> None:
        self.n_crops = n_crops
        self.boosting = boosting
        self.linear_columns = linear_columns

    def _linear(self) -> Pipeline:
        return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                             RidgeCV(alphas=np.logspace(-2, 3, 11)))

    def _crop_of(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(x[:, -self.n_crops:], axis=1) if self.n_crops else np.zeros(len(x), dtype=int)

    def _linear_x(self, x: np.ndarray) -> np.ndarray:
        feats = x[:, : x.shape[1] - self.n_crops]
        return feats if self.linear_columns is None else feats[:, list(self.linear_columns)]

    def fit(self, x: np.ndarray, y: np.ndarray) -> LinearPlusBoosting:
        """``y`` is log(yield); the linear part is fitted on yield itself (t/ha), where NDVI-yield
        relations are linear, and enters the boosting in log space."""
        feats = self._linear_x(x)
        crop = self._crop_of(x)
        raw = np.exp(y)
        self.linear_: dict[int, Pipeline | float] = {}
        self.floor_: dict[int, float] = {}
        self.ceiling_: dict[int, float] = {}
        for c in np.unique(crop):
            rows = crop == c
            self.floor_[int(c)] = 0.2 * float(raw[rows].min())
            # Never forecast beyond 1.5x the best yield ever recorded for the crop: per-pixel
            # features outside the training range must not extrapolate the linear part upwards.
            self.ceiling_[int(c)] = 1.5 * float(raw[rows].max())
            self.linear_[int(c)] = self._linear().fit(feats[rows], raw[rows]) if rows.sum() >= 5 else float(
                raw[rows].mean())
        base = self._base(feats, crop)
        self.boost_ = HistGradientBoostingRegressor(**{**DEFAULT_PARAMS, **(self.boosting or {})})
        self.boost_.fit(x, y - base)
        return self

    def _base(self, feats: np.ndarray, crop: np.ndarray) -> np.ndarray:
        base = np.zeros(len(feats))
        for c, lin in self.linear_.items():
            rows = crop == c
            if rows.any():
                pred = np.full(rows.sum(), lin) if isinstance(lin, float) else lin.predict(feats[rows])
                base[rows] = np.log(np.clip(pred, self.floor_[c], self.ceiling_[c]))
        return base

    def predict(self, x: np.ndarray) -> np.ndarray:
        """log(yield), kept inside [0.2 x lowest, 1.5 x highest] recorded yield of the crop."""
        crop = self._crop_of(x)
        out = self._base(self._linear_x(x), crop) + self.boost_.predict(x)
        for c in self.linear_:
            rows = crop == c
            out[rows] = np.clip(out[rows], np.log(self.floor_[c]), np.log(self.ceiling_[c]))
        return out


def _estimator(params: Mapping[str, Any] | None, features: Sequence[str], n_crops: int) -> LinearPlusBoosting:
    """The estimator: the linear part on :data:`LINEAR_FEATURES` present (all features if none)."""
    p = dict(params or {})
    linear = p.pop("linear_features", LINEAR_FEATURES)
    cols = [i for i, f in enumerate(features) if f in linear] or None
    return LinearPlusBoosting(n_crops=n_crops, boosting=p, linear_columns=cols)


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """Finite-sample conformal quantile: the ceil((n+1)·coverage)-th smallest score."""
    s = np.sort(np.asarray(scores, dtype="float64")[np.isfinite(scores)])
    if s.size == 0:
        raise ModelError("no calibration residuals to build a prediction interval")
    k = min(s.size, math.ceil((s.size + 1) * coverage))
    return float(s[k - 1])


def _oof_log_residuals(table: pd.DataFrame, features: Sequence[str], crops: Sequence[str], groups: np.ndarray,
                       params: Mapping[str, Any] | None, n_splits: int = 5) -> np.ndarray:
    """|log y - log ŷ| predicted out of fold, folds formed by ``groups`` (seasons)."""
    k = min(n_splits, len(np.unique(groups)))
    y = np.log(table[TARGET].to_numpy(dtype="float64"))
    x = _matrix(table, features, crops)
    if k < 2:
        raise ModelInputError("intervals need at least two seasons (or cooperatives) of yield history",
                              field="season", got=int(len(np.unique(groups))))
    out = np.full(len(y), np.nan)
    for train, test in GroupKFold(n_splits=k).split(x, y, groups):
        crop = table["crop"].astype(str).to_numpy()
        seen = np.isin(crop[test], np.unique(crop[train]))  # a crop absent from the fold has no residual
        with threadpool_limits(THREADS, user_api="openmp"):
            est = _estimator(params, features, len(crops)).fit(x[train], y[train])
            out[test[seen]] = np.abs(y[test[seen]] - est.predict(x[test[seen]]))
    return out


def _calibration_groups(table: pd.DataFrame, preferred: str) -> np.ndarray:
    """Groups for the out-of-fold calibration residuals: ``preferred`` (seasons) when it has two or
    more values, else cooperatives, else fields, so residuals always come from unseen groups."""
    for column in (preferred, "season", "cooperative_id", "field_id"):
        if column in table.columns and table[column].nunique() >= 2:
            return table[column].astype(str).to_numpy()
    raise ModelInputError("intervals need at least two seasons, cooperatives or fields", field="season")


def _fit_lead(table: pd.DataFrame, lead: str, features: Sequence[str], coverage: float,
              params: Mapping[str, Any] | None, calib_groups: str = "season", calib_splits: int = 5) -> LeadModel:
    _check_table(table, features, lead, need_target=True)
    crops = sorted(table["crop"].astype(str).unique())
    x = _matrix(table, features, crops)
    y = np.log(table[TARGET].to_numpy(dtype="float64"))
    with threadpool_limits(THREADS, user_api="openmp"):
        est = _estimator(params, features, len(crops)).fit(x, y)
    scores = _oof_log_residuals(table, features, crops, _calibration_groups(table, calib_groups), params,
                                calib_splits)
    return LeadModel(lead, list(features), crops, est, conformal_quantile(scores, coverage), len(table))


def _features_for(features: Mapping[str, Sequence[str]] | Sequence[str], lead: str) -> list[str]:
    if isinstance(features, Mapping):
        if lead not in features:
            raise ModelInputError("no feature list for lead time", field="features", expected=f"keys {list(features)}",
                                  got=lead)
        return list(features[lead])
    return list(features)


def fit_yield_model(tables: Mapping[str, pd.DataFrame], features: Mapping[str, Sequence[str]] | Sequence[str],
                    coverage: float = 0.8, params: Mapping[str, Any] | None = None) -> YieldModel:
    """Fit one model per lead time.

    ``tables``: ``{lead: DataFrame}`` with columns ``field_id, season, crop, yield_t_ha`` and the
    numeric feature columns known at that lead time; ``features``: the feature columns, one
    list for all leads or ``{lead: [...]}``; ``coverage``: nominal interval coverage (0.8).
    """
    if not 0 < coverage < 1:
        raise ModelInputError("coverage must be in (0, 1)", field="coverage", got=coverage)
    if not tables:
        raise ModelInputError("no feature tables given", field="tables")
    leads = {lead: _fit_lead(t.reset_index(drop=True), lead, _features_for(features, lead), coverage, params)
             for lead, t in tables.items()}
    return YieldModel(leads, coverage, TARGET, package_versions())


# ----------------------------------------------------------------------------- prediction

def _predict_log(lm: LeadModel, table: pd.DataFrame) -> np.ndarray:
    unknown = sorted(set(table["crop"].astype(str)) - set(lm.crops))
    if unknown:
        raise ModelInputError("crop not seen in training", field="crop", expected=f"one of {lm.crops}", got=unknown)
    with threadpool_limits(THREADS, user_api="openmp"):
        return lm.estimator.predict(_matrix(table, lm.features, lm.crops))


def predict(model: YieldModel, table: pd.DataFrame, lead: str) -> pd.DataFrame:
    """Point forecast and 80 % (model.coverage) interval per row: ``yield_pred_t_ha, yield_lo_t_ha, yield_hi_t_ha``.

    Raises :class:`FeatureMismatchError` naming the feature columns the table lacks.
    """
    lm = model._lead(lead)
    _check_table(table, lm.features, lead, need_target=False)
    logp = _predict_log(lm, table)
    return pd.DataFrame(
        {"yield_pred_t_ha": np.exp(logp), "yield_lo_t_ha": np.exp(logp - lm.q_log),
         "yield_hi_t_ha": np.exp(logp + lm.q_log)},
        index=table.index,
    )


def _pixel_block(*blocks: np.ndarray, lm: LeadModel, crop: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shape = np.broadcast(*blocks).shape
    x = np.stack([np.broadcast_to(b, shape).reshape(-1) for b in blocks], axis=1).astype("float64")
    onehot = np.tile([1.0 if c == crop else 0.0 for c in lm.crops], (x.shape[0], 1))
    ok = np.isfinite(x).all(axis=1)
    pred = np.full(x.shape[0], np.nan)
    if ok.any():
        with threadpool_limits(THREADS, user_api="openmp"):
            pred[ok] = lm.estimator.predict(np.hstack([x[ok], onehot[ok]]))
    p = np.exp(pred)
    return tuple(a.reshape(shape).astype("float32") for a in (p, p * np.exp(-lm.q_log), p * np.exp(lm.q_log)))


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
    arrays = [feature_arrays[f] for f in lm.features]
    if all(isinstance(a, np.ndarray) for a in arrays):
        return _pixel_block(*arrays, lm=lm, crop=crop)
    wrapped = [a if isinstance(a, xr.DataArray) else xr.DataArray(a, dims=[f"dim_{i}" for i in range(a.ndim)])
               for a in arrays]
    outs = xr.apply_ufunc(_pixel_block, *wrapped, kwargs={"lm": lm, "crop": crop}, dask="parallelized",
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
                    params: Mapping[str, Any] | None, ndvi: str) -> pd.DataFrame:
    group_col = SCHEMES[scheme]
    groups = table[group_col].astype(str).to_numpy()
    rows = []
    for g in np.unique(groups):
        test_idx = np.flatnonzero(groups == g)
        train_idx = np.flatnonzero(groups != g)
        train = table.iloc[train_idx].reset_index(drop=True)
        lm = _fit_lead(train, lead, features, coverage, params, calib_groups=group_col, calib_splits=3)
        test = table.iloc[test_idx]
        seen = test["crop"].astype(str).isin(lm.crops).to_numpy()
        logp = np.full(len(test), np.nan)
        if seen.any():
            logp[seen] = _predict_log(lm, test[seen])
        rows.append(pd.DataFrame({
            "scheme": scheme, "lead": lead, "fold": g,
            "field_id": test["field_id"].to_numpy(), "season": test["season"].to_numpy(),
            "crop": test["crop"].astype(str).to_numpy(),
            "observed": test[TARGET].to_numpy(dtype="float64"),
            "predicted": np.exp(logp), "lo": np.exp(logp - lm.q_log), "hi": np.exp(logp + lm.q_log),
            "baseline_field_mean": _field_mean_baseline(table, test_idx, train_idx),
            "baseline_ndvi_linear": _ndvi_baseline(table, test_idx, train_idx, ndvi),
        }))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def evaluate(tables: Mapping[str, pd.DataFrame], features: Mapping[str, Sequence[str]] | Sequence[str],
             coverage: float = 0.8, schemes: Iterable[str] = tuple(SCHEMES), ndvi_feature: str = "ndvi_integral",
             params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Out-of-fold predictions for every scheme and lead time, with both baselines and intervals.

    Returns one row per (scheme, lead, table row): ``observed``, ``predicted``, ``lo``, ``hi``,
    ``baseline_field_mean``, ``baseline_ndvi_linear``; summarise it with :func:`metrics_table`.
    ``leave_cooperative_out`` needs a ``cooperative_id`` column (skipped without one).
    """
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
            parts.append(_cv_predictions(t, lead, feats, scheme, coverage, params, ndvi_feature))
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
        "model": "per-crop RidgeCV + HistGradientBoostingRegressor on its residuals, log(yield), one per lead time",
        "target": f"{model.target} (fresh tubers for potato, grain at 13 % moisture for cereals)",
        "interval": {"method": "CV+ split conformal on |log y - log ŷ|, seasons as groups",
                     "nominal_coverage": model.coverage},
        "leads": {lead: {"features": lm.features, "crops": lm.crops, "n_train": lm.n_train,
                         "interval_log_halfwidth": lm.q_log} for lead, lm in model.leads.items()},
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
