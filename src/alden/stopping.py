"""When to stop labeling: stopping criteria as small pure functions over what rounds record.

Both the simulation (``experiments``) and the labeling project (``project``) record, per
round, a few numbers about the model just trained (see :data:`ROUND_FIELDS`); each criterion
reads the series of one or two of them and says whether labeling could stop after the last
round. Pure NumPy, no torch, no project, no experiments: the same function decides in a
benchmark's report and in ``alden status``.

Sources: stabilising predictions and the kappa average, Bloodgood & Vijay-Shanker, "A Method
for Stopping Active Learning Based on Stabilizing Predictions and the Need for User-Adjustable
Stopping", CoNLL 2009; maximum and overall uncertainty, Zhu, Wang & Hovy, "Multi-criteria-based
strategy to stop active learning for data annotation", COLING 2008, and Zhu, Wang, Yao & Tsou,
"Confidence-based stopping criteria for active learning for data annotation", ACM TSLP 2010;
the Wilson score interval, Wilson, JASA 1927; interpretation coverage is this project's own,
from ALDEN's diversity (Liu et al., CIKM 2021, Eq. 9).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# What a round records (any may be None where it was not measured):
ROUND_FIELDS = (
    "changed",           # stop-set fraction whose predicted class changed since the last round
    "kappa",             # Cohen's kappa between this and the last round's stop-set predictions
    "max_uncertainty",   # largest normalised entropy of the predictions on the unlabeled pool
    "mean_uncertainty",  # mean normalised entropy over the unlabeled pool
    "check_correct",     # check-set items the model classifies right ...
    "check_n",           # ... out of this many labeled check items
    "coverage",          # largest ALDEN diversity (Eq. 9) left in the unlabeled pool
)


@dataclass(frozen=True)
class Verdict:
    """A criterion's state after the last round recorded: ``stop`` is True (labeling more is
    unlikely to help), False (keep labeling) or None (not enough rounds or data to say);
    ``value`` is the quantity compared with ``threshold``."""

    name: str
    stop: bool | None
    value: float | None
    threshold: float
    text: str


# ----------------------------------------------------------------------------- helpers


def cohen_kappa(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> float:
    """Cohen's kappa (Cohen 1960) between two labelings of the same items:
    (p_o - p_e) / (1 - p_e), with p_e from each labeling's class frequencies. Two identical
    labelings that use one class only agree by chance alone; their kappa is 1 by convention."""
    a, b = np.asarray(a, dtype=np.int64).ravel(), np.asarray(b, dtype=np.int64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"labelings differ in length: {a.size} and {b.size}")
    if a.size == 0:
        raise ValueError("cohen_kappa needs at least one item")
    observed = float(np.mean(a == b))
    classes = np.union1d(a, b)
    pa = np.array([np.mean(a == c) for c in classes])
    pb = np.array([np.mean(b == c) for c in classes])
    expected = float(pa @ pb)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def normalised_entropy(proba: np.ndarray) -> np.ndarray:
    """Entropy of each row of ``proba`` (N, C) divided by log C: 0 certain, 1 uniform."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"expected (N, C>=2) probabilities, got shape {p.shape}")
    return -(p * np.log(p)).sum(axis=1) / math.log(p.shape[1])


