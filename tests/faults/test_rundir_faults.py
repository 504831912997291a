"""Publication of a run directory under faults: disk full, failed renames, concurrent readers, dead runs."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

import pytest

from geodata.errors import OutputError
from pipelines import rundir
from pipelines.rundir import exchange, publish, remove_stale, staged_run_dir


def make_run(out: Path, run_id: str, tag: str, n_files: int = 5) -> None:
    with staged_run_dir(out, run_id) as d:
        for i in range(n_files):
            (d / f"layer{i}.tif").write_text(tag)
        (d / "run.json").write_text(tag)


def visible(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def test_files_are_published_readable(tmp_path: Path):
    import tempfile

    with staged_run_dir(tmp_path, "2026") as d:
        fd, name = tempfile.mkstemp(dir=d, suffix=".tif")  # 0600, as every atomic writer makes them
        os.close(fd)
        (d / "sub").mkdir(mode=0o700)
    mode = stat.S_IMODE(os.stat(tmp_path / "2026" / Path(name).name).st_mode)
    assert mode & 0o044 == 0o044  # group and others may read (umask permitting: the test umask is 022)
    assert stat.S_IMODE(os.stat(tmp_path / "2026" / "sub").st_mode) & 0o055 == 0o055


def test_disk_full_midway_keeps_the_previous_run(tmp_path: Path):
    make_run(tmp_path, "2026", "old")
    with pytest.raises(OutputError) as info, staged_run_dir(tmp_path, "2026") as d:
        (d / "layer0.tif").write_text("new")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(d / "layer1.tif"))
    message = str(info.value)
    assert "No space left on device" in message and "layer1.tif" in message
    assert visible(tmp_path) == ["2026"]
    assert {p.read_text() for p in (tmp_path / "2026").iterdir()} == {"old"}


def test_unrelated_os_errors_are_not_relabelled(tmp_path: Path):
    """An input file that vanished is not an output problem: it propagates as it is."""
    with pytest.raises(FileNotFoundError), staged_run_dir(tmp_path / "out", "2026"):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(tmp_path / "inputs" / "dem.tif"))
    assert visible(tmp_path / "out") == []


def test_output_under_a_file_is_a_clear_error(tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info, staged_run_dir(blocker / "out", "2026"):
        pytest.fail("must not get here")
    assert str(blocker / "out") in str(info.value)


def test_exchange_swaps_atomically(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("A")
    (b / "f").write_text("B")
    if not exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) unavailable here")
    assert (a / "f").read_text() == "B" and (b / "f").read_text() == "A"


def test_failed_publication_restores_the_previous_run(tmp_path: Path, monkeypatch):
    make_run(tmp_path, "2026", "old")
    monkeypatch.setattr(rundir, "exchange", lambda a, b: False)  # the fallback path: rename aside, rename in
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:  # moving the new run in fails after the old one was moved aside
            raise OSError(errno.EIO, "Input/output error", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(rundir.os, "replace", flaky_replace)
    with pytest.raises(OutputError) as info:
        make_run(tmp_path, "2026", "new")
    assert "cannot move the finished run into place" in str(info.value)
    assert len(calls) == 3  # aside, in (failed), back
    assert visible(tmp_path) == ["2026"]
    assert {p.read_text() for p in (tmp_path / "2026").iterdir()} == {"old"}


def test_readers_never_see_a_missing_or_mixed_run(tmp_path: Path):
    """While runs are republished over and over, a reader always finds a run.json and one version."""
    make_run(tmp_path, "2026", "v0", n_files=10)
    probe = tmp_path / "2026"
    if not exchange(tmp_path / "2026", tmp_path / "2026"):  # same path: a no-op that tells us it is supported
        pytest.skip("renameat2(RENAME_EXCHANGE) unavailable here")
    stop = threading.Event()
    problems: list[str] = []

    def read() -> None:
        """A careful reader: pin the run directory (a directory fd), then read the files relative to it."""
        while not stop.is_set():
            try:
                fd = os.open(probe, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                problems.append("no run directory")
                continue
            try:
                tags = [_read_at(fd, "run.json")]  # first run.json: a run being deleted has lost it
                tags += [_read_at(fd, name) for name in os.listdir(fd)]
            except FileNotFoundError:  # the pinned old run is being deleted after the swap: retry
                continue
            except Exception as err:  # anything else is a failure of the test, not of the thread
                problems.append(repr(err))
                return
            finally:
                os.close(fd)
            if len(set(tags)) > 1:
                problems.append(f"mixed: {sorted(set(tags))}")

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for i in range(1, 20):
            make_run(tmp_path, "2026", f"v{i}", n_files=10)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not problems, problems[:5]
    assert visible(tmp_path) == ["2026"]


def test_the_run_path_never_goes_missing_during_replacement(tmp_path: Path, monkeypatch):
    """Before and after every rename the publication makes, ``OUT/2026/run.json`` exists."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    if not rundir.exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("renameat2(RENAME_EXCHANGE) unavailable here: the fallback has a gap by design")
    make_run(tmp_path / "out", "2026", "old")
    marker = tmp_path / "out" / "2026" / "run.json"
    seen: list[tuple[str, bool]] = []

    def watched(name, func):
        def call(*args, **kwargs):
            seen.append((name, marker.exists()))
            result = func(*args, **kwargs)
            seen.append((f"after {name}", marker.exists()))
            return result
        return call

    monkeypatch.setattr(rundir, "exchange", watched("exchange", rundir.exchange))
    monkeypatch.setattr(rundir.os, "replace", watched("replace", os.replace))
    make_run(tmp_path / "out", "2026", "new")
    assert seen and all(present for _, present in seen), seen
    assert marker.read_text() == "new"


def _read_at(dir_fd: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, 100).decode()
    finally:
        os.close(fd)


def test_stale_staging_of_a_dead_run_is_removed(tmp_path: Path):
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".2026.tmp-{rundir._host_tag()}-{dead}-abc"
    alive = tmp_path / f".2026.tmp-{rundir._host_tag()}-{os.getpid()}-xyz"
    other_host = tmp_path / f".2026.tmp-otherhost-{dead}-abc"
    for d in (stale, alive, other_host):
        d.mkdir()
    assert remove_stale(tmp_path, "2026") == [stale]
    assert not stale.exists() and alive.exists() and other_host.exists()


def test_publish_into_place_without_previous_run(tmp_path: Path):
    staging = tmp_path / ".x"
    staging.mkdir()
    (staging / "run.json").write_text("{}")
    publish(staging, tmp_path / "2026")
    assert visible(tmp_path) == ["2026"]
