"""The pool an active learner picks from: encoded items, labels and labeling provenance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

UNLABELED = -1


@dataclass
class Pool:
    """Items to pick from, with global indices 0..N-1 that never change.

    ``x`` is ``(N, L)`` int64 token ids, right-padded with 0 (``<pad>``), for text, or
    ``(N, F)`` float32 features for tables. ``y`` holds the labels that are known (in a
    simulation, the oracle's; -1 where unknown). ``labeled_in[i]`` is the round item ``i``
    was labeled in, -1 while unlabeled: it gives learning-curve provenance and undo.
    Strategies may read ``y`` only where ``labeled_in >= 0``.
    """

    x: np.ndarray
    y: np.ndarray
    labeled_in: np.ndarray
    classes: tuple[str, ...]
    vocab: tuple[str, ...] | None = None  # token id -> word, for text (reasons, ALDEN)
    texts: Sequence[str] | None = field(default=None, repr=False)  # raw text, for reasons
    # Text encoded as word pieces (a pretrained encoder's tokenizer): continues[id] is True
    # for a vocabulary id that continues the word before it ("##ing"); None: every token is
    # a word. ALDEN reads it to merge pieces into whole words.
    continues: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.x)
        if len(self.y) != n or len(self.labeled_in) != n:
            raise ValueError(f"x, y and labeled_in differ in length: {n}, {len(self.y)}, "
                             f"{len(self.labeled_in)}")

    @classmethod
    def from_arrays(cls, x: np.ndarray, y: np.ndarray, classes: tuple[str, ...], *,
                    vocab: tuple[str, ...] | None = None, texts: Sequence[str] | None = None,
                    continues: np.ndarray | None = None) -> Pool:
        """A pool with nothing labeled yet."""
        return cls(x=x, y=np.asarray(y, dtype=np.int64),
                   labeled_in=np.full(len(x), UNLABELED, dtype=np.int64),
                   classes=tuple(classes), vocab=vocab, texts=texts, continues=continues)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def is_text(self) -> bool:
        return self.x.ndim == 2 and np.issubdtype(self.x.dtype, np.integer)

    @property
    def labeled(self) -> np.ndarray:
        """Global indices of labeled items, ascending."""
        return np.flatnonzero(self.labeled_in >= 0)

    @property
    def unlabeled(self) -> np.ndarray:
        """Global indices of unlabeled items, ascending."""
        return np.flatnonzero(self.labeled_in < 0)

    @property
    def rounds(self) -> int:
        """Number of rounds that labeled something (the seed set is round 0)."""
        return int(self.labeled_in.max()) + 1 if (self.labeled_in >= 0).any() else 0

    def lengths(self) -> np.ndarray:
        """Token count of each text item (pads are 0 and trail)."""
        return (self.x != 0).sum(axis=1)

    def word(self, token_id: int) -> str:
        """The word a token id stands for (``#id`` when the pool has no such word)."""
        if self.vocab is not None and 0 <= token_id < len(self.vocab):
            return self.vocab[token_id]
        return f"#{token_id}"

    def tokens(self, i: int) -> np.ndarray:
        """Token ids of text item ``i`` without pads."""
        row = self.x[i]
        return row[row != 0]

    def mark_labeled(self, indices: np.ndarray, round_: int,
                     labels: np.ndarray | None = None) -> None:
        """Record that ``indices`` were labeled in ``round_`` (with ``labels`` if given)."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(np.unique(indices)) != len(indices):
            raise ValueError("indices to label contain duplicates")
        if (self.labeled_in[indices] >= 0).any():
            raise ValueError("some indices are labeled already")
        if labels is not None:
            self.y[indices] = labels
        if (self.y[indices] < 0).any():
            raise ValueError("an item was marked labeled without a label")
        self.labeled_in[indices] = round_

    def undo_round(self, round_: int) -> np.ndarray:
        """Forget the labels given in ``round_``; returns the indices that were unlabeled."""
        idx = np.flatnonzero(self.labeled_in == round_)
        self.labeled_in[idx] = UNLABELED
        return idx
