"""The terminal labeling loop: one keystroke per item, each label saved the moment it is given.

Keys: 1..9 label the item with that class, ``s`` skips it, ``u`` undoes the last label,
``q`` quits. On a real terminal keys are read one at a time in cbreak mode (no Enter
needed; Ctrl-C still interrupts and the terminal is restored); when standard input is not a
terminal (a pipe, a file) one line is read per answer instead. With more than nine classes
the class number is typed and ended with Enter. After each batch the model is retrained on
every label and the next batch is queried (``project_query.query``); items skipped in this
session are not shown again until a later query picks them anew.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from alden.errors import AldenError
from alden.project import store
from alden.project.query import query, reason_text
from alden.project.workspace import display_text, read_project, user_name


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
                self.echo.flush()
        self.echo.write("\n")
        return typed


def _legend(classes: tuple[str, ...]) -> str:
    return "  ".join(f"[{i + 1}] {c}" for i, c in enumerate(classes)) + \
        "   [s] skip  [u] undo  [q] quit"


def pending(conn) -> list[store.Pick]:
    """The latest round's items that are still unlabeled, in pick order."""
    round_ = store.current_round(conn)
    done = set(store.labels(conn).items)
    return [p for p in store.round_picks(conn, round_) if p.item not in done] if round_ else []


def run(folder, *, batch: int = 10, strategy: str | None = None, model: str | None = None,
        who: str | None = None, stdin: TextIO | None = None,
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
            raise AldenError(f"{folder} has {len(data.classes)} class(es); labeling needs the "
                             f"classes first: give them to `alden init --classes a,b` or "
                             f"`alden teach` a file of labels")
        undo: list[int] = []
        skipped: set[int] = set()  # not shown again until the next query picks them
        seen: dict[int, store.Pick] = {}  # every pick shown, to show again after an undo
        total = 0
        with keys.raw():
            while True:
                picks = [p for p in pending(conn) if p.item not in skipped]
                if not picks:
                    if len(store.labels(conn)) >= len(data.ids):
                        out.write("every item is labeled.\n")
                        break
                    out.write(f"retraining on {len(store.labels(conn))} labels and picking "
                              f"the next {batch} items...\n")
                    out.flush()
                    result = query(folder, batch, strategy=strategy, model=model, conn=conn)
                    if result.cold_start:
                        out.write(f"(cold start: {result.cold_start}; picking diverse items)\n")
                    picks = list(result.picks)
                skipped -= {p.item for p in picks}
                seen.update((p.item, p) for p in picks)
                given, quit_ = _label_batch(conn, data, picks, keys, out, who, undo, skipped,
                                            seen)
                total += given
                if quit_:
                    break
                if given == 0:
                    out.write("nothing was labeled in this batch; stopping.\n")
                    break
        out.write(f"labeled {total} item(s) this session; {len(store.labels(conn))} in all.\n")
        out.flush()
        return 0
    finally:
        conn.close()


def _label_batch(conn, data, picks: list[store.Pick], keys: Keys, out: TextIO, who: str,
                 undo: list[int], skipped: set[int],
                 seen: dict[int, store.Pick]) -> tuple[int, bool]:
    """Ask for each pick's label; returns (labels given, whether the user quit)."""
    classes = store.classes(conn)
    round_ = store.current_round(conn)
    queue = list(picks)
    given = i = 0
    while i < len(queue):
        pick = queue[i]
        _show(out, data, pick, classes, round_, i, len(queue), len(store.labels(conn)))
        key = keys.key()
        if key == "q":
            out.write("quit.\n")
            return given, True
        if key == "s":
            out.write("skipped\n")
            skipped.add(pick.item)
            i += 1
        elif key == "u":
            if not undo:
                out.write("nothing to undo\n")
                continue
            item = undo.pop()
            store.remove_label(conn, item, who=who)
            given -= 1
            out.write(f"undone: {data.ids[item]} is unlabeled again\n")
            queue.insert(i, seen.get(item, store.Pick(item, None, None, None, None)))
        elif key[:1].isdigit():
            number = keys.number(key) if len(classes) > 9 and keys.tty else key
            if not number.isdigit() or not 1 <= int(number) <= len(classes):
                out.write(f"no class {number}: press 1-{len(classes)}, s, u or q\n")
                continue
            store.set_label(conn, pick.item, int(number) - 1, who=who)
            undo.append(pick.item)
            given += 1
            out.write(f"-> {classes[int(number) - 1]} (saved)\n")
            i += 1
        else:
            out.write(f"press 1-{len(classes)} for a class, s, u or q\n")
        out.flush()
    return given, False


def _show(out: TextIO, data, pick: store.Pick, classes, round_: int, at: int, size: int,
          labeled: int) -> None:
    out.write(f"\n--- round {round_} | {at + 1}/{size} | {labeled} labeled | id "
              f"{data.ids[pick.item]} ---\n")
    out.write(textwrap.fill(display_text(data.contents[pick.item]), width=78) + "\n")
    if pick.predicted is not None:
        out.write(f"model: {classes[pick.predicted]} ({pick.confidence:.2f})\n")
    if pick.reason:
        out.write(textwrap.fill(f"why: {reason_text(data, pick.item, pick.reason)}", width=78)
                  + "\n")
    out.write(_legend(classes) + " > ")
    out.flush()
