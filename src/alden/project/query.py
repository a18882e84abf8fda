"""One round by files: ``query`` picks a batch and writes it out, ``teach_file`` reads labels in.

A query trains a model from scratch on every label so far and lets the strategy pick the
batch, written as CSV, JSON Lines and Label Studio tasks with each pick's reason. With too few
labels (fewer than ``MIN_LABELS``, or one class only) it picks a diverse cold-start batch
instead: greedy k-center on word2vec sentence means (text) or on the scaled features
(tables), so the first labels cover the data.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alden.atomic import write_atomic
from alden.data.pool import Pool
from alden.errors import AldenError
from alden.models.factory import check_model
from alden.models.outputs import DEFAULT_OUTPUT
from alden.project import store
from alden.project.backup import make_backup
from alden.project.check_set import open_pool, record_state
from alden.project.trained import current_model, delete_files, save_model
from alden.project.workspace import (
    ProjectData,
    display_text,
    read_project,
    sentence_means,
    too_few_labels,
)
from alden.strategies.base import Selection
from alden.strategies.interpretation import Alden
from alden.strategies.reasons import Reason, describe


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
    conn = conn or store.connect(folder)
    try:
        make_backup(conn, folder, "query")
        return _query(conn, Path(folder), k, strategy, model, out, on_step or _silent)
    finally:
        if own:
            conn.close()


def _silent(text: str) -> None:
    """No progress display."""


def _query(conn, folder: Path, k: int, strategy: str | None, model: str | None,
           out: str | Path | None, say: Callable[[str], None]) -> QueryResult:
    if k < 1:
        raise AldenError(f"--k must be at least 1, got {k}")
    data = read_project(conn, folder)
    settings = data.settings
    model = check_model(data.kind, model or settings["model"])
    from alden.strategies import strategy_from_spec, strategy_spec

    # Bad specs, and strategies that cannot work on this kind of data, fail before training.
    chosen = strategy_from_spec(strategy or settings["strategy"], data.kind)
    strategy = strategy_spec(chosen)
    pool, keep = open_pool(data)  # check items are never picked
    if len(pool.unlabeled) == 0:
        raise AldenError(f"{folder}: every item is labeled; nothing is left to query")
    k = min(k, len(pool.unlabeled))
    seed = int(settings["seed"])
    cold = too_few_labels(data)
    learner, cached, known_coverage = None, None, None
    if cold:
        from alden.kernels import kcenter_greedy_picks

        say(f"cold start: picking {k} diverse items")
        if data.kind == "text" and data.settings.get("encoder"):  # pooled sentence embeddings
            from alden.models.encoder_cache import shared_table

            features = shared_table(data.settings["encoder"], data.x).pooled.astype(np.float64)
        else:
            features = (sentence_means(data.x, data.embeddings) if data.kind == "text"
                        else data.x.astype(np.float64))
        picked, distances = kcenter_greedy_picks(features[keep], pool.labeled, k)
        picked = keep[picked]
        picks = [store.Pick(int(i), float(d), Reason("cold_start", float(d), first=(
            n == 0 and len(pool.labeled) == 0)), None, None)
            for n, (i, d) in enumerate(zip(picked, distances, strict=True))]
        used = "cold-start"
    else:
        # The model of these labels (trained once per labeled state, shared with predict);
        # the strategy draws from (seed, round): the same project state, the same batch.
        round_guess = store.current_round(conn) + 1
        n_labels = len(data.labels)
        say(f"training {model} on {n_labels} labels")
        learner, cached = current_model(conn, data, model, on_epoch=lambda learner, record: say(
            f"training {model} on {n_labels} labels: epoch {record['epoch']} of "
            f"{learner.config.fixed_epochs}"))
        say(f"{strategy} choosing {k:,} of {len(pool.unlabeled):,} unlabeled items")
        selection = chosen.select(
            learner, pool, k, np.random.default_rng([seed, round_guess]))
        indices = keep[np.asarray(selection.indices, dtype=np.int64)]
        proba = learner.predict_proba(data.x[indices])
        reasons = selection.reasons or [None] * len(indices)
        picks = [store.Pick(int(i), float(s), r, int(p.argmax()), float(p.max()))
                 for i, s, r, p in zip(indices, selection.scores, reasons, proba, strict=True)]
        used = strategy
        known_coverage = first_alden_diversity(chosen, pool, selection)

    written: dict[str, Any] = {"stale": []}
    say("writing the batch")

    def write_out(round_: int) -> dict[str, Any]:
        """Model and batch files, written while the round's number is held by the lock."""
        written["model_file"] = cached
        if learner is not None and cached is None:
            written["model_file"], written["stale"] = save_model(
                conn, data, learner, model, round_, in_transaction=True)
        written["files"] = write_batch(data, picks, round_,
                                       Path(out) if out else folder / "batches",
                                       version=f"round {round_} {model}")
        return {"files": [str(f) for f in written["files"]],
                "model_file": written["model_file"]}

    round_ = store.add_round(conn, strategy=used, model=model, n_labeled=len(data.labels),
                             picks=picks, info={"k": k, "cold_start": cold},
                             before_commit=write_out)
    if learner is not None:  # what the stopping criteria read (alden status)
        record_state(conn, data, learner, model, round_, known_coverage=known_coverage)
    delete_files(folder, written["stale"])  # pruned models, once their rows are gone
    return QueryResult(data.kind, round_, used, model, len(data.labels), cold, tuple(picks),
                       written["files"], written["model_file"])


