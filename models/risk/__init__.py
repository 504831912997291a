"""Hazard models, one module per hazard; each returns a daily risk in [0, 1] plus its triggers.

All functions take xarray inputs with units (numpy- or dask-backed) and a stage dataset from
:func:`models.crops.crop_stages`; :func:`aggregate` summarises a hazard over the season.
"""

from models.risk._common import aggregate

__all__ = ["aggregate"]
