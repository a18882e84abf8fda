"""One writer per project, across processes: ``server_lock`` (held for the life of `alden
serve`) and ``query_lock`` (held while a query trains and writes its round).

Each is an ``flock`` on a file in PROJECT/locks/ that is never replaced: the system drops it
when its process ends, however it ends, so a killed server or query never blocks the next
one. Who holds a lock (pid, since when, a server's address) is written beside it atomically,
for the message of whoever is refused; nobody waits for a lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alden.atomic import write_atomic
from alden.errors import ProjectError
from alden.project.db import DB_NAME

LOCKS = "locks"  # PROJECT/locks/NAME.lock (the flock) and NAME.json (who holds it)
_mine = threading.local()  # the query locks this thread holds: a nested use is a no-op


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its holder wrote it (None where it could not be read)."""

    pid: int | None = None
    since: str | None = None
    address: str | None = None

    def said(self) -> str:
        """'pid 812, since 2024-05-01 10:02:11', or what is known of it."""
        parts = [f"pid {self.pid}" if self.pid else "pid unknown"]
        if self.since:
            parts.append(f"since {self.since}")
        return ", ".join(parts)


@contextmanager
def server_lock(folder: str | Path, address: str) -> Iterator[None]:
    """Hold the project's server lock while the block runs; a ProjectError naming the other
    server's address and pid when one holds it."""
    def refuse(other: Holder) -> str:
        where = f"at {other.address} " if other.address else ""
        return (f"{folder}: another `alden serve` is running on this project {where}"
                f"({other.said()}); open that page, or stop that server first (two servers "
                "on one project would pick the same items twice)")

    with _held(Path(folder), "serve", refuse, address=address):
        yield


@contextmanager
def query_lock(folder: str | Path) -> Iterator[None]:
    """Hold the project's query lock while the block runs, without waiting: a ProjectError
    when another query (another process, or another thread) holds it. The thread that holds
    it may enter again (the web's job, then ``query`` itself)."""
    key = str(Path(folder).resolve())
    held = _mine.__dict__.setdefault("folders", set())
    if key in held:
        yield
        return

    def refuse(other: Holder) -> str:
        return (f"{folder}: a query is already running on this project ({other.said()}); "
                "wait until it ends, then ask again")

    with _held(Path(folder), "query", refuse):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


@contextmanager
def _held(folder: Path, name: str, refuse: Callable[[Holder], str], **about: str
          ) -> Iterator[None]:
    """The flock on PROJECT/locks/NAME.lock with who holds it in NAME.json; ``refuse(holder)``
    is the message when another holds it."""
    if not folder.is_dir():  # the words of store.connect, which a lock comes before
        raise ProjectError(f"{folder}: no such project folder (make one with `alden init`)")
    if not (folder / DB_NAME).is_file():
        raise ProjectError(f"{folder} is not an alden project: {DB_NAME} is missing")
    locks = folder / LOCKS
    try:
        locks.mkdir(exist_ok=True)
        fd = os.open(locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise ProjectError(f"{locks}: cannot make the {name} lock ({err.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProjectError(refuse(holder(folder, name))) from None
        info = locks / f"{name}.json"
        since = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        write_atomic(info, json.dumps({"pid": os.getpid(), "since": since, **about}))
        try:
            yield
        finally:
            info.unlink(missing_ok=True)
    finally:
        os.close(fd)  # the flock goes with it


def holder(folder: str | Path, name: str, wait_s: float = 1.0) -> Holder:
    """Who holds lock ``name``: read from NAME.json, tried again for up to ``wait_s`` while
    it is missing or names a process that has ended (the new holder is about to write it)."""
    path = Path(folder) / LOCKS / f"{name}.json"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            pid = int(data["pid"])
            found = Holder(pid, str(data.get("since") or "") or None, data.get("address"))
            if _alive(pid) or time.monotonic() > deadline:
                return found
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() > deadline:
                return Holder()
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
