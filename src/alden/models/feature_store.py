"""Pooled encoder embeddings on disk, one row per item, so a pool is encoded once whatever
subset a command asks for (issue 23).

One SQLite file per encoder (its files' fingerprint and pooling settings) under
``$ALDEN_CACHE/encoder-features``: ``items(key, vector, used)``, the key a digest of the
item's piece ids without trailing pads. Each write is one transaction (an interrupted run
leaves no half entry); a damaged file is deleted and begun anew; a locked or read-only one
is skipped (the caller encodes). The folder is kept under ``max_bytes()`` by dropping the
least recently used items of all stores. No torch here: ``alden cache`` reads it.

SQLite rather than an append-only memmapped array with an index of keys: looking up 10,000
items in a store of 10,000 or 100,000 took 0.08-0.10 s against 0.02-0.04 s
(benchmarks/bench_encoder_cache.py), both small beside encoding them (MiniLM on a CPU, about
6 ms a text), and SQLite gives whole writes, deletion without compaction and locking between
a server and the commands.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from alden.errors import AldenError

FOLDER = "encoder-features"
SUFFIX = ".sqlite"
SCHEMA = 1  # PRAGMA user_version of a store this module wrote
DEFAULT_MAX_MB = 2048
CHUNK = 500  # keys per SELECT (old SQLite builds allow 999 variables)
# An item read is marked used again only when its mark is older than this: rewriting
# 10,000 marks took 0.55 s of a 0.65 s look-up (benchmarks/bench_encoder_cache.py).
TOUCH_NS = 600 * 10**9
KEEP = 0.9  # eviction brings the folder down to this share of the limit
_DAMAGED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
T = TypeVar("T")
_CLEANED: set[Path] = set()  # folders whose old whole-array files this process removed


def max_bytes() -> int:
    """The encoder features' size limit: ``$ALDEN_CACHE_MAX_MB`` megabytes (default 2048)."""
    text = os.environ.get("ALDEN_CACHE_MAX_MB", "").strip()
    try:
        megabytes = float(text) if text else DEFAULT_MAX_MB
    except ValueError:
        megabytes = -1
    if not megabytes > 0:
        raise AldenError(f"ALDEN_CACHE_MAX_MB must be a positive number of megabytes, "
                         f"got {text!r}")
    return int(megabytes * (1 << 20))


def store_path(folder: Path, encoder_id: str) -> Path:
    """The store of the encoder described by ``encoder_id`` (files, pooling, ...)."""
    return folder / f"{hashlib.sha256(encoder_id.encode()).hexdigest()[:32]}{SUFFIX}"


def piece_lengths(x: np.ndarray) -> np.ndarray:
    """Pieces per row of ``x`` (N, L) before its trailing pads (0)."""
    nonzero = np.asarray(x) != 0
    return np.where(nonzero.any(axis=1), x.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 0)


def item_keys(x: np.ndarray) -> list[bytes]:
    """16-byte digests of each row's piece ids without trailing pads: the same item padded
    to any width has the same key."""
    x = np.ascontiguousarray(x, dtype=np.int64)
    return [hashlib.blake2b(row[:end].tobytes(), digest_size=16).digest()
            for row, end in zip(x, piece_lengths(x).tolist(), strict=True)]


def _damaged(err: sqlite3.Error) -> bool:
    return getattr(err, "sqlite_errorcode", None) in _DAMAGED


def _remove(path: Path) -> None:
    for name in (path.name, path.name + "-journal", path.name + "-wal", path.name + "-shm"):
        (path.parent / name).unlink(missing_ok=True)


