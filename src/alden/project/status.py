"""A project's status: label counts, rounds, cross-validated accuracy and the learning curve.

Accuracy is estimated by stratified k-fold cross-validation on the labels (a project has no
test set); each result is kept in the evaluations table, so a labeled set is evaluated once
per model and number of folds.

What one `status` costs is bounded: by default 2 folds (``DEFAULT_FOLDS``), i.e. two models
on half the labels each, about the cost of the one model a query trains on all of them
(benchmarks/bench_status.py measures it), and only for the current labeled set. Points of
the learning curve for earlier rounds are shown when they were evaluated before (each
`status` evaluates the labels of its moment, so running it after each round fills the curve
at no extra cost); ``full_curve`` evaluates the missing ones too. Training shows a progress
bar once it takes more than a second.
"""

from __future__ import annotations

import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alden.atomic import replacing
from alden.models.factory import check_model
from alden.project import store
from alden.project.stopping_status import StoppingStatus, project_stopping
from alden.project.trained import train
from alden.project.workspace import MIN_LABELS, ProjectData, read_project

DEFAULT_FOLDS = 2


@dataclass(frozen=True)
class CrossValidation:
    """Cross-validated accuracy on the labeled items: mean, standard deviation, folds, labels."""
    accuracy: float
    std: float
    folds: int
    n_labeled: int


def cross_validate(data: ProjectData, model: str, folds: int,
                   items: np.ndarray | None = None,
                   on_fit: Callable[[], object] | None = None) -> CrossValidation:
    """Accuracy of ``model`` by stratified k-fold cross-validation on the labeled items;
    ``on_fit()`` is called after each fold's model (for a progress bar)."""
    from sklearn.model_selection import StratifiedKFold

    items = np.asarray(data.labels.items if items is None else items, dtype=np.int64)
    y = np.asarray(data.labels.labels)[np.searchsorted(np.asarray(data.labels.items), items)]
    folds = min(folds, min(Counter(y.tolist()).values()))  # every fold tests every class
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(
        data.settings["seed"]))
    scores = []
    for f, (fit_at, test_at) in enumerate(splitter.split(items, y)):
        learner = train(data, model, items[fit_at], fold=f)
        scores.append(float((learner.predict(data.x[items[test_at]]) == y[test_at]).mean()))
        if on_fit is not None:
            on_fit()
    return CrossValidation(float(np.mean(scores)), float(np.std(scores)), folds, len(items))


def cv_problem(y: np.ndarray) -> str | None:
    """Why cross-validation cannot run on these labels, or None."""
    counts = Counter(np.asarray(y).tolist())
    if len(y) < MIN_LABELS or len(counts) < 2 or min(counts.values()) < 2:
        return (f"too few labels to estimate accuracy: cross-validation needs at least "
                f"{MIN_LABELS} labels with 2 or more in each of 2 classes (have "
                f"{len(y)} in {len(counts)} class(es))")
    return None


@dataclass(frozen=True)
class Status:
    items: int
    classes: tuple[str, ...]
    counts: dict[str, int]
    rounds: list[dict[str, Any]]
    model: str
    accuracy: CrossValidation | None
    majority: float | None
    why_no_accuracy: str | None
    curve: list[tuple[int, int, float, float]]  # round, labels, accuracy, std
    plot: Path | None
    latest_model: dict[str, Any] | None
    not_evaluated: tuple[int, ...] = ()  # rounds whose curve point was never evaluated
    stopping: StoppingStatus | None = None  # check-set accuracy and stopping criteria


