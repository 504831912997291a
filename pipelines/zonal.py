"""Per-field statistics of output rasters with fractional pixel coverage (exactextract).

Statistics weight each pixel by the fraction of it the polygon covers
(exactextract, Baston 2022), so small and narrow fields are measured fairly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd
import rasterio
from exactextract import exact_extract

from pipelines.errors import PipelineError

#: exactextract operation -> column suffix in fields.parquet (DATA_LAYOUT.md).
STATS: dict[str, str] = {"mean": "mean", "min": "min", "max": "max", "stdev": "std"}


def field_statistics(
    rasters: Mapping[str, Path],
    fields: gpd.GeoDataFrame,
    *,
    coverage_layer: str,
    id_column: str = "field_id",
) -> pd.DataFrame:
    """One row per field: ``<layer>_mean/_min/_max/_std`` for every raster, ``pixel_count``, ``valid_fraction``.

    ``pixel_count`` is the number of grid cells the field covers (fractional,
    the field area in pixels); ``valid_fraction`` the share of them with a
    valid value in ``coverage_layer``. Fields are reprojected to the rasters' CRS.
    """
    if not rasters:
        raise PipelineError("no rasters to summarise", field="rasters")
    first = next(iter(rasters.values()))
    with rasterio.open(first) as src:
        crs = src.crs
    polys = fields[[id_column, "geometry"]].to_crs(crs).reset_index(drop=True)
    frames = []
    for name, path in rasters.items():
        ops = [f"{name}_{suffix}={op}" for op, suffix in STATS.items()]
        if name == coverage_layer:
            ops += ["valid_cells=count", "all_cells=count(default_value=-1)"]
        table = exact_extract(str(path), polys, ops, include_cols=[id_column], output="pandas")
        frames.append(table.set_index(id_column))
    out = pd.concat(frames, axis=1)
    if "all_cells" not in out:
        raise PipelineError("coverage layer is not among the rasters", field="coverage_layer", got=coverage_layer)
    out["pixel_count"] = out.pop("all_cells")
    valid = out.pop("valid_cells")
    out["valid_fraction"] = (valid / out["pixel_count"]).where(out["pixel_count"] > 0, 0.0)
    return out.reset_index()
