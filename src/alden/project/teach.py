"""Labels coming back: read a label file (CSV, TSV, JSON Lines, a Label Studio export) and
write its labels into the project in one checked transaction (``teach_file``, ``teach``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alden.cli_types import plural
from alden.errors import DataError
from alden.project import answers, store
from alden.project.backup import make_backup
from alden.project.labels import LabelChange, write_annotation, write_labels
from alden.project.workspace import user_name


@dataclass(frozen=True)
class LabelRow:
    """One label read from a file: where it was (for messages), the item id and the label."""

    where: str  # "line 7" or "task 3"
    id: str
    label: str
    problem: str | None = None  # set when the row itself is malformed
    answers: tuple[tuple[str, str], ...] = ()  # Label Studio: (annotator, label), oldest first


@dataclass(frozen=True)
class TeachResult:
    """What `teach` did: rows read, labels written, unchanged, replaced, blank, skipped."""

    rows: int
    change: LabelChange
    blank: int
    skipped: tuple[str, ...]
    new_classes: tuple[str, ...]
    conflicts: tuple[str, ...] = ()  # annotators disagreeing, and what the rule made of it


def read_label_file(path: str | Path, *, id_column: str = "id",
                    label_column: str = "label", delimiter: str | None = None
                    ) -> list[LabelRow]:
    """Read ids and labels from CSV, TSV, JSON Lines, or Label Studio's JSON export.

    CSV, TSV and JSON Lines go through ``alden.data.files``, the reader of ``init``, so a
    row's line here is the line ``init`` and every other message gives it; a CSV/TSV file is
    split at ``delimiter``, else at the one detected. A label is never split.
    """
    from alden.data.files import decode_file, parse_delimited, parse_json_lines

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json"):
        raise DataError(f"{path}: unknown file type {suffix!r}; expected .csv, .tsv, .jsonl or "
                        f".json (Label Studio export)")
    text = decode_file(path, option=None)
    if suffix == ".json":
        return _read_label_studio(path, text, id_column, label_column)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header with columns "
                        f"{id_column!r} and {label_column!r}")
    if suffix in (".jsonl", ".ndjson"):
        table = parse_json_lines(path, text)
    else:
        table = parse_delimited(path, text, delimiter=delimiter, ragged=True, need_rows=False)
    for column in (id_column, label_column):
        if column not in table.header and (suffix not in (".jsonl", ".ndjson")
                                           or column == id_column):
            table.column(column, "--id-column" if column == id_column else "--label-column")
    at_id = table.header.index(id_column)
    at_label = table.header.index(label_column) if label_column in table.header else None
    rows = []
    for line, cells in zip(table.lines, table.rows, strict=True):
        where = f"line {line}"
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(table.header):
            rows.append(LabelRow(where, "", "", f"{len(cells)} fields, expected "
                                 f"{len(table.header)} as in the header"))
            continue
        rows.append(LabelRow(where, cells[at_id].strip(),
                             cells[at_label].strip() if at_label is not None else ""))
    return rows


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _read_label_studio(path: Path, text: str, id_column: str,
                       label_column: str) -> list[LabelRow]:
    """Label Studio's JSON export: each annotator's first choice of each task (``answers``,
    oldest first); ``label`` is the newest one."""
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
        given = []
        for n, annotation in enumerate(task.get("annotations") or [], start=1):
            if isinstance(annotation, dict) and not annotation.get("was_cancelled"):
                for result in annotation.get("result") or []:
                    choices = (result.get("value") or {}).get("choices") or []
                    if choices:
                        when = annotation.get("updated_at") or annotation.get("created_at")
                        given.append((str(when or ""), n, _annotator(annotation, n),
                                      _cell(choices[0])))
        given.sort()  # oldest first: by time where the export has it, else in list order
        pairs = tuple((who, label) for _, _, who, label in given)
        choice = pairs[-1][1] if pairs else _cell(task.get(label_column))
        rows.append(LabelRow(where, _cell(data[id_column]), choice, answers=pairs))
    return rows


def _annotator(annotation: dict[str, Any], n: int) -> str:
    """Who gave a Label Studio annotation: its user's email or id, else its place."""
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return f"labelstudio:{who}" if who not in (None, "") else f"labelstudio:annotation {n}"


