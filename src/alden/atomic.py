"""Whole-or-nothing file writes: a crash leaves the old file or the new one, never half of one.

Every file alden writes that a user or a later run reads (results, model weights, batches,
reports, plots) goes through here. Folders made whole (a new project, a word2vec cache entry)
use the same idea with a temporary folder, in ``project.py`` and ``text.py``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from alden.errors import StorageError

# OSError numbers that mean the disk or the folder, not the program: what the user can fix.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY = (errno.EROFS,)
NO_PERMISSION = (errno.EACCES, errno.EPERM)
DISK_ERRNOS = DISK_FULL + READ_ONLY + NO_PERMISSION


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it is flushed and renamed
    onto ``path``, on an exception it is removed and ``path`` is left as it was."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644  # not mkstemp's 0o600
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        if err.errno not in DISK_ERRNOS:
            raise
        raise disk_error(err.errno, path, err.strerror or str(err)) from err
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    _sync_folder(path.parent)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` (str is written as UTF-8), whole or not at all."""
    with replacing(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def free_space(folder: str | os.PathLike) -> int:
    """Bytes free for this user on the disk holding ``folder`` (its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def size_text(n: int) -> str:
    """A byte count as people read it: "0 bytes", "12 KB", "3.4 MB"."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def _read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def disk_error(code: int, path: str | os.PathLike, detail: str) -> StorageError:
    """The error for a write to ``path`` refused by the disk or the folder (an errno in
    ``DISK_ERRNOS``): what happened, where, and what to free or fix. The caller guarantees
    that nothing was half-written (a temporary file removed, a transaction rolled back)."""
    path = Path(path)
    folder = path.parent
    if code in DISK_FULL:
        return StorageError(
            f"cannot write {path}: the disk holding {folder} is full "
            f"({size_text(free_space(folder))} "
            f"free; {detail}). Nothing was half-written: what was there before the command "
            f"is as it was. Free some space on that disk (or move the folder to a larger one), "
            f"then run the command again.")
    if code in READ_ONLY or (code not in NO_PERMISSION and _read_only_fs(folder)):
        return StorageError(
            f"cannot write {path}: {folder} is on a read-only file system ({detail}). "
            f"Nothing was written. Remount it writable, or copy the folder to a writable "
            f"disk and use the copy.")
    return StorageError(
        f"cannot write {path}: permission denied, or the file or its folder is read-only "
        f"({detail}). Nothing was written. Give your user read and write permission on "
        f"{folder} and the files in it (for example `chmod -R u+rwX {folder}`), or run "
        f"alden as their owner.")


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
