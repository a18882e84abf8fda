"""`alden cache`: each folder of the cache with its size and entries (encoder features by
encoder and items), and --clear by folder or all but the downloaded encoders."""

from __future__ import annotations

import numpy as np

from alden.cli import main
from alden.models.feature_store import FOLDER, FeatureStore, item_keys


def _fill(root):
    for name in ("a1", "b2"):
        (root / "word2vec" / name).mkdir(parents=True)
        (root / "word2vec" / name / "vectors.npy").write_bytes(b"0" * 3000)
    (root / "encoders" / "minilm").mkdir(parents=True)
    x = np.arange(1, 21).reshape(10, 2)
    FeatureStore(root / FOLDER / "m.sqlite", 8, "minilm (/models/minilm)").put(
        item_keys(x), np.ones((10, 8), np.float32))
    (root / FOLDER / "0123.npy").write_bytes(b"old")


def test_cache_shows_each_folder(private_cache, capsys):
    assert main(["cache"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"alden's cache: {private_cache}", "  empty"]
    _fill(private_cache)
    assert main(["cache"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"  {FOLDER}: ")
    assert "10 items of 1 encoder (at most 2 GB" in lines[1]
    assert lines[2].startswith("    minilm (/models/minilm): 10 items, ")
    assert lines[3] == "    1 file of an earlier version (removed on the next use)"
    assert lines[4] == "  encoders: 0 bytes, 1 entry (downloaded sentence encoders)"
    assert lines[5].startswith("  word2vec: 5.9 KB, 2 entries (word2vec vectors")


def test_cache_clear_by_folder_and_all(private_cache, capsys):
    _fill(private_cache)
    assert main(["cache", "--clear", "--what", FOLDER]) == 0
    assert capsys.readouterr().out.startswith(f"removed {private_cache / FOLDER} (")
    assert sorted(p.name for p in private_cache.iterdir()) == ["encoders", "word2vec"]
    assert main(["cache", "--clear"]) == 0  # all: everything made again when needed
    assert sorted(p.name for p in private_cache.iterdir()) == ["encoders"]
    assert main(["cache", "--clear", "--what", "word2vec"]) == 0
    assert capsys.readouterr().out.endswith(f"nothing to remove under {private_cache}\n")
    assert main(["cache", "--clear", "--what", "encoders"]) == 0
    assert list(private_cache.iterdir()) == []
