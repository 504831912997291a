"""Fixtures of the geodata tests: the demo region and readers of its files.

The helpers here read the generated FILES the way an analyst would (rasterio,
xarray, geopandas); they never call the generator's internal models.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio import features
from rasterio.warp import Resampling, reproject

#: SCL classes that are clear land (vegetation, not vegetated) in Sentinel-2 L2A.
CLEAR_SCL = (4, 5)


@pytest.fixture(scope="session")
def demo_dingxi(demo_region: Path) -> Path:
    """The 512 px, 3-season Dingxi demo region of the root conftest (generated once)."""
    return demo_region


@pytest.fixture(scope="session")
def demo_meta(demo_dingxi: Path) -> dict:
    """``region.json`` of the demo region."""
    return json.loads((demo_dingxi / "region.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def demo_fields(demo_dingxi: Path) -> gpd.GeoDataFrame:
    """The field polygons of the demo region."""
    return gpd.read_file(demo_dingxi / "fields" / "fields.gpkg", layer="fields")


def field_index_raster(fields: gpd.GeoDataFrame, ref: Path) -> np.ndarray:
    """Field number (1-based row of ``fields``; 0 outside) on the grid of raster ``ref``."""
    with rasterio.open(ref) as ds:
        return features.rasterize(((g, k + 1) for k, g in enumerate(fields.geometry)),
                                  out_shape=(ds.height, ds.width), transform=ds.transform,
                                  fill=0, dtype="int32")


def field_ndvi(scene_dir: Path, index: np.ndarray, n_fields: int,
               min_valid: float = 0.5) -> np.ndarray:
    """Per-field mean NDVI of one acquisition from the COGs: offset removed, SCL-masked.

    Fields with less than ``min_valid`` clear pixels get NaN.
    """
    with rasterio.open(scene_dir / "B04.tif") as red_ds, rasterio.open(scene_dir / "B08.tif") as nir_ds:
        # reflectance = DN * scale + offset, read from the file (L2A BOA_ADD_OFFSET)
        red = red_ds.read(1).astype(float) * red_ds.scales[0] + red_ds.offsets[0]
        nir = nir_ds.read(1).astype(float) * nir_ds.scales[0] + nir_ds.offsets[0]
        nodata = red_ds.read(1) == red_ds.nodata
    with rasterio.open(scene_dir / "SCL.tif") as scl_ds:
        scl = np.repeat(np.repeat(scl_ds.read(1), 2, axis=0), 2, axis=1)
    clear = np.isin(scl, CLEAR_SCL) & ~nodata
    ndvi = (nir - red) / (nir + red)
    total = np.bincount(index.ravel(), minlength=n_fields + 1)[1:]
    good = np.bincount(index.ravel(), weights=clear.ravel(), minlength=n_fields + 1)[1:]
    sums = np.bincount(index.ravel(), weights=np.where(clear, ndvi, 0).ravel(),
                       minlength=n_fields + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / good
    return np.where(good >= min_valid * np.maximum(total, 1), mean, np.nan)


def dem_on_grid(dem_path: Path, ref: Path) -> np.ndarray:
    """The DEM (EPSG:4326, 1 arc-second) resampled bilinearly onto the grid of ``ref``."""
    with rasterio.open(ref) as ds:
        out = np.full((ds.height, ds.width), np.nan, dtype=np.float32)
        dst_t, dst_crs = ds.transform, ds.crs
    with rasterio.open(dem_path) as dem:
        reproject(rasterio.band(dem, 1), out, dst_transform=dst_t, dst_crs=dst_crs,
                  resampling=Resampling.bilinear, dst_nodata=np.nan)
    return out
