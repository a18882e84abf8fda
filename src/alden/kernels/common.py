"""Shared pieces of the kernels: index checks and blocked distance computations.

Temporary arrays are cut into blocks of about ``BLOCK`` numbers, so memory stays bounded
whatever the pool size. Pure NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alden.errors import AldenError

BLOCK = 1 << 21  # numbers per temporary block (16 MiB of float64)


def labeled_indices(labeled: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """Validated, de-duplicated labeled indices."""
    idx = np.unique(np.asarray(labeled, dtype=np.int64).reshape(-1))
    if idx.size and (idx[0] < 0 or idx[-1] >= n):
        raise AldenError(f"labeled indices must lie in 0..{n - 1}; got {idx[0]}..{idx[-1]}")
    return idx


def check_k(k: int, available: int) -> int:
    if int(k) != k or k < 0:
        raise AldenError(f"the number of items to pick must be a whole number >= 0, got {k!r}")
    if k > available:
        raise AldenError(f"asked to pick {k} items but only {available} are unlabeled")
    return int(k)


def gather_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of the ranges [starts[i], starts[i] + counts[i]), vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.cumsum(counts) - counts  # where each range begins in the output
    return np.repeat(starts - first, counts) + np.arange(total)


def min_sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of ``a``, the smallest squared Euclidean distance to a row of ``b``.

    Differences, not the Gram expansion, so equal vectors give exactly 0 and ties are exact;
    meant for the few columns of interpretations (C values per token), one column at a time
    into reused blocks.
    """
    out = np.empty(len(a))
    step = max(1, BLOCK // max(1, len(b)))
    cols = np.ascontiguousarray(b.T, dtype=np.float64)  # float32 inputs: exact float64 values
    for s in range(0, len(a), step):
        block = a[s:s + step].astype(np.float64, copy=False)
        acc = np.subtract.outer(block[:, 0], cols[0])
        np.square(acc, out=acc)
        tmp = np.empty_like(acc)
        for c in range(1, a.shape[1]):
            np.subtract.outer(block[:, c], cols[c], out=tmp)
            np.square(tmp, out=tmp)
            acc += tmp
        out[s:s + step] = acc.min(axis=1)
    return out


def nearest_words(vectors: np.ndarray, vectors32: np.ndarray, sq_norms: np.ndarray,
                   queries: np.ndarray, refs: np.ndarray, bound: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the position in ``refs`` of its nearest row (ties: smallest
    position) and the distance; rows are indices into ``vectors``.

    The Gram expansion in float32 (``vectors32``) finds candidates fast (BLAS); the few
    within its rounding of the minimum are then compared on exact float64 differences, so
    ties are decided exactly. With ``bound``
    (one distance per query), queries that cannot come within it are skipped: their
    position is -1 and their distance inf.
    """
    idx = np.full(len(queries), -1, dtype=np.int64)
    dist = np.full(len(queries), np.inf)
    ref_vectors = vectors[refs]
    ref_single = vectors32[refs]
    ref_sq = sq_norms[refs]
    tol_ref = ref_sq.max()
    if len(refs) * len(vectors) <= BLOCK:  # few refs: one float32 pass over every row
        gram_all = vectors32 @ ref_single.T
        gram_all *= -2.0
        gram_all += sq_norms.astype(np.float32)[:, None]
        gram_all += ref_sq.astype(np.float32)[None, :]
        best_all = gram_all.min(axis=1)

        def gram_of(q: np.ndarray) -> np.ndarray:
            return gram_all[q]
    else:
        def gram_of(q: np.ndarray) -> np.ndarray:
            return sq_norms[q, None] + ref_sq[None, :] - 2.0 * (vectors32[q] @ ref_single.T)
    step = max(1, BLOCK // max(1, len(refs)))
    for s in range(0, len(queries), step):
        q = queries[s:s + step]
        tol = 1e-4 * (sq_norms[q] + tol_ref) + 1e-12  # float32 products: loose
        if bound is not None and len(refs) * len(vectors) <= BLOCK:
            # Most rows cannot come within their bound: drop them before any gathering.
            near = best_all[q] <= bound[s:s + step] ** 2 + tol
            q, tol = q[near], tol[near]
            offset = np.flatnonzero(near)
        else:
            offset = np.arange(len(q))
        gram = gram_of(q)
        best = gram.min(axis=1)
        keep = np.ones(len(q), dtype=bool) if bound is None else (
            best <= bound[s + offset] ** 2 + tol)
        kept = np.flatnonzero(keep)
        rows, cols = np.nonzero(gram[kept] <= (best[kept] + tol[kept])[:, None])
        rows = kept[rows]
        diff = vectors[q[rows]] - ref_vectors[cols]
        exact = np.einsum("ij,ij->i", diff, diff)
        order = np.lexsort((cols, exact, rows))  # by row, then distance, then position
        first = order[np.unique(rows[order], return_index=True)[1]]
        idx[s + offset[rows[first]]] = cols[first]
        dist[s + offset[rows[first]]] = np.sqrt(exact[first])
    return idx, dist


def sq_dist_to_rows(x: np.ndarray, x_sq: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Squared distances (N, len(rows)) from every point to the points ``rows`` (Gram)."""
    d2 = x_sq[:, None] + x_sq[None, rows] - 2.0 * (x @ x[rows].T)
    return np.maximum(d2, 0.0)
