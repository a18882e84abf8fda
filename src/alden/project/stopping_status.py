"""`alden status`'s answers to "how good is the model?" and "will more labels help?".

The first comes from the check set (``alden.project.check``): accuracy on items drawn at random and
never trained on, with a Wilson interval and how many more check labels would halve it.
The second from the stopping criteria (``alden.stopping``) over the stop records of the
project's models, summed up in one plain sentence led by the recommended criterion,
stabilising predictions (docs/results.md, "When to stop labeling").
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alden.cli_types import plural
from alden.project import store
from alden.project.progress import Say, encoding, epochs, silent
from alden.project.stop_records import check_accuracy, record_state, stop_rows
from alden.project.trained import current_model, delete_files, save_model
from alden.project.workspace import ProjectData, too_few_labels
from alden.stopping import DEFAULT_CRITERION, Verdict, evaluate, labels_to_halve, wilson_interval

if TYPE_CHECKING:
    from alden.models.contract import Learner

CV_NOTE = ("cross-validated on the items the strategy picked, not on items drawn at random: "
           "picked items are the hard ones, so it runs low (on 3,000 Subj sentences with "
           "ALDEN it read 12 points below the accuracy on 500 held-back sentences on "
           "average, from 24 below to 8 above; benchmarks/cv_on_picks.py). `alden check "
           "PROJECT --n 200` sets aside random items for an unbiased estimate.")
CV_NOTE_CHECKED = ("cross-validated on the items the strategy picked; it runs low, trust the "
                   "check accuracy above (benchmarks/cv_on_picks.py)")


@dataclass(frozen=True)
class CheckAccuracy:
    """Accuracy on the labeled check items with its 95% Wilson interval."""
    correct: int
    n: int
    low: float
    high: float
    more_to_halve: int  # more check labels that would halve the interval's width
    unlabeled: int      # check items still waiting for a label

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


def check_at(correct: int, n: int, unlabeled: int) -> CheckAccuracy:
    """``correct`` of ``n`` check labels with their interval and the labels to halve it."""
    low, high = wilson_interval(correct, n)
    return CheckAccuracy(correct, n, low, high, labels_to_halve(correct, n), unlabeled)


@dataclass(frozen=True)
class CheckPoint:
    """The check accuracy of the model of one round (from its stop record)."""
    round: int
    labels: int
    check: CheckAccuracy


@dataclass(frozen=True)
class StoppingStatus:
    """The check-set accuracy (None without labeled check items), each criterion's verdict
    and the sentence that sums them up; ``cv_note``: what cross-validation on the picks is
    worth, with or without a check set."""
    check_items: int
    check: CheckAccuracy | None
    verdicts: tuple[Verdict, ...]
    sentence: str
    cv_note: str
    records: int  # models recorded for the criteria
    curve: tuple[CheckPoint, ...] = ()  # the check accuracy of each recorded model


def stopping_status(conn: sqlite3.Connection, data: ProjectData, model: str,
                    learner: Learner | None = None) -> StoppingStatus:
    """The status of ``data`` for ``model``; ``learner``: the model of the current labels
    (recorded for the criteria and scored on the check items); None: the check accuracy
    its stop record kept, if one was (nothing is trained or written then)."""
    unlabeled = len(data.check) - len(data.check_labels)
    if learner is not None:
        record_state(conn, data, learner, model, store.current_round(conn))
        correct, n = check_accuracy(data, learner)
    else:
        kept = store.stop_quantities(
            conn, store.fingerprint(data.labels.items, data.labels.labels), model) or {}
        correct, n = int(kept.get("check_correct", 0)), int(kept.get("check_n", 0))
    check = check_at(correct, n, unlabeled) if n else None
    rows = stop_rows(conn, model)
    curve = tuple(CheckPoint(int(r["round"]), int(r["labeled"]),
                             check_at(int(r["check_correct"]), int(r["check_n"]), 0))
                  for r in rows if r.get("check_n"))
    verdicts = tuple(evaluate(rows))
    note = CV_NOTE_CHECKED if check is not None else CV_NOTE
    return StoppingStatus(len(data.check), check, verdicts, sentence(verdicts, len(rows)),
                          note, len(rows), curve)


def project_stopping(conn: sqlite3.Connection, data: ProjectData, model: str,
                     say: Say = silent) -> StoppingStatus:
    """``stopping_status`` with the model of the current labels: the saved one, else one
    trained now (its epochs told to ``say``) and saved (the next query reuses it); none
    while too few labels."""
    learner: Learner | None = None
    if too_few_labels(data) is None:
        training = f"training {model} on {plural(len(data.labels), 'label')}"
        learner, file = current_model(conn, data, model, on_epoch=epochs(say, training),
                                      on_encode=encoding(say))
        if file is None:
            _, stale = save_model(conn, data, learner, model, store.current_round(conn))
            delete_files(data.folder, stale)
    return stopping_status(conn, data, model, learner)


def sentence(verdicts: tuple[Verdict, ...], records: int) -> str:
    """One plain sentence: what the recommended criterion sees, and what that means."""
    main = next(v for v in verdicts if v.name == DEFAULT_CRITERION)
    stops = sum(v.stop is True for v in verdicts)
    known = sum(v.stop is not None for v in verdicts)
    others = f" ({stops} of {known} criteria with enough rounds say stop)" if known else ""
    if main.stop is None or main.value is None:  # no value: no verdict yet
        return (f"too early to tell whether more labels help: the criteria compare the "
                f"models of successive rounds, and {records} "
                f"{'has' if records == 1 else 'have'} been recorded{others}")
    share = f"{100 * main.value:.1f}%"
    if main.stop:
        return (f"predictions changed on {share} of the stop set or less in the last "
                f"two rounds; labeling more is unlikely to help{others}")
    return (f"predictions still changed on up to {share} of the stop set in the last two "
            f"rounds; labeling more is likely to help{others}")


def check_lines(s: StoppingStatus) -> list[str]:
    """What `alden status` prints first: the accuracy on the check set, or how to get one."""
    if s.check is not None:
        c = s.check
        waiting = f"; {c.unlabeled} more check items wait for a label" if c.unlabeled else ""
        return [f"check accuracy (items drawn at random, never trained on): "
                f"{c.accuracy:.3f} on {c.n}, 95% interval {c.low:.3f}-{c.high:.3f}; "
                f"about {c.more_to_halve} more check labels would halve it{waiting}"]
    if s.check_items:
        return [f"check set: {s.check_items} items, none labeled yet (label the "
                f"'check' batch to measure accuracy without bias)"]
    return ["check set: none (`alden check PROJECT --n 200` sets aside random items for an "
            "unbiased accuracy)"]


def advice_lines(s: StoppingStatus) -> list[str]:
    """What `alden status` prints about the stopping criteria: the sentence, then each."""
    lines = [f"stopping: {s.sentence}"]
    for v in s.verdicts:
        state = {True: "stop", False: "keep labeling", None: "not yet"}[v.stop]
        lines.append(f"  {v.name:<24} {state:<13} {v.text}")
    return lines
