"""A project's trained models: one per labeled state, shared by the commands, kept few.

A model is trained on every label so far, built by the factory as the benchmark's are, for a
fixed number of epochs (a project has no validation split; ``EPOCHS``, chosen by
``benchmarks/bench_project_training.py`` over early stopping on labels held back, see
docs/training.md), seeded by the factory's scheme from the project's seed and the round of
the newest label.
It is saved as ``models/{model}-r{round}-{labels}-{training}.pt`` (the fingerprint of the
labels and of the training settings) and recorded with the labels' fingerprint, so
``query``, ``predict`` and the page reuse one file while the labels stay the same. The
newest ``KEEP_MODELS`` files are kept; older ones go, rows and files, never the one in use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alden.errors import AldenError, ProjectError
from alden.models.contract import fit_learner
from alden.models.factory import learner_for, train_config
from alden.models.families import model_family
from alden.project import store
from alden.streams import fit_seed

if TYPE_CHECKING:
    from alden.models.contract import Learner, TrainConfig
    from alden.project.workspace import ProjectData

KEEP_MODELS = 3
# Epochs on all labels, by model (else TrainConfig.fixed_epochs). The TextCNN, measured on Subj
# and MR from 50 to 1,000 labels: 20 epochs beat 10 by 0.56 points (21 of 30 paired cells)
# and beat early stopping on a fifth of the labels held back, with or without a refit.
EPOCHS = {"cnn": 20}
TRAIN: dict[str, Any] = {}  # TrainConfig overrides for projects (tests use a tiny epoch count)


def project_config(model: str) -> TrainConfig | None:
    """The TrainConfig a project trains ``model`` with (None: the learner's own defaults)."""
    overrides = {"fixed_epochs": EPOCHS[model], **TRAIN} if model in EPOCHS else TRAIN
    return train_config(overrides) if overrides else None


def labels_round(data: ProjectData, items: Iterable[int] | None = None) -> int:
    """The round of the newest of these labels (all of them by default): the model of
    round r is trained on the labels of rounds 0..r, as in a simulated run."""
    rounds = np.asarray(data.labels.rounds)
    if items is not None:
        rounds = rounds[np.searchsorted(np.asarray(data.labels.items), np.asarray(list(items)))]
    return int(rounds.max()) if len(rounds) else 0


def training_key(data: ProjectData, model: str) -> str:
    """8 hex digits over everything but the labels that decides the trained weights."""
    settings = {"model": model, "seed": int(data.settings["seed"]),
                "config": None if (config := project_config(model)) is None
                else dataclasses.asdict(config)}
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def encode_pool(data: ProjectData, model: str,
                on_progress: Callable[[int, int], None] | None = None) -> None:
    """A frozen encoder's pooled embeddings of the whole pool, made (or read from the cache)
    once per process before its first model trains, so that ``on_progress(done, total)`` can
    follow the encoding; the learners then read the same table. Nothing for other models."""
    family = model_family(model)
    frozen_encoder = family.word_pieces and family.data_key(model) == model  # its own table
    if data.settings.get("encoder") and frozen_encoder:
        from alden.models.encoder_cache import shared_table

        shared_table(model, data.x, on_progress=on_progress)


def train(data: ProjectData, model: str, items: np.ndarray | None = None, *,
          fold: int | None = None,
          on_epoch: Callable[[Learner, dict[str, float]], None] | None = None,
          on_encode: Callable[[int, int], None] | None = None) -> Learner:
    """A Learner trained from scratch on the labeled items (or the given subset of them);
    ``fold`` numbers a cross-validation fold (its own seed); ``on_epoch`` as in ``fit``;
    ``on_encode`` follows the pool's encoding (``encode_pool``), when there is one. A model
    that reads the unlabeled items (self-training) gets ``unlabeled_items``."""
    encode_pool(data, model, on_encode)
    items = np.asarray(data.labels.items if items is None else items, dtype=np.int64)
    y = np.asarray(data.labels.labels, dtype=np.int64)[
        np.searchsorted(np.asarray(data.labels.items), items)]
    seed = fit_seed(int(data.settings["seed"]), labels_round(data, items), fold)
    return fit_learner(learner_for(data, model, project_config(model)), data.x[items], y,
                       seed=seed, on_epoch=on_epoch,
                       unlabeled=lambda: data.x[unlabeled_items(data)])


def unlabeled_items(data: ProjectData) -> np.ndarray:
    """The items a self-training model may pseudo-label: all but the labeled ones and the
    check set (whose labels measure accuracy; nothing trains on them, even as guesses)."""
    taken = np.union1d(np.asarray(data.labels.items, dtype=np.int64),
                       np.asarray(data.check, dtype=np.int64))
    return np.setdiff1d(np.arange(len(data.x)), taken)


def find_model(conn: sqlite3.Connection, data: ProjectData, model: str
               ) -> tuple[Learner, str] | None:
    """The saved model of the current labels, model and training settings, if any."""
    key = store.fingerprint(data.labels.items, data.labels.labels)
    suffix = f"-{training_key(data, model)}.pt"
    for row in store.model_rows(conn, key=key, model=model):
        if row["file"].endswith(suffix) and (data.folder / row["file"]).is_file():
            return load_model(data.folder / row["file"]), row["file"]
    return None


def current_model(conn: sqlite3.Connection, data: ProjectData, model: str, *,
                  on_epoch: Callable[[Learner, dict[str, float]], None] | None = None,
                  on_encode: Callable[[int, int], None] | None = None
                  ) -> tuple[Learner, str | None]:
    """The model of the current labels: the saved one (and its file), or one trained now
    (and None: the caller saves it with ``save_model``); ``on_encode`` as in ``train``, and
    it goes on hearing an encoder learner's later encodings (through a fine-tuned encoder,
    the pool's, as a strategy reads it)."""
    found = find_model(conn, data, model)
    learner, file = found if found is not None else (
        train(data, model, on_epoch=on_epoch, on_encode=on_encode), None)
    if hasattr(learner, "on_encode"):  # EncoderLearner and its subclasses
        learner.on_encode = on_encode
    return learner, file


def save_model(conn: sqlite3.Connection, data: ProjectData, learner: Learner, model: str,
               round_: int, *, in_transaction: bool = False) -> tuple[str, list[str]]:
    """Save a model trained on ``data.labels`` under models/ and record it; drop the rows of
    all but the newest ``KEEP_MODELS``. Returns the file and the files to delete once the
    transaction has committed (``delete_files``)."""
    key = store.fingerprint(data.labels.items, data.labels.labels)
    file = f"models/{model}-r{round_:04d}-{key[:8]}-{training_key(data, model)}.pt"
    (data.folder / "models").mkdir(exist_ok=True)
    learner.save(data.folder / file)
    if in_transaction:
        return file, _record(conn, file, round_, model, len(data.labels), key)
    with store.transaction(conn):
        return file, _record(conn, file, round_, model, len(data.labels), key)


def _record(conn: sqlite3.Connection, file: str, round_: int, model: str, n_labeled: int,
            key: str) -> list[str]:
    store.add_model_in(conn, file=file, round_=round_, model=model, n_labeled=n_labeled, key=key)
    return prune_models(conn, keep=KEEP_MODELS, protect=file)


def prune_models(conn: sqlite3.Connection, *, keep: int, protect: str) -> list[str]:
    """Drop the rows of all model files but the newest ``keep`` and ``protect`` (inside an
    open transaction); returns their files, to delete after the commit."""
    rows = store.model_rows(conn)
    stale = [r["file"] for r in rows[keep:] if r["file"] != protect]
    for file in stale:
        store.drop_model_in(conn, file)
    return stale


def delete_files(folder: Path, files: Iterable[str]) -> None:
    """Delete pruned model files (already forgotten by the database); missing ones are fine."""
    for file in files:
        path = folder / file
        if path.parent == folder / "models" and path.suffix == ".pt":
            path.unlink(missing_ok=True)


def load_model(path: Path) -> Learner:
    """Load a saved model without unpickling anything; refuse any other file."""
    from alden.models.families import load_learner

    try:
        return load_learner(path)
    except AldenError as err:
        raise ProjectError(f"refusing to load the model {path}: it is not a weights-only alden "
                           f"model file ({err}). Delete it, or run `alden query` to train a "
                           f"new one.") from None
