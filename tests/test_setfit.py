"""The setfit family (``+setfit``) on the tiny random BERT of test_encoder: pairs drawn
deterministically, a fixed step budget, fit/predict/save/load, gradients through the
fine-tuned encoder against autograd, every text strategy, and a labeling project."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the alden[encoders] extra is not installed")
pytest.importorskip("datasets", reason="the alden[encoders] extra is not installed")
pytest.importorskip("accelerate", reason="the alden[encoders] extra is not installed")
import torch
from files_util import write_csv as _csv
from test_encoder import LABELS, SENTENCES, make_tiny_encoder

from alden.cli import main
from alden.data.pool import Pool
from alden.errors import AldenError
from alden.models import setfit_learner
from alden.models.encoder import encode_texts, load_encoder
from alden.models.families import load_learner, model_family
from alden.models.setfit_learner import SetFitLearner
from alden.models.setfit_tune import TuneConfig, decoded_texts, sample_pairs
from alden.project.query import query
from alden.strategies import get_strategy, strategies_for
from alden.streams import fit_seed, pairs_rng

pytestmark = pytest.mark.usefixtures("private_cache", "one_torch_thread")
TUNE = TuneConfig(steps=4, batch_size=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return "encoder:" + str(make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "bert")) \
        + "+setfit"


def _pool(tiny: str, labeled=(0, 1, 2, 3, 4, 5)) -> Pool:
    enc = load_encoder(tiny)
    pool = Pool.from_arrays(encode_texts(enc, SENTENCES), LABELS.copy(), ("neg", "pos"),
                            vocab=enc.vocab.words, texts=list(SENTENCES),
                            continues=enc.vocab.continues)
    pool.mark_labeled(np.array(labeled), 0)
    return pool


def _fitted(tiny: str, pool: Pool, **options) -> SetFitLearner:
    learner = SetFitLearner(tiny, n_classes=2, tune=options.pop("tune", TUNE), **options)
    return learner.fit(pool.x[pool.labeled], pool.y[pool.labeled], seed=fit_seed(0, 0))


def test_names_belong_to_the_setfit_family():
    assert model_family("minilm+setfit").name == "setfit"
    assert model_family("encoder:/some/folder+setfit").name == "setfit"
    assert model_family("minilm").name == model_family("minilm+finetune").name == "encoder"


def test_pairs_are_deterministic_for_a_seed_and_alternate_same_and_different():
    y = np.array([0, 0, 0, 1, 1, 2, 1, 0])
    a = sample_pairs(y, 200, pairs_rng(fit_seed(3, 1)))
    b = sample_pairs(y, 200, pairs_rng(fit_seed(3, 1)))
    c = sample_pairs(y, 200, pairs_rng(fit_seed(3, 2)))
    for got, again in zip(a, b, strict=True):
        np.testing.assert_array_equal(got, again)
    assert not np.array_equal(a[0], c[0])
    first, second, same = a
    np.testing.assert_array_equal(same, y[first] == y[second])  # the targets are right
    assert (first != second).all()  # never an item with itself
    alone = y[first] == 2  # class 2 has one item: its pairs are all different-class
    assert not same[alone].any()
    even = np.arange(200) % 2 == 0  # same-class pairs at even places, others at odd ones
    assert same[even & ~alone].all() and not same[~even].any()
    assert set(first) == set(range(len(y)))  # every item is drawn as a first one
    only = sample_pairs(np.zeros(5, np.int64), 10, pairs_rng(0))[2]
    assert only.all()  # one class: only same-class pairs exist


def test_pieces_decode_to_texts_that_encode_to_the_same_pieces(tiny):
    enc = load_encoder(tiny)
    x = encode_texts(enc, SENTENCES)
    np.testing.assert_array_equal(encode_texts(enc, decoded_texts(enc, x)), x)


def test_the_step_budget_does_not_grow_with_the_labels(tiny):
    steps = {}
    for labeled in [(0, 1, 2, 3), tuple(range(12))]:
        pool = _pool(tiny, labeled)
        records: list[dict] = []
        SetFitLearner(tiny, n_classes=2, tune=TUNE).fit(
            pool.x[pool.labeled], pool.y[pool.labeled], seed=1,
            on_epoch=lambda learner, record, found=records: found.append(record))
        tune = [r for r in records if "steps" in r]
        assert tune[0]["step"] == 0 and tune[0]["expected_seconds"] > 0  # said beforehand
        steps[len(labeled)] = [r["step"] for r in tune[1:]]
        assert any("epoch" in r for r in records)  # then the head trains by epochs
    assert steps[4] == steps[12] == [1, 2, 3, 4]


def test_the_announced_time_grows_with_the_steps_and_the_pairs_per_step(tiny):
    expected = {}
    for steps, batch in [(4, 4), (8, 4), (4, 8)]:
        learner = SetFitLearner(tiny, n_classes=2, tune=TuneConfig(steps=steps,
                                                                   batch_size=batch))
        records: list[dict] = []
        learner._announce_tune(learner.new_model(), lambda _, r, found=records: found.append(r))
        expected[steps, batch] = records[0]["expected_seconds"]
    assert expected[8, 4] == pytest.approx(2 * expected[4, 4])
    assert expected[4, 8] == pytest.approx(2 * expected[4, 4])


def test_fine_tuning_moves_the_encoder_and_is_repeatable(tiny):
    pool = _pool(tiny)
    one, two = _fitted(tiny, pool), _fitted(tiny, pool)
    untuned = _fitted(tiny, pool, tune=TuneConfig(steps=0))
    np.testing.assert_array_equal(one.predict_proba(pool.x), two.predict_proba(pool.x))
    assert not np.allclose(one.hidden(pool.x), untuned.hidden(pool.x))
    plain = load_encoder(tiny)
    from alden.models.encoder_cache import encode_pooled

    np.testing.assert_allclose(untuned.hidden(pool.x), encode_pooled(plain, pool.x), atol=1e-5)


def test_the_pair_loss_is_an_option_and_changes_the_fine_tune(tiny):
    pool = _pool(tiny)
    cosine = _fitted(tiny, pool, tune=dataclasses.replace(TUNE, loss="cosine"))
    cosent, again = (_fitted(tiny, pool, tune=dataclasses.replace(TUNE, loss="cosent"))
                     for _ in range(2))
    np.testing.assert_array_equal(cosent.hidden(pool.x), again.hidden(pool.x))
    assert not np.allclose(cosent.hidden(pool.x), cosine.hidden(pool.x))


def test_mix_interpolates_between_the_pretrained_and_the_fine_tuned_weights(tiny):
    pool = _pool(tiny)
    tuned = _fitted(tiny, pool, tune=dataclasses.replace(TUNE, mix=1.0))  # as trained
    pretrained = _fitted(tiny, pool, tune=dataclasses.replace(TUNE, steps=0))
    none = _fitted(tiny, pool, tune=dataclasses.replace(TUNE, mix=0.0))
    half = _fitted(tiny, pool, tune=dataclasses.replace(TUNE, mix=0.5))
    assert tuned.body is not None and pretrained.body is not None and half.body is not None
    np.testing.assert_allclose(none.hidden(pool.x), pretrained.hidden(pool.x), atol=1e-6)
    moved = 0
    for name, weight in half.body.items():
        if weight.is_floating_point():
            middle = (tuned.body[name] + pretrained.body[name]) / 2
            torch.testing.assert_close(weight, middle, rtol=1e-5, atol=1e-6)
            moved += not torch.equal(tuned.body[name], pretrained.body[name])
        else:
            assert torch.equal(weight, tuned.body[name])
    assert moved > 0  # the fine-tune moved some weights, so the halfway point is new


def test_refit_growth_fine_tunes_again_only_once_the_labels_have_grown_enough(tiny,
                                                                             monkeypatch):
    monkeypatch.setattr(setfit_learner, "_BODIES", [])  # none of the other tests' fine-tunes
    tune = TuneConfig(steps=2, batch_size=4, refit_growth=1.5)
    steps = []

    def fit(labeled: tuple[int, ...]) -> SetFitLearner:
        pool = _pool(tiny, labeled)
        return SetFitLearner(tiny, n_classes=2, tune=tune).fit(
            pool.x[pool.labeled], pool.y[pool.labeled], seed=len(labeled),
            on_epoch=lambda learner, r: steps.append(len(labeled)) if r.get("step") else None)

    first = fit(tuple(range(6)))
    same = fit(tuple(range(8)))  # 8 < 1.5 * 6: the head alone trains, on the same encoder
    again = fit(tuple(range(9)))  # 9 >= 1.5 * 6: fine-tuned anew
    assert steps == [6, 6, 9, 9]
    assert same.body is first.body and again.body is not first.body


def test_save_and_load_round_trip_and_a_changed_encoder_is_refused(tiny, tmp_path):
    folder = tmp_path / "bert"
    shutil.copytree(tiny.removeprefix("encoder:").removesuffix("+setfit"), folder)
    name = f"encoder:{folder}+setfit"
    pool = _pool(name)
    learner = _fitted(name, pool)
    learner.save(tmp_path / "m.pt")
    setfit_learner._TABLES.clear()  # the loaded learner encodes the pool again
    back = load_learner(tmp_path / "m.pt")
    assert isinstance(back, SetFitLearner) and back.tune == TUNE
    np.testing.assert_allclose(back.predict_proba(pool.x), learner.predict_proba(pool.x),
                               atol=1e-6)
    np.testing.assert_allclose(back.egl_word_scores(pool.x), learner.egl_word_scores(pool.x),
                               rtol=1e-5)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert json.loads(payload["description"])["family"] == "setfit"
    assert any(k.startswith("transformer.") for k in payload["state_dict"])  # encoder kept
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "note": "changed"}))
    load_encoder.cache_clear()
    with pytest.raises(AldenError, match="other encoder files"):
        load_learner(tmp_path / "m.pt")


@pytest.mark.parametrize("output", ["proba", "logits"])
def test_interpretations_through_the_fine_tuned_encoder_match_autograd(tiny, output):
    """Eq. (4) of the fine-tuned model (the frozen encoder's code path) equals plain
    autograd on each sentence alone, with [CLS] and [SEP] added by hand."""
    enc = load_encoder(tiny)
    pool = _pool(tiny)
    learner = _fitted(tiny, pool)
    got = learner.token_interpretations(pool.x, output=output)
    model = learner.model
    assert model is not None
    for i, row in enumerate(pool.x):
        ids = torch.tensor([[enc.cls_id, *row[row != 0].tolist(), enc.sep_id]])
        e = model.transformer.get_input_embeddings()(ids).detach().requires_grad_(True)
        states = model.transformer(inputs_embeds=e).last_hidden_state
        out = model.head(torch.nn.functional.normalize(states.mean(1), dim=1))[0]
        out = torch.softmax(out, -1) if output == "proba" else out
        expected = np.stack([
            (torch.autograd.grad(out[c], e, retain_graph=True)[0] * e).sum(-1)[0, 1:-1]
            .detach().numpy() for c in range(2)], axis=1)
        np.testing.assert_allclose(got[i], expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", strategies_for("text"))
def test_every_text_strategy_selects_on_it(tiny, name):
    pool = _pool(tiny)
    learner = _fitted(tiny, pool)
    open_items = set(pool.unlabeled.tolist())
    sel = get_strategy(name).select(learner, pool, 3, np.random.default_rng(0))
    assert len(sel) == 3 and len(set(sel.indices)) == 3 and set(sel.indices) <= open_items
    assert np.isfinite(sel.scores).all()
    assert get_strategy(name).select(learner, pool, 3, np.random.default_rng(0)) == sel


def test_project_init_query_teach_query_predict(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(setfit_learner, "DEFAULT_TUNE", TUNE)
    texts = SENTENCES * 2
    ids = [f"s{i:02d}" for i in range(len(texts))]
    data = _csv(tmp_path / "docs.csv", ["id", "text"], list(zip(ids, texts, strict=True)))
    folder = tmp_path / "p"
    assert main(["init", str(folder), "--data", str(data), "--id-column", "id",
                 "--classes", "neg,pos", "--model", tiny]) == 0
    assert main(["query", str(folder), "--k", "10"]) == 0  # cold start
    rows = list(csv.DictReader(open(sorted((folder / "batches").glob("round-*.csv"))[-1],
                                    encoding="utf-8")))
    for row in rows:
        row["label"] = ("neg", "pos")[int(row["id"][1:]) % 3 != 0]
    answered = _csv(tmp_path / "answered.csv", list(rows[0]), [list(r.values()) for r in rows])
    assert main(["teach", str(folder), str(answered)]) == 0
    said: list[str] = []
    # the family's default strategy, ALDEN on a subpool (margin trailed random on this model)
    result = query(folder, 3, on_step=lambda text, *counts: said.append(text))
    assert result.strategy == "alden:subpool=1000" and len(result.picks) == 3
    tuning = [line for line in said if "fine-tuning" in line]
    assert "fine-tuning, 4 steps, about" in tuning[0]  # the estimate before the first step
    assert [line.rsplit(": ", 1)[1] for line in tuning[1:]] == [
        f"fine-tuning step {s} of 4" for s in range(1, 5)]
    # then the pool through the fine-tuned encoder, counted, after the strategy says it starts
    choosing = next(i for i, line in enumerate(said) if "choosing" in line)
    counted = [line.split() for line in said[choosing + 1:] if line.startswith("encoding")]
    assert counted and counted[-1][1] == counted[-1][3] != "0"  # "encoding N of N texts"
    models = sorted((folder / "models").rglob("*.pt"))
    assert len(models) == 1 and isinstance(load_learner(models[0]), SetFitLearner)
    new = _csv(tmp_path / "new.csv", ["id", "text"], [["n1", "a clever and warm story"],
                                                      ["n2", "boring and clumsy"]])
    assert main(["predict", str(folder), "--data", str(new), "--out",
                 str(tmp_path / "pred.csv")]) == 0
    assert len(list(csv.DictReader(open(tmp_path / "pred.csv", encoding="utf-8")))) == 2
    assert main(["status", str(folder), "--no-curve"]) == 0
