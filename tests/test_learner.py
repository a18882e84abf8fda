"""NetworkLearner: seeded training from scratch, bucketing, early stopping, saving, delegation."""

import dataclasses

import numpy as np
import pytest
import torch

from alden.data import mapped as mapped_arrays
from alden.errors import AldenError, DataError
from alden.models.contract import TrainConfig
from alden.models.families import load_learner
from alden.models.learner import NetworkLearner, length_buckets, token_lengths

VOCAB = 30
SMALL_CNN = {"embedding_dim": 8, "n_maps": 6}


def toy_cnn(eval_batch_size: int) -> tuple[NetworkLearner, np.ndarray]:
    """A tiny TextCNN trained 2 epochs on 60 of 300 toy sentences, and the 300."""
    x, y = toy_text(300, 1)
    config = TrainConfig(fixed_epochs=2, eval_batch_size=eval_batch_size)
    learner = NetworkLearner("cnn", n_classes=2, vocab_size=VOCAB, embedding_dim=8, n_maps=6,
                             config=config)
    return learner.fit(x[:60], y[:60], seed=0), x


def toy_text(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sentences of 1-12 tokens; label 1 iff token 3 occurs (a task a CNN learns at once)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 14), dtype=np.int64)
    y = rng.integers(0, 2, n)
    for i in range(n):
        length = int(rng.integers(1, 13))
        x[i, :length] = rng.integers(4, VOCAB, length)
        if y[i]:
            x[i, rng.integers(0, length)] = 3
    return x, y


def toy_table(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def cnn(**config) -> NetworkLearner:
    return NetworkLearner("cnn", n_classes=2, vocab_size=VOCAB, config=TrainConfig(**config),
                          **SMALL_CNN)


def weights(learner: NetworkLearner) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_token_lengths_and_pads_that_do_not_trail():
    x = np.array([[4, 5, 0], [6, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(token_lengths(x), [2, 1, 0])
    with pytest.raises(DataError, match="row 1"):
        token_lengths(np.array([[4, 5, 0], [0, 7, 0]]))


def test_token_lengths_in_blocks_equal_one_pass(monkeypatch, tmp_path):
    rng = np.random.default_rng(1)
    lengths = rng.integers(0, 9, size=50)
    x = np.where(np.arange(9)[None, :] < lengths[:, None], rng.integers(1, 30, (50, 9)), 0)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")  # as a project's pool is read
    monkeypatch.setattr(mapped_arrays, "ROWS_BLOCK", 7)
    np.testing.assert_array_equal(token_lengths(mapped), lengths)
    x[37, 0] = 0
    x[37, 8] = 3
    with pytest.raises(DataError, match="row 37 "):  # the first bad row, counted globally
        token_lengths(x)


def test_length_buckets_cover_every_item_once_in_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, 1000)
    batches = length_buckets(lengths, 32, np.random.default_rng(1), bucket_batches=10)
    flat = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(flat), np.arange(1000))
    assert max(len(b) for b in batches) == 32
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[b]) for b in np.array_split(rng.permutation(1000), 32)])
    assert spread < random_spread / 4  # bucketed batches hold similar lengths
    again = length_buckets(lengths, 32, np.random.default_rng(1), bucket_batches=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    other = length_buckets(lengths, 32, np.random.default_rng(2), bucket_batches=10)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other, strict=True))


@pytest.mark.parametrize("make, data", [
    (lambda: cnn(fixed_epochs=2), toy_text),
    (lambda: NetworkLearner("bilstm", n_classes=2, vocab_size=VOCAB, embedding_dim=8, hidden_size=5,
                            config=TrainConfig(fixed_epochs=2)), toy_text),
    (lambda: NetworkLearner("mlp", n_classes=2, n_features=5, config=TrainConfig(fixed_epochs=2)),
     toy_table),
])
def test_same_seed_same_weights_other_seed_other_weights(make, data):
    x, y = data(120, 0)
    first = weights(make().fit(x, y, seed=7))
    assert_same_weights(first, weights(make().fit(x, y, seed=7)))
    other = weights(make().fit(x, y, seed=8))
    assert any(not torch.equal(first[k], other[k]) for k in first)


def test_each_fit_starts_from_scratch_unless_warm_start():
    x, y = toy_text(100, 1)
    learner = cnn(fixed_epochs=1)
    first = weights(learner.fit(x, y, seed=3))
    assert_same_weights(first, weights(learner.fit(x, y, seed=3)))  # refit == fresh fit
    warm = NetworkLearner("cnn", n_classes=2, vocab_size=VOCAB, **SMALL_CNN,
                          config=TrainConfig(fixed_epochs=1, warm_start=True))
    warm.fit(x, y, seed=3)
    assert_same_weights(first, weights(warm))
    warm.fit(x, y, seed=3)  # a second epoch on top of the first
    assert any(not torch.equal(first[k], warm.model.state_dict()[k]) for k in first)


