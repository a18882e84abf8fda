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

from alden.project import store
from alden.project.stop_records import check_accuracy, record_state, stop_rows
from alden.project.trained import current_model, delete_files, save_model
from alden.project.workspace import ProjectData, too_few_labels
from alden.stopping import DEFAULT_CRITERION, Verdict, evaluate, labels_to_halve, wilson_interval

if TYPE_CHECKING:
    from alden.models.contract import Learner

CV_NOTE = ("cross-validated on the items the strategy picked, not on items drawn at random, "
           "so it can be optimistic or pessimistic for the data you will predict (in "
           "docs/labeling.md's walkthrough: 0.867 cross-validated, 0.806 on held-out "
           "sentences). `alden check PROJECT --n 200` sets aside random items for an "
           "unbiased estimate.")


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


@dataclass(frozen=True)
class StoppingStatus:
    """The check-set accuracy (None without labeled check items), each criterion's verdict
    and the sentence that sums them up; ``cv_note`` where there is no check set."""
    check_items: int
    check: CheckAccuracy | None
    verdicts: tuple[Verdict, ...]
    sentence: str
    cv_note: str | None
    records: int  # models recorded for the criteria


def stopping_status(conn: sqlite3.Connection, data: ProjectData, model: str,
                    learner: Learner | None = None) -> StoppingStatus:
    """The status of ``data`` for ``model``; ``learner``: the model of the current labels
    (recorded for the criteria and scored on the check items), None before one can be trained."""
    check = None
    if learner is not None:
        record_state(conn, data, learner, model, store.current_round(conn))
        correct, n = check_accuracy(data, learner)
        if n:
            low, high = wilson_interval(correct, n)
            check = CheckAccuracy(correct, n, low, high, labels_to_halve(correct, n),
                                  len(data.check) - n)
    rows = stop_rows(conn, model)
    verdicts = tuple(evaluate(rows))
    note = None if data.check else CV_NOTE
    return StoppingStatus(len(data.check), check, verdicts, sentence(verdicts, len(rows)),
                          note, len(rows))


def project_stopping(conn: sqlite3.Connection, data: ProjectData, model: str
                     ) -> StoppingStatus:
    """``stopping_status`` with the model of the current labels: the saved one, else one
    trained now and saved (the next query reuses it); none while too few labels."""
    learner: Learner | None = None
    if too_few_labels(data) is None:
        learner, file = current_model(conn, data, model)
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


def stopping_lines(s: StoppingStatus) -> list[str]:
    """What `alden status` prints about the check set and the stopping criteria."""
    lines = []
    if s.check is not None:
        c = s.check
        waiting = f"; {c.unlabeled} more check items wait for a label" if c.unlabeled else ""
        lines.append(f"check accuracy (items drawn at random, never trained on): "
                     f"{c.accuracy:.3f} on {c.n}, 95% interval {c.low:.3f}-{c.high:.3f}; "
                     f"about {c.more_to_halve} more check labels would halve it{waiting}")
    elif s.check_items:
        lines.append(f"check set: {s.check_items} items, none labeled yet (label the "
                     f"'check' batch to measure accuracy without bias)")
    if s.cv_note:
        lines.append(f"note: {s.cv_note}")
    lines.append(f"stopping: {s.sentence}")
    for v in s.verdicts:
        state = {True: "stop", False: "keep labeling", None: "not yet"}[v.stop]
        lines.append(f"  {v.name:<24} {state:<13} {v.text}")
    return lines