def _open(path: Path, description: str) -> sqlite3.Connection:
    """A connection to the store at ``path``, its tables made when it is new (or of another
    schema: a cache is rebuilt, never migrated)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # freed pages go back to disk
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA:  # no one else did
                for statement in (
                        "DROP TABLE IF EXISTS items", "DROP TABLE IF EXISTS about",
                        "CREATE TABLE items (key BLOB PRIMARY KEY, vector BLOB NOT NULL,"
                        " used INTEGER NOT NULL)",
                        "CREATE INDEX items_used ON items (used)",
                        "CREATE TABLE about (what TEXT NOT NULL)",
                        f"PRAGMA user_version = {SCHEMA}"):
                    conn.execute(statement)
                conn.execute("INSERT INTO about VALUES (?)", (description,))
            conn.execute("COMMIT")
    except BaseException:
        conn.close()
        raise
    return conn


@dataclass
class FeatureStore:
    """One encoder's store: ``get`` the vectors it has, ``put`` new ones."""

    path: Path
    dim: int
    description: str  # shown by `alden cache`: which encoder

    def _run(self, work: Callable[[sqlite3.Connection], T], default: T) -> T:
        """``work(conn)``; a damaged file is removed and the work tried once on a new one;
        a store that cannot be opened or written gives ``default``."""
        for attempt in range(2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _remove_old_arrays(self.path.parent)
                with closing(_open(self.path, self.description)) as conn:
                    return work(conn)
            except sqlite3.Error as err:
                if not _damaged(err) or attempt:
                    return default
                _remove(self.path)
            except OSError:
                return default
        return default

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The stored vectors among ``keys`` (marked as used now); missing ones absent."""
        def work(conn: sqlite3.Connection) -> dict[bytes, np.ndarray]:
            found: dict[bytes, np.ndarray] = {}
            stale, recent = [], time.time_ns() - TOUCH_NS
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), CHUNK):
                part = unique[start:start + CHUNK]
                marks = ",".join("?" * len(part))
                for key, blob, used in conn.execute(
                        f"SELECT key, vector, used FROM items WHERE key IN ({marks})", part):
                    if len(blob) == 4 * self.dim:  # else encoded again and replaced
                        found[key] = np.frombuffer(blob, dtype=np.float32)
                        if used < recent:
                            stale.append(key)
            _touch(conn, stale)
            return found
        return self._run(work, {})

    def put(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Store ``vectors`` (N, dim) under ``keys`` in one transaction, then keep the
        folder under ``max_bytes()``."""
        limit = max_bytes()
        rows = [(key, np.ascontiguousarray(v, dtype=np.float32).tobytes(), time.time_ns())
                for key, v in zip(keys, vectors, strict=True)]

        def work(conn: sqlite3.Connection) -> bool:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", rows)
            return True
        if self._run(work, False):
            evict(self.path.parent, limit)


def _touch(conn: sqlite3.Connection, keys: list[bytes]) -> None:
    """Mark items as used now (least recently used go first); a read-only store stays."""
    if not keys:
        return
    now = time.time_ns()
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for start in range(0, len(keys), CHUNK):
                part = keys[start:start + CHUNK]
                conn.execute(f"UPDATE items SET used = ? WHERE key IN "
                             f"({','.join('?' * len(part))})", [now, *part])
    except sqlite3.OperationalError:
        pass


def _remove_old_arrays(folder: Path) -> None:
    """Delete the whole-array ``.npy`` files of earlier versions, once per process."""
    if folder not in _CLEANED:
        for path in folder.glob("*.npy"):
            path.unlink(missing_ok=True)
        _CLEANED.add(folder)


def stores(folder: Path) -> list[Path]:
    """The store files in ``folder``."""
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def _bytes_used(conn: sqlite3.Connection) -> int:
    pages, free, size = (conn.execute(f"PRAGMA {p}").fetchone()[0]
                         for p in ("page_count", "freelist_count", "page_size"))
    return int((pages - free) * size)


def _ages(conn: sqlite3.Connection, share: float, index: int
          ) -> Iterator[tuple[int, int, float, int]]:
    """(used, rowid, bytes per item, store index) of a store's items, oldest first."""
    for used, rowid in conn.execute("SELECT used, rowid FROM items ORDER BY used, rowid"):
        yield used, rowid, share, index


def evict(folder: Path, limit: int) -> int:
    """Drop the least recently used items of all stores in ``folder`` while they hold more
    than ``limit`` bytes, down to ``KEEP`` of it; returns how many went."""
    conns: list[sqlite3.Connection] = []
    try:
        sizes = []
        for path in stores(folder):
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                sizes.append(_bytes_used(conn))
                conns.append(conn)
            except sqlite3.Error:  # damaged: rebuilt on its next use, skipped here
                conn.close()
        if sum(sizes) <= limit:
            return 0
        counts = [c.execute("SELECT count(*) FROM items").fetchone()[0] for c in conns]
        oldest = heapq.merge(*(_ages(c, size / max(n, 1), i) for i, (c, size, n)
                               in enumerate(zip(conns, sizes, counts, strict=True))))
        excess = sum(sizes) - KEEP * limit
        doomed: list[list[int]] = [[] for _ in conns]
        for _, rowid, share, index in oldest:
            if excess <= 0:
                break
            doomed[index].append(rowid)
            excess -= share
        for conn, rowids in zip(conns, doomed, strict=True):
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("DELETE FROM items WHERE rowid = ?", [(r,) for r in rowids])
            conn.executescript("PRAGMA incremental_vacuum")  # (execute would free one page)
        return sum(map(len, doomed))
    except sqlite3.Error:
        return 0  # a damaged or busy store: its next use rebuilds it, the next write retries
    finally:
        for conn in conns:
            conn.close()


def summary(folder: Path) -> list[tuple[str, int, int]]:
    """(encoder, items, bytes on disk) of each readable store in ``folder``."""
    found = []
    for path in stores(folder):
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                (what,) = conn.execute("SELECT what FROM about").fetchone()
                (n,) = conn.execute("SELECT count(*) FROM items").fetchone()
        except (sqlite3.Error, TypeError):
            what, n = "(unreadable: made anew on its next use)", 0
        found.append((str(what), int(n), size))
    return found
