"""Models: the shared interface, pads never change a prediction, reference convolutions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alden.errors import AldenError
from alden.models.networks import MLP, BiLSTM, TextCNN, build_model

VOCAB = 40


def sentences(rng: np.random.Generator, lengths: list[int], width: int) -> torch.Tensor:
    """Token ids (B, width), right-padded, real ids in [2, VOCAB)."""
    x = np.zeros((len(lengths), width), dtype=np.int64)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.integers(2, VOCAB, n)
    return torch.from_numpy(x)


def text_model(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(name, n_classes=3, vocab_size=VOCAB, embedding_dim=8).eval()


@pytest.mark.parametrize("name", ["cnn", "bilstm"])
def test_padding_never_changes_a_prediction(name):
    model = text_model(name)
    rng = np.random.default_rng(1)
    lengths = [1, 2, 4, 5, 7, 12]  # shorter and longer than the widest filter (5)
    x = sentences(rng, lengths, 12)
    with torch.no_grad():
        batch = model(x)
        more_pads = model(F.pad(x, (0, 20)))
        alone = torch.cat([model(x[i:i + 1, :n]) for i, n in enumerate(lengths)])
        alone_padded = torch.cat([model(F.pad(x[i:i + 1, :n], (0, 20)))
                                  for i, n in enumerate(lengths)])
    for other in (more_pads, alone, alone_padded):
        torch.testing.assert_close(batch, other, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["cnn", "bilstm"])
def test_a_pad_embedding_that_moved_changes_nothing(name):
    """Fine-tuning could move row 0; the mask keeps pads out all the same."""
    model = text_model(name)
    x = sentences(np.random.default_rng(2), [3, 6], 6)
    with torch.no_grad():
        before = model(F.pad(x, (0, 4)))
        model.embedding.weight[0].fill_(5.0)
        after = model(F.pad(x, (0, 4)))
    torch.testing.assert_close(before, after)


def test_cnn_matches_a_plain_conv1d_kim_cnn():
    """The unfold+matmul convolution equals Conv1d -> ReLU -> max over time, on full rows."""
    model = text_model("cnn")
    x = sentences(np.random.default_rng(3), [9, 9, 9], 9)
    with torch.no_grad():
        e = model.embedding(x).transpose(1, 2)  # (B, d, L)
        reference = torch.cat([F.relu(conv(e)).amax(2) for conv in model.convs], 1)
        torch.testing.assert_close(model.hidden(x), reference, rtol=1e-5, atol=1e-6)


def test_bilstm_pools_the_max_over_real_steps_only():
    model = text_model("bilstm")
    x = sentences(np.random.default_rng(4), [4], 4)
    with torch.no_grad():
        states, _ = model.lstm(model.embedding(x))  # one unpadded sentence: no packing needed
        torch.testing.assert_close(model.hidden(x), F.relu(states.amax(1)))


@pytest.mark.parametrize("name", ["cnn", "bilstm"])
def test_text_interface_forward_embedded_and_hidden(name):
    model = text_model(name)
    x = sentences(np.random.default_rng(5), [2, 7, 3], 7)
    e = model.embedding(x).detach().requires_grad_(True)
    mask = x != 0
    logits = model.forward_embedded(e, mask)
    torch.testing.assert_close(logits, model(x))
    torch.testing.assert_close(model.head(model.hidden(x)), model(x))
    assert model.hidden(x).shape == (3, model.head.in_features)
    logits[:, 1].sum().backward()
    assert e.grad is not None
    assert (e.grad[~mask] == 0).all()  # pads get no gradient
    assert (e.grad[mask].abs().sum(-1) > 0).all()  # every real token does


def test_mlp_interface_and_configurable_layers():
    torch.manual_seed(0)
    model = build_model("mlp", n_classes=4, n_features=6, hidden_sizes=[20, 10, 5]).eval()
    assert isinstance(model, MLP)
    x = torch.randn(8, 6)
    assert model(x).shape == (8, 4)
    assert model.hidden(x).shape == (8, 5)
    torch.testing.assert_close(model.head(model.hidden(x)), model(x))
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 3


def test_mlp_is_piecewise_linear():
    """ReLU only: scaling the input by a > 0 scales a bias-free MLP's logits by a."""
    torch.manual_seed(0)
    model = build_model("mlp", n_classes=2, n_features=5).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.bias.zero_()
    x = torch.randn(4, 5)
    torch.testing.assert_close(model(3.0 * x), 3.0 * model(x), rtol=1e-5, atol=1e-5)


def test_embeddings_initialise_the_table_and_pad_is_zero():
    vectors = np.random.default_rng(0).normal(size=(VOCAB, 6)).astype(np.float32)
    model = build_model("cnn", n_classes=2, embeddings=vectors)
    assert isinstance(model, TextCNN)
    weight = model.embedding.weight.detach().numpy()
    np.testing.assert_array_equal(weight[1:], vectors[1:])
    assert (weight[0] == 0).all()
    assert model.embedding.weight.requires_grad  # fine-tuned, as in Kim's non-static CNN
    assert isinstance(build_model("bilstm", n_classes=2, embeddings=vectors), BiLSTM)


def test_dropout_is_active_in_train_mode_only():
    model = text_model("cnn")
    x = sentences(np.random.default_rng(6), [6, 6], 6)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
        model.train()
        assert not torch.equal(model(x), model(x))


@pytest.mark.parametrize("call, message", [
    (lambda: build_model("svm", n_classes=2), "unknown model"),
    (lambda: build_model("cnn", n_classes=2), "vocab_size"),
    (lambda: build_model("mlp", n_classes=2), "n_features"),
    (lambda: build_model("cnn", n_classes=1, vocab_size=5), "2 classes"),
    (lambda: build_model("cnn", n_classes=2, vocab_size=5, kernel=3), "no option kernel"),
    (lambda: build_model("cnn", n_classes=2, vocab_size=9, embeddings=np.zeros((5, 3))),
     "vocab_size=9"),
    (lambda: build_model("cnn", n_classes=2, embeddings=np.zeros((5, 3)), embedding_dim=4),
     "embedding_dim=4"),
])
def test_bad_arguments_get_clear_errors(call, message):
    with pytest.raises(AldenError, match=message):
        call()
