"""The labeling project's commands: init, query, teach, label, status, predict.

A project is a folder::

    PROJECT/project.db          items, classes, labels, rounds, settings (alden.project)
    PROJECT/encoding/x.npy      the pool encoded for the models (token ids or scaled features)
    PROJECT/encoding/embeddings.npy   word2vec vectors of the vocabulary (text projects)
    PROJECT/models/*.pt         trained models (Learner.save: weights and JSON, no pickle)
    PROJECT/batches/round-NNNN.{csv,jsonl,labelstudio.json}   the batches asked for
    PROJECT/status/learning_curve.png

Each function here does one command's work and returns what happened; the ``cmd_*``
handlers print it. Text projects default to the ALDEN strategy with a TextCNN, tabular ones to
DAMI with an MLP. With too few labels (fewer than ``MIN_LABELS``, or one class only) a query
picks a diverse cold-start batch instead: greedy k-center on word2vec sentence means (text)
or on the scaled features (tables), so the first labels cover the data.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import project as store
from .errors import AldenError
from .project_data import (
    ProjectData,
    check_model,
    display_text,
    init_project,
    read_project,
    save_model,
    sentence_means,
    too_few_labels,
    train,
    user_name,
    write_atomic,
)
from .project_predict import predict
from .project_status import status

# ---- query ------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueryResult:
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
          out: str | Path | None = None, conn=None) -> QueryResult:
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
    strategy = strategy or settings["strategy"]
    pool = data.pool()
    if len(pool.unlabeled) == 0:
        raise AldenError(f"{folder}: every item is labeled; nothing is left to query")
    k = min(k, len(pool.unlabeled))
    seed = int(settings["seed"])
    cold = too_few_labels(data)
    learner = None
    if cold:
        from .selection import kcenter_greedy_picks

        features = (sentence_means(data.x, data.embeddings) if data.kind == "text"
                    else data.x.astype(np.float64))
        picked, distances = kcenter_greedy_picks(features, pool.labeled, k)
        picks = [store.Pick(int(i), float(d), _cold_reason(data.kind, d, first=(
            n == 0 and len(pool.labeled) == 0)), None, None)
            for n, (i, d) in enumerate(zip(picked, distances, strict=True))]
        used = "cold-start"
    else:
        from .strategies import get_strategy

        # Seeds from the number of rounds so far: the same project state, the same batch.
        round_guess = store.current_round(conn) + 1
        learner = train(data, model, seed * 1000 + round_guess)
        selection = get_strategy(strategy).select(learner, pool, k,
                                                  np.random.default_rng([seed, round_guess]))
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
    from .text import tokenize_texts

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


def write_batch(data: ProjectData, picks, round_: int, out: Path, *,
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


def label_studio_tasks(data: ProjectData, picks, version: str) -> list[dict[str, Any]]:
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
               on_write=None) -> store.TeachResult:
    """Import labels from a file: all rows checked first, then one transaction."""
    rows = store.read_label_file(path, id_column=id_column, label_column=label_column)
    conn = store.connect(folder)
    try:
        return store.teach(conn, rows, source=f"teach {Path(path).name}", who=who or user_name(),
                           skip_bad=skip_bad, add_classes=add_classes, overwrite=overwrite,
                           on_write=on_write)
    finally:
        conn.close()


# ---- the command line -------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip()) \
        if args.classes else ()
    result = init_project(args.project, args.data, text_column=args.text_column,
                          target_column=args.target_column, id_column=args.id_column,
                          label_column=args.label_column, kind=args.kind,
                          labels_file=args.labels, classes=classes, seed=args.seed,
                          embedding_dim=args.embedding_dim, encoding=args.encoding)
    vocab = f", vocabulary of {result.vocab} words" if result.vocab else ""
    print(f"made project {result.folder}: {result.items} {result.kind} items{vocab}")
    print(f"classes: {', '.join(result.classes) or '(none yet: the first teach sets them)'}; "
          f"labels: {result.labels}")
    print(f"next: alden query {result.folder} --k 20")
    return 0


def _use_threads(args: argparse.Namespace) -> None:
    """Torch threads for training when --threads is given (else torch's default, every core).

    Measured on a 2-core machine, fitting the TextCNN on 150 Subj labels: 2 threads took
    0.6x the time of 1 when the machine was quiet, but 5-15x longer when other processes
    kept it busy; there, --threads 1 is the fix.
    """
    if args.threads is None:
        return
    import torch

    if args.threads < 1:
        raise AldenError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)


def cmd_query(args: argparse.Namespace) -> int:
    _use_threads(args)
    result = query(args.project, args.k, strategy=args.strategy, model=args.model, out=args.out)
    if result.cold_start:
        space = "word2vec sentence means" if result.kind == "text" else "scaled features"
        print(f"cold start ({result.cold_start}): picked {len(result.picks)} diverse items "
              f"by k-center on {space}")
    else:
        print(f"trained {result.model} on {result.n_labeled} labels; {result.strategy} picked "
              f"{len(result.picks)} items (model saved as {result.model_file})")
    print(f"round {result.round}: the batch is in")
    for path in result.files:
        print(f"  {path}")
    print(f"fill in the label column, then: alden teach {args.project} {result.files[0]}")
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    def announce(n: int) -> None:
        print(f"all rows checked; writing {n} labels in one transaction", flush=True)

    result = teach_file(args.project, args.file, id_column=args.id_column,
                        label_column=args.label_column, skip_bad=args.skip_bad,
                        add_classes=args.add_classes, overwrite=args.overwrite, who=args.who,
                        on_write=announce)
    c = result.change
    print(f"{args.file}: {result.rows} rows: {c.added} new labels, {c.unchanged} unchanged, "
          f"{c.replaced} replaced, {result.blank} blank (left unlabeled)")
    if result.new_classes:
        print(f"new classes: {', '.join(result.new_classes)}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} bad row(s):")
        for line in result.skipped:
            print(f"  {line}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _use_threads(args)
    s = status(args.project, folds=args.folds, model=args.model, curve=not args.no_curve)
    labeled = sum(s.counts.values())
    print(f"{args.project}: {s.items} items, {labeled} labeled, {s.items - labeled} unlabeled")
    for name, n in s.counts.items():
        share = f"{n / labeled:.0%}" if labeled else "-"
        print(f"  {name:<20} {n:6d}  {share:>4}")
    print(f"rounds: {len(s.rounds)}")
    for r in s.rounds:
        print(f"  round {r['round']}: {r['at']}  {r['strategy']:<10} {r['size']} picked, "
              f"{r['labeled_now']} labeled now (model trained on {r['n_labeled']})")
    if s.accuracy is None:
        print(f"accuracy: {s.why_no_accuracy}")
    else:
        a = s.accuracy
        print(f"accuracy ({s.model}, {a.folds}-fold cross-validation on {a.n_labeled} labels): "
              f"{a.accuracy:.3f} ± {a.std:.3f} (majority class: {s.majority:.3f})")
    for r, n, acc, std in s.curve:
        print(f"  after round {r}: {n} labels, accuracy {acc:.3f} ± {std:.3f}")
    if s.plot:
        print(f"learning curve: {s.plot}")
    if s.latest_model:
        m = s.latest_model
        print(f"latest model: {m['file']} ({m['model']}, {m['n_labeled']} labels, {m['at']})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    _use_threads(args)
    result = predict(args.project, args.data, text_column=args.text_column,
                     id_column=args.id_column, model=args.model)
    if result.trained_now:
        print(f"trained a model on every label first: {result.model_file}", file=sys.stderr)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["id", "predicted", "confidence", *(f"p_{c}" for c in result.classes)])
    for item, p in zip(result.ids, result.proba, strict=True):
        writer.writerow([item, result.classes[int(p.argmax())], f"{p.max():.4f}",
                         *(f"{v:.4f}" for v in p)])
    if args.out:
        write_atomic(Path(args.out), table.getvalue())
        counts = Counter(result.classes[int(i)] for i in result.proba.argmax(axis=1))
        print(f"wrote {len(result.ids)} predictions to {args.out} ("
              + ", ".join(f"{c}: {counts[c]}" for c in result.classes) + ")")
    else:
        sys.stdout.write(table.getvalue())
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    _use_threads(args)
    from .labeler import run

    return run(args.project, batch=args.batch, strategy=args.strategy, model=args.model,
               who=args.who)


def register_cli(sub) -> None:
    """Add init, query, teach, label, status and predict to the `alden` command."""
    p = sub.add_parser("init", help="make a labeling project from a file of texts or rows",
                       description=textwrap.dedent(init_project.__doc__))
    p.add_argument("project", help="folder to create")
    p.add_argument("--data", required=True, help="CSV, TSV or JSON Lines file")
    p.add_argument("--text-column", help="column holding the text (default: text)")
    p.add_argument("--target-column", help="for a table: the label column (may be blank)")
    p.add_argument("--kind", choices=("text", "tabular"),
                   help="text or tabular (default: tabular with --target-column, else text)")
    p.add_argument("--id-column", help="column of stable ids (default: line numbers)")
    p.add_argument("--label-column", help="text: a column holding some labels already")
    p.add_argument("--labels", help="a CSV/JSON Lines file of id,label to start with")
    p.add_argument("--classes", help="the class names, comma-separated (else from the labels)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--embedding-dim", type=int, default=100)
    p.add_argument("--encoding", default="utf-8", help="the data file's text encoding")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("query", help="train on the labels so far and pick the next batch")
    p.add_argument("project")
    p.add_argument("--k", type=int, required=True, help="how many items to pick")
    p.add_argument("--strategy", help="default: alden (text) or dami (tabular)")
    p.add_argument("--model", help="cnn or bilstm (text), mlp (tabular)")
    p.add_argument("--out", help="folder for the batch files (default: PROJECT/batches)")
    p.add_argument("--threads", type=int, help="torch threads (default: every core)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("teach", help="import labels (CSV, JSON Lines, Label Studio export)")
    p.add_argument("project")
    p.add_argument("file")
    p.add_argument("--id-column", default="id")
    p.add_argument("--label-column", default="label")
    p.add_argument("--skip-bad", action="store_true", help="write the good rows, list the bad")
    p.add_argument("--add-classes", action="store_true", help="allow labels that are new classes")
    p.add_argument("--overwrite", action="store_true", help="replace labels that differ")
    p.add_argument("--who", help="who gave these labels (default: your user name)")
    p.set_defaults(func=cmd_teach)

    p = sub.add_parser("label", help="label in the terminal, one keystroke per item")
    p.add_argument("project")
    p.add_argument("--batch", type=int, default=10, help="labels between retrainings")
    p.add_argument("--strategy")
    p.add_argument("--model")
    p.add_argument("--who")
    p.add_argument("--threads", type=int, help="torch threads (default: every core)")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("status", help="counts, rounds, cross-validated accuracy, curve")
    p.add_argument("project")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--model")
    p.add_argument("--no-curve", action="store_true", help="skip the per-round learning curve")
    p.add_argument("--threads", type=int, help="torch threads (default: every core)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("predict", help="predict labels of a file with the latest model")
    p.add_argument("project")
    p.add_argument("--data", required=True)
    p.add_argument("--out", help="CSV file to write (default: standard output)")
    p.add_argument("--text-column")
    p.add_argument("--id-column")
    p.add_argument("--model")
    p.add_argument("--threads", type=int, help="torch threads (default: every core)")
    p.set_defaults(func=cmd_predict)

