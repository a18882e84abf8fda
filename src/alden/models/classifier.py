"""The torch models the per-sample quantities (``alden.models.quantities``) read, as
Protocols: every network (``alden.models.networks``) and the encoder's classifier
(``alden.models.encoder``) is a ``Classifier``; the text ones are ``TextClassifier`` s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, Self, cast

import torch
from torch import nn

from alden.errors import AldenError


class Classifier(Protocol):
    """The torch model every quantity reads (an ``nn.Module``): logits, the input of its
    last linear layer and that layer, ``head``."""

    @property
    def head(self) -> nn.Linear: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def hidden(self, x: torch.Tensor) -> torch.Tensor: ...

    def modules(self) -> Iterator[nn.Module]: ...

    def parameters(self, recurse: bool = ...) -> Iterator[nn.Parameter]: ...

    def eval(self) -> Self: ...


class TextClassifier(Classifier, Protocol):
    """A text model: its token embedding table and logits from token embeddings."""

    @property
    def embedding(self) -> nn.Embedding: ...

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...


class PooledClassifier(Classifier, Protocol):
    """A model whose one dropout layer sits right before its head: ``features`` is what
    the dropout reads, so MC dropout computes it once."""

    @property
    def dropout(self) -> nn.Module: ...

    def features(self, x: torch.Tensor) -> torch.Tensor: ...


def text_model(model: Classifier) -> TextClassifier:
    """``model`` as a text model, or an error if it has no embedding layer."""
    if not (hasattr(model, "embedding") and hasattr(model, "forward_embedded")):
        raise AldenError("word embeddings need a text model (one with an embedding layer)")
    return cast(TextClassifier, model)  # it has both members the Protocol adds
