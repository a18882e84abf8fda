"""What the query strategies read from a model, batched over the pool.

Every function takes the torch model (``alden.models.classifier.Classifier``) and a NumPy
``x``: ``(N, L)`` int64 token ids right-padded with 0 for text, or ``(N, F)`` float
features for tables. Each walks ``x`` in batches of ``batch_size`` (never one sample at a
time), puts the model in eval mode (only MC dropout turns its dropout layers back on),
restores every module's mode afterwards and returns NumPy arrays in the model's floating
dtype, rows in the order of ``x``.

Text batches are built from sentences sorted by length and cut to their longest sentence,
so pads cost (almost) nothing. Gradients come from ``torch.autograd.grad`` with respect to
the inputs only (the parameters' ``.grad`` is never touched); samples do not interact in
eval mode, so the gradient of a batch's sum is every sample's own: one backward pass per
class over a batch, one fewer where the softmax allows it (the TextCNN's Eq. 4: none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alden.data.mapped import release, row_blocks
from alden.errors import AldenError, DataError
from alden.models.classifier import Classifier, PooledClassifier, TextClassifier, text_model
from alden.models.cnn_relevance import textcnn_relevance
from alden.models.networks import TextCNN
from alden.models.outputs import DEFAULT_OUTPUT, check_output

DEFAULT_BATCH_SIZE = 256
_DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                  nn.FeatureAlphaDropout)


# ---------------------------------------------------------------- helpers

@contextmanager
def _mode(model: Classifier, *, dropout: bool = False) -> Iterator[None]:
    """Eval mode (dropout layers on if asked) for the block; every module's mode restored."""
    saved = [(module, module.training) for module in model.modules()]
    model.eval()
    if dropout:
        for module in model.modules():
            if isinstance(module, _DROPOUT_TYPES):
                module.train()
    try:
        yield
    finally:
        for module, training in saved:
            module.training = training


@contextmanager
def _input_gradients() -> Iterator[None]:
    """Autograd on, even under no_grad; cuDNN off (its RNN backward needs train mode)."""
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
        yield


def _device_dtype(model: Classifier) -> tuple[torch.device, torch.dtype]:
    """Where the model's parameters live and their floating dtype."""
    for param in model.parameters():
        if param.is_floating_point():
            return param.device, param.dtype
    raise AldenError("the model has no floating-point parameters")


def _np_dtype(dtype: torch.dtype) -> np.dtype:
    return torch.empty(0, dtype=dtype).numpy().dtype


def _n_classes(model: Classifier) -> int:
    return int(model.head.out_features)


def _is_text(x: np.ndarray) -> bool:
    return np.issubdtype(x.dtype, np.integer)


def _check_x(x: np.ndarray) -> np.ndarray:
    """``x`` as a 2-D array of token ids or features, or a clear error."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise DataError(f"expected a 2-D array (items x tokens or items x features), "
                        f"got shape {x.shape}")
    if not (_is_text(x) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"expected int64 token ids or float features, got dtype {x.dtype}")
    return x


def _check_text(x: np.ndarray, what: str) -> np.ndarray:
    x = _check_x(x)
    if not _is_text(x):
        raise AldenError(f"{what} needs text (token ids); got float features of shape "
                         f"{x.shape}: use the tabular quantities for tables")
    return x


def _check_tabular(x: np.ndarray, what: str) -> np.ndarray:
    x = _check_x(x)
    if _is_text(x):
        raise AldenError(f"{what} needs tabular features; got token ids of shape {x.shape}: "
                         f"use the word-level quantities for text")
    return x


def token_lengths(x: np.ndarray) -> np.ndarray:
    """Token count per row; a DataError names the first row whose pads do not trail. Read a
    block of rows at a time (``row_blocks``): bounded temporaries, no file left resident."""
    lengths = np.empty(len(x), dtype=np.int64)
    positions = np.arange(x.shape[1])[None, :]
    for start, rows in row_blocks(x):
        real = rows != 0
        block = lengths[start:start + len(real)]
        real.sum(axis=1, out=block)
        bad = np.flatnonzero((real != (positions < block[:, None])).any(axis=1))
        if len(bad):
            raise DataError(f"row {start + int(bad[0])} of the token ids has a pad (0) before "
                            f"a real token; pads must trail")
    return lengths


def _batches(x: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(row indices, rows) per batch; text sorted longest first and cut to its longest row.
    A memory-mapped ``x`` has its pages released as the batches go (``data.mapped``)."""
    if batch_size < 1:
        raise AldenError(f"batch_size must be at least 1, got {batch_size}")
    if not _is_text(x):
        for start in range(0, len(x), batch_size):
            idx = np.arange(start, min(start + batch_size, len(x)))
            yield idx, x[idx]
        return
    lengths = token_lengths(x)
    order = np.argsort(-lengths, kind="stable")
    for n, start in enumerate(range(0, len(x), batch_size)):
        idx = order[start:start + batch_size]
        width = max(int(lengths[idx].max()), 1)
        yield idx, x[idx, :width]
        if n % 16 == 15 or start + batch_size >= len(x):  # a mapped pool's pages leave
            release(x)


