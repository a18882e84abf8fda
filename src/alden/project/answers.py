"""Annotators: each person's own answer per item, their disagreements, and the one label per
item that training uses.

Every answer is kept in ``annotations`` (one row per item and person: a class, or a skip for
one round). The ``labels`` table holds the resolved label: the answer when everyone who
answered agrees; when they disagree, the label stays what it was (nothing is overwritten
silently) and the item is an open disagreement until someone resolves it (``resolve``: from
the status page, or by a rule: ``latest`` answer, ``majority`` of answers). ``give`` and
``undo`` are one transaction each, and a request carrying a client id that was answered
before changes nothing (a retry never counts twice). Labels change only through
``labels.write_label``, which keeps the history.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from alden.errors import ProjectError
from alden.project import store
from alden.project.labels import write_annotation, write_label
from alden.project.store import now, transaction
from alden.strategies.reasons import stored_reason

RULES = ("latest", "majority", "skip")


@dataclass(frozen=True)
class Answer:
    """One person's label for an item, in the order given (``seq``)."""

    who: str
    label: int
    seq: int
    at: str
    source: str


@dataclass(frozen=True)
class Disagreement:
    """An item whose annotators disagree, with the label training uses now (or None)."""

    item: int
    answers: tuple[Answer, ...]
    label: int | None


@dataclass(frozen=True)
class Outcome:
    """What a request did: "labeled", "skipped", "conflict", "unlabeled", "nothing"; the item
    it touched; whether it was a retry of a request answered before."""

    outcome: str
    item: int | None
    duplicate: bool = False


def answers(conn: sqlite3.Connection, item: int) -> list[Answer]:
    """Every label given for ``item`` (skips left out), in the order given."""
    return [Answer(*r) for r in conn.execute(
        "SELECT who, label, seq, at, source FROM annotations WHERE item = ? AND label IS NOT "
        "NULL ORDER BY seq", (item,))]


def by_rule(given: Sequence[Answer], rule: str) -> int | None:
    """The label a rule picks among disagreeing answers: the ``latest`` given, the
    ``majority`` (None on a tie), or None for ``skip`` (left for a person to resolve)."""
    if rule not in RULES:
        raise ProjectError(f"unknown conflict rule {rule!r}; choose one of {', '.join(RULES)}")
    if not given or rule == "skip":
        return None
    if rule == "latest":
        return max(given, key=lambda a: a.seq).label
    counts = Counter(a.label for a in given).most_common()
    return counts[0][0] if len(counts) == 1 or counts[0][1] > counts[1][1] else None


def settle(conn: sqlite3.Connection, item: int, *, source: str) -> str:
    """Bring ``labels`` and ``conflicts`` in line with the answers for ``item``, inside the
    caller's transaction: agreement sets the label, disagreement keeps it and stays listed."""
    given = answers(conn, item)
    current = store.label_of(conn, item)
    distinct = {a.label for a in given}
    if len(distinct) <= 1:
        conn.execute("DELETE FROM conflicts WHERE item = ?", (item,))
        label = distinct.pop() if distinct else None
        if label != current:
            who = given[-1].who if given else "undo"
            write_label(conn, item, label, who=who, source=source)
        return "labeled" if given else "unlabeled"
    latest = given[-1]
    resolved = conn.execute("SELECT label FROM conflicts WHERE item = ?", (item,)).fetchone()
    if resolved is None:
        conn.execute("INSERT INTO conflicts (item, opened) VALUES (?, ?)", (item, now()))
    elif resolved[0] is not None and resolved[0] != latest.label:
        conn.execute("UPDATE conflicts SET opened = ?, label = NULL, who = NULL, at = NULL, "
                     "rule = NULL WHERE item = ?", (now(), item))
    return "conflict"  # the label stays what it was (none: unlabeled) until resolved


def _replay(conn: sqlite3.Connection, client_id: str | None) -> Outcome | None:
    if client_id is None:
        return None
    row = conn.execute("SELECT response FROM requests WHERE client_id = ?",
                       (client_id,)).fetchone()
    if row is None:
        return None
    done = json.loads(row[0])
    return Outcome(done["outcome"], done["item"], duplicate=True)


