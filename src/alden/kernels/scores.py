"""Uncertainty scores from predicted probabilities, and the top-k pick by score. Pure NumPy."""

from __future__ import annotations

import numpy as np

from alden.errors import AldenError
from alden.kernels.common import check_k


def top_k(scores: np.ndarray, k: int, *, largest: bool = True) -> np.ndarray:
    """Positions of the ``k`` best scores, best first; ties go to the smaller position."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise AldenError("scores contain NaN: the model's outputs are not finite")
    k = check_k(k, len(scores))
    order = np.argsort(-scores if largest else scores, kind="stable")
    return order[:k]


def _check_proba(proba: np.ndarray, ndim: int, shape: str) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != ndim or p.shape[-1] < 2:
        raise AldenError(f"class probabilities must be {shape} with C >= 2, got {p.shape}")
    if not np.isfinite(p).all():
        raise AldenError("class probabilities contain NaN or infinite values")
    return p


def _entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) over the last axis, with 0 log 0 = 0."""
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=-1)


def entropy(proba: np.ndarray) -> np.ndarray:
    """Predictive entropy of each row of ``proba`` (N, C), in nats: higher is less sure."""
    return _entropy(_check_proba(proba, 2, "(N, C)"))


def margin(proba: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 class probability (N,): smaller is less sure."""
    p = np.sort(_check_proba(proba, 2, "(N, C)"), axis=1)
    return p[:, -1] - p[:, -2]


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """One minus the largest class probability (N,): higher is less sure."""
    return 1.0 - _check_proba(proba, 2, "(N, C)").max(axis=1)


def bald(mc_proba: np.ndarray) -> np.ndarray:
    """BALD mutual information (N,) from MC-dropout probabilities (T, N, C), in nats.

    Entropy of the mean prediction minus the mean entropy of each prediction (Houlsby et
    al. 2011; Gal et al. 2017); clipped at 0 against rounding.
    """
    p = _check_proba(mc_proba, 3, "(T, N, C)")
    return np.maximum(_entropy(p.mean(axis=0)) - _entropy(p).mean(axis=0), 0.0)
