"""alden.models.quantities against slow, obvious per-sample computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alden.errors import AldenError, DataError
from alden.models import quantities as q
from alden.models.outputs import OUTPUTS

VOCAB, DIM, MAX_LEN = 30, 6, 9


# ---------------------------------------- tiny models that follow the contract

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TinyText(nn.Module):
    """Embedding, width-3 convolution over real tokens, masked max-pool, ReLU, dropout, head."""

    def __init__(self, n_classes: int, width: int = 7, p: float = 0.5,
                 pad_gradients: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, DIM, padding_idx=0)
        self.conv = nn.Conv1d(DIM, width, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(p)
        self.head = nn.Linear(width, n_classes)
        # pad_gradients: a term that is zero on the zero pad embedding but whose gradient at
        # pad positions is not, so a quantity that lets pads count differs from the reference
        self.leak = nn.Parameter(5 * torch.randn(n_classes)) if pad_gradients else None

    def _features(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e = e * mask[..., None].to(e.dtype)
        c = self.conv(e.transpose(1, 2)).transpose(1, 2)
        return torch.relu(c.masked_fill(~mask[..., None], float("-inf")).max(dim=1).values)

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.dropout(self._features(e, mask)))
        if self.leak is not None:
            logits = logits + (e * (~mask)[..., None]).sum(dim=(1, 2))[:, None] * self.leak
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(x), x != 0)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(self.embedding(x), x != 0)


class TinyMLP(nn.Module):
    """ReLU MLP with dropout; an optional batch norm to check that MC dropout leaves it in eval."""

    def __init__(self, n_features: int, n_classes: int, width: int = 8, p: float = 0.5,
                 batch_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(n_features, width)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers += [nn.ReLU(), nn.Linear(width, width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(p)
        self.head = nn.Linear(width, n_classes)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.body(x)))


def text_model(n_classes: int, seed: int = 0, **kw) -> TinyText:
    torch.manual_seed(seed)
    return TinyText(n_classes, **kw)


def mlp_model(n_classes: int, n_features: int = 5, seed: int = 0, **kw) -> TinyMLP:
    torch.manual_seed(seed)
    model = TinyMLP(n_features, n_classes, **kw)
    if kw.get("batch_norm"):
        with torch.no_grad():  # non-trivial running statistics
            model.body[1].running_mean.uniform_(-1, 1)
            model.body[1].running_var.uniform_(0.5, 2)
    return model


def token_ids(n: int, seed: int = 1, min_len: int = 1) -> np.ndarray:
    """(n, MAX_LEN) int64 ids right-padded with 0, lengths min_len..MAX_LEN."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, MAX_LEN), dtype=np.int64)
    for i, length in enumerate(rng.integers(min_len, MAX_LEN + 1, size=n)):
        x[i, :length] = rng.integers(1, VOCAB, size=length)
    return x


def features(n: int, n_features: int = 5, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, n_features)).astype(np.float32)


CLASSES = [2, 4]


# ---------------------------------------- slow references, one sample at a time

def ref_proba(model, x):
    model.eval()
    with torch.no_grad():
        return np.stack([torch.softmax(model(torch.as_tensor(row[None])), -1)[0].numpy()
                         for row in x])


def ref_embedded(model, row):
    """Embeddings of one sentence's real tokens only (no pads at all), as a gradient leaf."""
    ids = torch.as_tensor(row[row != 0][None])
    e = model.embedding(ids).detach().requires_grad_(True)
    return e, ids != 0


def ref_egl_word(model, x):
    model.eval()
    scores = []
    for row in x:
        e, mask = ref_embedded(model, row)
        p = torch.softmax(model.forward_embedded(e, mask), -1)[0].detach()
        expected = torch.zeros(e.shape[1])
        for c in range(len(p)):
            loss = F.cross_entropy(model.forward_embedded(e, mask), torch.tensor([c]))
            (g,) = torch.autograd.grad(loss, e)
            expected += p[c] * g[0].norm(dim=-1)
        scores.append(float(expected.max()) if len(expected) else 0.0)
    return np.array(scores)


def ref_egl_input(model, x):
    model.eval()
    scores = []
    for row in x:
        xi = torch.as_tensor(row[None]).requires_grad_(True)
        p = torch.softmax(model(xi), -1)[0].detach()
        total = 0.0
        for c in range(len(p)):
            (g,) = torch.autograd.grad(F.cross_entropy(model(xi), torch.tensor([c])), xi)
            total += float(p[c] * g.norm())
        scores.append(total)
    return np.array(scores)