def _remember(conn: sqlite3.Connection, client_id: str | None, who: str,
              outcome: Outcome) -> Outcome:
    if client_id is not None:
        conn.execute("INSERT INTO requests (client_id, who, at, response) VALUES (?, ?, ?, ?)",
                     (client_id, who, now(), json.dumps({"outcome": outcome.outcome,
                                                         "item": outcome.item})))
    return outcome


def check_item(conn: sqlite3.Connection, item: int, label: int | None) -> None:
    """An error unless ``item`` is an item of the project and ``label`` one of its classes."""
    if conn.execute("SELECT 1 FROM items WHERE pos = ?", (item,)).fetchone() is None:
        raise ProjectError(f"no item {item} in this project")
    if label is not None and conn.execute("SELECT 1 FROM classes WHERE idx = ?",
                                          (label,)).fetchone() is None:
        raise ProjectError(f"no class {label} in this project")


def give(conn: sqlite3.Connection, item: int, label: int | None, *, who: str,
         source: str = "label", client_id: str | None = None) -> Outcome:
    """``who`` labels ``item`` (a class index; None: skips it this round), in one
    transaction, committed before this returns."""
    with transaction(conn):
        again = _replay(conn, client_id)
        if again is not None:
            return again
        check_item(conn, item, label)
        write_annotation(conn, item, who, label, round_=store.current_round(conn),
                         source=source)
        outcome = "skipped" if label is None else settle(conn, item, source=source)
        return _remember(conn, client_id, who, Outcome(outcome, item))


def withdraw(conn: sqlite3.Connection, item: int, *, who: str, source: str = "undo") -> bool:
    """Take back ``who``'s answer for ``item`` in one transaction; False if there was none."""
    with transaction(conn):
        return _withdraw(conn, item, who, source)


def _withdraw(conn: sqlite3.Connection, item: int, who: str, source: str) -> bool:
    gone = conn.execute("DELETE FROM annotations WHERE item = ? AND who = ?",
                        (item, who)).rowcount
    if gone:
        settle(conn, item, source=source)
    return bool(gone)


def undo(conn: sqlite3.Connection, *, who: str, client_id: str | None = None,
         source: str = "undo") -> Outcome:
    """Take back ``who``'s latest answer (label or skip) in the current batch."""
    with transaction(conn):
        again = _replay(conn, client_id)
        if again is not None:
            return again
        round_ = store.current_round(conn)
        row = conn.execute(
            "SELECT item FROM annotations WHERE who = ? AND round = ? AND item IN (SELECT item "
            "FROM round_items WHERE round = ?) ORDER BY seq DESC LIMIT 1",
            (who, round_, round_)).fetchone()
        if row is None:
            return _remember(conn, client_id, who, Outcome("nothing", None))
        _withdraw(conn, row[0], who, source)
        return _remember(conn, client_id, who, Outcome("unlabeled", row[0]))


def resolve(conn: sqlite3.Connection, item: int, label: int, *, who: str,
            rule: str = "page") -> None:
    """Settle a disagreement: ``label`` becomes the item's label; every answer is kept."""
    with transaction(conn):
        check_item(conn, item, label)
        if len({a.label for a in answers(conn, item)}) < 2:
            raise ProjectError(f"item {item} has no disagreement to resolve")
        resolve_in(conn, item, label, who=who, rule=rule)


def resolve_in(conn: sqlite3.Connection, item: int, label: int, *, who: str, rule: str) -> None:
    """``resolve`` inside an open transaction."""
    if store.label_of(conn, item) != label:
        write_label(conn, item, label, who=who, source=f"resolve {rule}")
    conn.execute("INSERT OR REPLACE INTO conflicts (item, opened, label, who, at, rule) VALUES "
                 "(?, COALESCE((SELECT opened FROM conflicts WHERE item = ?), ?), ?, ?, ?, ?)",
                 (item, item, now(), label, who, now(), rule))


