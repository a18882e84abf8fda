"""The one way both sides build learners: which model fits which data (as the family
registry, ``alden.models.families``, says), the training options and the learner for a data
set.

The experiments (one simulated run) and the labeling project both call ``learner_for`` and
seed its fit with ``alden.streams.fit_seed``, so a model trained by ``alden query`` is built,
and seeded, as the benchmark's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from alden.errors import AldenError
from alden.models.contract import EncodedData, Learner, TrainConfig
from alden.models.families import fixed_names, listed_names, model_family

MODELS_BY_KIND: dict[str, tuple[str, ...]] = fixed_names()
DEFAULT_MODEL: dict[str, str] = {"text": "cnn", "tabular": "mlp"}
MODELS: tuple[str, ...] = tuple(m for models in MODELS_BY_KIND.values() for m in models)


def models_for(kind: str) -> tuple[str, ...]:
    """The fixed model names that read ``kind`` data ("text" or "tabular")."""
    if kind not in MODELS_BY_KIND:
        raise AldenError(f"unknown kind of data {kind!r}: expected one of "
                         f"{', '.join(MODELS_BY_KIND)}")
    return MODELS_BY_KIND[kind]


def known_model(model: str) -> str:
    """``model`` if it is a model name at all, else an error listing them."""
    model_family(model)
    return model


def check_model(kind: str, model: str, what: str | None = None) -> str:
    """``model`` if it is known and fits ``kind`` data, else an error naming the ones that do.

    ``what`` names the data in the message (default "a {kind} project")."""
    family = model_family(model)
    models_for(kind)  # an unknown kind of data fails here
    if not family.fits(kind, model):
        raise AldenError(f"model {model!r} does not fit {what or f'a {kind} project'}; "
                         f"choose one of {', '.join(listed_names(kind))}")
    return model


def train_config(overrides: dict[str, Any] | None = None) -> TrainConfig:
    """``TrainConfig()`` with ``overrides``, each checked by name and type."""
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


def learner_for(data: EncodedData, model: str, config: TrainConfig | None = None,
                **model_options: Any) -> Learner:
    """An untrained learner of ``model`` for ``data``, built by its family (word2vec
    embeddings or feature columns for the networks, word pieces for an encoder)."""
    check_model(data.kind, model, f"{data.kind} data")
    return model_family(model).build(data, model, config, **model_options)


def learner_factory(data: EncodedData, model: str, config: TrainConfig | None = None
                    ) -> Callable[[], Learner]:
    """A function that makes a new untrained ``learner_for(data, model, config)`` per call."""
    learner_for(data, model, config)  # a bad name or size fails now, not in the first round
    return lambda: learner_for(data, model, config)
