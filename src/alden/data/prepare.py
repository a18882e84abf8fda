"""Glue from a loaded data set to model inputs: the split, encoding, embeddings, the pool."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from alden.data.datasets import Dataset
from alden.data.pool import Pool
from alden.data.text import (
    MAX_WORDS,
    PieceVocab,
    Vocab,
    embedding_matrix,
    tokenize_texts,
    train_word2vec,
)
from alden.errors import DataError
from alden.streams import embedding_rng, split_rng

_SEED_MAX = 2**32 - 1  # scikit-learn's random_state takes ints in [0, 2**32 - 1]


@dataclass(frozen=True)
class Prepared:
    """A data set encoded for the models, with its split: what every runner starts from.

    ``x`` holds all N items ((N, L) int64 token ids or (N, F) float32 features); the split
    indices point into it. ``vocab`` and ``embeddings`` are for text, ``preprocessor`` (the
    fitted imputer + scaler) for tables; each was fitted on the training pool only (an
    encoder's items have its tokenizer's ``PieceVocab`` and no embeddings).
    """

    name: str
    kind: str
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    train_idx: np.ndarray = field(repr=False)
    val_idx: np.ndarray = field(repr=False)
    test_idx: np.ndarray = field(repr=False)
    classes: tuple[str, ...]
    ids: list[str] = field(repr=False)
    vocab: Vocab | PieceVocab | None = field(default=None, repr=False)
    embeddings: np.ndarray | None = field(default=None, repr=False)
    texts: list[str] | None = field(default=None, repr=False)
    preprocessor: object | None = field(default=None, repr=False)
    cut: tuple[int, ...] = ()  # items whose text was longer than max_len words, cut to it
    max_len: int | None = None  # the longest text, in words, the encoding keeps

    def pool(self) -> Pool:
        """A fresh Pool over ``train_idx`` (pool index i is item ``train_idx[i]``), nothing
        labeled yet, with the labels known where the data set has them (the simulation's oracle)."""
        idx = self.train_idx
        return Pool.from_arrays(
            self.x[idx], self.y[idx].copy(), self.classes,
            vocab=self.vocab.words if self.vocab is not None else None,
            texts=[self.texts[i] for i in idx] if self.texts is not None else None,
            continues=getattr(self.vocab, "continues", None))  # word pieces (encoders)

    def val(self) -> tuple[np.ndarray, np.ndarray]:
        """Validation inputs and labels."""
        return self.x[self.val_idx], self.y[self.val_idx]

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """Test inputs and labels."""
        return self.x[self.test_idx], self.y[self.test_idx]


def split_indices(labels: np.ndarray, seed: int,
                  fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (train, val, test) index arrays, each sorted, the same for the same seed.

    Each class is shuffled and cut on its own: round(fraction * class size) items for the
    validation and test parts, the rest for training, and at least one item of every class
    in every non-empty part (so small user sets still have each class everywhere). The
    split depends only on the labels, the fractions and the seed, so every strategy run
    with a seed sees the same pool, validation and test items.
    """
    labels = np.asarray(labels)
    fractions = _check_fractions(fractions)
    if (labels < 0).any():
        raise DataError(f"{int((labels < 0).sum())} of {len(labels)} items have no label; a "
                        "train/validation/test split needs every item labeled")
    _check_class_sizes(labels, fractions)
    rng = split_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val, n_test = _part_sizes(len(members), fractions)
        parts[1].append(members[:n_val])
        parts[2].append(members[n_val:n_val + n_test])
        parts[0].append(members[n_val + n_test:])
    train, val, test = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    return train, val, test


def _part_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int]:
    """Validation and test counts for a class of ``n`` items: rounded shares, each at least
    one where its fraction is positive, leaving at least one item for training."""
    sizes = [max(1, int(np.floor(f * n + 0.5))) if f > 0 else 0 for f in fractions[1:]]
    while n - sum(sizes) < 1:  # tiny class: give training its item from the larger part
        sizes[int(np.argmax(sizes))] -= 1
    return sizes[0], sizes[1]


def _check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    """Three non-negative fractions summing to 1, with a non-empty training pool."""
    values = tuple(float(f) for f in fractions)
    if (len(values) != 3 or min(values) < 0 or values[0] <= 0
            or abs(sum(values) - 1) > 1e-9):
        raise DataError(f"split fractions must be three non-negative numbers (train, "
                        f"validation, test) that sum to 1, with train > 0; got {values}")
    train, val, test = values
    return train, val, test


def _check_class_sizes(labels: np.ndarray, fractions: tuple[float, float, float]) -> None:
    """Every class needs an item in every non-empty part of a stratified split."""
    parts = sum(f > 0 for f in fractions)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        only = classes[0] if len(classes) else "none"
        raise DataError(f"the labels hold one class only ({only}); a classifier needs two or more")
    small = [f"{c} ({n} items)" for c, n in zip(classes, counts, strict=True) if n < parts]
    if small:
        raise DataError(f"a stratified split into {parts} parts needs at least {parts} items "
                        f"of every class; too few in class {', '.join(small)}")


def seed_set(pool_or_labels: Pool | np.ndarray, fraction: float, rng: np.random.Generator
             ) -> np.ndarray:
    """Sorted indices of the initial labeled set: ``round(fraction * N)`` items, at least one.

    Stratified by the known labels when every class has at least 2 items and the set and the
    rest each have room for one item per class; otherwise (labels unknown, tiny classes) a
    uniform sample. Deterministic for a given ``rng`` state.
    """
    labels = pool_or_labels.y if isinstance(pool_or_labels, Pool) else np.asarray(pool_or_labels)
    n_items = len(labels)
    if not 0 < fraction <= 1:
        raise DataError(f"the seed set fraction must be in (0, 1], got {fraction}")
    if n_items == 0:
        raise DataError("the pool is empty: no seed set can be drawn")
    size = min(n_items, max(1, round(fraction * n_items)))
    if size == n_items:
        return np.arange(n_items)
    classes, counts = np.unique(labels, return_counts=True)
    stratify = ((labels >= 0).all() and counts.min() >= 2
                and min(size, n_items - size) >= len(classes))
    if not stratify:
        return np.sort(rng.choice(n_items, size=size, replace=False))
    picked, _ = train_test_split(np.arange(n_items), train_size=size, stratify=labels,
                                 random_state=int(rng.integers(_SEED_MAX)))
    return np.sort(picked)


def prepare(dataset: Dataset, seed: int, *,
            fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
            embedding_dim: int = 100, min_count: int = 1, max_len: int | None = MAX_WORDS,
            cache: bool = True) -> Prepared:
    """Split ``dataset`` by ``seed`` and encode it with statistics of the training pool only.

    Text: vocabulary and word2vec from the pool's sentences (other words map to ``<unk>``),
    each text cut to its first ``max_len`` words (``Prepared.cut`` lists those cut; None
    keeps every word).
    Tables: imputer + scaler fitted on the pool's rows, applied to all rows.
    """
    _check_dataset(dataset)
    train, val, test = split_indices(dataset.labels, seed, fractions)
    return _encode(dataset, seed, train, val, test, embedding_dim=embedding_dim,
                   min_count=min_count, max_len=max_len, cache=cache)


def prepare_unlabeled(dataset: Dataset, seed: int, *, embedding_dim: int = 100,
                      min_count: int = 1, max_len: int | None = MAX_WORDS,
                      cache: bool = True) -> Prepared:
    """Encode a pool for the labeling workflow: no split, labels may be unknown (-1).

    ``train_idx`` is every item and ``val_idx``/``test_idx`` are empty; vocabulary, word2vec
    and the preprocessor are fitted on all items (they use no labels, so nothing leaks).
    """
    _check_dataset(dataset)
    everything = np.arange(len(dataset))
    return _encode(dataset, seed, everything, everything[:0], everything[:0],
                   embedding_dim=embedding_dim, min_count=min_count, max_len=max_len,
                   cache=cache)


def _check_dataset(dataset: Dataset) -> None:
    """Items present, labels -1 (unknown) or a class number."""
    if len(dataset) == 0:
        raise DataError(f"data set {dataset.name!r} has no items")
    labels = np.asarray(dataset.labels)
    if labels.min() < -1 or labels.max() >= len(dataset.label_names):
        raise DataError(f"data set {dataset.name!r}: labels must be -1 (unknown) or class "
                        f"numbers 0..{len(dataset.label_names) - 1}, got {labels.min()}.."
                        f"{labels.max()}")


def _encode(dataset: Dataset, seed: int, train: np.ndarray, val: np.ndarray,
            test: np.ndarray, *, embedding_dim: int, min_count: int, max_len: int | None,
            cache: bool) -> Prepared:
    """Fit the encoding on the ``train`` items and apply it to all items."""
    if dataset.kind == "text":
        if dataset.texts is None:
            raise DataError(f"text data set {dataset.name!r} has no texts")
        if max_len is not None and max_len < 1:
            raise DataError(f"the longest text must be at least 1 word, got {max_len}")
        tokens = tokenize_texts(dataset.texts, dataset.tokenized)
        cut = tuple(i for i, t in enumerate(tokens) if max_len is not None and len(t) > max_len)
        tokens = [t[:max_len] for t in tokens] if cut else tokens
        pool_tokens = [tokens[i] for i in train]
        vocab = Vocab.build(pool_tokens, min_count=min_count)
        vectors = train_word2vec(pool_tokens, seed=seed, dim=embedding_dim,
                                 min_count=min_count, cache=cache)
        embeddings = embedding_matrix(vocab, vectors, embedding_rng(seed))
        return _prepared(dataset, train, val, test, vocab.encode(tokens, max_len), vocab=vocab,
                         embeddings=embeddings, cut=cut, max_len=max_len)
    if dataset.kind == "tabular":
        if dataset.features is None:
            raise DataError(f"tabular data set {dataset.name!r} has no features")
        from alden.data.tabular import make_preprocessor

        features = np.asarray(dataset.features, dtype=np.float64)
        preprocessor = make_preprocessor().fit(features[train])
        x = np.asarray(preprocessor.transform(features), dtype=np.float32)
        return _prepared(dataset, train, val, test, x, preprocessor=preprocessor)
    raise DataError(f"data set {dataset.name!r} has kind {dataset.kind!r}; "
                    "expected 'text' or 'tabular'")


def _prepared(dataset: Dataset, train: np.ndarray, val: np.ndarray, test: np.ndarray,
              x: np.ndarray, *, vocab: Vocab | None = None, embeddings: np.ndarray | None = None,
              preprocessor: object | None = None, cut: tuple[int, ...] = (),
              max_len: int | None = None) -> Prepared:
    """``dataset`` encoded as ``x``, split into ``train``, ``val`` and ``test``."""
    return Prepared(name=dataset.name, kind=dataset.kind, x=x,
                    y=np.asarray(dataset.labels, dtype=np.int64), train_idx=train,
                    val_idx=val, test_idx=test, classes=tuple(dataset.label_names),
                    ids=list(dataset.ids), vocab=vocab, embeddings=embeddings,
                    texts=dataset.texts, preprocessor=preprocessor, cut=cut, max_len=max_len)
