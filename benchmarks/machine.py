"""Describe the machine and software a benchmark ran on, for the results files."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

#: Distributions whose versions go into every result (absent ones are skipped).
PACKAGES = (
    "nongshu",
    "numpy",
    "xarray",
    "dask",
    "distributed",
    "rasterio",
    "rioxarray",
    "rio-tiler",
    "exactextract",
    "rasterstats",
    "titiler.core",
    "uvicorn",
    "gunicorn",
    "flask",
    "sqlalchemy",
    "shapely",
    "geopandas",
)


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import rasterio

        versions["GDAL"] = rasterio.__gdal_version__
    except ImportError:
        pass
    return versions


def git_commit(repo: Path) -> str | None:
    """The checked-out commit (read-only ``git rev-parse``), or None outside a repository."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def describe_machine(repo: Path | None = None) -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and package versions."""
    memory = psutil.virtual_memory()
    return {
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(psutil.Process().cpu_affinity())
        if hasattr(psutil.Process, "cpu_affinity")
        else None,
        "memory_total_gib": round(memory.total / 2**30, 1),
        "load_average_1m": round(psutil.getloadavg()[0], 2),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "git_commit": git_commit(repo) if repo else None,
    }
