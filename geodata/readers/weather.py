"""Daily weather readers: ERA5-Land-like CF NetCDF and CMA-style station CSV.

Both return an :class:`xarray.Dataset` with the xclim variable names and units
xclim understands (``tasmin``/``tasmax``/``tas``/``tdps`` in K, ``pr`` in
``mm d-1`` (= kg m-2 d-1), ``hurs`` in %, ``rsds`` in W m-2), attributes
(``standard_name``, ``cell_methods``) kept.

Checks (each an :class:`InputError` naming the file and variable):

* a ``time`` coordinate exists, has no NaN/NaT, is strictly increasing within
  a file and across files (duplicates reported with their dates);
* every variable has ``units``; ``tasmin``, ``tasmax`` and ``pr`` are present;
* temperatures in a plausible range for their label: air temperatures near
  the surface lie within 180-340 K (-93 degC, Vostok, to +57 degC, Death
  Valley; WMO World Weather & Climate Extremes Archive), so a median below
  100 labelled K is really degC and a median above 150 labelled degC is really
  K. The median of the first 31 days of each file is used (cheap);
* no precipitation below -0.01 mm/day (ERA5 packing noise of a few 1e-5 mm is
  clipped to 0; real negative amounts are refused). This reads ``pr`` once;
  weather grids are small (0.1 deg) so this is cheap.

Files are chosen by the year in their name (``era5land_daily_<yyyy>.nc``), so
``end=`` (the pipeline's as-of date) never opens a later year's file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from xclim.core.units import convert_units_to, units2pint

from geodata.errors import InputError
from geodata.readers.common import (
    DateLike,
    as_timestamp,
    check_date_range,
    csv_lines,
    parse_dates,
    read_csv,
    require_file,
)

#: variable -> (canonical units, standard_name).
VARIABLES: dict[str, tuple[str, str]] = {
    "tasmin": ("K", "air_temperature"),
    "tasmax": ("K", "air_temperature"),
    "tas": ("K", "air_temperature"),
    "tdps": ("K", "dew_point_temperature"),
    "pr": ("mm d-1", "lwe_precipitation_rate"),
    "hurs": ("%", "relative_humidity"),
    "rsds": ("W m-2", "surface_downwelling_shortwave_flux_in_air"),
}
REQUIRED = ("tasmin", "tasmax", "pr")
TEMPERATURES = ("tasmin", "tasmax", "tas", "tdps")
#: Medians outside which a temperature's unit label is judged wrong (see module docstring).
KELVIN_MIN_MEDIAN = 100.0
CELSIUS_MAX_MEDIAN = 150.0
#: Most negative daily precipitation tolerated as packing noise, mm/day.
PR_NOISE_MM = -0.01
FILE_PATTERN = re.compile(r"era5land_daily_(\d{4})\.nc$")
TIME_CHUNK = 366


def weather_files(
    directory: str | Path, start: DateLike | None = None, end: DateLike | None = None
) -> list[Path]:
    """``era5land_daily_<yyyy>.nc`` files in ``directory`` whose year overlaps ``[start, end]``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("weather directory not found", source=str(directory))
    lo, hi = as_timestamp(start, name="start"), as_timestamp(end, name="end")
    check_date_range(lo, hi)
    files = []
    for path in sorted(directory.glob("era5land_daily_*.nc")):
        match = FILE_PATTERN.search(path.name)
        if match is None:
            continue
        year = int(match.group(1))
        if (lo is None or year >= lo.year) and (hi is None or year <= hi.year):
            files.append(path)
    return files


