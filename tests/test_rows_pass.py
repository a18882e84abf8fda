"""``strategies.base.rows_pass``: a scoring pass over the unlabeled rows of a large pool in
blocks of whole batches, in the batches' order, so only a block is copied and every float is
the one call's; learners that do not promise batch-only outputs get one call."""

from __future__ import annotations

import numpy as np
import pytest
from test_learner import toy_cnn

from alden.models.contract import TrainConfig
from alden.strategies import base

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cnn():
    return toy_cnn(8)


def counted(method, sizes):
    def call(rows):
        sizes.append(len(rows))
        return method(rows)
    return call


@pytest.mark.parametrize("name", ["predict_proba", "egl_word_scores", "badge_embeddings"])
def test_blocks_give_the_one_calls_floats(cnn, monkeypatch, name):
    learner, x = cnn
    monkeypatch.setattr(base, "ROWS_PASS_BATCHES", 2)  # blocks of 16 rows
    rows = np.sort(np.random.default_rng(0).choice(len(x), 201, replace=False))
    sizes: list[int] = []
    got = base.rows_pass(learner, counted(getattr(learner, name), sizes), x, rows)
    np.testing.assert_array_equal(got, getattr(learner, name)(x[rows]))
    assert max(sizes) == 16 and sum(sizes) == 201  # only a block copied at a time


def test_a_learner_without_the_promise_gets_one_call(cnn, monkeypatch):
    learner, x = cnn
    monkeypatch.setattr(base, "ROWS_PASS_BATCHES", 2)

    class Plain:  # the same model, no rows_in_batches
        config = learner.config
        predict_proba = staticmethod(learner.predict_proba)

    sizes: list[int] = []
    rows = np.arange(100)
    got = base.rows_pass(Plain(), counted(learner.predict_proba, sizes), x, rows)
    assert sizes == [100]
    np.testing.assert_array_equal(got, learner.predict_proba(x[rows]))


def test_tabular_rows_keep_their_order(monkeypatch):
    x = np.arange(40, dtype=np.float32).reshape(20, 2)

    class Doubling:
        rows_in_batches = True
        config = TrainConfig(eval_batch_size=2)

    monkeypatch.setattr(base, "ROWS_PASS_BATCHES", 2)
    rows = np.array([19, 3, 7, 0, 11, 12])
    got = base.rows_pass(Doubling(), lambda r: r * 2, x, rows)
    np.testing.assert_array_equal(got, x[rows] * 2)
