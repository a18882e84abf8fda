"""The labeling project's store: what its SQLite database holds (items, classes, labels, rounds,
settings, models, evaluations), read and written one transaction at a time.

Every write is one transaction (``BEGIN IMMEDIATE``): a killed process leaves all of a write
or none of it. The database runs in WAL mode with a busy timeout, so two commands on one
project wait for each other instead of failing or corrupting it. ``PRAGMA user_version``
holds the schema version and ``PRAGMA application_id`` marks the file as an alden project.
Only plain values are stored (text, numbers, JSON): opening a project runs none of its code.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alden.errors import ProjectError
from alden.project.db import (  # noqa: F401 (re-exported: commands open projects through the store)
    APPLICATION_ID,
    BUSY_TIMEOUT_S,
    DB_NAME,
    SCHEMA_VERSION,
    check_new_folder,
    connect,
    create,
    db_path,
    insert_classes,
    integrity_check,
    now,
    staging,
    transaction,
    write_settings,
)
from alden.strategies.reasons import Reason, stored_reason


@dataclass(frozen=True)
class Labels:
    """The current labels: parallel tuples of item positions, class indices and rounds."""

    items: tuple[int, ...]
    labels: tuple[int, ...]
    rounds: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.items)

    def as_dict(self) -> dict[int, int]:
        return dict(zip(self.items, self.labels, strict=True))


@dataclass(frozen=True)
class Pick:
    """One item of a query batch, as stored in ``round_items``."""

    item: int
    score: float | None
    reason: Reason | str | None  # str: a reason stored before reasons were data
    predicted: int | None
    confidence: float | None


@dataclass(frozen=True)
class LabelChange:
    """What writing a set of labels did: new ones, ones already there, ones replaced."""

    added: int
    unchanged: int
    replaced: int


def set_settings(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    """Store JSON-serialisable settings, one row per key, in one transaction."""
    with transaction(conn):
        write_settings(conn, values)


def settings(conn: sqlite3.Connection) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM settings")}


# ---- items and classes ------------------------------------------------------------------

def item_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]


def item_ids(conn: sqlite3.Connection) -> list[str]:
    """Ids in pool order (index = global pool index)."""
    return [r[0] for r in conn.execute("SELECT id FROM items ORDER BY pos")]


def item_contents(conn: sqlite3.Connection) -> list[str | dict[str, Any]]:
    """Each item's text, or its row as a dict, in pool order."""
    return [t if t is not None else json.loads(r)
            for t, r in conn.execute("SELECT text, row FROM items ORDER BY pos")]


def classes(conn: sqlite3.Connection) -> tuple[str, ...]:
    return tuple(r[0] for r in conn.execute("SELECT name FROM classes ORDER BY idx"))


def add_classes(conn: sqlite3.Connection, names: Iterable[str]) -> None:
    """Append classes not known yet (existing ones keep their index)."""
    with transaction(conn):
        insert_classes(conn, names)


# ---- labels -----------------------------------------------------------------------------

def current_round(conn: sqlite3.Connection) -> int:
    """The latest query round (0 before the first query): labels given now belong to it."""
    return conn.execute("SELECT COALESCE(MAX(round), 0) FROM rounds").fetchone()[0]


def labels(conn: sqlite3.Connection) -> Labels:
    rows = conn.execute("SELECT item, label, round FROM labels ORDER BY item").fetchall()
    return Labels(*(tuple(c) for c in zip(*rows, strict=True))) if rows else Labels((), (), ())


def fingerprint(items: Iterable[int], labels: Iterable[int]) -> str:
    """A short hash of (item, label) pairs: equal fingerprints mean the same labeled set."""
    digest = hashlib.sha256()
    for item, label in zip(items, labels, strict=True):
        digest.update(f"{item}:{label};".encode())
    return digest.hexdigest()[:16]


def labels_key(conn: sqlite3.Connection) -> str:
    """The fingerprint of the current labels."""
    current = labels(conn)
    return fingerprint(current.items, current.labels)