def ref_interpretations(model, x, output):
    model.eval()
    result = []
    for row in x:
        e, mask = ref_embedded(model, row)
        per_class = []
        for c in range(model.head.out_features):
            logits = model.forward_embedded(e, mask)
            y = torch.softmax(logits, -1) if output == "proba" else logits
            (g,) = torch.autograd.grad(y[0, c], e)
            per_class.append((g[0] * e[0]).sum(-1).detach().numpy())
        result.append(np.stack(per_class, axis=-1).reshape(-1, model.head.out_features))
    return result


def ref_badge(model, x):
    model.eval()
    rows = []
    for row in x:
        logits = model(torch.as_tensor(row[None]))
        loss = F.cross_entropy(logits, logits.argmax(-1))
        (g,) = torch.autograd.grad(loss, model.head.weight)
        rows.append(g.flatten().numpy())
    return np.stack(rows)


def ref_jacobian_fd(model, x, output, eps=1e-6):
    """Central finite differences of a float64 model, one feature of one sample at a time."""
    model.eval()

    def f(v):
        with torch.no_grad():
            logits = model(torch.as_tensor(v[None]))
            return (torch.softmax(logits, -1) if output == "proba" else logits)[0].numpy()

    rows = []
    for row in x:
        jac = np.zeros((model.head.out_features, len(row)))
        for j in range(len(row)):
            step = np.zeros_like(row)
            step[j] = eps
            jac[:, j] = (f(row + step) - f(row - step)) / (2 * eps)
        rows.append(jac.reshape(-1))
    return np.stack(rows)


# ---------------------------------------------------------------- predictions and hidden layer

@pytest.mark.parametrize("n_classes", CLASSES)
@pytest.mark.parametrize("kind", ["text", "tabular"])
def test_predict_proba_matches_per_sample(kind, n_classes):
    if kind == "text":
        model, x = text_model(n_classes), token_ids(23)
    else:
        model, x = mlp_model(n_classes), features(23)
    got = q.predict_proba(model, x, batch_size=5)
    assert got.shape == (23, n_classes) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref_proba(model, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1, atol=1e-6)


@pytest.mark.parametrize("n_classes", CLASSES)
def test_hidden_is_the_head_input(n_classes):
    model, x = text_model(n_classes), token_ids(17)
    h = q.hidden(model, x, batch_size=4)
    assert h.shape == (17, 7) and h.dtype == np.float32
    with torch.no_grad():
        logits = model.head(torch.as_tensor(h)).numpy()
    np.testing.assert_allclose(torch.softmax(torch.as_tensor(logits), -1).numpy(),
                               ref_proba(model, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_classes", CLASSES)
@pytest.mark.parametrize("kind", ["text", "tabular"])
def test_badge_matches_autograd_of_cross_entropy(kind, n_classes):
    if kind == "text":
        model, x = text_model(n_classes), token_ids(15)
    else:
        model, x = mlp_model(n_classes), features(15)
    got = q.badge_embeddings(model, x, batch_size=4)
    assert got.shape == (15, n_classes * model.head.in_features) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref_badge(model, x), rtol=1e-5, atol=1e-6)
    # the predicted class's block carries (p - 1) h: negative wherever h is positive
    yhat = ref_proba(model, x).argmax(1)
    h = q.hidden(model, x)
    blocks = got.reshape(15, n_classes, -1)[np.arange(15), yhat]
    assert (blocks[h > 0] < 0).all()


# ---------------------------------------------------------------- gradient quantities

@pytest.mark.parametrize("n_classes", CLASSES)
def test_egl_word_matches_per_sample_per_class_backward(n_classes):
    model, x = text_model(n_classes, pad_gradients=True), token_ids(19)
    got = q.egl_word_scores(model, x, batch_size=6)
    assert got.shape == (19,) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref_egl_word(model, x), rtol=1e-4, atol=1e-7)
    assert (got > 0).all()


@pytest.mark.parametrize("n_classes", CLASSES)
def test_egl_input_matches_per_sample_per_class_backward(n_classes):
    model, x = mlp_model(n_classes), features(19)
    got = q.egl_input_scores(model, x, batch_size=6)
    assert got.shape == (19,) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref_egl_input(model, x), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("n_classes", CLASSES)
