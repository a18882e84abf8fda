"""Stop records: what the stopping criteria (``alden.stopping``) read from each trained model.

``record_state`` keeps, per labeled state and model, the model's predictions on a fixed
random stop set of items (settings ``stop_set``), its uncertainty over the unlabeled pool,
its accuracy on the check items labeled so far (``check_accuracy``: the check set is made by
``alden.project.check``) and (word models on text) the largest ALDEN diversity left in the
pool; ``stop_rows`` turns the records into the rounds the criteria read.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import numpy as np

from alden.project import store
from alden.project.workspace import ProjectData, open_pool
from alden.stopping import normalised_entropy, prediction_change
from alden.streams import stop_set_rng

if TYPE_CHECKING:
    from alden.models.contract import Learner

STOP_SET = 1000  # items whose predictions are compared between successive models


def stop_set(conn: sqlite3.Connection, data: ProjectData) -> np.ndarray:
    """The fixed random items whose predictions are compared between models, drawn once
    (from the project's seed) and kept in the settings."""
    chosen = data.settings.get("stop_set")
    if chosen is None:
        rng = stop_set_rng(int(data.settings["seed"]))
        chosen = np.sort(rng.choice(len(data.ids), min(STOP_SET, len(data.ids)),
                                    replace=False)).tolist()
        with store.transaction(conn):
            store.write_settings(conn, {"stop_set": chosen})
    return np.asarray(chosen, dtype=np.int64)


def check_accuracy(data: ProjectData, learner: Learner, proba: np.ndarray | None = None
                   ) -> tuple[int, int]:
    """(right, labeled) of the model on the labeled check items; ``proba``: the model's
    probabilities for every item, when the caller has them already."""
    if not len(data.check_labels):
        return 0, 0
    items = np.asarray(data.check_labels.items, dtype=np.int64)
    predicted = (learner.predict_proba(data.x[items]) if proba is None
                 else proba[items]).argmax(axis=1)
    return int(np.sum(predicted == np.asarray(data.check_labels.labels))), len(items)


def every_proba(data: ProjectData, learner: Learner, keep: np.ndarray,
                pool_proba: np.ndarray | None = None) -> np.ndarray:
    """The model's probabilities of every item: ``pool_proba`` (those of the pool's items,
    at ``keep``) where the caller has them, the check items predicted alone; else one pass."""
    if pool_proba is None:
        return learner.predict_proba(data.x)
    proba = np.empty((len(data.x), pool_proba.shape[1]), dtype=pool_proba.dtype)
    proba[keep] = pool_proba
    rest = np.setdiff1d(np.arange(len(data.x)), keep)
    if len(rest):
        proba[rest] = learner.predict_proba(data.x[rest])
    return proba


def record_state(conn: sqlite3.Connection, data: ProjectData, learner: Learner, model: str,
                 round_: int, *, coverage: bool = True, known_coverage: float | None = None,
                 pool_proba: np.ndarray | None = None) -> None:
    """Keep what the stopping criteria read of ``learner`` (trained on ``data.labels``),
    once per labeled state and model. ``coverage``: also the largest ALDEN diversity left
    (one interpretation pass; word models on text only), or ``known_coverage`` when the
    caller already has it (an ALDEN query's first pick), sparing that pass; likewise
    ``pool_proba``, the pool's probabilities (an ALDEN query's pass), spares a prediction
    pass over the pool."""
    key = store.fingerprint(data.labels.items, data.labels.labels)
    if store.has_stop_record(conn, key, model):
        return
    chosen = stop_set(conn, data)
    pool, keep = open_pool(data)
    proba = every_proba(data, learner, keep, pool_proba)
    entropy = normalised_entropy(proba[keep[pool.unlabeled]]) if len(pool.unlabeled) \
        else np.zeros(1)
    correct, n = check_accuracy(data, learner, proba)
    quantities: dict[str, Any] = {"max_uncertainty": float(entropy.max()),
                                  "mean_uncertainty": float(entropy.mean()),
                                  "check_correct": correct, "check_n": n, "coverage": None}
    words = data.kind == "text" and not data.settings.get("encoder")  # not word pieces
    if coverage and words and hasattr(learner, "token_interpretations") \
            and len(pool.unlabeled):
        from alden.strategies.interpretation import coverage_left

        quantities["coverage"] = (coverage_left(learner, pool) if known_coverage is None
                                  else float(known_coverage))
    store.add_stop_record(conn, key=key, model=model, round_=round_, n_labeled=len(data.labels),
                          predictions=proba[chosen].argmax(axis=1).tolist(),
                          quantities=quantities)


def stop_rows(conn: sqlite3.Connection, model: str) -> list[dict[str, Any]]:
    """The model's records in the order they were made, as the rounds ``alden.stopping``
    reads (``changed`` and ``kappa`` against the record before)."""
    rows, previous = [], None
    for round_, n_labeled, predictions, quantities in store.stop_records(conn, model):
        predicted = np.asarray(predictions, dtype=np.int64)
        row = {"round": round_, "labeled": n_labeled, **quantities,
               "changed": None, "kappa": None}
        if previous is not None and len(previous) == len(predicted):
            row["changed"], row["kappa"] = prediction_change(previous, predicted)
        previous = predicted
        rows.append(row)
    return rows