def read_weather(
    source: str | Path | Sequence[str | Path],
    *,
    start: DateLike | None = None,
    end: DateLike | None = None,
) -> xr.Dataset:
    """Open daily CF NetCDF weather (a directory or a list of files) as one lazy Dataset.

    ``start``/``end`` are inclusive dates; with a directory, files of years
    outside them are never opened.
    """
    lo, hi = as_timestamp(start, name="start"), as_timestamp(end, name="end")
    check_date_range(lo, hi)
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        paths = weather_files(source, lo, hi)
        if not paths:
            raise InputError(
                "no weather file for the requested years", source=str(source),
                expected=f"era5land_daily_<yyyy>.nc covering {lo} .. {hi}",
            )
    else:
        paths = [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]
        if not paths:
            raise InputError("no weather files given", field="source")
    datasets = [_open_one(p) for p in paths]
    _check_across_files(datasets, paths)
    try:
        ds = xr.concat(datasets, dim="time", data_vars="minimal", coords="minimal", compat="override", join="exact")
    except ValueError as err:
        raise InputError(
            f"weather files do not share one latitude/longitude grid and variables: {err}",
            source=", ".join(p.name for p in paths),
        ) from err
    if lo is not None or hi is not None:
        end_of_day = None if hi is None else hi.normalize() + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
        ds = ds.sel(time=slice(lo, end_of_day))
    ds = ds.rio.write_crs("EPSG:4326")
    ds.attrs["source"] = ", ".join(str(p) for p in paths)
    return ds


def _open_one(path: Path) -> xr.Dataset:
    """Open and check one NetCDF file; variables normalised to canonical units (lazy)."""
    path = require_file(path)
    source = str(path)
    try:
        ds = xr.open_dataset(path, chunks={"time": TIME_CHUNK}, decode_times=True)
    except (OSError, ValueError) as err:
        raise InputError(f"not a readable NetCDF file: {err}", source=source, expected="CF-1.8 NetCDF") from err
    ds = ds.rename({k: v for k, v in {"lat": "latitude", "lon": "longitude"}.items() if k in ds.dims})
    _check_time(ds, source)
    missing = [v for v in REQUIRED if v not in ds.data_vars]
    if missing:
        raise InputError(
            f"missing variable(s) {', '.join(missing)}", source=source, field=missing[0],
            expected=f"variables {', '.join(REQUIRED)}", got=sorted(ds.data_vars),
        )
    out = {}
    for name in VARIABLES:
        if name in ds.data_vars:
            out[name] = _normalise(ds[name], name, source)
    return xr.Dataset(out, attrs=ds.attrs)


def _check_time(ds: xr.Dataset, source: str) -> None:
    if "time" not in ds.coords:
        raise InputError(
            "no time coordinate", source=source, field="time",
            expected="a CF time coordinate (daily, 'days since ...')",
        )
    times = pd.DatetimeIndex(ds.indexes["time"]) if not isinstance(ds.indexes["time"], pd.DatetimeIndex) else ds.indexes["time"]
    if times.isna().any():
        where = np.flatnonzero(times.isna())
        raise InputError(
            f"time coordinate holds NaN/NaT at index {', '.join(map(str, where[:10]))}",
            source=source, field="time", expected="valid dates only",
        )
    _check_increasing(times, source)


def _check_increasing(times: pd.DatetimeIndex, source: str) -> None:
    diffs = np.diff(times.asi8)
    if (diffs == 0).any():
        dup = times[1:][diffs == 0]
        raise InputError(
            f"duplicated times {', '.join(str(t.date()) for t in dup[:5])}",
            source=source, field="time", expected="strictly increasing times",
        )
    if (diffs < 0).any():
        i = int(np.flatnonzero(diffs < 0)[0])
        raise InputError(
            f"times not sorted: {times[i + 1].date()} follows {times[i].date()}",
            source=source, field="time", expected="strictly increasing times",
        )