def disagreements(conn: sqlite3.Connection, *, resolved: bool = False) -> list[Disagreement]:
    """Items whose annotators gave different labels: the open ones (or the resolved ones)."""
    rows = conn.execute(
        "SELECT a.item FROM annotations a LEFT JOIN conflicts c ON c.item = a.item "
        "WHERE a.label IS NOT NULL GROUP BY a.item HAVING COUNT(DISTINCT a.label) > 1 AND "
        + ("MAX(c.label) IS NOT NULL" if resolved else "MAX(c.label) IS NULL")
        + " ORDER BY a.item").fetchall()
    out = []
    for (item,) in rows:
        out.append(Disagreement(item, tuple(answers(conn, item)), store.label_of(conn, item)))
    return out


def skipped(conn: sqlite3.Connection, who: str, round_: int) -> set[int]:
    """Items ``who`` skipped in ``round_``."""
    return {r[0] for r in conn.execute(
        "SELECT item FROM annotations WHERE who = ? AND round = ? AND label IS NULL",
        (who, round_))}


PAGE_SOURCE = "serve"  # the label page's answers: annotators there may label an item twice


@dataclass(frozen=True)
class Queue:
    """One annotator's place in the current batch: its size, how many of its items the
    annotator has labeled or skipped, how many others were labeled outside the page
    meanwhile (``teach``, the terminal labeler), and the next one to show: the first in pick
    order that is none of these (annotators of the page may still label the same item, so
    that their disagreements show)."""

    round: int
    size: int
    labeled: int
    skipped: int
    current: store.Pick | None
    elsewhere: int = 0

    @property
    def done(self) -> int:
        return self.labeled + self.skipped


def queue(conn: sqlite3.Connection, who: str) -> Queue:
    """``who``'s place in the latest batch, read in one snapshot by a few indexed queries
    (it is asked after every label, so it reads no more than the one item it shows)."""
    conn.execute("BEGIN")  # one snapshot (a read: it takes no write lock)
    try:
        round_ = store.current_round(conn)
        size = conn.execute("SELECT COUNT(*) FROM round_items WHERE round = ?",
                            (round_,)).fetchone()[0]
        labeled, skips = conn.execute(
            "SELECT COALESCE(SUM(a.label IS NOT NULL), 0), "
            "COALESCE(SUM(a.label IS NULL AND a.round = ?), 0) FROM round_items r "
            "JOIN annotations a ON a.item = r.item AND a.who = ? WHERE r.round = ?",
            (round_, who, round_)).fetchone()
        mine = ("EXISTS (SELECT 1 FROM annotations a WHERE a.item = r.item AND a.who = ? AND "
                "(a.label IS NOT NULL OR a.round = ?))")
        outside = ("EXISTS (SELECT 1 FROM annotations a WHERE a.item = r.item AND "
                   "a.label IS NOT NULL AND a.source != ?)")
        elsewhere = conn.execute(
            f"SELECT COUNT(*) FROM round_items r WHERE r.round = ? AND {outside} AND NOT "
            f"{mine}", (round_, PAGE_SOURCE, who, round_)).fetchone()[0]
        row = conn.execute(
            "SELECT r.item, r.score, r.reason, r.predicted, r.confidence FROM round_items r "
            f"WHERE r.round = ? AND NOT {mine} AND NOT {outside} "
            "ORDER BY r.rank LIMIT 1", (round_, who, round_, PAGE_SOURCE)).fetchone()
    finally:
        conn.execute("COMMIT")
    current = None
    if row is not None:
        item, score, reason, predicted, confidence = row
        current = store.Pick(item, score, stored_reason(reason), predicted, confidence)
    return Queue(round_, size, labeled, skips, current, elsewhere)


def open_count(conn: sqlite3.Connection) -> int:
    """How many disagreements are open."""
    return conn.execute(
        "SELECT COUNT(*) FROM (SELECT a.item FROM annotations a LEFT JOIN conflicts c ON "
        "c.item = a.item WHERE a.label IS NOT NULL GROUP BY a.item HAVING COUNT(DISTINCT "
        "a.label) > 1 AND MAX(c.label) IS NULL)").fetchone()[0]
