"""The labeling project's SQLite file: schema, connections, transactions, creation.

Every write is one transaction (``BEGIN IMMEDIATE``): a killed process leaves all of a write
or none of it. The database runs in WAL mode with a busy timeout, so two commands on one
project wait for each other instead of failing or corrupting it. ``PRAGMA user_version``
holds the schema version and ``PRAGMA application_id`` marks the file as an alden project.
Only plain values are stored (text, numbers, JSON): opening a project runs none of its code.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alden.atomic import DISK_ERRNOS, disk_error
from alden.errors import AldenError, ProjectError
from alden.project import integrity

# Schema changes after version 1: version -> SQL that brings a project from the version
# before it. Additive only (new tables, new nullable columns), so no label is ever rewritten;
# ``connect`` applies the missing ones in one transaction, ``create`` applies all of them.
MIGRATIONS: dict[int, str] = {
    # 2: annotators (issue 13). Each person's own answer per item (a label, or a skip for one
    # round), the disagreements between them and how each was resolved, and the client ids
    # of requests already answered (a retried request never counts twice). ``labels`` stays
    # the resolved label that training uses; the labels given so far become their givers'
    # annotations.
    2: """
CREATE TABLE annotations (
    item INTEGER NOT NULL REFERENCES items(pos),
    who TEXT NOT NULL,
    label INTEGER REFERENCES classes(idx),  -- NULL: skipped in `round`
    at TEXT NOT NULL,
    round INTEGER NOT NULL,
    source TEXT NOT NULL,
    seq INTEGER NOT NULL,                   -- order given, over all annotations
    PRIMARY KEY (item, who)
);
INSERT INTO annotations (item, who, label, at, round, source, seq)
    SELECT item, who, label, at, round, source, 0 FROM labels;
CREATE TABLE conflicts (                    -- items whose annotators disagree
    item INTEGER PRIMARY KEY REFERENCES items(pos),
    opened TEXT NOT NULL,
    label INTEGER REFERENCES classes(idx),  -- the label chosen; NULL while open
    who TEXT,
    at TEXT,
    rule TEXT                               -- "page", "latest", "majority"
);
CREATE TABLE requests (                     -- requests answered, by the client's id
    client_id TEXT PRIMARY KEY,
    who TEXT NOT NULL,
    at TEXT NOT NULL,
    response TEXT NOT NULL                  -- JSON, answered again to a retry
);
""",
    # 3: when to stop, and how good the model is (issue 15). Check items are drawn at random
    # and never trained on (their labels stay in ``labels``); each trained model's
    # predictions on a fixed stop set and the quantities the stopping criteria read.
    3: """
