"""The one way both sides build learners: which model fits which data, the training options
and the learner for a data set.

The experiments (one simulated run) and the labeling project both call ``learner_for`` and
seed its fit with ``alden.streams.fit_seed``, so a model trained by ``alden query`` is built,
and seeded, as the benchmark's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from alden.errors import AldenError

if TYPE_CHECKING:  # torch loads only when a learner is built: the project CLI starts fast
    from alden.models.learner import Learner, TrainConfig

MODELS_BY_KIND: dict[str, tuple[str, ...]] = {"text": ("cnn", "bilstm"), "tabular": ("mlp",)}
DEFAULT_MODEL: dict[str, str] = {"text": "cnn", "tabular": "mlp"}
MODELS: tuple[str, ...] = tuple(m for models in MODELS_BY_KIND.values() for m in models)
# The encoder family (issue 12): "minilm" and "encoder:NAME_OR_PATH", text only, built by
# alden.models.encoder_learner; its names are open-ended, so they are matched, not listed.
ENCODER_MODELS = ("minilm", "encoder:NAME_OR_PATH")


def models_for(kind: str) -> tuple[str, ...]:
    """The model names that read ``kind`` data ("text" or "tabular")."""
    if kind not in MODELS_BY_KIND:
        raise AldenError(f"unknown kind of data {kind!r}: expected one of "
                         f"{', '.join(MODELS_BY_KIND)}")
    return MODELS_BY_KIND[kind]


def known_model(model: str) -> str:
    """``model`` if it is a model name at all, else an error listing them."""
    from alden.models.encoder_weights import is_encoder

    if model not in MODELS and not is_encoder(model):
        raise AldenError(f"unknown model {model!r}: expected one of "
                         f"{', '.join((*MODELS, *ENCODER_MODELS))}")
    return model


def check_model(kind: str, model: str, what: str | None = None) -> str:
    """``model`` if it is known and fits ``kind`` data, else an error naming the ones that do.

    ``what`` names the data in the message (default "a {kind} project")."""
    from alden.models.encoder_weights import is_encoder

    known_model(model)
    fitting = models_for(kind) + (ENCODER_MODELS if kind == "text" else ())
    if model not in fitting and not (kind == "text" and is_encoder(model)):
        raise AldenError(f"model {model!r} does not fit {what or f'a {kind} project'}; "
                         f"choose one of {', '.join(fitting)}")
    return model


def train_config(overrides: dict[str, Any] | None = None) -> TrainConfig:
    """``TrainConfig()`` with ``overrides``, each checked by name and type."""
    from alden.models.learner import TrainConfig

    default = TrainConfig()
    overrides = dict(overrides or {})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise AldenError(f"unknown training option {', '.join(unknown)}: expected some of "
                         f"{', '.join(sorted(known))}")
    for key, value in overrides.items():
        expected = type(getattr(default, key))
        fits = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if not fits or (expected is not bool and isinstance(value, bool)):
            raise AldenError(f"training option {key} must be a {expected.__name__}, "
                             f"got {value!r}")
    return dataclasses.replace(default, **overrides)


class EncodedData(Protocol):
    """What ``learner_for`` reads: a prepared data set or a project's data both have it."""

    @property
    def kind(self) -> str: ...
    @property
    def classes(self) -> tuple[str, ...]: ...
    @property
    def x(self) -> np.ndarray: ...
    @property
    def embeddings(self) -> np.ndarray | None: ...


def learner_for(data: EncodedData, model: str, config: TrainConfig | None = None,
                **model_options) -> Learner:
    """An untrained Learner of ``model`` for ``data``: word2vec embeddings for text, the
    number of feature columns for tables."""
    from alden.models.encoder_weights import is_encoder
    from alden.models.learner import Learner

    check_model(data.kind, model, f"{data.kind} data")
    if is_encoder(model):
        from alden.models.encoder_learner import encoder_learner_for

        return encoder_learner_for(data, model, config, **model_options)
    encoded_for = getattr(data, "settings", {}).get("encoder")
    if encoded_for:  # a project encoded as an encoder's word pieces (issue 12)
        raise AldenError(f"this project's items are encoded for {encoded_for}; model "
                         f"{model!r} needs a project made with its own vocabulary")
    if data.kind == "text":
        sizes: dict[str, Any] = {"embeddings": data.embeddings}
    else:
        sizes = {"n_features": int(data.x.shape[1])}
    return Learner(model, n_classes=len(data.classes), config=config, **sizes, **model_options)


def learner_factory(data: EncodedData, model: str, config: TrainConfig | None = None
                    ) -> Callable[[], Learner]:
    """A function that makes a new untrained ``learner_for(data, model, config)`` per call."""
    learner_for(data, model, config)  # a bad name or size fails now, not in the first round
    return lambda: learner_for(data, model, config)
