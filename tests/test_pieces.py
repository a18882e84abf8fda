"""Whole words from word pieces (``alden.kernels.pieces``) against a hand-worked example."""

from __future__ import annotations

import numpy as np

from alden.kernels.pieces import merge_pieces, word_starts

# A piece vocabulary of 8 (V = 8); "##" pieces continue the word before them.
PIECE_WORDS = ("[PAD]", "un", "##bel", "##ievable", "the", "cat", "##s", "run")
CONTINUES = np.array([False, False, True, True, False, False, True, False])
# Piece embeddings chosen so that a word's mean differs from its first piece's.
EMBEDDINGS = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 2.0], [3.0, 4.0],
                       [4.0, 0.0], [5.0, 1.0], [6.0, 3.0], [7.0, 0.0]])
TOKENS = [
    np.array([4, 1, 2, 3, 7]),  # the | un ##bel ##ievable | run
    np.array([5, 6, 1, 2, 3]),  # cat ##s | un ##bel ##ievable
    np.array([2, 7]),           # ##bel (an item's first piece starts a word) | run
    np.array([], dtype=np.int64),
]
# One row per piece, two classes; signs mixed so that a sum differs from a max.
INTERPRETATIONS = [
    np.array([[1.0, -1.0], [2.0, 0.5], [-3.0, 1.0], [0.5, 0.5], [4.0, -2.0]]),
    np.array([[1.0, 2.0], [3.0, -4.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]),
    np.array([[7.0, 7.0], [-1.0, 2.0]]),
    np.zeros((0, 2)),
]


def test_merge_pieces_on_a_hand_worked_example():
    merged = merge_pieces(TOKENS, INTERPRETATIONS, CONTINUES, EMBEDDINGS, PIECE_WORDS)
    # "unbelievable" is the first multi-piece word met: id V + 0 = 8; "cats" gets 9; the
    # second "unbelievable" reuses 8; single pieces keep their ids.
    assert [t.tolist() for t in merged.tokens] == [[4, 8, 7], [9, 8], [2, 7], []]
    assert merged.texts == ("unbelievable", "cats")
    assert merged.n_pieces == 8
    assert [p.tolist() for p in merged.word_of_piece] == [
        [0, 1, 1, 1, 2], [0, 0, 1, 1, 1], [0, 1], []]
    # Eq. 4 summed over a word's pieces: 2 - 3 + 0.5 = -0.5, 0.5 + 1 + 0.5 = 2, ...
    expected = [
        [[1.0, -1.0], [-0.5, 2.0], [4.0, -2.0]],
        [[4.0, -2.0], [0.0, 2.0]],
        [[7.0, 7.0], [-1.0, 2.0]],
    ]
    for got, want in zip(merged.interpretations[:3], expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert merged.interpretations[3].shape == (0, 2)
    # The piece table, then the mean of each multi-piece word's piece embeddings:
    # (1,0),(2,2),(3,4) -> (2,2); (5,1),(6,3) -> (5.5,2).
    np.testing.assert_array_equal(merged.embeddings,
                                  np.vstack([EMBEDDINGS, [[2.0, 2.0], [5.5, 2.0]]]))
    assert merged.text(8, PIECE_WORDS) == "unbelievable"
    assert merged.text(9, PIECE_WORDS) == "cats"
    assert merged.text(4, PIECE_WORDS) == "the"


def test_merge_pieces_without_interpretations_gives_the_same_words():
    merged = merge_pieces(TOKENS, None, CONTINUES, EMBEDDINGS, PIECE_WORDS)
    assert [t.tolist() for t in merged.tokens] == [[4, 8, 7], [9, 8], [2, 7], []]
    assert merged.interpretations == []
    assert merged.embeddings.shape == (10, 2)


def test_word_starts_marks_an_items_first_piece_even_when_it_continues():
    assert word_starts(np.array([2, 3, 7, 6]), CONTINUES).tolist() == [True, False, True, False]
    assert word_starts(np.array([], dtype=np.int64), CONTINUES).tolist() == []
