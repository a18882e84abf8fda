"""`alden query`'s work: train on the labels so far, pick the next batch, write it out.

A query trains a model from scratch on every label so far (or reuses the saved one of the
same labels) and lets the strategy pick the batch, written as CSV, JSON Lines and Label Studio
tasks with each pick's reason (``batch_files``). With too few labels (fewer than
``MIN_LABELS``, or one class only) it picks a diverse cold-start batch instead: greedy
k-center on word2vec sentence means (text) or on the scaled features (tables), so the first
labels cover the data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse

from alden.data.pool import Pool
from alden.errors import AldenError, ProjectError
from alden.models.factory import check_model
from alden.models.outputs import DEFAULT_OUTPUT
from alden.project import store
from alden.project.backup import make_backup
from alden.project.batch_files import write_batch
from alden.project.locks import query_lock
from alden.project.stop_records import record_state
from alden.project.trained import current_model, delete_files, save_model
from alden.project.workspace import ProjectData, open_pool, read_project, too_few_labels
from alden.strategies.base import Selection, Strategy
from alden.strategies.interpretation import Alden
from alden.strategies.reasons import Reason
from alden.streams import round_rng

if TYPE_CHECKING:
    from alden.models.contract import Learner


@dataclass(frozen=True)
class QueryResult:
    """A batch picked by `query`: the picks with their reasons and the files written."""
    kind: str
    round: int
    strategy: str
    model: str
    n_labeled: int
    cold_start: str | None  # why the batch was picked cold, if it was
    picks: tuple[store.Pick, ...]
    files: tuple[Path, ...]
    model_file: str | None


def query(folder: str | Path, k: int, *, strategy: str | None = None, model: str | None = None,
          out: str | Path | None = None, conn: sqlite3.Connection | None = None,
          on_step: Callable[[str], None] | None = None) -> QueryResult:
    """Train on the labels so far, pick the next ``k`` items, write them out, record the round.
    ``on_step(text)`` hears each step as it starts (and each training epoch), for a
    progress display."""
    own = conn is None
    with query_lock(folder):  # one query at a time on a project, across processes
        conn = conn or store.connect(folder)
        try:
            make_backup(conn, folder, "query")
            return _query(conn, Path(folder), k, strategy, model, out, on_step or _silent)
        finally:
            if own:
                conn.close()


def _silent(text: str) -> None:
    """No progress display."""


def _query(conn: sqlite3.Connection, folder: Path, k: int, strategy: str | None,
           model: str | None, out: str | Path | None, say: Callable[[str], None]
           ) -> QueryResult:
    if k < 1:
        raise AldenError(f"--k must be at least 1, got {k}")
    data = read_project(conn, folder)
    settings = data.settings
    model = check_model(data.kind, model or settings["model"])
    from alden.strategies import strategy_from_spec

    # Bad specs, and strategies that cannot work on this kind of data, fail before training.
    chosen = strategy_from_spec(strategy or settings["strategy"], data.kind)
    pool, keep = open_pool(data)  # check items are never picked
    if len(pool.unlabeled) == 0:
        raise AldenError(f"{folder}: every item is labeled; nothing is left to query")
    k = min(k, len(pool.unlabeled))
    cold = too_few_labels(data)
    if cold:
        batch = cold_start_batch(data, pool, keep, k, say)
    else:
        batch = model_batch(conn, data, chosen, model, pool, keep, k, say)
    say("writing the batch")
    round_, written = _record_round(conn, data, batch, model, Path(out) if out else
                                    folder / "batches", info={"k": k, "cold_start": cold})
    if batch.learner is not None:  # what the stopping criteria read (alden status)
        record_state(conn, data, batch.learner, model, round_,
                     known_coverage=batch.known_coverage)
    delete_files(folder, written.stale)  # pruned models, once their rows are gone
    return QueryResult(data.kind, round_, batch.strategy, model, len(data.labels), cold,
                       batch.picks, written.files, written.model_file)


@dataclass(frozen=True)
class Batch:
    """The picks of a query, the strategy that made them ("cold-start" without a model) and
    the model they came from: None when cold; ``model_file`` None when trained just now."""
    picks: tuple[store.Pick, ...]
    strategy: str
    learner: Learner | None = None
    model_file: str | None = None
    known_coverage: float | None = None  # the ALDEN diversity left, when the picks hold it


def cold_start_batch(data: ProjectData, pool: Pool, keep: np.ndarray, k: int,
                     say: Callable[[str], None]) -> Batch:
    """``k`` diverse items by greedy k-center, away from the labeled ones: on pooled sentence
    embeddings (an encoder), word2vec sentence means (text) or the scaled features (tables)."""
    from alden.kernels import kcenter_greedy_picks

    say(f"cold start: picking {k} diverse items")
    if data.kind == "text" and data.settings.get("encoder"):  # pooled sentence embeddings
        from alden.models.encoder_cache import shared_table

        features = shared_table(data.settings["encoder"], data.x).pooled.astype(np.float64)
    elif data.kind == "text":
        if data.embeddings is None:
            raise ProjectError(f"{data.folder / 'encoding' / 'embeddings.npy'} is missing: "
                               f"the project is damaged")
        features = sentence_means(data.x, data.embeddings)
    else:
        features = data.x.astype(np.float64)
    picked, distances = kcenter_greedy_picks(features[keep], pool.labeled, k)
    items = keep[picked]
    picks = tuple(store.Pick(int(i), float(d), Reason("cold_start", float(d), first=(
        n == 0 and len(pool.labeled) == 0)), None, None)
        for n, (i, d) in enumerate(zip(items, distances, strict=True)))
    return Batch(picks, "cold-start")


def model_batch(conn: sqlite3.Connection, data: ProjectData, chosen: Strategy, model: str,
                pool: Pool, keep: np.ndarray, k: int, say: Callable[[str], None]) -> Batch:
    """``k`` items the strategy ``chosen`` picks with the model of the current labels
    (trained once per labeled state, shared with predict); the strategy draws from (seed,
    round): the same project state, the same batch."""
    from alden.strategies import strategy_spec

    round_guess = store.current_round(conn) + 1
    n_labels = len(data.labels)
    say(f"training {model} on {n_labels} labels")
    learner, cached = current_model(conn, data, model, on_epoch=lambda learner, record: say(
        training_message(model, n_labels, learner, record)))
    strategy = strategy_spec(chosen)
    say(f"{strategy} choosing {k:,} of {len(pool.unlabeled):,} unlabeled items")
    selection = chosen.select(
        learner, pool, k, round_rng(int(data.settings["seed"]), round_guess))
    indices = keep[np.asarray(selection.indices, dtype=np.int64)]
    proba = learner.predict_proba(data.x[indices])
    reasons = selection.reasons or [None] * len(indices)
    picks = tuple(store.Pick(int(i), float(s), r, int(p.argmax()), float(p.max()))
                  for i, s, r, p in zip(indices, selection.scores, reasons, proba, strict=True))
    return Batch(picks, strategy, learner, cached, first_alden_diversity(chosen, pool, selection))


def training_message(model: str, n_labels: int, learner: Learner, record: dict[str, float]
                     ) -> str:
    """One line of training progress: an epoch, or a step of a fine-tune (``+setfit``;
    step 0 says how long the fine-tune should take, from its step budget)."""
    if "steps" not in record:
        return (f"training {model} on {n_labels} labels: epoch {record['epoch']:.0f} of "
                f"{learner.config.fixed_epochs}")
    what = f"fine-tuning {model} on {n_labels} labels"
    if record["step"] == 0:
        return (f"{what}: {record['steps']:.0f} steps, about "
                f"{record['expected_seconds'] / 60:.1f} min")
    return f"{what}: step {record['step']:.0f} of {record['steps']:.0f}"


@dataclass(frozen=True)
class Written:
    """What recording a round wrote: the batch files, the model file (saved now or found),
    and the pruned model files to delete once the transaction has committed."""
    files: tuple[Path, ...]
    model_file: str | None
    stale: tuple[str, ...]


def _record_round(conn: sqlite3.Connection, data: ProjectData, batch: Batch, model: str,
                  out: Path, *, info: dict[str, Any]) -> tuple[int, Written]:
    """Record the batch as the next round, in one transaction; its model and batch files are
    written inside it, while the round's number is held by the lock."""
    with store.transaction(conn):
        round_ = store.current_round(conn) + 1
        model_file = batch.model_file
        stale: list[str] = []
        if batch.learner is not None and model_file is None:
            model_file, stale = save_model(conn, data, batch.learner, model, round_,
                                           in_transaction=True)
        files = write_batch(data, batch.picks, round_, out, version=f"round {round_} {model}")
        store.add_round_in(conn, round_, strategy=batch.strategy, model=model,
                           n_labeled=len(data.labels), picks=batch.picks,
                           info={**info, "files": [str(f) for f in files],
                                 "model_file": model_file})
    return round_, Written(files, model_file, tuple(stale))


def first_alden_diversity(chosen: Strategy, pool: Pool, selection: Selection) -> float | None:
    """The largest ALDEN diversity left in the pool, when the query's own ALDEN picks hold it
    (its first greedy pick on word tokens, read as the stopping criterion reads it); else
    None and ``record_state`` computes it."""
    if (isinstance(chosen, Alden) and chosen.output == DEFAULT_OUTPUT
            and pool.continues is None and len(selection.scores)):
        return float(selection.scores[0])
    return None


def sentence_means(x: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Each sentence's mean word vector over its tokens (pads left out), as one sparse product."""
    rows, cols = np.nonzero(x)
    counts = scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, x[rows, cols])),
                                     shape=(len(x), len(embeddings)))
    lengths = np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1)
    return np.asarray(counts @ embeddings.astype(np.float64)) / lengths[:, None]