def first_alden_diversity(chosen: Any, pool: Pool, selection: Selection) -> float | None:
    """The largest ALDEN diversity left in the pool, when the query's own ALDEN picks hold it
    (its first greedy pick on word tokens, read as the stopping criterion reads it); else
    None and ``record_state`` computes it."""
    if (isinstance(chosen, Alden) and chosen.output == DEFAULT_OUTPUT
            and pool.continues is None and len(selection.scores)):
        return float(selection.scores[0])
    return None


def reason_text(data: ProjectData, item: int, reason: Reason | str | None, width: int = 6
                ) -> str:
    """A pick's reason in words; one that names a word (ALDEN's) shows it in its sentence."""
    text = describe(reason, data.classes, "sentence" if data.kind == "text" else "row")
    if (not isinstance(reason, Reason) or reason.word is None or reason.position is None
            or data.kind != "text"):
        return text
    from alden.data.text import tokenize_texts

    tokens = tokenize_texts([data.contents[item]], data.settings["tokenized"])[0]
    at = reason.position
    if not 0 <= at < len(tokens) or tokens[at] != reason.word:
        return text
    left, right = tokens[max(0, at - width):at], tokens[at + 1:at + 1 + width]
    shown = " ".join([*left, f"[{reason.word}]", *right])
    shown = ("... " if at > width else "") + shown + \
        (" ..." if at + 1 + width < len(tokens) else "")
    return f'{text}; in "{shown}"'


def write_batch(data: ProjectData, picks: Sequence[store.Pick], round_: int, out: Path, *,
                version: str) -> tuple[Path, ...]:
    """The batch as CSV and JSON Lines (a blank label to fill in) and Label Studio tasks."""
    key = "text" if data.kind == "text" else "row"
    records = []
    for p in picks:
        content = data.contents[p.item]
        records.append({
            "id": data.ids[p.item], "label": "", key: content,
            "predicted": data.classes[p.predicted] if p.predicted is not None else "",
            "confidence": round(p.confidence, 4) if p.confidence is not None else "",
            "score": round(p.score, 6) if p.score is not None else "",
            "reason": reason_text(data, p.item, p.reason)})
    stem = out / f"round-{round_:04d}"
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(records[0]) if records else ["id", "label"])
    writer.writeheader()
    for r in records:
        writer.writerow({**r, key: r[key] if data.kind == "text" else json.dumps(r[key])})
    paths = (stem.with_suffix(".csv"), stem.with_suffix(".jsonl"),
             stem.with_name(stem.name + ".labelstudio.json"))
    write_atomic(paths[0], table.getvalue())
    write_atomic(paths[1], "".join(json.dumps({**r, "label": None}, ensure_ascii=False) + "\n"
                                    for r in records))
    write_atomic(paths[2], json.dumps(label_studio_tasks(data, picks, version),
                                       ensure_ascii=False, indent=1))
    if data.classes:
        write_atomic(out / "labelstudio-config.xml", label_studio_config(data.classes))
    return paths


def label_studio_tasks(data: ProjectData, picks: Sequence[store.Pick], version: str
                       ) -> list[dict[str, Any]]:
    """Label Studio's import format: a list of {"data": {...}}, with the model's guess as a
    pre-annotation ("predictions") when there is one. Exported annotations can be taught back."""
    tasks = []
    for p in picks:
        task: dict[str, Any] = {"data": {"text": display_text(data.contents[p.item]),
                                         "id": data.ids[p.item],
                                         "reason": reason_text(data, p.item, p.reason),
                                         "score": p.score}}
        if p.predicted is not None:
            task["predictions"] = [{"model_version": version, "score": p.confidence,
                                    "result": [{"from_name": "label", "to_name": "text",
                                                "type": "choices", "value": {
                                                    "choices": [data.classes[p.predicted]]}}]}]
        tasks.append(task)
    return tasks


def label_studio_config(classes: tuple[str, ...]) -> str:
    """A Label Studio labeling config matching the tasks: one text, one choice per class."""
    from xml.sax.saxutils import quoteattr

    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in classes)
    return (f'<View>\n  <Text name="text" value="$text"/>\n  <Header value="$reason"/>\n'
            f'  <Choices name="label" toName="text" choice="single">\n{choices}\n'
            f'  </Choices>\n</View>\n')
