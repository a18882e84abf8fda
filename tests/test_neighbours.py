"""The neighbourhood index against brute force: every pair measured, sorted by (distance,
index)."""

import math

import numpy as np
import pytest

from alden.errors import AldenError
from alden.kernels import common
from alden.kernels.neighbours import build_index, knn


def brute_knn(x: np.ndarray, k: int, metric: str, rows=None, queries=None):
    """Straight from the definition: all distances in float64, ties to the smaller index."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    if queries is not None:
        q = np.asarray(queries, dtype=np.float32).astype(np.float64)
        if metric == "cosine":
            norms = np.linalg.norm(q, axis=1, keepdims=True)
            q = q / np.where(norms > 0, norms, 1.0)
        own = [None] * len(q)
    else:
        own = list(range(len(x))) if rows is None else list(rows)
        q = x[own]
    out_i, out_d = [], []
    for a, me in zip(q, own, strict=True):
        cands = []
        for j, b in enumerate(x):
            if j == me:
                continue
            sq = float(np.sum((a - b) ** 2))  # cosine: 1 - a.b = |a - b|^2 / 2 on unit rows
            cands.append((0.5 * sq if metric == "cosine" else math.sqrt(sq), j))
        cands.sort()
        out_i.append([j for _, j in cands[:k]])
        out_d.append([d for d, _ in cands[:k]])
    return np.array(out_i, dtype=np.int64).reshape(len(q), -1), np.array(out_d).reshape(len(q), -1)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_matches_brute_force_on_random_rows(metric, seed):
    x = np.random.default_rng(seed).standard_normal((60, 7)).astype(np.float32)
    index = build_index(x, metric=metric, backend="exact")
    idx, dist = knn(index, 5)
    want_i, want_d = brute_knn(x, 5, metric)
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_allclose(dist, want_d, atol=1e-6)


def test_ties_go_to_the_smaller_index():
    # Integer points on a small grid: many equal Euclidean distances, and duplicates.
    x = np.random.default_rng(3).integers(0, 3, size=(40, 3)).astype(np.float32)
    index = build_index(x, metric="euclidean", backend="exact")
    idx, dist = knn(index, 8)
    want_i, want_d = brute_knn(x, 8, "euclidean")
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_array_equal(dist, want_d)


def test_duplicates_are_neighbours_at_distance_zero_but_not_self():
    x = np.array([[1, 0], [0, 1], [1, 0], [1, 0], [2, 0.1]], dtype=np.float32)
    idx, dist = knn(build_index(x, metric="cosine", backend="exact"), 2, rows=[2])
    np.testing.assert_array_equal(idx, [[0, 3]])
    np.testing.assert_array_equal(dist, [[0.0, 0.0]])


def test_queries_and_subsets_of_rows():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 6))
    q = rng.standard_normal((9, 6))
    for metric in ("cosine", "euclidean"):
        index = build_index(x, metric=metric, backend="exact")
        np.testing.assert_array_equal(knn(index, 4, queries=q)[0],
                                      brute_knn(x, 4, metric, queries=q)[0])
        np.testing.assert_array_equal(knn(index, 4, rows=[7, 0, 7])[0],
                                      brute_knn(x, 4, metric, rows=[7, 0, 7])[0])


def test_blocks_do_not_change_the_answer(monkeypatch):
    x = np.random.default_rng(5).standard_normal((80, 5))
    whole = knn(build_index(x, backend="exact"), 6)
    monkeypatch.setattr(common, "BLOCK", 100)  # one or two rows a block
    np.testing.assert_array_equal(knn(build_index(x, backend="exact"), 6)[0], whole[0])


def test_k_is_cut_to_what_is_there_and_k_zero_is_empty():
    x = np.random.default_rng(6).standard_normal((5, 3))
    index = build_index(x, backend="exact")
    assert knn(index, 10)[0].shape == (5, 4)
    assert knn(index, 10, queries=x[:2])[0].shape == (2, 5)
    assert knn(index, 0)[0].shape == (5, 0)
    assert knn(build_index(x[:1]), 3)[0].shape == (1, 0)


def test_bad_input_is_refused():
    x = np.ones((4, 2))
    with pytest.raises(AldenError):
        build_index(x, metric="manhattan")
    with pytest.raises(AldenError):
        build_index(np.array([[np.nan, 1.0]]))
    with pytest.raises(AldenError):
        knn(build_index(x), 2, rows=[4])
    with pytest.raises(AldenError):
        knn(build_index(x), 2, queries=np.ones((1, 3)))


@pytest.mark.parametrize("backend,module", [("hnsw", "hnswlib"), ("ivf", "faiss")])
def test_approximate_backends_agree_with_exact_and_repeat_themselves(backend, module):
    pytest.importorskip(module)
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((5, 16))
    x = (centres[rng.integers(5, size=400)] + 0.3 * rng.standard_normal((400, 16)))
    exact = knn(build_index(x, backend="exact"), 10)
    first = knn(build_index(x, backend=backend, seed=3), 10)
    again = knn(build_index(x, backend=backend, seed=3), 10)
    np.testing.assert_array_equal(first[0], again[0])
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(first[0], exact[0],
                                                                 strict=True)])
    assert recall > 0.98
    hit = first[0] == exact[0]
    np.testing.assert_allclose(first[1][hit], exact[1][hit])  # same distances, re-measured
    for metric in ("cosine", "euclidean"):
        ans = knn(build_index(x, metric=metric, backend=backend), 3, queries=x[:5] + 1e-3)
        assert (ans[0][:, 0] == np.arange(5)).all()
        rows = knn(build_index(x, metric=metric, backend=backend), 4, rows=[9, 2])
        np.testing.assert_array_equal(rows[0], knn(build_index(x, metric=metric), 4,
                                                   rows=[9, 2])[0])


def test_auto_is_exact_for_small_pools(monkeypatch):
    from alden.kernels import neighbours

    x = np.random.default_rng(9).standard_normal((30, 4))
    assert build_index(x).backend == "exact"
    pytest.importorskip("faiss")
    monkeypatch.setattr(neighbours, "EXACT_MAX", 10)
    assert build_index(x).backend == "ivf"


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_within_matches_brute_force_at_and_near_the_radius(metric):
    from alden.kernels.neighbours import within

    x = np.random.default_rng(8).integers(0, 3, size=(30, 3)).astype(np.float32)
    x[4] = 0  # a zero row: under cosine 0.5 from unit rows
    index = build_index(x, metric=metric, backend="exact")
    rows64 = index.x.astype(np.float64)  # the stored rows (unit length for cosine)
    full = np.array([[float(np.sum((a - b) ** 2)) for b in rows64] for a in rows64])
    full = 0.5 * full if metric == "cosine" else np.sqrt(full)
    rows = np.array([3, 0, 17, 4])
    for radius in np.unique(full)[:6].tolist() + [0.0, 10.0]:  # radii equal to pair distances
        r, c = within(index, radius, rows)
        want = [(p, j) for p, i in enumerate(rows) for j in range(30) if full[i, j] < radius]
        assert list(zip(r.tolist(), c.tolist(), strict=True)) == want
