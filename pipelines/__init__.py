"""Dask pipelines: fuse inputs onto one grid, compute features, apply models, zonal stats, alerts."""
