"""The `alden` subcommands of a labeling project: init, query, teach, label, status, predict.

Each ``cmd_*`` handler calls the function that does the command's work (in init, query,
teach, status, predict, check or labeler) and prints what happened; ``register_cli`` adds
them to the `alden` parser, one ``_add_*`` per command. The project folder is described in
``alden.project.workspace``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

from alden.atomic import write_atomic
from alden.cli_types import (
    add_data_options,
    class_names,
    delimiter,
    non_negative,
    plural,
    positive,
    whole,
)
from alden.cluster import attached
from alden.data.text import MAX_WORDS
from alden.models.families import listed_names, model_family
from alden.project.backup_cli import check_database, register_backup_cli
from alden.project.check import add_check
from alden.project.check_cli import check_lines, register_check_cli
from alden.project.init import InitResult, encode_items, init_project
from alden.project.predict import predict
from alden.project.progress import Say, encoding, silent
from alden.project.query import query
from alden.project.status import DEFAULT_FOLDS, status, status_json
from alden.project.status_text import status_lines, unlabeled_class_lines
from alden.project.teach import teach_file
from alden.strategies.cold_start import COLD_STARTS


def class_list(names: tuple[str, ...]) -> str:
    """Class names for a person: comma-separated, a name that holds a comma quoted
    ("bad, 'good, mostly'"), so the list reads as the classes it is."""
    return ", ".join(repr(n) if "," in n else n for n in names)


def cmd_init(args: argparse.Namespace) -> int:
    """`alden init`: a new project from a data file."""
    with attached(args.ray_address):
        result = _init(args)
        if args.ray_address:
            show = step_line(sys.stderr)
            try:
                encoded = encode_items(result.folder, encoding(show))
            finally:
                show("")
            if encoded:
                print(f"encoded {plural(encoded, 'item')} on the Ray cluster "
                      f"({args.ray_address}) into the encoder's cache")
    return 0


def _init(args: argparse.Namespace) -> InitResult:
    """Make the project and say what was made."""
    classes = args.classes or ()
    result = init_project(args.project, args.data, text_column=args.text_column,
                          target_column=args.target_column, id_column=args.id_column,
                          label_column=args.label_column, kind=args.kind,
                          labels_file=args.labels, classes=classes, seed=args.seed,
                          embedding_dim=args.embedding_dim, encoding=args.encoding,
                          max_words=args.max_words, strict=args.strict, model=args.model,
                          strategy=args.strategy, delimiter=args.delimiter,
                          cold_start=args.cold_start)
    vocab = "" if not result.vocab else f", vocabulary of {plural(result.vocab, 'word')}" \
        if not model_family(result.model).word_pieces \
        else " as word pieces of the encoder's tokenizer"
    print(f"made project {result.folder}: {plural(result.items, result.kind + ' item')}{vocab}")
    _list_rows(f"left out {plural(len(result.skipped), 'row')} with an empty text "
               "(give --strict to refuse the file instead):", result.skipped)
    _list_rows(f"cut {plural(len(result.cut), 'text')} to the first {result.max_words} words "
               "(change it with --max-words):", result.cut)
    print(f"classes: {class_list(result.classes) or '(none yet: the first teach sets them)'}; "
          f"labels: {result.labels}")
    print(f"model: {result.model}; strategy: {result.strategy}"
          + ("" if args.strategy else " (the default for this model; --strategy to choose)"))
    if args.check:
        for line in check_lines(add_check(result.folder, args.check), args.project):
            print(line)
    print(f"next: alden query {result.folder} --k 20")
    return result


def _list_rows(title: str, rows: tuple[str, ...], shown: int = 10) -> None:
    """A notice and the rows it is about (the first ``shown`` of them), if there are any."""
    if not rows:
        return
    print(title)
    for row in rows[:shown]:
        print(f"  {row}")
    if len(rows) > shown:
        print(f"  ... and {len(rows) - shown} more")


MODEL_NAMES = "; ".join(f"{kind}: {', '.join(listed_names(kind))}"  # the families registry
                        for kind in ("text", "tabular"))
THREADS_HELP = "torch threads (default: the cores not busy now, at least 1)"
RAY_ADDRESSES = ("'local': start one on this machine; 'auto': the one this machine belongs "
                 "to; else the head's host:port or ray://host:port; needs alden[ray]")


def _use_threads(args: argparse.Namespace) -> None:
    """Torch threads for training: --threads, else the cores free now (alden.threads)."""
    from alden.threads import use_threads

    use_threads(args.threads)


def cmd_query(args: argparse.Namespace) -> int:
    """`alden query`: the next batch to label, with a reason for each item."""
    _use_threads(args)
    show = step_line(sys.stderr)
    try:
        with attached(args.ray_address):
            result = query(args.project, args.k, strategy=args.strategy, model=args.model,
                           out=args.out, on_step=show, cold_start=args.cold_start,
                           subpool=args.subpool)
    finally:
        show("")
    if result.cold_start:
        print(f"cold start ({result.cold_start}): picked "
              f"{plural(len(result.picks), 'item')} by {result.cold_start_method}, "
              f"without a model")
    else:
        print(f"trained {result.model} on {plural(result.n_labeled, 'label')}; "
              f"{result.strategy} picked {plural(len(result.picks), 'item')} "
              f"(model saved as {result.model_file})")
    for line in unlabeled_class_lines(result.unlabeled_classes):
        print(line)
    print(f"round {result.round}: the batch is in")
    for path in result.files:
        print(f"  {path}")
    print(f"fill in the label column, then: alden teach {args.project} {result.files[0]}")
    return 0


def step_line(stream: TextIO) -> Say:
    """Where ``stream`` is a terminal, a one-line display of the step a command is on, with
    its counts in its text (each step overwrites the last; "" clears it); elsewhere (logs,
    pipes) nothing."""
    if not stream.isatty():
        return silent

    def show(text: str, done: int | None = None, total: int | None = None) -> None:
        stream.write("\r\033[K" + (f"{text} ..." if text else ""))
        stream.flush()
    return show


def cmd_teach(args: argparse.Namespace) -> int:
    """`alden teach`: read a labeled batch file back into the project."""
    def announce(n: int) -> None:
        print(f"all rows checked; writing {plural(n, 'label')} in one transaction", flush=True)

    result = teach_file(args.project, args.file, id_column=args.id_column,
                        label_column=args.label_column, skip_bad=args.skip_bad,
                        add_classes=args.add_classes, overwrite=args.overwrite, who=args.who,
                        on_write=announce, on_conflict=args.on_conflict,
                        delimiter=args.delimiter)
    c = result.change
    print(f"{args.file}: {plural(result.rows, 'row')}: {plural(c.added, 'new label')}, "
          f"{c.unchanged} unchanged, {c.replaced} replaced, {result.blank} blank "
          f"(left unlabeled)")
    if result.new_classes:
        print(f"new classes: {class_list(result.new_classes)}")
    if result.skipped:
        print(f"skipped {plural(len(result.skipped), 'bad row')}:")
        for line in result.skipped:
            print(f"  {line}")
    if result.conflicts:
        print(f"annotators disagreed on {plural(len(result.conflicts), 'task')} (every answer is "
              "kept):")
        for line in result.conflicts:
            print(f"  {line}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """`alden status`: labels so far, rounds, and cross-validated accuracy by round."""
    _use_threads(args)
    if args.check:
        check_database(args.project)
    show = step_line(sys.stderr)
    try:
        s = status(args.project, folds=args.folds, model=args.model, curve=not args.no_curve,
                   full_curve=args.full_curve, say=show)
    finally:
        show("")
    if args.json:  # the same fields for scripts
        import json

        print(json.dumps(status_json(s), indent=1))
        return 0
    print(f"{args.project}: " + "\n".join(status_lines(s)))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """`alden predict`: labels for new data from the latest model."""
    _use_threads(args)
    result = predict(args.project, args.data, text_column=args.text_column,
                     id_column=args.id_column, model=args.model, delimiter=args.delimiter)
    if result.trained_now:
        print(f"trained a model on every label first: {result.model_file}", file=sys.stderr)
    for row in result.skipped:
        print(f"left out {row}", file=sys.stderr)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["id", "predicted", "confidence", *(f"p_{c}" for c in result.classes)])
    for item, p in zip(result.ids, result.proba, strict=True):
        writer.writerow([item, result.classes[int(p.argmax())], f"{p.max():.4f}",
                         *(f"{v:.4f}" for v in p)])
    if args.out:
        write_atomic(Path(args.out), table.getvalue())
        counts = Counter(result.classes[int(i)] for i in result.proba.argmax(axis=1))
        print(f"wrote {plural(len(result.ids), 'prediction')} to {args.out} ("
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


INIT_DESCRIPTION = f"""\
Make a labeling project from a CSV, TSV or JSON Lines file of texts (one per row, in the
column --text-column) or of table rows (--kind tabular or --target-column). The folder
appears whole or not at all. Labels may come from --label-column (text) or --target-column
(tables) of the data file, or from a file of id,label given with --labels; --classes fixes
the class list up front. Texts longer than --max-words words (default {MAX_WORDS}) are cut;
a row with an empty text is left out and listed (--strict: the file is refused).
"""


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add init, query, teach, label, status, predict, restore, export and check to the
    `alden` command."""
    for add in (_add_init, _add_query, _add_teach, _add_label, _add_status, _add_predict):
        add(sub)
    register_backup_cli(sub)  # restore, export
    register_check_cli(sub)  # check


