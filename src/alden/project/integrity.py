"""Is the project's database sound, and what went wrong when SQLite or the disk says no.

Every connection ``db.connect`` opens is a ``ProjectConnection``: an SQLite error that comes
from the file or the disk (damaged pages, a full disk, a read-only folder, no permission, a
lock held too long) surfaces as a ``ProjectError`` whose message names the file and says
what to do, never as SQLite's own words alone. A damaged database is refused before any
write (``check_sound``, ``PRAGMA quick_check``: 10 ms on a project of 10,000 items) and its
message points to ``alden restore`` and ``alden export``; ``full_check`` runs SQLite's full
``PRAGMA integrity_check`` (``alden status --check``).
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alden.atomic import disk_error, free_space
from alden.cli_types import plural
from alden.errors import ProjectError

BACKUPS = "backups"  # PROJECT/backups: rotating copies made by alden.project.backup

# SQLite's primary result codes (extended codes keep them in their low byte).
PERM, BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, AUTH, NOTADB = (
    3, 5, 6, 8, 10, 11, 13, 14, 23, 26)
DAMAGED = (CORRUPT, NOTADB)
LOW_SPACE = 1 << 20  # an I/O error with less than this free is a full disk


def restore_hint(folder: Path, readable: bool = True) -> str:
    """How to get the labels back: the newest backup if there is one, and export."""
    backups = sorted((folder / BACKUPS).glob("project-*.db")) if folder.is_dir() else []
    export = (f" `alden export {folder} --out labels.csv` saves the labels that can still be "
              f"read." if readable else "")
    if backups:
        return (f"Restore a sound copy: `alden restore {folder} --list` shows the "
                f"{plural(len(backups), 'backup')} in {folder / BACKUPS}, and `alden restore "
                f"{folder} {backups[-1].name}` puts the newest back.{export}")
    return f"There is no backup in {folder / BACKUPS} to `alden restore`.{export}"


def damaged(path: Path, what: str, readable: bool = True) -> ProjectError:
    """The error for a damaged database file: nothing is written to it."""
    return ProjectError(f"{path} is damaged ({what}); alden does not write to a damaged "
                        f"database, so nothing was changed. "
                        f"{restore_hint(path.parent, readable)}")


def explain(err: sqlite3.Error, path: Path | None) -> ProjectError | None:
    """A clear ProjectError for an SQLite error caused by the file or the disk, else None."""
    code = getattr(err, "sqlite_errorcode", None)
    if code is None or path is None:
        return None
    code &= 0xFF
    folder = path.parent
    if code in DAMAGED:
        what = ("not a readable SQLite database" if code == NOTADB else "SQLite says: "
                f"{err}")
        return damaged(path, what)
    if code == FULL or (code == IOERR and free_space(folder) < LOW_SPACE):
        return ProjectError(str(disk_error(errno.ENOSPC, path, f"SQLite: {err}")))
    if code in (READONLY, CANTOPEN):  # a read-only file system, else permissions
        return ProjectError(str(disk_error(0, path, f"SQLite: {err}")))
    if code in (PERM, AUTH):
        return ProjectError(str(disk_error(errno.EACCES, path, f"SQLite: {err}")))
    if code == IOERR:
        return ProjectError(f"{path}: the disk reported an input/output error (SQLite: {err}); "
                            f"the transaction was rolled back, so nothing was half-written. "
                            f"Check the disk holding {folder}, or copy the project to "
                            f"another disk.")
    if code in (BUSY, LOCKED):
        return ProjectError(f"{path} is busy: another alden command kept it locked for too "
                            f"long ({err}); wait for that command to finish, then try again.")
    return None


@contextmanager
def explained(path: Path | None) -> Iterator[None]:
    """Turn SQLite errors caused by the file or the disk into ``explain``'s ProjectError."""
    try:
        yield
    except sqlite3.Error as err:
        clear = explain(err, path)
        if clear is None:
            raise
        raise clear from err