def _check_across_files(datasets: Sequence[xr.Dataset], paths: Sequence[Path]) -> None:
    for (a, pa), (b, pb) in zip(zip(datasets, paths, strict=True), zip(datasets[1:], paths[1:], strict=True), strict=False):
        if a.sizes["time"] == 0 or b.sizes["time"] == 0:
            continue
        last, first = pd.Timestamp(a.indexes["time"][-1]), pd.Timestamp(b.indexes["time"][0])
        if first <= last:
            kind = "duplicated" if b.indexes["time"].isin(a.indexes["time"]).any() else "unsorted"
            raise InputError(
                f"{kind} times across files: {pb.name} starts on {first.date()} but {pa.name} ends on {last.date()}",
                source=str(pb), field="time", expected="files covering consecutive, non-overlapping periods",
            )


def _normalise(da: xr.DataArray, name: str, source: str) -> xr.DataArray:
    """Check units and plausibility of one variable; convert it to canonical units (lazy)."""
    units = da.attrs.get("units")
    if not units:
        raise InputError(
            "variable has no units", source=source, field=name, expected=f"a 'units' attribute such as {VARIABLES[name][0]!r}"
        )
    try:
        pint_units = units2pint(units)
    except Exception as err:  # pint raises several types for unparseable strings
        raise InputError("unparseable units", source=source, field=name, got=units) from err
    if name in TEMPERATURES:
        _check_temperature_label(da, name, str(units), pint_units, source)
    try:
        converted = convert_units_to(da, VARIABLES[name][0])
    except Exception as err:  # xclim raises pint's DimensionalityError and friends
        raise InputError(
            "units cannot be converted", source=source, field=name,
            expected=f"units compatible with {VARIABLES[name][0]}", got=units,
        ) from err
    if name == "pr":
        low = float(converted.min().compute())
        if low < PR_NOISE_MM:
            raise InputError(
                f"negative precipitation (minimum {low:.3g} mm/day)", source=source, field=name,
                expected="precipitation >= 0",
            )
        converted = converted.clip(min=0.0).assign_attrs(converted.attrs)
    return converted


def _check_temperature_label(
    da: xr.DataArray, name: str, units: str, pint_units: object, source: str
) -> None:
    dims = str(getattr(pint_units, "dimensionality", ""))
    if dims != "[temperature]":
        raise InputError("not a temperature unit", source=source, field=name, expected="K or degC", got=units)
    sample = np.asarray(da.isel(time=slice(0, 31)).values, dtype="float64")
    if sample.size == 0 or np.isnan(sample).all():
        return
    median = float(np.nanmedian(sample))
    is_kelvin = str(pint_units) in ("kelvin", "K")
    if is_kelvin and median < KELVIN_MIN_MEDIAN:
        raise InputError(
            f"values look like degC but are labelled {units!r} (median {median:.1f})",
            source=source, field=name, expected="temperatures in K (about 180-340)", got=units,
        )
    if not is_kelvin and median > CELSIUS_MAX_MEDIAN:
        raise InputError(
            f"values look like K but are labelled {units!r} (median {median:.1f})",
            source=source, field=name, expected="temperatures in degC (about -90..60), or units 'K'", got=units,
        )


# ---------------------------------------------------------------- stations

STATION_COLUMNS = ("station_id", "lat", "lon", "date", "tmin", "tmax", "precip")
#: Missing-value codes of CMA daily surface data (SURF_CLI_CHN_MUL_DAY, CMA National
#: Meteorological Information Center data documentation): 32766, 999999, 999990.
#: Precipitation code 32700 marks a trace (< 0.1 mm) and is read as 0 mm.
CMA_MISSING = (32766.0, 999999.0, 999990.0)
CMA_TRACE_PRECIP = 32700.0


