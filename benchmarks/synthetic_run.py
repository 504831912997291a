"""Write a published run directory (docs/DATA_LAYOUT.md "Outputs") with synthetic content.

The tile and API benchmarks measure the web layer, not the pipeline, so they
need run outputs of a controlled size (a 4096 px risk COG, 1k or 10k fields)
without running a season. The files follow the output contract exactly —
``run.json``, float32 COG with NaN nodata and overviews (rio-cogeo),
``fields.parquet`` (GeoParquet, EPSG:4326), ``fields.csv``, ``alerts.json`` —
so the web app reads them as it reads a real run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.io import MemoryFile
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles
from shapely.geometry import box

CRS = "EPSG:32648"
ORIGIN = (540_000.0, 3_960_000.0)  # UTM 48N, Dingxi (about 104.4 E, 35.8 N)
PIXEL_M = 10.0
HAZARDS = ("drought", "frost", "heat", "waterlogging", "pest", "disease")
COLOURS = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}


def risk_surface(size: int, seed: int) -> np.ndarray:
    """A smooth float32 risk field in [0, 1] with a NaN margin (nodata outside the region)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype("float32") / size
    z = np.zeros((size, size), dtype="float32")
    for _ in range(6):
        fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 2 * math.pi)
        z += np.sin(2 * math.pi * (fx * xx + fy * yy) + phase).astype("float32")
    z = (z - z.min()) / (z.max() - z.min())
    r = np.hypot(xx - 0.5, yy - 0.5)
    z[r > 0.49] = np.nan  # a round region inside the square: nodata corners
    return z


def write_cog(path: Path, array: np.ndarray, transform: Affine) -> None:
    """A DEFLATE COG with 512 px blocks and overviews, written atomically."""
    profile = {
        "driver": "GTiff",
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": str(array.dtype),
        "crs": CRS,
        "transform": transform,
        "nodata": float("nan"),
    }
    cog = cog_profiles.get("deflate")
    cog.update(blockxsize=512, blockysize=512, predictor=3)
    tmp = path.with_name(f".{path.name}.partial")
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(array, 1)
        with mem.open() as src:
            cog_translate(
                src, str(tmp), cog, overview_resampling="average", quiet=True, in_memory=True
            )
    tmp.replace(path)


def make_fields_table(count: int, size: int, seed: int) -> gpd.GeoDataFrame:
    """``count`` square-ish fields scattered over the raster, with the DATA_LAYOUT columns (EPSG:4326)."""
    rng = np.random.default_rng(seed)
    extent = size * PIXEL_M
    side = rng.uniform(60, 400, count)
    x = ORIGIN[0] + rng.uniform(0, extent - 400, count)
    y = ORIGIN[1] - rng.uniform(400, extent, count)
    geoms = [
        box(x0, y0, x0 + s, y0 + s * rng.uniform(0.5, 1.5))
        for x0, y0, s in zip(x, y, side, strict=True)
    ]
    crops = np.array(["potato", "spring_wheat", "maize", "highland_barley", "winter_wheat"])
    levels = rng.choice([0, 0, 0, 1, 2, 3, 4], count)
    frame = gpd.GeoDataFrame(
        {
            "field_id": [f"DX-{i:06d}" for i in range(count)],
            "crop": crops[rng.integers(0, len(crops), count)],
            "variety": "Longshu 7",
            "cooperative_id": [f"C{i % 40:02d}" for i in range(count)],
            "cooperative_name": [f"合作社 {i % 40:02d}" for i in range(count)],
            "township": [f"T{i % 12:02d}" for i in range(count)],
            "sowing_date": "2026-04-20",
            "irrigated": rng.random(count) < 0.3,
            "area_ha": [g.area / 1e4 for g in geoms],
            "pixel_count": [g.area / PIXEL_M**2 for g in geoms],
            "valid_fraction": rng.uniform(0.8, 1.0, count),
            "yield_pred_t_ha": rng.uniform(15, 35, count),
            "alert_level": levels,
        },
        geometry=geoms,
        crs=CRS,
    )
    frame["yield_lo_t_ha"] = frame["yield_pred_t_ha"] * 0.8
    frame["yield_hi_t_ha"] = frame["yield_pred_t_ha"] * 1.2
    for layer in ("yield_t_ha", "ndvi_peak", "vhi", "gdd", *(f"risk_{h}" for h in HAZARDS)):
        base = rng.uniform(0, 1, count)
        for stat, k in (("mean", 1.0), ("min", 0.8), ("max", 1.2), ("std", 0.1)):
            frame[f"{layer}_{stat}"] = base * k
    for h in HAZARDS:
        frame[f"alert_{h}"] = np.minimum(levels, rng.integers(0, 5, count))
    return frame.to_crs(4326)


def make_alerts(fields: gpd.GeoDataFrame, run_id: str) -> dict:
    alerts = []
    for row in fields.itertuples():
        for h in HAZARDS:
            level = int(getattr(row, f"alert_{h}"))
            if level == 0:
                continue
            alerts.append(
                {
                    "id": f"{run_id}-{row.field_id}-{h}",
                    "target_type": "field",
                    "target_id": row.field_id,
                    "township": row.township,
                    "cooperative_id": row.cooperative_id,
                    "crop": row.crop,
                    "hazard": h,
                    "level": level,
                    "colour": COLOURS[level],
                    "risk": round(0.2 * level, 2),
                    "stage": "tuber_initiation",
                    "triggers": {"risk": round(0.2 * level, 2)},
                    "valid_from": "2026-07-01",
                    "valid_to": "2026-07-14",
                    "advice_key": f"{h}/{row.crop}/tuber_initiation/{COLOURS[level]}",
                }
            )
    return {
        "run_id": run_id,
        "season": run_id,
        "valid_from": "2026-07-01",
        "valid_to": "2026-07-14",
        "alerts": alerts,
    }


def write_run(
    data_dir: Path, region: str, run_id: str, *, size: int, fields: int, seed: int = 7
) -> Path:
    """Write ``<data_dir>/outputs/<region>/<run_id>/`` and return it (skipped when already complete)."""
    run_dir = data_dir / "outputs" / region / run_id
    marker = run_dir / "run.json"
    if marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("parameters", {}).get("synthetic") == {
            "size": size,
            "fields": fields,
            "seed": seed,
        }:
            return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    transform = Affine(PIXEL_M, 0, ORIGIN[0], 0, -PIXEL_M, ORIGIN[1])
    write_cog(run_dir / "risk_drought.tif", risk_surface(size, seed), transform)
    table = make_fields_table(fields, size, seed)
    table.to_parquet(run_dir / "fields.parquet")
    pd.DataFrame(table.drop(columns="geometry")).to_csv(run_dir / "fields.csv", index=False)
    (run_dir / "alerts.json").write_text(json.dumps(make_alerts(table, run_id), ensure_ascii=False))
    with rasterio.open(run_dir / "risk_drought.tif") as src:
        bounds = list(src.bounds)
    meta = {
        "run_id": run_id,
        "season": run_id.split("-")[0],
        "region": region,
        "valid_from": "2026-07-01",
        "valid_to": "2026-07-14",
        "bounds_utm": bounds,
        "crs": CRS,
        "parameters": {"synthetic": {"size": size, "fields": fields, "seed": seed}},
        "note": "synthetic outputs written by benchmarks/synthetic_run.py for the web benchmarks",
    }
    tmp = run_dir / ".run.json.partial"
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(marker)
    return run_dir
