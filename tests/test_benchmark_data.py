"""`alden benchmark --dataset FILE` with the data options of `alden init` (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from files_util import write_csv

from alden.cli import main
from alden.experiments.run_files import RESULTS
from alden.experiments.simulation import Protocol

FAST = ["--seeds", "1", "--init", "0.2", "--step", "0.2", "--stop", "0.4", "--max-epochs",
        "1", "--quiet", "--workers", "1", "--threads", "1"]



pytestmark = pytest.mark.usefixtures("private_cache")


def text_file(tmp_path: Path, label: str = "label", text: str = "text") -> Path:
    rng = np.random.default_rng(0)
    good, bad = ["good", "great", "fine"], ["bad", "dull", "poor"]
    rows = []
    for i in range(40):
        words = list(rng.choice(["the", "film", "was", "a"], 3)) + \
            [rng.choice(good if i % 2 else bad)]
        rows.append([f"d{i}", " ".join(words), ("neg", "pos")[i % 2]])
    return write_csv(tmp_path / "mine.csv", ["key", text, label], rows)


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]


def test_a_labeled_text_file_with_its_own_column_names(tmp_path):
    data = text_file(tmp_path, label="sentiment", text="body")
    out = tmp_path / "out"
    assert main(["benchmark", "--dataset", str(data), "--model", "cnn", "--strategy",
                 "random", "--text-column", "body", "--label-column", "sentiment",
                 "--id-column", "key", "--out", str(out), *FAST]) == 0
    rows = records(out)
    assert [r["round"] for r in rows] == [0, 1] and rows[0]["dataset"] == str(data)
    assert {r["labeled"] for r in rows} == {5, 10}  # 60% of 40 in the pool: 24 * 0.2
    options = json.loads((out / "options.json").read_text())
    assert options[rows[0]["options"]]["data"] == {"id_column": "key",
                                                   "label_column": "sentiment",
                                                   "text_column": "body"}


def test_a_labeled_table(tmp_path):
    rng = np.random.default_rng(1)
    rows = [[f"{rng.normal():.3f}", ("red", "blue")[i % 3 == 0], ("a", "b")[i % 2]]
            for i in range(40)]
    data = write_csv(tmp_path / "t.csv", ["x", "colour", "y"], rows)
    out = tmp_path / "out"
    assert main(["benchmark", "--dataset", str(data), "--model", "mlp", "--strategy",
                 "random", "--target-column", "y", "--out", str(out), *FAST]) == 0
    assert len(records(out)) == 2


@pytest.mark.parametrize(("options", "message"), [
    ([], "no column 'text'; the columns are 'key', 'body', 'sentiment'; name the right one "
         "with --text-column (or --target-column for a table)"),
    (["--text-column", "body"], "no column 'label'; the columns are 'key', 'body', "
                                "'sentiment'; name the right one with --label-column"),
    (["--text-column", "body", "--label-column", "nope"], "no column 'nope'"),
    (["--kind", "tabular"], "items have no label; a benchmark answers each query with the "
                            "file's labels, so every row needs one: name the label column with "
                            "--target-column"),
    (["--text-column", "body", "--target-column", "sentiment"], "not both"),
])
def test_errors_name_options_never_internal_functions(tmp_path, capsys, options, message):
    data = text_file(tmp_path, label="sentiment", text="body")
    model = "mlp" if "--kind" in options else "cnn"
    assert main(["benchmark", "--dataset", str(data), "--model", model, "--strategy", "random",
                 *options, "--out", str(tmp_path / "out"), *FAST]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "prepare_unlabeled" not in err and "Traceback" not in err
    assert not (tmp_path / "out" / RESULTS).exists()


def test_data_options_do_not_apply_to_the_builtin_sets(tmp_path, capsys):
    assert main(["benchmark", "--dataset", "wine", "--model", "mlp", "--strategy", "random",
                 "--text-column", "body", "--out", str(tmp_path / "out"), *FAST]) == 2
    assert "--text-column read a data set file; the built-in sets (wine)" in \
        capsys.readouterr().err


def test_runs_without_data_options_keep_their_hash():
    """The committed grid's runs (docs/runs/paper) keep their options hash."""
    assert Protocol().options_hash == Protocol(data=()).options_hash
    assert "data" not in Protocol().as_dict()
    assert Protocol(data=(("text_column", "body"),)).options_hash != Protocol().options_hash
