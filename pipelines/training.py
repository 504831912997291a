"""Yield model source for a run: train on the region's past seasons (cached), or load a given model.

The training table has one row per field and past season with a yield record
and, per lead time (30/60/90 days after sowing, end of season), the features
of :mod:`pipelines.fieldfeatures` computed only from data dated on or before
that lead's cut-off. The model itself is :mod:`models.yield_model`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from models import intervals, yield_model
from models.errors import ModelError, ModelInputError
from pipelines import fieldfeatures, outputs
from pipelines.errors import PipelineError

#: numeric features of every lead's model (the crop enters as one-hot columns inside the model).
FEATURES: tuple[str, ...] = (
    *fieldfeatures.NDVI_FEATURES, "vhi", *fieldfeatures.WEATHER_FEATURES,
    "awc", "clay", "sand", "soc", "phh2o", "slope", "rel_elev", "irrigated",
)
#: the season-wide ones among them: weather and climate indices from the 0.1° reanalysis, nearly one
#: value per season in a county (see :mod:`models.yield_model` on why they are treated apart).
SEASON_FEATURES: tuple[str, ...] = fieldfeatures.WEATHER_FEATURES
MODEL_FILE = "model.joblib"
CARD_FILE = "model_card.json"
PLOT_FILE = "predicted_vs_observed.png"
CACHE_DIR = ".nongshu-model"
#: CV scheme used when a run trains its own model (seasons when there are >= 3, else cooperatives).
MIN_SEASONS = 2


def training_seasons(fd: Any, before_season: int | None = None) -> list[int]:
    """Seasons with imagery and yield records (before ``before_season`` when given)."""
    history = fd.inputs.yield_history
    if history is None or history.empty:
        return []
    with_yield = set(int(s) for s in history["season"].unique())
    return sorted(s for s in fd.seasons if s in with_yield and (before_season is None or s < before_season))


def training_tables(fd: Any, seasons: list[int]) -> dict[str, pd.DataFrame]:
    """``{lead: table}`` with ``field_id, season, crop, cooperative_id, yield_t_ha`` and :data:`FEATURES`."""
    history = fd.inputs.yield_history
    coop = fd.fields.set_index("field_id").get("cooperative_id")
    tables: dict[str, list[pd.DataFrame]] = {lead: [] for lead in fieldfeatures.LEADS}
    for season in seasons:
        data = fd.seasons[season]
        observed = history[history["season"] == season].set_index("field_id")["yield_t_ha"]
        for lead in fieldfeatures.LEADS:
            hi = fieldfeatures.cutoffs(data.sowing, data.ends, lead)
            table = fd.table(season, data.sowing, hi)
            table["yield_t_ha"] = observed.reindex(table.index)
            table["cooperative_id"] = coop.reindex(table.index) if coop is not None else "all"
            # a total crop failure (0 t/ha) cannot enter a model of log(yield); it is left out of training
            tables[lead].append(table[table["yield_t_ha"] > 0].reset_index())
    out = {}
    for lead, parts in tables.items():
        frame = pd.concat(parts, ignore_index=True)
        frame["irrigated"] = frame["irrigated"].astype("float64")
        out[lead] = frame[["field_id", "season", "crop", "cooperative_id", "yield_t_ha", *FEATURES]]
    return out


def fit(tables: dict[str, pd.DataFrame], *, evaluate: bool = True) -> tuple[Any, dict[str, Any], pd.DataFrame | None]:
    """Fit the per-lead models; with ``evaluate``, cross-validate (seasons, cooperatives) for the card."""
    seasons = {int(s) for t in tables.values() for s in t["season"].unique()}
    if len(seasons) < MIN_SEASONS:
        raise PipelineError(
            "cannot train a yield model: it needs at least two past seasons with yield records "
            "(prediction intervals are calibrated across seasons); pass --model DIR",
            source="yield/yield_history.csv", field="season", got=sorted(seasons),
        )
    try:
        model = yield_model.fit_yield_model(tables, list(FEATURES), season_features=SEASON_FEATURES)
    except ModelError as err:
        raise PipelineError(f"the yield model could not be trained: {err}", source="yield/yield_history.csv") from err
    predictions = None
    metrics = None
    if evaluate:
        try:
            predictions = yield_model.evaluate(tables, list(FEATURES), season_features=SEASON_FEATURES)
            metrics = yield_model.metrics_table(predictions)
        except ModelInputError:
            predictions = None
    card = yield_model.model_card(model, metrics)
    card["training"] = {"seasons": sorted(seasons), "rows_per_lead": {k: len(v) for k, v in tables.items()},
                        "features": list(FEATURES)}
    return model, card, predictions


def save(model_dir: Path, model: Any, card: dict[str, Any], predictions: pd.DataFrame | None) -> list[Path]:
    """Write model.joblib, model_card.json and (with CV predictions) the predicted-vs-observed PNG atomically."""
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.tmp-", dir=model_dir.parent))
    try:
        yield_model.save_model(model, str(staging / MODEL_FILE))
        outputs.write_json(staging / CARD_FILE, card)
        if predictions is not None and not predictions.empty:
            scheme = ("leave_one_season_out" if (predictions["scheme"] == "leave_one_season_out").any()
                      else str(predictions["scheme"].iloc[0]))
            figure = yield_model.plot_predicted_vs_observed(predictions, lead="end", scheme=scheme)
            figure.savefig(staging / PLOT_FILE, dpi=100)
        if model_dir.exists():
            shutil.rmtree(model_dir)
        os.replace(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(model_dir.iterdir())


def check_model_dir(model_dir: Path) -> Path:
    """The model file in ``model_dir``; a clear error when it is not a `nongshu model train` directory."""
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise PipelineError("no yield model found", source=str(model_dir),
                            expected=f"a directory written by `nongshu model train` (with {MODEL_FILE})")
    return path


def load(model_dir: Path) -> tuple[Any, dict[str, Any]]:
    """A saved model and its card; the features must be :data:`FEATURES` for every lead."""
    path = check_model_dir(model_dir)
    model = yield_model.load_model(str(path), features={lead: list(FEATURES) for lead in fieldfeatures.LEADS})
    card_path = Path(model_dir) / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else yield_model.model_card(model)
    return model, card


def cache_key(fd: Any, seasons: list[int]) -> str:
    """SHA-256 over what the model depends on: code version, features, seasons and the input files' checksums."""
    inputs = fd.inputs
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": yield_model.FORMAT_VERSION, "features": FEATURES,
                              "leads": fieldfeatures.LEADS, "seasons": seasons}).encode())
    # a change of the model code invalidates cached models (pickled estimators follow the code)
    for module in (yield_model, intervals):
        digest.update(outputs.sha256_of(Path(module.__file__)).encode())
    root = inputs.root
    files = [root / "yield" / "yield_history.csv", root / "fields" / "fields.gpkg",
             root / "operations" / "operations.csv", inputs.items_path, inputs.dem_path,
             *(inputs.soil_path(p) for p in ("awc", "clay", "sand", "soc", "phh2o")),
             *sorted(inputs.weather_dir.glob("era5land_daily_*.nc"))]
    for path in files:
        if not path.exists() or (path.suffix == ".nc" and int(path.stem.split("_")[-1]) > max(seasons)):
            continue  # later weather years do not change a model of earlier seasons
        digest.update(path.name.encode())
        digest.update(outputs.sha256_of(path).encode())
    return digest.hexdigest()


