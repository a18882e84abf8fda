"""The labeling project's store: one SQLite database (items, classes, labels, rounds, settings).

Every write is one transaction (``BEGIN IMMEDIATE``): a killed process leaves all of a write
or none of it. The database runs in WAL mode with a busy timeout, so two commands on one
project wait for each other instead of failing or corrupting it. ``PRAGMA user_version``
holds the schema version and ``PRAGMA application_id`` marks the file as an alden project.
Only plain values are stored (text, numbers, JSON): opening a project runs none of its code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alden.errors import DataError, ProjectError

SCHEMA_VERSION = 1
APPLICATION_ID = 0x616C646E  # "aldn": tells an alden project from any other SQLite file
DB_NAME = "project.db"
BUSY_TIMEOUT_S = 60.0

SCHEMA = """
CREATE TABLE items (
    pos INTEGER PRIMARY KEY,          -- global pool index 0..N-1, never changes
    id TEXT NOT NULL UNIQUE,          -- the user's id (id column, else the data file's line)
    text TEXT,                        -- text projects: the raw text
    row TEXT                          -- tabular projects: the raw row as a JSON object
);
CREATE TABLE classes (
    idx INTEGER PRIMARY KEY,          -- label value used by the models, 0..C-1
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE labels (                 -- the current label of each labeled item
    item INTEGER PRIMARY KEY REFERENCES items(pos),
    label INTEGER NOT NULL REFERENCES classes(idx),
    who TEXT NOT NULL,
    at TEXT NOT NULL,                 -- UTC, ISO 8601
    round INTEGER NOT NULL,           -- the latest query round when it was given (0: none yet)
    source TEXT NOT NULL              -- "init", "teach FILE", "label"
);
CREATE TABLE label_events (           -- append-only history: every label given or removed
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item INTEGER NOT NULL REFERENCES items(pos),
    label INTEGER REFERENCES classes(idx),   -- NULL: the label was removed (undo)
    who TEXT NOT NULL,
    at TEXT NOT NULL,
    round INTEGER NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE rounds (                 -- one per query: the batch asked for
    round INTEGER PRIMARY KEY,        -- 1, 2, ...
    at TEXT NOT NULL,
    strategy TEXT NOT NULL,           -- the strategy used, or "cold-start"
    model TEXT NOT NULL,
    n_labeled INTEGER NOT NULL,       -- labels the model was trained on
    info TEXT NOT NULL                -- JSON: files written, notes
);
CREATE TABLE round_items (
    round INTEGER NOT NULL REFERENCES rounds(round),
    rank INTEGER NOT NULL,            -- pick order, 0 first
    item INTEGER NOT NULL REFERENCES items(pos),
    score REAL,
    reason TEXT,
    predicted INTEGER,                -- class index, NULL without a model
    confidence REAL,
    PRIMARY KEY (round, rank)
);
CREATE TABLE models (
    file TEXT PRIMARY KEY,            -- relative to the project folder
    at TEXT NOT NULL,
    round INTEGER NOT NULL,
    model TEXT NOT NULL,
    n_labeled INTEGER NOT NULL,
    labels_key TEXT NOT NULL          -- fingerprint of the labels it was trained on
);
CREATE TABLE evaluations (            -- cross-validation results, cached by labeled set
    labels_key TEXT NOT NULL,
    model TEXT NOT NULL,
    folds INTEGER NOT NULL,
    round INTEGER NOT NULL,
    n_labeled INTEGER NOT NULL,
    accuracy REAL NOT NULL,
    std REAL NOT NULL,
    PRIMARY KEY (labels_key, model, folds)
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);  -- value: JSON
"""


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
    reason: str | None
    predicted: int | None
    confidence: float | None


@dataclass(frozen=True)
class LabelChange:
    """What writing a set of labels did: new ones, ones already there, ones replaced."""

    added: int
    unchanged: int
    replaced: int


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def db_path(folder: str | Path) -> Path:
    return Path(folder) / DB_NAME


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")  # a label given survives a power cut too


def _raw_connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; `transaction()` opens each one.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    _configure(conn)
    return conn


def check_new_folder(folder: str | Path) -> Path:
    """A folder a new project may be made in: absent or empty, else ProjectError."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ProjectError(f"{folder} exists and is not empty: choose a new project folder")
    return folder


@contextmanager
def staging(folder: str | Path) -> Iterator[Path]:
    """Build a new project in a temporary folder beside ``folder``; move it in place at the end.

    An interrupted ``init`` leaves no half-made project: the folder appears whole or not at all.
    """
    folder = check_new_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield tmp
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def create(folder: str | Path, *, ids: Sequence[str], texts: Sequence[str] | None = None,
           rows: Sequence[dict[str, Any]] | None = None, classes: Sequence[str] = (),
           settings: dict[str, Any] | None = None) -> Path:
    """Write a new project database holding ``ids`` with their ``texts`` or ``rows``."""
    if (texts is None) == (rows is None):
        raise ValueError("give exactly one of texts or rows")
    content = texts if texts is not None else [json.dumps(r, ensure_ascii=False) for r in rows]
    if len(content) != len(ids):
        raise ValueError(f"{len(ids)} ids but {len(content)} items")
    if len(set(ids)) != len(ids):
        raise ProjectError("item ids are not unique")
    path = db_path(folder)
    if path.exists():
        raise ProjectError(f"{path} exists already")
    Path(folder).mkdir(parents=True, exist_ok=True)
    conn = _raw_connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript("BEGIN IMMEDIATE;" + SCHEMA)  # executescript would commit an open one
        with _open_transaction(conn):
            column = "text" if texts is not None else "row"
            conn.executemany(f"INSERT INTO items (pos, id, {column}) VALUES (?, ?, ?)",
                             ((i, str(k), c) for i, (k, c) in enumerate(zip(ids, content,
                                                                            strict=True))))
            _insert_classes(conn, classes)
            _write_settings(conn, {"created": now(), **(settings or {})})
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    finally:
        conn.close()
    return path


def connect(folder: str | Path) -> sqlite3.Connection:
    """Open an existing project, checking that it is one and that its schema is this version's."""
    path = db_path(folder)
    if not Path(folder).is_dir():
        raise ProjectError(f"{folder}: no such project folder (make one with `alden init`)")
    if not path.is_file():
        raise ProjectError(f"{folder} is not an alden project: {DB_NAME} is missing")
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        _configure(conn)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as err:
        conn.close()
        raise ProjectError(f"{path} is not a readable SQLite database ({err})") from err
    if app_id != APPLICATION_ID:
        conn.close()
        raise ProjectError(f"{path} is not an alden project database")
    if version != SCHEMA_VERSION:
        conn.close()
        newer = "a newer" if version > SCHEMA_VERSION else "an older"
        raise ProjectError(
            f"{folder} was made by {newer} alden (project schema version {version}); this alden "
            f"reads schema version {SCHEMA_VERSION}. Use the alden version that made it, or "
            f"make a new project with `alden init` and `alden teach` its labels.")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: all of it is committed, or none of it (also on SIGKILL)."""
    conn.execute("BEGIN IMMEDIATE")  # take the write lock now, waiting up to the busy timeout
    with _open_transaction(conn):
        yield conn


@contextmanager
def _open_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def integrity_check(conn: sqlite3.Connection) -> str:
    """SQLite's own check of the file: "ok" when intact."""
    return conn.execute("PRAGMA integrity_check").fetchone()[0]


# ---- settings ---------------------------------------------------------------------------

def _write_settings(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    conn.executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                     ((k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()))


def set_settings(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    """Store JSON-serialisable settings, one row per key, in one transaction."""
    with transaction(conn):
        _write_settings(conn, values)


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


def _insert_classes(conn: sqlite3.Connection, names: Iterable[str]) -> None:
    have = {r[0] for r in conn.execute("SELECT name FROM classes")}
    start = conn.execute("SELECT COUNT(*) FROM classes").fetchone()[0]
    new = [n for n in dict.fromkeys(names) if n not in have]
    conn.executemany("INSERT INTO classes (idx, name) VALUES (?, ?)",
                     ((start + i, n) for i, n in enumerate(new)))


def add_classes(conn: sqlite3.Connection, names: Iterable[str]) -> None:
    """Append classes not known yet (existing ones keep their index)."""
    with transaction(conn):
        _insert_classes(conn, names)


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
        if old is not None and old[0] == label:
            unchanged += 1
            continue
        if old is not None and not overwrite:
            raise ProjectError(f"item {item} is labeled {old[0]} already, not {label}")
        conn.execute("INSERT OR REPLACE INTO labels (item, label, who, at, round, source) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (item, label, who, stamp, round_, source))
        conn.execute("INSERT INTO label_events (item, label, who, at, round, source) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (item, label, who, stamp, round_, source))
        if old is None:
            added += 1
        else:
            replaced += 1
    return LabelChange(added, unchanged, replaced)


def set_label(conn: sqlite3.Connection, item: int, label: int, *, who: str,
              source: str = "label") -> None:
    """Give one item its label, in its own transaction (what the terminal loop does per key)."""
    with transaction(conn):
        write_labels_in(conn, [(item, label)], who=who, source=source, overwrite=True)


def remove_label(conn: sqlite3.Connection, item: int, *, who: str, source: str = "undo") -> bool:
    """Forget an item's label (undo); the history keeps both events. False if it had none."""
    with transaction(conn):
        gone = conn.execute("DELETE FROM labels WHERE item = ?", (item,)).rowcount
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
            ((round_, r, p.item, p.score, p.reason, p.predicted, p.confidence)
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
    return [Pick(*row) for row in rows]


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


# ---- importing labels (teach) -----------------------------------------------------------

@dataclass(frozen=True)
class LabelRow:
    """One label read from a file: where it was (for messages), the item id and the label."""

    where: str  # "line 7" or "task 3"
    id: str
    label: str
    problem: str | None = None  # set when the row itself is malformed


@dataclass(frozen=True)
class TeachResult:
    """What `teach` did: rows read, labels written, unchanged, replaced, blank, skipped."""

    rows: int
    change: LabelChange
    blank: int
    skipped: tuple[str, ...]
    new_classes: tuple[str, ...]


def read_label_file(path: str | Path, *, id_column: str = "id",
                    label_column: str = "label") -> list[LabelRow]:
    """Read ids and labels from CSV, TSV, JSON Lines, or Label Studio's JSON export."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[:err.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: not UTF-8 text ({err.reason}); save the file "
                        f"as UTF-8") from err
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_table(path, text, "\t" if suffix == ".tsv" else ",", id_column,
                           label_column)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path, text, id_column, label_column)
    if suffix == ".json":
        return _read_label_studio(path, text, id_column, label_column)
    raise DataError(f"{path}: unknown file type {suffix!r}; expected .csv, .tsv, .jsonl or "
                    f".json (Label Studio export)")


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _read_table(path: Path, text: str, delimiter: str, id_column: str,
                label_column: str) -> list[LabelRow]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: the file is empty; expected a header with columns "
                        f"{id_column!r} and {label_column!r}") from None
    except csv.Error as err:
        raise DataError(f"{path}, line 1: {err}") from err
    for column in (id_column, label_column):
        if column not in header:
            raise DataError(f"{path}: no column {column!r}; the columns are "
                            f"{', '.join(map(repr, header))}")
    at_id, at_label = header.index(id_column), header.index(label_column)
    rows = []
    try:
        for cells in reader:
            where = f"line {reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                rows.append(LabelRow(where, "", "", f"{len(cells)} fields, expected "
                                     f"{len(header)} as in the header"))
                continue
            rows.append(LabelRow(where, cells[at_id].strip(), cells[at_label].strip()))
    except csv.Error as err:
        raise DataError(f"{path}, line {reader.line_num}: {err}") from err
    return rows


def _read_jsonl(path: Path, text: str, id_column: str, label_column: str) -> list[LabelRow]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}, {where}: not valid JSON ({err.msg})") from err
        if not isinstance(record, dict) or id_column not in record:
            raise DataError(f"{path}, {where}: expected a JSON object with keys "
                            f"{id_column!r} and {label_column!r}")
        rows.append(LabelRow(where, _cell(record[id_column]), _cell(record.get(label_column))))
    return rows


def _read_label_studio(path: Path, text: str, id_column: str,
                       label_column: str) -> list[LabelRow]:
    """Label Studio's JSON export: the newest annotation's first choice of each task."""
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}, line {err.lineno}: not valid JSON ({err.msg})") from err
    if not isinstance(tasks, list):
        raise DataError(f"{path}: expected a JSON list of tasks (Label Studio's export)")
    rows = []
    for number, task in enumerate(tasks, start=1):
        where = f"task {number}"
        if not isinstance(task, dict):
            raise DataError(f"{path}, {where}: expected a JSON object")
        data = task.get("data", task)
        if not isinstance(data, dict) or id_column not in data:
            raise DataError(f"{path}, {where}: no {id_column!r} in the task's data")
        choice = _cell(task.get(label_column))
        for annotation in task.get("annotations") or []:
            if isinstance(annotation, dict) and not annotation.get("was_cancelled"):
                for result in annotation.get("result") or []:
                    choices = (result.get("value") or {}).get("choices") or []
                    if choices:
                        choice = _cell(choices[0])
        rows.append(LabelRow(where, _cell(data[id_column]), choice))
    return rows


def teach(conn: sqlite3.Connection, rows: Sequence[LabelRow], *, source: str, who: str,
          skip_bad: bool = False, add_classes: bool = False, overwrite: bool = False,
          on_write: Callable[[int], None] | None = None) -> TeachResult:
    """Check every row against the project, then write all labels in one transaction.

    Bad rows (unknown id, unknown label, one id with two labels, a label differing from the
    stored one without ``overwrite``) are reported by line and nothing is written, unless
    ``skip_bad``, which writes the good rows and returns the bad ones in ``skipped``. Rows with
    an empty label are counted as blank and left out. Labels must be among the project's
    classes; a project without classes takes the first file's labels as its classes, and
    ``add_classes`` lets a file add new ones.
    """
    with transaction(conn):
        positions = {k: i for i, k in conn.execute("SELECT pos, id FROM items")}
        known = classes(conn)
        stored = {item: known[label] for item, label in
                  conn.execute("SELECT item, label FROM labels")}
        adopt = add_classes or not known
        problems: list[str] = []
        good: dict[str, LabelRow] = {}
        conflicted: set[str] = set()
        blank = 0
        for row in rows:
            if row.problem:
                problems.append(f"{row.where}: {row.problem}")
            elif not row.id:
                problems.append(f"{row.where}: the id is empty")
            elif row.id not in positions:
                problems.append(f"{row.where}: unknown id {row.id!r}")
            elif not row.label:
                blank += 1
            elif row.label not in known and not adopt:
                problems.append(f"{row.where}: unknown label {row.label!r} for id {row.id!r}; "
                                f"the classes are {', '.join(map(repr, known))} (give "
                                f"--add-classes to add it)")
            elif row.id in good and good[row.id].label != row.label:
                first = good[row.id]
                conflicted.add(row.id)
                problems.append(f"{row.where}: id {row.id!r} is labeled {row.label!r} here but "
                                f"{first.label!r} on {first.where}")
            elif (stored.get(positions[row.id], row.label) != row.label and not overwrite):
                problems.append(f"{row.where}: id {row.id!r} is labeled "
                                f"{stored[positions[row.id]]!r} already, not {row.label!r} "
                                f"(give --overwrite to replace it)")
            else:
                good.setdefault(row.id, row)
        if problems and not skip_bad:
            raise DataError(_problem_list(source, problems))
        keep = [r for i, r in good.items() if i not in conflicted]  # which label is right?
        new_classes = tuple(sorted({r.label for r in keep} - set(known)))
        _insert_classes(conn, new_classes)
        index = {name: i for i, name in enumerate(classes(conn))}
        if on_write is not None:
            on_write(len(keep))
        change = write_labels_in(conn, ((positions[r.id], index[r.label]) for r in keep),
                                 who=who, source=source, overwrite=overwrite)
    return TeachResult(len(rows), change, blank, tuple(problems), new_classes)


def _problem_list(source: str, problems: Sequence[str], shown: int = 20) -> str:
    more = f"\n  ... and {len(problems) - shown} more" if len(problems) > shown else ""
    return (f"{source}: {len(problems)} bad row(s), nothing was written (fix them, or give "
            f"--skip-bad to write the good rows):\n  " + "\n  ".join(problems[:shown]) + more)
