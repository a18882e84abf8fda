"""A labeling project on a sentence encoder (the tiny BERT of test_encoder): init encodes
the items as its word pieces, query starts cold on pooled embeddings then picks with ALDEN
and says why in whole words, predict and status work, and a word model is refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the alden[encoders] extra is not installed")
pytest.importorskip("sentence_transformers", reason="the alden[encoders] extra is not installed")
from files_util import write_csv as _csv
from test_encoder import SENTENCES, make_tiny_encoder

from alden.cli import main
from alden.project import store

pytestmark = pytest.mark.usefixtures("private_cache", "one_torch_thread")


def test_project_on_an_encoder(tmp_path, capsys):
    model = "encoder:" + str(make_tiny_encoder(tmp_path / "bert"))
    texts = SENTENCES * 2
    ids = [f"s{i:02d}" for i in range(len(texts))]
    data = _csv(tmp_path / "docs.csv", ["id", "text"], list(zip(ids, texts, strict=True)))
    folder = tmp_path / "p"
    assert main(["init", str(folder), "--data", str(data), "--id-column", "id",
                 "--classes", "neg,pos", "--model", model]) == 0
    assert main(["query", str(folder), "--k", "12"]) == 0  # cold start on pooled embeddings
    batch = sorted((folder / "batches").glob("round-*.csv"))[-1]
    rows = list(csv.DictReader(open(batch, encoding="utf-8")))
    for row in rows:
        row["label"] = ("neg", "pos")[int(row["id"][1:]) % 3 != 0]
    answered = _csv(tmp_path / "answered.csv", list(rows[0]), [list(r.values()) for r in rows])
    assert main(["teach", str(folder), str(answered)]) == 0
    capsys.readouterr()
    assert main(["query", str(folder), "--k", "3", "--strategy", "alden"]) == 0
    batch = sorted((folder / "batches").glob("round-*.jsonl"))[-1]
    picked = [json.loads(line) for line in open(batch, encoding="utf-8")]
    assert len(picked) == 3
    conn = store.connect(folder)
    try:
        settings, rounds = store.settings(conn), store.rounds(conn)
    finally:
        conn.close()
    assert settings["model"] == model and settings["encoder"] == model
    assert settings["strategy"] == "margin"  # the default on an encoder (docs/results.md)
    assert rounds[-1]["strategy"] == "alden"
    out = capsys.readouterr().out
    assert "##" not in out  # reasons name whole words
    new = _csv(tmp_path / "new.csv", ["id", "text"], [["n1", "a clever and warm story"],
                                                      ["n2", "boring and clumsy"]])
    assert main(["predict", str(folder), "--data", str(new), "--out",
                 str(tmp_path / "pred.csv")]) == 0
    assert len(list(csv.DictReader(open(tmp_path / "pred.csv", encoding="utf-8")))) == 2
    assert main(["status", str(folder), "--no-curve"]) == 0
    assert main(["query", str(folder), "--k", "2", "--model", "cnn"]) == 2  # other encoding
    assert "encoded for" in capsys.readouterr().err
    assert np.load(folder / "encoding" / "x.npy").dtype == np.int64


def test_an_encoder_project_counts_its_encoding_and_names_its_pieces(tmp_path, capsys):
    """init says word pieces, not a vocabulary of words; a random first batch encodes
    nothing, one on the pooled embeddings counts the texts encoded (issue 23, points 3 and
    8); --help lists the encoders."""
    from alden.models import encoder_cache
    from alden.project.query import query

    model = "encoder:" + str(make_tiny_encoder(tmp_path / "bert"))
    texts = SENTENCES * 2
    data = _csv(tmp_path / "docs.csv", ["id", "text"],
                [[f"s{i:02d}", t] for i, t in enumerate(texts)])
    folder = tmp_path / "p"
    assert main(["init", str(folder), "--data", str(data), "--id-column", "id",
                 "--classes", "neg,pos", "--model", model]) == 0
    out = capsys.readouterr().out
    assert "as word pieces of the encoder's tokenizer" in out and "vocabulary" not in out
    encoder_cache._TABLES.clear()  # this process has not encoded the pool yet
    heard = []
    query(folder, 4, on_step=lambda text, done=None, total=None: heard.append(
        (text, done, total)))  # the encoders' default cold start, random picks: no encoding
    assert heard and not [h for h in heard if h[0].startswith("encoding ")]
    heard.clear()
    query(folder, 4, cold_start="kcenter", on_step=lambda text, done=None, total=None:
          heard.append((text, done, total)))  # a cold start on the pooled embeddings
    counted = [h for h in heard if h[0].startswith("encoding ")]
    n = len(set(texts))  # each text twice in the pool, encoded once
    assert counted and counted[-1] == (f"encoding {n} of {n} texts", n, n)
    assert [d for _, d, _ in counted] == sorted(d for _, d, _ in counted)
    with pytest.raises(SystemExit):
        main(["query", "--help"])
    assert "minilm" in capsys.readouterr().out


def _answer(folder: Path, path: Path) -> Path:
    """The newest batch of ``folder`` answered (pos unless the id is a multiple of 3)."""
    batch = sorted((folder / "batches").glob("round-*.csv"))[-1]
    rows = list(csv.DictReader(open(batch, encoding="utf-8")))
    for row in rows:
        row["label"] = ("neg", "pos")[int(row["id"][1:]) % 3 != 0]
    return _csv(path, list(rows[0]), [list(r.values()) for r in rows])


def test_every_item_is_encoded_once_across_commands_and_processes(tmp_path, monkeypatch):
    """init, query, teach, query, teach, query and a fresh process: each distinct text of
    the pool is encoded exactly once (issue 23, point 1), whatever is labeled."""
    from alden.models import encoder_cache, feature_store

    model = "encoder:" + str(make_tiny_encoder(tmp_path / "bert"))
    texts = SENTENCES + [f"{a} and {b}" for a, b in zip(SENTENCES, SENTENCES[1:], strict=False)]
    texts.append(SENTENCES[0])  # the same text twice: one item to encode
    data = _csv(tmp_path / "docs.csv", ["id", "text"],
                [[f"s{i:02d}", t] for i, t in enumerate(texts)])
    encoded: list[bytes] = []
    real = encoder_cache.encode_pooled

    def counted(encoder, x, **kwargs):
        encoded.extend(feature_store.item_keys(x))
        return real(encoder, x, **kwargs)

    monkeypatch.setattr(encoder_cache, "encode_pooled", counted)
    encoder_cache._TABLES.clear()
    folder = tmp_path / "p"
    assert main(["init", str(folder), "--data", str(data), "--id-column", "id",
                 "--classes", "neg,pos", "--model", model]) == 0
    pool = set(feature_store.item_keys(np.load(folder / "encoding" / "x.npy")))
    assert len(pool) == len(texts) - 1
    assert main(["query", str(folder), "--k", "8"]) == 0
    for answered in range(2):
        assert main(["teach", str(folder), str(_answer(folder, tmp_path / f"a{answered}.csv"))
                     ]) == 0
        assert main(["query", str(folder), "--k", "4"]) == 0
        # 8 labels: still cold, random picks encode nothing; 12: the first trained query
        # encodes the pool
        assert sorted(encoded) == (sorted(pool) if answered else [])
    encoder_cache._TABLES.clear()  # as a new process finds it: only the disk cache
    assert main(["status", str(folder), "--no-curve"]) == 0
    assert main(["teach", str(folder), str(_answer(folder, tmp_path / "a2.csv"))]) == 0
    assert main(["query", str(folder), "--k", "4"]) == 0
    assert main(["query", str(folder), "--k", "4"]) == 0  # the saved model, no table
    assert sorted(encoded) == sorted(pool)
