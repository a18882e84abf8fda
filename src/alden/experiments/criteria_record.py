"""What a simulated round records for the stopping criteria (``alden.stopping``).

After each round's picks, :class:`CriteriaRecorder` asks the round's model for its predictions
on a fixed stop set, its uncertainty over what is left unlabeled, its accuracy on a small
check set and (text models) the largest ALDEN diversity left in the pool. It draws its sets
from its own generator and reads the model only in evaluation mode, so a run's results are
the same with or without it; ``docs/protocol.md`` describes ``criteria.jsonl``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from alden.stopping import normalised_entropy, prediction_change
from alden.strategies.interpretation import coverage_left
from alden.streams import criteria_rng

if TYPE_CHECKING:
    from alden.data.pool import Pool
    from alden.models.contract import Learner

STOP_SET = 1000   # Bloodgood & Vijay-Shanker 2009 used stop sets of a few thousand
CHECK_SET = 200   # what a practitioner might label at random to check the model


class CriteriaRecorder:
    """Per-round stopping-criteria quantities of one simulated run.

    ``check`` is a random split never trained on (the test split): ``CHECK_SET`` of its
    items stand for a check set a user labeled. ``coverage``: measure interpretation coverage
    (one interpretation pass and one ALDEN diversity computation per round; text only).
    """

    def __init__(self, pool_size: int, check: tuple[np.ndarray, np.ndarray], seed: int,
                 *, coverage: bool = True, stop_size: int = STOP_SET,
                 check_size: int = CHECK_SET) -> None:
        rng = criteria_rng(seed)
        self.stop_set = np.sort(rng.choice(pool_size, min(stop_size, pool_size),
                                           replace=False))
        x_check, y_check = check
        chosen = np.sort(rng.choice(len(y_check), min(check_size, len(y_check)),
                                    replace=False))
        self.x_check, self.y_check = x_check[chosen], np.asarray(y_check)[chosen]
        self.coverage = coverage
        self.previous: np.ndarray | None = None
        self.rows: list[dict] = []

    def observe(self, learner: Learner, pool: Pool, round_: int) -> float:
        """Record round ``round_``'s quantities (after its picks); returns the seconds spent."""
        start = time.perf_counter()
        proba = learner.predict_proba(pool.x)
        predicted = proba.argmax(axis=1)
        stop_predictions = predicted[self.stop_set]
        row: dict = {"round": round_, "labeled": int(len(pool.labeled)),
                     "stop_n": int(len(self.stop_set)), "changed": None, "kappa": None}
        if self.previous is not None:
            changed, kappa = prediction_change(self.previous, stop_predictions)
            row["changed"], row["kappa"] = round(changed, 6), round(kappa, 6)
        self.previous = stop_predictions
        unlabeled = pool.unlabeled
        entropy = normalised_entropy(proba[unlabeled]) if len(unlabeled) else np.zeros(1)
        row["max_uncertainty"] = round(float(entropy.max()), 6)
        row["mean_uncertainty"] = round(float(entropy.mean()), 6)
        check_pred = learner.predict_proba(self.x_check).argmax(axis=1)
        row["check_correct"] = int(np.sum(check_pred == self.y_check))
        row["check_n"] = int(len(self.y_check))
        row["coverage"] = (round(coverage_left(learner, pool), 6)
                           if self.coverage and pool.is_text and len(unlabeled) else None)
        self.rows.append(row)
        return time.perf_counter() - start
