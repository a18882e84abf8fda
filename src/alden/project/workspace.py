"""A labeling project as the commands read it: ``read_project`` gives ``ProjectData``.

A project is a folder (made by ``alden.project.init``)::

    PROJECT/project.db          items, classes, labels, rounds, settings (alden.project.store)
    PROJECT/encoding/x.npy      the pool encoded for the models (token ids or scaled features)
    PROJECT/encoding/embeddings.npy   word2vec vectors of the vocabulary (text projects)
    PROJECT/models/*.pt         trained models (alden.project.trained: one per labeled state)
    PROJECT/batches/round-NNNN.{csv,jsonl,labelstudio.json}   the batches asked for
    PROJECT/status/learning_curve.png

This module reads the database and the encoded pool back, checked against each other; the
check items' labels are kept apart from the training labels, and ``open_pool`` leaves the
check items out of the pool strategies pick from. A model is trained only from
``MIN_LABELS`` labels in two classes or more (``too_few_labels``).
"""

from __future__ import annotations

import dataclasses
import getpass
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alden.cli_types import plural
from alden.data.pool import Pool
from alden.errors import ProjectError
from alden.project import store

MIN_LABELS = 10  # below this many labels (or with one class) a query starts cold


def user_name() -> str:
    """Who is giving labels, for the label log: the login name, else "unknown"."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# ---- the pool as the models see it ------------------------------------------------------

@dataclass(frozen=True)
class ProjectData:
    """Everything a command needs from a project, read once."""

    folder: Path
    settings: dict[str, Any]
    ids: list[str]
    contents: list[str | dict[str, Any]]  # each item's text, or its table row by column
    classes: tuple[str, ...]
    x: np.ndarray
    embeddings: np.ndarray | None
    labels: store.Labels  # the training labels: check items' are in check_labels
    check: tuple[int, ...] = ()  # items set aside to measure accuracy, never trained on
    check_labels: store.Labels = store.Labels((), (), ())  # the labels given to them so far

    @property
    def kind(self) -> str:
        return self.settings["kind"]

    def pool(self) -> Pool:
        """A Pool with the labels given so far; ``labeled_in`` holds each label's round."""
        y = np.full(len(self.x), -1, dtype=np.int64)
        labeled_in = np.full(len(self.x), -1, dtype=np.int64)
        y[list(self.labels.items)] = self.labels.labels
        labeled_in[list(self.labels.items)] = self.labels.rounds
        vocab = tuple(self.settings["vocab"]) if self.kind == "text" else None
        texts = [display_text(c) for c in self.contents]
        continues = None
        if self.settings.get("continues") is not None:  # word pieces of an encoder
            continues = np.zeros(len(self.settings["vocab"]), dtype=np.bool_)
            continues[self.settings["continues"]] = True
        return Pool(self.x, y, labeled_in, self.classes, vocab=vocab, texts=texts,
                    continues=continues)


def read_project(conn: sqlite3.Connection, folder: str | Path) -> ProjectData:
    """The project's settings, items, labels and encoded pool, checked against each other."""
    folder = Path(folder)
    encoding = folder / "encoding"
    try:
        x = np.load(encoding / "x.npy", allow_pickle=False)
        emb_path = encoding / "embeddings.npy"
        embeddings = np.load(emb_path, allow_pickle=False) if emb_path.exists() else None
    except (OSError, ValueError) as err:
        raise ProjectError(f"{encoding}: the encoded pool is missing or damaged ({err})") from err
    ids = store.item_ids(conn)
    if len(x) != len(ids):
        raise ProjectError(f"{encoding / 'x.npy'} holds {len(x)} items, the database "
                           f"{len(ids)}: the project is damaged")
    check = store.check_items(conn)
    labels, check_labels = store.split_labels(store.labels(conn), check)
    return ProjectData(folder, store.settings(conn), ids, store.item_contents(conn),
                       store.classes(conn), x, embeddings, labels, check, check_labels)


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


def _row_text(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in row.items())


def display_text(content: str | dict[str, Any]) -> str:
    """An item as a person reads it: the text itself, or a row as "column: value, ..."."""
    return content if isinstance(content, str) else _row_text(content)


def too_few_labels(data: ProjectData) -> str | None:
    """Why a model cannot be trained yet, or None when it can."""
    n, distinct = len(data.labels), len(set(data.labels.labels))
    if n < MIN_LABELS:
        return f"{plural(n, 'label')}, fewer than {MIN_LABELS}"
    if distinct < 2:
        return "only one class labeled so far"
    return None


def unlabeled_classes(data: ProjectData) -> tuple[str, ...]:
    """The classes no training label is of yet, once there are labels (a model never
    predicts them); none before the first label, when every class has none."""
    given = set(data.labels.labels)
    if not given:
        return ()
    return tuple(c for i, c in enumerate(data.classes) if i not in given)