CREATE TABLE check_items (
    item INTEGER PRIMARY KEY REFERENCES items(pos),
    added_at TEXT NOT NULL
);
CREATE TABLE stop_records (                -- one per labeled state and model
    labels_key TEXT NOT NULL,               -- fingerprint of the labels trained on
    model TEXT NOT NULL,
    round INTEGER NOT NULL,
    n_labeled INTEGER NOT NULL,
    at TEXT NOT NULL,
    predictions TEXT NOT NULL,              -- JSON list: predicted class per stop-set item
    quantities TEXT NOT NULL,               -- JSON: uncertainty, check accuracy, coverage
    PRIMARY KEY (labels_key, model)
);
""",
}
SCHEMA_VERSION = max(MIGRATIONS, default=1)
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
    conn = integrity.open_connection(path, timeout=BUSY_TIMEOUT_S)
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
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError as err:
        if err.errno not in DISK_ERRNOS:
            raise
        raise disk_error(err.errno, folder, err.strerror or str(err)) from err
    try:
        yield tmp
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.replace(tmp, folder)
    except OSError as err:  # a full disk, a read-only folder: say so, leave nothing behind
        if err.errno not in DISK_ERRNOS:
            raise
        raise disk_error(err.errno, folder, err.strerror or str(err)) from err
    except AldenError as err:  # name the folder asked for, not the temporary one
        if str(tmp) not in str(err):
            raise
        raise type(err)(str(err).replace(str(tmp), str(folder))) from err
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def create(folder: str | Path, *, ids: Sequence[str], texts: Sequence[str] | None = None,
           rows: Sequence[dict[str, Any]] | None = None, classes: Sequence[str] = (),
           settings: dict[str, Any] | None = None) -> Path:
    """Write a new project database holding ``ids`` with their ``texts`` or ``rows``."""
    if texts is not None and rows is None:
        content: Sequence[str] = texts
    elif rows is not None and texts is None:
        content = [json.dumps(r, ensure_ascii=False) for r in rows]
    else:
        raise ValueError("give exactly one of texts or rows")
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
        conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "".join(
            MIGRATIONS[v] for v in sorted(MIGRATIONS)))  # executescript commits an open one
        with _open_transaction(conn):
            column = "text" if texts is not None else "row"
            conn.executemany(f"INSERT INTO items (pos, id, {column}) VALUES (?, ?, ?)",
                             ((i, str(k), c) for i, (k, c) in enumerate(zip(ids, content,
                                                                            strict=True))))
            insert_classes(conn, classes)
            write_settings(conn, {"created": now(), **(settings or {})})
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    finally:
        conn.close()
    return path


def connect(folder: str | Path, *, check: bool = True) -> sqlite3.Connection:
    """Open an existing project, checking that it is one and that its schema is this version's.

    With ``check`` (the default) a damaged database is refused here (``PRAGMA quick_check``),
    before any command reads or writes it; ``alden export`` opens without it.
    """
    path = db_path(folder)
    if not Path(folder).is_dir():
        raise ProjectError(f"{folder}: no such project folder (make one with `alden init`)")
    if not path.is_file():
        raise ProjectError(f"{folder} is not an alden project: {DB_NAME} is missing")
    integrity.check_file(path)
    conn = integrity.open_connection(path, timeout=BUSY_TIMEOUT_S)
    try:
        _configure(conn)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if check and app_id == APPLICATION_ID:
            integrity.check_sound(conn)
    except sqlite3.DatabaseError as err:
        conn.close()
        raise ProjectError(f"{path} is not a readable SQLite database ({err})") from err
    except BaseException:
        conn.close()
        raise
    if app_id != APPLICATION_ID:
        conn.close()
        raise ProjectError(f"{path} is not an alden project database")
    if 1 <= version < SCHEMA_VERSION:
        _migrate(conn, version)
    elif version != SCHEMA_VERSION:
        conn.close()
        newer = "a newer" if version > SCHEMA_VERSION else "an older"
        raise ProjectError(
            f"{folder} was made by {newer} alden (project schema version {version}); this alden "
            f"reads schema version {SCHEMA_VERSION}. Use the alden version that made it, or "
            f"make a new project with `alden init` and `alden teach` its labels.")
    return conn


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a project made by an older alden up to ``SCHEMA_VERSION``: all steps or none."""
    steps = "".join(MIGRATIONS[v] for v in sorted(MIGRATIONS) if v > version)
    try:
        conn.executescript(f"BEGIN IMMEDIATE;{steps}PRAGMA user_version = {SCHEMA_VERSION};"
                           "COMMIT;")
    except sqlite3.DatabaseError as err:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
        raise ProjectError(f"could not upgrade the project's database from schema version "
                           f"{version} to {SCHEMA_VERSION} ({err}); nothing was changed") from err


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: all of it is committed, or none of it (also on SIGKILL).

    A damaged database is never written to: the transaction starts with SQLite's quick check.
    """
    conn.execute("BEGIN IMMEDIATE")  # take the write lock now, waiting up to the busy timeout
    with _open_transaction(conn):
        integrity.check_sound(conn)
        yield conn


@contextmanager
def _open_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    try:
        yield conn
        conn.execute("COMMIT")  # a full disk may refuse the commit itself: roll back then
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except (sqlite3.Error, ProjectError):
                pass  # SQLite rolled back already; the first error is the one to report
        raise


def integrity_check(conn: sqlite3.Connection) -> str:
    """SQLite's own check of the file: "ok" when intact."""
    return conn.execute("PRAGMA integrity_check").fetchone()[0]


# ---- settings ---------------------------------------------------------------------------

def write_settings(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    conn.executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                     ((k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()))


def insert_classes(conn: sqlite3.Connection, names: Iterable[str]) -> None:
    """Append the classes not known yet, inside the caller's transaction."""
    have = {r[0] for r in conn.execute("SELECT name FROM classes")}
    start = conn.execute("SELECT COUNT(*) FROM classes").fetchone()[0]
    new = [n for n in dict.fromkeys(names) if n not in have]
    conn.executemany("INSERT INTO classes (idx, name) VALUES (?, ?)",
                     ((start + i, n) for i, n in enumerate(new)))