def obtain_model(fd: Any, model_dir: Path | None, *, before_season: int, progress: Any = None) -> tuple[Any, str, dict]:
    """The model for a run: ``model_dir`` if given, else trained on the past seasons (cached in the inputs)."""
    if model_dir is not None:
        model, card = load(model_dir)
        return model, f"given model {Path(model_dir).resolve()}", card
    seasons = training_seasons(fd, before_season)
    if len(seasons) < MIN_SEASONS:
        raise PipelineError(
            f"cannot train a yield model for season {before_season}: it needs at least two earlier seasons "
            "with imagery and yield records; train one with `nongshu model train` and pass --model DIR",
            source="yield/yield_history.csv", field="season", got=seasons,
        )
    key = cache_key(fd, seasons)
    cache = fd.inputs.root / CACHE_DIR / key[:16]
    if (cache / MODEL_FILE).is_file():
        model, card = load(cache)
        return model, f"cached model trained on seasons {seasons} ({cache})", card
    tables = training_tables(fd, seasons)
    # cross-validation fits dozens of models: it belongs to `nongshu model evaluate`, not to every run
    model, card, predictions = fit(tables, evaluate=False)
    card["cache_key"] = key
    card["evaluation_note"] = "not cross-validated inside the run; see `nongshu model evaluate --inputs DIR`"
    try:
        save(cache, model, card, predictions)
        where = f"({cache})"
    except OSError:
        where = "(inputs directory read-only: not cached)"
    return model, f"trained on seasons {seasons} {where}", card


def predict_fields(model: Any, table: pd.DataFrame, leads: pd.Series) -> pd.DataFrame:
    """Per field: ``yield_pred_t_ha, yield_lo_t_ha, yield_hi_t_ha`` with the model of its lead, and ``yield_lead``."""
    out = pd.DataFrame(index=table.index, columns=["yield_pred_t_ha", "yield_lo_t_ha", "yield_hi_t_ha"],
                       dtype="float64")
    out["yield_lead"] = leads.reindex(table.index)
    frame = table.copy()
    frame["irrigated"] = frame["irrigated"].astype("float64")
    for lead in fieldfeatures.LEADS:
        sel = (out["yield_lead"] == lead).to_numpy()
        if sel.any():
            result = yield_model.predict(model, frame[sel], lead)
            out.loc[sel, result.columns] = result.to_numpy()
    out.index.name = "field_id"
    return out

