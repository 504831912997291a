"""Write the non-raster outputs of a run: field tables, time series, alerts, STAC catalog, run.json.

All writers take the (staging) run directory; the caller publishes it
atomically (:mod:`pipelines.rundir`). Layout: docs/DATA_LAYOUT.md "Outputs".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import threading
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pystac

from geodata.errors import OutputError
from geodata.stac import raster_item

#: packages whose versions go into run.json.
VERSIONED_PACKAGES = (
    "nongshu", "numpy", "scipy", "pandas", "xarray", "dask", "distributed", "rasterio", "rioxarray",
    "odc-geo", "exactextract", "geopandas", "shapely", "pyarrow", "xclim", "scikit-learn", "pystac",
)


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types in one pass: NaN/inf -> None, numpy scalars and arrays -> Python
    numbers and lists, dates -> ISO 8601, paths -> strings (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: Path, data: Any) -> Path:
    """Write JSON (UTF-8, indented, NaN as null), streamed to the file.

    One converted copy of ``data`` is held, not three: alerts.json of a 4096 px region
    (53,000 alerts, 31 MB) went through two serialisations and a parse before.
    """
    try:
        clean = _jsonable(data)
    except TypeError as err:
        raise OutputError("cannot write JSON", source=str(path), got=str(err)) from err
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(clean, handle, indent=2, ensure_ascii=False, allow_nan=False)
            handle.write("\n")
    except OSError as err:
        raise OutputError("cannot write", source=str(path), got=str(err)) from err
    return path


def write_field_tables(run_dir: Path, table: gpd.GeoDataFrame) -> tuple[Path, Path]:
    """``fields.parquet`` (GeoParquet, EPSG:4326) and ``fields.csv`` (the same without geometry)."""
    parquet, csv = run_dir / "fields.parquet", run_dir / "fields.csv"
    try:
        table.to_crs(4326).to_parquet(parquet, index=False, geometry_encoding="WKB")
        pd.DataFrame(table.drop(columns="geometry")).to_csv(csv, index=False, encoding="utf-8")
    except OSError as err:
        raise OutputError("cannot write the field tables", source=str(run_dir), got=str(err)) from err
    return parquet, csv


def write_field_timeseries(run_dir: Path, series: pd.DataFrame) -> Path:
    """``field_timeseries.csv``: field_id, date, ndvi (observed mean), ndvi_smooth."""
    path = run_dir / "field_timeseries.csv"
    series[["field_id", "date", "ndvi", "ndvi_smooth"]].to_csv(path, index=False, float_format="%.4f")
    return path


def sha256_of(path: Path, chunk: int = 2**20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def input_manifest(paths: Iterable[Path], root: Path, hasher: InputHasher | None = None) -> list[dict[str, Any]]:
    """Every input file actually used, relative to the inputs root, with size and SHA-256.

    Digests already computed by ``hasher`` (in the background, earlier in the run) are reused.
    """
    digest = hasher.sha256 if hasher is not None else sha256_of
    out = []
    for path in sorted(set(Path(p) for p in paths)):
        out.append({"path": str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
                    "bytes": path.stat().st_size, "sha256": digest(path)})
    return out


class InputHasher:
    """SHA-256 of input files computed in a background thread while the run goes on.

    hashlib releases the GIL on large buffers, so hashing the ~3 GB of a 4096 px region's inputs
    (7.6 s at the end of a run before) overlaps with the client's other work. A file is hashed again
    at :meth:`sha256` when its size or mtime changed since.
    """

    def __init__(self) -> None:
        self._digests: dict[Path, tuple[tuple[int, int], str]] = {}
        self._thread: threading.Thread | None = None

    def start(self, paths: Iterable[Path]) -> None:
        todo = sorted(set(Path(p) for p in paths))
        self._thread = threading.Thread(target=self._hash_all, args=(todo,), name="nongshu-input-hasher",
                                        daemon=True)
        self._thread.start()

    def _hash_all(self, paths: list[Path]) -> None:
        for path in paths:
            try:
                version = _version(path)
                self._digests[path] = (version, sha256_of(path))
            except OSError:
                continue  # reported by :meth:`sha256` at the end, on the caller's thread

    def sha256(self, path: Path) -> str:
        if self._thread is not None:
            self._thread.join()
        hit = self._digests.get(Path(path))
        if hit is not None and hit[0] == _version(path):
            return hit[1]
        return sha256_of(path)


def _version(path: Path) -> tuple[int, int]:
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def package_versions(names: Iterable[str] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_stac_catalog(
    run_dir: Path,
    rasters: Mapping[str, Path],
    *,
    run_id: str,
    valid_from: dt.date,
    valid_to: dt.date,
    titles: Mapping[str, str],
    properties: Mapping[str, Any],
) -> Path:
    """A self-contained STAC catalog (``catalog.json`` + one item per raster) with relative links."""
    catalog = pystac.Catalog(
        id=f"nongshu-{run_id}",
        description=f"Nongshu season run {run_id}: yield, risk and feature rasters valid {valid_from} to {valid_to}",
        title=f"Nongshu run {run_id}",
    )
    start = dt.datetime.combine(valid_from, dt.time(0), tzinfo=dt.UTC)
    end = dt.datetime.combine(valid_to, dt.time(23, 59, 59), tzinfo=dt.UTC)
    for name, path in rasters.items():
        item = raster_item(
            path,
            f"{run_id}-{name}",
            start_datetime=start,
            end_datetime=end,
            properties={**properties, "nongshu:layer": name},
            href=str(Path(path).resolve()),
            title=titles.get(name, name),
        )
        catalog.add_item(item)
    # The trailing "/" matters: the run is staged in ".2026.tmp-xyz", which pystac would
    # otherwise take for a file name (it has a dot) and put the catalog in the parent.
    root = str(Path(run_dir).resolve()) + "/"
    catalog.normalize_hrefs(root)
    catalog.make_all_asset_hrefs_relative()  # items in <item_id>/ point at ../<file>.tif
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED, dest_href=root)
    return run_dir / "catalog.json"
