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
from models.yield_model import (
    conformal_quantile,
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
                          "interval_width_t_ha", "structures"}
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


def test_season_wide_feature_without_signal_is_left_out_and_one_with_signal_kept(tables):
    noisy = fit_yield_model({"end": _canopy_table()}, ["ndvi_peak", "season_noise"],
                            season_features=["season_noise"])
    assert "all" not in noisy.leads["end"].models["maize"].structure  # neither ridge(all) nor boosting(all)
    # in the conftest table the season's rain drives the yield: a structure with precip_mm wins
    rainy = fit_yield_model({"end": tables["end"]}, YIELD_FEATURES["end"], season_features=["precip_mm"])
    assert "all" in rainy.leads["end"].models["potato"].structure


def test_held_out_season_takes_no_part_in_its_own_forecast():
    """Nested CV: changing the held-out season's yields must not change its forecasts or intervals."""
    table = _canopy_table(n_fields=16, seasons=range(2019, 2023))
    changed = table.copy()
    changed.loc[changed["season"] == 2022, "yield_t_ha"] *= 3.0
    cols = ["predicted", "lo", "hi", "structure"]
    a = evaluate({"end": table}, ["ndvi_peak"], schemes=["leave_one_season_out"])
    b = evaluate({"end": changed}, ["ndvi_peak"], schemes=["leave_one_season_out"])
    pd.testing.assert_frame_equal(a.loc[a["season"] == 2022, cols], b.loc[b["season"] == 2022, cols])
    assert not np.allclose(a.loc[a["season"] == 2021, "predicted"], b.loc[b["season"] == 2021, "predicted"])


def test_clustered_scores_by_hand():
    from models.yield_model import SEASON_GRID, clustered_scores

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
    from models.yield_model import clustered_scores, conformal_quantile

    rng = np.random.default_rng(0)
    b = np.array([-0.45, -0.1, 0.2, 0.5])  # season errors (log yield), within noise sd 0.05
    r = np.repeat(b, 100) + rng.normal(0, 0.05, 400)
    q = conformal_quantile(clustered_scores(r, np.repeat(np.arange(4), 100)), 0.8)
    # random effects: σ_b² ≈ mean(b²) = 0.1256, k² = 15/16, t_4(0.9) = 1.5332 -> q ≈ 1.5332 · 0.3432 = 0.526
    assert q == pytest.approx(1.5332 * np.sqrt(0.1256 * 15 / 16), abs=0.03)
    assert q < 1.29 * 0.5  # the old rule scaled the worst season by sqrt(5/3) = 1.29
