"""`alden status` costs at most one round's training and shows its progress (issue 14)."""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from alden.cli import main
from alden.project import status as project_status
from alden.project import store
from alden.project.init import init_project
from alden.project.teach import teach_file

pytestmark = pytest.mark.usefixtures("private_cache")


class Guess:
    """A stand-in model: says "neg" for everything (accuracy is then the share of neg)."""

    def predict(self, x):
        return np.zeros(len(x), dtype=np.int64)


@pytest.fixture
def fits(monkeypatch):
    """Count the models status trains (each one instant, or ``fits.seconds`` long)."""
    class Fits:
        calls: list[int] = []
        seconds = 0.0

    def train(data, model, items=None, **kwargs):
        Fits.calls.append(len(items))
        time.sleep(Fits.seconds)
        return Guess()

    monkeypatch.setattr(project_status, "train", train)
    return Fits


@pytest.fixture
def project(tmp_path) -> Path:
    """60 sentences, 36 labels given over rounds 0, 1 and 2."""
    rows = [[f"d{i}", f"sentence number {i} is {('bad', 'good')[i % 2]}"] for i in range(60)]
    data = tmp_path / "d.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "text"], *rows])
    folder = tmp_path / "p"
    init_project(folder, data, id_column="id", classes=("neg", "pos"),
                              embedding_dim=8)
    for r in range(3):
        labels = tmp_path / f"l{r}.csv"
        with open(labels, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["id", "label"], *[[f"d{i}", ("neg", "pos")[i % 2]]
                                                        for i in range(12 * r, 12 * r + 12)]])
        teach_file(folder, labels)
        if r < 2:
            conn = store.connect(folder)
            try:
                store.add_round(conn, strategy="random", model="cnn", n_labeled=12 * (r + 1),
                                picks=[], info={})
            finally:
                conn.close()
    return folder


def test_status_trains_two_half_size_models_once_per_labeled_set(project, fits):
    first = project_status.status(project, stopping=False)
    assert first.accuracy.folds == 2 and first.accuracy.n_labeled == 36
    assert fits.calls == [18, 18]  # was 5 folds x 3 rounds: 15 models on up to 29 labels
    assert [p[0] for p in first.curve] == [2] and first.not_evaluated == (0, 1)
    fits.calls.clear()
    again = project_status.status(project, stopping=False)
    assert fits.calls == [] and again.accuracy == first.accuracy  # cached by labeled set
    full = project_status.status(project, full_curve=True, stopping=False)
    assert sorted(fits.calls) == [6, 6, 12, 12]  # rounds 0 and 1, only when asked
    assert [p[0] for p in full.curve] == [0, 1, 2] and full.not_evaluated == ()


def test_the_cli_says_which_rounds_are_not_evaluated(project, fits, capsys):
    assert main(["status", str(project)]) == 0
    out = capsys.readouterr().out
    assert "cross-validation on the picked labels (cnn, 2 folds, 36 labels)" in out
    assert "not evaluated yet: 2 rounds (0, 1); `alden status --full-curve` evaluates" in out


def test_status_counts_each_model_and_its_epochs(project, fits):
    heard = []

    def train(data, model, items=None, *, on_epoch=None, **kwargs):
        fits.calls.append(len(items))
        guess = Guess()
        guess.config = type("Config", (), {"fixed_epochs": 3})()
        for epoch in (1, 2, 3):
            on_epoch(guess, {"epoch": epoch})
        return guess

    project_status.train = train  # undone by the fits fixture's monkeypatch
    project_status.status(project, full_curve=True, stopping=False,
                          say=lambda text, done=None, total=None: heard.append(
                              (text, done, total)))
    counted = [h for h in heard if h[1] is not None]
    assert counted[0] == ("cross-validating 36 labels: model 1 of 6: epoch 1 of 3", 1, 18)
    assert counted[-1] == ("cross-validating 24 labels: model 6 of 6: epoch 3 of 3", 18, 18)
    assert [d for _, d, _ in counted] == list(range(1, 19))  # never back, never past the end


def test_the_cli_shows_the_step_on_a_terminal(project, fits, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["status", str(project), "--no-curve"]) == 0
    assert "cross-validating 36 labels: model 2 of 2" in err.getvalue()