def teach(conn: sqlite3.Connection, rows: Sequence[LabelRow], *, source: str, who: str,
          skip_bad: bool = False, add_classes: bool = False, overwrite: bool = False,
          on_write: Callable[[int], None] | None = None,
          on_conflict: str | None = None) -> TeachResult:
    """Check every row against the project, then write all labels in one transaction.

    Bad rows (unknown id, unknown label, one id with two labels, a label differing from the
    stored one without ``overwrite``) are reported by line and nothing is written, unless
    ``skip_bad``, which writes the good rows and returns the bad ones in ``skipped``. Rows with
    an empty label are counted as blank and left out. Labels must be among the project's
    classes; a project without classes takes the first file's labels as its classes, and
    ``add_classes`` lets a file add new ones.

    A Label Studio task that several annotators answered keeps every answer (the
    ``annotations`` table). When they disagree, the task is a bad row unless ``on_conflict``
    says what to do: ``latest`` (the newest answer), ``majority`` (a tie is left open) or
    ``skip`` (left open: listed on the status page of ``alden serve`` until resolved); the
    label stays what it was while open, and ``conflicts`` says what happened to each.
    """
    if on_conflict is not None:
        answers.by_rule((), on_conflict)  # an unknown rule fails before anything is read
    with store.transaction(conn):
        positions = {id_: pos for pos, id_ in enumerate(store.item_ids(conn))}
        known = store.classes(conn)
        stored = {item: known[label] for item, label in store.labels(conn).as_dict().items()}
        checked = _check_rows(rows, positions, known, stored, adopt=add_classes or not known,
                              overwrite=overwrite, on_conflict=on_conflict)
        if checked.problems and not skip_bad:
            raise DataError(_problem_list(source, checked.problems))
        given = ({r.label for r in checked.keep}
                 | {a for r in checked.answered.values() for _, a in r.answers})
        new_classes = tuple(sorted(given - set(known)))
        store.insert_classes(conn, new_classes)
        index = {name: i for i, name in enumerate(store.classes(conn))}
        if on_write is not None:
            on_write(len(checked.keep))
        change = _write_rows(conn, checked, positions, index, source=source, who=who,
                             overwrite=overwrite, on_conflict=on_conflict)
    return TeachResult(len(rows), change, checked.blank, tuple(checked.problems), new_classes,
                       tuple(checked.notes))


@dataclass(frozen=True)
class _Checked:
    """The rows of a label file checked against the project: the labels to write (``keep``),
    the tasks several annotators answered, what was wrong, and the notes on disagreements."""

    keep: list[LabelRow]
    answered: dict[str, LabelRow]  # tasks with several answers, by id: all of them kept
    conflicted: set[str]  # ids given two labels in the file: none of their rows is written
    problems: list[str]
    notes: list[str]
    blank: int


def _check_rows(rows: Sequence[LabelRow], positions: dict[str, int], known: tuple[str, ...],
                stored: dict[int, str], *, adopt: bool, overwrite: bool,
                on_conflict: str | None) -> _Checked:
    """Every row checked against the project's ids, classes (``adopt``: new ones allowed)
    and stored labels, and against the file's other rows."""
    problems: list[str] = []
    notes: list[str] = []
    good: dict[str, LabelRow] = {}
    conflicted: set[str] = set()
    blank = 0
    answered: dict[str, LabelRow] = {}
    for row in rows:
        several = len({label for _, label in row.answers}) > 1
        if several and row.id in positions and not row.problem:
            resolved, note = _disagreement(row, on_conflict)
            if resolved is None:
                problems.append(note)
                continue
            row = resolved
            notes.append(note)
        if row.problem:
            problems.append(f"{row.where}: {row.problem}")
        elif not row.id:
            problems.append(f"{row.where}: the id is empty")
        elif row.id not in positions:
            problems.append(f"{row.where}: unknown id {row.id!r}")
        elif (unknown := [a for _, a in row.answers if a not in known]) and not adopt:
            problems.append(f"{row.where}: unknown label {unknown[0]!r} for id {row.id!r}; "
                            f"the classes are {', '.join(map(repr, known))} (give "
                            f"--add-classes to add it)")
        elif not row.label:
            blank += 0 if several else 1
            if several:
                answered[row.id] = row
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
            if row.answers:
                answered[row.id] = row
    keep = [r for i, r in good.items() if i not in conflicted]  # which label is right?
    return _Checked(keep, answered, conflicted, problems, notes, blank)