def _add_init(sub: argparse._SubParsersAction) -> None:
    """`alden init`'s arguments."""
    p = sub.add_parser("init", help="make a labeling project from a file of texts or rows",
                       description=INIT_DESCRIPTION)
    p.add_argument("project", metavar="PROJECT", help="folder to create")
    p.add_argument("--data", required=True, metavar="FILE", help="CSV, TSV or JSON Lines file")
    add_data_options(p, label_help="text: a column holding some labels already")
    p.add_argument("--labels", metavar="FILE",
                   help="a CSV/JSON Lines file of id,label to start with")
    p.add_argument("--classes", type=class_names, metavar="NAMES",
                   help="the class names: a,b,... or a JSON list or a file of one name per "
                   "line (the last two for names with commas); else from the labels")
    p.add_argument("--strict", action="store_true",
                   help="refuse a file with an empty text instead of leaving the row out")
    p.add_argument("--seed", type=non_negative, default=0, metavar="N",
                   help="seed of word2vec and of every training (default 0)")
    p.add_argument("--embedding-dim", type=positive, default=100, metavar="N",
                   help="length of the word vectors (default 100)")
    p.add_argument("--model", metavar="NAME", default=None,
                   help=f"the project's model (default: cnn for text, mlp for tables); "
                        f"{MODEL_NAMES} (a sentence encoder's items are encoded as its word "
                        f"pieces; +setfit fine-tunes it on the labels first, with options "
                        f"after a colon, e.g. minilm+setfit:steps=400; the README lists them, "
                        f"self-training among them)")
    p.add_argument("--strategy", metavar="NAME", default=None,
                   help="the project's strategy, options as NAME:KEY=VALUE (default: alden "
                        "for cnn and bilstm, margin for a sentence encoder, dami for tables; "
                        "each query may choose another with --strategy)")
    p.add_argument("--cold-start", choices=COLD_STARTS, default=None, metavar="NAME",
                   help=f"how the first batches are picked while labels are too few for a "
                        f"model: {', '.join(COLD_STARTS)} (default: typiclust for cnn and "
                        f"bilstm, random for a sentence encoder and tables, as measured in "
                        f"docs/results.md)")
    p.add_argument("--encoding", default="utf-8", metavar="NAME",
                   help="the data file's text encoding (default utf-8)")
    p.add_argument("--check", type=positive, default=None, metavar="N",
                   help="set aside N items drawn at random to measure accuracy without "
                        "bias (never trained on; see `alden check`)")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="a sentence encoder's project: encode every item now, in shards on "
                        "this Ray cluster (" + RAY_ADDRESSES + "), into the encoder's cache")
    p.set_defaults(func=cmd_init)


