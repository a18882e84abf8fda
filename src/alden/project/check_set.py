"""A project's check set and stop records: an unbiased accuracy, and what the stopping
criteria (``alden.stopping``) read from each trained model.

Accuracy cross-validated on the labels active learning picked is biased: the picks are the
hard or unusual items, not the data the model will meet. ``add_check`` sets aside items
drawn uniformly at random from the whole pool (items already labeled count at once; the
others are written out as a batch to label like any other). Check items are never trained
on and never picked by a strategy: ``split_labels`` takes their labels out of the training
labels and ``open_pool`` takes them out of the pool strategies pick from.

``record_state`` keeps, per labeled state and model, the model's predictions on a fixed
random stop set of items (settings ``stop_set``), its uncertainty over the unlabeled pool,
its accuracy on the check items labeled so far and (word models on text) the largest ALDEN
diversity left in the pool; ``stop_rows`` turns the records into the rounds the criteria read.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alden.errors import AldenError
from alden.project import store
from alden.stopping import normalised_entropy, prediction_change

if TYPE_CHECKING:
    from alden.data.pool import Pool
    from alden.project.workspace import ProjectData

STOP_SET = 1000  # items whose predictions are compared between successive models
CHECK_REASON = "check item: drawn at random to measure accuracy, never trained on"


def check_items(conn: sqlite3.Connection) -> tuple[int, ...]:
    """The check items' positions, ascending (none in a project without a check set)."""
    return tuple(r[0] for r in conn.execute("SELECT item FROM check_items ORDER BY item"))


def split_labels(labels: store.Labels, check: tuple[int, ...]
                 ) -> tuple[store.Labels, store.Labels]:
    """(training labels, check labels): the labels of check items go to the second."""
    if not check:
        return labels, store.Labels((), (), ())
    is_check = np.isin(np.asarray(labels.items, dtype=np.int64), np.asarray(check))
    parts = []
    for keep in (~is_check, is_check):
        at = np.flatnonzero(keep)
        parts.append(store.Labels(*(tuple(int(v) for v in np.asarray(col)[at])
                                    for col in (labels.items, labels.labels, labels.rounds))))
    return parts[0], parts[1]


def open_pool(data: ProjectData) -> tuple[Pool, np.ndarray]:
    """The pool strategies pick from: every item but the check items; and the global
    position of each of its items (positions map back with ``keep[i]``)."""
    pool = data.pool()
    if not data.check:
        return pool, np.arange(len(pool))
    keep = np.setdiff1d(np.arange(len(pool)), np.asarray(data.check))
    texts = [pool.texts[i] for i in keep] if pool.texts is not None else None
    return dataclasses.replace(pool, x=pool.x[keep], y=pool.y[keep],
                               labeled_in=pool.labeled_in[keep], texts=texts), keep


# ---- adding check items -----------------------------------------------------------------

@dataclass(frozen=True)
class CheckResult:
    """What ``add_check`` did: items added, how many were labeled already, the batch."""
    added: int
    labeled: int
    total: int
    round: int | None
    files: tuple[Path, ...]


def add_check(folder: str | Path, n: int, *, conn: sqlite3.Connection | None = None
              ) -> CheckResult:
    """Set aside ``n`` more items drawn at random from the items not yet in the check set;
    write the unlabeled ones as a batch (a round of strategy "check")."""
    from alden.project.query import write_batch
    from alden.project.workspace import read_project

    if n < 1:
        raise AldenError(f"--n must be at least 1, got {n}")
    own = conn is None
    conn = conn or store.connect(folder)
    try:
        data = read_project(conn, folder)
        have = np.asarray(data.check, dtype=np.int64)
        candidates = np.setdiff1d(np.arange(len(data.ids)), have)
        if len(candidates) < n:
            raise AldenError(f"{folder}: only {len(candidates)} items are not in the check "
                             f"set; ask for at most that many")
        rng = np.random.default_rng([int(data.settings["seed"]), 15, len(have)])
        drawn = np.sort(rng.choice(candidates, size=n, replace=False))
        labeled = set(data.labels.items) | set(data.check_labels.items)
        todo = [int(i) for i in drawn if int(i) not in labeled]
        picks = [store.Pick(i, None, CHECK_REASON, None, None) for i in todo]
        files: dict[str, Any] = {"files": ()}

        def write_out(round_: int) -> dict[str, Any]:
            conn.executemany("INSERT INTO check_items (item, added_at) VALUES (?, ?)",
                             ((int(i), store.now()) for i in drawn))
            if todo:
                files["files"] = write_batch(data, picks, round_, Path(folder) / "batches",
                                             version=f"round {round_} check")
            return {"files": [str(f) for f in files["files"]]}

        round_ = None
        if todo:
            round_ = store.add_round(conn, strategy="check", model=data.settings["model"],
                                     n_labeled=len(data.labels), picks=picks,
                                     info={"check": n}, before_commit=write_out)
        else:
            with store.transaction(conn):
                write_out(store.current_round(conn))
        return CheckResult(n, n - len(todo), len(have) + n, round_, tuple(files["files"]))
    finally:
        if own:
            conn.close()