class ProjectCursor(sqlite3.Cursor):
    """A cursor whose storage errors, while executing or fetching, say what happened."""

    def _path(self) -> Path | None:
        return getattr(self.connection, "path", None)

    def execute(self, sql: str, parameters: Any = ()) -> ProjectCursor:
        with explained(self._path()):
            return super().execute(sql, parameters)

    def executemany(self, sql: str, seq: Any) -> ProjectCursor:
        with explained(self._path()):
            return super().executemany(sql, seq)

    def executescript(self, script: str) -> sqlite3.Cursor:
        with explained(self._path()):
            return super().executescript(script)

    def fetchone(self) -> Any:
        with explained(self._path()):
            return super().fetchone()

    def fetchmany(self, size: int | None = None) -> list[Any]:
        with explained(self._path()):
            return super().fetchmany(self.arraysize if size is None else size)

    def fetchall(self) -> list[Any]:
        with explained(self._path()):
            return super().fetchall()

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as err:
            clear = explain(err, self._path())
            if clear is None:
                raise
            raise clear from err


class ProjectConnection(sqlite3.Connection):
    """An SQLite connection to a project database (``path``) that explains storage errors."""

    path: Path | None = None

    # one signature for the two overloads of typeshed's Connection.cursor
    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or ProjectCursor)

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq: Any) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, seq)

    def executescript(self, script: str) -> sqlite3.Cursor:
        return self.cursor().executescript(script)


def open_connection(path: Path, *, timeout: float, read_only: bool = False
                    ) -> ProjectConnection:
    """A ProjectConnection to ``path`` (read-only: opened with ``mode=ro``, never written)."""
    target = f"{path.resolve().as_uri()}?mode=ro" if read_only else str(path)
    with explained(path):
        conn = sqlite3.connect(target, timeout=timeout, isolation_level=None,
                               factory=ProjectConnection, uri=read_only)
    conn.path = path
    return conn


def check_file(path: Path) -> None:
    """Refuse a file that cannot be a whole database (empty or shorter than its header)."""
    size = path.stat().st_size
    if size < 512:  # SQLite's smallest page; a whole database is at least one page
        raise damaged(path, f"the file is {size} bytes long, emptied or cut short: a "
                            f"project database is at least one page", readable=False)


def _problems(conn: sqlite3.Connection, pragma: str) -> list[str]:
    """What an SQLite check pragma reports ([] when sound); an error it raises is a problem."""
    try:  # the base class's execute: SQLite's own words, not explain()'s
        rows = sqlite3.Connection.execute(conn, f"PRAGMA {pragma}").fetchall()
    except sqlite3.DatabaseError as err:
        code = getattr(err, "sqlite_errorcode", 0) & 0xFF
        if code not in DAMAGED:
            with explained(getattr(conn, "path", None)):
                raise
        return [str(err)]
    problems = [r[0] for r in rows]
    return [] if problems == ["ok"] else problems


def check_sound(conn: sqlite3.Connection) -> None:
    """SQLite's quick check (every page read, structure checked): ProjectError if damaged."""
    problems = _problems(conn, "quick_check(5)")
    if problems:
        raise damaged(getattr(conn, "path", None) or Path("project.db"),
                      "SQLite's quick_check: " + "; ".join(problems))


def full_check(conn: sqlite3.Connection) -> list[str]:
    """SQLite's full ``PRAGMA integrity_check`` (up to 20 problems); [] when sound."""
    return _problems(conn, "integrity_check(20)")


def copy_aside(path: Path, target: Path) -> list[Path]:
    """Copy a (damaged) database file and its WAL byte for byte, for the record."""
    copied = []
    for suffix in ("", "-wal"):
        source = Path(f"{path}{suffix}")
        if source.is_file():
            dest = Path(f"{target}{suffix}")
            shutil.copyfile(source, dest)
            copied.append(dest)
    return copied
