"""The labeling project's commands end to end: init, query, teach, status, predict."""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from files_util import labels as labels_of
from files_util import write_csv

from alden.cli import main
from alden.errors import AldenError, DataError, ProjectError
from alden.models.representations import sentence_means
from alden.project import predict as project_predict
from alden.project import query as project_query
from alden.project import status as project_status
from alden.project import store, trained
from alden.project import workspace as project_data
from alden.project.batch_files import reason_text
from alden.project.init import init_project
from alden.project.teach import teach_file
from alden.strategies import Reason

GOOD = ["good", "great", "lovely", "superb", "fine", "warm", "bright"]
BAD = ["bad", "awful", "dull", "poor", "weak", "cold", "grim"]
FILLER = ["the", "film", "plot", "was", "a", "and", "very", "story", "cast", "it"]


pytestmark = pytest.mark.usefixtures("private_cache", "one_torch_thread")


def sentences(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` short sentences whose class shows in their words: an easy, learnable set."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = ("pos", "neg")[i % 2]
        words = list(rng.choice(FILLER, 4)) + list(rng.choice(GOOD if label == "pos" else BAD, 2))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(label)
    return texts, labels



@pytest.fixture(autouse=True)
def few_epochs(monkeypatch):
    """A fixed small epoch count for every model these tests train (a project trains 20)."""
    monkeypatch.setattr(trained, "TRAIN", {"fixed_epochs": 5})


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A text project of 60 sentences (made once) and the true labels by id."""
    root = tmp_path_factory.mktemp("made")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALDEN_CACHE", str(root / "cache"))
        texts, labels = sentences(60)
        ids = [f"doc{i:03d}" for i in range(60)]
        data = write_csv(root / "docs.csv", ["id", "text"], [[i, t] for i, t in
                                                             zip(ids, texts, strict=True)])
        assert main(["init", str(root / "p"), "--data", str(data), "--id-column", "id",
                     "--classes", "neg,pos", "--embedding-dim", "16"]) == 0
    return root / "p", dict(zip(ids, labels, strict=True)), data


@pytest.fixture
def proj(made, tmp_path):
    """A fresh copy of the made project for one test."""
    folder, truth, data = made
    shutil.copytree(folder, tmp_path / "p")
    return tmp_path / "p", truth, data


def answer(batch_csv: Path, truth: dict[str, str], out: Path) -> Path:
    """The batch file with its label column filled in from the truth (the person's job)."""
    rows = list(csv.DictReader(open(batch_csv, encoding="utf-8")))
    for row in rows:
        row["label"] = truth[row["id"]]
    return write_csv(out, list(rows[0]), [list(r.values()) for r in rows])


def test_init_makes_a_project(made, capsys):
    folder, truth, _ = made
    conn = store.connect(folder)
    assert store.item_ids(conn)[:2] == ["doc000", "doc001"]
    assert store.classes(conn) == ("neg", "pos")
    settings = store.settings(conn)
    assert settings["kind"] == "text" and settings["id_column"] == "id"
    assert settings["vocab"][:2] == ["<pad>", "<unk>"]
    x = np.load(folder / "encoding" / "x.npy")
    emb = np.load(folder / "encoding" / "embeddings.npy")
    assert x.shape[0] == 60 and emb.shape == (len(settings["vocab"]), 16)
    assert store.integrity_check(conn) == "ok"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".p.")]  # no leftovers


def test_init_ids_from_line_numbers_and_labels_from_a_file(tmp_path):
    texts, labels = sentences(12)
    data = write_csv(tmp_path / "d.csv", ["text"], [[t] for t in texts])
    seed = write_csv(tmp_path / "seed.csv", ["id", "label"], [["2", labels[0]],
                                                              ["3", labels[1]]])
    init_project(tmp_path / "p", data, labels_file=seed, embedding_dim=8)
    conn = store.connect(tmp_path / "p")
    assert store.item_ids(conn)[:3] == ["2", "3", "4"]  # the header is line 1
    assert store.classes(conn) == ("neg", "pos")  # learned from the labels file, sorted
    assert store.labels(conn).as_dict() == {0: 1, 1: 0}


def test_init_refuses_bad_input_and_leaves_nothing(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", ["id", "body"], [["a", "some text"]])
    assert main(["init", str(tmp_path / "p"), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no column 'text'" in err and "'body'" in err
    assert not (tmp_path / "p").exists()
    texts, _ = sentences(6)
    good = write_csv(tmp_path / "g.csv", ["text"], [[t] for t in texts])
    labels = write_csv(tmp_path / "l.csv", ["id", "label"], [["2", "pos"], ["99", "neg"]])
    assert main(["init", str(tmp_path / "p"), "--data", str(good), "--labels",
                 str(labels)]) == 2  # fails after the database was made: nothing stays
    assert "line 3: unknown id '99'" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    assert main(["init", str(tmp_path / "full"), "--data", str(good)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep me"


def test_init_sets_the_strategy_and_checks_it_first(tmp_path, capsys):
    texts, _ = sentences(6)
    good = write_csv(tmp_path / "g.csv", ["text"], [[t] for t in texts])
    for spec, why in (("dami", "tabular"), ("nope", "unknown strategy"),
                      ("alden:output=sideways", "output")):
        assert main(["init", str(tmp_path / "p"), "--data", str(good),
                     "--strategy", spec]) == 2
        assert why in capsys.readouterr().err
        assert not (tmp_path / "p").exists()
    assert main(["init", str(tmp_path / "p"), "--data", str(good), "--embedding-dim", "8",
                 "--strategy", "bald:samples=5"]) == 0
    assert "model: cnn; strategy: bald:samples=5\n" in capsys.readouterr().out
    assert main(["init", str(tmp_path / "q"), "--data", str(good), "--embedding-dim", "8"]) == 0
    assert "strategy: alden (the default for this model" in capsys.readouterr().out
    for name, strategy in (("p", "bald:samples=5"), ("q", "alden")):
        conn = store.connect(tmp_path / name)
        assert store.settings(conn)["strategy"] == strategy
        conn.close()


def test_sentence_means_match_a_loop():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(9, 4))
    x = np.array([[2, 3, 3, 0], [5, 0, 0, 0], [1, 8, 7, 6]])
    want = np.array([emb[row[row != 0]].mean(axis=0) for row in x])
    np.testing.assert_allclose(sentence_means(x, emb), want)


def test_first_query_is_a_cold_start(proj, capsys):
    folder, _, _ = proj
    assert main(["query", str(folder), "--k", "6"]) == 0
    out = capsys.readouterr().out
    assert "cold start (0 labels, fewer than 10)" in out and "round 1" in out
    rows = list(csv.DictReader(open(folder / "batches" / "round-0001.csv", encoding="utf-8")))
    assert [r["label"] for r in rows] == [""] * 6
    assert len({r["id"] for r in rows}) == 6
    # the word models' measured default (docs/runs/cold_start): TypiClust
    assert all(r["reason"].startswith("typical of a group of ") for r in rows)
    assert "by typiclust, without a model" in out
    lines = (folder / "batches" / "round-0001.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r["id"] for r in rows]
    tasks = json.loads((folder / "batches" / "round-0001.labelstudio.json").read_text())
    assert [t["data"]["id"] for t in tasks] == [r["id"] for r in rows]
    assert all(set(t["data"]) >= {"text", "id"} and "predictions" not in t for t in tasks)
    config = (folder / "batches" / "labelstudio-config.xml").read_text()
    assert '<Choice value="neg"/>' in config and 'value="$text"' in config
    conn = store.connect(folder)
    (r,) = store.rounds(conn)
    assert (r["strategy"], r["size"], r["labeled_now"]) == ("cold-start", 6, 0)


def test_query_cold_start_kcenter(proj, capsys):
    folder, _, _ = proj
    assert main(["query", str(folder), "--k", "6", "--cold-start", "kcenter"]) == 0
    assert "by kcenter, without a model" in capsys.readouterr().out
    rows = list(csv.DictReader(open(folder / "batches" / "round-0001.csv", encoding="utf-8")))
    assert rows[0]["reason"].startswith("cold start: the sentence nearest the centre")
    assert all("farthest" in r["reason"] for r in rows[1:])
    # k-center: each pick is at least as far from the earlier ones as any later pick is
    distances = [float(r["score"]) for r in rows[1:]]
    assert distances == sorted(distances, reverse=True)
    conn = store.connect(folder)
    (r,) = store.rounds(conn)
    assert r["info"]["cold_start_method"] == "kcenter"


def test_init_cold_start_is_the_projects(proj, tmp_path):
    _, _, data = proj
    init_project(tmp_path / "t", data, cold_start="random")
    conn = store.connect(tmp_path / "t")
    assert store.settings(conn)["cold_start"] == "random"
    result = project_query.query(tmp_path / "t", 5)
    assert result.cold_start_method == "random"
    assert all(p.reason.kind == "random_start" for p in result.picks)
    again = project_query.query(tmp_path / "t", 5, cold_start="probcover")
    assert again.cold_start_method == "probcover"
    with pytest.raises(AldenError, match="unknown cold start"):
        project_query.query(tmp_path / "t", 5, cold_start="nearest")
    conn.close()


def test_rounds_of_query_and_teach(proj, tmp_path, capsys):
    folder, truth, _ = proj
    project_query.query(folder, 12)
    answered = answer(folder / "batches" / "round-0001.csv", truth, tmp_path / "a1.csv")
    assert main(["teach", str(folder), str(answered)]) == 0
    assert "12 new labels" in capsys.readouterr().out
    assert main(["teach", str(folder), str(answered)]) == 0  # twice: nothing changes
    assert "0 new labels, 12 unchanged" in capsys.readouterr().out
    result = project_query.query(folder, 5)
    assert result.cold_start is None and result.strategy == "alden" and result.round == 2
    assert (folder / result.model_file).is_file()
    rows = list(csv.DictReader(open(result.files[0], encoding="utf-8")))
    assert all(r["predicted"] in ("neg", "pos") and 0.5 <= float(r["confidence"]) <= 1
               for r in rows)
    assert all(r["reason"].startswith("'") for r in rows)  # ALDEN names its word...
    assert all('; in "' in r["reason"] and "[" in r["reason"] for r in rows)  # in context
    labeled = {store.item_ids(store.connect(folder))[i] for i in labels_of(folder)}
    assert not labeled & {r["id"] for r in rows}
    tasks = json.loads(result.files[2].read_text())
    choice = tasks[0]["predictions"][0]["result"][0]
    assert choice["type"] == "choices" and choice["value"]["choices"] == [rows[0]["predicted"]]


def test_query_takes_a_strategy_variant_and_refuses_a_bad_one(proj, tmp_path, capsys):
    folder, truth, _ = proj
    project_query.query(folder, 12)
    answered = answer(folder / "batches" / "round-0001.csv", truth, tmp_path / "a1.csv")
    teach_file(folder, answered)
    assert main(["query", str(folder), "--k", "3", "--strategy", "alden:output=grad"]) == 2
    assert "strategy 'alden:output=grad': output must be one of" in capsys.readouterr().err
    assert len(store.rounds(store.connect(folder))) == 1  # nothing recorded
    result = project_query.query(folder, 3, strategy="alden:output=logits")
    assert result.strategy == "alden:output=logits" and len(result.files) >= 1
    assert project_query.query(folder, 3, strategy="alden:output=proba").strategy == "alden"


def test_query_subpool_picks_among_neighbours_and_says_so(proj, tmp_path, capsys):
    folder, truth, _ = proj
    project_query.query(folder, 12)
    teach_file(folder, answer(folder / "batches" / "round-0001.csv", truth, tmp_path / "a.csv"))
    capsys.readouterr()
    assert main(["query", str(folder), "--k", "3", "--strategy", "margin", "--subpool",
                 "6"]) == 0
    assert "margin:subpool=6 picked 3 items" in capsys.readouterr().out
    rows = list(csv.DictReader(open(folder / "batches" / "round-0002.csv", encoding="utf-8")))
    assert len(rows) == 3 and all("; from the subpool" in r["reason"] for r in rows)


def test_query_refuses_a_strategy_for_the_other_kind_before_training(proj, monkeypatch, capsys):
    folder, _, _ = proj
    monkeypatch.setattr(project_query, "too_few_labels", lambda data: None)  # would train
    monkeypatch.setattr(project_query, "current_model", lambda *a, **k: pytest.fail("trained"))
    assert main(["query", str(folder), "--k", "3", "--strategy", "dami"]) == 2
    assert "strategy 'dami'" in capsys.readouterr().err and "tables only" in \
        str(pytest.raises(AldenError, project_query.query, folder, 3, strategy="dami").value)


def test_label_studio_export_can_be_taught_back(proj, tmp_path):
    folder, truth, _ = proj
    result = project_query.query(folder, 4)
    tasks = json.loads(result.files[2].read_text())
    for task in tasks:
        task["annotations"] = [{"result": [{"from_name": "label", "to_name": "text",
                                            "type": "choices", "value": {
                                                "choices": [truth[task["data"]["id"]]]}}]}]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    taught = teach_file(folder, export)
    assert taught.change.added == 4 and len(labels_of(folder)) == 4


def test_teach_bad_rows_write_nothing(proj, tmp_path, capsys):
    folder, _, _ = proj
    bad = write_csv(tmp_path / "bad.csv", ["id", "label"],
                    [["doc001", "pos"], ["doc999", "pos"], ["doc002", "meh"]])
    assert main(["teach", str(folder), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: 2 bad rows, nothing was written" in err
    assert "line 3: unknown id 'doc999'" in err and "line 4: unknown label 'meh'" in err
    assert "Traceback" not in err and labels_of(folder) == {}
    assert main(["teach", str(folder), str(bad), "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "1 new label," in out and "skipped 2 bad rows" in out
    assert labels_of(folder) == {1: 1}


def teach_all(folder: Path, truth: dict[str, str], ids, tmp_path: Path, name="t.csv"):
    path = write_csv(tmp_path / name, ["id", "label"], [[i, truth[i]] for i in ids])
    return teach_file(folder, path)


def test_status_counts_cross_validation_and_curve(proj, tmp_path, capsys, monkeypatch):
    folder, truth, _ = proj
    assert main(["status", str(folder)]) == 0
    assert "too few labels to estimate accuracy" in capsys.readouterr().out
    ids = sorted(truth)
    teach_all(folder, truth, ids[:12], tmp_path, "a.csv")
    project_query.query(folder, 4)  # round 1: the next labels belong to it
    teach_all(folder, truth, ids[12:24], tmp_path, "b.csv")
    assert main(["status", str(folder), "--folds", "3", "--full-curve"]) == 0
    out = capsys.readouterr().out
    assert "60 items, 24 labeled, 36 unlabeled" in out
    assert "neg                      12   50%" in out
    assert "cross-validation on the picked labels (cnn, 3 folds, 24 labels)" in out
    assert "after round 0: 12 labels" in out and "after round 1: 24 labels" in out
    png = folder / "status" / "learning_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    s = project_status.status(folder, folds=3)
    assert 0.0 <= s.accuracy.accuracy <= 1.0 and s.majority == 0.5
    # a second status reuses the cached cross-validations instead of training again
    monkeypatch.setattr(project_status, "cross_validate", lambda *a, **k: pytest.fail("retrained"))
    assert project_status.status(folder, folds=3).accuracy == s.accuracy


def test_cross_validation_learns_the_easy_set(proj, tmp_path, monkeypatch):
    monkeypatch.setattr(trained, "TRAIN", {"fixed_epochs": 10})  # enough to learn the words
    folder, truth, _ = proj
    teach_all(folder, truth, sorted(truth), tmp_path)
    conn = store.connect(folder)
    cv = project_status.cross_validate(project_data.read_project(conn, folder), "cnn", 3)
    assert cv.folds == 3 and cv.n_labeled == 60
    assert cv.accuracy > 0.7  # words decide the class: far above the 0.5 of guessing


def test_predict_trains_once_then_loads_the_saved_model(proj, tmp_path, capsys):
    folder, truth, data = proj
    assert main(["predict", str(folder), "--data", str(data)]) == 2
    assert "cannot train a model yet" in capsys.readouterr().err
    teach_all(folder, truth, sorted(truth)[:20], tmp_path)
    first = project_predict.predict(folder, data)
    assert first.trained_now and (folder / first.model_file).is_file()
    np.testing.assert_allclose(first.proba.sum(axis=1), 1.0, rtol=1e-5)
    second = project_predict.predict(folder, data)
    assert not second.trained_now and second.model_file == first.model_file
    np.testing.assert_allclose(second.proba, first.proba, atol=1e-6)
    new = write_csv(tmp_path / "new.csv", ["text"], [["Great lovely film."], ["zzz qqq"]])
    out = tmp_path / "pred.csv"
    assert main(["predict", str(folder), "--data", str(new), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [r["id"] for r in rows] == ["2", "3"]
    assert set(rows[0]) == {"id", "predicted", "confidence", "p_neg", "p_pos"}
    assert abs(float(rows[0]["p_neg"]) + float(rows[0]["p_pos"]) - 1) < 1e-3


class Payload:
    """Unpickling this would create a file: proof that no pickle is ever loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_is_refused(proj, tmp_path, capsys):
    folder, truth, data = proj
    teach_all(folder, truth, sorted(truth)[:20], tmp_path)
    model_file = folder / project_predict.predict(folder, data).model_file
    marker = tmp_path / "pwned"
    with open(model_file, "wb") as f:
        pickle.dump({"state_dict": Payload(marker)}, f, protocol=2)
    pickle.loads(pickle.dumps(Payload(tmp_path / "control")))  # the payload does work...
    assert (tmp_path / "control").exists()
    assert main(["predict", str(folder), "--data", str(data)]) == 2  # ...but is never run
    err = capsys.readouterr().err
    assert "refusing to load the model" in err and "Traceback" not in err
    assert not marker.exists()
    import torch

    torch.save({"description": Payload(marker)}, model_file)  # a torch file with a payload
    with pytest.raises(ProjectError, match="refusing to load"):
        project_predict.predict(folder, data)
    assert not marker.exists()


def test_another_schema_version_is_reported(proj, capsys):
    folder, _, _ = proj
    raw = sqlite3.connect(folder / "project.db")
    raw.execute("PRAGMA user_version = 0")
    raw.close()
    assert main(["status", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "made by an older alden (project schema version 0)" in err


def test_tabular_project(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        size = rng.normal()
        colour = ("red", "blue")[i % 2]
        rows.append([f"r{i}", f"{size:.3f}", colour, f"{rng.normal():.3f}",
                     "big" if size > 0 else "small"])
    data = write_csv(tmp_path / "t.csv", ["key", "size", "colour", "noise"],
                     [r[:4] for r in rows])
    init_project(tmp_path / "p", data, kind="tabular", id_column="key",
                             classes=("big", "small"))
    conn = store.connect(tmp_path / "p")
    assert store.item_contents(conn)[0] == {"size": rows[0][1], "colour": "red",
                                            "noise": rows[0][3]}
    assert store.settings(conn)["cold_start"] == "random"  # tables: not measured
    first = project_query.query(tmp_path / "p", 10, cold_start="kcenter")
    assert first.cold_start and first.picks[0].reason.kind == "cold_start"
    assert "the row nearest" in reason_text(
        project_data.read_project(conn, tmp_path / "p"), first.picks[0].item,
        first.picks[0].reason)
    truth = {r[0]: r[4] for r in rows}
    teach_all(tmp_path / "p", truth, [r[0] for r in rows[:20]], tmp_path)
    second = project_query.query(tmp_path / "p", 5)
    assert second.strategy == "dami" and second.model == "mlp" and not second.cold_start
    batch = list(csv.DictReader(open(second.files[0], encoding="utf-8")))
    assert json.loads(batch[0]["row"]).keys() == {"size", "colour", "noise"}
    # new rows: a target column to ignore, columns in another order, an unseen colour
    new = write_csv(tmp_path / "new.csv", ["kind", "colour", "size", "noise"],
                    [["", "green", "2.5", "0"], ["big", "red", "-2.5", "0.1"]])
    result = project_predict.predict(tmp_path / "p", new, id_column="key")
    assert result.proba.shape == (2, 2) and result.ids == ["2", "3"]


# ---- reliability: processes killed or running at once ------------------------------------

def big_project(folder: Path, n: int) -> None:
    store.create(folder, ids=[f"i{k}" for k in range(n)], texts=["x"] * n,
                 classes=("a", "b"), settings={"kind": "text"})


def cli_process(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "alden.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_sigkill_during_teach_writes_all_or_nothing(tmp_path):
    n = 40_000
    big_project(tmp_path / "p", n)
    labels = write_csv(tmp_path / "big.csv", ["id", "label"],
                       [[f"i{k}", "ab"[k % 2]] for k in range(n)])
    proc = cli_process("teach", str(tmp_path / "p"), str(labels))
    line = proc.stdout.readline()
    assert "writing 40000 labels" in line, line
    proc.send_signal(signal.SIGKILL)  # while the transaction is being written
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    conn = store.connect(tmp_path / "p")
    assert store.integrity_check(conn) == "ok"
    assert len(store.labels(conn)) in (0, n)  # all of the batch or none of it
    conn.close()
    result = teach_file(tmp_path / "p", labels)  # and teaching again completes it
    assert result.change.added + result.change.unchanged == n


def test_two_teach_commands_at_once(tmp_path):
    n = 3000
    big_project(tmp_path / "p", n)
    # overlapping files: the shared rows agree, so both must succeed whatever the order
    first = write_csv(tmp_path / "1.csv", ["id", "label"],
                      [[f"i{k}", "ab"[k % 2]] for k in range(0, 2000)])
    second = write_csv(tmp_path / "2.csv", ["id", "label"],
                       [[f"i{k}", "ab"[k % 2]] for k in range(1000, 3000)])
    procs = [cli_process("teach", str(tmp_path / "p"), str(f)) for f in (first, second)]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    conn = store.connect(tmp_path / "p")
    assert store.integrity_check(conn) == "ok"
    assert store.labels(conn).as_dict() == {k: k % 2 for k in range(n)}
    events = conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0]
    assert events == n  # the overlap was written once, by whichever came first


def test_errors_are_data_errors_without_tracebacks(proj, tmp_path):
    folder, _, _ = proj
    with pytest.raises(DataError, match="no such file"):
        teach_file(folder, tmp_path / "missing.csv")
    with pytest.raises(ProjectError, match="no such project folder"):
        project_query.query(tmp_path / "nope", 3)


def test_reason_shows_the_word_in_its_sentence():
    data = project_data.ProjectData(
        Path("."), {"kind": "text", "tokenized": False}, ["a", "b"],
        ["One two three four five six seven eight nine ten eleven twelve.", "Just, this."],
        ("neg", "pos"), np.zeros((2, 3), dtype=np.int64), None, store.Labels((), (), ()))
    nine = Reason("alden", 0.5, word="nine", position=8, compared_word="nine")
    assert reason_text(data, 0, nine) == (
        "'nine' (word 9) is used here unlike anywhere it is labeled (interpretation distance "
        '0.5); in "... three four five six seven eight [nine] ten eleven twelve ."')
    comma = Reason("alden", 0.25, word=",", position=1, compared_word="and")
    assert reason_text(data, 1, comma) == (
        "',' (word 2) is in no labeled item; it is used here unlike the nearest labeled "
        "word, 'and' (interpretation distance 0.25); in \"just [,] this .\"")
    that = Reason("alden", 0.25, word="that", position=1, compared_word="that")
    assert "in \"" not in reason_text(data, 1, that)  # not the word there
    entropy = Reason("entropy", 0.69, proba=(0.5, 0.5))
    assert reason_text(data, 1, entropy) == "entropy 0.69 (p(neg)=0.50, p(pos)=0.50)"
    assert reason_text(data, 1, "an old reason") == "an old reason"


def test_a_query_while_another_runs_on_the_project_is_refused(proj):
    from alden.project.locks import query_lock

    folder, _, _ = proj
    with query_lock(folder):  # a query of this process: the CLI's must not start meanwhile
        proc = cli_process("query", str(folder), "--k", "3")
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert f"a query is already running on this project (pid {os.getpid()}, since " in out
    again = cli_process("query", str(folder), "--k", "3")  # the lock went with its holder
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    conn = store.connect(folder)
    assert [r["round"] for r in store.rounds(conn)] == [1]
    conn.close()


def test_step_line_shows_steps_on_a_terminal_only():
    import io

    from alden.project.cli import step_line

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    log, terminal = io.StringIO(), Terminal()
    for stream in (log, terminal):
        show = step_line(stream)
        show("training cnn on 14 labels: epoch 1 of 20")
        show("writing the batch")
        show("")
    assert log.getvalue() == ""
    assert terminal.getvalue() == ("\r\033[Ktraining cnn on 14 labels: epoch 1 of 20 ..."
                                   "\r\033[Kwriting the batch ...\r\033[K")
