"""`alden benchmark`: the grid datasets x models x strategies x seeds, resumable and parallel.

Each finished run is appended to ``DIR/results.jsonl`` (one line per round, byte-identical for
the same command on the same machine) and its seconds to ``DIR/timings.jsonl``. The run itself
is ``simulation.run_one``, the files are ``run_files``, the execution is ``workers``;
``docs/protocol.md`` describes the files and the resume rules.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from alden.cli_types import add_data_options, fraction, positive, seed_list
from alden.errors import AldenError
from alden.experiments.data_options import data_options
from alden.experiments.run_files import (
    CRITERIA,
    INVOCATIONS,
    RESULTS,
    TIMINGS,
    append_lines,
    canonical_sort,
    finished_runs,
    lock_dir,
    read_repaired,
    write_options,
)
from alden.experiments.simulation import Protocol, RunSpec, round_count, run_one
from alden.experiments.workers import RunFn, run_locally, run_on_ray
from alden.models.factory import MODELS, check_model, known_model, train_config
from alden.models.setfit_options import canonical_name
from alden.strategies.cold_start import COLD_STARTS

PAPER_DATASETS = ("subj", "mr")
PAPER_MODELS = ("cnn", "bilstm")
PAPER_STRATEGIES = ("random", "egl_word", "bald", "coreset", "badge", "alden")


def make_grid(datasets: Iterable[str], models: Iterable[str], strategies: Iterable[str],
              seeds: Iterable[int], protocol: Protocol, data_dir: str | None = None,
              coverage: bool = False) -> list[RunSpec]:
    """All runs, seed-major within each dataset x model, so early results compare strategies;
    ``coverage``: each run also records interpretation coverage (``RunSpec.coverage``)."""
    return [RunSpec(d, m, s, int(seed), protocol, data_dir, coverage)
            for d in datasets for m in models for seed in seeds for s in strategies]


def check_names(datasets: Iterable[str], models: Iterable[str], strategies: Iterable[str],
                data_dir: str | None = None, data: tuple = ()) -> None:
    """Fail before any run on an unknown or unfitting model, strategy or dataset, listing
    the valid ones; a file read with the data options ``data`` needs a label on every row."""
    from alden.data.datasets import load_dataset
    from alden.experiments.data_options import check_labeled, load_options
    from alden.strategies import (
        STRATEGIES,
        parse_strategy,
        strategies_for,
        strategy_from_spec,
    )

    models = list(models)
    for name in models:
        known_model(name)
    strategies = list(strategies)
    for spec in strategies:
        if parse_strategy(spec)[0] not in STRATEGIES:
            raise AldenError(f"unknown strategy {spec!r}: expected one of "
                             f"{', '.join(sorted(STRATEGIES))}")
        strategy_from_spec(spec)  # its options: names, types and values
    for name in datasets:
        dataset = load_dataset(name, data_dir, **load_options(data))  # names valid sets
        check_labeled(dataset, name, data)
        kind = dataset.kind
        for model in models:
            check_model(kind, model, f"{kind} data set {name!r}")
        usable = strategies_for(kind)
        for strategy in strategies:
            if parse_strategy(strategy)[0] not in usable:
                raise AldenError(f"strategy {strategy!r} does not work on {kind} data set "
                                 f"{name!r}; strategies for {kind}: {', '.join(usable)}")




def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def invocation_record(started: str, wall: float, counts: dict, *, finished: bool,
                      workers: int, threads: int, ray_address: str | None,
                      command: list[str] | None) -> dict:
    """What ``invocations.jsonl`` keeps of one benchmark command: when it ran, on what, how
    long it took and how far it got (the wall time of a grid is the sum over its lines)."""
    import platform

    import torch

    return {"started": started, "ended": _now(), "wall_seconds": round(wall, 1),
            "ran": counts["ran"], "skipped": counts["skipped"], "total": counts["total"],
            "finished": finished, "workers": workers, "threads": threads,
            "ray_address": ray_address, "cpus": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__,
            "command": command}


def run_benchmark(specs: list[RunSpec], out_dir: str | os.PathLike, *, run_fn: RunFn = run_one,
                  workers: int = 1, threads: int | None = None, ray_address: str | None = None,
                  quiet: bool = False, command: list[str] | None = None) -> dict:
    """Run every spec not yet in ``out_dir/results.jsonl``, appending each run as it ends,
    and one line on this command (``command``, wall time, how far it got) to
    ``out_dir/invocations.jsonl`` when it ends or is interrupted.

    Returns counts: ``{"total", "skipped", "ran"}``. When all specs are done, the results file
    is rewritten sorted, so its bytes do not depend on workers, order of finishing or resumes.
    """
    from tqdm import tqdm

    for spec in specs:  # bad fractions fail before anything is written
        round_count(spec.protocol.init, spec.protocol.step, spec.protocol.stop)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if threads is None:  # one: two threads on a busy 2-core machine ran >10x slower
        threads = 1
    with lock_dir(out):
        started, start = _now(), time.perf_counter()
        records = read_repaired(out / RESULTS, require_complete=True)
        read_repaired(out / TIMINGS, require_complete=False)
        read_repaired(out / CRITERIA, require_complete=False)
        read_repaired(out / INVOCATIONS, require_complete=False)
        write_options(out, {s.protocol.options_hash: s.protocol.as_dict() for s in specs})
        done = finished_runs(records)
        todo = [s for s in specs if s.key not in done]
        counts = {"total": len(specs), "skipped": len(specs) - len(todo), "ran": 0}
        if not quiet and counts["skipped"]:
            print(f"{counts['skipped']} of {len(specs)} runs are in {out / RESULTS} "
                  f"already; running the other {len(todo)}")
        bar_runs = tqdm(total=len(todo), unit="run", desc="runs", disable=quiet, position=0)
        bar_rounds = tqdm(total=sum(round_count(s.protocol.init, s.protocol.step,
                                                s.protocol.stop) for s in todo),
                          unit="round", desc="rounds", disable=quiet, position=1)

        def on_round(_round: int) -> None:
            bar_rounds.update(1)

        finished = False
        try:
            results = (run_on_ray(todo, run_fn, ray_address, workers, threads) if ray_address
                       else run_locally(todo, run_fn, workers, threads, on_round))
            for spec, result in results:
                recs, times = result[0], result[1]
                if ray_address:
                    bar_rounds.update(len(recs))
                append_lines(out / TIMINGS, times)
                if len(result) > 2 and result[2]:  # the stopping criteria's quantities
                    append_lines(out / CRITERIA, result[2])
                append_lines(out / RESULTS, recs)
                counts["ran"] += 1
                bar_runs.update(1)
                bar_runs.set_postfix_str(f"{spec.dataset}/{spec.model}/{spec.strategy}/"
                                         f"seed {spec.seed}")
            finished = True
        finally:
            bar_rounds.close()
            bar_runs.close()
            if todo:  # a command that had nothing to run leaves no line
                append_lines(out / INVOCATIONS, [invocation_record(
                    started, time.perf_counter() - start, counts, finished=finished,
                    workers=workers, threads=threads, ray_address=ray_address,
                    command=command)])
        canonical_sort(out / RESULTS)
        if (out / CRITERIA).exists():
            canonical_sort(out / CRITERIA)
    return counts


# ----------------------------------------------------------------------------- the command



def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(s) for s in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three fractions like 0.6,0.2,0.2, got {text!r}")
    return parts


def protocol_from_args(args: argparse.Namespace, data: tuple = ()) -> Protocol:
    """The Protocol the command-line options describe (``data``: its data options)."""
    train = {k: tuple(v) if isinstance(v, list) else v for k, v in (args.train or [])}
    if args.max_epochs is not None:
        train["max_epochs"] = args.max_epochs
    return Protocol(init=args.init, step=args.step, stop=args.stop, split=args.split,
                    train=tuple(sorted(train.items())), data=data,
                    cold_start=getattr(args, "cold_start", None))


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``benchmark`` and ``demo``: fractions and training overrides."""
    parser.add_argument("--init", type=fraction(), default=0.02, metavar="FRACTION",
                        help="seed set, as a fraction of the pool (default 0.02)")
    parser.add_argument("--step", type=fraction(), default=0.02, metavar="FRACTION",
                        help="labeled per round, as a fraction of the pool (default 0.02)")
    parser.add_argument("--stop", type=fraction(), default=0.5, metavar="FRACTION",
                        help="stop at this labeled fraction of the pool (default 0.5)")
    parser.add_argument("--split", type=_fractions, default=(0.6, 0.2, 0.2),
                        metavar="POOL,VAL,TEST",
                        help="pool,validation,test fractions (default 0.6,0.2,0.2)")
    parser.add_argument("--max-epochs", type=positive, default=None, metavar="N",
                        help="training's maximum epochs per round (default: the training's)")
    parser.add_argument("--train", type=_key_value, action="append", metavar="KEY=VALUE",
                        help="any other TrainConfig field, e.g. --train patience=3")


