"""Splits, seed sets and prepare(): stratified, seeded, and fitted on the training pool only."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alden.data.datasets import Dataset
from alden.data.pool import Pool
from alden.data.prepare import prepare, prepare_unlabeled, seed_set, split_indices
from alden.data.text import UNK_ID, train_word2vec
from alden.errors import DataError

pytestmark = pytest.mark.usefixtures("private_cache")


def text_dataset(n_per_class: int = 30, labels_known: bool = True) -> Dataset:
    """Two classes of short sentences; item i mentions the unique word ``only<i>``."""
    words = (["good", "great", "fine"], ["bad", "awful", "poor"])
    texts, labels = [], []
    for i in range(2 * n_per_class):
        label = i % 2
        texts.append(f"this is {words[label][i % 3]} and {words[label][(i + 1) % 3]} only{i}")
        labels.append(label if labels_known else -1)
    return Dataset(name="toy", kind="text", labels=np.array(labels, dtype=np.int64),
                   label_names=("neg", "pos"), ids=[f"id{i}" for i in range(len(texts))],
                   texts=texts, tokenized=True)


def test_split_sizes_sorted_disjoint_and_complete():
    labels = np.repeat([0, 1], [5000, 5000])
    train, val, test = split_indices(labels, seed=0)
    assert (len(train), len(val), len(test)) == (6000, 2000, 2000)
    for part in (train, val, test):
        assert part.dtype.kind == "i" and (np.diff(part) > 0).all()
        assert np.bincount(labels[part]).tolist() == [len(part) // 2] * 2
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(10000))


@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.integers(3, 60), min_size=2, max_size=5), seed=st.integers(0, 2**31))
def test_split_is_stratified_and_seeded(counts, seed):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    train, val, test = split_indices(labels, seed)
    again = split_indices(labels, seed)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert len(train) + len(val) + len(test) == len(labels)
    for part, share in ((train, 0.6), (val, 0.2), (test, 0.2)):
        per_class = np.bincount(labels[part], minlength=len(counts))
        # each class's share of a part is its share of the data, up to rounding
        assert (np.abs(per_class - share * np.array(counts)) <= 1).all(), (per_class, counts)
        assert (per_class >= 1).all()


def test_split_differs_between_seeds_and_handles_tiny_classes():
    labels = np.repeat([0, 1, 2], 100)
    first, second = split_indices(labels, 1), split_indices(labels, 2)
    assert not np.array_equal(first[2], second[2])
    # custom fractions
    train, val, test = split_indices(labels, 1, fractions=(0.5, 0.0, 0.5))
    assert (len(train), len(val), len(test)) == (150, 0, 150)
    # the smallest class that fits: one item in each part
    train, val, test = split_indices(np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1]), 0)
    assert [np.isin([0, 1, 2], p).sum() for p in (train, val, test)] == [1, 1, 1]


@pytest.mark.parametrize("labels, fractions, message", [
    ([0, 1, -1, 1, 0, 0, 1], (0.6, 0.2, 0.2), "1 of 7 items have no label"),
    ([1, 1, 1, 1, 1], (0.6, 0.2, 0.2), "one class only"),
    ([0] * 10 + [1, 1], (0.6, 0.2, 0.2), "too few in class 1 \\(2 items\\)"),
    ([0, 1] * 10, (0.6, 0.3, 0.3), "sum to 1"),
    ([0, 1] * 10, (0.0, 0.5, 0.5), "train > 0"),
    ([0, 1] * 10, (0.6, 0.2), "three"),
])
def test_split_rejects_bad_input(labels, fractions, message):
    with pytest.raises(DataError, match=message):
        split_indices(np.array(labels), 0, fractions)


def test_seed_set_is_stratified_sized_and_deterministic():
    labels = np.repeat([0, 1, 2], [300, 200, 100])
    picked = seed_set(labels, 0.1, np.random.default_rng(5))
    assert len(picked) == 60 and (np.diff(picked) > 0).all()
    assert np.bincount(labels[picked]).tolist() == [30, 20, 10]
    assert np.array_equal(picked, seed_set(labels, 0.1, np.random.default_rng(5)))
    assert not np.array_equal(picked, seed_set(labels, 0.1, np.random.default_rng(6)))


def test_seed_set_from_a_pool_and_when_labels_are_unknown():
    pool = Pool.from_arrays(np.zeros((100, 3), np.float32), np.repeat([0, 1], 50), ("a", "b"))
    picked = seed_set(pool, 0.02, np.random.default_rng(0))
    assert np.bincount(pool.y[picked]).tolist() == [1, 1]
    unknown = seed_set(np.full(50, -1), 0.1, np.random.default_rng(0))
    assert len(unknown) == 5 and len(set(unknown.tolist())) == 5
    # one item of a class cannot be stratified: a uniform sample instead of an error
    assert len(seed_set(np.array([0] * 20 + [1]), 0.2, np.random.default_rng(0))) == 4
    assert len(seed_set(np.array([0, 1, 0]), 0.01, np.random.default_rng(0))) == 1
    assert seed_set(np.array([0, 1, 0]), 1.0, np.random.default_rng(0)).tolist() == [0, 1, 2]
    with pytest.raises(DataError, match="fraction"):
        seed_set(np.array([0, 1]), 0.0, np.random.default_rng(0))


def test_prepare_text_uses_the_training_pool_only():
    dataset = text_dataset()
    prepared = prepare(dataset, seed=0, embedding_dim=12)
    assert prepared.kind == "text" and prepared.x.dtype == np.int64
    assert prepared.x.shape == (60, 6)
    assert (len(prepared.train_idx), len(prepared.val_idx), len(prepared.test_idx)) == (36, 12, 12)
    vocab = prepared.vocab
    for i in range(60):
        unique = f"only{i}"
        if i in set(prepared.train_idx.tolist()):
            assert unique in vocab.index
            assert vocab.decode(prepared.x[i])[-1] == unique
        else:  # a word seen only outside the pool is unknown to the model
            assert unique not in vocab.index
            assert prepared.x[i, 5] == UNK_ID
    # embeddings: zero pad row, word2vec vectors of the pool's words
    assert prepared.embeddings.shape == (len(vocab), 12)
    assert prepared.embeddings.dtype == np.float32 and (prepared.embeddings[0] == 0).all()
    pool_tokens = [dataset.texts[i].split() for i in prepared.train_idx]
    vectors = train_word2vec(pool_tokens, seed=0, dim=12)
    good = vectors.words.index("good")
    np.testing.assert_array_equal(prepared.embeddings[vocab.index["good"]],
                                  vectors.vectors[good])


def test_prepare_is_deterministic_and_the_pool_is_a_copy():
    dataset = text_dataset()
    first = prepare(dataset, seed=3, embedding_dim=8, cache=False)
    again = prepare(dataset, seed=3, embedding_dim=8, cache=False)
    for name in ("x", "y", "train_idx", "val_idx", "test_idx", "embeddings"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    pool = first.pool()
    assert len(pool) == 36 and pool.is_text and pool.vocab == first.vocab.words
    assert pool.texts == [dataset.texts[i] for i in first.train_idx]
    np.testing.assert_array_equal(pool.y, first.y[first.train_idx])
    assert (pool.labeled_in == -1).all()
    pool.mark_labeled(np.array([0]), 0)
    pool.y[0] = 1 - pool.y[0]
    assert first.pool().y[0] == first.y[first.train_idx[0]]  # fresh each time
    x_val, y_val = first.val()
    np.testing.assert_array_equal(x_val, first.x[first.val_idx])


def test_prepare_truncates_and_honours_min_count():
    prepared = prepare(text_dataset(), seed=0, embedding_dim=8, min_count=2, max_len=3)
    assert prepared.x.shape == (60, 3)
    assert not any(w.startswith("only") for w in prepared.vocab.words)


def test_prepare_raw_text_is_tokenized():
    dataset = text_dataset()
    dataset.texts = [t.upper() + "!" for t in dataset.texts]
    dataset.tokenized = False
    prepared = prepare(dataset, seed=0, embedding_dim=8)
    assert "good" in prepared.vocab.index and "!" in prepared.vocab.index
    assert "GOOD" not in prepared.vocab.index


def tabular_dataset() -> Dataset:
    """Rows whose scale depends on their index, so a scaler fitted elsewhere is visible."""
    rng = np.random.default_rng(0)
    n = 200
    features = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.1] + [0.0, 100.0, -3.0]
    features[::7, 1] = np.nan
    return Dataset(name="table", kind="tabular", labels=np.arange(n) % 2,
                   label_names=("a", "b"), ids=[str(i) for i in range(n)],
                   features=features, feature_names=["f0", "f1", "f2"])


def test_tabular_scaler_sees_no_test_rows():
    dataset = tabular_dataset()
    _, _, test = split_indices(dataset.labels, 0)
    dataset.features[test] += 1000.0  # test rows far away: a scaler that saw them is off
    prepared = prepare(dataset, seed=0)
    assert prepared.kind == "tabular" and prepared.x.dtype == np.float32
    assert not np.isnan(prepared.x).any()
    pool_x = prepared.x[prepared.train_idx]
    np.testing.assert_allclose(pool_x.mean(axis=0), 0, atol=1e-5)
    observed = ~np.isnan(dataset.features[prepared.train_idx, 1])
    np.testing.assert_allclose(pool_x[observed, 1].std(), 1 / np.sqrt(observed.mean()),
                               rtol=1e-4)  # mean-imputed cells shrink the std
    test_observed = ~np.isnan(dataset.features[prepared.test_idx])
    assert (prepared.x[prepared.test_idx][test_observed] > 50).all()
    np.testing.assert_allclose(prepared.x[prepared.val_idx].mean(axis=0), 0, atol=1.0)
    assert prepared.embeddings is None and prepared.vocab is None
    assert not prepared.pool().is_text


def test_prepare_unlabeled_encodes_every_item():
    dataset = text_dataset(n_per_class=10, labels_known=False)
    prepared = prepare_unlabeled(dataset, seed=0, embedding_dim=8)
    assert prepared.train_idx.tolist() == list(range(20))
    assert len(prepared.val_idx) == len(prepared.test_idx) == 0
    assert all(f"only{i}" in prepared.vocab.index for i in range(20))
    pool = prepared.pool()
    assert len(pool) == 20 and (pool.y == -1).all()
    table = tabular_dataset()
    table.labels[:] = -1
    x = prepare_unlabeled(table, seed=0).x
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)


def test_prepare_rejects_bad_datasets():
    dataset = text_dataset()
    with pytest.raises(DataError, match="no label"):
        prepare(text_dataset(labels_known=False), seed=0)
    dataset.labels[0] = 2
    with pytest.raises(DataError, match="class numbers 0..1"):
        prepare(dataset, seed=0)
    odd = text_dataset()
    odd.kind = "image"
    with pytest.raises(DataError, match="expected 'text' or 'tabular'"):
        prepare(odd, seed=0)
    missing = text_dataset()
    missing.texts = None
    with pytest.raises(DataError, match="has no texts"):
        prepare(missing, seed=0)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ALDEN_DATA"), reason="ALDEN_DATA is not set")
def test_prepare_subj_real_data():
    from alden.data.datasets import load_dataset

    dataset = load_dataset("subj")
    prepared = prepare(dataset, seed=0)
    sizes = [len(prepared.train_idx), len(prepared.val_idx), len(prepared.test_idx)]
    assert sizes == [6000, 2000, 2000]
    for part in (prepared.train_idx, prepared.val_idx, prepared.test_idx):
        assert np.bincount(prepared.y[part]).tolist() == [len(part) // 2] * 2
    assert prepared.x.shape[0] == 10000 and prepared.embeddings.shape[1] == 100
    assert prepared.vocab.words[:2] == ("<pad>", "<unk>") and len(prepared.vocab) > 10000
    assert (prepared.x[:, 0] != 0).all()
    cached = prepare(dataset, seed=0)  # the second run reads word2vec from the cache
    np.testing.assert_array_equal(cached.embeddings, prepared.embeddings)
    np.testing.assert_array_equal(cached.x, prepared.x)
