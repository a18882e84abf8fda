"""Whole words from word pieces: ALDEN's "word" (Eq. 5-9) for a sub-word tokenizer.

A WordPiece tokenizer cuts "unbelievably" into "un", "##bel", "##ie", "##va", "##bly";
``continues[id]`` marks the pieces that continue the word before them. ``merge_pieces``
turns each item's pieces into whole words: a word's interpretation (Eq. 4) is the sum of
its pieces' (the gradient-times-input relevance is additive over input coordinates, so the
sum is the word's share of the output), and a word of several pieces gets a new id after
the piece vocabulary, with the mean of its pieces' input embeddings as its embedding (what
Eq. 7 compares unseen words by). Words of one piece keep the piece's id and embedding.
Pure NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MergedWords:
    """Items as whole words. ``tokens[i]``: word ids of item ``i``; ``interpretations[i]``:
    their ``(n_words, C)`` summed interpretations; ``embeddings``: ``(V + K, d)``, the piece
    table then the K multi-piece words; ``texts[id - V]``: a multi-piece word's text;
    ``word_of_piece[i][j]``: the word position of piece ``j`` of item ``i``."""

    tokens: list[np.ndarray]
    interpretations: list[np.ndarray]
    embeddings: np.ndarray
    texts: tuple[str, ...]
    word_of_piece: list[np.ndarray]
    n_pieces: int

    def text(self, word_id: int, piece_words: Sequence[str]) -> str:
        """The text of a word id: a piece's own text, or a merged word's."""
        if word_id < self.n_pieces:
            return piece_words[word_id]
        return self.texts[word_id - self.n_pieces]


def word_starts(tokens: np.ndarray, continues: np.ndarray) -> np.ndarray:
    """True where a piece begins a word: the item's first piece, or one that does not continue."""
    starts = ~continues[tokens]
    if len(starts):
        starts[0] = True
    return starts


def merge_pieces(tokens: Sequence[np.ndarray], interpretations: Sequence[np.ndarray] | None,
                 continues: np.ndarray, embeddings: np.ndarray,
                 piece_words: Sequence[str]) -> MergedWords:
    """Each item's pieces merged into whole words (see the module docstring).

    ``interpretations`` may be None (only the words are wanted); then the merged
    ``interpretations`` is an empty list."""
    continues = np.asarray(continues, dtype=bool)
    n_pieces = len(embeddings)
    new_ids: dict[tuple[int, ...], int] = {}
    texts: list[str] = []
    out_tokens, out_values, positions = [], [], []
    for i, raw in enumerate(tokens):
        raw = np.asarray(raw, dtype=np.int64)
        starts = word_starts(raw, continues)
        first = np.flatnonzero(starts)
        positions.append(np.cumsum(starts) - 1)
        ids = raw[first].copy()
        bounds = np.append(first, len(raw))
        for w in np.flatnonzero(np.diff(bounds) > 1):
            key = tuple(raw[bounds[w]:bounds[w + 1]].tolist())
            if key not in new_ids:
                new_ids[key] = n_pieces + len(texts)
                texts.append(piece_words[key[0]] + "".join(
                    _strip(piece_words[p]) for p in key[1:]))
            ids[w] = new_ids[key]
        out_tokens.append(ids)
        if interpretations is not None:
            values = np.asarray(interpretations[i])
            out_values.append(np.add.reduceat(values, first, axis=0) if len(first)
                              else values[:0])
    table = np.asarray(embeddings)
    if new_ids:
        extra = np.stack([table[list(key)].mean(axis=0) for key in new_ids])
        table = np.concatenate([table, extra.astype(table.dtype)])
    return MergedWords(out_tokens, out_values, table, tuple(texts), positions, n_pieces)


def _strip(piece: str) -> str:
    return piece[2:] if piece.startswith("##") else piece
