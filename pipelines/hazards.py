"""Apply the hazard models of :mod:`models.risk` to every field and summarise them over the alert window.

Hazards are evaluated per field on daily series ``(time, field)``: the crop,
its sowing date and stages are properties of the field, the weather is
interpolated at the field, and the pixel-scale drivers (relative elevation,
slope, VHI, pest pressure) enter as the field's means. Fields are grouped by
crop because each model call takes one crop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from models.crops import crop_stages, stage_names
from models.risk import aggregate
from models.risk.disease import disease_risk
from models.risk.drought import drought_risk
from models.risk.frost import frost_risk
from models.risk.heat import heat_risk
from models.risk.pest import PESTS, pest_risk
from models.risk.waterlogging import waterlogging_risk
from pipelines.fieldweather import field_batches

HAZARDS = ("drought", "frost", "heat", "waterlogging", "pest", "disease")


@dataclass(frozen=True)
class FieldDrivers:
    """Per-field inputs of the hazard models, indexed by ``field_id``."""

    crop: pd.Series
    sowing: pd.Series
    irrigated: pd.Series
    rel_elev_m: pd.Series
    slope_deg: pd.Series
    vhi: pd.Series
    pest_pressure: Mapping[str, pd.DataFrame]  # pest name -> catch/trap/week as of each day (date x field)
    biofix: Mapping[str, pd.Timestamp | None]  # pest name -> first sustained catch


def _field_da(series: pd.Series, ids: list[str], units: str | None = None) -> xr.DataArray:
    da = xr.DataArray(series.reindex(ids).to_numpy(dtype="float64"), dims="field", coords={"field": ids})
    if units:
        da.attrs["units"] = units
    return da


def _pressure_da(pressure: pd.DataFrame | None, ids: list[str], time: xr.DataArray) -> xr.DataArray:
    """Trap pressure (count/trap/week) of the fields ``ids`` on the weather's days ``(time, field)``, from a
    date x field frame; 0 where no trap had been read (before the first reading too, or no traps at all)."""
    frame = (pressure if pressure is not None else pd.DataFrame()).reindex(index=pd.DatetimeIndex(time.values),
                                                                           columns=ids)
    da = xr.DataArray(frame.to_numpy(dtype="float64"), dims=("time", "field"), coords={"time": time.values, "field": ids},
                      attrs={"units": "count/week"})
    return da.fillna(0.0)


#: daily weather and SPI-1/SPI-3 ``(time, field)`` of a batch of fields: ``ids -> (weather, spi1, spi3)``.
WeatherFor = Callable[[list[str]], tuple[xr.Dataset, xr.DataArray | None, xr.DataArray | None]]


def field_risks(
    fw: xr.Dataset | WeatherFor,
    drivers: FieldDrivers,
    *,
    window: tuple[dt.date, dt.date],
    spi1: xr.DataArray | None = None,
    spi3: xr.DataArray | None = None,
) -> pd.DataFrame:
    """One row per (field, hazard): ``target_id, hazard, risk, triggers, stage`` over ``window``.

    ``fw`` is the daily weather at the fields (``time, field``) from before the
    earliest sowing to the end of the window, with ``spi1``/``spi3`` daily SPI per
    field; or a function giving the three for a batch of fields, so the fields
    of a crop are evaluated :data:`pipelines.fieldweather.FIELD_BATCH` at a time
    (fields are independent: the rows are the same, in the same order).
    """
    weather_for: WeatherFor
    if isinstance(fw, xr.Dataset):
        weather = fw

        def _select(ids: list[str]) -> tuple[xr.Dataset, xr.DataArray | None, xr.DataArray | None]:
            return (weather.sel(field=ids), None if spi1 is None else spi1.sel(field=ids),
                    None if spi3 is None else spi3.sel(field=ids))

        weather_for = _select
    else:
        weather_for = fw
    start, end = (pd.Timestamp(d) for d in window)
    rows: list[dict[str, Any]] = []
    for crop in sorted(drivers.crop.unique()):
        crop_ids = [str(f) for f in drivers.crop.index[drivers.crop == crop]]
        by_hazard: dict[str, list[dict[str, Any]]] = {}
        for ids in field_batches(crop_ids):
            w, s1, s3 = weather_for(ids)
            for hazard, part in _crop_rows(crop, ids, w, s1, s3, drivers, start, end).items():
                by_hazard.setdefault(hazard, []).extend(part)
        for part in by_hazard.values():
            rows.extend(part)
    return pd.DataFrame(rows)


def _crop_rows(
    crop: str,
    ids: list[str],
    w: xr.Dataset,
    spi1: xr.DataArray | None,
    spi3: xr.DataArray | None,
    drivers: FieldDrivers,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> dict[str, list[dict[str, Any]]]:
    """Rows per hazard for the fields ``ids`` of one crop (weather ``w`` and SPI of those fields)."""
    sowing = xr.DataArray(drivers.sowing.reindex(ids).values.astype("datetime64[ns]"), dims="field",
                          coords={"field": ids})
    stages = crop_stages(crop, sowing, w["tasmin"], w["tasmax"])
    results: dict[str, xr.Dataset] = {
        "frost": frost_risk(crop, w["tasmin"], stages, rel_elev=_field_da(drivers.rel_elev_m, ids, "m")),
        "heat": heat_risk(crop, w["tasmax"], stages),
        "waterlogging": waterlogging_risk(
            w["pr"], stages, slope=_field_da(drivers.slope_deg, ids, "deg"),
            rel_elev=_field_da(drivers.rel_elev_m, ids, "m"),
        ),
    }
    vhi = _field_da(drivers.vhi, ids).broadcast_like(w["tasmin"])
    results["drought"] = drought_risk(
        crop, stages, spi1=spi1, spi3=spi3,
        vhi=vhi, irrigated=_field_da(drivers.irrigated.astype(float), ids).astype(bool),
    )
    pest_parts = []
    for name, pest in PESTS.items():
        if crop not in pest.hosts:
            continue
        pressure = _pressure_da(drivers.pest_pressure.get(name), ids, w["tasmin"]["time"])
        pest_parts.append(pest_risk(pest, crop, w["tasmin"], w["tasmax"], stages, drivers.biofix.get(name), pressure))
    if pest_parts:
        results["pest"] = _worst(pest_parts)
    results["disease"] = disease_risk(crop, w, stages)
    names = stage_names(crop)
    codes = stages["stage"].sel(time=slice(start, end)).transpose("field", "time").values
    out: dict[str, list[dict[str, Any]]] = {}
    for hazard, ds in results.items():
        part = ds.sel(time=slice(start, end))
        summary = aggregate(part, "max").compute()
        # the stage and date of the worst day tell the advice what to do (plain arrays: one row per field)
        peak = part["risk"].fillna(-1.0).argmax("time").transpose("field").values
        days = pd.DatetimeIndex(part["time"].values)
        values = {str(name): summary[name].transpose("field").values for name in summary.data_vars}
        rows = out.setdefault(hazard, [])
        for k, fid in enumerate(ids):
            day = int(peak[k])
            code = int(codes[k, day])
            triggers: dict[str, Any] = {name: _scalar(v[k]) for name, v in values.items() if name != "risk"}
            triggers["peak_date"] = str(days[day].date())
            rows.append({
                "target_id": fid, "hazard": hazard, "risk": _scalar(values["risk"][k]),
                "stage": names.get(code, "off_season"), "triggers": triggers, "crop": crop,
            })
    return out


def _worst(parts: list[xr.Dataset]) -> xr.Dataset:
    """The pest with the highest season risk per field (its triggers kept)."""
    if len(parts) == 1:
        return parts[0]
    best = parts[0]
    for other in parts[1:]:
        take = other["risk"].max("time") > best["risk"].max("time")
        merged = {}
        for name in best.data_vars:
            if name in other:
                merged[name] = xr.where(take, other[name], best[name], keep_attrs=True)
        best = xr.Dataset(merged)
    return best


def _scalar(value: Any) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value
