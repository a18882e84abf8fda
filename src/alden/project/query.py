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
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alden.atomic import write_atomic
from alden.errors import AldenError
from alden.project import store
from alden.project.workspace import (
    ProjectData,
    check_model,
    display_text,
    read_project,
    save_model,
    sentence_means,
    too_few_labels,
    train,
    user_name,
)


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
          out: str | Path | None = None, conn: sqlite3.Connection | None = None
          ) -> QueryResult:
    """Train on the labels so far, pick the next ``k`` items, write them out, record the round."""
    own = conn is None
    conn = conn or store.connect(folder)
    try:
        return _query(conn, Path(folder), k, strategy, model, out)
    finally:
        if own:
            conn.close()


def _query(conn, folder: Path, k: int, strategy: str | None, model: str | None,
           out: str | Path | None) -> QueryResult:
    if k < 1:
        raise AldenError(f"--k must be at least 1, got {k}")
    data = read_project(conn, folder)
    settings = data.settings
    model = check_model(data.kind, model or settings["model"])
    from alden.strategies.catalog import strategy_from_spec, strategy_spec

    chosen = strategy_from_spec(strategy or settings["strategy"])  # bad specs fail here
    strategy = strategy_spec(chosen)
    pool = data.pool()
    if len(pool.unlabeled) == 0:
        raise AldenError(f"{folder}: every item is labeled; nothing is left to query")
    k = min(k, len(pool.unlabeled))
    seed = int(settings["seed"])
    cold = too_few_labels(data)
    learner = None
    if cold:
        from alden.kernels.selection import kcenter_greedy_picks

        features = (sentence_means(data.x, data.embeddings) if data.kind == "text"
                    else data.x.astype(np.float64))
        picked, distances = kcenter_greedy_picks(features, pool.labeled, k)
        picks = [store.Pick(int(i), float(d), _cold_reason(data.kind, d, first=(
            n == 0 and len(pool.labeled) == 0)), None, None)
            for n, (i, d) in enumerate(zip(picked, distances, strict=True))]
        used = "cold-start"
    else:
        # Seeds from the number of rounds so far: the same project state, the same batch.
        round_guess = store.current_round(conn) + 1
        learner = train(data, model, seed * 1000 + round_guess)
        selection = chosen.select(
            learner, pool, k, np.random.default_rng([seed, round_guess]))
        indices = np.asarray(selection.indices, dtype=np.int64)
        proba = learner.predict_proba(data.x[indices])
        reasons = [with_context(data, int(i), r) for i, r in
                   zip(indices, selection.reasons or [None] * len(indices), strict=True)]
        picks = [store.Pick(int(i), float(s), r, int(p.argmax()), float(p.max()))
                 for i, s, r, p in zip(indices, selection.scores, reasons, proba, strict=True)]
        used = strategy

    written: dict[str, Any] = {}

    def write_out(round_: int) -> dict[str, Any]:
        """Model and batch files, written while the round's number is held by the lock."""
        written["model_file"] = None if learner is None else save_model(
            conn, data, learner, model, round_, in_transaction=True)
        written["files"] = write_batch(data, picks, round_,
                                       Path(out) if out else folder / "batches",
                                       version=f"round {round_} {model}")
        return {"files": [str(f) for f in written["files"]],
                "model_file": written["model_file"]}

    round_ = store.add_round(conn, strategy=used, model=model, n_labeled=len(data.labels),
                             picks=picks, info={"k": k, "cold_start": cold},
                             before_commit=write_out)
    return QueryResult(data.kind, round_, used, model, len(data.labels), cold, tuple(picks),
                       written["files"], written["model_file"])


_REASON_WORD = re.compile(r'^word "(.+?)" \(position (\d+)\)')


def with_context(data: ProjectData, item: int, reason: str | None, width: int = 6
                 ) -> str | None:
    """A reason that names a word (ALDEN's) gets the word shown in its sentence: [word]."""
    match = _REASON_WORD.match(reason or "")
    if data.kind != "text" or match is None:
        return reason
    from alden.data.text import tokenize_texts

    word, at = match.group(1), int(match.group(2)) - 1
    tokens = tokenize_texts([data.contents[item]], data.settings["tokenized"])[0]
    if not 0 <= at < len(tokens) or tokens[at] != word:
        return reason
    left, right = tokens[max(0, at - width):at], tokens[at + 1:at + 1 + width]
    shown = " ".join([*left, f"[{word}]", *right])
    shown = ("... " if at > width else "") + shown + \
        (" ..." if at + 1 + width < len(tokens) else "")
    return f'{reason}; in "{shown}"'


def _cold_reason(kind: str, distance: float, *, first: bool) -> str:
    what = "sentence" if kind == "text" else "row"
    if first:  # k-center's start with nothing labeled: the most central item
        return f"cold start: the {what} nearest the centre of all (distance {distance:.3g})"
    return (f"cold start: the {what} farthest from every item labeled or picked before it "
            f"(distance {distance:.3g})")


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
            "reason": p.reason or ""})
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
                                         "id": data.ids[p.item], "reason": p.reason or "",
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


# ---- teach ------------------------------------------------------------------------------

def teach_file(folder: str | Path, path: str | Path, *, id_column: str = "id",
               label_column: str = "label", skip_bad: bool = False, add_classes: bool = False,
               overwrite: bool = False, who: str | None = None,
               on_write: Callable[[int], None] | None = None) -> store.TeachResult:
    """Import labels from a file: all rows checked first, then one transaction."""
    rows = store.read_label_file(path, id_column=id_column, label_column=label_column)
    conn = store.connect(folder)
    try:
        return store.teach(conn, rows, source=f"teach {Path(path).name}", who=who or user_name(),
                           skip_bad=skip_bad, add_classes=add_classes, overwrite=overwrite,
                           on_write=on_write)
    finally:
        conn.close()
