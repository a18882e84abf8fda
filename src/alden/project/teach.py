"""Labels coming back: read a label file (CSV, TSV, JSON Lines, a Label Studio export) and
write its labels into the project in one checked transaction (``teach_file``, ``teach``)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alden.errors import DataError
from alden.project import store
from alden.project.store import LabelChange, classes, transaction, write_labels_in
from alden.project.workspace import user_name


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
        store.insert_classes(conn, new_classes)
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


def teach_file(folder: str | Path, path: str | Path, *, id_column: str = "id",
               label_column: str = "label", skip_bad: bool = False, add_classes: bool = False,
               overwrite: bool = False, who: str | None = None,
               on_write: Callable[[int], None] | None = None) -> TeachResult:
    """Import labels from a file: all rows checked first, then one transaction."""
    rows = read_label_file(path, id_column=id_column, label_column=label_column)
    conn = store.connect(folder)
    try:
        return teach(conn, rows, source=f"teach {Path(path).name}", who=who or user_name(),
                           skip_bad=skip_bad, add_classes=add_classes, overwrite=overwrite,
                           on_write=on_write)
    finally:
        conn.close()
