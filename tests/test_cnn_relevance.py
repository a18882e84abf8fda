"""The TextCNN's closed-form interpretations (alden.models.cnn_relevance) against autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alden.errors import AldenError
from alden.models import quantities as q
from alden.models.cnn_relevance import textcnn_relevance
from alden.models.networks import build_model
from alden.models.outputs import OUTPUTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VOCAB, DIM = 40, 6


def cnn(n_classes: int, seed: int = 0, widths: tuple[int, ...] = (3, 4, 5), maps: int = 4,
        dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("cnn", n_classes=n_classes, vocab_size=VOCAB, embedding_dim=DIM,
                        n_maps=maps, widths=widths).to(dtype)
    return model.eval()


def batch(lengths: list[int], seed: int = 1, width: int | None = None) -> torch.Tensor:
    """Right-padded token ids with these lengths (0 pads), ``width`` columns at least."""
    rng = np.random.default_rng(seed)
    x = np.zeros((len(lengths), max(width or 0, max(lengths))), dtype=np.int64)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.integers(1, VOCAB, size=n)
    return torch.as_tensor(x)


def autograd(model, ids: torch.Tensor, output: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits and (d out_c / d e_t) . e_t by one backward pass per class."""
    e = model.embedding(ids).detach().requires_grad_(True)
    logits = model.forward_embedded(e, ids != 0)
    out = torch.softmax(logits, -1) if output == "proba" else logits
    per_class = []
    for c in range(out.shape[1]):
        (g,) = torch.autograd.grad(out[:, c].sum(), e, retain_graph=True)
        per_class.append((g * e).sum(-1))
    return logits.detach(), torch.stack(per_class, -1).detach()


def closed(model, ids: torch.Tensor, output: str) -> tuple[torch.Tensor, torch.Tensor]:
    return textcnn_relevance(model, model.embedding(ids).detach(), ids != 0, output)


def window_stats(model, ids: torch.Tensor) -> tuple[int, int]:
    """(maps whose maximum is won by several windows, maps whose maximum is <= 0)."""
    mask = ids != 0
    with torch.no_grad():
        padded = model.padded_embeddings(model.embedding(ids), mask)
        tied = nonpositive = 0
        for _, maps in model.window_maps(padded, mask.sum(1)):
            top = maps.amax(1)
            tied += int(((maps == top.unsqueeze(1)).sum(1) > 1).sum())
            nonpositive += int((top <= 0).sum())
    return tied, nonpositive


def assert_agree(model, ids: torch.Tensor, output: str, rtol: float = 1e-10,
                 atol: float = 1e-12) -> None:
    got_logits, got = closed(model, ids, output)
    want_logits, want = autograd(model, ids, output)
    torch.testing.assert_close(got_logits, want_logits, rtol=0, atol=0)  # the forward's ops
    with torch.no_grad():
        torch.testing.assert_close(got_logits, model(ids), rtol=0, atol=0)
    mask = ids != 0
    torch.testing.assert_close(got[mask], want[mask], rtol=rtol, atol=atol)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_closed_form_matches_autograd_with_pads_and_short_sentences(n_classes, output):
    model = cnn(n_classes, seed=n_classes)
    ids = batch([9, 1, 2, 3, 4, 5, 6, 7, 8, 12, 0], width=14)  # under every width, pads, empty
    assert_agree(model, ids, output)


@pytest.mark.parametrize("output", OUTPUTS)
def test_a_batch_narrower_than_the_widest_filter(output):
    model = cnn(3)
    assert_agree(model, batch([1, 2, 3, 2]), output)  # padded with zero vectors to width 5


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("widths", [(1, 3), (2,), (5, 3)])
def test_other_widths(widths, output):
    assert_agree(cnn(4, widths=widths), batch([7, 1, 4, 6, 2]), output)


@pytest.mark.parametrize("output", OUTPUTS)
def test_tied_windows_share_the_gradient_as_autograd_does(output):
    model = cnn(3, maps=6)
    ids = batch([9, 9, 8, 3])
    ids[0, :9] = torch.tensor([5, 7, 2, 5, 7, 2, 5, 7, 2])  # three equal windows of width 3
    ids[1, :9] = torch.tensor([4, 4, 4, 4, 4, 4, 4, 4, 4])  # every window equal
    tied, _ = window_stats(model, ids)
    assert tied > 0  # the test exercises ties
    assert_agree(model, ids, output)


@pytest.mark.parametrize("output", OUTPUTS)
def test_maps_at_or_below_zero_pass_nothing(output):
    model = cnn(3, maps=5)
    with torch.no_grad():
        model.embedding.weight[1:, 0] = 0.5
        for conv in model.convs:
            # map 0: 0.5 - 0.5, exactly 0 in every window though its tokens' products are
            # not: ReLU's gradient at 0 is 0, so none of them may count
            conv.weight[0].zero_()
            conv.weight[0, 0, 0], conv.weight[0, 0, 1] = 1.0, -1.0
            conv.bias[0] = 0.0
            conv.bias[1] = -100.0  # map 1: below 0 everywhere
    ids = batch([9, 3, 6, 1, 5])
    _, nonpositive = window_stats(model, ids)
    assert nonpositive >= 2 * 3 * 5
    assert_agree(model, ids, output)


@pytest.mark.parametrize("output", OUTPUTS)
def test_float32_within_rounding(output):
    model = cnn(4, seed=3, maps=16, dtype=torch.float32)
    assert_agree(model, batch([20, 3, 11, 17, 1, 8], seed=5), output, rtol=1e-4, atol=1e-6)


def test_needs_eval_mode():
    model = cnn(2).train()
    with pytest.raises(AldenError, match="eval mode"):
        closed(model, batch([4]), "proba")


@pytest.mark.parametrize("output", OUTPUTS)
def test_token_interpretations_closed_form_equals_the_autograd_path(output):
    model = cnn(4, seed=7, maps=8, dtype=torch.float32)
    rng = np.random.default_rng(3)
    x = np.zeros((37, 16), dtype=np.int64)
    for i, n in enumerate(rng.integers(0, 17, size=len(x))):
        x[i, :n] = rng.integers(1, VOCAB, size=n)
    x[5, :12] = np.tile([3, 9, 3], 4)  # ties
    fast, offsets = q.token_interpretations_flat(model, x, output, batch_size=8)
    slow, same = q.token_interpretations_flat(model, x, output, batch_size=8,
                                              closed_form=False)
    np.testing.assert_array_equal(offsets, same)
    assert fast.dtype == np.float32 and fast.shape == (offsets[-1], 4)
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-6)
    assert not model.training
