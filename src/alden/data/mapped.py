"""Passes over a memory-mapped pool that leave none of it resident.

Every page a pass reads from a memory-mapped array stays mapped into the process: its
resident memory grows by the file's size (a project's token ids: 960 bytes an item at a
width of 120), though the pages are the OS's file cache, not the process's own memory.
``release`` unmaps them (reading them again costs a page fault, not a disk read: the cache
keeps them); ``row_blocks`` reads an array a block of rows at a time, releasing each block.
For an array held in memory both are plain reads.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np

ROWS_BLOCK = 1 << 14  # rows read at once: bounded temporaries whatever the pool


def _mapping(x: np.ndarray) -> mmap.mmap | None:
    """The file mapping ``x`` is a view of (through any chain of views), if any."""
    base: object = x
    while isinstance(base, np.ndarray):
        base = base.base
    return base if isinstance(base, mmap.mmap) else None


def release(x: np.ndarray) -> None:
    """Unmap the pages of the file ``x`` views from this process (they stay cached). Only
    a read-only mapping's: a copy-on-write one's pages may hold changes of this process."""
    mapping = _mapping(x)
    if mapping is None or mapping.closed or not hasattr(mmap, "MADV_DONTNEED"):
        return
    with memoryview(mapping) as view:
        if not view.readonly:
            return
    mapping.madvise(mmap.MADV_DONTNEED)


def row_blocks(x: np.ndarray, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) of ``x`` a block (``ROWS_BLOCK`` rows) at a time; a mapped file's
    pages released after each block, so a pass holds one block's pages, not the file's."""
    rows = rows or ROWS_BLOCK
    for start in range(0, len(x), rows):
        yield start, np.asarray(x[start:start + rows])
        release(x)


def value_range(x: np.ndarray) -> tuple[int | float, int | float]:
    """The smallest and largest value of a non-empty ``x``, read by ``row_blocks``."""
    ranges = [(rows.min(), rows.max()) for _, rows in row_blocks(x) if rows.size]
    if not ranges:
        raise ValueError("value_range of an empty array")
    return min(r[0] for r in ranges).item(), max(r[1] for r in ranges).item()
