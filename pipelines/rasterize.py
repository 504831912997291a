"""Per-block raster outputs on the fields: the yield model per pixel, risks and alert levels painted per field.

:func:`field_block` runs on a worker for one spatial block. It rasterises the
fields onto the block (pixel-centre rule, label = field index + 1), computes
each pixel's windowed NDVI metrics from the smoothed series (sowing to the
field's cut-off), combines them with the pixel's VHI, soil and terrain and the
field's weather features, and applies the yield model of the field's lead
time. Field-level risks and the worst alert level are painted on the field's
pixels. Pixels outside every field are NaN (255 for the alert level).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio.features import rasterize

from models import yield_model
from pipelines import hazards, timeseries

OUTPUT_NAMES = ("yield_t_ha", "yield_interval_t_ha", *(f"risk_{h}" for h in hazards.HAZARDS), "alert_level")
N_OUTPUTS = len(OUTPUT_NAMES)
PIXEL_NDVI = ("ndvi_peak", "ndvi_integral", "ndvi_mean")


@dataclass(frozen=True)
class GeomPack:
    """Field polygons (WKB) with their bounds, and the grid transform, to rasterise any block."""

    wkb: tuple[bytes, ...]
    bounds: np.ndarray  # (n, 4) minx, miny, maxx, maxy
    transform: Affine

    @classmethod
    def from_geoseries(cls, geoms: Any, transform: Affine) -> GeomPack:
        return cls(tuple(shapely.to_wkb(g) for g in geoms), np.asarray(geoms.bounds, dtype="float64"), transform)

    def labels(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Field index + 1 of each pixel of the block (0 outside every field)."""
        t = self.transform @ Affine.translation(col0, row0)
        x0, y0 = t @ (0, 0)
        x1, y1 = t @ (width, height)
        lo_x, hi_x, lo_y, hi_y = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
        b = self.bounds
        near = np.flatnonzero((b[:, 2] >= lo_x) & (b[:, 0] <= hi_x) & (b[:, 3] >= lo_y) & (b[:, 1] <= hi_y))
        if near.size == 0:
            return np.zeros((height, width), dtype="int32")
        shapes = ((shapely.from_wkb(self.wkb[i]), int(i) + 1) for i in near)
        return rasterize(shapes, out_shape=(height, width), transform=t, fill=0, dtype="int32")


@dataclass(frozen=True)
class PerField:
    """Per-field values in label order: risks per hazard, worst level, features, lead, NDVI window (days)."""

    ids: list[str]
    risk: np.ndarray  # (n_hazards, n_fields)
    worst_level: np.ndarray  # (n_fields,)
    features: pd.DataFrame  # field feature table in label order
    leads: pd.Series  # lead per field (None: no model applies yet)
    lo_day: np.ndarray
    hi_day: np.ndarray


def field_block(
    smooth: np.ndarray,
    static: np.ndarray,
    *,
    geoms: GeomPack,
    per_field: PerField,
    model: yield_model.YieldModel,
    days: np.ndarray,
    static_names: tuple[str, ...],
    block_info: dict | None = None,
) -> np.ndarray:
    """``(N_OUTPUTS, y, x)`` float32 for one block (see module docstring)."""
    height, width = smooth.shape[1:]
    (row0, _), (col0, _) = block_info[0]["array-location"][1:] if block_info else ((0, 0), (0, 0))
    labels = geoms.labels(row0, col0, height, width)
    out = np.full((N_OUTPUTS, height, width), np.nan, dtype="float32")
    inside = labels > 0
    if not inside.any():
        return out
    idx = labels[inside] - 1
    for k in range(len(hazards.HAZARDS)):
        out[2 + k][inside] = per_field.risk[k][idx]
    out[-1][inside] = per_field.worst_level[idx]

    pixel = pd.DataFrame({name: static[k][inside] for k, name in enumerate(static_names)})
    metrics = timeseries.windowed_metrics(smooth[:, inside], days, per_field.lo_day[idx], per_field.hi_day[idx])
    for k, name in enumerate(PIXEL_NDVI):
        pixel[name] = metrics[k]
    fields = per_field.features.iloc[idx].reset_index(drop=True)
    leads = per_field.leads.iloc[idx].to_numpy()
    pred = np.full(idx.size, np.nan, dtype="float32")
    width80 = np.full(idx.size, np.nan, dtype="float32")
    for lead in pd.unique(leads):
        if lead is None or (isinstance(lead, float) and np.isnan(lead)) or lead not in model.leads:
            continue
        sel = leads == lead
        names = model.features(lead)
        frame = pd.DataFrame({
            name: (pixel[name].to_numpy()[sel] if name in pixel else fields[name].to_numpy(dtype="float64")[sel])
            for name in names
        })
        frame["crop"] = fields["crop"].to_numpy()[sel]
        result = yield_model.predict(model, frame, lead)
        ok = np.isfinite(pixel["ndvi_mean"].to_numpy()[sel])  # no clear observation: no pixel forecast
        pred[sel] = np.where(ok, result["yield_pred_t_ha"], np.nan)
        width80[sel] = np.where(ok, result["yield_hi_t_ha"] - result["yield_lo_t_ha"], np.nan)
    out[0][inside] = pred
    out[1][inside] = width80
    return out
