"""Yield model on a synthetic table with a known law: skill, baselines, intervals, persistence, pixels."""

from __future__ import annotations

import io
import json

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from models.errors import FeatureMismatchError, ModelInputError
from models.intervals import conformal_quantile
from models.yield_model import (
    evaluate,
    fit_yield_model,
    load_model,
    metrics_table,
    model_card,
    plot_predicted_vs_observed,
    predict,
    predict_pixels,
    save_model,
)

from .conftest import YIELD_FEATURES, make_yield_table

SEASONS = range(2019, 2024)  # 5 seasons


@pytest.fixture(scope="module")
def tables():
    t = make_yield_table(n_fields=36, seasons=SEASONS)
    return {"60d": t.drop(columns=["precip_mm"]), "end": t.drop(columns=["precip_60d_mm"])}


@pytest.fixture(scope="module")
def cv(tables):
    predictions = evaluate(tables, YIELD_FEATURES)
    return predictions, metrics_table(predictions)


@pytest.fixture(scope="module")
def model(tables):
    return fit_yield_model(tables, YIELD_FEATURES)


def test_beats_both_baselines_at_end_of_season(cv):
    _, m = cv
    end = m[m["lead"] == "end"]
    assert set(end["scheme"]) == {"leave_one_season_out", "leave_cooperative_out"}
    assert set(end["crop"]) == {"potato", "spring_wheat"}
    for row in end.itertuples():
        assert row.model_mape < row.field_mean_mape, row
        assert row.model_mape < row.ndvi_linear_mape, row
        assert row.model_anomaly_r2 > 0.3, row  # it gets the seasons, not only the fields
    assert set(m["lead"]) == {"60d", "end"}


def test_anomaly_skill_of_field_mean_baseline_is_hand_computable(cv):
    # The baseline predicts the mean of the field's other S-1 seasons, i.e. an anomaly of -a/(S-1)
    # for an observed anomaly a, so R² = 1 - (S/(S-1))² = 1 - (5/4)² = -0.5625 with S = 5.
    _, m = cv
    assert m["field_mean_anomaly_r2"].to_numpy() == pytest.approx(-0.5625)


def test_80_percent_intervals_cover_70_to_90_percent_of_held_out_rows(cv):
    predictions, _ = cv
    end = predictions[predictions["lead"] == "end"]
    for scheme, g in end.groupby("scheme"):
        inside = ((g["lo"] <= g["observed"]) & (g["observed"] <= g["hi"])).mean()
        assert 0.70 <= inside <= 0.90, (scheme, inside)


def test_conformal_quantile_finite_sample_rank():
    # n = 9, coverage 0.8: rank ceil(10 · 0.8) = 8 -> 8th smallest
    assert conformal_quantile(np.arange(1.0, 10.0), 0.8) == 8.0


def test_predict_gives_ordered_interval_and_mismatch_names_columns(model, tables):
    out = predict(model, tables["end"].head(5), "end")
    assert list(out.columns) == ["yield_pred_t_ha", "yield_lo_t_ha", "yield_hi_t_ha"]
    assert (out["yield_lo_t_ha"] < out["yield_pred_t_ha"]).all() and (out["yield_pred_t_ha"] < out["yield_hi_t_ha"]).all()
    with pytest.raises(FeatureMismatchError, match="precip_mm"):
        predict(model, tables["end"].drop(columns=["precip_mm"]), "end")
    with pytest.raises(ModelInputError, match="lead"):
        predict(model, tables["end"], "120d")


def test_save_load_roundtrip_and_feature_check(model, tables, tmp_path):
    path = tmp_path / "yield.joblib"
    save_model(model, str(path))
    loaded = load_model(str(path), features=YIELD_FEATURES)
    pd.testing.assert_frame_equal(predict(loaded, tables["end"], "end"), predict(model, tables["end"], "end"))
    assert loaded.versions["scikit-learn"]
    wrong = {**YIELD_FEATURES, "end": ["awc_mm_m", "precip_mm", "evi_integral"]}
    with pytest.raises(FeatureMismatchError) as err:
        load_model(str(path), features=wrong)
    assert "missing ['ndvi_integral']" in str(err.value) and "extra ['evi_integral']" in str(err.value)
    buf = io.BytesIO()
    save_model(model, buf)
    buf.seek(0)
    assert load_model(buf).features("60d") == YIELD_FEATURES["60d"]