def read_station_csv(
    path: str | Path, *, start: DateLike | None = None, end: DateLike | None = None
) -> xr.Dataset:
    """Read CMA-style daily station data into a ``(time, station)`` Dataset.

    Columns: ``station_id, lat, lon, date, tmin, tmax, precip`` (degC, degC,
    mm) and optional ``rh`` (%). CMA missing codes (32766, 999999, 999990) become
    NaN; the trace-precipitation code 32700 becomes 0 mm. Returns the variables
    of :func:`read_weather` (``tasmin``/``tasmax`` in K, ``pr`` in mm d-1,
    ``hurs`` in %) with coordinates ``lat``/``lon`` per station.
    """
    frame = read_csv(path, required=STATION_COLUMNS)
    source = str(path)
    frame["date"] = parse_dates(frame["date"], source=source, field="date")
    numeric = {}
    for col in ("lat", "lon", "tmin", "tmax", "precip", "rh"):
        if col not in frame.columns:
            continue
        values = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce")
        bad = values.isna() & frame[col].ne("")
        if bad.any():
            raise InputError(
                f"non-numeric values at lines {csv_lines(np.flatnonzero(bad.to_numpy()))}",
                source=source, field=col, expected="numbers", got=frame.loc[bad, col].iloc[0],
            )
        if col == "precip":
            values = values.mask(values == CMA_TRACE_PRECIP, 0.0)
        numeric[col] = values.mask(values.isin(CMA_MISSING)).astype("float64")
    lo, hi = as_timestamp(start, name="start"), as_timestamp(end, name="end")
    check_date_range(lo, hi)
    table = pd.DataFrame({"station": frame["station_id"], "time": frame["date"], **numeric})
    _check_station_values(table, source)
    dup = table.duplicated(["station", "time"], keep=False)
    if dup.any():
        raise InputError(
            f"duplicated station/date rows at lines {csv_lines(np.flatnonzero(dup.to_numpy()))}",
            source=source, field="date", expected="one row per station and day",
        )
    if lo is not None:
        table = table[table["time"] >= lo.normalize()]
    if hi is not None:
        table = table[table["time"] <= hi.normalize()]
    coords = table.groupby("station")[["lat", "lon"]].first()
    grid = table.set_index(["time", "station"]).sort_index()
    ds = xr.Dataset(
        {
            "tasmin": grid["tmin"].to_xarray() + 273.15,
            "tasmax": grid["tmax"].to_xarray() + 273.15,
            "pr": grid["precip"].to_xarray(),
        }
    )
    if "rh" in grid.columns:
        ds["hurs"] = grid["rh"].to_xarray()
    ds = ds.assign_coords(lat=("station", coords.loc[ds.station.values, "lat"].to_numpy()),
                          lon=("station", coords.loc[ds.station.values, "lon"].to_numpy()))
    methods = {"tasmin": "time: minimum", "tasmax": "time: maximum", "pr": "time: sum", "hurs": "time: mean"}
    for name in ds.data_vars:
        units, standard_name = VARIABLES[str(name)]
        ds[name].attrs = {"units": units, "standard_name": standard_name, "cell_methods": methods[str(name)]}
    ds["lat"].attrs = {"units": "degrees_north", "standard_name": "latitude"}
    ds["lon"].attrs = {"units": "degrees_east", "standard_name": "longitude"}
    ds.attrs = {"source": source, "featureType": "timeSeries"}
    return ds


def _check_station_values(table: pd.DataFrame, source: str) -> None:
    checks = [
        ("lat", (table["lat"] < -90) | (table["lat"] > 90) | table["lat"].isna(), "latitudes in -90..90"),
        ("lon", (table["lon"] < -180) | (table["lon"] > 180) | table["lon"].isna(), "longitudes in -180..180"),
        ("precip", table["precip"] < 0, "precipitation >= 0 mm"),
        ("tmin", table["tmin"] > table["tmax"], "tmin <= tmax"),
    ]
    for col, bad, expected in checks:
        if bad.any():
            raise InputError(
                f"invalid values at lines {csv_lines(np.flatnonzero(bad.to_numpy()))}",
                source=source, field=col, expected=expected,
            )
    for col in ("tmin", "tmax"):
        median = table[col].median()
        if pd.notna(median) and median > CELSIUS_MAX_MEDIAN:
            raise InputError(
                f"values look like K (median {median:.1f})", source=source, field=col,
                expected="daily temperatures in degC as CMA publishes them",
            )