def test_token_interpretations_match_per_sample_autograd(n_classes, output):
    model, x = text_model(n_classes), token_ids(21)
    got = q.token_interpretations(model, x, output, batch_size=5)
    expected = ref_interpretations(model, x, output)
    lengths = (x != 0).sum(1)
    assert len(got) == 21
    for g, e, length in zip(got, expected, lengths, strict=True):
        assert g.shape == (length, n_classes) and g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)
    if output == "proba":  # probabilities sum to one, so relevances do too
        np.testing.assert_allclose(np.concatenate(got).sum(1), 0, atol=1e-6)


def test_flat_interpretations_agree_with_the_list():
    model, x = text_model(3), token_ids(12)
    values, offsets = q.token_interpretations_flat(model, x, batch_size=4)
    per_sentence = q.token_interpretations(model, x, batch_size=7)
    assert offsets.dtype == np.int64 and offsets[0] == 0
    np.testing.assert_array_equal(np.diff(offsets), (x != 0).sum(1))
    assert values.shape == (offsets[-1], 3)
    for i, arr in enumerate(per_sentence):
        np.testing.assert_allclose(values[offsets[i]:offsets[i + 1]], arr, rtol=1e-5,
                                   atol=1e-7)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("n_classes", CLASSES)
def test_input_jacobian_matches_finite_differences(n_classes, output):
    model, x = mlp_model(n_classes).double(), features(9).astype(np.float64)
    got = q.input_jacobian(model, x, output, batch_size=4)
    assert got.shape == (9, n_classes * 5) and got.dtype == np.float64
    np.testing.assert_allclose(got, ref_jacobian_fd(model, x, output), rtol=1e-6, atol=1e-8)


