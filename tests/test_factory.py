"""The learner factory: model names by kind, learners for a data set, the seed scheme, and
training on labels alone (the labeling project's regimes)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from alden.errors import AldenError
from alden.models import factory
from alden.models.factory import (
    DEFAULT_MODEL,
    MODELS_BY_KIND,
    LabelsRegime,
    check_model,
    fit_labels,
    fit_seed,
    holdout_split,
    kept_epoch,
    learner_for,
    train_config,
)
from alden.models.learner import TrainConfig


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


def test_fit_seed_is_the_committed_grids_scheme():
    # The paper grid (docs/runs/paper) was trained with these torch seeds: a change here
    # changes every result line of it, so the values are pinned.
    assert [fit_seed(0, r) for r in range(3)] == [2968811710, 3964924996, 3141116543]
    assert fit_seed(2, 24) == 11558348


def test_fold_seeds_differ_from_round_seeds_and_each_other():
    seeds = {fit_seed(s, r, f) for s in range(3) for r in range(10) for f in (None, 0, 1, 2)}
    assert len(seeds) == 3 * 10 * 4


def test_holdout_split_is_stratified_disjoint_and_repeatable():
    y = np.array([0] * 30 + [1] * 10 + [2] * 2)
    kept, held = holdout_split(y, 0.2, seed=4)
    assert np.intersect1d(kept, held).size == 0 and len(kept) + len(held) == len(y)
    assert np.bincount(y[held]).tolist() == [6, 2, 1]  # 20% per class, at least one each side
    assert set(y[kept]) == {0, 1, 2}
    again = holdout_split(y, 0.2, seed=4)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(holdout_split(y, 0.2, seed=5)[1], held)


def test_kept_epoch_is_the_best_check_ties_to_lower_loss():
    history = [{"epoch": 1}, {"epoch": 2, "val_accuracy": 0.7, "val_loss": 0.6},
               {"epoch": 3, "val_accuracy": 0.8, "val_loss": 0.5},
               {"epoch": 4, "val_accuracy": 0.8, "val_loss": 0.4},
               {"epoch": 5, "val_accuracy": 0.6, "val_loss": 0.1}]
    assert kept_epoch(history) == 4
    with pytest.raises(AldenError, match="no validation check"):
        kept_epoch([{"epoch": 1}])


class FakeLearner:
    """Records each fit; early stopping "keeps" epoch ``best`` of ``ran``."""

    fits: list[dict] = []

    def __init__(self, config: TrainConfig, best: int = 3, ran: int = 6) -> None:
        self.config, self.best, self.ran, self.history = config, best, ran, []

    def fit(self, x, y, x_val=None, y_val=None, *, seed):
        FakeLearner.fits.append({"n": len(x), "val": None if x_val is None else len(x_val),
                                 "seed": seed, "fixed_epochs": self.config.fixed_epochs,
                                 "items": set(x.ravel().tolist())})
        if x_val is None:
            self.history = [{"epoch": e + 1} for e in range(self.config.fixed_epochs)]
        else:
            self.history = [{"epoch": e + 1, "val_accuracy": 0.9 if e + 1 == self.best else 0.5,
                             "val_loss": 0.3} for e in range(self.ran)]
        return self


@pytest.fixture
def fits():
    FakeLearner.fits = []
    return FakeLearner.fits


def labels(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n).reshape(-1, 1), np.arange(n) % 2


def test_fixed_regime_trains_once_on_every_label(fits):
    x, y = labels(60)
    fit_labels(FakeLearner, x, y, seed=7, config=TrainConfig(fixed_epochs=4),
               regime=LabelsRegime("fixed"))
    assert fits == [{"n": 60, "val": None, "seed": 7, "fixed_epochs": 4,
                     "items": set(range(60))}]


def test_holdout_refit_stops_on_a_held_back_slice_then_refits_on_all(fits):
    x, y = labels(60)
    learner = fit_labels(FakeLearner, x, y, seed=7, config=TrainConfig(),
                         regime=LabelsRegime("holdout-refit", holdout=0.2))
    stop, refit = fits
    assert (stop["n"], stop["val"], refit["n"], refit["val"]) == (48, 12, 60, None)
    assert refit["fixed_epochs"] == 3  # the epoch early stopping kept
    assert refit["items"] == set(range(60)) and len(stop["items"]) == 48
    assert learner.config.fixed_epochs == 3


def test_holdout_regime_keeps_the_stopped_model(fits):
    x, y = labels(60)
    learner = fit_labels(FakeLearner, x, y, seed=7, config=TrainConfig(),
                         regime=LabelsRegime("holdout", holdout=0.2))
    assert len(fits) == 1 and fits[0]["val"] == 12 and learner.history[2]["val_accuracy"] == 0.9


def test_too_small_a_slice_falls_back_to_fixed_epochs(fits):
    x, y = labels(30)  # 20% is 6 items, under min_holdout=10
    fit_labels(FakeLearner, x, y, seed=1, config=TrainConfig(fixed_epochs=5),
               regime=LabelsRegime("holdout-refit", holdout=0.2, min_holdout=10))
    assert [(f["val"], f["fixed_epochs"]) for f in fits] == [(None, 5)]


def test_bad_regimes_are_refused():
    with pytest.raises(AldenError, match="unknown training regime 'cv'"):
        LabelsRegime("cv")
    with pytest.raises(AldenError, match="holdout must lie in"):
        LabelsRegime("holdout", holdout=1.0)


def test_the_factory_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, alden.models.factory; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False", factory.__name__