def _benchmark_command(args: argparse.Namespace) -> int:
    if args.seeds is not None and args.seed_list is not None:
        raise AldenError("give --seeds N or --seed-list, not both")
    seeds = args.seed_list if args.seed_list is not None else range(
        args.seeds if args.seeds is not None else 10)
    datasets = args.dataset or list(PAPER_DATASETS)
    models = args.model or list(PAPER_MODELS)
    from alden.strategies import canonical_strategy, with_subpool
    strategies = [with_subpool(s, args.subpool) for s in args.strategy or PAPER_STRATEGIES]
    data = data_options(args, datasets)
    check_names(datasets, models, strategies, args.data_dir, data)
    strategies = list(dict.fromkeys(canonical_strategy(s) for s in strategies))
    models = list(dict.fromkeys(canonical_name(m) for m in models))  # one name a recipe
    protocol = protocol_from_args(args, data)
    train_config(dict(protocol.train))  # bad training options fail before any run
    specs = make_grid(datasets, models, strategies, seeds, protocol, args.data_dir,
                      args.coverage)
    start = time.perf_counter()
    counts = run_benchmark(specs, args.out, workers=args.workers, threads=args.threads,
                           ray_address=args.ray_address, quiet=args.quiet,
                           command=getattr(args, "argv", None))
    if not args.quiet:
        print(f"{counts['ran']} runs in {time.perf_counter() - start:.0f} s, "
              f"{counts['skipped']} already done; results in {Path(args.out) / RESULTS}, "
              f"timings in {Path(args.out) / TIMINGS}; next: alden report {args.out}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``alden benchmark``."""
    p = subparsers.add_parser(
        "benchmark", help="simulate active learning on labeled data sets and record curves",
        description="Run the grid datasets x models x strategies x seeds under the paper's "
                    "protocol, appending each finished run to OUT/results.jsonl (resumable).")
    p.add_argument("--dataset", action="append", metavar="NAME|FILE",
                   help="data set name, or a labeled CSV/TSV/JSON Lines file (see the data "
                        "options below), repeatable (default: subj and mr)")
    p.add_argument("--model", action="append", metavar="NAME",
                   help=f"one of {', '.join(MODELS)}, or a sentence encoder: minilm, "
                        "encoder:NAME_OR_PATH (+finetune to train it too, +setfit to fine-tune it "
                        "contrastively first: minilm+setfit, with options after a colon, "
                        "e.g. minilm+setfit:steps=400; the README lists them, self-training "
                        "among them); repeatable "
                        "(default: cnn and bilstm)")
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help=f"strategy name, repeatable, with options as NAME:KEY=VALUE[,KEY=VALUE] "
                        f"(e.g. alden:output=proba, bald:samples=20); default: "
                        f"{', '.join(PAPER_STRATEGIES)}")
    p.add_argument("--subpool", type=positive, default=None, metavar="N",
                   help="each strategy picks among N candidates: the labeled items' nearest "
                        "neighbours and a random share (sugar for NAME:subpool=N; part of the "
                        "strategy's name in results.jsonl)")
    p.add_argument("--cold-start", choices=COLD_STARTS, default=None, metavar="NAME",
                   help=f"choose the first batch (--init of the pool) without labels by one "
                        f"of {', '.join(COLD_STARTS)} on the model's item representations, "
                        f"then label it by the oracle (default: the paper's stratified "
                        f"seed set); recorded in results.jsonl")
    p.add_argument("--seeds", type=positive, default=None, metavar="N",
                   help="run seeds 0..N-1 (default 10)")
    p.add_argument("--seed-list", type=seed_list, default=None, metavar="S,S,...",
                   help="explicit seeds: 0,3,7")
    add_protocol_options(p)
    add_data_options(p)
    p.add_argument("--out", required=True, metavar="FOLDER",
                   help="folder for results.jsonl and timings.jsonl")
    p.add_argument("--coverage", action="store_true",
                   help="also record interpretation coverage each round for the stopping "
                        "criteria (one interpretation pass over the pool a round, 20-30%% of "
                        "a text run; off by default)")
    p.add_argument("--workers", type=positive, default=1, metavar="N",
                   help="local worker processes (default 1)")
    p.add_argument("--threads", type=positive, default=None, metavar="N",
                   help="torch threads per run (default 1; more helps only on idle cores, "
                        "see docs/protocol.md)")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help='run the runs as Ray tasks on this cluster ("local": start one here), '
                        "each run's encoding pass and item scoring in shards on it too")
    p.add_argument("--data-dir", default=None, metavar="FOLDER",
                   help="where the data sets are (else $ALDEN_DATA)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_benchmark_command)
