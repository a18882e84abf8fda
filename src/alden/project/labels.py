"""Every write that gives or takes a label: a person's own answer (``write_annotation``), an
item's label with its row in the history (``write_label``, the one writer of both), and a
file's labels written at once (``write_labels``: teach and init).

All run inside the caller's open transaction. ``write_label`` is the only code that changes
the ``labels`` table or adds to ``label_events``: teach and init reach it through
``write_labels``, the terminal labeler and the web page through ``answers`` (``give``,
``withdraw``, ``undo``, ``resolve``), so the history is written one way whoever labels.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from alden.errors import ProjectError
from alden.project import store


@dataclass(frozen=True)
class LabelChange:
    """What writing a set of labels did: new ones, ones already there, ones replaced."""

    added: int
    unchanged: int
    replaced: int


def write_label(conn: sqlite3.Connection, item: int, label: int | None, *, who: str,
                source: str, round_: int | None = None, at: str | None = None) -> bool:
    """Set ``item``'s label (a class index; None: no label) and add the change to the
    history; ``round_`` and ``at`` default to the current round and now. False, and nothing
    written, when there was no label to take away."""
    round_ = store.current_round(conn) if round_ is None else round_
    at = at or store.now()
    if label is None:
        if conn.execute("DELETE FROM labels WHERE item = ?", (item,)).rowcount == 0:
            return False
    else:
        conn.execute("INSERT OR REPLACE INTO labels (item, label, who, at, round, source) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (item, label, who, at, round_, source))
    conn.execute("INSERT INTO label_events (item, label, who, at, round, source) "
                 "VALUES (?, ?, ?, ?, ?, ?)", (item, label, who, at, round_, source))
    return True


def write_labels(conn: sqlite3.Connection, entries: Iterable[tuple[int, int]], *, who: str,
                 source: str, overwrite: bool = False) -> LabelChange:
    """Write ``(item, class index)`` labels, each also as ``who``'s answer.

    A label equal to the stored one changes nothing (so importing twice is harmless); a
    different one replaces it only with ``overwrite``, else ProjectError.
    """
    stamp, round_ = store.now(), store.current_round(conn)
    added = unchanged = replaced = 0
    for item, label in entries:
        old = store.label_of(conn, item)
        if old is not None and old != label and not overwrite:
            raise ProjectError(f"item {item} is labeled {old} already, not {label}")
        write_annotation(conn, item, who, label, round_=round_, source=source, at=stamp)
        if old is not None and old == label:
            unchanged += 1
            continue
        write_label(conn, item, label, who=who, source=source, round_=round_, at=stamp)
        if old is None:
            added += 1
        else:
            replaced += 1
    return LabelChange(added, unchanged, replaced)


def write_annotation(conn: sqlite3.Connection, item: int, who: str, label: int | None, *,
                     round_: int, source: str, at: str | None = None) -> bool:
    """Record ``who``'s own answer for ``item`` (a class index, or None: skipped in
    ``round_``); False when it was that already."""
    row = conn.execute("SELECT label, round FROM annotations WHERE item = ? AND who = ?",
                       (item, who)).fetchone()
    if row is not None and row[0] == label and (label is not None or row[1] == round_):
        return False
    seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM annotations").fetchone()[0]
    conn.execute("INSERT OR REPLACE INTO annotations (item, who, label, at, round, source, seq) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (item, who, label, at or store.now(), round_,
                                                  source, seq))
    return True
