"""Batches that are not near-duplicates or one class only: Cluster-Margin (Citovsky et al.,
NeurIPS 2021) and ``Balanced``, the class-balancing wrapper the registry puts around any
strategy (``STRATEGY:balance=true``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from alden.data.pool import Pool
from alden.kernels import cluster_margin, margin
from alden.strategies.base import ANY, Selection, Strategy, finite, open_items, rows_pass
from alden.strategies.reasons import Reason

if TYPE_CHECKING:
    from alden.models.contract import Learner


@dataclass(frozen=True)
class ClusterMargin:
    """Margin's ``10 * n`` most uncertain items, clustered by average linkage on the model's
    pooled representation (``hidden``) into ``n`` clusters, then one per cluster by turns,
    the smallest clusters first (``kernels.cluster_margin``): margin's signal without
    near-duplicates in a batch (score: the margin; a reason says whether an item near it
    was picked too)."""

    name: ClassVar[str] = "cluster_margin"
    data: ClassVar[str] = ANY

    def select(self, learner: Learner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """``n`` uncertain unlabeled items spread over clusters of the representation."""
        unlabeled, n = open_items(self, pool, n)
        if n == 0:
            return Selection((), (), ())
        proba = finite(rows_pass(learner, learner.predict_proba, pool.x, unlabeled),
                       "probabilities")
        gaps = margin(proba)
        candidates = np.sort(np.lexsort((unlabeled, gaps))[:min(len(unlabeled), 10 * n)])
        hidden = finite(learner.hidden(pool.x[unlabeled[candidates]]), "hidden representations")
        found = cluster_margin(hidden, gaps[candidates], n, candidates=len(candidates))
        picks = candidates[found.indices]
        seen: set[int] = set()
        reasons = []
        for p, g in zip(picks, found.groups, strict=True):
            reasons.append(Reason("cluster_margin", float(gaps[p]), tuple(map(float, proba[p])),
                                  first=int(g) not in seen))
            seen.add(int(g))
        return Selection(unlabeled[picks], gaps[picks], reasons)


@dataclass(frozen=True)
class Balanced:
    """Any strategy with an even share of the batch for each predicted class, or as close as
    the pool allows: the inner strategy ranks, then each class takes its share in the
    inner strategy's own order (``balanced_order``). The inner strategy is first asked for
    ``4 * n`` items; only when a class is short and the pool holds more of it, for all."""

    inner: Strategy
    name: ClassVar[str] = "balanced"
    data: ClassVar[str] = ANY

    def select(self, learner: Learner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """``n`` picks of the inner strategy, balanced over the predicted classes."""
        unlabeled, n = open_items(self.inner, pool, n)
        if n == 0:
            return Selection((), (), ())
        predicted = np.full(len(pool), -1)
        predicted[unlabeled] = finite(rows_pass(learner, learner.predict_proba, pool.x, unlabeled),
                                      "probabilities").argmax(axis=1)
        ranked = self.inner.select(learner, pool, min(len(unlabeled), 4 * n), rng)
        classes = predicted[np.asarray(ranked.indices, dtype=np.int64)]
        short = np.bincount(classes, minlength=len(pool.classes)) < -(-n // len(pool.classes))
        more = np.bincount(predicted[unlabeled], minlength=len(pool.classes)) > np.bincount(
            classes, minlength=len(pool.classes))
        if (short & more).any() and len(ranked) < len(unlabeled):
            ranked = self.inner.select(learner, pool, len(unlabeled), rng)
            classes = predicted[np.asarray(ranked.indices, dtype=np.int64)]
        keep = balanced_order(classes, n, len(pool.classes))
        return Selection([ranked.indices[i] for i in keep], [ranked.scores[i] for i in keep],
                         None if ranked.reasons is None else [ranked.reasons[i] for i in keep])


def balanced_order(classes: np.ndarray, n: int, n_classes: int) -> list[int]:
    """Positions of ``n`` items of a ranked list (``classes``: each item's predicted class)
    with an even share per class, or as close as the list allows: the shares fill by
    turns over the classes (in the order each first appears in the list) while a class has
    items left; each class takes its share from the top of the list. Kept in list order."""
    classes = np.asarray(classes, dtype=np.int64)
    n = min(int(n), len(classes))
    have = np.bincount(classes, minlength=n_classes)
    turn = [int(c) for c in dict.fromkeys(classes.tolist())]
    share = np.zeros(n_classes, dtype=np.int64)
    while share.sum() < n:
        for c in turn:
            if share[c] < have[c] and share.sum() < n:
                share[c] += 1
    taken = np.zeros(n_classes, dtype=np.int64)
    keep = []
    for i, c in enumerate(classes):
        if taken[c] < share[c]:
            keep.append(i)
            taken[c] += 1
    return keep
