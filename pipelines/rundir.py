"""A run directory that appears complete or not at all.

Everything is written into a hidden temporary directory next to the final
one (``OUT/.<run_id>.tmp-XXXX``); on success it is renamed into place. A
re-run first moves the old run aside, renames the new one in and then deletes
the old one, so a reader sees the old complete run or the new complete run.
On failure the temporary directory is deleted and a previous run stays.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from geodata.errors import OutputError


@contextlib.contextmanager
def staged_run_dir(out_dir: Path, run_id: str) -> Iterator[Path]:
    """Yield a hidden staging directory; publish it as ``out_dir / run_id`` on success."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.tmp-", dir=out_dir))
    except OSError as err:
        raise OutputError("cannot create the output directory", source=str(out_dir), got=str(err)) from err
    try:
        yield staging
        publish(staging, out_dir / run_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish(staging: Path, final: Path) -> None:
    """Rename ``staging`` to ``final``, replacing an older run at ``final``."""
    old: Path | None = None
    try:
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old / final.name)
        os.replace(staging, final)
        os.chmod(final, 0o755)
    except OSError as err:
        if old is not None and not final.exists():
            os.replace(old / final.name, final)  # put the previous run back
        raise OutputError("cannot move the finished run into place", source=str(final), got=str(err)) from err
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
