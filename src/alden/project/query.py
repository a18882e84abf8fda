"""`alden query`'s work: train on the labels so far, pick the next batch, write it out.

A query trains a model from scratch on every label so far (or reuses the saved one of the
same labels) and lets the strategy pick the batch, written as CSV, JSON Lines and Label Studio
tasks with each pick's reason (``batch_files``). With too few labels (fewer than
``MIN_LABELS``, or one class only) it picks a cold-start batch instead, without a model: the
project's cold start (``settings["cold_start"]``, else ``default_cold_start``: TypiClust
on word2vec sentence means, random picks on pooled encoder embeddings and table features,
as measured in docs/runs/cold_start).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alden.cli_types import plural
from alden.data.pool import Pool
from alden.errors import AldenError, ProjectError
from alden.models.factory import check_model
from alden.models.outputs import DEFAULT_OUTPUT
from alden.models.sharded import sharded_learner
from alden.project import store
from alden.project.backup import make_backup
from alden.project.batch_files import write_batch
from alden.project.locks import query_lock
from alden.project.progress import Say, encoding, epochs, silent
from alden.project.stop_records import record_state
from alden.project.trained import current_model, delete_files, save_model
from alden.project.workspace import (
    ProjectData,
    open_pool,
    read_project,
    too_few_labels,
    unlabeled_classes,
)
from alden.strategies.base import Selection, Strategy
from alden.strategies.interpretation import Alden
from alden.streams import cold_start_rng, round_rng

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
    cold_start_method: str | None = None  # the cold start that picked it, if cold
    unlabeled_classes: tuple[str, ...] = ()  # classes with no label yet (a warning)


def query(folder: str | Path, k: int, *, strategy: str | None = None, model: str | None = None,
          out: str | Path | None = None, conn: sqlite3.Connection | None = None,
          on_step: Say | None = None, cold_start: str | None = None,
          subpool: int | None = None) -> QueryResult:
    """Train on the labels so far, pick the next ``k`` items, write them out, record the round.
    ``on_step(text[, done, total])`` hears each step as it starts, with counts while the
    pool is encoded and the model trains (``alden.project.progress``). ``cold_start``: the
    method while labels are too few (default: the project's). ``subpool``: pick among this
    many candidates near the labeled items (the strategy's ``subpool=N``; the project's
    setting keeps it when its strategy was given as ``NAME:subpool=N``)."""
    own = conn is None
    with query_lock(folder):  # one query at a time on a project, across processes
        conn = conn or store.connect(folder)
        try:
            make_backup(conn, folder, "query")
            return _query(conn, Path(folder), k, strategy, model, out, on_step or silent,
                          cold_start, subpool)
        finally:
            if own:
                conn.close()


def _query(conn: sqlite3.Connection, folder: Path, k: int, strategy: str | None,
           model: str | None, out: str | Path | None, say: Say,
           cold_start: str | None, subpool: int | None) -> QueryResult:
    if k < 1:
        raise AldenError(f"--k must be at least 1, got {k}")
    data = read_project(conn, folder)
    settings = data.settings
    model = check_model(data.kind, model or settings["model"])
    from alden.strategies import strategy_from_spec, with_subpool
    from alden.strategies.cold_start import check_cold_start, default_cold_start

    # Bad specs, and strategies that cannot work on this kind of data, fail before training.
    chosen = strategy_from_spec(with_subpool(strategy or settings["strategy"], subpool),
                                data.kind)
    method = check_cold_start(cold_start or settings.get("cold_start") or default_cold_start(
        data.kind, bool(settings.get("encoder"))))
    pool, keep = open_pool(data)  # check items are never picked
    if len(pool.unlabeled) == 0:
        raise AldenError(f"{folder}: every item is labeled; nothing is left to query")
    k = min(k, len(pool.unlabeled))
    cold = too_few_labels(data)
    if cold:
        batch = cold_start_batch(conn, data, pool, keep, k, method, say)
    else:
        batch = model_batch(conn, data, chosen, model, pool, keep, k, say)
    say("writing the batch")
    info: dict[str, Any] = {"k": k, "cold_start": cold}
    if cold:
        info["cold_start_method"] = method
    round_, written = _record_round(conn, data, batch, model, Path(out) if out else
                                    folder / "batches", info=info)
    if batch.learner is not None:  # what the stopping criteria read (alden status)
        record_state(conn, data, batch.learner, model, round_,
                     known_coverage=batch.known_coverage, pool_proba=batch.pool_proba)
    delete_files(folder, written.stale)  # pruned models, once their rows are gone
    return QueryResult(data.kind, round_, batch.strategy, model, len(data.labels), cold,
                       batch.picks, written.files, written.model_file,
                       method if cold else None, unlabeled_classes(data))


@dataclass(frozen=True)
class Batch:
    """The picks of a query, the strategy that made them ("cold-start" without a model) and
    the model they came from: None when cold; ``model_file`` None when trained just now."""
    picks: tuple[store.Pick, ...]
    strategy: str
    learner: Learner | None = None
    model_file: str | None = None
    known_coverage: float | None = None  # the ALDEN diversity left, when the picks hold it
    pool_proba: np.ndarray | None = None  # the pool's probabilities, when the strategy has them


def cold_start_batch(conn: sqlite3.Connection, data: ProjectData, pool: Pool,
                     keep: np.ndarray, k: int, method: str, say: Say) -> Batch:
    """``k`` items picked without a model by the cold start ``method``
    (``strategies.cold_start``), away from the labeled ones where the method uses them: on
    pooled sentence embeddings (an encoder), word2vec sentence means (text) or the scaled
    features (tables); it draws from (seed, round): the same project state, the same batch."""
    from alden.models.representations import item_representations
    from alden.strategies.cold_start import cold_start, reads_representations

    say(f"cold start: picking {k} items by {method}")
    if not reads_representations(method):  # random picks: nothing to encode
        features = np.empty((len(data.x), 0))
    else:
        if data.kind == "text" and not data.settings.get("encoder") and data.embeddings is None:
            raise ProjectError(f"{data.folder / 'encoding' / 'embeddings.npy'} is missing: "
                               f"the project is damaged")
        features = item_representations(data.settings.get("encoder") or data.settings["model"],
                                        data.kind, data.x, data.embeddings,
                                        on_progress=encoding(say))
    rng = cold_start_rng(int(data.settings["seed"]), store.current_round(conn) + 1)
    chosen = cold_start(method, features[keep], k, rng, labeled=pool.labeled,
                        metric="cosine" if data.kind == "text" else "euclidean")
    items = keep[np.asarray(chosen.indices, dtype=np.int64)]
    reasons = chosen.reasons or [None] * len(items)
    picks = tuple(store.Pick(int(i), float(s), r, None, None)
                  for i, s, r in zip(items, chosen.scores, reasons, strict=True))
    return Batch(picks, "cold-start")


def model_batch(conn: sqlite3.Connection, data: ProjectData, chosen: Strategy, model: str,
                pool: Pool, keep: np.ndarray, k: int, say: Say) -> Batch:
    """``k`` items the strategy ``chosen`` picks with the model of the current labels
    (trained once per labeled state, shared with predict); the strategy draws from (seed,
    round): the same project state, the same batch."""
    from alden.strategies import strategy_spec

    round_guess = store.current_round(conn) + 1
    n_labels = len(data.labels)
    training = f"training {model} on {plural(n_labels, 'label')}"
    say(training)
    learner, cached = current_model(conn, data, model, on_epoch=epochs(say, training),
                                    on_encode=encoding(say))
    learner = sharded_learner(learner)  # in shards on a Ray cluster, when one is attached
    strategy = strategy_spec(chosen)
    say(f"{strategy} choosing {k:,} of {len(pool.unlabeled):,} unlabeled items")
    selection = chosen.select(
        learner, pool, k, round_rng(int(data.settings["seed"]), round_guess))
    indices = keep[np.asarray(selection.indices, dtype=np.int64)]
    proba = learner.predict_proba(data.x[indices])
    reasons = selection.reasons or [None] * len(indices)
    picks = tuple(store.Pick(int(i), float(s), r, int(p.argmax()), float(p.max()))
                  for i, s, r, p in zip(indices, selection.scores, reasons, proba, strict=True))
    return Batch(picks, strategy, learner, cached, first_alden_diversity(chosen, pool, selection),
                 selection.pool_proba)


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
            and not chosen.candidates and pool.continues is None and len(selection.scores)):
        return float(selection.scores[0])
    return None