def _add_query(sub: argparse._SubParsersAction) -> None:
    """`alden query`'s arguments."""
    p = sub.add_parser("query", help="train on the labels so far and pick the next batch")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--k", type=positive, required=True, metavar="N",
                   help="how many items to pick")
    p.add_argument("--strategy", metavar="NAME", help="default: the project's (set by init); "
                   "options as NAME:KEY=VALUE, e.g. alden:output=logits")
    p.add_argument("--model", metavar="NAME", help=f"default: the project's; {MODEL_NAMES}")
    p.add_argument("--subpool", type=positive, default=None, metavar="N",
                   help="pick among N candidates: the labeled items' nearest neighbours and "
                        "a random share (sugar for --strategy NAME:subpool=N; a project keeps "
                        "it when init's --strategy has it)")
    p.add_argument("--cold-start", choices=COLD_STARTS, default=None, metavar="NAME",
                   help="while labels are too few for a model, pick by this cold start "
                        "(default: the project's, set by init)")
    p.add_argument("--out", metavar="FOLDER",
                   help="folder for the batch files (default: PROJECT/batches)")
    p.add_argument("--threads", type=positive, metavar="N", help=THREADS_HELP)
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="encode the pool and score the items in shards on this Ray cluster ("
                        + RAY_ADDRESSES + "); the same batch as without")
    p.set_defaults(func=cmd_query)


