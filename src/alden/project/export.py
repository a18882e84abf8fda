"""Every label out as a table: the one format of `alden export` and the web page's download.

``read_labels`` opens the database read-only and reads each label's item id, class name,
annotator, time, round and source (``COLUMNS``); on a damaged database it reads what it can,
row by row, and recovers labels whose row is unreadable from the label history.
``export_labels`` writes that table as CSV or JSON Lines; ``labels_csv`` renders it as the
CSV text the web page sends, so both give the same bytes for the same project.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alden.atomic import write_atomic
from alden.errors import DataError, ProjectError
from alden.project import db, integrity

COLUMNS = ("id", "label", "annotator", "time", "round", "source")
MAX_MISSES = 20_000  # unreadable rows in a row that end a salvage walk


@dataclass(frozen=True)
class LabelTable:
    """Every readable label as a row of ``COLUMNS``; on a damaged database, what was
    recovered from the label history and what could not be read at all."""

    rows: list[tuple]
    damaged: bool
    recovered: int  # labels whose row was unreadable, taken from the label history
    lost: tuple[int, ...]  # item positions whose label could not be read at all


@dataclass(frozen=True)
class Exported:
    """What `export` wrote; on a damaged database, what it recovered and what it could not."""

    path: Path
    rows: int
    damaged: bool
    recovered: int
    lost: tuple[int, ...]


def read_labels(folder: str | Path) -> LabelTable:
    """Every label of the project in ``folder``, read-only, damaged database or not."""
    path = db.db_path(folder)
    if not path.is_file():
        raise ProjectError(f"{folder} is not an alden project: {db.DB_NAME} is missing")
    integrity.check_file(path)
    conn = integrity.open_connection(path, timeout=db.BUSY_TIMEOUT_S, read_only=True)
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] != db.APPLICATION_ID:
            raise ProjectError(f"{path} is not an alden project database")
        try:
            rows = conn.execute(
                "SELECT i.id, COALESCE(c.name, 'class ' || l.label), l.who, l.at, l.round, "
                "l.source FROM labels l JOIN items i ON i.pos = l.item LEFT JOIN classes c "
                "ON c.idx = l.label ORDER BY l.item").fetchall()
            return LabelTable(rows, bool(integrity.full_check(conn)), 0, ())
        except ProjectError:  # damaged pages: read what can be read, row by row
            return _salvage(conn)
    finally:
        conn.close()


def render(rows: list[tuple], suffix: str = ".csv") -> str:
    """The rows as CSV with a header of ``COLUMNS``, or as JSON Lines (``suffix`` .jsonl)."""
    if suffix == ".jsonl":
        return "".join(json.dumps(dict(zip(COLUMNS, r, strict=True)), ensure_ascii=False)
                       + "\n" for r in rows)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return table.getvalue()


def labels_csv(folder: str | Path) -> str:
    """Every label as the CSV text `alden export --out labels.csv` writes (the web download)."""
    return render(read_labels(folder).rows)


def export_labels(folder: str | Path, out: str | Path) -> Exported:
    """Write every label as CSV or JSON Lines (by ``out``'s suffix), damaged database or not."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise DataError(f"{out}: export writes .csv or .jsonl, not {out.suffix or 'no suffix'!r}")
    table = read_labels(folder)
    write_atomic(out, render(table.rows, suffix))
    return Exported(out, len(table.rows), table.damaged, table.recovered, table.lost)


def _lookup(conn: sqlite3.Connection, sql: str, key: int) -> tuple | None | Exception:
    """One row by its key: the row, None when absent, the error when unreadable."""
    try:
        return conn.execute(sql, (key,)).fetchone()
    except (ProjectError, sqlite3.DatabaseError) as err:
        return err


def _walk(conn: sqlite3.Connection, sql: str, start: int
          ) -> Iterator[tuple[int, tuple | Exception]]:
    """(key, row or error) for keys start, start+1, ... up to the first absent key; a run of
    ``MAX_MISSES`` unreadable keys in a row ends the walk too (a damaged last page)."""
    key, misses = start, 0
    while misses < MAX_MISSES and (row := _lookup(conn, sql, key)) is not None:
        misses = 0 if isinstance(row, tuple) else misses + 1
        yield key, row
        key += 1


def _salvage(conn: sqlite3.Connection) -> LabelTable:
    """Labels read one row at a time, skipping damaged pages; rows lost there are taken from
    the label history (its latest readable event per item) where it can be read."""
    try:
        names = dict(conn.execute("SELECT idx, name FROM classes").fetchall())
    except (ProjectError, sqlite3.DatabaseError):
        names = {}
    walked = list(_walk(conn, "SELECT id FROM items WHERE pos = ?", 0))
    ids = {pos: row[0] for pos, row in walked if isinstance(row, tuple)}
    labels: dict[int, tuple] = {}
    unreadable = []
    for item in range(len(walked)):
        row = _lookup(conn, "SELECT label, who, at, round, source FROM labels WHERE item = ?",
                      item)
        if isinstance(row, tuple):
            labels[item] = row
        elif row is not None:
            unreadable.append(item)
    history = {row[0]: row[1:] for _, row in _walk(
        conn, "SELECT item, label, who, at, round, source FROM label_events WHERE seq = ?", 1)
        if isinstance(row, tuple)}
    recovered, lost = 0, []
    for item in unreadable:
        event = history.get(item)
        if event is None:
            lost.append(item)
        elif event[0] is not None:  # None: the label was removed (undo)
            labels[item] = event
            recovered += 1
    rows = [(ids.get(item, f"#{item}"), names.get(label, f"class {label}"), *rest)
            for item, (label, *rest) in sorted(labels.items())]
    return LabelTable(rows, True, recovered, tuple(lost))