def write_labels_in(conn: sqlite3.Connection, entries: Iterable[tuple[int, int]], *, who: str,
                    source: str, overwrite: bool = False) -> LabelChange:
    """Write ``(item, class index)`` labels inside an open transaction.

    A label equal to the stored one changes nothing (so importing twice is harmless); a
    different one replaces it only with ``overwrite``, else ProjectError.
    """
    stamp, round_ = now(), current_round(conn)
    added = unchanged = replaced = 0
    for item, label in entries:
        old = conn.execute("SELECT label FROM labels WHERE item = ?", (item,)).fetchone()
        if old is not None and old[0] != label and not overwrite:
            raise ProjectError(f"item {item} is labeled {old[0]} already, not {label}")
        write_annotation(conn, item, who, label, round_=round_, source=source, at=stamp)
        if old is not None and old[0] == label:
            unchanged += 1
            continue
        conn.execute("INSERT OR REPLACE INTO labels (item, label, who, at, round, source) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (item, label, who, stamp, round_, source))
        conn.execute("INSERT INTO label_events (item, label, who, at, round, source) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (item, label, who, stamp, round_, source))
        if old is None:
            added += 1
        else:
            replaced += 1
    return LabelChange(added, unchanged, replaced)


def write_annotation(conn: sqlite3.Connection, item: int, who: str, label: int | None, *,
                     round_: int, source: str, at: str | None = None) -> bool:
    """Record ``who``'s own answer for ``item`` (a class index, or None: skipped in
    ``round_``) inside an open transaction; False when it was that already."""
    row = conn.execute("SELECT label, round FROM annotations WHERE item = ? AND who = ?",
                       (item, who)).fetchone()
    if row is not None and row[0] == label and (label is not None or row[1] == round_):
        return False
    seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM annotations").fetchone()[0]
    conn.execute("INSERT OR REPLACE INTO annotations (item, who, label, at, round, source, seq) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (item, who, label, at or now(), round_,
                                                  source, seq))
    return True


def set_label(conn: sqlite3.Connection, item: int, label: int, *, who: str,
              source: str = "label") -> None:
    """Give one item its label, in its own transaction (what the terminal loop does per key)."""
    with transaction(conn):
        write_labels_in(conn, [(item, label)], who=who, source=source, overwrite=True)


def remove_label(conn: sqlite3.Connection, item: int, *, who: str, source: str = "undo") -> bool:
    """Forget an item's label (undo); the history keeps both events. False if it had none."""
    with transaction(conn):
        gone = conn.execute("DELETE FROM labels WHERE item = ?", (item,)).rowcount
        conn.execute("DELETE FROM annotations WHERE item = ? AND who = ?", (item, who))
        if gone:
            conn.execute("INSERT INTO label_events (item, label, who, at, round, source) "
                         "VALUES (?, NULL, ?, ?, ?, ?)", (item, who, now(),
                                                          current_round(conn), source))
    return bool(gone)


# ---- rounds, models, evaluations --------------------------------------------------------

def add_round(conn: sqlite3.Connection, *, strategy: str, model: str, n_labeled: int,
              picks: Sequence[Pick], info: dict[str, Any],
              before_commit: Callable[[int], dict[str, Any]] | None = None) -> int:
    """Record a query batch, all of it in one transaction; returns its round number.

    ``before_commit(round)`` runs inside the transaction, holding the write lock, so the
    files it writes for this round cannot collide with a query running at the same time;
    what it returns joins ``info``.
    """
    with transaction(conn):
        round_ = current_round(conn) + 1
        if before_commit is not None:
            info = {**info, **before_commit(round_)}
        conn.execute("INSERT INTO rounds (round, at, strategy, model, n_labeled, info) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (round_, now(), strategy, model, n_labeled, json.dumps(info)))
        conn.executemany(
            "INSERT INTO round_items (round, rank, item, score, reason, predicted, confidence) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((round_, r, p.item, p.score,
              p.reason.to_json() if isinstance(p.reason, Reason) else p.reason,
              p.predicted, p.confidence)
             for r, p in enumerate(picks)))
    return round_