def test_input_jacobian_is_class_major_in_float32():
    model, x = mlp_model(3), features(6)
    got = q.input_jacobian(model, x, "logits")
    assert got.dtype == np.float32
    for i in range(6):
        jac = torch.autograd.functional.jacobian(lambda v: model.eval()(v[None])[0],
                                                 torch.as_tensor(x[i]))
        np.testing.assert_allclose(got[i].reshape(3, 5), jac.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- padding and batching

def test_padding_and_batching_never_change_a_quantity():
    model, x = text_model(3, pad_gradients=True), token_ids(14)
    wide = np.pad(x, ((0, 0), (0, 6)))
    funcs = [q.predict_proba, q.hidden, q.badge_embeddings, q.egl_word_scores,
             lambda m, v, batch_size: q.token_interpretations_flat(m, v, batch_size=batch_size)[0],
             lambda m, v, batch_size: q.token_interpretations_flat(
                 m, v, "logits", batch_size=batch_size)[0]]
    for func in funcs:
        alone = func(model, x, batch_size=1)  # each sentence cut to its own length
        for batch_size in (3, 14):
            for ids in (x, wide):
                np.testing.assert_allclose(func(model, ids, batch_size=batch_size), alone,
                                           rtol=1e-5, atol=1e-6)


def test_text_batches_are_sorted_and_cut_to_their_longest_sentence():
    model, x = text_model(2), token_ids(40)
    seen = []
    model.register_forward_hook(lambda m, args, out: seen.append(args[0].numpy().copy()))
    q.predict_proba(model, x, batch_size=8)
    lengths = np.sort((x != 0).sum(1))[::-1]
    assert [b.shape for b in seen] == [(8, lengths[s]) for s in range(0, 40, 8)]
    assert sorted(map(tuple, np.concatenate([np.pad(b, ((0, 0), (0, MAX_LEN - b.shape[1])))
                                              for b in seen]))) == sorted(map(tuple, x))


def test_empty_sentence_and_empty_pool():
    model = text_model(2)
    x = token_ids(4)
    x[2] = 0
    parts = q.token_interpretations(model, x)
    assert parts[2].shape == (0, 2)
    assert q.egl_word_scores(model, x)[2] == 0
    empty = np.zeros((0, MAX_LEN), dtype=np.int64)
    assert q.predict_proba(model, empty).shape == (0, 2)
    assert q.predict_proba_mc(model, empty, 3, seed=0).shape == (3, 0, 2)
    assert q.badge_embeddings(model, empty).shape == (0, 14)
    assert q.token_interpretations(model, empty) == []
    assert q.input_jacobian(mlp_model(2), np.zeros((0, 5), np.float32)).shape == (0, 10)


# ---------------------------------------------------------------- MC dropout

@pytest.mark.parametrize("n_classes", CLASSES)
@pytest.mark.parametrize("kind", ["text", "tabular"])
def test_mc_dropout_repeats_with_a_seed_and_varies_across_passes(kind, n_classes):
    if kind == "text":
        model, x = text_model(n_classes), token_ids(11)
    else:
        model, x = mlp_model(n_classes), features(11)
    state = torch.get_rng_state()
    a = q.predict_proba_mc(model, x, T=6, seed=3, batch_size=16)
    assert torch.equal(state, torch.get_rng_state())  # the caller's generator is untouched
    b = q.predict_proba_mc(model, x, T=6, seed=3, batch_size=16)
    c = q.predict_proba_mc(model, x, T=6, seed=4, batch_size=16)
    assert a.shape == (6, 11, n_classes) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert all(not np.allclose(a[0], a[t]) for t in range(1, 6))
    np.testing.assert_allclose(a.sum(-1), 1, atol=1e-6)


@pytest.mark.parametrize("name", ["cnn", "bilstm"])
def test_mc_dropout_runs_text_features_once_with_the_full_passes_masks(name):
    from alden.models.networks import build_model

    torch.manual_seed(0)
    model = build_model(name, n_classes=3, vocab_size=50)
    x = token_ids(13)
    fast = q.predict_proba_mc(model, x, T=5, seed=2, batch_size=20)  # batches of 4 rows
    full = np.zeros_like(fast)
    model.train()  # every pass through the whole model, dropout drawing from the same seed
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(2)
        for idx, rows in q._batches(x, 4):  # longest first, as predict_proba_mc batches
            logits = model(torch.from_numpy(rows).repeat(5, 1))
            full[:, idx] = torch.softmax(logits, -1).reshape(5, len(idx), 3)
    np.testing.assert_allclose(fast, full, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fast[0], fast[1])  # the passes differ: dropout is on


def test_mc_dropout_without_dropout_is_predict_proba():
    model, x = text_model(3, p=0.0), token_ids(10)
    mc = q.predict_proba_mc(model, x, T=3, seed=0)
    for t in range(3):
        np.testing.assert_allclose(mc[t], q.predict_proba(model, x), rtol=1e-5, atol=1e-6)


def test_mc_dropout_keeps_batch_norm_in_eval():
    model, x = mlp_model(3, batch_norm=True, p=0.0), features(10)
    stats = model.body[1].running_mean.clone()
    mc = q.predict_proba_mc(model, x, T=2, seed=0, batch_size=4)
    assert torch.equal(stats, model.body[1].running_mean)
    np.testing.assert_allclose(mc[0], ref_proba(model, x), rtol=1e-5, atol=1e-6)


def test_mc_dropout_needs_a_dropout_layer():
    model = nn.Sequential(nn.Linear(5, 2))
    model.head = model[0]
    with pytest.raises(AldenError, match="Dropout"):
        q.predict_proba_mc(model, features(3), T=2, seed=0)


# ---------------------------------------------------------------- modes, gradients, contexts

def _call_all(model, x):
    if x.dtype == np.int64:
        return [q.predict_proba(model, x), q.predict_proba_mc(model, x, 2, seed=0),
                q.hidden(model, x), q.badge_embeddings(model, x), q.egl_word_scores(model, x),
                q.token_interpretations_flat(model, x)[0]]
    return [q.predict_proba(model, x), q.predict_proba_mc(model, x, 2, seed=0),
            q.hidden(model, x), q.badge_embeddings(model, x), q.egl_input_scores(model, x),
            q.input_jacobian(model, x)]


@pytest.mark.parametrize("kind", ["text", "tabular"])
def test_modes_restored_parameter_grads_untouched_and_no_grad_caller(kind):
    model, x = (text_model(2), token_ids(8)) if kind == "text" else (mlp_model(2), features(8))
    model.eval()
    expected = _call_all(model, x)
    model.train()
    model.dropout.eval()  # a mixed state must come back exactly
    with torch.no_grad():
        got = _call_all(model, x)
    assert model.training and not model.dropout.training
    assert all(m.training for m in model.modules() if m is not model.dropout)
    assert all(p.grad is None for p in model.parameters())
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_word_embeddings_are_a_copy_of_the_current_matrix():
    model = text_model(2)
    with torch.no_grad():
        model.embedding.weight[3] += 1.0  # "fine-tuned"
    emb = q.word_embeddings(model)
    assert emb.shape == (VOCAB, DIM) and emb.dtype == np.float32
    np.testing.assert_array_equal(emb, model.embedding.weight.detach().numpy())
    emb[3] = 0
    assert model.embedding.weight[3].abs().sum() > 0
    with pytest.raises(AldenError, match="embedding"):
        q.word_embeddings(mlp_model(2))


# ---------------------------------------------------------------- bad input

def test_bad_input_gets_clear_errors():
    text, mlp = text_model(2), mlp_model(2)
    with pytest.raises(AldenError, match="needs text"):
        q.egl_word_scores(text, features(3))
    with pytest.raises(AldenError, match="needs text"):
        q.token_interpretations(text, features(3))
    with pytest.raises(AldenError, match="tabular"):
        q.input_jacobian(mlp, token_ids(3))
    with pytest.raises(AldenError, match="tabular"):
        q.egl_input_scores(mlp, token_ids(3))
    with pytest.raises(AldenError, match="output"):
        q.input_jacobian(mlp, features(3), output="probs")
    holes = token_ids(5, min_len=3)
    holes[3, 1] = 0
    with pytest.raises(DataError, match="row 3"):
        q.predict_proba(text, holes)
    with pytest.raises(DataError, match="2-D"):
        q.predict_proba(mlp, features(3)[None])
    with pytest.raises(DataError, match="dtype"):
        q.predict_proba(mlp, np.array([["a", "b"]]))
    with pytest.raises(AldenError, match="batch_size"):
        q.hidden(mlp, features(3), batch_size=0)
    with pytest.raises(AldenError, match="T"):
        q.predict_proba_mc(mlp, features(3), T=0, seed=0)


# ---------------------------------------- the project's real models (small sizes)

def real_model(name: str, n_classes: int, seed: int = 0, **options) -> nn.Module:
    models = pytest.importorskip("alden.models.networks")
    torch.manual_seed(seed)
    if name == "mlp":
        return models.build_model("mlp", n_classes=n_classes, n_features=5,
                                  hidden_sizes=(6, 6), **options)
    sizes = {"cnn": {"n_maps": 4}, "bilstm": {"hidden_size": 5}}[name]
    return models.build_model(name, n_classes=n_classes, vocab_size=VOCAB, embedding_dim=DIM,
                              **sizes, **options)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", ["cnn", "bilstm"])
def test_real_text_models_against_per_sample_references(name, n_classes):
    model, x = real_model(name, n_classes), token_ids(13)  # lengths 1..9: some under width 5
    wide = np.pad(x, ((0, 0), (0, 4)))
    np.testing.assert_allclose(q.predict_proba(model, wide, batch_size=4), ref_proba(model, x),
                               rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        logits = model.head(torch.as_tensor(q.hidden(model, x, batch_size=5)))
    np.testing.assert_allclose(torch.softmax(logits, -1).numpy(), ref_proba(model, x),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.badge_embeddings(model, wide, batch_size=4),
                               ref_badge(model, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.egl_word_scores(model, wide, batch_size=4),
                               ref_egl_word(model, x), rtol=1e-4, atol=1e-7)
    for output in OUTPUTS:
        got = q.token_interpretations(model, wide, output, batch_size=4)
        for g, e in zip(got, ref_interpretations(model, x, output), strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)
    a = q.predict_proba_mc(model, x, T=4, seed=1)
    np.testing.assert_array_equal(a, q.predict_proba_mc(model, wide, T=4, seed=1))
    assert not np.allclose(a[0], a[1])
    np.testing.assert_array_equal(q.word_embeddings(model), model.embedding.weight.detach())


@pytest.mark.parametrize("n_classes", [2, 3])
def test_real_mlp_against_references(n_classes):
    model, x = real_model("mlp", n_classes), features(11)
    np.testing.assert_allclose(q.predict_proba(model, x, batch_size=4), ref_proba(model, x),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.badge_embeddings(model, x, batch_size=4), ref_badge(model, x),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.egl_input_scores(model, x, batch_size=4),
                               ref_egl_input(model, x), rtol=1e-4, atol=1e-7)
    a = q.predict_proba_mc(model, x, T=4, seed=1)
    np.testing.assert_array_equal(a, q.predict_proba_mc(model, x, T=4, seed=1))
    assert not np.allclose(a[0], a[1])
    double, x64 = model.double(), x.astype(np.float64)
    for output in OUTPUTS:
        np.testing.assert_allclose(q.input_jacobian(double, x64, output, batch_size=4),
                                   ref_jacobian_fd(double, x64, output), rtol=1e-6, atol=1e-8)
