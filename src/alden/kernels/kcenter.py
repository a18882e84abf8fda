"""Greedy k-center (CORESET, Sener & Savarese 2018; DAMI) and k-means++ seeding (BADGE, Ash
et al. 2020). Pure NumPy; ties go to the smallest index."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from alden.errors import AldenError
from alden.kernels import common
from alden.kernels.common import check_k, labeled_indices, sq_dist_to_rows


def kcenter_greedy(features: np.ndarray, labeled: Sequence[int] | np.ndarray,
                   k: int) -> list[int]:
    """Greedy k-center: each pick is the point farthest from every labeled-or-picked point.

    Ties go to the smallest index. With nothing labeled the first pick is the point nearest
    the features' mean (ties: smallest index), a deterministic, central start.
    """
    return kcenter_greedy_picks(features, labeled, k)[0]


def _first_near(values: np.ndarray, target: float, rtol: float = 1e-9) -> int:
    """Smallest index whose value equals ``target`` up to rounding: exact ties of distances
    computed in different orders differ in the last bits, and the tie rule is the index."""
    tol = rtol * abs(target) + 1e-12
    return int(np.flatnonzero(np.abs(values - target) <= tol)[0])


def kcenter_greedy_picks(features: np.ndarray, labeled: Sequence[int] | np.ndarray,
                         k: int) -> tuple[list[int], np.ndarray]:
    """:func:`kcenter_greedy`'s picks and each one's distance to the nearest
    labeled-or-picked point when picked (the first pick of an empty labeled set: its
    distance to the mean). Keeps one running minimum distance per point: O(N F) a pick."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise AldenError(f"features must be (N, F), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AldenError("features contain NaN or infinite values")
    lab = labeled_indices(labeled, len(x))
    k = check_k(k, len(x) - lab.size)
    x_sq = np.einsum("ij,ij->i", x, x)
    min_sq = np.full(len(x), np.inf)
    step = max(1, common.BLOCK // max(1, len(x)))
    for s in range(0, lab.size, step):
        min_sq = np.minimum(min_sq, sq_dist_to_rows(x, x_sq, lab[s:s + step]).min(axis=1))
    min_sq[lab] = -np.inf
    picks: list[int] = []
    dists = np.empty(k)
    with threadpool_limits(limits=1, user_api="blas"):  # one matrix-vector product a pick
        for step_no in range(k):
            if lab.size == 0 and step_no == 0:
                diff = x - x.mean(axis=0)
                centre_sq = np.einsum("ij,ij->i", diff, diff)
                i = _first_near(centre_sq, centre_sq.min())
                dists[0] = np.sqrt(centre_sq[i])
            else:
                i = _first_near(min_sq, min_sq.max())
                dists[step_no] = np.sqrt(min_sq[i])
            picks.append(i)
            np.minimum(min_sq, sq_dist_to_rows(x, x_sq, np.array([i]))[:, 0], out=min_sq)
            min_sq[i] = -np.inf
    return picks, dists


def kmeans_pp(features: np.ndarray, k: int, rng: np.random.Generator
              ) -> tuple[list[int], np.ndarray]:
    """k-means++ seeding as BADGE uses it: the row of largest norm first, then D^2 sampling.

    Returns the picked rows in order and each one's distance to the nearest earlier pick
    when picked (the first: its norm). Ties on the first pick: smallest index. If every
    remaining row coincides with a pick (all D = 0), the next is drawn uniformly.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise AldenError(f"features must be (N, F), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AldenError("features contain NaN or infinite values")
    k = check_k(k, len(x))
    picks: list[int] = []
    dists = np.empty(k)
    if k == 0:
        return picks, dists
    x_sq = np.einsum("ij,ij->i", x, x)
    i = int(np.argmax(x_sq))
    picks.append(i)
    dists[0] = np.sqrt(x_sq[i])
    min_sq = np.full(len(x), np.inf)
    chosen = np.zeros(len(x), dtype=bool)
    with threadpool_limits(limits=1, user_api="blas"):  # one matrix-vector product a pick
        for step_no in range(1, k):
            chosen[i] = True
            np.minimum(min_sq, sq_dist_to_rows(x, x_sq, np.array([i]))[:, 0], out=min_sq)
            min_sq[chosen] = 0.0
            total = min_sq.sum()
            if total > 0:
                i = int(rng.choice(len(x), p=min_sq / total))
            else:
                i = int(rng.choice(np.flatnonzero(~chosen)))
            picks.append(i)
            dists[step_no] = np.sqrt(min_sq[i])
    return picks, dists
