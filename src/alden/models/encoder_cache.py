"""Pooled sentence embeddings of a frozen encoder, computed once: on disk and in memory.

``cached_pooled`` keeps one ``.npy`` per (encoder files, token ids) under alden's cache
folder (``$ALDEN_CACHE/encoder-features``), written whole or not at all; ``PooledTable``
finds an item's embedding by its piece ids; ``shared_table`` keeps one table per process
for a data set, so every round's learner reads the same embeddings.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from alden.models.encoder import ATTENTION, Encoder, EncoderClassifier, load_encoder


def _features_key(encoder: Encoder, x: np.ndarray) -> str:
    digest = hashlib.sha256(f"{encoder.key}|{encoder.pooling}|{encoder.normalize}|"
                            f"{ATTENTION}|{x.shape}|{x.dtype}".encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    return digest.hexdigest()


Progress = Callable[[int, int], None]  # (items encoded so far, items to encode)


def encode_pooled(encoder: Encoder, x: np.ndarray, *, batch_size: int = 32,
                  model: EncoderClassifier | None = None,
                  on_progress: Progress | None = None) -> np.ndarray:
    """Pooled embeddings ``(N, H)`` float32 of piece ids ``x``, length-sorted batches, no grad;
    ``on_progress(done, total)`` after each batch."""
    from alden.models import quantities

    model = model if model is not None else EncoderClassifier(encoder, 2)
    return quantities.hidden(model, np.asarray(x, dtype=np.int64), batch_size=batch_size,
                             on_progress=on_progress)


def cached_pooled(encoder: Encoder, x: np.ndarray, *, cache: bool = True,
                  directory: Path | None = None, batch_size: int = 32,
                  on_progress: Progress | None = None) -> np.ndarray:
    """``encode_pooled``, read from / written to the cache when ``cache``: one ``.npy`` per
    (encoder files, token ids), written to a temporary file and renamed into place, so an
    interrupted run leaves no half entry; an unreadable entry is encoded again.
    ``on_progress`` hears the encoding only (nothing when the cache has the items)."""
    from alden.data.text import cache_dir

    x = np.asarray(x, dtype=np.int64)
    path = None
    if cache:
        path = (directory or cache_dir()) / "encoder-features" / f"{_features_key(encoder, x)}.npy"
        try:
            found = np.load(path, allow_pickle=False)
            if found.shape == (len(x), encoder.dim) and found.dtype == np.float32:
                return found
        except (OSError, ValueError):
            pass
    pooled = encode_pooled(encoder, x, batch_size=batch_size,
                           on_progress=on_progress).astype(np.float32)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}-", suffix=".npy",
                                       dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, pooled, allow_pickle=False)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only or full cache: the embeddings are still returned
    return pooled


class PooledTable:
    """Pooled embeddings of items, found by their piece ids (a row's bytes without pads)."""

    def __init__(self, x: np.ndarray, pooled: np.ndarray) -> None:
        self.pooled = np.asarray(pooled, dtype=np.float32)
        self.index = {_row_key(row): i for i, row in enumerate(np.asarray(x, np.int64))}

    def lookup(self, x: np.ndarray) -> np.ndarray:
        """Table rows of ``x``'s items (-1 where an item is not in the table)."""
        return np.array([self.index.get(_row_key(row), -1) for row in x], dtype=np.int64)

    def add(self, x: np.ndarray, pooled: np.ndarray) -> None:
        start = len(self.pooled)
        self.pooled = np.concatenate([self.pooled, pooled.astype(np.float32)])
        for i, row in enumerate(x):
            self.index.setdefault(_row_key(row), start + i)


def _row_key(row: np.ndarray) -> bytes:
    return np.trim_zeros(row, "b").tobytes()


_TABLES: dict[tuple[str, str], PooledTable] = {}


def shared_table(model: str, items: np.ndarray, cache: bool = True,
                 on_progress: Progress | None = None) -> PooledTable:
    """The pooled embeddings of all ``items``, one table per process for the same encoder
    and items (from the disk cache when it has them), shared by every round's learner;
    ``on_progress`` hears the items encoded, if any are."""
    encoder = load_encoder(model)
    items = np.asarray(items, dtype=np.int64)
    key = (encoder.key, hashlib.sha256(items.tobytes() + str(items.shape).encode()).hexdigest())
    if key not in _TABLES:
        if len(_TABLES) >= 4:
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[key] = PooledTable(items, cached_pooled(encoder, items, cache=cache,
                                                        on_progress=on_progress))
    return _TABLES[key]