def test_predict_pixels_numpy_dask_and_table_agree(model, tables):
    rows = tables["end"][tables["end"]["crop"] == "potato"].head(12)
    grids = {f: rows[f].to_numpy().reshape(3, 4) for f in YIELD_FEATURES["end"]}
    grids["precip_mm"] = grids["precip_mm"].copy()
    grids["precip_mm"][0, 0] = np.nan  # nodata pixel
    pred, lo, hi = predict_pixels(model, grids, "potato", "end")
    expected = predict(model, rows, "end")["yield_pred_t_ha"].to_numpy().reshape(3, 4)
    assert np.isnan(pred[0, 0]) and np.isnan(hi[0, 0])
    np.testing.assert_allclose(pred.ravel()[1:], expected.ravel()[1:], rtol=1e-6)
    lazy = predict_pixels(model, {k: da.from_array(v, chunks=2) for k, v in grids.items()}, "potato", "end")
    assert isinstance(lazy[0], da.Array)
    np.testing.assert_array_equal(lazy[0].compute(), pred)
    xr_out = predict_pixels(model, {k: xr.DataArray(v, dims=("y", "x")).chunk({"y": 1}) for k, v in grids.items()},
                            "potato", "end")
    np.testing.assert_array_equal(xr_out[2].compute().values, hi)
    with pytest.raises(FeatureMismatchError, match="extra"):
        predict_pixels(model, {**grids, "slope": grids["awc_mm_m"]}, "potato", "end")


def test_model_card_is_json_and_complete(model, cv):
    _, m = cv
    card = model_card(model, m)
    text = json.dumps(card)
    assert "NaN" not in text
    entry = card["evaluation"]["leave_one_season_out"]["potato"]["end"]
    assert set(entry) == {"n", "model", "baseline_field_mean", "baseline_ndvi_linear", "coverage",
                          "interval_width_t_ha"}
    assert entry["n"] == 18 * 5 and set(entry["model"]) == {"mape", "rmse", "r2", "anomaly_r2"}
    assert card["leads"]["end"]["features"] == YIELD_FEATURES["end"]
    assert card["interval"]["nominal_coverage"] == 0.8


def test_predicted_vs_observed_figure(cv):
    predictions, _ = cv
    fig = plot_predicted_vs_observed(predictions, lead="end")
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel() == "observed yield (t/ha)"


def test_bad_yields_are_refused(tables):
    bad = tables["end"].copy()
    bad.loc[3, "yield_t_ha"] = -1.0
    with pytest.raises(ModelInputError, match="yield_t_ha"):
        fit_yield_model({"end": bad}, YIELD_FEATURES)


def test_two_seasons_still_cross_validate_by_season():
    # the demo region has two seasons with yields: leave-one-season-out then calibrates by cooperative
    t = make_yield_table(n_fields=24, seasons=range(2022, 2024)).drop(columns=["precip_60d_mm"])
    m = metrics_table(evaluate({"end": t}, YIELD_FEATURES))
    assert set(m["scheme"]) == {"leave_one_season_out", "leave_cooperative_out"}
    assert (m["n"] == 24).all()


def test_pixel_forecasts_do_not_extrapolate_beyond_recorded_yields() -> None:
    """A pixel whose NDVI integral is 50x anything seen must not get a yield 50x the best field."""
    import numpy as np
    import pandas as pd

    from models.yield_model import fit_yield_model, predict_pixels

    rng = np.random.default_rng(3)
    rows = []
    for season in (2020, 2021, 2022, 2023):
        for i in range(40):
            ndvi = rng.uniform(20, 60)
            rows.append({"field_id": f"F{i}", "season": season, "crop": "potato", "cooperative_id": f"C{i % 4}",
                         "ndvi_integral": ndvi, "yield_t_ha": 0.4 * ndvi + rng.normal(0, 1)})
    table = pd.DataFrame(rows)
    model = fit_yield_model({"end": table}, ["ndvi_integral"])
    best = table["yield_t_ha"].max()
    pred, lo, hi = predict_pixels(model, {"ndvi_integral": np.array([[40.0, 3000.0]])}, "potato", lead="end")
    assert 10 < float(pred[0, 0]) < 22  # 0.4 * 40 = 16 t/ha by construction
    assert float(pred[0, 1]) <= 1.5 * best + 1e-3


