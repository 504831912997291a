"""Discover complete pipeline runs under ``<data>/outputs/<region>/<run_id>/`` and read their files.

A run directory is complete when it holds ``run.json`` (docs/DATA_LAYOUT.md);
hidden directories (the pipeline's temporary ones) are ignored. The public name
of a run is ``<region>.<run_id>`` (e.g. ``dingxi.2026``); a bare ``run_id`` is
accepted when only one region has it, and ``latest`` names the newest run.
Request values are matched against the discovered names, never joined into paths.
Tables are cached per file and modification time, so a new run is picked up
without restarting the server and a replaced file is re-read. Loads are
single-flight: threads that miss the cache for the same file at the same time
wait for one read and share its result (or its error) instead of each parsing it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import pandas as pd
from cachetools import LRUCache

from webapi.errors import NotFoundError, WebApiError
from webapi.layers import LAYERS

log = logging.getLogger(__name__)

_RUN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64})?$")

T = TypeVar("T")


class RunDataError(WebApiError):
    """A file of a published run cannot be read (the run is broken, not the request)."""

    status = 500


@dataclass(frozen=True)
class Run:
    """One complete run directory."""

    region: str
    run_id: str
    path: Path
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.region}.{self.run_id}"

    @property
    def season(self) -> str:
        return str(self.meta.get("season") or self.run_id.split("-")[0])

    def valid_period(self) -> tuple[str | None, str | None]:
        """(valid_from, valid_to) ISO dates from run.json (``valid_from``/``valid_to`` or ``valid_period``)."""
        period = self.meta.get("valid_period")
        if isinstance(period, dict):
            start = period.get("from") or period.get("start") or period.get("valid_from")
            end = period.get("to") or period.get("end") or period.get("valid_to")
            return start, end
        if isinstance(period, list | tuple) and len(period) == 2:
            return period[0], period[1]
        return self.meta.get("valid_from"), self.meta.get("valid_to")

    def layer_names(self) -> list[str]:
        return [name for name, layer in LAYERS.items() if (self.path / layer.file).is_file()]

    def describe(self) -> dict[str, Any]:
        valid_from, valid_to = self.valid_period()
        return {
            "name": self.name,
            "region": self.region,
            "run_id": self.run_id,
            "season": self.season,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "layers": self.layer_names(),
            "created": self.meta.get("created") or self.meta.get("finished"),
        }


class RunStore:
    """The runs found under ``outputs_dir`` and a cache of the tables read from them."""

    def __init__(self, outputs_dir: Path, cache_size: int = 64, inputs_dir: Path | None = None) -> None:
        self.outputs_dir = Path(outputs_dir)
        self.inputs_dir = Path(inputs_dir) if inputs_dir is not None else self.outputs_dir.parent / "inputs"
        self._cache: LRUCache[tuple[str, str, int], Any] = LRUCache(maxsize=max(cache_size, 1))
        self._loading: dict[tuple[str, str, int], _Load] = {}  # loads under way, by cache key
        self._lock = threading.Lock()  # guards _cache and _loading (never held while reading a file)

    # -- discovery -------------------------------------------------------------------------
    def runs(self) -> list[Run]:
        """Every complete run, newest season first, then region name."""
        found: list[Run] = []
        if not self.outputs_dir.is_dir():
            return found
        for region_dir in sorted(self.outputs_dir.iterdir()):
            if region_dir.name.startswith(".") or not region_dir.is_dir():
                continue
            for run_dir in sorted(region_dir.iterdir()):
                marker = run_dir / "run.json"
                if run_dir.name.startswith(".") or not marker.is_file():
                    continue
                if not (_RUN_NAME.match(region_dir.name) and _RUN_NAME.match(run_dir.name)):
                    log.warning("ignoring run directory with an unusable name: %s", run_dir)
                    continue
                meta = self._cached(marker, _read_json)
                found.append(Run(region_dir.name, run_dir.name, run_dir, meta if isinstance(meta, dict) else {}))
        found.sort(key=lambda r: (r.run_id, r.region), reverse=True)
        return found

    def get(self, name: str) -> Run:
        """The run called ``name`` (``region.run_id``, a unique ``run_id`` or ``latest``)."""
        if not _RUN_NAME.match(name or ""):
            raise NotFoundError(
                "unknown run", field="run", expected="a run name such as dingxi.2026 (see /api/v1/runs)", got=name
            )
        runs = self.runs()
        if name == "latest" and runs:
            return runs[0]
        matches = [r for r in runs if r.name == name] or [r for r in runs if r.run_id == name]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(r.name for r in runs) or "none published yet"
        raise NotFoundError("unknown run", field="run", expected=f"one of: {known}", got=name)

    # -- cached readers --------------------------------------------------------------------
    def _cached(self, path: Path, reader: Callable[[Path], T]) -> T:
        """``reader(path)``, cached by (path, reader, modification time); one read per key at a time.

        A miss registers a :class:`_Load` for its key under the store's lock; later
        misses for the same key wait on it and share its value or its error, while
        misses for other keys load in parallel. A failed load is not cached: the next
        call reads again. Read errors become :class:`RunDataError` naming the file.
        """
        try:
            stat = path.stat()
        except OSError as err:  # removed or replaced between the caller's check and here
            raise RunDataError(f"cannot read published file: {err}", source=path.name) from err
        key = (str(path), reader.__name__, stat.st_mtime_ns)
        while True:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
                load = self._loading.get(key)
                if load is None:
                    load = self._loading[key] = _Load()
                    break  # this thread reads the file
            load.done.wait()
            if load.error is not None:
                raise _for_waiter(load.error)
            if load.finished:
                return load.value
            # the reading thread was interrupted (not an error of the file): try again

        try:
            value = reader(path)
        except (OSError, ValueError, KeyError) as err:
            error = RunDataError(f"cannot read published file: {err}", source=path.name)
            error.__cause__ = err
            self._settle(key, load, error=error)
            raise error from err
        except Exception as err:  # not a read error (a bug): uncaught today too, every waiter gets this object
            self._settle(key, load, error=err)
            raise
        except BaseException:  # interrupted (e.g. KeyboardInterrupt): waiters retry the read themselves
            self._settle(key, load)
            raise
        self._settle(key, load, value=value, finished=True)
        return value

    def _settle(
        self, key: tuple[str, str, int], load: _Load, *, value: Any = None, error: Exception | None = None,
        finished: bool = False,
    ) -> None:
        """End ``load``: cache ``value`` if ``finished``, forget the load (a failed key is read again by
        the next miss) and wake its waiters."""
        with self._lock:
            if finished:
                self._cache[key] = value
            if self._loading.get(key) is load:
                del self._loading[key]
        load.value, load.error, load.finished = value, error, finished
        load.done.set()

    def fields(self, run: Run) -> gpd.GeoDataFrame:
        """``fields.parquet`` of the run (EPSG:4326), indexed by ``field_id``."""
        path = run.path / "fields.parquet"
        if not path.is_file():
            raise NotFoundError("this run has no field table", source=f"{run.name}/fields.parquet")
        return self._cached(path, _read_fields)

    def timeseries(self, run: Run) -> pd.DataFrame:
        """``field_timeseries.csv`` (field_id, date, ndvi, ndvi_smooth); empty when absent."""
        path = run.path / "field_timeseries.csv"
        if not path.is_file():
            return pd.DataFrame(columns=["field_id", "date", "ndvi", "ndvi_smooth"])
        return self._cached(path, _read_timeseries)

    def alerts(self, run: Run) -> dict[str, Any]:
        """``alerts.json`` of the run; ``{"alerts": []}`` when the run has none."""
        path = run.path / "alerts.json"
        if not path.is_file():
            return {"run_id": run.run_id, "season": run.season, "alerts": []}
        return self._cached(path, _read_json)

    def operations(self, run: Run) -> pd.DataFrame | None:
        """The region's farm-operations log, if present: under run.json's ``inputs_root``, else
        ``<data>/inputs/<region>/operations/operations.csv``."""
        from webapi.advice import read_operations_log

        root = self.meta_inputs_root(run) or self.inputs_dir / run.region
        path = root / "operations" / "operations.csv"
        if not path.is_file():
            return None
        return self._cached(path, read_operations_log)

    @staticmethod
    def meta_inputs_root(run: Run) -> Path | None:
        root = run.meta.get("inputs_root")
        return Path(root) if isinstance(root, str) and Path(root).is_dir() else None

    def layer_path(self, run: Run, layer_name: str) -> Path:
        """The COG of a registered layer in ``run``; 404 when the run does not have it."""
        layer = LAYERS.get_layer(layer_name)
        path = run.path / layer.file
        if not path.is_file():
            raise NotFoundError(
                "this run has no such layer", field="layer", expected=f"one of {', '.join(run.layer_names())}", got=layer_name
            )
        return path


class _Load:
    """One read of a file in progress: waiters block on ``done``, then take ``value`` or ``error``."""

    __slots__ = ("done", "error", "finished", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: Exception | None = None
        self.finished = False


def _for_waiter(error: Exception) -> Exception:
    """The error a waiter raises: a fresh :class:`RunDataError` with the reading thread's message and
    cause (each thread gets its own exception and traceback), or the reader's own unexpected exception."""
    if isinstance(error, RunDataError):
        copy = RunDataError(error.message, source=error.source)
        copy.__cause__ = error.__cause__
        return copy
    return error


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _read_fields(path: Path) -> gpd.GeoDataFrame:
    frame = gpd.read_parquet(path)
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    frame["field_id"] = frame["field_id"].astype(str)
    return frame.set_index("field_id", drop=False)


def _read_timeseries(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"field_id": str})
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame.sort_values(["field_id", "date"])
