"""A run directory that appears complete or not at all.

Everything is written into a hidden temporary directory next to the final one
(``OUT/.<run_id>.tmp-<host>-<pid>-XXXX``). On success its files are made
readable by the web server (``0644`` less the umask; ``tempfile`` creates
``0600`` files), flushed to disk (``fsync``) and the directory is published:

* no previous run: ``rename(2)`` it into place (atomic);
* a previous run: swap the two directories in one atomic
  ``renameat2(RENAME_EXCHANGE)`` (Linux >= 3.15, glibc >= 2.28), then delete
  the old one. A reader always finds either the old complete run or the new
  complete run under ``OUT/<run_id>``, never nothing and never a mix. Where the
  exchange is unavailable (another OS or file system) the old run is renamed
  aside first and the new one renamed in: then for a moment there is no run.

On any failure the temporary directory is deleted, the previous run stays
untouched, and an ``OSError`` (disk full, read-only or missing directory,
file too large) becomes an :class:`~geodata.errors.OutputError` naming the path.
Hidden directories left by a run killed on this host (its process is gone)
are removed the next time the same run id is written.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from geodata.errors import OutputError

#: ``renameat2`` flag: atomically exchange the two paths (linux/fs.h).
RENAME_EXCHANGE = 2
_AT_FDCWD = -100
#: Errors that mean "the output location cannot take the run", wherever they are raised.
_FULL_OR_READ_ONLY = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def _temp_prefix(run_id: str, kind: str) -> str:
    return f".{run_id}.{kind}-{_host_tag()}-{os.getpid()}-"


@contextlib.contextmanager
def staged_run_dir(out_dir: Path, run_id: str) -> Iterator[Path]:
    """Yield a hidden staging directory; publish it as ``out_dir / run_id`` on success."""
    out_dir = Path(out_dir)
    final = out_dir / run_id
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale(out_dir, run_id)
        staging = Path(tempfile.mkdtemp(prefix=_temp_prefix(run_id, "tmp"), dir=out_dir))
    except OSError as err:
        raise OutputError(f"cannot write into the output directory ({err.strerror or err})",
                          source=str(out_dir), expected="a writable directory") from err
    try:
        yield staging
        publish(staging, final)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        if not (err.errno in _FULL_OR_READ_ONLY or _inside(err.filename, out_dir)):
            raise  # e.g. an input file that cannot be read: not an output problem
        where = err.filename or final
        raise OutputError(f"cannot write the run ({err.strerror or err}); the previous run, if any, is unchanged",
                          source=str(where)) from err
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish(staging: Path, final: Path) -> None:
    """Make ``staging`` readable, flush it, and atomically put it at ``final`` (replacing an older run)."""
    try:
        _make_readable(staging)
        _fsync_tree(staging)
        if final.exists():
            _replace_existing(staging, final)
        else:
            os.replace(staging, final)
        _fsync_dir(final.parent)
    except OSError as err:
        raise OutputError(f"cannot move the finished run into place ({err.strerror or err}); "
                          "the previous run, if any, is unchanged", source=str(final)) from err


def _replace_existing(staging: Path, final: Path) -> None:
    """Swap ``staging`` and ``final`` atomically, then delete the old run (now at ``staging``)."""
    if exchange(staging, final):
        shutil.rmtree(staging, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=_temp_prefix(final.name, "old"), dir=final.parent))
    try:
        os.replace(final, old / final.name)
        try:
            os.replace(staging, final)
        except OSError:
            os.replace(old / final.name, final)  # put the previous run back
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two existing paths with ``renameat2(RENAME_EXCHANGE)``.

    Returns ``False`` when the system or file system cannot (nothing was changed);
    raises ``OSError`` for any other failure."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _renameat2() -> Callable[..., int] | None:
    """glibc's ``renameat2`` (None where libc lacks it)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


def _inside(filename: object, root: Path) -> bool:
    if not isinstance(filename, str | bytes | os.PathLike):
        return False
    path = Path(os.fsdecode(filename)).absolute()
    return path.is_relative_to(root.absolute())


def _umask() -> int:
    """The process umask, read without changing it (Linux ``/proc``; ``022`` elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _make_readable(root: Path) -> None:
    """Files ``0644`` and directories ``0755``, less the umask (a web server under another user reads them)."""
    mask = _umask()
    os.chmod(root, 0o755 & ~mask)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755 & ~mask)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644 & ~mask)


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory of ``root`` so a power cut after publication loses nothing."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:  # some file systems cannot fsync a directory
        if err.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def remove_stale(out_dir: Path, run_id: str) -> list[Path]:
    """Delete hidden ``.<run_id>.tmp-``/``.old-`` directories of dead processes on this host."""
    removed = []
    pattern = re.compile(rf"^\.{re.escape(run_id)}\.(tmp|old)-{re.escape(_host_tag())}-(\d+)-")
    for entry in out_dir.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not _alive(int(match.group(2))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