def rounds(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every round with its size and how many of its items are labeled now."""
    rows = conn.execute(
        "SELECT r.round, r.at, r.strategy, r.model, r.n_labeled, r.info, COUNT(ri.item), "
        "COUNT(l.item) FROM rounds r LEFT JOIN round_items ri ON ri.round = r.round "
        "LEFT JOIN labels l ON l.item = ri.item GROUP BY r.round ORDER BY r.round").fetchall()
    return [{"round": r, "at": at, "strategy": s, "model": m, "n_labeled": n,
             "info": json.loads(info), "size": size, "labeled_now": done}
            for r, at, s, m, n, info, size, done in rows]


def round_picks(conn: sqlite3.Connection, round_: int) -> list[Pick]:
    rows = conn.execute("SELECT item, score, reason, predicted, confidence FROM round_items "
                        "WHERE round = ? ORDER BY rank", (round_,)).fetchall()
    return [Pick(item, score, stored_reason(reason), predicted, confidence)
            for item, score, reason, predicted, confidence in rows]


def add_model(conn: sqlite3.Connection, *, file: str, round_: int, model: str, n_labeled: int,
              key: str) -> None:
    """Record a saved model file and the labeled set it was trained on."""
    with transaction(conn):
        add_model_in(conn, file=file, round_=round_, model=model, n_labeled=n_labeled, key=key)


def add_model_in(conn: sqlite3.Connection, *, file: str, round_: int, model: str,
                 n_labeled: int, key: str) -> None:
    """``add_model`` inside an open transaction."""
    conn.execute("INSERT OR REPLACE INTO models (file, at, round, model, n_labeled, "
                 "labels_key) VALUES (?, ?, ?, ?, ?, ?)",
                 (file, now(), round_, model, n_labeled, key))


def latest_model(conn: sqlite3.Connection) -> dict[str, Any] | None:
    row = conn.execute("SELECT file, at, round, model, n_labeled, labels_key FROM models "
                       "ORDER BY rowid DESC LIMIT 1").fetchone()
    keys = ("file", "at", "round", "model", "n_labeled", "labels_key")
    return dict(zip(keys, row, strict=True)) if row else None


def model_rows(conn: sqlite3.Connection, *, key: str | None = None, model: str | None = None
               ) -> list[dict[str, Any]]:
    """Recorded model files, newest first; only those of labels ``key`` / ``model`` if given."""
    where = " AND ".join(w for w, v in (("labels_key = ?", key), ("model = ?", model))
                         if v is not None)
    rows = conn.execute("SELECT file, at, round, model, n_labeled, labels_key FROM models "
                        + (f"WHERE {where} " if where else "") + "ORDER BY rowid DESC",
                        tuple(v for v in (key, model) if v is not None)).fetchall()
    keys = ("file", "at", "round", "model", "n_labeled", "labels_key")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def drop_model_in(conn: sqlite3.Connection, file: str) -> None:
    """Forget a model file's row, inside an open transaction (the caller deletes the file)."""
    conn.execute("DELETE FROM models WHERE file = ?", (file,))


def add_evaluation(conn: sqlite3.Connection, *, key: str, model: str, folds: int, round_: int,
                   n_labeled: int, accuracy: float, std: float) -> None:
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (key, model, folds, round_, n_labeled, accuracy, std))


def evaluation(conn: sqlite3.Connection, *, key: str, model: str,
               folds: int) -> tuple[float, float] | None:
    row = conn.execute("SELECT accuracy, std FROM evaluations WHERE labels_key = ? AND "
                       "model = ? AND folds = ?", (key, model, folds)).fetchone()
    return tuple(row) if row else None


# ---- what the web page shows ------------------------------------------------------------

def label_count(conn: sqlite3.Connection) -> int:
    """How many items are labeled now."""
    return conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]


def answer_counts(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """(who, labels given, items skipped) per annotator, most labels first."""
    return conn.execute("SELECT who, COUNT(label), SUM(label IS NULL) FROM annotations "
                        "GROUP BY who ORDER BY COUNT(label) DESC, who").fetchall()


def evaluation_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every cached cross-validation, by number of labels then round."""
    keys = ("round", "n_labeled", "model", "folds", "accuracy", "std")
    rows = conn.execute("SELECT round, n_labeled, model, folds, accuracy, std FROM evaluations "
                        "ORDER BY n_labeled, round").fetchall()
    return [dict(zip(keys, row, strict=True)) for row in rows]
