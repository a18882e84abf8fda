"""A project's status: label counts, rounds, cross-validated accuracy and the learning curve.

Accuracy is estimated by stratified k-fold cross-validation on the labels (a project has no
test set); each result is kept in the evaluations table, so a labeled set is evaluated once
per model and number of folds.

What one `status` costs is bounded: by default 2 folds (``DEFAULT_FOLDS``), i.e. two models
on half the labels each, about the cost of the one model a query trains on all of them
(benchmarks/bench_status.py measures it), and only for the current labeled set. Points of
the learning curve for earlier rounds are shown when they were evaluated before (each
`status` evaluates the labels of its moment, so running it after each round fills the curve
at no extra cost); ``full_curve`` evaluates the missing ones too. Each model trained tells
its epochs to ``say`` (the terminal's step line, the page's job bar).

With a check set, its accuracy comes first: cross-validation on the items a strategy picked
runs low (they are the hard ones; ``benchmarks/cv_on_picks.py``), and is shown with that
warning (``stopping_status.CV_NOTE``). The plot draws both, one point per round.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alden.atomic import replacing
from alden.cli_types import plural
from alden.models.factory import check_model
from alden.project import store
from alden.project.progress import Say, encoding, epochs, silent
from alden.project.stopping_status import (
    CheckPoint,
    StoppingStatus,
    project_stopping,
    stopping_status,
)
from alden.project.trained import train
from alden.project.workspace import MIN_LABELS, ProjectData, read_project, unlabeled_classes

DEFAULT_FOLDS = 2


@dataclass(frozen=True)
class CrossValidation:
    """Cross-validated accuracy on the labeled items: mean, standard deviation, folds, labels."""
    accuracy: float
    std: float
    folds: int
    n_labeled: int


def cross_validate(data: ProjectData, model: str, folds: int,
                   items: np.ndarray | None = None, say: Say = silent, *,
                   counted: tuple[int, int] | None = None) -> CrossValidation:
    """Accuracy of ``model`` by stratified k-fold cross-validation on the labeled items;
    ``say`` hears each model's epochs, counted as models ``counted[0] + 1...`` of
    ``counted[1]`` of the whole evaluation (default: this one's folds)."""
    from sklearn.model_selection import StratifiedKFold

    items = np.asarray(data.labels.items if items is None else items, dtype=np.int64)
    y = np.asarray(data.labels.labels)[np.searchsorted(np.asarray(data.labels.items), items)]
    folds = min(folds, min(Counter(y.tolist()).values()))  # every fold tests every class
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(
        data.settings["seed"]))
    before, models = counted or (0, folds)
    scores = []
    for f, (fit_at, test_at) in enumerate(splitter.split(items, y)):
        what = (f"cross-validating {plural(len(items), 'label')}: model {before + f + 1} "
                f"of {models}")
        say(what)
        learner = train(data, model, items[fit_at], fold=f, on_encode=encoding(say),
                        on_epoch=epochs(say, what, model=before + f, models=models))
        scores.append(float((learner.predict(data.x[items[test_at]]) == y[test_at]).mean()))
    return CrossValidation(float(np.mean(scores)), float(np.std(scores)), folds, len(items))


def cv_problem(y: np.ndarray) -> str | None:
    """Why cross-validation cannot run on these labels, or None."""
    counts = Counter(np.asarray(y).tolist())
    if len(y) < MIN_LABELS or len(counts) < 2 or min(counts.values()) < 2:
        return (f"too few labels to estimate accuracy: cross-validation needs at least "
                f"{MIN_LABELS} labels with 2 or more in each of 2 classes (have "
                f"{len(y)} in {plural(len(counts), 'class')})")
    return None


@dataclass(frozen=True)
class Status:
    items: int
    classes: tuple[str, ...]
    counts: dict[str, int]  # training labels by class (check items' labels are apart)
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
    check_items: int = 0  # items set aside as the check set
    check_labeled: int = 0  # of them labeled (counted apart from the training labels)
    unlabeled_classes: tuple[str, ...] = ()  # classes no training label is of yet