def test_fit_leaves_the_callers_torch_random_state_alone():
    x, y = toy_table(50, 0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    NetworkLearner("mlp", n_classes=2, n_features=5, config=TrainConfig(fixed_epochs=1)).fit(
        x, y, seed=1)
    torch.testing.assert_close(torch.rand(3), expected)


def test_text_models_learn_a_keyword_task():
    x, y = toy_text(400, 2)
    x_test, y_test = toy_text(200, 3)
    learner = cnn(fixed_epochs=15, lr=1e-2).fit(x, y, seed=0)
    assert (learner.predict(x_test) == y_test).mean() > 0.9


def test_mlp_learns_a_linear_boundary():
    x, y = toy_table(400, 4)
    x_test, y_test = toy_table(200, 5)
    learner = NetworkLearner("mlp", n_classes=2, n_features=5, config=TrainConfig(fixed_epochs=20))
    assert (learner.fit(x, y, seed=0).predict(x_test) == y_test).mean() > 0.9


def test_batches_are_cut_to_their_longest_sentence():
    x, y = toy_text(80, 4)
    x = np.pad(x, ((0, 0), (0, 30)))  # 30 columns of pads the model must never see
    learner = cnn(fixed_epochs=1, batch_size=16)
    seen = []
    original = learner.new_model

    def spied_model():
        model = original()
        model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
        return model

    learner.new_model = spied_model
    learner.fit(x, y, seed=0)
    assert len(seen) == 5
    for batch in seen:
        assert (batch[:, -1] != 0).any()  # the last column holds someone's last token


# Validation accuracy per check: best at check 2, then 3 checks without improvement, then a
# better one at check 6. Patience 2 stops after check 4, patience 3 after check 5, and
# patience 4 reaches check 6 and keeps its weights.
SCRIPTED = [0.50, 0.70, 0.60, 0.65, 0.68, 0.80, 0.75, 0.74, 0.73, 0.72]


def scripted_fit(monkeypatch, patience: int) -> tuple[NetworkLearner, list[dict]]:
    """A small MLP whose validation accuracy follows SCRIPTED; its weights after each epoch."""
    checks = iter(SCRIPTED)
    monkeypatch.setattr(NetworkLearner, "_validate", lambda self, xv, yv: {
        "val_loss": 1.0, "val_accuracy": next(checks), "val_seconds": 0.0})
    x, y = toy_table(40, 5)
    learner = NetworkLearner("mlp", n_classes=2, n_features=5, config=TrainConfig(
        max_epochs=len(SCRIPTED), patience=patience, min_items_per_check=1, lr=0.05))
    after: list[dict] = []
    learner.fit(x, y, *toy_table(20, 6), seed=0,
                on_epoch=lambda fitted, record: after.append(weights(fitted)))
    return learner, after


@pytest.mark.parametrize("patience,stopped_after,kept", [(2, 4, 2), (3, 5, 2), (4, 10, 6)])
def test_early_stopping_waits_patience_checks_and_restores_the_best(monkeypatch, patience,
                                                                    stopped_after, kept):
    learner, after = scripted_fit(monkeypatch, patience)
    assert [h["epoch"] for h in learner.history] == list(range(1, stopped_after + 1))
    assert_same_weights(weights(learner), after[kept - 1])
    assert not all(torch.equal(a, b) for a, b in zip(
        after[kept - 1].values(), after[-1].values(), strict=True))  # restoring changed them


def test_monitor_loss_keeps_the_lowest_validation_loss():
    x, y = toy_table(60, 7)
    x_val, y_val = toy_table(100, 8)
    learner = NetworkLearner("mlp", n_classes=2, n_features=5, config=TrainConfig(
        max_epochs=8, patience=8, monitor="loss", min_items_per_check=1))
    learner.fit(x, y, x_val, y_val, seed=0)
    proba = learner.predict_proba(x_val)
    loss = -np.log(proba[np.arange(len(y_val)), y_val]).mean()
    assert loss == pytest.approx(min(h["val_loss"] for h in learner.history), rel=1e-5)


def test_small_labeled_sets_validate_every_few_epochs():
    x, y = toy_table(50, 9)
    learner = NetworkLearner("mlp", n_classes=2, n_features=5, config=TrainConfig(
        max_epochs=9, patience=100, min_items_per_check=150))
    learner.fit(x, y, *toy_table(40, 10), seed=0)
    checked = [h["epoch"] for h in learner.history if "val_accuracy" in h]
    assert checked == [3, 6, 9]


def test_without_validation_a_fixed_number_of_epochs():
    x, y = toy_table(40, 11)
    learner = NetworkLearner("mlp", n_classes=2, n_features=5, config=TrainConfig(fixed_epochs=3))
    learner.fit(x, y, seed=0)
    assert [h["epoch"] for h in learner.history] == [1, 2, 3]


def test_predict_proba_rows_are_distributions_in_input_order():
    x, y = toy_text(70, 12)
    learner = cnn(fixed_epochs=1).fit(x, y, seed=0)
    proba = learner.predict_proba(x)
    assert proba.shape == (70, 2)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    one_by_one = np.concatenate([learner.predict_proba(x[i:i + 1]) for i in range(0, 70, 7)])
    np.testing.assert_allclose(proba[::7], one_by_one, rtol=1e-5, atol=1e-6)


def test_save_and_load_give_the_same_predictions(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(VOCAB, 8)).astype(np.float32)
    x, y = toy_text(60, 13)
    learner = NetworkLearner("cnn", n_classes=2, embeddings=vectors, n_maps=6,
                             config=TrainConfig(fixed_epochs=1, lr=5e-3)).fit(x, y, seed=0)
    path = tmp_path / "model.pt"
    learner.save(path)
    loaded = load_learner(path)
    np.testing.assert_array_equal(loaded.predict_proba(x), learner.predict_proba(x))
    assert loaded.config == learner.config and loaded.model_options == {"n_maps": 6}
    np.testing.assert_array_equal(loaded.embeddings, vectors)  # a refit starts alike
    assert_same_weights(weights(loaded.fit(x, y, seed=0)), weights(learner.fit(x, y, seed=0)))
    assert not list(tmp_path.glob("*.tmp"))


def test_load_refuses_missing_damaged_and_foreign_files(tmp_path):
    with pytest.raises(AldenError, match="no such learner file"):
        load_learner(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(AldenError, match="junk.pt: not a saved alden learner"):
        load_learner(tmp_path / "junk.pt")
    torch.save({"description": '{"format": "other"}', "state_dict": {}}, tmp_path / "o.pt")
    with pytest.raises(AldenError, match="o.pt: not a saved alden learner"):
        load_learner(tmp_path / "o.pt")


def test_the_strategy_quantities_come_through_with_their_shapes():
    x, y = toy_text(30, 14)
    learner = cnn(fixed_epochs=1).fit(x, y, seed=0)
    lengths = token_lengths(x)
    assert learner.hidden(x).shape == (30, 18)
    assert learner.badge_embeddings(x).shape == (30, 36)
    assert learner.predict_proba_mc(x, 4, seed=0).shape == (4, 30, 2)
    assert learner.egl_word_scores(x).shape == (30,)
    interpretations = learner.token_interpretations(x, output="logits")
    assert [len(a) for a in interpretations] == list(lengths)
    assert learner.word_embeddings().shape == (VOCAB, 8)
    xt, yt = toy_table(20, 15)
    mlp = NetworkLearner("mlp", n_classes=2, n_features=5, config=TrainConfig(fixed_epochs=1))
    mlp.fit(xt, yt, seed=0)
    assert mlp.input_jacobian(xt).shape == (20, 10)
    assert mlp.egl_input_scores(xt).shape == (20,)


@pytest.mark.parametrize("call, error, message", [
    (lambda L, x, y: L.fit(x, y + 2, seed=0), DataError, "labels must lie in"),
    (lambda L, x, y: L.fit(x, y[:-1], seed=0), DataError, "integer labels"),
    (lambda L, x, y: L.fit(x.astype(float), y, seed=0), DataError, "token ids"),
    (lambda L, x, y: L.fit(x + VOCAB, y, seed=0), DataError, "token ids must lie in"),
    (lambda L, x, y: L.fit(x, y, x_val=x, seed=0), AldenError, "x_val and y_val"),
    (lambda L, x, y: L.fit(x, y, seed=None), AldenError, "seed must be an integer"),
    (lambda L, x, y: L.predict_proba(x), AldenError, "call fit first"),
    (lambda L, x, y: L.fit(np.array([[0, 4]]), np.array([1]), seed=0), DataError, "row 0"),
])
def test_bad_input_gets_a_clear_error(call, error, message):
    x, y = toy_text(10, 16)
    with pytest.raises(error, match=message):
        call(cnn(fixed_epochs=1), x, y)


def test_bad_configs_and_model_options_are_refused():
    with pytest.raises(AldenError, match="monitor"):
        TrainConfig(monitor="f1")
    with pytest.raises(AldenError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(AldenError, match="no option widths"):
        NetworkLearner("mlp", n_classes=2, n_features=3, widths=(2,))
    with pytest.raises(DataError, match="columns"):
        NetworkLearner("mlp", n_classes=2, n_features=3).fit(np.zeros((4, 5)), np.zeros(4, int),
                                                             seed=0)
    assert dataclasses.is_dataclass(TrainConfig) and TrainConfig.__dataclass_params__.frozen
