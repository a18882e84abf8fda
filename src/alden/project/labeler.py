"""The terminal labeling loop: one keystroke per item, each label saved the moment it is given.

Keys: 1..9 label the item with that class, ``s`` skips it, ``u`` undoes the last label,
``q`` quits. On a real terminal keys are read one at a time in cbreak mode (no Enter
needed; Ctrl-C still interrupts and the terminal is restored); when standard input is not a
terminal (a pipe, a file) one line is read per answer instead. With more than nine classes
the class number is typed and ended with Enter. After each batch the model is retrained on
every label and the next batch is queried (``project_query.query``). A skip is kept in the
project (an annotation without a label, for this round): a skipped item is not shown again,
also after a restart, until a later query picks it anew. ``u`` takes back the last label
or skip; the counter shows the item's place in its batch. Labels go through
``answers.give``, so a second person labeling the same batch (here or in ``alden serve``)
never overwrites silently.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from alden.cli_types import plural
from alden.errors import AldenError
from alden.project import answers, store
from alden.project.batch_files import reason_text
from alden.project.query import query
from alden.project.workspace import ProjectData, display_text, read_project, user_name


class Keys:
    """Answers from the keyboard: single keys on a terminal, whole lines from a pipe."""

    def __init__(self, stream: TextIO, echo: TextIO) -> None:
        self.stream, self.echo = stream, echo
        self.tty = stream.isatty()

    @contextmanager
    def raw(self) -> Iterator[Keys]:
        """Cbreak mode for the duration (terminal only), restored however the loop ends."""
        if not self.tty:
            yield self
            return
        import termios
        import tty

        fd = self.stream.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            yield self
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    def key(self) -> str:
        """One key (terminal) or the first word of one line (pipe); "q" at end of input."""
        if not self.tty:
            line = self.stream.readline()
            return line.strip() if line else "q"
        char = os.read(self.stream.fileno(), 1).decode(errors="replace")
        return char or "q"

    def number(self, first: str) -> str:
        """A multi-digit class number on a terminal, ended by Enter (more than nine classes)."""
        typed = first
        self.echo.write(first)
        self.echo.flush()
        while self.tty:
            char = self.key()
            if char in ("\r", "\n"):
                break
            if char.isdigit():
                typed += char
                self.echo.write(char)
            else:
                self.echo.write(f" (not a digit: {char!r}; type the class number, then Enter) "
                                f"{typed}")
            self.echo.flush()
        self.echo.write("\n")
        return typed


def _legend(classes: tuple[str, ...]) -> str:
    return "  ".join(f"[{i + 1}] {c}" for i, c in enumerate(classes)) + \
        "   [s] skip  [u] undo  [q] quit"


def pending(conn: sqlite3.Connection, who: str | None = None) -> list[store.Pick]:
    """The latest round's items that are still unlabeled (and not skipped by ``who`` in this
    round), in pick order."""
    round_ = store.current_round(conn)
    done = set(store.labels(conn).items)
    if who is not None:
        done |= answers.skipped(conn, who, round_)
    return [p for p in store.round_picks(conn, round_) if p.item not in done] if round_ else []


def run(folder: str | Path, *, batch: int = 10, strategy: str | None = None,
        model: str | None = None, who: str | None = None, stdin: TextIO | None = None,
        stdout: TextIO | None = None) -> int:
    """Label items one at a time until ``q``, the end of input, or nothing left to label."""
    if batch < 1:
        raise AldenError(f"--batch must be at least 1, got {batch}")
    out = stdout or sys.stdout
    keys = Keys(stdin or sys.stdin, out)
    who = who or user_name()
    conn = store.connect(folder)
    try:
        data = read_project(conn, folder)
        if len(data.classes) < 2:
            raise AldenError(f"{folder} has {plural(len(data.classes), 'class')}; labeling "
                             f"needs the classes first: give them to `alden init --classes a,b` or "
                             f"`alden teach` a file of labels")
        undo: list[tuple[int, str]] = []  # (item, "label" or "skip"), latest last
        seen: dict[int, store.Pick] = {}  # every pick shown, to show again after an undo
        total = 0
        with keys.raw():
            while True:
                picks = pending(conn, who)
                if not picks:
                    if len(store.labels(conn)) >= len(data.ids):
                        out.write("every item is labeled.\n")
                        break
                    out.write(f"retraining on {plural(len(store.labels(conn)), 'label')} and "
                              f"picking the next {plural(batch, 'item')}...\n")
                    out.flush()
                    result = query(folder, batch, strategy=strategy, model=model, conn=conn)
                    if result.cold_start:
                        out.write(f"(cold start: {result.cold_start}; picked by "
                                  f"{result.cold_start_method}, without a model)\n")
                    picks = list(result.picks)
                seen.update((p.item, p) for p in picks)
                given, quit_ = _label_batch(conn, data, picks, keys, out, who, undo, seen)
                total += given
                if quit_:
                    break
                if given == 0:
                    out.write("nothing was labeled in this batch; stopping.\n")
                    break
        out.write(f"labeled {plural(total, 'item')} this session; "
                  f"{len(store.labels(conn))} in all.\n")
        out.flush()
        return 0
    finally:
        conn.close()


def _label_batch(conn: sqlite3.Connection, data: ProjectData, picks: list[store.Pick],
                 keys: Keys, out: TextIO, who: str, undo: list[tuple[int, str]],
                 seen: dict[int, store.Pick]) -> tuple[int, bool]:
    """Ask for each pick's label; returns (labels given, whether the user quit)."""
    classes = store.classes(conn)
    round_ = store.current_round(conn)
    batch = store.round_picks(conn, round_)  # all of it, also when resuming part way
    place = {p.item: n for n, p in enumerate(batch)}  # the counter: place in the batch
    queue = list(picks)
    given = i = 0
    while i < len(queue):
        pick = queue[i]
        at = place.get(pick.item)
        where = f"{at + 1}/{len(batch)}" if at is not None else "undone"
        _show(out, data, pick, classes, round_, where, len(store.labels(conn)))
        key = keys.key()
        low = key.lower()
        if low == "q":
            out.write("quit.\n")
            return given, True
        if low == "s":
            answers.give(conn, pick.item, None, who=who, source="label")
            undo.append((pick.item, "skip"))
            out.write("skipped\n")
            i += 1
        elif low == "u":
            if not undo:
                out.write("nothing to undo\n")
                continue
            item, kind = undo.pop()
            answers.withdraw(conn, item, who=who)
            if kind == "label":
                given -= 1
                out.write(f"undone: {data.ids[item]} is unlabeled again\n")
            else:
                out.write(f"undone: {data.ids[item]} is no longer skipped\n")
            if i > 0 and queue[i - 1].item == item:
                i -= 1  # back to it: the counter shows its own place again
            else:
                queue.insert(i, seen.get(item, store.Pick(item, None, None, None, None)))
        elif key[:1].isdigit():
            number = keys.number(key) if len(classes) > 9 and keys.tty else key
            if not number.isdigit() or not 1 <= int(number) <= len(classes):
                out.write(f"no class {number}: press 1-{len(classes)}, s, u or q\n")
                continue
            answers.give(conn, pick.item, int(number) - 1, who=who, source="label")
            undo.append((pick.item, "label"))
            given += 1
            out.write(f"-> {classes[int(number) - 1]} (saved)\n")
            i += 1
        else:
            shown = repr(key) if key.strip() else "Enter" if key in ("", "\n", "\r") else "space"
            out.write(f"{shown} is not a key here: press 1-{len(classes)} for a class, "
                      f"s to skip, u to undo or q to quit\n")
        out.flush()
    return given, False


def _show(out: TextIO, data: ProjectData, pick: store.Pick, classes: tuple[str, ...],
          round_: int, where: str, labeled: int) -> None:
    out.write(f"\n--- round {round_} | {where} | {labeled} labeled | id "
              f"{data.ids[pick.item]} ---\n")
    out.write(textwrap.fill(display_text(data.contents[pick.item]), width=78) + "\n")
    if pick.predicted is not None:
        out.write(f"model: {classes[pick.predicted]} ({pick.confidence:.2f})\n")
    if pick.reason:
        out.write(textwrap.fill(f"why: {reason_text(data, pick.item, pick.reason)}", width=78)
                  + "\n")
    out.write(_legend(classes) + " > ")
    out.flush()
