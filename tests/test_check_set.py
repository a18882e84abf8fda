"""The project's check set and stopping status: random items set aside, never trained on or
picked; status reports their accuracy with an interval and the stopping criteria."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from alden.cli import main
from alden.errors import AldenError
from alden.project import check, store
from alden.project import query as project_query
from alden.project import status as project_status
from alden.project.stop_records import stop_rows
from alden.project.teach import teach_file
from alden.project.workspace import open_pool, read_project

GOOD = ["good", "great", "lovely", "superb", "fine", "warm", "bright"]
BAD = ["bad", "awful", "dull", "poor", "weak", "cold", "grim"]
FILLER = ["the", "film", "plot", "was", "a", "and", "very", "story", "cast", "it"]


pytestmark = pytest.mark.usefixtures("private_cache", "one_torch_thread")


def _write(path: Path, header, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A 60-sentence text project made with `init --check 12`, and the true labels."""
    root = tmp_path_factory.mktemp("check")
    rng = np.random.default_rng(1)
    ids, texts, truth = [], [], {}
    for i in range(60):
        label = ("pos", "neg")[i % 2]
        words = list(rng.choice(FILLER, 4)) + list(rng.choice(GOOD if label == "pos" else BAD, 2))
        ids.append(f"d{i:02d}")
        texts.append(" ".join(words) + ".")
        truth[ids[-1]] = label
    data = _write(root / "docs.csv", ["id", "text"], list(zip(ids, texts, strict=True)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALDEN_CACHE", str(root / "cache"))
        assert main(["init", str(root / "p"), "--data", str(data), "--id-column", "id",
                     "--classes", "neg,pos", "--embedding-dim", "8", "--check", "12"]) == 0
    return root / "p", truth


@pytest.fixture
def proj(made, tmp_path):
    folder, truth = made
    shutil.copytree(folder, tmp_path / "p")
    return tmp_path / "p", truth


def _teach(folder: Path, truth: dict, ids, path: Path):
    return teach_file(folder, _write(path, ["id", "label"], [[i, truth[i]] for i in ids]))


def _data(folder: Path):
    conn = store.connect(folder)
    try:
        return read_project(conn, folder)
    finally:
        conn.close()


def test_init_check_sets_aside_random_items_as_a_batch(proj):
    folder, _ = proj
    data = _data(folder)
    assert len(data.check) == 12 == len(set(data.check))
    conn = store.connect(folder)
    rounds = store.rounds(conn)
    assert [r["strategy"] for r in rounds] == ["check"] and rounds[0]["size"] == 12
    assert sorted(p.item for p in store.round_picks(conn, 1)) == list(data.check)
    conn.close()
    batch = list(csv.DictReader(open(folder / "batches" / "round-0001.csv", encoding="utf-8")))
    assert {data.ids.index(r["id"]) for r in batch} == set(data.check)
    assert all("never trained on" in r["reason"] for r in batch)


def test_check_labels_are_kept_apart_and_items_never_picked(proj, tmp_path, capsys):
    folder, truth = proj
    data = _data(folder)
    check_ids = [data.ids[i] for i in data.check]
    others = [i for i in sorted(truth) if i not in check_ids]
    _teach(folder, truth, check_ids + others[:14], tmp_path / "a.csv")
    conn = store.connect(folder)  # the items' texts are read while it is open
    data = read_project(conn, folder)
    assert len(data.labels) == 14 and len(data.check_labels) == 12
    assert not set(data.labels.items) & set(data.check)
    pool, keep = open_pool(data)
    assert len(pool) == 48 and not set(keep) & set(data.check)
    assert pool.texts is not None and len(pool.texts) == 48
    assert pool.texts[0] == data.contents[keep[0]] == store.item_contents(conn)[keep[0]]
    conn.close()
    # a query never picks a check item, and records its model for the criteria
    for k, name in ((30, "b.csv"), (4, "c.csv")):
        result = project_query.query(folder, k)
        picked = [p.item for p in result.picks]
        assert len(picked) == k and not set(picked) & set(data.check)
        _teach(folder, truth, [data.ids[i] for i in picked], tmp_path / name)
    conn = store.connect(folder)
    rows = stop_rows(conn, "cnn")
    conn.close()
    assert len(rows) == 2 and rows[1]["kappa"] is not None
    assert rows[0]["check_n"] == 12 and rows[0]["coverage"] is not None
    # status: the interval, the sentence, every criterion; --json the same fields
    assert main(["status", str(folder), "--no-curve"]) == 0
    out = capsys.readouterr().out
    assert "60 items, 48 labeled for training, 12 labeled check items, 0 unlabeled" in out
    assert "check accuracy (items drawn at random, never trained on)" in out
    assert "95% interval" in out and "more check labels would halve it" in out
    assert "stopping: " in out and "interpretation_coverage" in out
    assert "it runs low, trust the check accuracy above" in out  # there is a check set
    assert out.index("check accuracy") < out.index("stopping: ") \
        < out.index("cross-validation on the picked labels")  # the trusted number first
    assert main(["status", str(folder), "--no-curve", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["check"]["n"] == 12 and got["check"]["low"] <= got["check"]["accuracy"]
    assert got["check"]["accuracy"] <= got["check"]["high"]
    assert len(got["stopping"]["criteria"]) == 6 and got["stopping"]["records"] == 3
    assert got["stopping"]["sentence"].startswith(("predictions", "too early"))


def test_check_command_counts_labeled_items_at_once(proj, tmp_path, capsys):
    folder, truth = proj
    _teach(folder, truth, sorted(truth), tmp_path / "all.csv")  # everything labeled
    assert main(["check", str(folder), "--n", "10"]) == 0
    out = capsys.readouterr().out
    assert "10 items drawn at random" in out and "22 in all; 10 of them labeled already" in out
    assert ("moved 10 training labels into the check set: models now train on 38 labels "
            "instead of 48") in out
    data = _data(folder)
    assert len(data.check) == 22 and len(data.check_labels) == 22 and len(data.labels) == 38
    with pytest.raises(AldenError, match="only 38 items are not in the check set"):
        check.add_check(folder, 39)


def test_status_without_a_check_set_says_cross_validation_is_biased(tmp_path, capsys):
    data = _write(tmp_path / "d.csv", ["text", "label"],
                  [[f"{w} film {i}", "pos" if w in GOOD else "neg"]
                   for i, w in enumerate((GOOD + BAD) * 2)])
    assert main(["init", str(tmp_path / "q"), "--data", str(data), "--label-column", "label",
                 "--embedding-dim", "8"]) == 0
    s = project_status.status(tmp_path / "q", curve=False)
    assert s.stopping is not None and s.stopping.check is None
    assert "picked items are the hard ones, so it runs low" in s.stopping.cv_note
    assert s.stopping.sentence.startswith("too early")  # one model recorded


@pytest.mark.parametrize("strategy", ["alden", "entropy"])
def test_query_reads_coverage_once(proj, tmp_path, monkeypatch, strategy):
    """An ALDEN query records the coverage from its own first pick (one interpretation pass,
    not two); any other strategy still gets it from a pass of its own. Either way it is what
    ``coverage_left`` reads of the model."""
    from alden.models.learner import NetworkLearner
    from alden.project.trained import current_model
    from alden.strategies.interpretation import coverage_left

    folder, truth = proj
    _teach_fourteen(folder, truth, tmp_path)
    calls = []
    original = NetworkLearner.token_interpretations_flat
    monkeypatch.setattr(NetworkLearner, "token_interpretations_flat",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    steps = []
    project_query.query(folder, 4, strategy=strategy,
                        on_step=lambda text, done=None, total=None: steps.append(
                            (text, done, total)))
    assert len(calls) == 1
    # the steps a progress display hears: training epoch by epoch (counted), choosing, writing
    epochs = [(f"training cnn on 14 labels: epoch {e} of 20", e, 20) for e in range(1, 21)]
    assert steps == [("training cnn on 14 labels", None, None), *epochs,
                     (f"{strategy} choosing 4 of 34 unlabeled items", None, None),
                     ("writing the batch", None, None)]
    conn = store.connect(folder)
    data = read_project(conn, folder)
    learner, saved = current_model(conn, data, "cnn")
    recorded = stop_rows(conn, "cnn")[-1]["coverage"]
    conn.close()
    assert saved is not None
    assert recorded == pytest.approx(coverage_left(learner, open_pool(data)[0]),
                                     rel=1e-9)


def _teach_fourteen(folder, truth, tmp_path):
    """Teach the first 14 items outside the check set."""
    data = _data(folder)
    others = [i for i in sorted(truth) if i not in {data.ids[c] for c in data.check}]
    _teach(folder, truth, others[:14], tmp_path / "a.csv")


def test_an_alden_query_predicts_the_pool_once(proj, tmp_path, monkeypatch):
    """The stop record reads the probabilities ALDEN's interpretation pass computed for the
    pool (bit for bit those of a prediction pass); only the check items and the picks are
    predicted apart. Another strategy's query predicts the whole pool for the record."""
    from alden.models.learner import NetworkLearner
    from alden.project.stop_records import every_proba
    from alden.project.trained import current_model
    from alden.stopping import normalised_entropy

    folder, truth = proj
    _teach_fourteen(folder, truth, tmp_path)
    sizes = []
    original = NetworkLearner.predict_proba
    monkeypatch.setattr(NetworkLearner, "predict_proba",
                        lambda self, x: sizes.append(len(x)) or original(self, x))
    project_query.query(folder, 4, strategy="alden")
    assert sorted(sizes) == [4, 12]  # the picks, the check items: never the 60 items
    monkeypatch.setattr(NetworkLearner, "predict_proba", original)
    conn = store.connect(folder)
    data = read_project(conn, folder)
    learner, _ = current_model(conn, data, "cnn")
    recorded = stop_rows(conn, "cnn")[-1]
    conn.close()
    pool, keep = open_pool(data)
    in_pool = learner.predict_proba(pool.x)  # ALDEN's batches: the same values, bit for bit
    proba = every_proba(data, learner, keep, in_pool)
    np.testing.assert_array_equal(proba[keep], in_pool)
    check_items = np.sort(np.asarray(data.check))  # predicted alone, in one pass
    np.testing.assert_array_equal(proba[check_items], learner.predict_proba(data.x[check_items]))
    np.testing.assert_allclose(proba, learner.predict_proba(data.x), rtol=1e-5, atol=1e-7)
    entropy = normalised_entropy(in_pool[pool.unlabeled])
    assert recorded["max_uncertainty"] == float(entropy.max())
    assert recorded["mean_uncertainty"] == float(entropy.mean())