def _write_rows(conn: sqlite3.Connection, checked: _Checked, positions: dict[str, int],
                index: dict[str, int], *, source: str, who: str, overwrite: bool,
                on_conflict: str | None) -> LabelChange:
    """Write the checked rows: every annotator's answer under their own name, the labels
    (a task's by whoever answered it last), and each disagreement resolved or left open."""
    round_ = store.current_round(conn)
    for row in checked.answered.values():
        for name, label in row.answers:
            write_annotation(conn, positions[row.id], name, index[label], round_=round_,
                             source=source)
    change = write_labels(conn, ((positions[r.id], index[r.label]) for r in checked.keep
                                 if not r.answers), who=who, source=source, overwrite=overwrite)
    for row in (r for r in checked.keep if r.answers):
        name = [n for n, label in row.answers if label == row.label][-1]
        more = write_labels(conn, [(positions[row.id], index[row.label])], who=name,
                            source=source, overwrite=overwrite)
        change = LabelChange(*(a + b for a, b in zip(
            (change.added, change.unchanged, change.replaced),
            (more.added, more.unchanged, more.replaced), strict=True)))
    for row in checked.answered.values():
        disputed = len({label for _, label in row.answers}) > 1
        if disputed and row.label and row.id not in checked.conflicted:
            answers.resolve_in(conn, positions[row.id], index[row.label], who=who,
                                   rule=str(on_conflict))
        elif disputed:
            answers.settle(conn, positions[row.id], source=source)  # stays open
    return change


def _disagreement(row: LabelRow, rule: str | None) -> tuple[LabelRow | None, str]:
    """A task whose annotators disagree: the row with the label ``rule`` picks (blank: left
    open), and a note; (None, the problem) without a rule."""
    said = ", ".join(f"{who}: {label!r}" for who, label in row.answers)
    if rule is None:
        return None, (f"{row.where}: annotators disagree on id {row.id!r} ({said}); give "
                      f"--on-conflict latest, majority or skip")
    names = sorted({label for _, label in row.answers})  # the rule reads labels as numbers
    given = [answers.Answer(who, names.index(label), n, "", "") for n, (who, label)
             in enumerate(row.answers)]
    picked = answers.by_rule(given, rule)
    if picked is None:
        why = "a tie" if rule == "majority" else "--on-conflict skip"
        return (LabelRow(row.where, row.id, "", answers=row.answers),
                f"{row.where}: id {row.id!r}: {said}; left open ({why}): resolve it on the "
                f"status page of `alden serve`")
    chosen = names[picked]
    return (LabelRow(row.where, row.id, chosen, answers=row.answers),
            f"{row.where}: id {row.id!r}: {said}; {chosen!r} by --on-conflict {rule}")


def _problem_list(source: str, problems: Sequence[str], shown: int = 20) -> str:
    more = f"\n  ... and {len(problems) - shown} more" if len(problems) > shown else ""
    return (f"{source}: {plural(len(problems), 'bad row')}, nothing was written (fix them, or give "
            f"--skip-bad to write the good rows):\n  " + "\n  ".join(problems[:shown]) + more)


def teach_file(folder: str | Path, path: str | Path, *, id_column: str = "id",
               label_column: str = "label", skip_bad: bool = False, add_classes: bool = False,
               overwrite: bool = False, who: str | None = None,
               on_write: Callable[[int], None] | None = None,
               on_conflict: str | None = None, delimiter: str | None = None) -> TeachResult:
    """Import labels from a file: all rows checked first, then one transaction."""
    rows = read_label_file(path, id_column=id_column, label_column=label_column,
                           delimiter=delimiter)
    conn = store.connect(folder)
    try:
        make_backup(conn, folder, "teach")
        return teach(conn, rows, source=f"teach {Path(path).name}", who=who or user_name(),
                           skip_bad=skip_bad, add_classes=add_classes, overwrite=overwrite,
                           on_write=on_write, on_conflict=on_conflict)
    finally:
        conn.close()
