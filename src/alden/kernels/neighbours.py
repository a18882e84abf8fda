"""Nearest neighbours of items in representation space: one index, exact or approximate.

``build_index`` takes an (N, d) array of item representations (pooled encoder embeddings,
sentence means of word vectors, table features) and ``knn`` answers the k nearest rows of
given rows (the row itself left out) or of query vectors, by cosine or Euclidean distance;
``within`` gives every stored row closer than a radius (always exact).

The exact path is blocked NumPy: float32 matrix products of about ``common.BLOCK`` numbers
find the candidates, every candidate within the products' rounding of the k-th is measured
again in float64, and ties go to the smaller index, so the same input gives the same
neighbours. Large pools use faiss's inverted-file index (``ivf``: k-means lists from a fixed
seed, the nearest lists searched) or hnswlib (``hnsw``: a graph built on one thread from a
fixed seed), each imported only when used; their candidates are re-measured and ordered
the same way. ``benchmarks/bench_neighbours.py`` chose ivf and where exact hands over
(``EXACT_MAX``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alden.errors import AldenError
from alden.kernels import common

METRICS = ("cosine", "euclidean")
BACKENDS = ("auto", "exact", "ivf", "hnsw")
# bench_neighbours.py, 1 thread, d=384: with every row asking for its 10 neighbours, exact
# costs 1.4 s at 10k rows and 310-540 s at 100k; ivf 8 s to build + 12 s to ask at 100k,
# recall@10 1.000; hnsw 40-72 s to build. Exact and ivf cost the same near 20k rows.
EXACT_MAX = 20_000  # up to this many rows "auto" is exact, above it ivf
IVF_LISTS = 4.0  # faiss IndexIVFFlat with IVF_LISTS * sqrt(N) lists ...
IVF_PROBE = 16  # ... of which each query searches IVF_PROBE
HNSW_M = 16  # hnswlib graph degree
HNSW_EF_BUILD = 200
HNSW_EF_QUERY = 100


@dataclass(frozen=True)
class NeighbourIndex:
    """Rows ready for neighbour queries: float32, unit length for cosine; ``native`` holds
    the hnswlib index when the backend is approximate."""

    x: np.ndarray = field(repr=False)  # (N, d) float32
    sq_norms: np.ndarray = field(repr=False)  # (N,) float64, of the stored rows
    metric: str
    backend: str
    # a faiss or hnswlib index: those libraries ship no types
    native: Any = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.x)


def as_rows(features: np.ndarray, metric: str) -> np.ndarray:
    """``features`` as the index stores them: checked, float32, unit length for cosine."""
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise AldenError(f"features must be (N, d), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AldenError("features contain NaN or infinite values")
    if metric == "cosine":  # norms in float64 without a float64 copy of the rows
        norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))[:, None]
        scale = np.where(norms > 0, norms, 1.0).astype(np.float32)  # zero rows stay zero
        return np.ascontiguousarray(x / scale, dtype=np.float32)
    return np.ascontiguousarray(x)


def build_index(features: np.ndarray, *, metric: str = "cosine", backend: str = "auto",
                seed: int = 0) -> NeighbourIndex:
    """An index over ``features`` (N, d). ``backend``: "exact", "ivf" (faiss), "hnsw"
    (hnswlib), or "auto" (exact up to ``EXACT_MAX`` rows, ivf above). ``seed`` fixes the
    ivf lists and the hnsw graph."""
    if metric not in METRICS:
        raise AldenError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if backend not in BACKENDS:
        raise AldenError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    x = as_rows(features, metric)
    if backend == "auto":
        backend = "exact" if len(x) <= EXACT_MAX else "ivf"
    if not len(x):
        backend = "exact"
    sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    build = {"exact": None, "ivf": _build_ivf, "hnsw": _build_hnsw}[backend]
    native = build(x, metric, seed) if build else None
    return NeighbourIndex(x, sq, metric, backend, native)


def _build_ivf(x: np.ndarray, metric: str, seed: int) -> object:
    try:
        import faiss
    except ImportError:
        raise AldenError("the ivf neighbour index needs faiss: pip install faiss-cpu "
                         "(or use backend='exact')") from None
    lists = max(1, min(len(x), int(IVF_LISTS * np.sqrt(len(x)))))
    inner = metric == "cosine"  # unit rows: the largest inner product is the nearest
    kind = faiss.METRIC_INNER_PRODUCT if inner else faiss.METRIC_L2
    quantizer = faiss.IndexFlatIP(x.shape[1]) if inner else faiss.IndexFlatL2(x.shape[1])
    index = faiss.IndexIVFFlat(quantizer, x.shape[1], lists, kind)
    index.cp.seed = int(seed)  # the k-means that makes the lists
    index.train(x)
    index.add(x)
    index.nprobe = min(IVF_PROBE, lists)
    return index


def _build_hnsw(x: np.ndarray, metric: str, seed: int) -> object:
    try:
        import hnswlib
    except ImportError:
        raise AldenError("the hnsw neighbour index needs hnswlib: pip install hnswlib "
                         "(or use backend='exact')") from None
    index = hnswlib.Index(space="cosine" if metric == "cosine" else "l2", dim=x.shape[1])
    index.init_index(max_elements=len(x), ef_construction=HNSW_EF_BUILD, M=HNSW_M,
                     random_seed=int(seed))
    index.add_items(x, np.arange(len(x)), num_threads=1)  # one thread: the same graph
    return index


def knn(index: NeighbourIndex, k: int, *, rows: np.ndarray | None = None,
        queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest stored rows, nearest first: (indices (m, k) int64, distances (m, k)).

    Give ``rows`` (positions in the index; each row's own position is left out, its
    duplicates are not) or ``queries`` (m, d) vectors; neither: every row. Distances are
    1 - cosine similarity (as half the squared distance of the unit rows, so
    duplicates are exactly 0 apart; a zero row is 0.5 from unit rows) or Euclidean, in
    float64; ties go to the smaller index. ``k`` is
    cut to the rows available (N, or N - 1 for rows).
    """
    if rows is not None and queries is not None:
        raise AldenError("give rows or queries, not both")
    n = len(index)
    if queries is not None:
        q = as_rows(queries, index.metric)
        if q.shape[1] != index.x.shape[1]:
            raise AldenError(f"queries have {q.shape[1]} columns, the index {index.x.shape[1]}")
        own = None
    else:
        own = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        if own.size and (own.min() < 0 or own.max() >= n):
            raise AldenError(f"rows must lie in 0..{n - 1}")
        q = index.x[own]
    if int(k) != k or k < 0:
        raise AldenError(f"k must be a whole number >= 0, got {k!r}")
    k = min(int(k), n - (own is not None))
    if k <= 0 or len(q) == 0:
        return np.zeros((len(q), max(k, 0)), dtype=np.int64), np.zeros((len(q), max(k, 0)))
    if index.backend != "exact":
        return _knn_approximate(index, q, own, k)
    return _knn_exact(index, q, own, k)


