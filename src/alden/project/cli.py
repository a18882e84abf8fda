"""The `alden` subcommands of a labeling project: init, query, teach, label, status, predict.

Each ``cmd_*`` handler calls the function that does the command's work (in project_data,
project_query, project_status, project_predict or labeler) and prints what happened;
``register_cli`` adds them to the `alden` parser. The project folder is described in
project_data.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import textwrap
from collections import Counter
from pathlib import Path

from alden.atomic import write_atomic
from alden.errors import AldenError
from alden.project.backup_cli import check_database, register_backup_cli
from alden.project.check_cli import check_lines, register_check_cli
from alden.project.predict import predict
from alden.project.query import query
from alden.project.status import status
from alden.project.teach import teach_file
from alden.project.workspace import init_project


def cmd_init(args: argparse.Namespace) -> int:
    """`alden init`: a new project from a data file."""
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
    if args.check:
        from alden.project.check_set import add_check

        for line in check_lines(add_check(result.folder, args.check), args.project):
            print(line)
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
    """`alden query`: the next batch to label, with a reason for each item."""
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
    """`alden teach`: read a labeled batch file back into the project."""
    def announce(n: int) -> None:
        print(f"all rows checked; writing {n} labels in one transaction", flush=True)

    result = teach_file(args.project, args.file, id_column=args.id_column,
                        label_column=args.label_column, skip_bad=args.skip_bad,
                        add_classes=args.add_classes, overwrite=args.overwrite, who=args.who,
                        on_write=announce, on_conflict=args.on_conflict)
    c = result.change
    print(f"{args.file}: {result.rows} rows: {c.added} new labels, {c.unchanged} unchanged, "
          f"{c.replaced} replaced, {result.blank} blank (left unlabeled)")
    if result.new_classes:
        print(f"new classes: {', '.join(result.new_classes)}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} bad row(s):")
        for line in result.skipped:
            print(f"  {line}")
    if result.conflicts:
        print(f"annotators disagreed on {len(result.conflicts)} task(s) (every answer is kept):")
        for line in result.conflicts:
            print(f"  {line}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """`alden status`: labels so far, rounds, and cross-validated accuracy by round."""
    _use_threads(args)
    if args.check:
        check_database(args.project)
    s = status(args.project, folds=args.folds, model=args.model, curve=not args.no_curve)
    if args.json:  # the same fields for scripts
        import json

        from alden.project.stopping_status import status_json

        print(json.dumps(status_json(s), indent=1))
        return 0
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
    if s.stopping is not None:
        from alden.project.stopping_status import stopping_lines

        print("\n".join(stopping_lines(s.stopping)))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """`alden predict`: labels for new data from the latest model."""
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
    """`alden label`: label the next batch at the terminal."""
    _use_threads(args)
    from alden.project.labeler import run

    return run(args.project, batch=args.batch, strategy=args.strategy, model=args.model,
               who=args.who)


def register_cli(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--check", type=int, default=None, metavar="N",
                   help="set aside N items drawn at random to measure accuracy without "
                        "bias (never trained on; see `alden check`)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("query", help="train on the labels so far and pick the next batch")
    p.add_argument("project")
    p.add_argument("--k", type=int, required=True, help="how many items to pick")
    p.add_argument("--strategy", help="default: alden (text) or dami (tabular); options as "
                   "NAME:KEY=VALUE, e.g. alden:output=proba")
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
    p.add_argument("--on-conflict", choices=("latest", "majority", "skip"),
                   help="a Label Studio task whose annotators disagree: take the latest answer, "
                   "the majority (a tie stays open), or skip it (open, resolved on the status "
                   "page of `alden serve`); default: refuse the file and list them")
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
    p.add_argument("--check", action="store_true",
                   help="first check the whole database file (SQLite's integrity_check)")
    p.add_argument("--json", action="store_true",
                   help="print the status as JSON (counts, accuracy, check set, criteria)")
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

    register_backup_cli(sub)  # restore, export
    register_check_cli(sub)  # check

