"""Tokenizer, vocabulary and padding, word2vec determinism and its on-disk cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alden.data import text
from alden.data.text import (
    PAD_ID,
    UNK_ID,
    Vocab,
    WordVectors,
    cache_dir,
    embedding_matrix,
    tokenize,
    tokenize_texts,
    train_word2vec,
    word2vec_epochs,
)

# A small corpus of two topics, repeated so that every word is seen often.
CORPUS = ([["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "sat", "on", "a", "rug"],
           ["stocks", "fell", "as", "markets", "closed"], ["bonds", "rose", "as", "rates", "fell"]]
          * 20)


@pytest.mark.parametrize("raw, expected", [
    ("Hello, World!", ["hello", ",", "world", "!"]),
    ("Don't stop—it's well-known.", ["don't", "stop", "—", "it's", "well-known", "."]),
    ("Don\u2019t", ["don't"]),  # a curly apostrophe is the same word as a straight one
    ("It costs $3.50, or 10,000 yen.", ["it", "costs", "$", "3.50", ",", "or", "10,000", "yen",
                                        "."]),
    ("Café CRÈME  \t\n naïve", ["café", "crème", "naïve"]),
    ("wait...what?!", ["wait", ".", ".", ".", "what", "?", "!"]),
    ("'quoted' (parens) -dash- 3rd", ["'", "quoted", "'", "(", "parens", ")", "-", "dash", "-",
                                      "3rd"]),
    ("snake_case e-mail", ["snake_case", "e-mail"]),
    ("ﬁne ＡＢＣ", ["fine", "abc"]),  # NFKC: ligatures and full-width letters become plain
    ("I ❤ NY 🙂", ["i", "❤", "ny", "🙂"]),
    ("", []),
    ("   \n\t ", []),
])
def test_tokenize_tricky_text(raw, expected):
    assert tokenize(raw) == expected


@given(st.text(max_size=60))
def test_tokenize_never_returns_empty_or_spaced_tokens(raw):
    tokens = tokenize(raw)
    assert all(tok and not any(ch.isspace() for ch in tok) for tok in tokens)
    assert tokens == [t.lower() for t in tokens]


def test_pretokenized_sets_split_on_whitespace_only():
    texts = ["it 's a Film , n't it ?", "two  spaces\tand tab"]
    assert tokenize_texts(texts, pretokenized=True) == [
        ["it", "'s", "a", "Film", ",", "n't", "it", "?"], ["two", "spaces", "and", "tab"]]
    assert tokenize_texts(texts[:1], pretokenized=False)[0][:3] == ["it", "'", "s"]


def test_vocab_order_ids_and_min_count():
    tokens = [["b", "a", "c"], ["a", "b", "d"], ["a", "e"]]
    vocab = Vocab.build(tokens)
    # a: 3, b: 2, then c, d, e once each in word order.
    assert vocab.words == ("<pad>", "<unk>", "a", "b", "c", "d", "e")
    assert Vocab.build(tokens, min_count=2).words == ("<pad>", "<unk>", "a", "b")
    assert Vocab.build(reversed(tokens)).words == vocab.words  # order of input is irrelevant


def test_vocab_never_counts_the_special_tokens_as_words():
    vocab = Vocab.build([["<unk>", "<pad>", "x"]])
    assert vocab.words == ("<pad>", "<unk>", "x")
    # a literal "<pad>" in a sentence must not become a pad (pads only trail)
    assert vocab.encode([["<pad>", "x"]]).tolist() == [[UNK_ID, 2]]


def test_encode_pads_right_and_keeps_every_sentence_non_empty():
    vocab = Vocab.build([["a", "b", "a"], ["c"]])
    ids = vocab.encode([["a", "b", "c"], ["zzz"], [], ["b"]])
    assert ids.dtype == np.int64 and ids.shape == (4, 3)
    a, b, c = vocab.index["a"], vocab.index["b"], vocab.index["c"]
    assert ids.tolist() == [[a, b, c], [UNK_ID, 0, 0], [UNK_ID, 0, 0], [b, 0, 0]]
    lengths = (ids != PAD_ID).sum(axis=1)
    assert lengths.tolist() == [3, 1, 1, 1]
    assert vocab.decode(ids[0]) == ["a", "b", "c"]


def test_encode_truncates_at_max_len():
    vocab = Vocab.build([["a", "b", "c", "d"]])
    ids = vocab.encode([["a", "b", "c", "d"], ["d"]], max_len=2)
    assert ids.shape == (2, 2)
    assert vocab.decode(ids[0]) == ["a", "b"]
    assert vocab.encode([["a"]], max_len=5).shape == (1, 1)  # L = longest when shorter
    with pytest.raises(ValueError, match="max_len"):
        vocab.encode([["a"]], max_len=0)


@given(st.lists(st.lists(st.sampled_from("abcdefg"), max_size=8), min_size=1, max_size=12))
def test_encode_round_trips_known_words(token_lists):
    vocab = Vocab.build(token_lists)
    ids = vocab.encode(token_lists)
    for row, tokens in zip(ids, token_lists, strict=True):
        assert vocab.decode(row) == (tokens or ["<unk>"])
        nonzero = np.flatnonzero(row)
        assert (nonzero == np.arange(len(nonzero))).all()  # pads only trail


def test_equal_tokens_share_one_string():
    for pretokenized in (True, False):
        first, second = tokenize_texts(["the cat", "the dog"], pretokenized)
        assert first[0] == second[0] == "the" and first[0] is second[0]


@pytest.mark.parametrize("block", [7, 1 << 14])
def test_encode_matches_a_row_by_row_encoding(monkeypatch, block):
    monkeypatch.setattr(text, "_ENCODE_ROWS", block)  # blocks of rows, or one for all
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    token_lists = [[words[j] for j in rng.integers(30, size=rng.integers(0, 12))]
                   for _ in range(200)]
    vocab = Vocab.build(token_lists[:100])
    for max_len in (None, 5):
        ids = vocab.encode(token_lists, max_len)
        for row, tokens in zip(ids, token_lists, strict=True):
            expected = [vocab.index.get(t, UNK_ID) for t in tokens[:max_len]] or [UNK_ID]
            assert row[:len(expected)].tolist() == expected and not row[len(expected):].any()


def test_word2vec_epochs_shrink_only_on_large_corpora():
    assert word2vec_epochs(240_575, 40) == 40  # Subj, MR and anything their size: as asked
    assert word2vec_epochs(text.FULL_EPOCHS_TOKENS, 40) == 40
    assert word2vec_epochs(2 * text.FULL_EPOCHS_TOKENS, 40) == 20  # about the same budget
    assert word2vec_epochs(100 * text.FULL_EPOCHS_TOKENS, 40) == text.MIN_EPOCHS
    assert word2vec_epochs(100 * text.FULL_EPOCHS_TOKENS, 3) == 3  # never more than asked


def test_vocab_rejects_a_malformed_word_list():
    with pytest.raises(ValueError):
        Vocab(("a", "<pad>", "<unk>"))
    with pytest.raises(ValueError):
        Vocab(("<pad>", "<unk>", "a", "a"))


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ALDEN_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("ALDEN_CACHE")
    assert cache_dir().parts[-3:] == (".cache", "alden", "cache")


def test_word2vec_is_deterministic_and_depends_on_the_seed():
    first = train_word2vec(CORPUS, seed=3, dim=16, epochs=3, cache=False)
    again = train_word2vec(CORPUS, seed=3, dim=16, epochs=3, cache=False)
    other = train_word2vec(CORPUS, seed=4, dim=16, epochs=3, cache=False)
    assert first.vectors.dtype == np.float32 and first.vectors.shape == (len(first.words), 16)
    assert set(first.words) == {t for s in CORPUS for t in s}
    assert first.words == again.words
    np.testing.assert_array_equal(first.vectors, again.vectors)
    assert not np.allclose(first.vectors, other.vectors)


def test_word2vec_second_call_reads_the_cache_without_training(monkeypatch, tmp_path):
    import gensim.models

    trained = train_word2vec(CORPUS, seed=0, dim=8, epochs=2, directory=tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("gensim was called although the entry is cached")

    monkeypatch.setattr(gensim.models, "Word2Vec", no_training)
    cached = train_word2vec(CORPUS, seed=0, dim=8, epochs=2, directory=tmp_path)
    assert cached.words == trained.words
    np.testing.assert_array_equal(cached.vectors, trained.vectors)
    # every parameter and the corpus are part of the key: a change must train again
    for changed in (dict(seed=1), dict(window=3), dict(epochs=3)):
        with pytest.raises(AssertionError, match="gensim was called"):
            train_word2vec(CORPUS, **{**dict(seed=0, dim=8, epochs=2), **changed},
                           directory=tmp_path)
    with pytest.raises(AssertionError, match="gensim was called"):
        train_word2vec(CORPUS[:-1], seed=0, dim=8, epochs=2, directory=tmp_path)
    # the entry is plain .npy and JSON, nothing pickled
    (entry,) = (tmp_path / "word2vec").iterdir()
    assert sorted(p.name for p in entry.iterdir()) == ["params.json", "vectors.npy",
                                                       "words.json"]
    assert json.loads((entry / "params.json").read_text())["seed"] == 0


def test_corpus_key_is_unambiguous():
    params = {"seed": 0}
    assert text._corpus_key([["a b"]], params) != text._corpus_key([["a", "b"]], params)
    assert text._corpus_key([["a"], ["b"]], params) != text._corpus_key([["a", "b"]], params)
    assert text._corpus_key([["a"]], params) != text._corpus_key([["a"]], {"seed": 1})


def test_interrupted_cache_write_leaves_no_entry(monkeypatch, tmp_path):
    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(text.np, "save", crash)
    train_word2vec(CORPUS, seed=0, dim=8, epochs=1, directory=tmp_path)
    assert list((tmp_path / "word2vec").iterdir()) == []  # no half entry, no stray temp dir
    monkeypatch.undo()
    result = train_word2vec(CORPUS, seed=0, dim=8, epochs=1, directory=tmp_path)
    assert len(list((tmp_path / "word2vec").iterdir())) == 1
    assert len(result.words) > 0


def test_a_broken_cache_entry_is_trained_again(tmp_path):
    good = train_word2vec(CORPUS, seed=0, dim=8, epochs=1, directory=tmp_path)
    (entry,) = (tmp_path / "word2vec").iterdir()
    (entry / "vectors.npy").write_bytes(b"\x93NUMPY truncated")
    again = train_word2vec(CORPUS, seed=0, dim=8, epochs=1, directory=tmp_path)
    np.testing.assert_array_equal(again.vectors, good.vectors)
    assert text._read_entry(entry) is not None  # repaired in place


def test_word2vec_of_an_empty_corpus_has_no_vectors(tmp_path):
    vectors = train_word2vec([[], []], seed=0, dim=5, directory=tmp_path)
    assert vectors.words == () and vectors.vectors.shape == (0, 5)


def test_embedding_matrix_rows():
    vocab = Vocab(("<pad>", "<unk>", "cat", "dog", "rare"))
    vectors = WordVectors(("dog", "cat", "absent"),
                          np.arange(9, dtype=np.float32).reshape(3, 3))
    matrix = embedding_matrix(vocab, vectors, np.random.default_rng(0))
    assert matrix.dtype == np.float32 and matrix.shape == (5, 3)
    assert (matrix[0] == 0).all()
    np.testing.assert_array_equal(matrix[2], [3, 4, 5])
    np.testing.assert_array_equal(matrix[3], [0, 1, 2])
    assert (np.abs(matrix[[1, 4]]) <= 0.25).all() and np.ptp(matrix[[1, 4]]) > 0
    again = embedding_matrix(vocab, vectors, np.random.default_rng(0))
    np.testing.assert_array_equal(matrix, again)


def test_embedding_matrix_of_unknown_words_is_uniform_in_kims_range():
    vocab = Vocab(("<pad>", "<unk>", *(f"w{i}" for i in range(2000))))
    matrix = embedding_matrix(vocab, WordVectors((), np.zeros((0, 50), np.float32)),
                              np.random.default_rng(1))
    values = matrix[1:].ravel()
    assert values.min() >= -0.25 and values.max() < 0.25
    assert abs(values.mean()) < 0.01 and abs(values.std() - 0.5 / np.sqrt(12)) < 0.005


@pytest.mark.slow
def test_word2vec_is_the_same_in_another_process(tmp_path):
    """Same vectors whatever the process's string-hash seed (gensim must not use hash())."""
    import os
    import subprocess
    import sys

    script = ("import json, sys, numpy as np; from alden.data.text import train_word2vec; "
              "corpus = json.load(open(sys.argv[1])); "
              "v = train_word2vec(corpus, seed=7, dim=8, epochs=2, cache=False); "
              "np.save(sys.argv[2], v.vectors); json.dump(v.words, open(sys.argv[3], 'w'))")
    (tmp_path / "corpus.json").write_text(json.dumps(CORPUS))
    here = train_word2vec(CORPUS, seed=7, dim=8, epochs=2, cache=False)
    for hash_seed in ("1", "2"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / "corpus.json"),
                        str(tmp_path / "v.npy"), str(tmp_path / "w.json")],
                       env={**os.environ, "PYTHONHASHSEED": hash_seed}, check=True)
        assert tuple(json.loads((tmp_path / "w.json").read_text())) == here.words
        np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), here.vectors)