def _scores(index: NeighbourIndex, q: np.ndarray) -> np.ndarray:
    """float32 (m, N): squared distance to each stored row less |q|^2 (both metrics: the
    cosine distance is half the squared distance of the unit rows)."""
    gram = q @ index.x.T
    gram *= -2.0
    gram += index.sq_norms.astype(np.float32)[None, :]
    return gram


def _knn_exact(index: NeighbourIndex, q: np.ndarray, own: np.ndarray | None,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(index)
    q_sq = np.einsum("ij,ij->i", q, q, dtype=np.float64)
    out_idx = np.empty((len(q), k), dtype=np.int64)
    out_dist = np.empty((len(q), k))
    step = max(1, common.BLOCK // max(1, n))
    for s in range(0, len(q), step):
        block = _scores(index, q[s:s + step])
        m = len(block)
        if own is not None:
            block[np.arange(m), own[s:s + step]] = np.inf
        kth = np.partition(block, k - 1, axis=1)[:, k - 1].astype(np.float64)
        # float32 products: everything within their rounding of the k-th is measured again
        tol = 1e-4 * (q_sq[s:s + step] + index.sq_norms.max()) + 1e-12
        r, c = np.nonzero(block <= (kth + tol)[:, None])
        out_idx[s:s + m], out_dist[s:s + m] = _refine(index, q[s:s + step], r, c, k)
    return out_idx, out_dist


def _refine(index: NeighbourIndex, q: np.ndarray, r: np.ndarray, c: np.ndarray,
            k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` candidates (r: query, c: stored row) of each query by float64
    distance, then index; every query has at least ``k`` candidates."""
    dist = _measure(index, q[r], c)
    order = np.lexsort((c, dist, r))
    starts = np.searchsorted(r[order], np.arange(len(q)))
    take = order[starts[:, None] + np.arange(k)[None, :]]
    return c[take], dist[take]


def _measure(index: NeighbourIndex, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float64 distances between vectors ``a`` and the stored rows ``c``, pair by pair from
    differences, so equal rows are exactly 0 apart (cosine: half the squared distance of the
    unit rows, which is 1 - cosine similarity)."""
    diff = a.astype(np.float64) - index.x[c].astype(np.float64)
    sq = np.einsum("ij,ij->i", diff, diff)
    return 0.5 * sq if index.metric == "cosine" else np.sqrt(sq)


def _knn_approximate(index: NeighbourIndex, q: np.ndarray, own: np.ndarray | None,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from the library index, re-measured and ordered as the exact path does.
    A row the library could not fill (-1 from faiss) is asked again exactly."""
    native = index.native
    want = min(k + (own is not None), len(index))
    if index.backend == "hnsw":
        native.set_ef(max(HNSW_EF_QUERY, want))
        labels = native.knn_query(q, k=want)[0].astype(np.int64)
    else:
        labels = native.search(q, want)[1].astype(np.int64)
    short = (labels < 0).any(axis=1)
    if short.any():  # too few points in the probed lists
        labels[short] = _knn_exact(index, q[short], None, want)[0]
    if own is not None:  # leave the row itself out, or the farthest when it was not found
        is_self = labels == own[:, None]
        missing = ~is_self.any(axis=1)
        is_self[missing, -1] = True
        labels = labels[~is_self].reshape(len(q), want - 1)
    r = np.repeat(np.arange(len(q)), labels.shape[1])
    return _refine(index, q, r, labels.reshape(-1), k)


def within(index: NeighbourIndex, radius: float, rows: np.ndarray) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Every pair (position in ``rows``, stored row) at distance < ``radius``, the row itself
    included, sorted; exact whatever the backend (blocked products, the pairs within their
    rounding of the radius measured again in float64 the way ``knn`` measures). Memory
    grows with the pairs found: ask for a block of rows at a time on dense data."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    n = len(index)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise AldenError(f"rows must lie in 0..{n - 1}")
    cosine = index.metric == "cosine"
    limit = 2.0 * float(radius) if cosine else float(radius) ** 2  # on squared distances
    found_r, found_c = [], []
    step = max(1, common.BLOCK // max(1, n))
    for s in range(0, len(rows), step):
        part = rows[s:s + step]
        approx = _scores(index, index.x[part]).astype(np.float64)
        approx += index.sq_norms[part][:, None]  # squared distances
        tol = 1e-4 * (index.sq_norms[part][:, None] + index.sq_norms.max()) + 1e-12
        inside = approx < limit - tol
        r, c = np.nonzero(~inside & (approx < limit + tol))  # too close to call: measure
        keep = _measure(index, index.x[part[r]], c) < radius
        inside[r[keep], c[keep]] = True
        r, c = np.nonzero(inside)
        found_r.append(r + s)
        found_c.append(c)
    if not found_r:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(found_r), np.concatenate(found_c)