def _tensor(rows: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A batch as a tensor: int64 token ids, or features in the model's dtype."""
    if _is_text(rows):
        return torch.as_tensor(rows, dtype=torch.int64, device=device)
    return torch.as_tensor(rows, dtype=dtype, device=device)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _output(logits: torch.Tensor, output: str) -> torch.Tensor:
    return torch.softmax(logits, dim=-1) if output == "proba" else logits


def _class_gradients(out: torch.Tensor, inputs: torch.Tensor, output: str) -> list[torch.Tensor]:
    """d out_c / d inputs for every class c, each summed over the batch (samples are apart).

    Probabilities sum to one, so the last class's gradient is minus the sum of the others:
    C - 1 backward passes for "proba", C for "logits".
    """
    n_classes = out.shape[1]
    n_backward = n_classes - 1 if output == "proba" else n_classes
    grads = []
    for c in range(n_backward):
        (g,) = torch.autograd.grad(out[:, c].sum(), inputs, retain_graph=c < n_backward - 1)
        grads.append(g)
    if output == "proba":
        grads.append(-torch.stack(grads).sum(dim=0) if grads else torch.zeros_like(inputs))
    return grads


# ---------------------------------------------------------------- predictions

def predict_proba(model: Classifier, x: np.ndarray, *,
                  batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Class probabilities (N, C) in eval mode."""
    x = _check_x(x)
    device, dtype = _device_dtype(model)
    out = np.zeros((len(x), _n_classes(model)), dtype=_np_dtype(dtype))
    with _mode(model), torch.no_grad():
        for idx, rows in _batches(x, batch_size):
            out[idx] = _numpy(torch.softmax(model(_tensor(rows, device, dtype)), dim=-1))
    return out


def predict_proba_mc(model: Classifier, x: np.ndarray, T: int, seed: int, *,
                     batch_size: int = DEFAULT_BATCH_SIZE, features_once: bool = True
                     ) -> np.ndarray:
    """Probabilities under MC dropout (T, N, C): dropout on, all else eval; same seed, same result.

    Each batch is repeated T times along the batch axis (one forward for all passes), with at
    most ``batch_size`` rows per forward. Where the model's one dropout layer sits right
    before its head (the text models' ``features``), the layers below it run once and only
    dropout and head run T times: the same masks from the same generator, so the same
    result up to float rounding (bit-identical for TextCNN here), at about 1/T of the cost
    (``features_once=False``: every pass through the whole model, for comparison). Torch's
    global generator is forked and seeded, so the caller's random state is left as it was.
    """
    x = _check_x(x)
    if T < 1:
        raise AldenError(f"T (MC dropout passes) must be at least 1, got {T}")
    dropouts = [m for m in model.modules() if isinstance(m, _DROPOUT_TYPES)]
    if not dropouts:
        raise AldenError("MC dropout needs a model with an nn.Dropout layer; this one has none")
    features_once = (features_once and hasattr(model, "features")
                     and dropouts == [getattr(model, "dropout", None)])
    pooled = cast(PooledClassifier, model)  # read only where features_once found both
    device, dtype = _device_dtype(model)
    n_classes = _n_classes(model)
    out = np.zeros((T, len(x), n_classes), dtype=_np_dtype(dtype))
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), _mode(model, dropout=True), torch.no_grad():
        torch.manual_seed(seed)
        for idx, rows in _batches(x, max(1, batch_size // T)):
            batch = _tensor(rows, device, dtype)
            if features_once:
                features = pooled.features(batch)
                logits = pooled.head(pooled.dropout(features.repeat(T, 1)))
            else:
                logits = model(batch.repeat(T, *([1] * (batch.dim() - 1))))
            proba = torch.softmax(logits, dim=-1).reshape(T, len(idx), n_classes)
            out[:, idx] = _numpy(proba)
    return out


def hidden(model: Classifier, x: np.ndarray, *, batch_size: int = DEFAULT_BATCH_SIZE,
           on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The last layer's input (N, H) in eval mode: the representation CORESET clusters.
    ``on_progress(done, total)`` hears the items done after each batch."""
    x = _check_x(x)
    device, dtype = _device_dtype(model)
    out = np.zeros((len(x), model.head.in_features), dtype=_np_dtype(dtype))
    done = 0
    with _mode(model), torch.no_grad():
        for idx, rows in _batches(x, batch_size):
            out[idx] = _numpy(model.hidden(_tensor(rows, device, dtype)))
            done += len(idx)
            if on_progress is not None:
                on_progress(done, len(x))
    return out


def badge_embeddings(model: Classifier, x: np.ndarray, *,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """BADGE gradient embeddings (N, C*H), class-major: d CE(logits, yhat) / d head.weight.

    Analytic: (p - onehot(yhat)) outer h, with the predicted class keeping its (p - 1) term.
    The bias gradient is left out, as in BADGE (Ash et al. 2020).
    """
    x = _check_x(x)
    device, dtype = _device_dtype(model)
    n_classes, width = _n_classes(model), model.head.in_features
    out = np.zeros((len(x), n_classes * width), dtype=_np_dtype(dtype))
    with _mode(model), torch.no_grad():
        for idx, rows in _batches(x, batch_size):
            h = model.hidden(_tensor(rows, device, dtype))
            p = torch.softmax(model.head(h), dim=-1)
            residual = p - F.one_hot(p.argmax(dim=-1), n_classes).to(p.dtype)
            out[idx] = _numpy((residual[:, :, None] * h[:, None, :]).reshape(len(idx), -1))
    return out


# ---------------------------------------------------------------- gradients and interpretations

def _embedded(model: TextClassifier, rows: np.ndarray, device: torch.device,
              dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Token embeddings as a leaf that wants gradients, and the real-token mask."""
    ids = _tensor(rows, device, dtype)
    e = model.embedding(ids).detach().requires_grad_(True)
    return e, ids != 0


def _expected_gradient_norms(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """sum_c p_c ||d CE(logits, c) / d inputs||, norm over the last axis, per sample/position.

    d CE(z, c)/dz = p - onehot(c), and softmax ignores a shift of the logits, so with
    D_k = d (z_k - z_last) / d inputs the class-c gradient is sum_k p_k D_k - D_c: C - 1
    backward passes (one for two classes).
    """
    p = torch.softmax(logits, dim=-1).detach()
    n_classes = p.shape[1]
    diffs = []
    for k in range(n_classes - 1):
        (g,) = torch.autograd.grad((logits[:, k] - logits[:, -1]).sum(), inputs,
                                   retain_graph=k < n_classes - 2)
        diffs.append(g)
    diffs.append(torch.zeros_like(inputs))
    d = torch.stack(diffs, dim=1)  # (B, C, ...)
    weights = p.reshape(p.shape + (1,) * (inputs.dim() - 1))
    mean = (weights * d).sum(dim=1, keepdim=True)
    norms = torch.linalg.vector_norm(mean - d, dim=-1)  # (B, C, ...)
    return (p.reshape(p.shape + (1,) * (norms.dim() - 2)) * norms).sum(dim=1)


def egl_word_scores(model: Classifier, x: np.ndarray, *,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """EGL-Word (Zhang, Lease, Wallace 2017), (N,): max over real tokens of the expected norm.

    For each token, the expectation over the model's label posterior of the norm of the
    gradient of the cross-entropy loss with respect to that token's embedding. Pads never
    count; an empty sentence scores 0.
    """
    x = _check_text(x, "EGL-Word")
    text = text_model(model)
    device, dtype = _device_dtype(model)
    out = np.zeros(len(x), dtype=_np_dtype(dtype))
    with _mode(model), _input_gradients():
        for idx, rows in _batches(x, batch_size):
            e, mask = _embedded(text, rows, device, dtype)
            per_token = _expected_gradient_norms(text.forward_embedded(e, mask), e)
            best = per_token.masked_fill(~mask, float("-inf")).max(dim=1).values
            out[idx] = _numpy(torch.where(mask.any(dim=1), best, torch.zeros_like(best)))
    return out


def egl_input_scores(model: Classifier, x: np.ndarray, *,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Tabular EGL (N,): expected norm, over the label posterior, of d CE / d features."""
    x = _check_tabular(x, "EGL on inputs")
    device, dtype = _device_dtype(model)
    out = np.zeros(len(x), dtype=_np_dtype(dtype))
    with _mode(model), _input_gradients():
        for idx, rows in _batches(x, batch_size):
            inputs = _tensor(rows, device, dtype).requires_grad_(True)
            out[idx] = _numpy(_expected_gradient_norms(model(inputs), inputs))
    return out


def token_interpretations_flat(model: Classifier, x: np.ndarray, output: str = DEFAULT_OUTPUT, *,
                               batch_size: int = DEFAULT_BATCH_SIZE, closed_form: bool = True,
                               proba: np.ndarray | None = None
                               ) -> tuple[np.ndarray, np.ndarray]:
    """ALDEN's interpretations, paper Eq. (4), as one (T_total, C) array and (N+1,) offsets.

    Row ``offsets[i] + j`` holds, for real token j of sentence i and every class c,
    (d yhat_c / d e_ij) . e_ij with yhat the probabilities ("proba") or logits ("logits"):
    one allocation for the pool, not N. A TextCNN's come in closed form (``cnn_relevance``;
    ``closed_form=False``: autograd). ``proba`` (N, C), if given, gets the probabilities the
    pass computes on the way (``predict_proba``'s bit for bit for the same ``x``).
    """
    x = _check_text(x, "token interpretations")
    check_output(output)
    text = text_model(model)
    device, dtype = _device_dtype(model)
    lengths = token_lengths(x)
    offsets = np.zeros(len(x) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.zeros((int(offsets[-1]), _n_classes(model)), dtype=_np_dtype(dtype))
    with _mode(model), _input_gradients():
        for idx, rows in _batches(x, batch_size):
            e, mask = _embedded(text, rows, device, dtype)
            if closed_form and isinstance(text, TextCNN):  # about two forward passes
                logits, relevance = textcnn_relevance(text, e, mask, output)
            else:  # a forward and a backward pass per class
                logits = text.forward_embedded(e, mask)
                grads = _class_gradients(_output(logits, output), e, output)
                relevance = torch.stack([(g * e).sum(dim=-1) for g in grads], dim=-1)
            if proba is not None:
                proba[idx] = _numpy(torch.softmax(logits, dim=-1))
            batch_lengths = lengths[idx]
            starts = np.repeat(offsets[idx], batch_lengths)
            within = np.arange(len(starts)) - np.repeat(np.cumsum(batch_lengths)
                                                        - batch_lengths, batch_lengths)
            values[starts + within] = _numpy(relevance[mask])
    return values, offsets


def token_interpretations(model: Classifier, x: np.ndarray, output: str = DEFAULT_OUTPUT, *,
                          batch_size: int = DEFAULT_BATCH_SIZE) -> list[np.ndarray]:
    """Eq. (4) per sentence: a list of N (len_i, C) arrays, views into the flat form."""
    values, offsets = token_interpretations_flat(model, x, output, batch_size=batch_size)
    return [values[start:stop] for start, stop in zip(offsets[:-1], offsets[1:], strict=True)]


def input_jacobian(model: Classifier, x: np.ndarray, output: str = DEFAULT_OUTPUT, *,
                   batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """DAMI's interpretations (N, C*F): d yhat / d x per sample, flattened class-major."""
    x = _check_tabular(x, "the input Jacobian")
    check_output(output)
    device, dtype = _device_dtype(model)
    out = np.zeros((len(x), _n_classes(model) * x.shape[1]), dtype=_np_dtype(dtype))
    with _mode(model), _input_gradients():
        for idx, rows in _batches(x, batch_size):
            inputs = _tensor(rows, device, dtype).requires_grad_(True)
            grads = _class_gradients(_output(model(inputs), output), inputs, output)
            out[idx] = _numpy(torch.stack(grads, dim=1).reshape(len(idx), -1))
    return out


def word_embeddings(model: Classifier) -> np.ndarray:
    """The model's current (fine-tuned) embedding matrix (V, d), a copy."""
    return _numpy(text_model(model).embedding.weight).copy()
