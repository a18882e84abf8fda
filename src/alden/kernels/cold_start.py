"""First batches without labels: TypiClust (typical points of uncovered clusters) and
ProbCover (greedy coverage of delta-balls). Pure NumPy plus scikit-learn's KMeans, seeded
from the generator passed in; neighbour searches go through ``kernels.neighbours``.

Both return :class:`BatchPicks`: global positions in pick order and, per pick, the number a
reason shows (TypiClust: the size of the pick's cluster, "typical of a group of 84 similar
texts no one has labeled"; ProbCover: how many items it newly covers).
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alden.errors import AldenError
from alden.kernels import common
from alden.kernels.common import check_k, labeled_indices
from alden.kernels.neighbours import NeighbourIndex, as_rows, build_index, knn, within

_SEED_MAX = 2**32 - 1  # scikit-learn's random_state takes ints in [0, 2**32 - 1]
MIN_CLUSTER_SIZE = 5  # TypiClust skips clusters this small or smaller (the authors' code)
MAX_CLUSTERS = 500  # ... and makes at most this many


@dataclass(frozen=True)
class BatchPicks:
    """Picks in order (global positions), each one's explanation value, and its group
    (the cluster it stands for; -1 where the method has none)."""

    indices: np.ndarray = field(repr=False)  # (k,) int64
    values: np.ndarray = field(repr=False)  # (k,) float64
    groups: np.ndarray = field(repr=False)  # (k,) int64

    def __len__(self) -> int:
        return len(self.indices)


def _empty() -> BatchPicks:
    return BatchPicks(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))


def kmeans_labels(x: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster of each row by scikit-learn's KMeans (k-means++, 3 starts), seeded from ``rng``.
    Fewer distinct rows than clusters leaves some clusters empty (no warning)."""
    from sklearn.cluster import KMeans

    n_clusters = max(1, min(int(n_clusters), len(x)))
    model = KMeans(n_clusters=n_clusters, n_init=3, random_state=int(rng.integers(_SEED_MAX)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: fewer distinct points
        return model.fit_predict(x).astype(np.int64)


def typicality(x: np.ndarray, clusters: np.ndarray, neighbours: int = 20) -> np.ndarray:
    """Hacohen et al.'s typicality of each row within its cluster: the inverse of the mean
    Euclidean distance to its ``min(neighbours, size // 2)`` nearest other members (the
    official code's rule: half the cluster at most, so a small cluster's typical point is
    central, not one of a close pair). A row alone in its cluster gets 0; a row whose
    neighbours all coincide with it, inf."""
    out = np.zeros(len(x))
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        if len(members) < 2:
            continue
        index = build_index(x[members], metric="euclidean", backend="auto")
        _, dist = knn(index, min(neighbours, len(members) // 2))
        mean = dist.mean(axis=1)
        with np.errstate(divide="ignore"):
            out[members] = np.where(mean > 0, 1.0 / mean, np.inf)
    return out


def typiclust(features: np.ndarray, k: int, rng: np.random.Generator, *,
              labeled: Sequence[int] | np.ndarray = (), neighbours: int = 20,
              min_cluster_size: int = MIN_CLUSTER_SIZE, max_clusters: int = MAX_CLUSTERS,
              metric: str = "euclidean") -> BatchPicks:
    """TypiClust (Hacohen, Dekel & Weinshall, "Active Learning on a Budget: Opposite
    Strategies Suit High and Low Budgets", ICML 2022): k-means into ``len(labeled) + k``
    clusters (at most ``max_clusters``), then the most typical point (:func:`typicality`)
    of each uncovered cluster, largest clusters first. A low budget is best spent on
    typical, dense-region examples, not outliers. Clusters of ``min_cluster_size`` items or
    fewer are skipped, as the authors' code does (its MIN_CLUSTER_SIZE = 5, MAX_NUM_CLUSTERS
    = 500): k-means gives outliers clusters of their own, and one pick each would bring
    them back. Values: each pick's cluster size.

    ``metric="cosine"`` scales rows to unit length first. ``k`` may not exceed the unlabeled
    count (``AldenError``). Clusters without a labeled point or pick come first (largest,
    then lower cluster number); once every cluster is covered, the one with the fewest is
    chosen again, so duplicate rows (fewer clusters than asked) still give ``k`` picks.
    Points of skipped clusters are picked only once no other point is left.
    """
    x = as_rows(features, metric)
    lab = labeled_indices(labeled, len(x))
    k = check_k(k, len(x) - lab.size)
    if k == 0:
        return _empty()
    clusters = kmeans_labels(x, min(lab.size + k, max_clusters), rng)
    small = np.bincount(clusters)[clusters] <= min_cluster_size
    clusters = np.where(small, -1, clusters)  # -1: skipped, see typical_picks
    return typical_picks(x, clusters, k, labeled=lab, neighbours=neighbours)


def typical_picks(features: np.ndarray, clusters: np.ndarray, k: int, *,
                  labeled: Sequence[int] | np.ndarray = (), neighbours: int = 20
                  ) -> BatchPicks:
    """TypiClust's choice given the clusters: repeatedly the cluster with the fewest labeled
    or picked points (ties: the largest, then the lower number), its most typical unpicked
    point (ties: the smaller index). Points of a negative cluster number are skipped ones,
    picked only when every other is taken. Values: cluster sizes; groups: cluster numbers."""
    x = as_rows(features, "euclidean")
    clusters = np.asarray(clusters, dtype=np.int64).reshape(-1)
    if clusters.shape != (len(x),):
        raise AldenError(f"need one cluster number per row: {clusters.shape} for {len(x)} rows")
    lab = labeled_indices(labeled, len(x))
    k = check_k(k, len(x) - lab.size)
    typ = typicality(x, clusters, neighbours)
    free = np.ones(len(x), dtype=bool)
    free[lab] = False
    ids, number = np.unique(clusters, return_inverse=True)  # clusters as 0..C-1
    sizes = np.bincount(number, minlength=len(ids))
    taken = np.bincount(number[lab], minlength=len(ids))
    order = np.lexsort((np.arange(len(x)), -typ, number))  # by cluster, most typical first
    order = order[free[order]]
    starts = np.searchsorted(number[order], np.arange(len(ids) + 1))
    heap = [(int(ids[c] < 0), int(taken[c]), -int(sizes[c]), c) for c in range(len(ids))
            if starts[c] < starts[c + 1]]
    heapq.heapify(heap)
    picks: list[int] = []
    values: list[int] = []
    groups: list[int] = []
    while len(picks) < k:
        skipped, count, neg_size, c = heapq.heappop(heap)
        picks.append(int(order[starts[c]]))
        values.append(-neg_size)
        groups.append(int(ids[c]))
        starts[c] += 1
        if starts[c] < starts[c + 1]:
            heapq.heappush(heap, (skipped, count + 1, neg_size, c))
    return BatchPicks(np.array(picks, np.int64), np.array(values, float),
                      np.array(groups, np.int64))


def purity_delta(features: np.ndarray, clusters: np.ndarray, purity: float = 0.95,
                 metric: str = "euclidean") -> float:
    """ProbCover's radius: the largest delta such that at least ``purity`` of the points have
    a ball {x': d(x, x') < delta} holding only points of their own cluster (Yehuda et al.'s
    purity rule, with k-means clusters standing in for the classes). A point's ball is pure
    up to its distance to the nearest point of another cluster, so the answer is that
    distance's ceil(purity N)-th largest value: exact, no grid of deltas."""
    if not 0 < purity <= 1:
        raise AldenError(f"purity must be in (0, 1], got {purity}")
    x = as_rows(features, metric)
    clusters = np.asarray(clusters).reshape(-1)
    other = np.full(len(x), np.inf)
    for c in np.unique(clusters):
        inside = clusters == c
        if inside.all():
            break
        index = build_index(x[~inside], metric="euclidean", backend="auto")
        other[inside] = knn(index, 1, queries=x[inside])[1][:, 0]
    ranked = np.sort(other)[::-1]
    return float(ranked[math.ceil(purity * len(x)) - 1])


def probcover(features: np.ndarray, k: int, delta: float | None = None, *,
              rng: np.random.Generator, labeled: Sequence[int] | np.ndarray = (),
              purity: float = 0.95, classes: int = 2, metric: str = "euclidean"
              ) -> BatchPicks:
    """ProbCover (Yehuda, Dekel, Hacohen & Weinshall, "Active Learning Through a Covering
    Lens", NeurIPS 2022): each point covers the points within ``delta`` of it (itself
    included); points covered by a labeled one are covered already; each pick is the
    point covering the most uncovered points (ties: smaller index), until all are covered,
    then uniform draws from ``rng``. Maximising the probability mass covered bounds the
    error of a 1-nearest-neighbour learner, which suits tiny budgets.

    Without ``delta``, :func:`purity_delta` over k-means into ``classes`` clusters (the
    paper: as many as the classes) picks it. Values: how many points each pick newly
    covered. Exact balls on blocked products; memory stays within a block of rows.
    """
    x = as_rows(features, metric)
    lab = labeled_indices(labeled, len(x))
    k = check_k(k, len(x) - lab.size)
    if k == 0:
        return _empty()
    if delta is None:
        delta = purity_delta(x, kmeans_labels(x, classes, rng), purity)
    index = build_index(x, metric="euclidean", backend="exact")
    covered = np.zeros(len(x), dtype=bool)
    covered[_ball_members(index, delta, lab)] = True
    degree = _uncovered_in_balls(index, delta, np.arange(len(x)), covered)
    free = np.ones(len(x), dtype=bool)
    free[lab] = False
    picks, values = [], []
    for _ in range(k):
        i = int(np.argmax(np.where(free, degree, -1)))
        if degree[i] <= 0:
            i = int(rng.choice(np.flatnonzero(free)))
        picks.append(i)
        values.append(float(max(degree[i], 0)))
        free[i] = False
        new = _ball_members(index, delta, np.array([i]))
        new = new[~covered[new]]
        covered[new] = True
        # every ball holding a newly covered point now covers one point fewer (d symmetric)
        degree -= _uncovered_in_balls(index, delta, new, np.zeros(len(x), dtype=bool))
    return BatchPicks(np.array(picks, np.int64), np.array(values), np.full(k, -1, np.int64))


def _ball_members(index: NeighbourIndex, delta: float, rows: np.ndarray) -> np.ndarray:
    """The distinct points within ``delta`` of any of ``rows``."""
    found = [within(index, delta, rows[s:s + _step(index)])[1]
             for s in range(0, len(rows), _step(index))]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)


def _uncovered_in_balls(index: NeighbourIndex, delta: float, rows: np.ndarray, covered: np.ndarray
                        ) -> np.ndarray:
    """For every point j, how many of ``rows`` that are not ``covered`` lie within ``delta``
    of j (by symmetry: j's ball counts them)."""
    counts = np.zeros(len(index), dtype=np.int64)
    step = _step(index)
    for s in range(0, len(rows), step):
        part = rows[s:s + step]
        r, c = within(index, delta, part)
        keep = ~covered[part[r]]
        counts += np.bincount(c[keep], minlength=len(index))
    return counts


def _step(index: NeighbourIndex) -> int:
    """Rows per call of ``within``: a block of products, as its pairs may be as many."""
    return max(1, common.BLOCK // max(1, len(index)))
