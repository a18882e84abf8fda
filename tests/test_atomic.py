"""Whole-or-nothing writes: the old file survives a failed write, no temporary file is left."""

from __future__ import annotations

import os

import pytest

from alden.atomic import replacing, write_atomic


def test_write_atomic_replaces_text_and_bytes(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    write_atomic(path, "héllo\n")
    assert path.read_bytes() == "héllo\n".encode()
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(path.parent) == ["out.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("disk full")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["results.csv"]


def test_replacing_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "shared.txt"
    path.write_text("a")
    path.chmod(0o664)
    write_atomic(path, "b")
    assert path.stat().st_mode & 0o777 == 0o664
    fresh = tmp_path / "fresh.txt"
    write_atomic(fresh, "c")
    assert fresh.stat().st_mode & 0o777 == 0o644
