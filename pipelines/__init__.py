"""Dask pipelines: fuse inputs onto one grid, compute features, apply models, zonal stats, alerts.

The public entry points (used by the CLI, the notebooks and the benchmarks; everything else is
internal and may change):

* :func:`pipelines.season.run_season` with :class:`pipelines.season.RunOptions` — one season run
  into an atomically published run directory (``nongshu run``);
* :class:`pipelines.cluster.ClusterSpec` and :func:`pipelines.cluster.dask_client` — a local
  cluster or an existing scheduler;
* :func:`pipelines.inputs.open_region` — a validated input directory;
* :func:`pipelines.fielddata.collect`, :func:`pipelines.fielddata.region_grid`,
  :func:`pipelines.fielddata.imagery_years` — the per-field tables of every season with imagery;
* :mod:`pipelines.training` (``FEATURES``, ``training_seasons``, ``training_tables``) — the
  yield model's training tables (``nongshu model train|evaluate``);
* :data:`pipelines.fieldfeatures.LEADS` — the forecast lead times.
"""
