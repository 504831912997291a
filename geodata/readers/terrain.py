"""Static layers: SoilGrids soil properties and the Copernicus/SRTM DEM.

Values are converted from the files' integer encodings to conventional units
with the SoilGrids 2.0 conversion factors (ISRIC, "SoilGrids250m 2.0 FAQ":
mapped units / conversion factor / conventional units):

=========  ===========  ======  ==================
property   file units   factor  returned units
=========  ===========  ======  ==================
clay       g/kg         10      %
sand       g/kg         10      %
soc        dg/kg        10      g/kg
phh2o      pH x 10      10      pH
awc        mm/m         1       mm/m
=========  ===========  ======  ==================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from geodata.errors import InputError
from geodata.readers.raster import open_raster

#: property -> (divide the stored value by, units after conversion, long name)
SOIL_PROPERTIES: dict[str, tuple[float, str, str]] = {
    "clay": (10.0, "%", "clay content"),
    "sand": (10.0, "%", "sand content"),
    "soc": (10.0, "g/kg", "soil organic carbon"),
    "phh2o": (10.0, "1", "pH in water"),
    "awc": (1.0, "mm/m", "available water capacity"),
}


def read_soil(directory: str | Path, *, grid: GeoBox | None = None) -> xr.Dataset:
    """Read ``soil/<property>.tif`` into one lazy Dataset in conventional units.

    With ``grid`` every property is reprojected (bilinear) onto it; without,
    all files must share one grid.
    """
    directory = Path(directory)
    layers: dict[str, xr.DataArray] = {}
    crs = None
    for name, (factor, units, long_name) in SOIL_PROPERTIES.items():
        path = directory / f"{name}.tif"
        if not path.exists():
            raise InputError("soil property file missing", source=str(path), field=name,
                             expected=f"{', '.join(f'{p}.tif' for p in SOIL_PROPERTIES)}")
        da = open_raster(path, kind="continuous", grid=grid) / np.float32(factor)
        da.attrs = {"units": units, "long_name": long_name, "nodata": np.nan}
        crs = crs or da.odc.crs
        layers[name] = da.drop_vars("spatial_ref", errors="ignore").rename(name)
    try:
        ds = xr.merge(list(layers.values()), join="exact", compat="override")
    except ValueError as err:
        raise InputError(
            f"soil rasters do not share one grid (pass grid= to reproject): {err}", source=str(directory)
        ) from err
    return ds.odc.assign_crs(crs)


def read_dem(path: str | Path, *, grid: GeoBox | None = None) -> xr.DataArray:
    """Read the DEM (metres, float32, nodata -> NaN), reprojected bilinearly onto ``grid`` if given."""
    dem = open_raster(path, kind="continuous", grid=grid, name="elevation")
    dem.attrs.update({"units": "m", "long_name": "elevation above sea level"})
    return dem
