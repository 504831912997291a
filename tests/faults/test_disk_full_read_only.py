"""`nongshu run` into a read-only output directory or onto a "full disk": a one-line error naming the
path, exit code 2, no traceback, nothing half-written, and the previous run byte for byte unchanged."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import SEASON, checksums, nongshu_run

pytestmark = pytest.mark.slow

#: largest file the "full disk" run may write: the smallest output COG of the small region is larger.
FILE_SIZE_LIMIT = 16 * 1024


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a directory unwritable, also for root (``chattr +i``), and restore it afterwards."""
    if os.geteuid() != 0:
        os.chmod(path, 0o555)
        try:
            yield
        finally:
            os.chmod(path, 0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root and cannot make a directory immutable (chattr +i) on this file system")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def previous_outputs(reference_run: Path, out: Path) -> dict[str, str]:
    """``out`` holds a copy of a complete earlier run; returns its checksums."""
    shutil.copytree(reference_run, out / str(SEASON))
    return checksums(out)


def assert_clear_failure(result: subprocess.CompletedProcess[str], path_part: str) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr[-3000:]
    assert path_part in error_lines[0], error_lines[0]
    return error_lines[0]


def test_read_only_output_directory(small_region: Path, reference_run: Path, tmp_path: Path):
    out = tmp_path / "out"
    before = previous_outputs(reference_run, out)
    with read_only(out):
        result = nongshu_run(small_region, out)
    line = assert_clear_failure(result, str(out))
    assert "output directory" in line
    assert checksums(out) == before


def _full_disk() -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def test_full_disk_keeps_the_previous_run(small_region: Path, reference_run: Path, tmp_path: Path):
    out = tmp_path / "out"
    before = previous_outputs(reference_run, out)
    assert max(p.stat().st_size for p in reference_run.glob("*.tif")) > FILE_SIZE_LIMIT
    result = nongshu_run(small_region, out, preexec_fn=_full_disk)
    assert_clear_failure(result, str(out))
    assert checksums(out) == before  # no hidden staging directory left, the old run intact
    assert sorted(p.name for p in out.iterdir()) == [str(SEASON)]
