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
import operator
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

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


# ---- the items, read when asked for --------------------------------------------------------

class StoredContents(Sequence[str | dict[str, Any]]):
    """Each item's text or table row, read from the project's database when it is asked
    for: opening a project of a million texts loads none of them (a batch reads its own).
    Iterating reads them all, in pool order. Used while ``conn`` is open."""

    def __init__(self, conn: sqlite3.Connection, n_items: int) -> None:
        self._conn, self._n = conn, n_items

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> str | dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[str | dict[str, Any]]: ...

    def __getitem__(self, i: int | slice
                    ) -> str | dict[str, Any] | list[str | dict[str, Any]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        pos = operator.index(i)
        if not -self._n <= pos < self._n:
            raise IndexError(f"item {pos} of {self._n}")
        return store.item_content(self._conn, pos % self._n)

    def __iter__(self) -> Iterator[str | dict[str, Any]]:
        return iter(store.item_contents(self._conn))


@dataclass(frozen=True)
class ShownTexts(Sequence[str]):
    """Items as a person reads them (``display_text``), each made when asked for;
    ``positions``: the items shown, in order (None: all)."""

    contents: Sequence[str | dict[str, Any]]
    positions: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.contents) if self.positions is None else len(self.positions)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        pos = operator.index(i) if self.positions is None else int(self.positions[i])
        return display_text(self.contents[pos])


# ---- the pool as the models see it ------------------------------------------------------

@dataclass(frozen=True)
class ProjectData:
    """Everything a command needs from a project, read once."""

    folder: Path
    settings: dict[str, Any]
    ids: list[str]
    contents: Sequence[str | dict[str, Any]]  # each item's text, or its table row by column
    classes: tuple[str, ...]
    x: np.ndarray  # read-only: memory-mapped from encoding/x.npy by read_project
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
        texts = ShownTexts(self.contents)
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
        # Memory-mapped: rows are read from the file as they are used, so memory follows
        # the batches a command works on, not the pool (nothing writes to x).
        x = np.load(encoding / "x.npy", allow_pickle=False, mmap_mode="r")
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
    return ProjectData(folder, store.settings(conn), ids, StoredContents(conn, len(ids)),
                       store.classes(conn), x, embeddings, labels, check, check_labels)


def open_pool(data: ProjectData) -> tuple[Pool, np.ndarray]:
    """The pool strategies pick from: every item but the check items; and the global
    position of each of its items (positions map back with ``keep[i]``)."""
    pool = data.pool()
    if not data.check:
        return pool, np.arange(len(pool))
    keep = np.setdiff1d(np.arange(len(pool)), np.asarray(data.check))
    texts = ShownTexts(data.contents, keep)
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
