"""run.json's input manifest: sizes and SHA-256 of every input used, hashed in the background."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pipelines.outputs import InputHasher, input_manifest


def _files(root: Path) -> list[Path]:
    paths = []
    for i, size in enumerate((0, 10, 3 * 2**20 + 7)):
        path = root / "sub" / f"f{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def test_manifest_lists_relative_paths_sizes_and_digests(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.bin"
    outside.write_bytes(b"abc")
    rows = input_manifest([*paths, paths[0], outside], tmp_path)
    assert sorted(r["path"] for r in rows) == sorted(["sub/f0.bin", "sub/f1.bin", "sub/f2.bin", str(outside)])
    by_path = {r["path"]: r for r in rows}
    for path in paths:
        row = by_path[str(path.relative_to(tmp_path))]
        assert row["bytes"] == path.stat().st_size
        assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert by_path[str(outside)]["sha256"] == hashlib.sha256(b"abc").hexdigest()
    outside.unlink()


def test_background_digests_are_reused_and_changed_files_hashed_again(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    hasher = InputHasher()
    hasher.start(paths)
    hasher.sha256(paths[0])  # waits for the background pass: every file hashed once
    paths[1].write_bytes(b"changed after the hasher ran, longer than before")
    rows = {r["path"]: r["sha256"] for r in input_manifest(paths, tmp_path, hasher)}
    for path in paths:
        assert rows[str(path.relative_to(tmp_path))] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_that_vanished_is_reported_at_the_end(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    gone = tmp_path / "gone.bin"
    hasher = InputHasher()
    hasher.start([*paths, gone])
    with pytest.raises(FileNotFoundError, match="gone.bin"):
        input_manifest([*paths, gone], tmp_path, hasher)
