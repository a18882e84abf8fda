"""Pooled sentence embeddings of a frozen encoder, computed once: on disk and in memory.

``cached_pooled`` keeps each item's embedding, by its piece ids, in the encoder's store
under alden's cache folder (``alden.models.feature_store``: ``$ALDEN_CACHE/encoder-features``,
bounded, least recently used dropped first), so a pool is encoded once whatever subset of
it a command asks for; ``PooledTable`` finds an item's embedding by its piece ids;
``shared_table`` keeps one table per process for a data set, so every round's learner reads
the same embeddings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from alden.models import feature_store
from alden.models.encoder import ATTENTION, Encoder, EncoderClassifier, load_encoder
from alden.models.feature_store import FeatureStore

CHUNK_BATCHES = 32  # batches encoded between writes to the store


def _store(encoder: Encoder, directory: Path | None) -> FeatureStore:
    """The on-disk store of ``encoder``'s pooled embeddings: one per encoder files and
    pooling settings (anything that changes an embedding)."""
    from alden.data.text import cache_dir

    identity = f"{encoder.key}|{encoder.pooling}|{encoder.normalize}|{ATTENTION}"
    folder = (directory or cache_dir()) / feature_store.FOLDER
    return FeatureStore(feature_store.store_path(folder, identity), encoder.dim,
                        f"{encoder.folder.name} ({encoder.folder})")


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
    """``encode_pooled`` of the rows of ``x``, in order; with ``cache``, each item is read
    from the encoder's store (``alden.models.feature_store``, under ``directory`` or
    alden's cache folder) and only the missing ones are encoded, once each, and stored a
    chunk at a time (an interrupted run keeps the chunks done). ``on_progress(done,
    total)`` counts the items encoded (nothing when the store has them all)."""
    x = np.asarray(x, dtype=np.int64)
    if not cache:
        return encode_pooled(encoder, x, batch_size=batch_size,
                             on_progress=on_progress).astype(np.float32)
    store = _store(encoder, directory)
    keys = feature_store.item_keys(x)
    found = store.get(keys)
    first = {key: i for i, key in reversed(list(enumerate(keys)))}  # an item's first row
    todo = np.array(sorted(i for key, i in first.items() if key not in found), np.int64)
    if todo.size:  # longest first, as encode_pooled batches them: chunks of whole batches
        todo = todo[np.argsort(-feature_store.piece_lengths(x[todo]), kind="stable")]
        step = batch_size * CHUNK_BATCHES
        chunks = [todo[start:start + step] for start in range(0, len(todo), step)]
        for rows, pooled in _encoded(encoder, x, chunks, batch_size, on_progress):
            store.put([keys[i] for i in rows], pooled)
            found.update((keys[i], v) for i, v in zip(rows, pooled, strict=True))
    out = np.empty((len(x), encoder.dim), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = found[key]
    return out


def _encoded(encoder: Encoder, x: np.ndarray, chunks: list[np.ndarray], batch_size: int,
             on_progress: Progress | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, float32 pooled embeddings) of each chunk of rows of ``x``, one after another
    here, or as Ray tasks on the attached cluster (``alden.cluster``) as they finish: the
    same batches either way, so the same floats."""
    from alden import cluster

    total = sum(map(len, chunks))
    if not cluster.active() or len(chunks) < 2:
        start = 0
        for rows in chunks:
            pooled = encode_pooled(encoder, x[rows], batch_size=batch_size,
                                   on_progress=_offset(on_progress, start, total))
            start += len(rows)
            yield rows, pooled.astype(np.float32)
        return
    done = 0
    calls = ((i, (encoder, x[rows], batch_size)) for i, rows in enumerate(chunks))
    for i, pooled in cluster.as_finished(_encode_chunk, calls):
        done += len(chunks[i])
        if on_progress is not None:
            on_progress(done, total)
        yield chunks[i], pooled


def _encode_chunk(encoder: Encoder, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Ray side: a chunk's pooled embeddings, float32."""
    return encode_pooled(encoder, x, batch_size=batch_size).astype(np.float32)


def _offset(on_progress: Progress | None, start: int, total: int) -> Progress | None:
    """``on_progress`` for a chunk that begins after ``start`` of ``total`` items."""
    if on_progress is None:
        return None
    return lambda done, _: on_progress(start + done, total)


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
