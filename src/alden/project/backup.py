"""Copies of the project's database, and putting one back.

``make_backup`` runs before each ``teach`` and each ``query``: SQLite's backup API copies the
database as one consistent snapshot (even while another command writes), into
``PROJECT/backups/project-STAMP-WHY.db``; the newest ``KEEP`` copies are kept, and a copy
identical to the newest one is not kept twice. A damaged database is never copied in.
``restore`` checks a backup in full, saves the current file first (a backup when it is
sound, else a byte-for-byte ``damaged-STAMP.db`` beside them) and puts the backup in place
in one transaction. Getting the labels out of a damaged database is ``export``'s job.
"""

from __future__ import annotations

import filecmp
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from alden.atomic import DISK_ERRNOS, _sync_folder, disk_error
from alden.errors import ProjectError
from alden.project import db, integrity
from alden.project.integrity import BACKUPS

KEEP = 5  # backups kept: the newest five


@dataclass(frozen=True)
class BackupInfo:
    """One backup file: when and why it was made, and what it holds (None: unreadable)."""

    path: Path
    size: int
    labels: int | None
    rounds: int | None
    problem: str | None  # why it cannot be restored, or None when it is sound


def backups(folder: str | Path) -> list[Path]:
    """The project's backups, oldest first (their names start with a UTC time stamp)."""
    return sorted((Path(folder) / BACKUPS).glob("project-*.db"))


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def make_backup(conn: sqlite3.Connection, folder: str | Path, why: str, *,
                keep: int = KEEP) -> Path:
    """Copy the (sound) database to PROJECT/backups and keep the newest ``keep`` copies."""
    folder = Path(folder)
    integrity.check_sound(conn)  # a damaged copy must never push a sound one out
    target = folder / BACKUPS
    final = target / f"project-{_stamp()}-{why}.db"
    tmp = None
    try:
        target.mkdir(exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target, prefix=".copy-", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        with integrity.explained(final):
            copy = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.backup(copy)  # one step: a consistent snapshot of the database
                copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            finally:
                copy.close()
        older = backups(folder)
        if older and _same(older[-1], tmp):
            return older[-1]  # nothing changed since the newest copy
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        _sync_folder(target)
        for old in backups(folder)[:-keep]:
            old.unlink(missing_ok=True)
        return final
    except OSError as err:
        if err.errno not in DISK_ERRNOS:
            raise
        raise disk_error(err.errno, final, err.strerror or str(err)) from err
    finally:
        if tmp is not None:
            for leftover in (tmp, Path(f"{tmp}-journal")):
                leftover.unlink(missing_ok=True)


def _same(old: Path, new: Path) -> bool:
    """Whether two copies are byte for byte equal (False if another command just pruned one)."""
    try:
        return filecmp.cmp(old, new, shallow=False)
    except FileNotFoundError:
        return False


def inspect(path: Path) -> BackupInfo:
    """Open a backup read-only and check it in full (``PRAGMA integrity_check``)."""
    size = path.stat().st_size
    conn = None
    try:
        integrity.check_file(path)
        conn = integrity.open_connection(path, timeout=db.BUSY_TIMEOUT_S, read_only=True)
        if conn.execute("PRAGMA application_id").fetchone()[0] != db.APPLICATION_ID:
            return BackupInfo(path, size, None, None, "not an alden project database")
        problems = integrity.full_check(conn)
        if problems:
            return BackupInfo(path, size, None, None, "; ".join(problems[:3]))
        labels = conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
        rounds = conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
        return BackupInfo(path, size, labels, rounds, None)
    except ProjectError as err:
        return BackupInfo(path, size, None, None, str(err).split(";")[0])
    finally:
        if conn is not None:
            conn.close()


@dataclass(frozen=True)
class Restored:
    """What `restore` did: the backup put back, where the replaced file was saved."""

    source: Path
    labels: int
    saved: Path | None  # a backup of the replaced database (it was sound)
    damaged_copy: Path | None  # a raw copy of the replaced database (it was not)


def find_backup(folder: Path, name: str) -> Path:
    """A backup by its name in PROJECT/backups, or by a path."""
    for candidate in (folder / BACKUPS / name, Path(name)):
        if candidate.is_file():
            return candidate
    have = ", ".join(p.name for p in backups(folder)) or "none"
    raise ProjectError(f"no backup {name!r} in {folder / BACKUPS} (backups there: {have}); "
                       f"`alden restore {folder} --list` shows them")


def restore(folder: str | Path, name: str) -> Restored:
    """Put a backup in place of the project's database: checked first, all or nothing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProjectError(f"{folder}: no such project folder")
    source = find_backup(folder, name)
    info = inspect(source)
    if info.problem:
        raise ProjectError(f"{source} cannot be restored ({info.problem}); nothing was "
                           f"changed. `alden restore {folder} --list` shows the backups.")
    path = db.db_path(folder)
    saved = damaged_copy = None
    if path.is_file():
        try:
            conn = db.connect(folder)
        except ProjectError:  # damaged, or unreadable: keep its bytes, for the record
            damaged_copy = folder / BACKUPS / f"damaged-{_stamp()}.db"
            damaged_copy.parent.mkdir(exist_ok=True)
            integrity.copy_aside(path, damaged_copy)
        else:
            try:
                saved = make_backup(conn, folder, "before-restore", keep=KEEP + 1)
            finally:
                conn.close()
    _put_back(source, path)
    return Restored(source, info.labels or 0, saved, damaged_copy)


def _put_back(source: Path, path: Path) -> None:
    """Copy ``source`` over the database at ``path`` in one transaction (SQLite's backup API
    into the live file); a file SQLite cannot open at all is replaced by a rename."""
    src = integrity.open_connection(source, timeout=db.BUSY_TIMEOUT_S, read_only=True)
    try:
        try:
            dst = integrity.open_connection(path, timeout=db.BUSY_TIMEOUT_S)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = WAL")
                integrity.check_sound(dst)
                return
            finally:
                dst.close()
        except (sqlite3.Error, ProjectError):
            pass  # the file is too damaged to write into: replace it whole instead
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".restore-", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        try:
            copy = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(copy)
                copy.execute("PRAGMA journal_mode = WAL")
            finally:
                copy.close()
            for stale in ("-wal", "-shm"):  # they belong to the damaged file
                Path(f"{path}{stale}").unlink(missing_ok=True)
            os.replace(tmp, path)
            _sync_folder(path.parent)
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)
    finally:
        src.close()