def status(folder: str | Path, *, folds: int | None = None, model: str | None = None,
           curve: bool = True, full_curve: bool = False, stopping: bool = True,
           evaluate: bool = True, say: Say = silent) -> Status:
    """Counts, class balance, rounds, cross-validated accuracy and the learning curve.

    Evaluates the current labels (cached by labeled set), reads the curve's other points
    from the cache and, with ``full_curve``, evaluates the missing ones too. ``stopping``:
    also the check-set accuracy and the stopping criteria (``stopping_status``; trains and
    saves the model of the current labels if no query did). ``evaluate=False`` trains
    nothing and writes nothing: only what earlier commands computed is shown (the status
    page). ``say`` hears each model trained, with its epochs counted.
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
            accuracy, points, missing = _evaluations(conn, data, model, folds, curve=curve,
                                                     full=full_curve, evaluate=evaluate, say=say)
        checking = None
        if stopping:
            checking = (project_stopping(conn, data, model, say) if evaluate
                        else stopping_status(conn, data, model))
        plot = plot_curve(points, folder / "status" / "learning_curve.png", model,
                          checking.curve if checking else ()) \
            if evaluate and (points or (checking and checking.curve)) else None
        return Status(len(data.ids), data.classes, counts, store.rounds(conn), model, accuracy,
                      majority, why, points, plot, store.latest_model(conn), tuple(missing),
                      checking, len(data.check), len(data.check_labels),
                      unlabeled_classes(data))
    finally:
        conn.close()


def _evaluations(conn: sqlite3.Connection, data: ProjectData, model: str, folds: int, *,
                 curve: bool, full: bool, evaluate: bool, say: Say
                 ) -> tuple[CrossValidation | None, list[tuple[int, int, float, float]],
                            list[int]]:
    """The cross-validation of the current labels and, with ``curve``, the curve's points:
    those evaluated before, and (``full``) the missing ones evaluated now; nothing is
    computed unless ``evaluate``. Returns (the current labels' cross-validation, the
    points in round order, the rounds left without one)."""
    y = np.asarray(data.labels.labels)
    rounds_of = np.asarray(data.labels.rounds)
    wanted = []  # (round, items) of each curve point that can be evaluated
    for r in sorted(set(rounds_of.tolist())) if curve else []:
        if cv_problem(y[rounds_of <= r]) is None:
            wanted.append((r, np.asarray(data.labels.items)[rounds_of <= r]))
    runs = {_key(data, items)[1] for items in [None, *(i for _, i in wanted if full)]
            if _lookup(conn, data, model, folds, items) is None} if evaluate else set()
    done = iter(range(0, folds * len(runs), folds))  # models trained before each run

    def evaluated(round_: int, items: np.ndarray | None) -> CrossValidation | None:
        cached = _lookup(conn, data, model, folds, items)
        if cached is not None or not evaluate:
            return cached
        return _cached_cv(conn, data, model, folds, round_, items, say,
                          counted=(next(done, 0), folds * len(runs)))

    accuracy = evaluated(store.current_round(conn), None)
    points, missing = [], []
    for r, items in wanted:
        cv = (evaluated(r, items) if full or len(items) == len(y)
              else _lookup(conn, data, model, folds, items))
        if cv is None:
            missing.append(r)
        else:
            points.append((r, cv.n_labeled, cv.accuracy, cv.std))
    return accuracy, points, missing


def status_json(s: Status) -> dict[str, Any]:
    """`alden status --json`: the status's fields for scripts (no rendering)."""
    out = {"items": s.items, "classes": list(s.classes), "counts": s.counts,
           "rounds": len(s.rounds), "model": s.model,
           "accuracy": asdict(s.accuracy) if s.accuracy is not None else None,
           "majority": s.majority, "why_no_accuracy": s.why_no_accuracy,
           "curve": [{"round": r, "labels": n, "accuracy": a, "std": sd}
                     for r, n, a, sd in s.curve],
           "plot": str(s.plot) if isinstance(s.plot, Path) else None,
           "check_items": s.check_items, "check_labeled": s.check_labeled,
           "unlabeled_classes": list(s.unlabeled_classes)}
    st = s.stopping
    if st is not None:
        check = None if st.check is None else {**asdict(st.check),
                                                "accuracy": st.check.accuracy}
        out.update(check=check, cv_note=st.cv_note,
                   check_curve=[{"round": p.round, "labels": p.labels, "correct": p.check.correct,
                                 "n": p.check.n} for p in st.curve],
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
               round_: int, items: np.ndarray | None, say: Say = silent, *,
               counted: tuple[int, int] | None = None) -> CrossValidation:
    """Cross-validation, computed once per labeled set (kept in the evaluations table)."""
    cached = _lookup(conn, data, model, folds, items)
    if cached is not None:
        return cached
    chosen, key = _key(data, items)
    cv = cross_validate(data, model, folds, chosen, say, counted=counted)
    store.add_evaluation(conn, key=key, model=model, folds=folds, round_=round_,
                         n_labeled=len(chosen), accuracy=cv.accuracy, std=cv.std)
    return cv


def plot_curve(points: Sequence[tuple[int, int, float, float]], path: Path, model: str,
               check: Sequence[CheckPoint] = ()) -> Path:
    """A small PNG: accuracy against labels, one point per round: on the check set (with its
    95% interval) and cross-validated on the picked labels (± its folds' spread)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3), dpi=100)
    if check:
        n = np.array([p.labels for p in check])
        acc = np.array([p.check.accuracy for p in check])
        spread = np.array([[a - p.check.low, p.check.high - a] for a, p in zip(acc, check,
                                                                                 strict=True)])
        ax.errorbar(n, acc, yerr=spread.T, marker="s", capsize=3, label="check set")
    if points:
        rounds, n, acc, std = (np.asarray(v) for v in zip(*points, strict=True))
        ax.errorbar(n, acc, yerr=std, marker="o", capsize=3,
                    label="cross-validated on picks (runs low)")
        for r, xi, yi in zip(rounds, n, acc, strict=True):
            ax.annotate(f"r{r}", (xi, yi), textcoords="offset points", xytext=(4, -10),
                        fontsize=7)
    ax.set_xlabel("training labels")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{model}: accuracy by round", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
