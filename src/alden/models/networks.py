"""The paper's classifiers: Kim's TextCNN and a BiLSTM for text, an MLP for tables.

Every model has ``forward(x) -> logits``, ``hidden(x) -> (B, H)`` (the input of the last
linear layer) and ``head: nn.Linear``; the text models also have ``embedding`` and
``forward_embedded(e, mask)`` so that gradients with respect to token embeddings work.
Pads (token id 0, always trailing) never change a prediction: their embeddings are zeroed
and every pooling ignores them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from alden.data.text import PAD_ID
from alden.errors import AldenError


@dataclass(frozen=True)
class TextCNNConfig:
    """Kim (2014): filters of widths 3, 4, 5 with 100 maps each, ReLU, max over time."""

    embedding_dim: int = 100
    widths: tuple[int, ...] = (3, 4, 5)
    n_maps: int = 100
    dropout: float = 0.5


@dataclass(frozen=True)
class BiLSTMConfig:
    """One bidirectional LSTM layer of 100 units a direction, max over time, ReLU."""

    embedding_dim: int = 100
    hidden_size: int = 100
    dropout: float = 0.5


@dataclass(frozen=True)
class MLPConfig:
    """ReLU hidden layers (piecewise linear, which DAMI relies on) with dropout."""

    hidden_sizes: tuple[int, ...] = (100, 100)
    dropout: float = 0.5


def text_mask(x: torch.Tensor) -> torch.Tensor:
    """True on real tokens of right-padded token ids ``(B, L)``."""
    return x != PAD_ID


def _make_embedding(vocab_size: int, dim: int, vectors: torch.Tensor | None) -> nn.Embedding:
    """An embedding table from word2vec vectors, or Kim's U(-0.25, 0.25) when there are none."""
    embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
    with torch.no_grad():
        if vectors is None:
            embedding.weight.uniform_(-0.25, 0.25)
        else:
            embedding.weight.copy_(vectors)
        embedding.weight[PAD_ID].zero_()
    return embedding


class _TextModel(nn.Module):
    """What every text model derives from its ``embedding``, ``features_embedded``,
    ``dropout`` and ``head``: logits = head(dropout(features)). The one dropout layer sits
    right before the head, so MC dropout can compute the features once (``features``)."""

    embedding: nn.Embedding
    dropout: nn.Dropout
    head: nn.Linear

    def features_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, H)`` of token embeddings; each text model defines its own."""
        raise NotImplementedError

    def hidden_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The head's input from token embeddings ``e (B, L, d)``: features after dropout."""
        return self.dropout(self.features_embedded(e, mask))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, H)`` of token ids ``x (B, L)``, before the dropout."""
        return self.features_embedded(self.embedding(x), text_mask(x))

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits from token embeddings ``e (B, L, d)`` and ``mask (B, L)``."""
        return self.head(self.hidden_embedded(e, mask))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the last linear layer for token ids ``x (B, L)``."""
        return self.hidden_embedded(self.embedding(x), text_mask(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, C)`` for token ids ``x (B, L)``."""
        return self.head(self.hidden(x))


