"""The labeling project's store: what its SQLite database holds (items, classes, labels, rounds,
settings, models, evaluations, the check set, stop records), read and written one transaction
at a time. Labels and answers are written by ``alden.project.labels`` alone.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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


def item_content(conn: sqlite3.Connection, pos: int) -> str | dict[str, Any]:
    """One item's text, or its row as a dict (IndexError: no item ``pos``)."""
    found = conn.execute("SELECT text, row FROM items WHERE pos = ?", (pos,)).fetchone()
    if found is None:
        raise IndexError(f"no item {pos}")
    text, row = found
    return text if text is not None else json.loads(row)


def classes(conn: sqlite3.Connection) -> tuple[str, ...]:
    return tuple(r[0] for r in conn.execute("SELECT name FROM classes ORDER BY idx"))


def add_classes(conn: sqlite3.Connection, names: Iterable[str]) -> None:
    """Append classes not known yet (existing ones keep their index), in one transaction."""
    with transaction(conn):
        insert_classes(conn, names)


# ---- labels -----------------------------------------------------------------------------

def current_round(conn: sqlite3.Connection) -> int:
    """The latest query round (0 before the first query): labels given now belong to it."""
    return conn.execute("SELECT COALESCE(MAX(round), 0) FROM rounds").fetchone()[0]


def labels(conn: sqlite3.Connection) -> Labels:
    rows = conn.execute("SELECT item, label, round FROM labels ORDER BY item").fetchall()
    return Labels(*(tuple(c) for c in zip(*rows, strict=True))) if rows else Labels((), (), ())


def label_of(conn: sqlite3.Connection, item: int) -> int | None:
    """``item``'s label (a class index), None if it has none."""
    row = conn.execute("SELECT label FROM labels WHERE item = ?", (item,)).fetchone()
    return None if row is None else row[0]


def split_labels(labels: Labels, check: tuple[int, ...]) -> tuple[Labels, Labels]:
    """(training labels, check labels): the labels of check items go to the second."""
    if not check:
        return labels, Labels((), (), ())
    is_check = np.isin(np.asarray(labels.items, dtype=np.int64), np.asarray(check))
    parts = []
    for keep in (~is_check, is_check):
        at = np.flatnonzero(keep)
        parts.append(Labels(*(tuple(int(v) for v in np.asarray(col)[at])
                              for col in (labels.items, labels.labels, labels.rounds))))
    return parts[0], parts[1]


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


# ---- the check set and the stop records ----------------------------------------------------

def check_items(conn: sqlite3.Connection) -> tuple[int, ...]:
    """The check items' positions, ascending (none in a project without a check set)."""
    return tuple(r[0] for r in conn.execute("SELECT item FROM check_items ORDER BY item"))


def add_check_items_in(conn: sqlite3.Connection, items: Iterable[int]) -> None:
    """Put items in the check set, inside an open transaction."""
    conn.executemany("INSERT INTO check_items (item, added_at) VALUES (?, ?)",
                     ((int(i), now()) for i in items))


def has_stop_record(conn: sqlite3.Connection, key: str, model: str) -> bool:
    """Whether the stop record of the labels ``key`` and ``model`` is kept already."""
    return conn.execute("SELECT 1 FROM stop_records WHERE labels_key = ? AND model = ?",
                        (key, model)).fetchone() is not None


def add_stop_record(conn: sqlite3.Connection, *, key: str, model: str, round_: int,
                    n_labeled: int, predictions: list[int], quantities: dict[str, Any]) -> None:
    """Keep a model's stop record (once per labels ``key`` and model), in one transaction."""
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO stop_records (labels_key, model, round, n_labeled,"
                     " at, predictions, quantities) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (key, model, round_, n_labeled, now(), json.dumps(predictions),
                      json.dumps(quantities)))


def stop_quantities(conn: sqlite3.Connection, key: str, model: str) -> dict[str, Any] | None:
    """The quantities of the stop record of the labels ``key`` and ``model``, if kept."""
    row = conn.execute("SELECT quantities FROM stop_records WHERE labels_key = ? AND "
                       "model = ?", (key, model)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def stop_records(conn: sqlite3.Connection, model: str
                 ) -> list[tuple[int, int, list[int], dict[str, Any]]]:
    """(round, labels, predictions on the stop set, quantities) of ``model``'s stop records,
    in the order they were kept."""
    return [(round_, n_labeled, json.loads(predictions), json.loads(quantities))
            for round_, n_labeled, predictions, quantities in conn.execute(
                "SELECT round, n_labeled, predictions, quantities FROM stop_records "
                "WHERE model = ? ORDER BY rowid", (model,))]


# ---- rounds, models, evaluations --------------------------------------------------------

def add_round(conn: sqlite3.Connection, *, strategy: str, model: str, n_labeled: int,
              picks: Sequence[Pick], info: dict[str, Any]) -> int:
    """Record a query batch, all of it in one transaction; returns its round number."""
    with transaction(conn):
        round_ = current_round(conn) + 1
        add_round_in(conn, round_, strategy=strategy, model=model, n_labeled=n_labeled,
                     picks=picks, info=info)
    return round_


def add_round_in(conn: sqlite3.Connection, round_: int, *, strategy: str, model: str,
                 n_labeled: int, picks: Sequence[Pick], info: dict[str, Any]) -> None:
    """``add_round`` inside an open transaction, for round ``current_round + 1``: a caller
    that writes files named after the round writes them in the same transaction, holding the
    write lock, so they cannot collide with those of a query running at the same time."""
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

