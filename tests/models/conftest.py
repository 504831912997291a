"""Small synthetic inputs for the model tests: daily weather factories and a yield table with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr


def daily(values, start: str = "2025-07-01", units: str = "degC", name: str = "var", dims=("time",)) -> xr.DataArray:
    """A daily CF-style series (first dim ``time``) with units."""
    arr = np.asarray(values, dtype="float64")
    time = pd.date_range(start, periods=arr.shape[0], freq="D")
    coords = {"time": time}
    dims = tuple(dims) if arr.ndim == len(dims) else ("time", *[f"d{i}" for i in range(1, arr.ndim)])
    return xr.DataArray(arr, dims=dims, coords=coords, name=name, attrs={"units": units})


def chunked(ds, **chunks):
    """The same object backed by dask with small chunks (time split too where allowed)."""
    return ds.chunk(chunks or {"time": 3})


SOIL_WEIGHT = 0.3
RAIN_WEIGHT = 0.15


def make_yield_table(seed: int = 3, n_fields: int = 48, seasons=range(2017, 2024)) -> pd.DataFrame:
    """Fields × seasons with a known yield law (multiplicative soil and season-rain effects).

    yield = base(crop) · (0.7 + 0.3·soil) · (1 + 0.15·rain_anomaly) · exp(ε), ε ~ N(0, 0.03);
    soil in [0, 1] per field, rain_anomaly ~ N(0, 1) per season plus local noise.
    ``ndvi_integral`` sees soil and rain only through heavy noise.
    """
    rng = np.random.default_rng(seed)
    base = {"potato": 25.0, "spring_wheat": 4.5}
    fields = pd.DataFrame({
        "field_id": [f"DX-{i:06d}" for i in range(n_fields)],
        "crop": ["potato" if (i // 6) % 2 == 0 else "spring_wheat" for i in range(n_fields)],
        "cooperative_id": [f"C{i % 6:02d}" for i in range(n_fields)],
        "soil": rng.uniform(0, 1, n_fields),
    })
    rows = []
    for season in seasons:
        rain_season = rng.normal(0, 1)
        for f in fields.itertuples():
            rain = rain_season + rng.normal(0, 0.3)
            y = base[f.crop] * (0.7 + SOIL_WEIGHT * f.soil) * (1 + RAIN_WEIGHT * rain) * np.exp(rng.normal(0, 0.03))
            rows.append({
                "field_id": f.field_id, "season": season, "crop": f.crop, "cooperative_id": f.cooperative_id,
                "awc_mm_m": 80 + 120 * f.soil,
                "precip_mm": 300 * (1 + 0.2 * rain),
                "precip_60d_mm": 120 * (1 + 0.2 * rain) + rng.normal(0, 25),
                "ndvi_integral": 40 + 6 * f.soil + 2 * rain + rng.normal(0, 3),
                "yield_t_ha": y,
            })
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def yield_tables():
    """Lead-time tables: "60d" sees partial rain, "end" the full season."""
    t = make_yield_table()
    return {"60d": t.drop(columns=["precip_mm"]), "end": t.drop(columns=["precip_60d_mm"])}


YIELD_FEATURES = {"60d": ["awc_mm_m", "precip_60d_mm", "ndvi_integral"],
                  "end": ["awc_mm_m", "precip_mm", "ndvi_integral"]}