def _canopy_table(seed: int = 5, n_fields: int = 40, seasons=range(2018, 2024)) -> pd.DataFrame:
    """Yield follows the field's NDVI peak; ``season_noise`` is one random value per season, unrelated to yield."""
    rng = np.random.default_rng(seed)
    rows = []
    for season in seasons:
        noise = rng.normal(0, 1)
        weather = rng.normal(0, 1)  # the season's weather, seen by the canopy only
        for i in range(n_fields):
            peak = 0.6 + 0.05 * weather + 0.08 * rng.uniform(-1, 1)
            rows.append({"field_id": f"F{i}", "season": season, "crop": "maize", "cooperative_id": f"C{i % 4}",
                         "ndvi_peak": peak, "season_noise": noise + rng.normal(0, 0.01),
                         "yield_t_ha": 10.0 * peak * np.exp(rng.normal(0, 0.03))})
    return pd.DataFrame(rows)


def test_crop_model_is_the_mean_of_its_structures(tables):
    """The forecast is the equal-weight mean of the four structures' log forecasts, each refitted on all rows."""
    import models.yield_model as ym

    model = fit_yield_model({"end": tables["end"]}, YIELD_FEATURES["end"], season_features=["precip_mm"])
    cm = model.leads["end"].models["potato"]
    assert cm.structure == ym.MEAN_NAME and len(cm.estimator.members) == len(ym.STRUCTURES)
    rows = tables["end"][tables["end"]["crop"] == "potato"].reset_index(drop=True)
    x = rows[YIELD_FEATURES["end"]].to_numpy(dtype="float64")
    sets = ym.feature_sets(YIELD_FEATURES["end"], ["precip_mm"])
    groups = rows["season"].astype(str).to_numpy()
    y = np.log(rows["yield_t_ha"].to_numpy(dtype="float64"))
    by_hand = np.mean([ym._estimator(s, sets, None).fit(x, y, groups).predict(x) for s in ym.STRUCTURES], axis=0)
    np.testing.assert_allclose(predict(model, rows, "end")["yield_pred_t_ha"], np.exp(by_hand), rtol=1e-9)
    assert set(cm.inner_cv_mape) == {*(s.name for s in ym.STRUCTURES), "mean"}


def test_held_out_season_takes_no_part_in_its_own_forecast():
    """Nested CV: changing the held-out season's yields must not change its forecasts or intervals."""
    table = _canopy_table(n_fields=16, seasons=range(2019, 2023))
    changed = table.copy()
    changed.loc[changed["season"] == 2022, "yield_t_ha"] *= 3.0
    cols = ["predicted", "lo", "hi"]
    a = evaluate({"end": table}, ["ndvi_peak"], schemes=["leave_one_season_out"])
    b = evaluate({"end": changed}, ["ndvi_peak"], schemes=["leave_one_season_out"])
    pd.testing.assert_frame_equal(a.loc[a["season"] == 2022, cols], b.loc[b["season"] == 2022, cols])
    assert not np.allclose(a.loc[a["season"] == 2021, "predicted"], b.loc[b["season"] == 2021, "predicted"])


def test_clustered_scores_by_hand():
    from models.intervals import SEASON_GRID, clustered_scores

    # group A residuals 0.1, 0.3 (mean 0.2), group B -0.2, -0.2 (mean -0.2): within-season parts
    # -0.1, 0.1, 0, 0 -> σ_e² = 0.02 / (4 - 2) = 0.01; σ_b² = (0.04 + 0.04)/2 - 0.01 · (1/2 + 1/2)/2 = 0.035;
    # G = 2: k² = 1 - 1/4 -> season scale sqrt(0.035 · 0.75) = 0.16202
    r = np.array([0.1, 0.3, -0.2, -0.2])
    s = clustered_scores(r, np.array(["A", "A", "B", "B"])).reshape(4, SEASON_GRID)
    # group B rows have no within part: their scores are |0.16202 · t_2|; 90 % point of |t_2| = t_2(0.95) = 2.91999
    # (2 % for the 200-point grid of the heavy-tailed t_2)
    assert np.quantile(s[2], 0.9) == pytest.approx(0.16202 * 2.91999, rel=0.03)
    np.testing.assert_allclose(s[2], s[3])
    np.testing.assert_allclose(s[2], s[2][::-1])  # symmetric grid
    np.testing.assert_allclose(s[0], s[1][::-1])  # within parts -0.1 and +0.1 mirror each other
    np.testing.assert_allclose(clustered_scores(r, np.zeros(4)), np.abs(r))  # one group: plain |r|
    # equal group means smaller than the within noise explains: no season part, within-season |r - mean|
    flat = clustered_scores(np.array([0.1, -0.1, 0.12, -0.08]), np.array(["A", "A", "B", "B"]))
    np.testing.assert_allclose(flat, [0.1, 0.1, 0.1, 0.1])


