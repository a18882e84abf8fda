"""Strategies that cover a representation space: CORESET (greedy k-center on the last hidden
layer; Sener & Savarese, ICLR 2018) and BADGE (k-means++ on gradient embeddings; Ash et al.,
ICLR 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alden.data.pool import Pool
from alden.kernels import kcenter_greedy_picks, kmeans_pp
from alden.strategies.base import (
    ANY,
    HiddenLearner,
    Selection,
    finite,
    open_items,
    rows_pass,
)
from alden.strategies.reasons import Reason


@dataclass(frozen=True)
class Coreset:
    """Greedy k-center on the last hidden layer (score: distance to the nearest labeled or
    already-picked item)."""

    name: ClassVar[str] = "coreset"
    data: ClassVar[str] = ANY

    def select(self, learner: HiddenLearner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """``n`` items covering the hidden-layer space, each farthest from the chosen ones."""
        _, n = open_items(self, pool, n)
        features = finite(learner.hidden(pool.x), "hidden representations")
        picks, dists = kcenter_greedy_picks(features, pool.labeled, n)
        return Selection(picks, dists, [Reason("coreset", float(d)) for d in dists])


@dataclass(frozen=True)
class Badge:
    """k-means++ seeding on gradient embeddings (score: distance to the nearest earlier
    pick when drawn; the first pick: its embedding's norm)."""

    name: ClassVar[str] = "badge"
    data: ClassVar[str] = ANY

    def select(self, learner: HiddenLearner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """``n`` unlabeled items with large and diverse last-layer gradients."""
        unlabeled, n = open_items(self, pool, n)
        if n == 0:
            return Selection((), (), ())
        emb = finite(rows_pass(learner, learner.badge_embeddings, pool.x, unlabeled),
                     "gradient embeddings")
        picks, dists = kmeans_pp(emb, n, rng)
        reasons = [Reason("badge", float(d), first=(i == 0)) for i, d in enumerate(dists)]
        return Selection(unlabeled[picks], dists, reasons)
