"""Both learner classes keep the learner contract (``alden.models.contract.Learner``) and the
strategies' Protocols (``alden.strategies.base``) as mypy sees them: ``served`` assigns each
class to every Protocol it serves, so mypy, reading this file, checks parameter and return
types and attribute types; the test runs it on real learners and checks the members."""

from __future__ import annotations

import inspect

import numpy as np

from alden.models import contract
from alden.models.encoder import encode_texts, load_encoder
from alden.models.encoder_learner import EncoderLearner
from alden.models.learner import NetworkLearner
from alden.strategies import base


def served(network: NetworkLearner, encoder: EncoderLearner) -> dict[type, list[object]]:
    """Each Protocol and the learners assigned to it (typed: mypy checks each assignment)."""
    learners: list[contract.Learner] = [network, encoder]
    proba: list[base.ProbaLearner] = [network, encoder]
    dropout: list[base.DropoutLearner] = [network, encoder]
    hidden: list[base.HiddenLearner] = [network, encoder]
    text: list[base.TextGradientLearner] = [network, encoder]
    tabular: list[base.TabularGradientLearner] = [network]
    return {contract.Learner: list(learners), base.ProbaLearner: list(proba),
            base.DropoutLearner: list(dropout), base.HiddenLearner: list(hidden),
            base.TextGradientLearner: list(text), base.TabularGradientLearner: list(tabular)}


def _members(protocol: type) -> tuple[list[str], list[str]]:
    """A Protocol's methods and its attributes."""
    methods = [n for n, v in vars(protocol).items()
               if inspect.isfunction(v) and not n.startswith("_")]
    return methods, list(inspect.get_annotations(protocol))


def test_both_learners_serve_every_protocol_they_are_assigned_to(tiny_encoder, private_cache):
    texts = ["a fine film", "a dull film", "fine acting", "dull acting"]
    network = NetworkLearner("mlp", n_classes=2, n_features=3)
    encoder = EncoderLearner(tiny_encoder, n_classes=2, cache=False)
    encoder.fit(encode_texts(load_encoder(tiny_encoder), texts), np.array([1, 0, 1, 0]), seed=0)
    found = served(network, encoder)
    assert set(found) == {contract.Learner, base.ProbaLearner, base.DropoutLearner,
                          base.HiddenLearner, base.TextGradientLearner,
                          base.TabularGradientLearner}
    for protocol, learners in found.items():
        methods, attributes = _members(protocol)
        assert methods, protocol.__name__
        for learner in learners:
            for name in methods:
                assert callable(getattr(learner, name, None)), \
                    f"{type(learner).__name__}.{name} ({protocol.__name__})"
            for name in attributes:
                assert hasattr(learner, name), \
                    f"{type(learner).__name__}.{name} ({protocol.__name__})"