class TextCNN(_TextModel):
    """Kim's CNN for sentence classification (EMNLP 2014), embeddings fine-tuned.

    The convolution is "narrow" (windows lie inside the sentence) and only windows that
    start on a real token count in the max over time, so trailing pads never matter. A
    sentence shorter than a filter gets one window: its tokens followed by zero vectors.
    """

    def __init__(self, config: TextCNNConfig, n_classes: int, vocab_size: int,
                 vectors: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.embedding = _make_embedding(vocab_size, config.embedding_dim, vectors)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, config.n_maps, w) for w in config.widths)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.n_maps * len(config.widths), n_classes)

    def padded_embeddings(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``e`` with pads zeroed, padded with zero vectors to at least the widest filter."""
        e = e * mask.unsqueeze(-1).to(e.dtype)  # pads contribute exact zeros
        widest = max(self.config.widths)
        if e.shape[1] < widest:  # a short batch still needs one full window
            e = F.pad(e, (0, 0, 0, widest - e.shape[1]))
        return e

    def window_maps(self, e: torch.Tensor, lengths: torch.Tensor
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Per width, its kernel ``(n_maps, d, width)`` and the maps ``(B, T, n_maps)`` of the
        padded embeddings ``e``, the windows that do not start on a real token at -inf."""
        steps = torch.arange(e.shape[1], device=e.device)
        # (B, L, d) -> (B, L-w+1, w*d) windows, then one matmul per width: measured faster
        # than nn.Conv1d on CPU (benchmarks/bench_training.py) with identical results.
        for width, module in zip(self.config.widths, self.convs, strict=True):
            conv = cast(nn.Conv1d, module)  # a ModuleList yields Modules: these are Conv1d
            windows = e.unfold(1, width, 1).flatten(2)  # (B, T, d*w), d-major like Conv1d
            bias = cast(torch.Tensor, conv.bias)  # built with one (nn.Conv1d's default)
            maps = windows @ conv.weight.flatten(1).t() + bias  # (B, T, n_maps)
            n_valid = (lengths - width + 1).clamp(min=1)  # windows that start on a real token
            valid = steps[: maps.shape[1]].unsqueeze(0) < n_valid.unsqueeze(1)
            yield conv.weight, maps.masked_fill(~valid.unsqueeze(-1), float("-inf"))

    def features_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pooled feature maps ``(B, maps * widths)`` of embedded tokens."""
        maps = self.window_maps(self.padded_embeddings(e, mask), mask.sum(1))
        # ReLU after the max equals ReLU before it (both monotone), on 1/T of the values.
        return torch.cat([F.relu(m.amax(1)) for _, m in maps], 1)


class BiLSTM(_TextModel):
    """One bidirectional LSTM layer, max-pooled over the real time steps, ReLU, dropout.

    Max pooling over time (not the last state, not the mean): it is what the TextCNN does,
    so both text models expose the same kind of features; every token can reach the output
    directly, so gradients (ALDEN's interpretations, EGL-Word) do not fade along the
    sentence as they do through the final state; and unlike a mean it does not shrink a
    telling word's signal in a long sentence. Packed sequences keep pads out of both
    directions, and pooling masks them.
    """

    def __init__(self, config: BiLSTMConfig, n_classes: int, vocab_size: int,
                 vectors: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.embedding = _make_embedding(vocab_size, config.embedding_dim, vectors)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, batch_first=True,
                            bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.hidden_size, n_classes)

    def features_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pooled LSTM states ``(B, 2 * hidden)`` of embedded tokens, after ReLU."""
        e = e * mask.unsqueeze(-1).to(e.dtype)
        lengths = mask.sum(1).clamp(min=1).cpu()  # an empty sentence reads one zero vector
        packed = pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True,
                                        padding_value=float("-inf"))  # (B, max len, 2h)
        return F.relu(states.amax(1))


class MLP(nn.Module):
    """Linear -> ReLU -> dropout per hidden layer, then a linear head."""

    def __init__(self, config: MLPConfig, n_classes: int, n_features: int) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = n_features
        for size in config.hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(config.dropout)]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the last linear layer for features ``x (B, F)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, C)`` for features ``x (B, F)``."""
        return self.head(self.body(x))


Network = TextCNN | BiLSTM | MLP  # what build_model makes
CONFIGS: dict[str, type[TextCNNConfig | BiLSTMConfig | MLPConfig]] = {
    "cnn": TextCNNConfig, "bilstm": BiLSTMConfig, "mlp": MLPConfig}
TEXT_MODELS = ("cnn", "bilstm")


def model_config(name: str, **options: Any) -> TextCNNConfig | BiLSTMConfig | MLPConfig:
    """The config dataclass of model ``name`` with ``options``, checked by name."""
    checked = _checked_options(name, options)
    return CONFIGS[name](**checked)


def _checked_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` if model ``name`` has each of them (lists made tuples), else an error."""
    if name not in CONFIGS:
        raise AldenError(f"unknown model {name!r}: expected one of {', '.join(CONFIGS)}")
    allowed = {f.name for f in fields(CONFIGS[name])}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise AldenError(f"model {name!r} has no option {', '.join(unknown)}: "
                         f"expected some of {', '.join(sorted(allowed))}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


def build_model(name: str, *, n_classes: int, vocab_size: int | None = None,
                embeddings: np.ndarray | torch.Tensor | None = None,
                n_features: int | None = None, **options: Any) -> Network:
    """A fresh, randomly initialised model "cnn", "bilstm" or "mlp" (``options``: its config)."""
    if name not in CONFIGS:
        raise AldenError(f"unknown model {name!r}: expected one of {', '.join(CONFIGS)}")
    if n_classes < 2:
        raise AldenError(f"a classifier needs at least 2 classes, got n_classes={n_classes}")
    if name == "mlp":
        if n_features is None or n_features < 1:
            raise AldenError("model 'mlp' needs n_features (the number of input columns)")
        return MLP(MLPConfig(**_checked_options(name, options)), n_classes, n_features)
    vectors = None
    if embeddings is not None:
        vectors = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
        if vectors.ndim != 2:
            raise AldenError(f"embeddings must be a (vocab, dim) matrix, got shape "
                             f"{tuple(vectors.shape)}")
        if vocab_size is not None and vocab_size != vectors.shape[0]:
            raise AldenError(f"vocab_size={vocab_size} but embeddings have "
                             f"{vectors.shape[0]} rows")
        vocab_size = vectors.shape[0]
        if options.setdefault("embedding_dim", vectors.shape[1]) != vectors.shape[1]:
            raise AldenError(f"embedding_dim={options['embedding_dim']} but embeddings have "
                             f"{vectors.shape[1]} columns")
    if vocab_size is None or vocab_size < 2:
        raise AldenError(f"model {name!r} needs vocab_size or embeddings (a vocabulary of "
                         f"at least <pad> and <unk>)")
    checked = _checked_options(name, options)
    if name == "cnn":
        return TextCNN(TextCNNConfig(**checked), n_classes, vocab_size, vectors)
    return BiLSTM(BiLSTMConfig(**checked), n_classes, vocab_size, vectors)
