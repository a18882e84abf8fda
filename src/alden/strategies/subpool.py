"""Any strategy on a subpool (SEALS, Coleman et al., AAAI 2022): the candidates are the
unlabeled nearest neighbours of the labeled items in the model's pooled representation
(``hidden``), plus a random share so that regions far from every label stay reachable; the
inner strategy picks among them alone. The registry puts it around any strategy for
``STRATEGY:subpool=N``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from alden.data.pool import Pool
from alden.errors import AldenError
from alden.kernels.neighbours import build_index, knn
from alden.strategies.base import ANY, Selection, Strategy, finite, open_items

if TYPE_CHECKING:
    from alden.models.contract import Learner

NEIGHBOURS = 10  # unlabeled neighbours per labeled item (SEALS's k)
RANDOM_SHARE = 0.1  # of the subpool drawn at random from the rest of the unlabeled items


@dataclass(frozen=True)
class Subpool:
    """The inner strategy run on ``size`` unlabeled candidates (with every labeled item):
    the union of the ``neighbours`` nearest unlabeled items of each labeled item by cosine
    distance of ``hidden`` (``kernels.neighbours``: exact up to 20,000 items, faiss IVF
    above), cut to the ones nearest a labeled item when it exceeds ``size`` less the random
    share, then filled to ``size`` by uniform draws from ``rng``. It holds at least the ``n``
    asked for; with that at least the unlabeled count the inner strategy runs on the whole
    pool, untouched (the same picks, the same draws). Picks stay global
    pool indices; each reason says whether its item was a neighbour or a random draw."""

    inner: Strategy
    size: int
    neighbours: int = NEIGHBOURS
    random_share: float = RANDOM_SHARE
    name: ClassVar[str] = "subpool"
    data: ClassVar[str] = ANY

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or int(self.size) != self.size or self.size < 1:
            raise AldenError(f"subpool must be a whole number >= 1, got {self.size!r}")
        if int(self.neighbours) != self.neighbours or self.neighbours < 1:
            raise AldenError(f"subpool_neighbours must be a whole number >= 1, "
                             f"got {self.neighbours!r}")
        if not 0.0 <= self.random_share <= 1.0:
            raise AldenError(f"subpool_random must lie in [0, 1], got {self.random_share!r}")

    def select(self, learner: Learner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """``n`` picks of the inner strategy among the subpool's candidates."""
        unlabeled, _ = open_items(self.inner, pool, n)
        size = max(int(self.size), int(n))
        if size >= len(unlabeled):
            return self.inner.select(learner, pool, n, rng)
        near, drawn = subpool_candidates(learner, pool, size, self.neighbours,
                                         self.random_share, rng)
        keep = np.union1d(pool.labeled, np.union1d(near, drawn))
        inner = self.inner.select(learner, sub_pool(pool, keep), n, rng)
        picks = keep[np.asarray(inner.indices, dtype=np.int64)]
        if inner.reasons is None:
            return Selection(picks, inner.scores, None)
        is_near = np.isin(picks, near)
        reasons = [replace(r, subpool="neighbour" if a else "random")
                   for r, a in zip(inner.reasons, is_near, strict=True)]
        return Selection(picks, inner.scores, reasons)


def subpool_candidates(learner: Learner, pool: Pool, size: int, neighbours: int,
                       random_share: float, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The subpool's unlabeled candidates as two sorted global index arrays: the labeled
    items' nearest neighbours and the random draws (together ``size`` items, at most the
    unlabeled count). Draws from ``rng`` once, for the random share."""
    unlabeled, labeled = pool.unlabeled, pool.labeled
    size = min(int(size), len(unlabeled))
    budget = size - int(np.ceil(random_share * size))
    near = np.zeros(0, dtype=np.int64)
    if budget > 0 and len(labeled):
        hidden = finite(learner.hidden(pool.x[np.concatenate([unlabeled, labeled])]),
                        "hidden representations")
        index = build_index(hidden[:len(unlabeled)], metric="cosine")
        found, dist = knn(index, neighbours, queries=hidden[len(unlabeled):])
        found, dist = found.reshape(-1), dist.reshape(-1)
        ranked = found[np.lexsort((found, dist))]  # nearest first, ties to the smaller index
        first = np.unique(ranked, return_index=True)[1]  # each item where it is nearest
        near = unlabeled[np.sort(ranked[np.sort(first)][:budget])]
    rest = np.setdiff1d(unlabeled, near)
    drawn = np.sort(rng.choice(rest, size=size - len(near), replace=False))
    return near, drawn.astype(np.int64)


def sub_pool(pool: Pool, keep: np.ndarray) -> Pool:
    """The items ``keep`` (sorted global indices) as a pool of their own: position ``i``
    is global item ``keep[i]``."""
    texts = None if pool.texts is None else [pool.texts[int(i)] for i in keep]
    return Pool(x=pool.x[keep], y=pool.y[keep], labeled_in=pool.labeled_in[keep],
                classes=pool.classes, vocab=pool.vocab, texts=texts, continues=pool.continues)
