"""Self-training for ``+setfit`` (``TuneConfig.self_train``): the pseudo-labels' choice
(balanced, capped, deterministic), the option in a model name (checked early), the learner
off (today's result) and on, and the unlabeled items reaching it from a simulated run and a
labeling project. The tiny random BERT of test_encoder; no timing."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
import pytest

from alden.cli import main
from alden.data.pool import Pool
from alden.errors import AldenError
from alden.experiments.simulation import simulate
from alden.models.contract import fit_learner
from alden.models.encoder_weights import is_encoder, split_regime
from alden.models.factory import check_model
from alden.models.families import data_key, model_family
from alden.models.self_train import pseudo_label_count, pseudo_labels, stacked
from alden.models.setfit_options import TuneConfig, canonical_name, tune_config
from alden.streams import fit_seed

pytestmark = pytest.mark.usefixtures("private_cache", "one_torch_thread")
TUNE = TuneConfig(steps=4, batch_size=4)
SELF = TuneConfig(steps=4, batch_size=4, self_train=0.5, pseudo_per_label=1.0)


# ---- choosing pseudo-labels (NumPy only) -------------------------------------------------

def test_pseudo_labels_are_the_most_confident_an_even_number_per_predicted_class():
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.95, 0.05], [0.4, 0.6],
                      [0.7, 0.3], [0.1, 0.9], [0.8, 0.2]])
    chosen, labels = pseudo_labels(proba, 4)
    np.testing.assert_array_equal(chosen, [0, 2, 3, 6])  # 2 of class 0, 2 of class 1
    np.testing.assert_array_equal(labels, [0, 1, 0, 1])
    assert pseudo_labels(proba, 5)[0].tolist() == [0, 2, 3, 6]  # 5 // 2 a class
    few = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6]])  # class 1: one item
    chosen, labels = pseudo_labels(few, 6)
    assert chosen.tolist() == [0, 1, 2, 3] and labels.tolist() == [0, 0, 0, 1]
    assert len(pseudo_labels(proba, 0)[0]) == 0


def test_ties_go_to_the_earlier_item_and_the_same_input_gives_the_same_choice():
    proba = np.tile([[0.7, 0.2, 0.1]], (9, 1))
    proba[[5, 7]] = [0.1, 0.1, 0.8]
    chosen, labels = pseudo_labels(proba, 6)
    assert chosen.tolist() == [0, 1, 5, 7] and labels.tolist() == [0, 0, 2, 2]
    again = pseudo_labels(proba.copy(), 6)
    assert again[0].tolist() == chosen.tolist()
    with pytest.raises(AldenError, match="probabilities"):
        pseudo_labels(np.ones(4), 2)


def test_the_count_is_capped_by_the_share_of_the_pool_and_by_the_labels():
    assert pseudo_label_count(6269, 128, 0.1, 5.0) == 626  # the lead's MR measurement
    assert pseudo_label_count(6269, 100, 0.1, 5.0) == 500  # at most 5 per label
    assert pseudo_label_count(100, 10, 0.29, 50.0) == 29  # no float rounding down
    assert pseudo_label_count(100, 10, 0.0, 5.0) == 0


def test_stacked_pads_to_the_wider_rows():
    out = stacked(np.array([[1, 2, 0]]), np.array([[3, 4, 5, 6], [7, 0, 0, 0]]))
    np.testing.assert_array_equal(out, [[1, 2, 0, 0], [3, 4, 5, 6], [7, 0, 0, 0]])


# ---- the option in a model name ------------------------------------------------------------

def test_a_setfit_name_carries_tune_options_and_keeps_its_encoder():
    name = "minilm+setfit:self_train=0.1,steps=400"
    assert tune_config(name) == TuneConfig(self_train=0.1, steps=400)
    assert tune_config("minilm+setfit") == TuneConfig()
    assert tune_config(name, TUNE) == TuneConfig(steps=400, batch_size=4, self_train=0.1)
    assert tune_config("minilm+setfit:loss=cosent,lr=5e-5") == TuneConfig(loss="cosent",
                                                                          lr=5e-5)
    assert split_regime(name) == ("minilm", "setfit") and is_encoder(name)
    assert split_regime("encoder:/a:b/bert+setfit:steps=2") == ("encoder:/a:b/bert", "setfit")
    assert model_family(name).name == "setfit"
    assert data_key(name) == data_key("minilm+setfit") == ("setfit", "minilm")
    assert check_model("text", name) == name


def test_a_recipe_has_one_name_its_options_in_order_and_defaults_left_out():
    assert canonical_name("minilm+setfit") == "minilm+setfit"
    assert canonical_name(f"minilm+setfit:lr={TuneConfig().lr}") == "minilm+setfit"
    assert (canonical_name("minilm+setfit:loss=cosine,lr=0.00002")
            == canonical_name("minilm+setfit:lr=2e-5,loss=cosine")
            == "minilm+setfit:lr=2e-5,loss=cosine")
    assert (canonical_name("encoder:/a:b/bert+setfit:self_train=0.1,steps=7")
            == "encoder:/a:b/bert+setfit:steps=7,self_train=0.1")
    assert canonical_name("minilm+setfit:lr=1.234567e-5") == "minilm+setfit:lr=1.234567e-5"
    for name in ("minilm+setfit:lr=2e-5,loss=cosine", "minilm+setfit:steps=7,self_train=0.1"):
        assert tune_config(canonical_name(name)) == tune_config(name)  # the same recipe
    assert canonical_name("cnn") == "cnn"


def test_the_benchmark_stores_a_recipe_under_its_one_name(tmp_path, monkeypatch):
    from alden.experiments import benchmark

    seen = []
    monkeypatch.setattr(benchmark, "check_names", lambda *a, **k: None)
    monkeypatch.setattr(benchmark, "run_benchmark",
                        lambda specs, *a, **k: seen.extend(specs) or {"ran": 0, "skipped": 0})
    assert main(["benchmark", "--dataset", "mr", "--strategy", "random", "--seeds", "1",
                 "--model", "minilm+setfit", "--model", f"minilm+setfit:lr={TuneConfig().lr}",
                 "--model", "minilm+setfit:loss=cosine,lr=2e-5", "--out", str(tmp_path),
                 "--quiet"]) == 0
    assert [s.model for s in seen] == ["minilm+setfit", "minilm+setfit:lr=2e-5,loss=cosine"]


@pytest.mark.parametrize("name,message", [
    ("minilm+setfit:self_train=1.5", "0 <= self_train <= 1"),
    ("minilm+setfit:self_train=-0.1", "0 <= self_train <= 1"),
    ("minilm+setfit:pseudo_per_label=0", "pseudo_per_label > 0"),
    ("minilm+setfit:self_train=lots", "must be a number"),
    ("minilm+setfit:steps=2.5", "must be an integer"),
    ("minilm+setfit:selftrain=0.1", "options are steps, batch_size"),
    ("minilm+setfit:self_train=0.1,self_train=0.2", "repeated"),
    ("minilm+setfit:", "not KEY=VALUE"),
    ("minilm+setfit:loss=triplet", "loss one of cosine, cosent"),
    ("minilm+setfit:mix=1.5", "0 <= mix <= 1"),
])
def test_bad_options_fail_as_the_name_is_checked(name, message):
    with pytest.raises(AldenError, match=message):
        model_family(name)
    with pytest.raises(AldenError, match=message):
        check_model("text", name)


def test_other_models_take_no_options():
    for name in ("minilm:self_train=0.1", "minilm+finetune:steps=3", "cnn:steps=3"):
        with pytest.raises(AldenError, match="unknown model"):
            model_family(name)


# ---- the learner ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tiny_encoder) -> str:
    return tiny_encoder + "+setfit"


def _pool(tiny: str, labeled=(0, 1, 2, 3, 4, 5)) -> Pool:
    pytest.importorskip("datasets", reason="the alden[encoders] extra is not installed")
    pytest.importorskip("accelerate", reason="the alden[encoders] extra is not installed")
    from test_encoder import LABELS, SENTENCES

    from alden.models.encoder import encode_texts, load_encoder

    enc = load_encoder(tiny)
    texts = SENTENCES * 2
    pool = Pool.from_arrays(encode_texts(enc, texts), np.tile(LABELS, 2), ("neg", "pos"),
                            vocab=enc.vocab.words, texts=list(texts),
                            continues=enc.vocab.continues)
    pool.mark_labeled(np.array(labeled), 0)
    return pool


def _fit(tiny: str, pool: Pool, tune: TuneConfig, records: list | None = None, **kw):
    from alden.models.setfit_learner import SetFitLearner

    learner = SetFitLearner(tiny, n_classes=2, tune=tune)
    on_epoch = None if records is None else (lambda _, record: records.append(record))
    return learner.fit(pool.x[pool.labeled], pool.y[pool.labeled], seed=fit_seed(0, 0),
                       on_epoch=on_epoch, **kw)


def test_off_it_reads_no_unlabeled_items_and_gives_todays_model(tiny):
    pool = _pool(tiny)
    plain = _fit(tiny, pool, TUNE)
    given = _fit(tiny, pool, TUNE, unlabeled=pool.x[pool.unlabeled])
    np.testing.assert_array_equal(plain.predict_proba(pool.x), given.predict_proba(pool.x))
    assert not plain.reads_unlabeled and plain.pseudo is None

    def untouched():
        raise AssertionError("the unlabeled items were gathered for a learner that ignores them")

    from alden.models.setfit_learner import SetFitLearner

    through = fit_learner(SetFitLearner(tiny, n_classes=2, tune=TUNE), pool.x[pool.labeled],
                          pool.y[pool.labeled], seed=fit_seed(0, 0), unlabeled=untouched)
    np.testing.assert_array_equal(through.predict_proba(pool.x), plain.predict_proba(pool.x))


def test_on_it_pseudo_labels_a_capped_balanced_set_and_fine_tunes_twice(tiny):
    pool = _pool(tiny)
    unlabeled = pool.x[pool.unlabeled]
    records: list[dict] = []
    learner = _fit(tiny, pool, SELF, records, unlabeled=unlabeled)
    assert learner.reads_unlabeled and learner.pseudo is not None
    chosen, labels = learner.pseudo
    cap = pseudo_label_count(len(unlabeled), 6, 0.5, 1.0)
    assert cap == 6  # 0.5 of 18 unlabeled is 9; 1 per label is 6
    assert 1 <= len(chosen) <= cap and len(set(chosen.tolist())) == len(chosen)
    assert 0 <= chosen.min() and chosen.max() < len(unlabeled)
    assert all((labels == c).sum() <= cap // 2 for c in (0, 1))
    steps = [r for r in records if "steps" in r]
    assert steps[0]["step"] == 0 and steps[0]["steps"] == 8 and steps[0]["expected_seconds"] > 0
    assert [r["step"] for r in steps[1:]] == list(range(1, 9))  # both fine-tunes, counted on
    off = _fit(tiny, pool, TUNE)
    assert not np.allclose(learner.hidden(pool.x), off.hidden(pool.x))  # another encoder


def test_on_the_same_seed_gives_the_same_pseudo_labels_and_model(tiny):
    pool = _pool(tiny)
    one = _fit(tiny, pool, SELF, unlabeled=pool.x[pool.unlabeled])
    two = _fit(tiny, pool, SELF, unlabeled=pool.x[pool.unlabeled])
    assert one.pseudo is not None and two.pseudo is not None
    for a, b in zip(one.pseudo, two.pseudo, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one.predict_proba(pool.x), two.predict_proba(pool.x))


def test_on_without_the_unlabeled_items_is_a_clear_error(tiny):
    pool = _pool(tiny)
    with pytest.raises(AldenError, match="needs the pool's unlabeled items"):
        _fit(tiny, pool, SELF)
    with pytest.raises(AldenError, match="unlabeled"):
        _fit(tiny, pool, SELF, unlabeled=np.ones((3, 4), dtype=np.float32))
    nothing = _fit(tiny, pool, SELF, unlabeled=pool.x[:0])  # all labeled: nothing to guess
    assert nothing.pseudo is None


def test_the_name_sets_it_and_a_saved_model_keeps_it(tiny, tmp_path):
    from alden.models.families import load_learner
    from alden.models.setfit_learner import SetFitLearner

    pool = _pool(tiny)
    name = tiny + ":self_train=0.5,pseudo_per_label=1,steps=4,batch_size=4"
    learner = SetFitLearner(name, n_classes=2)
    assert learner.tune == SELF
    fit_learner(learner, pool.x[pool.labeled], pool.y[pool.labeled], seed=fit_seed(0, 0),
                unlabeled=lambda: pool.x[pool.unlabeled])
    assert learner.pseudo is not None
    learner.save(tmp_path / "m.pt")
    back = load_learner(tmp_path / "m.pt")
    assert isinstance(back, SetFitLearner) and back.tune == SELF and back.model_name == name
    np.testing.assert_allclose(back.predict_proba(pool.x), learner.predict_proba(pool.x),
                               atol=1e-6)


# ---- the unlabeled items reach it: a simulated run and a project ----------------------------

class Reader:
    """A fake learner that reads the unlabeled items: records what each fit got."""

    reads_unlabeled = True

    def __init__(self, log: list) -> None:
        self.log = log

    def fit(self, x, y, x_val=None, y_val=None, *, seed, unlabeled=None):
        self.log.append((len(x), unlabeled))
        return self

    def predict_proba(self, x):
        return np.tile([0.5, 0.5], (len(x), 1))


class FirstItems:
    def select(self, learner, pool, n, rng):
        return SimpleNamespace(indices=pool.unlabeled[:n])


def test_a_simulated_run_passes_each_round_its_pool_s_unlabeled_items():
    x = np.arange(40, dtype=np.int64).reshape(20, 2)
    pool = Pool.from_arrays(x, np.arange(20) % 2, ("a", "b"))
    log: list = []
    val = (x[:2], np.array([0, 1]))
    simulate(pool, lambda: Reader(log), FirstItems(), [4, 8, 12], val, val, seed=0,
             seed_set=lambda p, f, rng: np.array([0, 1, 2, 3]))
    assert [n for n, _ in log] == [4, 8, 12]
    for round_, (_, got) in enumerate(log):  # round r: items 0 .. 4r+3 labeled
        np.testing.assert_array_equal(got, x[4 * round_ + 4:])


def test_a_project_s_unlabeled_items_leave_out_its_labels_and_its_check_set():
    from alden.project.trained import unlabeled_items

    data = SimpleNamespace(x=np.zeros((10, 3)), labels=SimpleNamespace(items=(1, 4, 6)),
                           check=(2, 6, 9))
    assert unlabeled_items(data).tolist() == [0, 3, 5, 7, 8]


def test_a_project_on_a_self_training_model_fine_tunes_twice_on_its_unlabeled_items(
        tiny, tmp_path, monkeypatch):
    from files_util import write_csv
    from test_encoder import SENTENCES

    from alden.cli import main
    from alden.models import setfit_learner
    from alden.models.families import load_learner
    from alden.project.query import query

    _pool(tiny)  # skips without the trainer's packages
    got: list[int] = []
    fit = setfit_learner.SetFitLearner.fit

    def spy(self, *args, unlabeled=None, **kwargs):
        got.append(-1 if unlabeled is None else len(unlabeled))
        return fit(self, *args, unlabeled=unlabeled, **kwargs)

    monkeypatch.setattr(setfit_learner.SetFitLearner, "fit", spy)
    texts = SENTENCES * 2
    ids = [f"s{i:02d}" for i in range(len(texts))]
    data = write_csv(tmp_path / "docs.csv", ["id", "text"], list(zip(ids, texts, strict=True)))
    folder, name = tmp_path / "p", tiny + ":self_train=0.5,steps=4,batch_size=4"
    assert main(["init", str(folder), "--data", str(data), "--id-column", "id",
                 "--classes", "neg,pos", "--model", name]) == 0
    assert main(["query", str(folder), "--k", "10"]) == 0  # cold start: no model
    rows = list(csv.DictReader(open(sorted((folder / "batches").glob("round-*.csv"))[-1],
                                    encoding="utf-8")))
    for row in rows:
        row["label"] = ("neg", "pos")[int(row["id"][1:]) % 3 != 0]
    answered = write_csv(tmp_path / "answered.csv", list(rows[0]),
                         [list(r.values()) for r in rows])
    assert main(["teach", str(folder), str(answered)]) == 0
    said: list[str] = []
    result = query(folder, 3, on_step=lambda text, *counts: said.append(text))
    assert len(result.picks) == 3
    assert got == [len(texts) - 10]  # every item but the 10 labeled ones
    tuning = [line for line in said if "fine-tuning" in line]
    assert "fine-tuning, 8 steps" in tuning[0]  # two fine-tunes of 4 steps, said beforehand
    assert tuning[-1].endswith("fine-tuning step 8 of 8")
    models = sorted((folder / "models").rglob("*.pt"))
    assert len(models) == 1
    assert load_learner(models[0]).tune.self_train == 0.5
