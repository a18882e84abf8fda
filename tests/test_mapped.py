"""Passes over memory-mapped arrays (alden.data.mapped): the same values as in memory, and
released pages read back unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from alden.data.mapped import release, row_blocks, value_range


@pytest.fixture
def stored(tmp_path):
    x = np.random.default_rng(0).integers(-5, 1000, size=(1000, 7))
    np.save(tmp_path / "x.npy", x)
    return x, tmp_path / "x.npy"


def test_row_blocks_cover_the_rows_in_order(stored):
    x, path = stored
    mapped = np.load(path, mmap_mode="r")
    blocks = list(row_blocks(mapped, rows=300))
    assert [start for start, _ in blocks] == [0, 300, 600, 900]
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), x)
    np.testing.assert_array_equal(blocks[0][1], x[:300])  # still readable after the release
    assert [len(b) for _, b in row_blocks(x, rows=400)] == [400, 400, 200]  # in memory


def test_value_range_of_mapped_and_in_memory_arrays(stored):
    x, path = stored
    assert value_range(np.load(path, mmap_mode="r")) == (int(x.min()), int(x.max()))
    assert value_range(x[:5]) == (int(x[:5].min()), int(x[:5].max()))
    with pytest.raises(ValueError, match="empty"):
        value_range(np.zeros((3, 0)))


def test_release_leaves_every_view_readable_and_a_private_copy_alone(stored):
    x, path = stored
    mapped = np.load(path, mmap_mode="r")
    view = np.asarray(mapped)[10:20, 2:]  # a plain ndarray view of the mapping
    assert int(mapped.sum()) == int(x.sum())
    release(view)
    release(mapped)
    np.testing.assert_array_equal(view, x[10:20, 2:])
    np.testing.assert_array_equal(mapped, x)
    private = np.load(path, mmap_mode="c")  # copy-on-write: its changes live in its pages
    private[0, 0] = -99
    release(private)
    assert private[0, 0] == -99
    release(x)  # in memory: nothing to do
