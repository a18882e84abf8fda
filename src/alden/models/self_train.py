"""Self-training's choice of pseudo-labels (``TuneConfig.self_train``, in the spirit of HAST,
Schröder & Heyer, EMNLP 2024): the unlabeled items a model is most confident about, an even
number per predicted class, bounded by a share of the pool and a multiple of the labels.

Deterministic without a generator: items are ranked by confidence with ties in pool order
(a stable sort), so the same probabilities always give the same pseudo-labels.
"""

from __future__ import annotations

import math

import numpy as np

from alden.errors import AldenError


def pseudo_label_count(n_unlabeled: int, n_labels: int, share: float,
                       per_label: float) -> int:
    """How many items self-training pseudo-labels at most: ``share`` of the unlabeled pool,
    and no more than ``per_label`` times the labels (so its cost stays bounded)."""
    return max(0, min(math.floor(share * n_unlabeled + 1e-9),
                      math.floor(per_label * n_labels + 1e-9)))


def pseudo_labels(proba: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions in ``proba``, their predicted classes) of at most ``count`` items: for
    each class, the ``count // n_classes`` items predicted as it with the highest
    probability (fewer where fewer are predicted as it; ties in position order), in
    position order."""
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape[1] < 2 or count < 0:
        raise AldenError(f"pseudo-labels need (N, C >= 2) probabilities and a count >= 0, "
                         f"got shape {proba.shape} and {count}")
    predicted = proba.argmax(axis=1)
    confidence = proba[np.arange(len(proba)), predicted]
    each = count // proba.shape[1]
    picks = []
    for c in range(proba.shape[1]):
        members = np.flatnonzero(predicted == c)
        picks.append(members[np.argsort(-confidence[members], kind="stable")[:each]])
    chosen = np.sort(np.concatenate(picks)).astype(np.int64)
    return chosen, predicted[chosen].astype(np.int64)


def stacked(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows of piece ids ``a`` then ``b``, padded with 0 to the wider of the two."""
    width = max(a.shape[1], b.shape[1])
    out = np.zeros((len(a) + len(b), width), dtype=np.int64)
    out[:len(a), :a.shape[1]] = a
    out[len(a):, :b.shape[1]] = b
    return out
