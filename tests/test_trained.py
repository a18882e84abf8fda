"""One trained model per labeled state: query, predict and status share it; few files kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from files_util import write_csv

from alden.project import predict as project_predict
from alden.project import query as project_query
from alden.project import store, trained
from alden.project.init import init_project
from alden.project.teach import teach_file

GOOD = ["good", "great", "lovely", "superb", "fine"]
BAD = ["bad", "awful", "dull", "poor", "weak"]
FILLER = ["the", "film", "plot", "was", "a", "and", "very"]



@pytest.fixture(autouse=True)
def tiny_training(private_cache, monkeypatch):
    """A tiny epoch count: these tests are about which model is used, not how good it is."""
    monkeypatch.setattr(trained, "TRAIN", {"max_epochs": 3, "fixed_epochs": 2,
                                           "min_items_per_check": 1})


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A text project of 40 easy sentences and the true labels by id (made once)."""
    root = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(0)
    rows, truth = [], {}
    for i in range(40):
        label = ("pos", "neg")[i % 2]
        words = [*rng.choice(FILLER, 4), *rng.choice(GOOD if label == "pos" else BAD, 2)]
        rows.append([f"d{i:02d}", " ".join(words)])
        truth[f"d{i:02d}"] = label
    data = write_csv(root / "docs.csv", ["id", "text"], rows)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALDEN_CACHE", str(root / "cache"))
        init_project(root / "p", data, id_column="id", classes=("neg", "pos"), embedding_dim=8)
    return root / "p", truth, data


@pytest.fixture
def proj(made, tmp_path):
    folder, truth, data = made
    shutil.copytree(folder, tmp_path / "p")
    return tmp_path / "p", truth, data


def teach(folder: Path, truth: dict[str, str], ids: list[str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / f"labels-{len(ids)}-{ids[0]}.csv", ["id", "label"],
                     [[i, truth[i]] for i in ids])
    teach_file(folder, path)


def model_files(folder: Path) -> set[str]:
    return {f"models/{p.name}" for p in (folder / "models").glob("*.pt")}


def recorded(folder: Path) -> list[str]:
    conn = store.connect(folder)
    try:
        return [r["file"] for r in store.model_rows(conn)]
    finally:
        conn.close()


def no_training(monkeypatch):
    monkeypatch.setattr(trained, "train", lambda *a, **k: pytest.fail("trained again"))


def test_projects_train_the_measured_epochs(monkeypatch):
    monkeypatch.setattr(trained, "TRAIN", {})
    assert trained.project_config("cnn").fixed_epochs == trained.EPOCHS["cnn"] == 20
    assert trained.project_config("mlp") is None  # the learner's own defaults
    monkeypatch.setattr(trained, "TRAIN", {"fixed_epochs": 2})
    assert trained.project_config("cnn").fixed_epochs == 2  # a test's override wins


def test_predict_then_query_share_one_model(proj, tmp_path, monkeypatch):
    folder, truth, data = proj
    teach(folder, truth, sorted(truth)[:16], tmp_path)
    first = project_predict.predict(folder, data)
    assert first.trained_now
    with monkeypatch.context() as m:
        no_training(m)
        result = project_query.query(folder, 4)
        assert result.model_file == first.model_file
        again = project_predict.predict(folder, data)  # a round later, the same labels
        assert not again.trained_now and again.model_file == first.model_file
    np.testing.assert_allclose(again.proba, first.proba, atol=1e-6)
    assert recorded(folder) == [first.model_file] and model_files(folder) == {first.model_file}
    teach(folder, truth, sorted(truth)[16:20], tmp_path)  # new labels: a new model
    assert project_query.query(folder, 4).model_file not in (None, first.model_file)


def test_query_then_predict_share_one_model(proj, tmp_path, monkeypatch):
    folder, truth, data = proj
    teach(folder, truth, sorted(truth)[:16], tmp_path)
    result = project_query.query(folder, 4)
    assert result.model_file is not None
    no_training(monkeypatch)
    prediction = project_predict.predict(folder, data)
    assert not prediction.trained_now and prediction.model_file == result.model_file


def test_other_training_settings_train_a_new_model(proj, tmp_path, monkeypatch):
    folder, truth, data = proj
    teach(folder, truth, sorted(truth)[:16], tmp_path)
    first = project_predict.predict(folder, data)
    monkeypatch.setattr(trained, "TRAIN", {"max_epochs": 2, "fixed_epochs": 1,
                                           "min_items_per_check": 1})
    second = project_predict.predict(folder, data)
    assert second.trained_now and second.model_file != first.model_file


def test_the_same_labels_give_the_same_model_whichever_command_trains_it(proj, tmp_path):
    folder, truth, data = proj
    teach(folder, truth, sorted(truth)[:16], tmp_path)
    first = project_predict.predict(folder, data)
    (folder / first.model_file).unlink()  # lost: trained again, by query, a round later
    result = project_query.query(folder, 4)
    assert result.model_file not in (None, first.model_file)
    again = project_predict.predict(folder, data)
    assert not again.trained_now and again.model_file == result.model_file
    np.testing.assert_allclose(again.proba, first.proba, atol=1e-6)  # the same seed


def test_only_the_newest_models_are_kept(proj, tmp_path, monkeypatch):
    folder, truth, data = proj
    ids = sorted(truth)
    files = []
    for n in range(12, 18):  # six labeled states, six models
        teach(folder, truth, ids[:n], tmp_path)
        files.append(project_predict.predict(folder, data).model_file)
    assert len(set(files)) == 6
    assert recorded(folder) == files[::-1][:trained.KEEP_MODELS]
    assert model_files(folder) == set(files[-trained.KEEP_MODELS:])


def test_pruning_never_drops_the_model_in_use(proj, tmp_path):
    folder, truth, data = proj
    ids = sorted(truth)
    teach(folder, truth, ids[:12], tmp_path)
    oldest = project_predict.predict(folder, data).model_file
    teach(folder, truth, ids[:13], tmp_path)
    newest = project_predict.predict(folder, data).model_file
    conn = store.connect(folder)
    try:
        with store.transaction(conn):
            stale = trained.prune_models(conn, keep=0, protect=oldest)
        assert stale == [newest] and [r["file"] for r in store.model_rows(conn)] == [oldest]
    finally:
        conn.close()
    trained.delete_files(folder, [*stale, "../project.db", "models/../project.db"])
    assert model_files(folder) == {oldest} and (folder / "project.db").is_file()
