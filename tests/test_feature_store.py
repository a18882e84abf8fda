"""The per-item store of encoder embeddings (no encoder needed): keys ignore pads, writes
are whole, the folder stays under its limit by dropping the least recently used items of
all stores, a damaged file is begun anew."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from alden.errors import AldenError
from alden.models import feature_store
from alden.models.feature_store import FeatureStore, evict, item_keys, stores, summary

DIM = 384


def _items(start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((n, 6), dtype=np.int64)
    x[:, 0] = np.arange(start, start + n) + 1
    vectors = np.random.default_rng(start).standard_normal((n, DIM)).astype(np.float32)
    return x, vectors


def test_keys_ignore_trailing_pads_only():
    x = np.array([[5, 6, 0, 0], [5, 6, 0, 7], [5, 0, 6, 0], [0, 0, 0, 0]])
    keys = item_keys(x)
    assert keys[0] == item_keys(np.array([[5, 6]]))[0] == item_keys(np.pad(x[:1], 3)[3:4, 3:])[0]
    assert len(set(keys)) == 4 and all(len(k) == 16 for k in keys)


def test_store_returns_what_was_put(tmp_path):
    store = FeatureStore(tmp_path / "a.sqlite", DIM, "tiny (/models/tiny)")
    x, vectors = _items(0, 30)
    store.put(item_keys(x), vectors)
    keys = item_keys(x)
    found = store.get([keys[3], b"not there", keys[3], keys[0]])
    assert set(found) == {keys[3], keys[0]}
    np.testing.assert_array_equal(found[keys[3]], vectors[3])
    assert summary(tmp_path) == [("tiny (/models/tiny)", 30, pytest.approx(
        (tmp_path / "a.sqlite").stat().st_size))]
    assert FeatureStore(tmp_path / "a.sqlite", 16, "other width").get(keys) == {}


def test_the_least_recently_used_go_first_across_stores(tmp_path, monkeypatch):
    monkeypatch.setenv("ALDEN_CACHE_MAX_MB", "0.25")
    limit = feature_store.max_bytes()
    old, newer = FeatureStore(tmp_path / "a.sqlite", DIM, "a"), FeatureStore(
        tmp_path / "b.sqlite", DIM, "b")
    x_old, v_old = _items(0, 60)
    old.put(item_keys(x_old), v_old)
    x_read, v_read = _items(1000, 20)
    old.put(item_keys(x_read), v_read)
    monkeypatch.setattr(feature_store, "TOUCH_NS", 0)  # every read marks its items used
    assert len(old.get(item_keys(x_read))) == 20  # read again: now the most recent of a
    x_new, v_new = _items(2000, 60)
    newer.put(item_keys(x_new), v_new)  # 140 items of 1.5 KB: over 0.25 MB
    kept_old = old.get(item_keys(x_old))
    assert len(newer.get(item_keys(x_new))) == 60  # the newest all kept
    assert len(old.get(item_keys(x_read))) == 20  # read lately: kept
    assert 0 < len(kept_old) < 60 and set(kept_old) == set(item_keys(x_old)[-len(kept_old):])
    on_disk = sum(p.stat().st_size for p in stores(tmp_path))
    assert on_disk <= limit + 4 * 4096  # freed pages went back to the file system
    assert evict(tmp_path, limit) == 0


def test_a_damaged_store_is_begun_anew(tmp_path):
    path = tmp_path / "a.sqlite"
    store = FeatureStore(path, DIM, "a")
    x, vectors = _items(0, 200)
    store.put(item_keys(x), vectors)
    with open(path, "r+b") as f:  # overwrite pages in the middle of the file
        f.seek(8192)
        f.write(b"\xff" * 40_000)
    found = store.get(item_keys(x))
    assert found == {}  # nothing wrong trusted
    store.put(item_keys(x[:5]), vectors[:5])
    assert len(store.get(item_keys(x))) == 5
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    path.write_bytes(b"not a database at all" * 100)
    assert store.get(item_keys(x)) == {}
    store.put(item_keys(x[:2]), vectors[:2])
    assert len(store.get(item_keys(x))) == 2


def test_an_unwritable_store_is_skipped(tmp_path):
    (tmp_path / "file").write_text("a file where the folder should be")
    store = FeatureStore(tmp_path / "file" / "a.sqlite", DIM, "a")
    x, vectors = _items(0, 3)
    store.put(item_keys(x), vectors)  # nothing raised: the caller has its embeddings
    assert store.get(item_keys(x)) == {}


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_bad_limit_is_refused(monkeypatch, value):
    monkeypatch.setenv("ALDEN_CACHE_MAX_MB", value)
    with pytest.raises(AldenError, match="ALDEN_CACHE_MAX_MB"):
        feature_store.max_bytes()