def status(folder: str | Path, *, folds: int | None = None, model: str | None = None,
           curve: bool = True, full_curve: bool = False, progress: bool = True,
           stopping: bool = True) -> Status:
    """Counts, class balance, rounds, cross-validated accuracy and the learning curve.

    Evaluates the current labels (cached by labeled set), reads the curve's other points
    from the cache and, with ``full_curve``, evaluates the missing ones too. ``stopping``:
    also the check-set accuracy and the stopping criteria (``stopping_status``; trains and
    saves the model of the current labels if no query did).
    """
    from alden.errors import AldenError

    folds = DEFAULT_FOLDS if folds is None else folds
    if folds < 2:
        raise AldenError(f"--folds must be at least 2, got {folds}")
    folder = Path(folder)
    conn = store.connect(folder)
    try:
        data = read_project(conn, folder)
        model = check_model(data.kind, model or data.settings["model"])
        y = np.asarray(data.labels.labels, dtype=np.int64)
        counts = {c: int((y == i).sum()) for i, c in enumerate(data.classes)}
        why = cv_problem(y)
        accuracy = majority = None
        points: list[tuple[int, int, float, float]] = []
        missing: list[int] = []
        if why is None:
            majority = float(np.bincount(y).max() / len(y))
            rounds_of = np.asarray(data.labels.rounds)
            wanted = []  # (round, items) of each curve point that can be evaluated
            for r in sorted(set(rounds_of.tolist())) if curve else []:
                if cv_problem(np.asarray(data.labels.labels)[rounds_of <= r]) is None:
                    wanted.append((r, np.asarray(data.labels.items)[rounds_of <= r]))
            runs = {key for items in [None, *(i for _, i in wanted if full_curve)]
                    for key in [_key(data, items)[1]]
                    if _lookup(conn, data, model, folds, items) is None}
            from tqdm import tqdm

            fits = folds * len(runs)  # the models to train (a bar once it takes over 1 s)
            with tqdm(total=fits, desc="cross-validation", unit="model", delay=1.0,
                      disable=not progress, file=sys.stderr, leave=False) as bar:
                accuracy = _cached_cv(conn, data, model, folds, store.current_round(conn),
                                      None, bar.update)
                for r, items in wanted:
                    cv = (_cached_cv(conn, data, model, folds, r, items, bar.update)
                          if full_curve or len(items) == len(y)
                          else _lookup(conn, data, model, folds, items))
                    if cv is None:
                        missing.append(r)
                    else:
                        points.append((r, cv.n_labeled, cv.accuracy, cv.std))
        plot = plot_curve(points, folder / "status" / "learning_curve.png", model) \
            if len(points) >= 1 else None
        return Status(len(data.ids), data.classes, counts, store.rounds(conn), model, accuracy,
                      majority, why, points, plot, store.latest_model(conn), tuple(missing),
                      project_stopping(conn, data, model) if stopping else None)
    finally:
        conn.close()


def status_json(s: Status) -> dict[str, Any]:
    """`alden status --json`: the status's fields for scripts (no rendering)."""
    out = {"items": s.items, "classes": list(s.classes), "counts": s.counts,
           "rounds": len(s.rounds), "model": s.model,
           "accuracy": asdict(s.accuracy) if s.accuracy is not None else None,
           "majority": s.majority, "why_no_accuracy": s.why_no_accuracy,
           "curve": [{"round": r, "labels": n, "accuracy": a, "std": sd}
                     for r, n, a, sd in s.curve],
           "plot": str(s.plot) if isinstance(s.plot, Path) else None}
    st = s.stopping
    if st is not None:
        check = None if st.check is None else {**asdict(st.check),
                                                "accuracy": st.check.accuracy}
        out.update(check_items=st.check_items, check=check, cv_note=st.cv_note,
                   stopping={"sentence": st.sentence, "records": st.records,
                             "criteria": [asdict(v) for v in st.verdicts]})
    return out


def _key(data: ProjectData, items: np.ndarray | None) -> tuple[np.ndarray, str]:
    """The labeled items chosen (all by default) and the fingerprint of their labels."""
    chosen = np.asarray(data.labels.items if items is None else items)
    at = np.searchsorted(np.asarray(data.labels.items), chosen)
    return chosen, store.fingerprint(chosen.tolist(),
                                     np.asarray(data.labels.labels)[at].tolist())


def _lookup(conn: sqlite3.Connection, data: ProjectData, model: str, folds: int,
            items: np.ndarray | None) -> CrossValidation | None:
    """The cached cross-validation of a labeled set, or None."""
    chosen, key = _key(data, items)
    cached = store.evaluation(conn, key=key, model=model, folds=folds)
    return None if cached is None else CrossValidation(cached[0], cached[1], folds, len(chosen))


def _cached_cv(conn: sqlite3.Connection, data: ProjectData, model: str, folds: int,
               round_: int, items: np.ndarray | None,
               on_fit: Callable[[], object] | None = None) -> CrossValidation:
    """Cross-validation, computed once per labeled set (kept in the evaluations table)."""
    cached = _lookup(conn, data, model, folds, items)
    if cached is not None:
        return cached
    chosen, key = _key(data, items)
    cv = cross_validate(data, model, folds, chosen, on_fit)
    store.add_evaluation(conn, key=key, model=model, folds=folds, round_=round_,
                         n_labeled=len(chosen), accuracy=cv.accuracy, std=cv.std)
    return cv


def plot_curve(points: Sequence[tuple[int, int, float, float]], path: Path, model: str
               ) -> Path:
    """A small PNG: cross-validated accuracy against labels, one point per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds, n, acc, std = (np.asarray(v) for v in zip(*points, strict=True))
    fig, ax = plt.subplots(figsize=(4.5, 3), dpi=100)
    ax.errorbar(n, acc, yerr=std, marker="o", capsize=3)
    for r, xi, yi in zip(rounds, n, acc, strict=True):
        ax.annotate(f"r{r}", (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("labels")
    ax.set_ylabel("accuracy (cross-validated)")
    ax.set_title(f"{model}: accuracy by round", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path

