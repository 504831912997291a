"""Pure models: yield (scikit-learn), risks per hazard, alert levels and advice rules. No I/O.

Everything here takes numpy / xarray (numpy- or dask-backed) / pandas objects and returns the
same; dask inputs stay lazy and give results identical to numpy inputs. Input arrays carry
``units`` attributes (CF style) and thresholds are quantities with units (``"-2 degC"``).
The only file access is :func:`models.yield_model.save_model` / ``load_model`` (joblib) and
reading the packaged ``advice_rules.yaml``.

Public API (exact signatures)
-----------------------------
Phenology, :mod:`models.crops`::

    CROPS: dict[str, Crop]                     # potato, spring_wheat, maize, highland_barley, winter_wheat
    get_crop(crop) -> Crop
    daily_gdd(tmin, tmax, t_base, t_upper)     # °C·d, McMaster & Wilhelm method 2
    crop_stages(crop, sowing, tasmin=None, tasmax=None, time=None) -> xr.Dataset[days, gdd, stage]
    stage_on(crop, sowing, on, gdd_since_sowing=None) -> dict(code, name, name_zh, days_after_sowing, water_weight)

Agro-climatic indices (xclim), :mod:`models.agroclimate`::

    growing_degree_days(tas, thresh="0 degC", freq="YS"); frost_days(tasmin, thresh="0 degC", freq="YS")
    hot_days(tasmax, thresh="30 degC", freq="YS"); precipitation_sum(pr, freq="YS")  # mm
    corn_heat_units(tasmin, tasmax)
    spi(pr, months, cal_start, cal_end, dist="gamma") -> monthly SPI
    spi_to_daily(spi_monthly, time) -> daily, each day the SPI of the last complete month
    drought_grade(spi) -> GB/T 20481-2017 grade 0..4

Hazards, :mod:`models.risk` (each -> Dataset with daily ``risk`` in [0, 1] + trigger variables)::

    frost.frost_risk(crop, tasmin, stages, rel_elev=None, elev_offset=None)
    frost.adjust_tmin_for_terrain(tasmin, rel_elev=None, elev_offset=None)
    heat.heat_risk(crop, tasmax, stages)
    waterlogging.waterlogging_risk(pr, stages, slope=None, rel_elev=None)
    drought.drought_risk(crop, stages, spi1=None, spi3=None, vhi=None, irrigated=False)
    drought.irrigation_factor(irrigated, days_since_irrigation=None, recent_days=7)
    pest.pest_risk(pest, crop, tasmin, tasmax, stages, biofix, pressure)
    pest.biofix_date(observations[date, count], min_count=1, consecutive=2) -> Timestamp | None
    pest.single_sine_dd(tmin, tmax, lower, upper); pest.PESTS; pest.SPECIES (Latin -> key)
    disease.disease_risk(crop, weather[tasmin, tasmax, tdps | hurs], stages)
    disease.late_blight_risk(tasmin, tasmax, tdps, stages); disease.stripe_rust_risk(tasmin, tasmax, tdps, stages, crop)
    aggregate(ds, how="max", last_days=None) -> season summary (risk by ``how``, triggers by their rule)

Alerts, :mod:`models.alerts`::

    risk_to_level(risk, hazard) -> uint8 0..4 (numpy/dask/xarray)
    build_alerts(risks[target_id, hazard, risk, (crop, stage, township, cooperative_id, target_type, triggers)],
                 season, valid_from, valid_to, min_level=1) -> list[dict]   # alerts.json records
    cap_info(hazard, level, lang="zh") -> CAP 1.2 <info> fields; legend(lang="zh"); COLOURS; level_counts(alerts)

Advice, :mod:`models.advice`::

    advice_for(alert, operations: DataFrame | None, lang="zh", on=None) -> list[Advice]

Yield, :mod:`models.yield_model`::

    fit_yield_model(tables: {lead: DataFrame}, features: list | {lead: list}, coverage=0.8, params=None) -> YieldModel
    predict(model, table, lead) -> DataFrame[yield_pred_t_ha, yield_lo_t_ha, yield_hi_t_ha]
    predict_pixels(model, feature_arrays: {name: array}, crop, lead="end") -> (pred, lo, hi)
    evaluate(tables, features, coverage=0.8, schemes=(...), ndvi_feature="ndvi_integral") -> out-of-fold predictions
    metrics_table(predictions) -> DataFrame; model_card(model, metrics=None) -> dict
    save_model(model, path_or_file); load_model(path_or_file, features=None) -> YieldModel
    plot_predicted_vs_observed(predictions, lead=None, scheme="leave_one_season_out") -> matplotlib Figure

Intervals, :mod:`models.intervals` (log-yield residuals clustered by season)::

    season_errors(residuals, groups) -> SeasonErrors(within, var_season, noise, n_groups)
    moderated_season_variances({crop: SeasonErrors}) -> {crop: (variance, df)}   # Smyth 2004
    clustered_scores(residuals | SeasonErrors, groups=None, var_season=None, df=None); conformal_quantile(scores, coverage)
    interval_halfwidths({crop: SeasonErrors}, coverage) -> {crop: log half-width}
"""
