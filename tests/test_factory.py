"""The learner factory: model names by kind, learners for a data set (seeds: test_streams)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from alden.errors import AldenError
from alden.models import factory
from alden.models.contract import TrainConfig
from alden.models.factory import (
    DEFAULT_MODEL,
    MODELS_BY_KIND,
    check_model,
    learner_for,
    train_config,
)


def test_check_model_names_the_models_that_fit():
    assert check_model("text", "bilstm") == "bilstm"
    with pytest.raises(AldenError, match="unknown model 'svm': expected one of cnn, bilstm, mlp"):
        check_model("text", "svm")
    with pytest.raises(AldenError, match="model 'mlp' does not fit a text project; choose one "
                                         "of cnn, bilstm"):
        check_model("text", "mlp")
    with pytest.raises(AldenError, match="does not fit tabular data set 'wine'; choose one of mlp"):
        check_model("tabular", "cnn", "tabular data set 'wine'")
    for kind, model in DEFAULT_MODEL.items():
        assert model in MODELS_BY_KIND[kind]


def test_learner_for_reads_embeddings_or_feature_columns():
    text = SimpleNamespace(kind="text", classes=("a", "b", "c"), x=np.zeros((4, 7), np.int64),
                           embeddings=np.ones((11, 6), np.float32))
    learner = learner_for(text, "cnn", TrainConfig(fixed_epochs=2), n_maps=4)
    assert (learner.vocab_size, learner.n_classes, learner.config.fixed_epochs) == (11, 3, 2)
    table = SimpleNamespace(kind="tabular", classes=("a", "b"), x=np.zeros((4, 9), np.float32),
                            embeddings=None)
    assert learner_for(table, "mlp").n_features == 9
    with pytest.raises(AldenError, match="does not fit tabular data"):
        learner_for(table, "cnn")


def test_train_config_checks_names_and_types():
    assert train_config({"patience": 5, "lr": 1}).patience == 5
    with pytest.raises(AldenError, match="unknown training option epochs"):
        train_config({"epochs": 3})
    with pytest.raises(AldenError, match="patience must be a int"):
        train_config({"patience": "3"})


def test_the_factory_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, alden.models.factory; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False", factory.__name__
