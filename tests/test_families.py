"""The model family registry: every family answers every question, names match one family,
both learners keep the learner contract and the strategies' Protocols, ``load_learner``
picks the class by the saved family, and a failed save leaves the previous file whole."""

from __future__ import annotations

import errno
import inspect
import json
import os
import pathlib

import numpy as np
import pytest
import torch

from alden.errors import AldenError, StorageError
from alden.models import contract
from alden.models.families import FAMILIES, data_key, load_learner, model_family
from alden.models.learner import NetworkLearner
from alden.strategies import base, strategy_from_spec

KINDS = ("text", "tabular")


pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    """A tiny random sentence encoder (test_encoder's), as a model name."""
    pytest.importorskip("transformers", reason="the alden[encoders] extra is not installed")
    from test_encoder import make_tiny_encoder

    return "encoder:" + str(make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "bert"))


def _mlp() -> NetworkLearner:
    return NetworkLearner("mlp", n_classes=2, n_features=3).fit(
        np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], np.array([0, 1, 1, 0]), seed=0)


def _encoder(tiny: str, regime: str = "frozen"):
    from test_encoder import SENTENCES

    from alden.models.encoder import encode_texts, load_encoder
    from alden.models.encoder_learner import EncoderLearner

    x = encode_texts(load_encoder(tiny), SENTENCES[:6])
    return EncoderLearner(tiny, n_classes=2, regime=regime).fit(
        x, np.array([1, 0, 1, 0, 1, 0]), seed=0), x


# ---------------------------------------------------------------- the registry

def test_every_family_answers_every_question():
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    for family in FAMILIES:
        assert family.listed and set(family.listed) <= set(KINDS)
        for kind, names in family.listed.items():
            for name in names:
                assert model_family(name) is family and family.fits(kind, name)
                assert isinstance(family.data_key(name), str)
                others = [k for k in KINDS if k not in family.listed]
                assert not any(family.fits(k, name) for k in others)
            if family.strategy is not None:  # a real strategy that reads this kind of data
                strategy_from_spec(family.strategy, kind)
        assert callable(family.prepare) and callable(family.build)
        assert isinstance(family.word_pieces, bool)
        learner_class = family.learner_class()
        assert learner_class.family == family.name
        assert callable(learner_class.from_saved) and callable(learner_class.save)


def test_names_match_the_family_that_reads_them():
    assert model_family("cnn").name == model_family("mlp").name == "network"
    for name in ("minilm", "minilm+finetune", "encoder:/some/folder",
                 "encoder:org/model+finetune"):
        assert model_family(name).name == "encoder"
    assert model_family("minilm").fits("text", "minilm+finetune")
    assert not model_family("minilm").fits("tabular", "minilm")
    assert not model_family("cnn").fits("tabular", "cnn")
    for name in ("minilm+setfit", "encoder:org/model+setfit"):
        assert model_family(name).name == "setfit" and not model_family("minilm").matches(name)
    for unknown in ("svm", "encoder:", "minilm+setfit+finetune", "cnn+finetune", "cnn+setfit"):
        with pytest.raises(AldenError, match="expected one of cnn, bilstm, mlp, minilm, "
                                             "encoder:NAME_OR_PATH"):
            model_family(unknown)


def test_models_that_read_the_same_data_share_a_data_key():
    assert data_key("cnn") == data_key("bilstm") == data_key("mlp")
    assert data_key("minilm") == data_key("minilm+finetune") != data_key("cnn")
    assert data_key("encoder:a") != data_key("encoder:b")


def test_the_project_default_strategy_comes_from_the_family():
    assert model_family("minilm").strategy == "margin"
    assert model_family("cnn").strategy is None  # the data kind's: alden, or dami for tables
    assert model_family("minilm").word_pieces and not model_family("cnn").word_pieces


# ---------------------------------------------------------------- the contract