def _add_teach(sub: argparse._SubParsersAction) -> None:
    """`alden teach`'s arguments."""
    p = sub.add_parser("teach", help="import labels (CSV, JSON Lines, Label Studio export)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("file", metavar="FILE", help="the labeled batch (.csv, .tsv, .jsonl, .json)")
    p.add_argument("--id-column", default="id", metavar="COLUMN",
                   help="column of the ids (default id)")
    p.add_argument("--label-column", default="label", metavar="COLUMN",
                   help="column of the labels (default label)")
    p.add_argument("--skip-bad", action="store_true", help="write the good rows, list the bad")
    p.add_argument("--add-classes", action="store_true", help="allow labels that are new classes")
    p.add_argument("--delimiter", type=delimiter, metavar="CHAR",
                   help="CSV/TSV: the character between fields (default: detected)")
    p.add_argument("--overwrite", action="store_true", help="replace labels that differ")
    p.add_argument("--who", metavar="NAME",
                   help="who gave these labels (default: your user name)")
    p.add_argument("--on-conflict", choices=("latest", "majority", "skip"),
                   help="a Label Studio task whose annotators disagree: take the latest answer, "
                   "the majority (a tie stays open), or skip it (open, resolved on the status "
                   "page of `alden serve`); default: refuse the file and list them")
    p.set_defaults(func=cmd_teach)


def _add_label(sub: argparse._SubParsersAction) -> None:
    """`alden label`'s arguments."""
    p = sub.add_parser("label", help="label in the terminal, one keystroke per item")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--batch", type=positive, default=10, metavar="N",
                   help="labels between retrainings (default 10)")
    p.add_argument("--strategy", metavar="NAME", help="default: the project's")
    p.add_argument("--model", metavar="NAME", help="default: the project's")
    p.add_argument("--who", metavar="NAME", help="who gives the labels (default: your user name)")
    p.add_argument("--threads", type=positive, metavar="N", help=THREADS_HELP)
    p.set_defaults(func=cmd_label)


def _add_status(sub: argparse._SubParsersAction) -> None:
    """`alden status`'s arguments."""
    p = sub.add_parser("status", help="counts, rounds, cross-validated accuracy, curve")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--folds", type=whole(2), default=None, metavar="N",
                   help=f"cross-validation folds, at least 2 (default {DEFAULT_FOLDS})")
    p.add_argument("--model", metavar="NAME", help="default: the project's")
    p.add_argument("--no-curve", action="store_true", help="skip the per-round learning curve")
    p.add_argument("--full-curve", action="store_true", help="also evaluate the rounds no "
                   "earlier status evaluated (one cross-validation each)")
    p.add_argument("--threads", type=positive, metavar="N", help=THREADS_HELP)
    p.add_argument("--check", action="store_true",
                   help="first check the whole database file (SQLite's integrity_check)")
    p.add_argument("--json", action="store_true",
                   help="print the status as JSON (counts, accuracy, check set, criteria)")
    p.set_defaults(func=cmd_status)


def _add_predict(sub: argparse._SubParsersAction) -> None:
    """`alden predict`'s arguments."""
    p = sub.add_parser("predict", help="predict labels of a file with the latest model")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--data", required=True, metavar="FILE", help="CSV, TSV or JSON Lines file")
    p.add_argument("--out", metavar="FILE", help="CSV file to write (default: standard output)")
    p.add_argument("--text-column", metavar="COLUMN", help="default: the project's")
    p.add_argument("--id-column", metavar="COLUMN", help="default: the project's, if the file "
                   "has it, else line numbers")
    p.add_argument("--delimiter", type=delimiter, metavar="CHAR",
                   help="CSV/TSV: the character between fields (default: detected)")
    p.add_argument("--model", metavar="NAME", help="default: the project's")
    p.add_argument("--threads", type=positive, metavar="N", help=THREADS_HELP)
    p.set_defaults(func=cmd_predict)
