"""First batches without labels: random picks, k-center, TypiClust or ProbCover on the
items' representations (``alden.models.representations``), each pick with a reason.

Both sides call :func:`cold_start`: ``alden benchmark --cold-start NAME`` for the first batch
of a simulated run (labeled by the oracle), a labeling project's ``query`` while it has too
few labels for a model. A project's default (:func:`default_cold_start`) is chosen by
measurement for each kind of representation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alden.errors import AldenError
from alden.kernels import kcenter_greedy_picks, probcover, top_k, typiclust
from alden.kernels.common import check_k, labeled_indices
from alden.strategies.base import Selection
from alden.strategies.reasons import Reason

COLD_STARTS = ("random", "kcenter", "typiclust", "probcover")
# docs/runs/cold_start (a logistic regression on the first batch alone, seeds 0-2). On frozen
# MiniLM embeddings no method is at least as accurate as random picks on Subj and MR at both
# 1% and 2% of the pool (TypiClust: MR 1% 0.593 vs 0.645; ProbCover: Subj 2% 0.872 vs
# 0.882; k-center below random everywhere): random picks stay the encoders' default, and the
# tables' (not measured). On the word models' word2vec sentence means TypiClust beats random
# in all six (set, budget) cells (Subj 1%/2% 0.803/0.821 vs 0.793/0.804, MR 0.569/0.575 vs
# 0.553/0.555): the word models' default.
DEFAULT_COLD_START = "random"
WORD_VECTORS_COLD_START = "typiclust"


def default_cold_start(kind: str, word_pieces: bool) -> str:
    """A new project's cold start: TypiClust on word2vec sentence means (the word models),
    random picks on an encoder's pooled embeddings (``word_pieces``) and on tables."""
    return WORD_VECTORS_COLD_START if kind == "text" and not word_pieces \
        else DEFAULT_COLD_START


def reads_representations(name: str) -> bool:
    """Whether the cold start ``name`` reads the items' representations: random picks
    need only their number, so nothing is encoded for them."""
    return check_cold_start(name) != "random"


def check_cold_start(name: str) -> str:
    """``name`` if it names a cold start, else an error listing them."""
    if name not in COLD_STARTS:
        raise AldenError(f"unknown cold start {name!r}; choose one of: {', '.join(COLD_STARTS)}")
    return name


def cold_start(name: str, features: np.ndarray, k: int, rng: np.random.Generator, *,
               labeled: Sequence[int] | np.ndarray = (), metric: str = "euclidean"
               ) -> Selection:
    """``k`` unlabeled rows of ``features`` (N, d) picked by the cold start ``name`` without
    labels, away from the ``labeled`` rows where the method uses them; the positions are
    rows of ``features``. ``metric`` ("euclidean" or "cosine") for typiclust and probcover.
    Scores: random, the priority drawn; kcenter, the distance to the nearest earlier pick;
    typiclust, the pick's cluster size; probcover, how many items it newly covers."""
    check_cold_start(name)
    lab = labeled_indices(labeled, len(features))
    k = check_k(k, len(features) - lab.size)
    if name == "random":
        free = np.setdiff1d(np.arange(len(features)), lab)
        priority = rng.random(len(free))
        order = top_k(priority, k)
        return Selection(free[order], priority[order],
                         [Reason("random_start", float(p)) for p in priority[order]])
    if name == "kcenter":
        picks, dists = kcenter_greedy_picks(np.asarray(features, np.float64), lab, k)
        return Selection(picks, dists, [Reason("cold_start", float(d), first=(
            n == 0 and lab.size == 0)) for n, d in enumerate(dists)])
    found = (typiclust(features, k, rng, labeled=lab, metric=metric) if name == "typiclust"
             else probcover(features, k, rng=rng, labeled=lab, metric=metric))
    return Selection(found.indices, found.values,
                     [Reason(name, float(v)) for v in found.values])