# ---- stop records -----------------------------------------------------------------------

def stop_set(conn: sqlite3.Connection, data: ProjectData) -> np.ndarray:
    """The fixed random items whose predictions are compared between models, drawn once
    (from the project's seed) and kept in the settings."""
    chosen = data.settings.get("stop_set")
    if chosen is None:
        rng = np.random.default_rng([int(data.settings["seed"]), 16])
        chosen = np.sort(rng.choice(len(data.ids), min(STOP_SET, len(data.ids)),
                                    replace=False)).tolist()
        with store.transaction(conn):
            store.write_settings(conn, {"stop_set": chosen})
    return np.asarray(chosen, dtype=np.int64)


def check_accuracy(data: ProjectData, learner, proba: np.ndarray | None = None
                   ) -> tuple[int, int]:
    """(right, labeled) of the model on the labeled check items; ``proba``: the model's
    probabilities for every item, when the caller has them already."""
    if not len(data.check_labels):
        return 0, 0
    items = np.asarray(data.check_labels.items, dtype=np.int64)
    predicted = (learner.predict_proba(data.x[items]) if proba is None
                 else proba[items]).argmax(axis=1)
    return int(np.sum(predicted == np.asarray(data.check_labels.labels))), len(items)


def record_state(conn: sqlite3.Connection, data: ProjectData, learner, model: str,
                 round_: int, *, coverage: bool = True,
                 known_coverage: float | None = None) -> None:
    """Keep what the stopping criteria read of ``learner`` (trained on ``data.labels``),
    once per labeled state and model. ``coverage``: also the largest ALDEN diversity left
    (one interpretation pass; word models on text only), or ``known_coverage`` when the
    caller already has it (an ALDEN query's first pick), sparing that pass."""
    key = store.fingerprint(data.labels.items, data.labels.labels)
    if conn.execute("SELECT 1 FROM stop_records WHERE labels_key = ? AND model = ?",
                    (key, model)).fetchone():
        return
    chosen = stop_set(conn, data)
    proba = learner.predict_proba(data.x)
    pool, keep = open_pool(data)
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
    with store.transaction(conn):
        conn.execute("INSERT OR IGNORE INTO stop_records (labels_key, model, round, n_labeled,"
                     " at, predictions, quantities) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (key, model, round_, len(data.labels), store.now(),
                      json.dumps(proba[chosen].argmax(axis=1).tolist()),
                      json.dumps(quantities)))


def stop_rows(conn: sqlite3.Connection, model: str) -> list[dict[str, Any]]:
    """The model's records in the order they were made, as the rounds ``alden.stopping``
    reads (``changed`` and ``kappa`` against the record before)."""
    rows, previous = [], None
    for round_, n_labeled, predictions, quantities in conn.execute(
            "SELECT round, n_labeled, predictions, quantities FROM stop_records "
            "WHERE model = ? ORDER BY rowid", (model,)):
        predicted = np.asarray(json.loads(predictions), dtype=np.int64)
        row = {"round": round_, "labeled": n_labeled, **json.loads(quantities),
               "changed": None, "kappa": None}
        if previous is not None and len(previous) == len(predicted):
            row["changed"], row["kappa"] = prediction_change(previous, predicted)
        previous = predicted
        rows.append(row)
    return rows
