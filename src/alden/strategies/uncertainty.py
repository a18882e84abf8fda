"""Strategies that read the model's predictions: random, entropy, margin, least confidence
and BALD with MC dropout (Houlsby et al. 2011; Gal, Islam & Ghahramani 2017)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alden.data.pool import Pool
from alden.errors import AldenError
from alden.kernels import bald, entropy, least_confidence, margin, top_k
from alden.strategies.base import (
    ANY,
    DropoutLearner,
    ProbaLearner,
    Selection,
    Strategy,
    finite,
    open_items,
    rows_pass,
)
from alden.strategies.reasons import Reason


@dataclass(frozen=True)
class RandomStrategy:
    """Uniformly random picks (score: the random priority each pick drew)."""

    name: ClassVar[str] = "random"
    data: ClassVar[str] = ANY

    def select(self, learner: object, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """``n`` unlabeled items uniformly at random; never reads the learner."""
        unlabeled, n = open_items(self, pool, n)
        priority = rng.random(len(unlabeled))
        order = top_k(priority, n)
        return Selection(unlabeled[order], priority[order], None)


def _uncertainty(strategy: Strategy, learner: ProbaLearner, pool: Pool, n: int,
                 score_fn: Callable[[np.ndarray], np.ndarray], largest: bool) -> Selection:
    unlabeled, n = open_items(strategy, pool, n)
    proba = finite(rows_pass(learner, learner.predict_proba, pool.x, unlabeled), "probabilities")
    scores = score_fn(proba)
    order = top_k(scores, n, largest=largest)
    reasons = [Reason(strategy.name, float(scores[o]), tuple(map(float, proba[o])))
               for o in order]
    return Selection(unlabeled[order], scores[order], reasons)


@dataclass(frozen=True)
class Entropy:
    """Largest predictive entropy first (score: entropy in nats)."""

    name: ClassVar[str] = "entropy"
    data: ClassVar[str] = ANY

    def select(self, learner: ProbaLearner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """The ``n`` unlabeled items the model is least sure of, by entropy."""
        return _uncertainty(self, learner, pool, n, entropy, True)


@dataclass(frozen=True)
class Margin:
    """Smallest gap between the two likeliest classes first (score: that gap)."""

    name: ClassVar[str] = "margin"
    data: ClassVar[str] = ANY

    def select(self, learner: ProbaLearner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """The ``n`` unlabeled items with the smallest top-two probability margin."""
        return _uncertainty(self, learner, pool, n, margin, False)


@dataclass(frozen=True)
class LeastConfidence:
    """Lowest top-class probability first (score: 1 - max p)."""

    name: ClassVar[str] = "least_confidence"
    data: ClassVar[str] = ANY

    def select(self, learner: ProbaLearner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """The ``n`` unlabeled items whose likeliest class is least likely."""
        return _uncertainty(self, learner, pool, n, least_confidence, True)


@dataclass(frozen=True)
class Bald:
    """BALD with MC dropout (score: mutual information in nats). ``samples`` dropout passes;
    20 as in Gal, Islam & Ghahramani (2017), the dropout BALD the ALDEN paper compares with."""

    samples: int = 20
    name: ClassVar[str] = "bald"
    data: ClassVar[str] = ANY

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int | np.integer) \
                or self.samples < 2:
            raise AldenError(f"bald: samples (MC dropout passes) must be an integer >= 2, "
                             f"got {self.samples!r}")

    def select(self, learner: DropoutLearner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection:
        """The ``n`` unlabeled items on which dropout samples disagree most."""
        unlabeled, n = open_items(self, pool, n)
        seed = int(rng.integers(2**31 - 1))
        mc = finite(learner.predict_proba_mc(pool.x[unlabeled], int(self.samples), seed),
                    "MC dropout probabilities")
        scores = bald(mc)
        order = top_k(scores, n)
        mean = mc.mean(axis=0)
        reasons = [Reason("bald", float(scores[o]), tuple(map(float, mean[o])),
                          samples=int(self.samples)) for o in order]
        return Selection(unlabeled[order], scores[order], reasons)