def test_intervals_over_cover_no_longer_when_the_season_part_dominates():
    """Four seasons whose shared errors dominate: the 80 % score quantile must not exceed the largest season."""
    from models.intervals import clustered_scores, conformal_quantile

    rng = np.random.default_rng(0)
    b = np.array([-0.45, -0.1, 0.2, 0.5])  # season errors (log yield), within noise sd 0.05
    r = np.repeat(b, 100) + rng.normal(0, 0.05, 400)
    q = conformal_quantile(clustered_scores(r, np.repeat(np.arange(4), 100)), 0.8)
    # random effects: σ_b² ≈ mean(b²) = 0.1256, k² = 15/16, t_4(0.9) = 1.5332 -> q ≈ 1.5332 · 0.3432 = 0.526
    assert q == pytest.approx(1.5332 * np.sqrt(0.1256 * 15 / 16), abs=0.03)
    assert q < 1.29 * 0.5  # the old rule scaled the worst season by sqrt(5/3) = 1.29


def _three_seasons():
    """Three seasons of two fields each, observed log yield 0, and the out-of-fold log forecasts of the four
    structures: their mean misses by -0.1, -0.3 (season S1), 0.1, 0.1 (S2) and 0.4, 0.4 (S3) in log yield."""
    y = np.zeros(6)
    groups = np.array(["S1", "S1", "S2", "S2", "S3", "S3"])
    a = np.array([0.0, 0.2, -0.2, 0.0, -0.4, -0.4])
    b = np.array([0.2, 0.4, 0.0, -0.2, -0.4, -0.4])
    return y, groups, [a, b, a, b]  # means 0.1, 0.3, -0.1, -0.1, -0.4, -0.4


def test_fit_lead_calibrates_the_mean_on_its_out_of_fold_residuals(monkeypatch):
    """One crop (nothing to moderate with): residuals y - mean = -0.1, -0.3 | 0.1, 0.1 | 0.4, 0.4.

    Season means -0.2, 0.1, 0.4; within parts 0.1, -0.1, 0, 0, 0, 0 -> σ_e² = 0.02 / (6 - 3) = 0.0066667,
    σ_b² = (0.04 + 0.01 + 0.16)/3 - σ_e² · (1/2) = 0.07 - 0.0033333 = 0.0666667; G = 3, k² = 8/9:
    scale sqrt(0.0666667 · 8/9) = 0.243432. Scores |e_i + scale · t_3 grid|: rows with e = 0 (four of six) give
    |scale · t|, the two others are shifted by ±0.1; the 80 % conformal point of the 1200 scores is checked
    against numpy's own sort of the same scores built here."""
    from scipy.stats import t as student_t

    import models.yield_model as ym

    y, groups, members = _three_seasons()
    names = [s.name for s in ym.STRUCTURES]
    monkeypatch.setattr(ym, "_oof_log_predictions", lambda *args, **kwargs: dict(zip(names, members, strict=True)))
    table = pd.DataFrame({"field_id": ["F1", "F2"] * 3, "season": groups, "crop": "maize",
                          "ndvi_peak": [0.5, 0.6, 0.55, 0.65, 0.5, 0.7], "yield_t_ha": np.exp(y)})
    cm = ym._fit_lead(table, "end", ["ndvi_peak"], 0.8, None).models["maize"]
    grid = 0.243432 * student_t.ppf((np.arange(200) + 0.5) / 200, df=3)
    within = np.array([0.1, -0.1, 0.0, 0.0, 0.0, 0.0])
    scores = np.sort(np.abs(within[:, None] + grid[None, :]).ravel())
    assert cm.q_log == pytest.approx(scores[int(np.ceil(1201 * 0.8)) - 1], rel=1e-5)
    assert cm.inner_cv_mape["mean"] == pytest.approx(100 * np.mean(np.abs(np.expm1([0.1, 0.3, -0.1, -0.1, -0.4, -0.4]))),
                                                     rel=1e-3)