def _params(function) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("protocol,learner_names", [
    (contract.Learner, ("network", "encoder")),
    (base.ProbaLearner, ("network", "encoder")),
    (base.DropoutLearner, ("network", "encoder")),
    (base.HiddenLearner, ("network", "encoder")),
    (base.TextGradientLearner, ("network", "encoder")),
    (base.TabularGradientLearner, ("network",)),
])
def test_both_learners_keep_the_protocols(protocol, learner_names):
    """Every method a Protocol names exists with the same parameters (names, kinds) on the
    learners of every family that serves it; attributes are set on a real learner below."""
    methods = [n for n, v in vars(protocol).items() if inspect.isfunction(v)
               and not n.startswith("_")]
    assert methods
    for family in FAMILIES:
        if family.name not in learner_names:
            continue
        learner_class = family.learner_class()
        for name in methods:
            assert _params(getattr(learner_class, name)) == _params(getattr(protocol, name)), \
                f"{learner_class.__name__}.{name}"


def test_both_learners_have_the_contract_attributes(tiny):
    wanted = inspect.get_annotations(contract.Learner)
    assert {"model_name", "n_classes", "config", "history"} <= set(wanted)
    encoder, _ = _encoder(tiny)
    for learner in (_mlp(), encoder):
        for name in wanted:
            assert hasattr(learner, name), f"{type(learner).__name__}.{name}"
        assert isinstance(learner.config, contract.TrainConfig) and learner.history


# ---------------------------------------------------------------- saving and loading

def test_load_learner_picks_the_class_by_family(tiny, tmp_path):
    from alden.models.encoder_learner import EncoderLearner

    mlp = _mlp()
    mlp.save(tmp_path / "mlp.pt")
    loaded = load_learner(tmp_path / "mlp.pt")
    assert type(loaded) is NetworkLearner and loaded.model_name == "mlp"
    for regime in ("frozen", "finetune"):
        learner, x = _encoder(tiny, regime)
        learner.save(tmp_path / f"{regime}.pt")
        loaded = load_learner(tmp_path / f"{regime}.pt")
        assert type(loaded) is EncoderLearner and loaded.regime == regime
        np.testing.assert_allclose(loaded.predict_proba(x), learner.predict_proba(x), atol=1e-6)


def _rewrite_description(path: pathlib.Path, change) -> None:
    payload = torch.load(path, weights_only=True)
    description = json.loads(payload["description"])
    change(description)
    payload["description"] = json.dumps(description)
    torch.save(payload, path)


def test_a_file_without_a_family_is_a_network_and_an_unknown_family_is_refused(tmp_path):
    """Files the network learner wrote before the field existed still load."""
    mlp, x = _mlp(), np.eye(3, dtype=np.float32)
    mlp.save(tmp_path / "old.pt")
    _rewrite_description(tmp_path / "old.pt", lambda d: d.pop("family"))
    np.testing.assert_array_equal(load_learner(tmp_path / "old.pt").predict_proba(x),
                                  mlp.predict_proba(x))
    mlp.save(tmp_path / "new.pt")
    _rewrite_description(tmp_path / "new.pt", lambda d: d.update(family="forest"))
    with pytest.raises(AldenError, match="family 'forest'"):
        load_learner(tmp_path / "new.pt")


def test_saved_configs_skip_options_a_newer_alden_added():
    from alden.models.saved import saved_config

    config = saved_config({"config": {"lr": 0.5, "patience": 2, "unknown_later": [1]}})
    assert config == contract.TrainConfig(lr=0.5, patience=2)


def _full_disk(monkeypatch) -> None:
    """torch writing to a file on a full disk fails with its own RuntimeError, not an
    OSError; a write of bytes fails with ENOSPC."""
    real_save = torch.save

    def save(obj, target, *args, **kwargs):
        if isinstance(target, str | os.PathLike):
            raise RuntimeError("[enforce fail at inline_container.cc] file write failed")
        return real_save(obj, target, *args, **kwargs)

    def write_bytes(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)


@pytest.mark.parametrize("family", ["network", "encoder"])
def test_a_save_on_a_full_disk_fails_cleanly_and_keeps_the_old_file(family, tmp_path,
                                                                      monkeypatch, request):
    learner = _mlp() if family == "network" else _encoder(request.getfixturevalue("tiny"))[0]
    path = tmp_path / "models" / "m.pt"
    learner.save(path)
    before = path.read_bytes()
    _full_disk(monkeypatch)
    with pytest.raises(StorageError, match="is full"):
        learner.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(path.parent) == ["m.pt"]
    assert type(load_learner(path)) is type(learner)


def test_the_registry_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, alden.models.families, alden.models.factory; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
