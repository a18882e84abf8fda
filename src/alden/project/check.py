"""`alden check`'s work: a check set of items drawn at random, for an unbiased accuracy.

Accuracy cross-validated on the labels active learning picked is biased: the picks are the
hard or unusual items, not the data the model will meet. ``add_check`` sets aside items
drawn uniformly at random from the whole pool (items already labeled count at once; the
others are written out as a batch to label like any other). Check items are never trained
on and never picked by a strategy: ``read_project`` keeps their labels apart from the
training labels and ``open_pool`` leaves them out of the pool strategies pick from.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alden.errors import AldenError
from alden.project import store
from alden.project.batch_files import write_batch
from alden.project.workspace import read_project
from alden.streams import check_draw_rng

CHECK_REASON = "check item: drawn at random to measure accuracy, never trained on"


@dataclass(frozen=True)
class CheckResult:
    """What ``add_check`` did: items added, how many were labeled already (``moved`` of them
    training labels, which training loses: it keeps ``training``), the batch."""
    added: int
    labeled: int
    total: int
    round: int | None
    files: tuple[Path, ...]
    moved: int = 0
    training: int = 0


def add_check(folder: str | Path, n: int, *, conn: sqlite3.Connection | None = None
              ) -> CheckResult:
    """Set aside ``n`` more items drawn at random from the items not yet in the check set;
    write the unlabeled ones as a batch (a round of strategy "check")."""
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
        rng = check_draw_rng(int(data.settings["seed"]), len(have))
        drawn = np.sort(rng.choice(candidates, size=n, replace=False))
        labeled = set(data.labels.items) | set(data.check_labels.items)
        todo = [int(i) for i in drawn if int(i) not in labeled]
        moved = len(set(drawn.tolist()) & set(data.labels.items))
        picks = [store.Pick(i, None, CHECK_REASON, None, None) for i in todo]
        round_: int | None = None
        files: tuple[Path, ...] = ()
        with store.transaction(conn):  # the batch's files are written holding the lock
            store.add_check_items_in(conn, drawn)
            if todo:
                round_ = store.current_round(conn) + 1
                files = write_batch(data, picks, round_, Path(folder) / "batches",
                                    version=f"round {round_} check")
                store.add_round_in(conn, round_, strategy="check", model=data.settings["model"],
                                   n_labeled=len(data.labels), picks=picks,
                                   info={"check": n, "files": [str(f) for f in files]})
        return CheckResult(n, n - len(todo), len(have) + n, round_, files, moved,
                           len(data.labels) - moved)
    finally:
        if own:
            conn.close()
