"""Cluster-Margin (Citovsky et al., NeurIPS 2021): margin's most uncertain items, spread
over clusters of the embedding space so a batch holds no near-duplicates. Pure NumPy plus
SciPy's average-linkage clustering."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alden.errors import AldenError
from alden.kernels.cold_start import BatchPicks
from alden.kernels.common import check_k, labeled_indices
from alden.kernels.neighbours import as_rows


def cluster_margin(features: np.ndarray, margins: np.ndarray, k: int,
                   rng: np.random.Generator | None = None, *,
                   labeled: Sequence[int] | np.ndarray = (), candidates: int | None = None,
                   clusters: int | None = None, threshold: float | None = None,
                   metric: str = "euclidean") -> BatchPicks:
    """Cluster-Margin (Citovsky, DeSalvo, Gentile, Karydas, Rajagopalan, Rostamizadeh &
    Kumar, "Batch Active Learning at Scale", NeurIPS 2021).

    The ``candidates`` unlabeled items of lowest margin (default ``10 * k``; ties: smaller
    index) are clustered by hierarchical agglomerative clustering with average linkage,
    cut at distance ``threshold`` (the paper's epsilon) or, without one, into ``clusters``
    clusters (default ``k``, so that each cluster can give one pick). Then round robin over
    the clusters from the smallest up (ties: the cluster whose lowest-margin member has the
    smaller index), each turn taking the cluster's lowest-margin member not yet taken.
    Small clusters first spreads the batch over distinct regions before dense ones give
    a second item. Values: the picks' margins; groups: their cluster (0 = the smallest).

    ``margins`` (N,): smaller is more uncertain (``kernels.margin``). ``rng`` is unused
    (the method is deterministic) and accepted so every batch kernel takes one.
    """
    x = as_rows(features, metric)
    margins = np.asarray(margins, dtype=np.float64).reshape(-1)
    if margins.shape != (len(x),):
        raise AldenError(f"need one margin per row: {margins.shape} for {len(x)} rows")
    if not np.isfinite(margins).all():
        raise AldenError("margins contain NaN or infinite values")
    lab = labeled_indices(labeled, len(x))
    k = check_k(k, len(x) - lab.size)
    if k == 0:
        return BatchPicks(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))
    free = np.setdiff1d(np.arange(len(x)), lab)
    m = min(len(free), max(k, 10 * k if candidates is None else int(candidates)))
    chosen = np.sort(free[np.lexsort((free, margins[free]))[:m]])  # in index order
    if clusters is None and threshold is None:
        clusters = k
    group = hac_clusters(x[chosen], clusters=clusters, threshold=threshold)
    return round_robin(chosen, group, margins, k)


def hac_clusters(x: np.ndarray, *, clusters: int | None = None,
                 threshold: float | None = None) -> np.ndarray:
    """Average-linkage clusters of the rows (Euclidean): merging stops at ``clusters``
    clusters, or merges only while the average distance is <= ``threshold``. Labels 0.."""
    if (clusters is None) == (threshold is None):
        raise AldenError("give the number of clusters or a distance threshold, one of them")
    if len(x) == 1:
        return np.zeros(1, dtype=np.int64)
    from scipy.cluster.hierarchy import cut_tree, fcluster, linkage

    tree = linkage(np.asarray(x, dtype=np.float64), method="average", metric="euclidean")
    labels: np.ndarray
    if threshold is not None:
        labels = fcluster(tree, t=float(threshold), criterion="distance")
    else:
        wanted = max(1, min(int(clusters or 1), len(x)))
        labels = cut_tree(tree, n_clusters=[wanted])[:, 0]
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def round_robin(items: np.ndarray, group: np.ndarray, margins: np.ndarray,
                k: int) -> BatchPicks:
    """Up to ``k`` of ``items`` (global positions) by turns over their groups, the smallest
    group first, each turn the group's lowest-margin item not yet taken."""
    members = [items[group == g] for g in range(group.max() + 1)]
    members = [m[np.lexsort((m, margins[m]))] for m in members if len(m)]
    members.sort(key=lambda m: (len(m), int(m[0])))
    picks: list[int] = []
    groups: list[int] = []
    turn = 0
    while len(picks) < k and turn < len(members[-1]):
        for g, m in enumerate(members):
            if turn < len(m) and len(picks) < k:
                picks.append(int(m[turn]))
                groups.append(g)
        turn += 1
    chosen = np.array(picks, np.int64)
    return BatchPicks(chosen, margins[chosen], np.array(groups, np.int64))
