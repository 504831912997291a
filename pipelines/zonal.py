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

#: Bytes of raster values exactextract may hold at once, all rasters together. Its raster-sequential
#: strategy reads every raster over one sub-grid of at most ``max_cells_in_memory`` cells (default 30
#: million) as float64; at the default, 12 layers of a 4096 px region are read whole (1.6 GB).
READ_BUDGET_BYTES = 256 * 2**20


def max_cells_in_memory(n_rasters: int, budget_bytes: int = READ_BUDGET_BYTES) -> int:
    """exactextract's sub-grid size (cells) so that ``n_rasters`` float64 reads fit in ``budget_bytes``."""
    return max(budget_bytes // (8 * max(n_rasters, 1)), 4096)


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
    stems = {Path(path).stem: name for name, path in rasters.items()}
    if len(stems) != len(rasters):
        raise PipelineError("two rasters share a file name", field="rasters", expected="distinct file names",
                            got=sorted(str(p) for p in rasters.values()))
    if coverage_layer not in rasters:
        raise PipelineError("coverage layer is not among the rasters", field="coverage_layer", got=coverage_layer)
    # one pass over every raster at once (the rasters share the grid, so each field's coverage fractions are
    # computed once), reading the rasters block by block rather than field by field
    single = len(rasters) == 1
    count_ops = ["valid_cells=count", "all_cells=count(default_value=-1)"]
    table = exact_extract([str(p) for p in rasters.values()], polys, list(STATS) + (count_ops if single else []),
                          include_cols=[id_column], output="pandas", strategy="raster-sequential",
                          max_cells_in_memory=max_cells_in_memory(len(rasters)))
    # exactextract prefixes the columns with the file's stem when given several rasters, not for one
    renamed = {f"{'' if single else stem + '_'}{op}": f"{name}_{suffix}"
               for stem, name in stems.items() for op, suffix in STATS.items()}
    out = table.rename(columns=renamed).set_index(id_column)
    if single:
        counts = out
    else:  # named operations must be unique across rasters: the coverage counts in a second (cheap) pass
        counts = exact_extract(str(rasters[coverage_layer]), polys, count_ops, include_cols=[id_column],
                               output="pandas", strategy="raster-sequential",
                               max_cells_in_memory=max_cells_in_memory(1)).set_index(id_column)
    out["pixel_count"] = counts["all_cells"]
    valid = counts["valid_cells"]
    out = out.drop(columns=["all_cells", "valid_cells"], errors="ignore")
    out["valid_fraction"] = (valid / out["pixel_count"]).where(out["pixel_count"] > 0, 0.0)
    return out.reset_index()