def test_fit_lead_moderates_season_spreads_across_crops(monkeypatch):
    """Two crops with the same three seasons and no within-season spread: crop "a"'s mean misses each season by
    -0.3, -0.3, -0.5 (σ̂_b² = 0.143333), crop "b"'s by a tenth of that (σ̂_b² = 0.00143333). d₀ = G = 3, so s₀² is
    the geometric mean sqrt(0.143333 · 0.00143333) = 0.0143333 and σ̃_b² = (3 s₀² + 3 σ̂_b²)/6: 0.0788333 for "a",
    0.00788333 for "b", each a Student t with 6 degrees of freedom."""
    from scipy.stats import t as student_t

    import models.yield_model as ym

    groups = np.array(["S1", "S1", "S2", "S2", "S3", "S3"])
    names = [s.name for s in ym.STRUCTURES]

    def fake_oof(x, y_, *args, **kwargs):
        scale = 1.0 if np.allclose(x[:, 0], 0.5) else 0.1  # crop "a" has ndvi_peak 0.5 everywhere, crop "b" 0.7
        miss = scale * np.array([0.3, 0.3, 0.3, 0.3, 0.5, 0.5])
        return {name: miss for name in names}

    monkeypatch.setattr(ym, "_oof_log_predictions", fake_oof)
    table = pd.concat([pd.DataFrame({"field_id": ["F1", "F2"] * 3, "season": groups, "crop": crop,
                                     "ndvi_peak": peak, "yield_t_ha": 1.0}) for crop, peak in (("a", 0.5), ("b", 0.7))],
                      ignore_index=True)
    models = ym._fit_lead(table, "end", ["ndvi_peak"], 0.8, None).models
    # 6 rows x 200 grid points, all with the same |σ k t_6| grid: rank ceil(1201 · 0.8) = 961 ->
    # the ceil(961/12) = 81st smallest distinct |t|, at p = (100 + 80 + 0.5)/200
    t_point = student_t.ppf(180.5 / 200, df=6)
    assert models["a"].q_log == pytest.approx(np.sqrt(0.0788333 * 8 / 9) * t_point, rel=1e-5)
    assert models["b"].q_log == pytest.approx(np.sqrt(0.00788333 * 8 / 9) * t_point, rel=1e-5)


def _season_feature_data(seed: int = 3):
    """Four seasons of 30 fields: yield depends on a field feature; the season means move at random, and a season-wide
    feature (one value per season) happens to line up with them in these four seasons only."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(4), 30)
    season_effect = np.array([-0.8, 0.3, -0.2, 0.7])
    season_feature = season_effect + rng.normal(0, 0.05, 4)  # a coincidence of four seasons
    field = rng.normal(0, 1, 120)
    x = np.column_stack([field, season_feature[groups] + rng.normal(0, 0.01, 120)])
    y = 3.0 + 0.5 * field + season_effect[groups] + rng.normal(0, 0.2, 120)
    return x, y, groups


def test_grouped_ridge_chooses_the_penalty_of_leave_one_season_out():
    from sklearn.linear_model import Ridge, RidgeCV

    from models.yield_model import RIDGE_ALPHAS, GroupedRidgeCV, _group_splits

    x, y, groups = _season_feature_data()
    splits = _group_splits(groups)
    assert [sorted(set(groups[test])) for _, test in splits] == [[0], [1], [2], [3]]
    # reference: sklearn Ridge refitted for every penalty and held-out season
    sse = [sum(float(np.sum((Ridge(alpha=a).fit(x[tr], y[tr]).predict(x[te]) - y[te]) ** 2)) for tr, te in splits)
           for a in RIDGE_ALPHAS]
    model = GroupedRidgeCV(RIDGE_ALPHAS, splits).fit(x, y)
    assert model.alpha_ == RIDGE_ALPHAS[int(np.argmin(sse))]
    np.testing.assert_allclose(model.predict(x[:5]), Ridge(alpha=model.alpha_).fit(x, y).predict(x[:5]))
    # leave-one-row-out predicts each field from its own season's others and trusts the season feature more
    assert RidgeCV(alphas=RIDGE_ALPHAS).fit(x, y).alpha_ < model.alpha_
    assert _group_splits(groups[groups < 2]) is None and _group_splits(None) is None  # < 3 seasons: row LOO