def prediction_change(previous: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(fraction of items whose predicted class changed, Cohen's kappa) between two rounds'
    predictions on the same stop set."""
    previous, current = np.asarray(previous), np.asarray(current)
    return float(np.mean(previous != current)), cohen_kappa(previous, current)


def wilson_interval(correct: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (Wilson 1927) of a proportion ``correct / n``; 95% for the
    default z. Unlike the normal approximation it stays inside [0, 1] and is sensible for
    small n and for proportions near 0 or 1."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def labels_to_halve(correct: int, n: int, z: float = 1.96) -> int:
    """How many more check labels would halve the Wilson interval's width, if the accuracy
    stayed what it is (about 3n: the width falls as one over the square root of n)."""
    if n <= 0:
        return 1
    p = correct / n
    target = (lambda lo_hi: lo_hi[1] - lo_hi[0])(wilson_interval(correct, n, z)) / 2
    more = max(1, 2 * n)
    while _width(p, n + more, z) > target:
        more *= 2
    lo, hi = 0, more  # the smallest m with width(n + m) <= target
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _width(p, n + mid, z) <= target else (mid, hi)
    return hi


def _width(p: float, n: int, z: float) -> float:
    lo, hi = wilson_interval(p * n, n, z)
    return hi - lo


def _series(rows: Sequence[dict], key: str) -> np.ndarray:
    """The recorded values of ``key`` from the first round that has one (None ends a series
    early only by its absence: rounds without it are skipped)."""
    return np.array([r[key] for r in rows if r.get(key) is not None], dtype=np.float64)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


# ----------------------------------------------------------------------------- criteria


def stabilizing_predictions(rows: Sequence[dict], tolerance: float = 0.01,
                            window: int = 2) -> Verdict:
    """Stop when the model's predictions on a fixed stop set of unlabeled items changed on
    at most ``tolerance`` of it in each of the last ``window`` rounds (Bloodgood &
    Vijay-Shanker 2009 measure the same agreement with kappa; see :func:`kappa_average`)."""
    changed = _series(rows, "changed")
    name, t = "stabilizing_predictions", tolerance
    if len(changed) < window:
        return Verdict(name, None, None, t, f"needs {window} rounds of predictions to compare")
    last = float(changed[-window:].max())
    stop = last <= tolerance
    rounds = "round" if window == 1 else f"{window} rounds"
    text = (f"predictions changed on at most {_pct(last)} of the stop set in the last "
            f"{rounds} (stop at {_pct(t)})")
    return Verdict(name, stop, last, t, text)


def kappa_average(rows: Sequence[dict], threshold: float = 0.99, window: int = 3) -> Verdict:
    """Stop when the mean Cohen's kappa between successive models' stop-set predictions
    over the last ``window`` rounds reaches ``threshold`` (Bloodgood & Vijay-Shanker 2009:
    three rounds, 0.99)."""
    kappas = _series(rows, "kappa")
    name = "kappa_average"
    if len(kappas) < window:
        return Verdict(name, None, None, threshold, f"needs {window} kappas")
    mean = float(kappas[-window:].mean())
    return Verdict(name, mean >= threshold, mean, threshold,
                   f"mean kappa of successive models over the last {window} rounds is "
                   f"{mean:.3f} (stop at {threshold})")


def max_uncertainty(rows: Sequence[dict], threshold: float = 0.2) -> Verdict:
    """Stop when even the most uncertain unlabeled item is predicted with normalised entropy
    below ``threshold`` (Zhu et al. 2008's max-confidence: the next uncertainty pick would
    teach little)."""
    values = _series(rows, "max_uncertainty")
    name = "max_uncertainty"
    if len(values) == 0:
        return Verdict(name, None, None, threshold, "no uncertainty recorded")
    last = float(values[-1])
    return Verdict(name, last < threshold, last, threshold,
                   f"the most uncertain unlabeled item has entropy {last:.3f} "
                   f"(stop below {threshold})")


def overall_uncertainty(rows: Sequence[dict], threshold: float = 0.1) -> Verdict:
    """Stop when the mean normalised entropy over the unlabeled pool falls below
    ``threshold`` (Zhu et al. 2008's overall uncertainty)."""
    values = _series(rows, "mean_uncertainty")
    name = "overall_uncertainty"
    if len(values) == 0:
        return Verdict(name, None, None, threshold, "no uncertainty recorded")
    last = float(values[-1])
    return Verdict(name, last < threshold, last, threshold,
                   f"mean entropy over the unlabeled pool is {last:.3f} "
                   f"(stop below {threshold})")


def check_plateau(rows: Sequence[dict], window: int = 2, z: float = 1.96) -> Verdict:
    """Stop when the check-set accuracies of the last ``window`` + 1 rounds all lie inside
    the latest one's Wilson interval: the model has gained nothing the check set can tell
    apart from noise. The larger the check set, the narrower the interval and the later
    this stops (``value``: the accuracies' spread; ``threshold``: the interval's width)."""
    pairs = [(r["check_correct"], r["check_n"]) for r in rows
             if r.get("check_correct") is not None and r.get("check_n")]
    name = "check_plateau"
    if len(pairs) < window + 1:
        return Verdict(name, None, None, 0.0,
                       f"needs check-set accuracy from {window + 1} rounds")
    correct, n = pairs[-1]
    lo, hi = wilson_interval(correct, n, z)
    recent = [c / m for c, m in pairs[-window - 1:]]
    spread = max(recent) - min(recent)
    stop = all(lo <= a <= hi for a in recent)
    return Verdict(name, stop, spread, hi - lo,
                   f"check accuracy moved {100 * spread:.1f} points over the last {window} "
                   f"rounds; its {round(100 * (1 - 2 * _tail(z)))}% interval is "
                   f"{100 * lo:.1f}-{100 * hi:.1f}% on {n} items")


def _tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def interpretation_coverage(rows: Sequence[dict], tolerance: float = 0.02,
                            window: int = 3) -> Verdict:
    """Stop when the largest ALDEN diversity left in the unlabeled pool (Eq. 9: how unlike
    any labeled reading of its words an item's most unusual word is read) has stopped
    falling: its mean over the last ``window`` rounds is lower than over the ``window``
    before by less than ``tolerance`` of its first value. Labeling has stopped reaching
    readings the labeled set does not cover. Means over windows, because each round's model
    is trained afresh and reads words at a scale of its own. This project's own criterion."""
    values = _series(rows, "coverage")
    name = "interpretation_coverage"
    if len(values) < 2 * window or values[0] <= 0:
        return Verdict(name, None, None, tolerance,
                       f"needs interpretation coverage from {2 * window} rounds")
    drop = float((values[-2 * window:-window].mean() - values[-window:].mean()) / values[0])
    return Verdict(name, drop < tolerance, drop, tolerance,
                   f"the largest diversity left fell by {_pct(max(drop, 0.0))} of its first "
                   f"value, mean of the last {window} rounds against the {window} before "
                   f"(stop below {_pct(tolerance)})")


CRITERIA: dict[str, Callable[[Sequence[dict]], Verdict]] = {
    "stabilizing_predictions": stabilizing_predictions,
    "kappa_average": kappa_average,
    "max_uncertainty": max_uncertainty,
    "overall_uncertainty": overall_uncertainty,
    "check_plateau": check_plateau,
    "interpretation_coverage": interpretation_coverage,
}
DEFAULT_CRITERION = "stabilizing_predictions"


def evaluate(rows: Sequence[dict]) -> list[Verdict]:
    """Every criterion's verdict after the last of ``rows`` (one dict per round, oldest
    first, keys from :data:`ROUND_FIELDS`)."""
    return [criterion(rows) for criterion in CRITERIA.values()]


def stop_round(criterion: str | Callable[[Sequence[dict]], Verdict], rows: Sequence[dict]
               ) -> int | None:
    """The first round (index into ``rows``) after which ``criterion`` (a name of
    :data:`CRITERIA`, or a function such as ``functools.partial(kappa_average,
    threshold=0.9)``) says stop, or None if it never does."""
    if isinstance(criterion, str):
        criterion = CRITERIA[criterion]
    for r in range(len(rows)):
        if criterion(rows[:r + 1]).stop:
            return r
    return None
