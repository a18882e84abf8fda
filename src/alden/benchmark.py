"""The simulated active-learning experiment: a grid of runs, one run's loop, resume, workers, Ray.

One run is (dataset, model, strategy, seed, protocol). The seed alone fixes the split, the
seed set and every model initialisation, so all strategies with a seed start from the same
place. Results go to ``DIR/results.jsonl`` (one line per round, byte-identical for the same
command on the same machine) and timings to ``DIR/timings.jsonl``; ``docs/protocol.md``
describes both files and the resume rules.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import AldenError, DataError

MODELS = ("cnn", "bilstm", "mlp")
PAPER_DATASETS = ("subj", "mr")
PAPER_MODELS = ("cnn", "bilstm")
PAPER_STRATEGIES = ("random", "egl_word", "bald", "coreset", "badge", "alden")

# A run function takes a spec and an optional per-round callback and returns the run's
# (records, timings); the real one is run_one, tests pass small fakes.
RunFn = Callable[..., tuple[list[dict], list[dict]]]


@dataclass(frozen=True)
class Protocol:
    """Everything about a run except its dataset, model, strategy and seed (hashed into
    each record as ``options``)."""

    init: float = 0.02
    step: float = 0.02
    stop: float = 0.5
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    train: tuple[tuple[str, object], ...] = ()  # TrainConfig overrides, sorted by name

    def as_dict(self) -> dict:
        """Plain JSON-able options (what ``options.json`` stores under the hash)."""
        return {"init": self.init, "step": self.step, "stop": self.stop,
                "split": list(self.split), "train": dict(self.train)}

    @functools.cached_property
    def options_hash(self) -> str:
        """12 hex digits of SHA-256 over the canonical JSON of ``as_dict``."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid."""

    dataset: str
    model: str
    strategy: str
    seed: int
    protocol: Protocol = field(default_factory=Protocol)
    data_dir: str | None = None  # where the data sets are; not part of the run's identity

    @property
    def key(self) -> tuple:
        return (self.dataset, self.model, self.strategy, self.seed, self.protocol.options_hash)


def label_schedule(pool_size: int, init: float, step: float, stop: float) -> list[int]:
    """Labeled count per round: ``round(min(init + r * step, stop) * pool_size)``.

    Rounds r = 0 .. ceil((stop - init) / step); Python's round (half to even). The defaults
    0.02, 0.02, 0.5 give 25 rounds (24 queries).
    """
    counts = [round(min(init + r * step, stop) * pool_size)
              for r in range(round_count(init, step, stop))]
    if counts[0] < 1:
        raise AldenError(f"init={init} of a pool of {pool_size} items labels nothing; "
                         f"raise --init")
    if any(b <= a for a, b in zip(counts, counts[1:], strict=False)):
        raise AldenError(f"step={step} of a pool of {pool_size} items adds nothing in some "
                         f"round (labeled counts {counts}); raise --step")
    return counts


def round_count(init: float, step: float, stop: float) -> int:
    """Rounds of a run, whatever the pool size: 1 + ceil((stop - init) / step)."""
    if not (0 < init <= stop <= 1) or step <= 0:
        raise AldenError(f"fractions must satisfy 0 < init <= stop <= 1 and step > 0; "
                         f"got init={init}, step={step}, stop={stop}")
    return 1 + max(0, math.ceil((stop - init) / step - 1e-9))


def fit_seed(seed: int, round_: int) -> int:
    """The torch seed of round ``round_``'s training: from (seed, round) only, never the
    strategy, so every strategy's model starts from the same weights."""
    return int(np.random.SeedSequence([seed, round_]).generate_state(1)[0])


# ----------------------------------------------------------------------------- the files

RESULTS = "results.jsonl"  # one record per round; deterministic, byte-identical on repeats
TIMINGS = "timings.jsonl"  # the same keys with the seconds spent; varies from run to run
OPTIONS = "options.json"  # options hash -> the Protocol it stands for
RUN_FIELDS = ("dataset", "model", "strategy", "seed", "options")


def run_key(record: dict) -> tuple:
    """The run a record belongs to: (dataset, model, strategy, seed, options hash)."""
    return tuple(record[k] for k in RUN_FIELDS)


def read_lines(path: Path) -> tuple[list[tuple[bytes, dict]], int]:
    """Parsed JSON lines of ``path`` as (raw line, record), and how many damaged lines at
    the end were left out (an unterminated or unparsable last line: a write cut short).

    A damaged line anywhere else is a DataError naming the line: that is not our write.
    """
    if not path.exists():
        return [], 0
    lines = path.read_bytes().split(b"\n")
    dropped = 1 if lines[-1] else 0  # bytes after the last newline: a truncated write
    lines = lines[:-1]
    parsed = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as err:
            if number == len(lines) and not dropped:
                dropped = 1
                break
            raise DataError(f"{path} line {number}: expected one JSON object per line ({err}); "
                            f"the file was damaged or edited, move it aside to start over"
                            ) from None
        parsed.append((line, record))
    return parsed, dropped


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, whole."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp",
                                     delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644  # not mkstemp's 0o600
    os.chmod(tmp.name, mode)
    os.replace(tmp.name, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_repaired(path: Path, *, require_complete: bool) -> list[dict]:
    """Records of ``path`` after repair: a truncated last line is dropped and, with
    ``require_complete``, so are the records of runs missing a round; the file is then
    rewritten atomically if anything was dropped."""
    parsed, dropped = read_lines(path)
    if require_complete:
        complete = finished_runs([record for _, record in parsed])
        kept = [(line, rec) for line, rec in parsed if run_key(rec) in complete]
        dropped += len(parsed) - len(kept)
        parsed = kept
    if dropped:
        _atomic_write(path, b"".join(line + b"\n" for line, _ in parsed))
    return [record for _, record in parsed]


def finished_runs(records: Iterable[dict]) -> set[tuple]:
    """Keys of runs whose records cover every round 0..rounds-1."""
    rounds: dict[tuple, set[int]] = {}
    expected: dict[tuple, int] = {}
    for record in records:
        key = run_key(record)
        rounds.setdefault(key, set()).add(record["round"])
        expected[key] = record["rounds"]
    return {key for key, seen in rounds.items() if seen == set(range(expected[key]))}


def append_lines(path: Path, records: list[dict]) -> None:
    """Append ``records`` as JSON lines in one write (O_APPEND), flushed to disk."""
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def record_order(record: dict) -> tuple:
    """The canonical order of a results file."""
    return (record["dataset"], record["model"], record["options"], record["strategy"],
            record["seed"], record["round"])


def canonical_sort(path: Path) -> None:
    """Rewrite ``path`` sorted by ``record_order`` without duplicate rounds (if that
    changes it), so a finished grid's file is the same whatever order runs ended in."""
    parsed, dropped = read_lines(path)
    unique = {}
    for line, record in parsed:
        unique.setdefault(record_order(record), line)
    data = b"".join(unique[k] + b"\n" for k in sorted(unique))
    if dropped or data != path.read_bytes():
        _atomic_write(path, data)


def write_options(out: Path, options: dict[str, dict]) -> None:
    """Merge hash -> protocol options into ``out/options.json`` (for report and readers)."""
    path = out / OPTIONS
    known = json.loads(path.read_text()) if path.exists() else {}
    merged = {**known, **options}
    if merged != known:
        _atomic_write(path, (json.dumps(merged, indent=1, sort_keys=True) + "\n").encode())


@contextlib.contextmanager
def lock_dir(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` so that two benchmarks never write one file."""
    import fcntl

    with open(out / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AldenError(f"another alden benchmark is writing to {out}; wait for it to "
                             f"finish or give another --out") from None
        yield


# ----------------------------------------------------------------------------- one run


class _TimedLearner:
    """Forwards to a learner, adding the seconds spent in its methods to ``seconds``:
    the scoring part of a query (the rest of ``select`` is selection)."""

    def __init__(self, learner, clock: Callable[[], float] = time.perf_counter) -> None:
        self._learner = learner
        self._clock = clock
        self.seconds = 0.0

    def __getattr__(self, name: str):
        attr = getattr(self._learner, name)
        if not callable(attr) or not hasattr(attr, "__self__"):
            return attr  # plain attributes and modules pass through untouched

        def timed(*args, **kwargs):
            start = self._clock()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += self._clock() - start
        return timed


def simulate(pool, new_learner: Callable[[], object], strategy, counts: list[int],
             val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
             seed: int, seed_set: Callable, on_round: Callable[[int], None] | None = None
             ) -> list[dict]:
    """The active-learning loop on ``pool`` (mutated): one dict per round with ``round``,
    ``labeled``, ``accuracy`` and the seconds spent (train, val, test, score, select;
    validation from the learner's ``history`` entries' ``val_seconds`` where it has them).

    Round r trains a new learner on the labeled set (validation split for early stopping,
    torch seed from (seed, r)), measures test accuracy, then, except after the last round,
    asks ``strategy`` for ``counts[r + 1] - counts[r]`` items.
    """
    initial = seed_set(pool, counts[0] / len(pool), np.random.default_rng([seed, 0]))
    if len(initial) != counts[0]:
        raise AldenError(f"seed set has {len(initial)} items, expected {counts[0]}")
    pool.mark_labeled(initial, 0)
    rng = np.random.default_rng([seed, 1])  # the one generator the strategy draws from
    x_test, y_test = test
    rows = []
    for round_, labeled in enumerate(counts):
        idx = pool.labeled
        assert len(idx) == labeled
        start = time.perf_counter()
        learner = new_learner().fit(pool.x[idx], pool.y[idx], *val, seed=fit_seed(seed, round_))
        trained = time.perf_counter()
        accuracy = float(np.mean(learner.predict_proba(x_test).argmax(axis=1) == y_test))
        tested = time.perf_counter()
        validation = sum(h.get("val_seconds", 0.0) for h in getattr(learner, "history", []))
        validation = min(validation, trained - start)
        row = {"round": round_, "labeled": labeled, "accuracy": accuracy,
               "train_seconds": trained - start - validation, "val_seconds": validation,
               "test_seconds": tested - trained,
               "score_seconds": 0.0, "select_seconds": 0.0}
        if round_ + 1 < len(counts):
            n = counts[round_ + 1] - labeled
            timed = _TimedLearner(learner)
            picked = np.asarray(strategy.select(timed, pool, n, rng).indices, dtype=np.int64)
            _check_picks(picked, pool, n, strategy)
            pool.mark_labeled(picked, round_ + 1)
            query = time.perf_counter() - tested
            row["score_seconds"] = min(timed.seconds, query)
            row["select_seconds"] = query - row["score_seconds"]
        rows.append(row)
        if on_round is not None:
            on_round(round_)
    return rows


def _check_picks(picked: np.ndarray, pool, n: int, strategy) -> None:
    """A strategy must return n distinct, unlabeled, in-range pool indices."""
    name = type(strategy).__name__
    if len(picked) != n:
        raise AldenError(f"strategy {name} picked {len(picked)} items, asked for {n}")
    if len(np.unique(picked)) != n or picked.min() < 0 or picked.max() >= len(pool):
        raise AldenError(f"strategy {name} picked duplicate or out-of-range indices")
    if (pool.labeled_in[picked] >= 0).any():
        raise AldenError(f"strategy {name} picked items that are labeled already")


@functools.lru_cache(maxsize=4)
def _prepared(dataset: str, data_dir: str | None, seed: int, split: tuple):
    """The encoded data set and split for (dataset, seed), reused by the runs of a process."""
    from .datasets import load_dataset
    from .prepare import prepare

    return prepare(load_dataset(dataset, data_dir), seed, fractions=split)


def train_config(train: dict):
    """``TrainConfig()`` with the overrides ``train``, each checked by name and type."""
    from .learner import TrainConfig

    default = TrainConfig()
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(train) - known)
    if unknown:
        raise AldenError(f"unknown training option {', '.join(unknown)}: expected some of "
                         f"{', '.join(sorted(known))}")
    for key, value in train.items():
        expected = type(getattr(default, key))
        fits = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if not fits or (expected is not bool and isinstance(value, bool)):
            raise AldenError(f"training option {key} must be a {expected.__name__}, "
                             f"got {value!r}")
    return dataclasses.replace(default, **train)


def _learner_factory(prepared, model: str, train: dict) -> Callable[[], object]:
    """A function making an untrained learner for ``prepared`` with TrainConfig ``train``."""
    from .learner import Learner

    config = train_config(train)
    n_classes = len(prepared.classes)
    if prepared.kind == "text":
        options = {"embeddings": prepared.embeddings, "vocab_size": len(prepared.vocab)}
    else:
        options = {"n_features": prepared.x.shape[1]}
    return lambda: Learner(model, n_classes=n_classes, config=config, **options)


def run_one(spec: RunSpec, on_round: Callable[[int], None] | None = None
            ) -> tuple[list[dict], list[dict]]:
    """Run ``spec`` with the real data, learner and strategy: (records, timings) per round."""
    from .prepare import seed_set
    from .strategies import get_strategy

    protocol = spec.protocol
    prepared = _prepared(spec.dataset, spec.data_dir, spec.seed, tuple(protocol.split))
    if (prepared.kind == "text") != (spec.model != "mlp"):
        fitting = "cnn or bilstm" if prepared.kind == "text" else "mlp"
        raise AldenError(f"model {spec.model!r} does not fit {prepared.kind} data set "
                         f"{spec.dataset!r}: use {fitting}")
    pool = prepared.pool()
    counts = label_schedule(len(pool), protocol.init, protocol.step, protocol.stop)
    rows = simulate(pool, _learner_factory(prepared, spec.model, dict(protocol.train)),
                    get_strategy(spec.strategy), counts, prepared.val(), prepared.test(),
                    spec.seed, seed_set, on_round)
    return make_records(spec, rows, len(pool))


def make_records(spec: RunSpec, rows: list[dict], pool_size: int
                 ) -> tuple[list[dict], list[dict]]:
    """Split the loop's rows into deterministic result records and timing records."""
    ident = {"dataset": spec.dataset, "model": spec.model, "strategy": spec.strategy,
             "seed": spec.seed, "options": spec.protocol.options_hash}
    records, timings = [], []
    for row in rows:
        key = {**ident, "round": row["round"]}
        records.append({**key, "rounds": len(rows), "labeled": row["labeled"],
                        "fraction": row["labeled"] / pool_size, "accuracy": row["accuracy"]})
        seconds = {k: round(v, 4) for k, v in row.items() if k.endswith("_seconds")}
        seconds["query_seconds"] = round(row["score_seconds"] + row["select_seconds"], 4)
        timings.append({**key, **seconds})
    return records, timings


# ----------------------------------------------------------------------------- the grid


def make_grid(datasets: Iterable[str], models: Iterable[str], strategies: Iterable[str],
              seeds: Iterable[int], protocol: Protocol, data_dir: str | None = None
              ) -> list[RunSpec]:
    """All runs, seed-major within each dataset x model, so early results compare strategies."""
    return [RunSpec(d, m, s, int(seed), protocol, data_dir)
            for d in datasets for m in models for seed in seeds for s in strategies]


def check_names(datasets: Iterable[str], models: Iterable[str], strategies: Iterable[str],
                data_dir: str | None = None) -> None:
    """Fail before any run on an unknown or unfitting model, strategy or dataset, listing
    the valid ones."""
    from .datasets import load_dataset
    from .strategies import STRATEGIES, strategies_for

    for name in models:
        if name not in MODELS:
            raise AldenError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    for name in strategies:
        if name not in STRATEGIES:
            raise AldenError(f"unknown strategy {name!r}: expected one of "
                             f"{', '.join(sorted(STRATEGIES))}")
    for name in datasets:
        kind = load_dataset(name, data_dir).kind  # raises its own error naming valid sets
        fitting = ("cnn", "bilstm") if kind == "text" else ("mlp",)
        for model in models:
            if model not in fitting:
                raise AldenError(f"model {model!r} does not fit {kind} data set {name!r}: "
                                 f"use {' or '.join(fitting)}")
        usable = strategies_for(kind)
        for strategy in strategies:
            if strategy not in usable:
                raise AldenError(f"strategy {strategy!r} does not work on {kind} data set "
                                 f"{name!r}; strategies for {kind}: {', '.join(usable)}")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def _in_worker(run_fn: RunFn, spec: RunSpec, queue) -> tuple[list[dict], list[dict]]:
    """Worker side of --workers: run, reporting each round to the driver's queue."""
    return run_fn(spec, lambda r: queue.put(1))


def _run_locally(specs: list[RunSpec], run_fn: RunFn, workers: int, threads: int,
                 on_round: Callable) -> Iterator[tuple[RunSpec, tuple]]:
    """Yield (spec, result) as runs finish, in this process or over spawned workers."""
    if workers <= 1:
        _set_threads(threads)
        for spec in specs:
            yield spec, run_fn(spec, on_round)
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        queue = manager.Queue()
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_set_threads,
                                   initargs=(threads,))
        try:
            futures = {pool.submit(_in_worker, run_fn, spec, queue): spec for spec in specs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                while not queue.empty():
                    on_round(queue.get())
                for future in sorted(done, key=lambda f: specs.index(futures[f])):
                    while not queue.empty():
                        on_round(queue.get())
                    yield futures[future], future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def _ray_task(run_fn: RunFn, spec: RunSpec) -> tuple[list[dict], list[dict]]:
    """Ray side: one thread per CPU Ray gave this task."""
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    _set_threads(int(cpus))
    return run_fn(spec)


def _run_on_ray(specs: list[RunSpec], run_fn: RunFn, address: str, workers: int,
                threads: int) -> Iterator[tuple[RunSpec, tuple]]:
    """Yield (spec, result) as Ray tasks finish; "local" starts a Ray instance here."""
    try:
        import ray
    except ImportError:
        raise AldenError("--ray-address needs Ray: pip install 'alden[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if address == "local":
            ray.init(num_cpus=workers if workers > 1 else _cores(), include_dashboard=False,
                     log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=threads)(_ray_task)
        refs = {task.remote(run_fn, spec): spec for spec in specs}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            spec = refs.pop(ready[0])
            yield spec, ray.get(ready[0])
    finally:
        if started:
            ray.shutdown()


def run_benchmark(specs: list[RunSpec], out_dir: str | os.PathLike, *, run_fn: RunFn = run_one,
                  workers: int = 1, threads: int | None = None, ray_address: str | None = None,
                  quiet: bool = False) -> dict:
    """Run every spec not yet in ``out_dir/results.jsonl``, appending each run as it ends.

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
        records = read_repaired(out / RESULTS, require_complete=True)
        read_repaired(out / TIMINGS, require_complete=False)
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

        try:
            results = (_run_on_ray(todo, run_fn, ray_address, workers, threads) if ray_address
                       else _run_locally(todo, run_fn, workers, threads, on_round))
            for spec, (recs, times) in results:
                if ray_address:
                    bar_rounds.update(len(recs))
                append_lines(out / TIMINGS, times)
                append_lines(out / RESULTS, recs)
                counts["ran"] += 1
                bar_runs.update(1)
                bar_runs.set_postfix_str(f"{spec.dataset}/{spec.model}/{spec.strategy}/"
                                         f"seed {spec.seed}")
        finally:
            bar_rounds.close()
            bar_runs.close()
        canonical_sort(out / RESULTS)
    return counts


# ----------------------------------------------------------------------------- the command


def _seed_list(text: str) -> list[int]:
    try:
        return [int(s) for s in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,3,7, got {text!r}") from None


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


def protocol_from_args(args: argparse.Namespace) -> Protocol:
    """The Protocol the command-line options describe."""
    train = {k: tuple(v) if isinstance(v, list) else v for k, v in (args.train or [])}
    if args.max_epochs is not None:
        train["max_epochs"] = args.max_epochs
    return Protocol(init=args.init, step=args.step, stop=args.stop, split=args.split,
                    train=tuple(sorted(train.items())))


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``benchmark`` and ``demo``: fractions and training overrides."""
    parser.add_argument("--init", type=float, default=0.02,
                        help="seed set, as a fraction of the pool (default 0.02)")
    parser.add_argument("--step", type=float, default=0.02,
                        help="labeled per round, as a fraction of the pool (default 0.02)")
    parser.add_argument("--stop", type=float, default=0.5,
                        help="stop at this labeled fraction of the pool (default 0.5)")
    parser.add_argument("--split", type=_fractions, default=(0.6, 0.2, 0.2),
                        help="pool,validation,test fractions (default 0.6,0.2,0.2)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="training's maximum epochs per round (TrainConfig.max_epochs)")
    parser.add_argument("--train", type=_key_value, action="append", metavar="KEY=VALUE",
                        help="any other TrainConfig field, e.g. --train patience=3")


def _benchmark_command(args: argparse.Namespace) -> int:
    if args.seeds is not None and args.seed_list is not None:
        raise AldenError("give --seeds N or --seed-list, not both")
    seeds = args.seed_list if args.seed_list is not None else range(
        args.seeds if args.seeds is not None else 10)
    if args.workers < 1:
        raise AldenError(f"--workers must be at least 1, got {args.workers}")
    datasets = args.dataset or list(PAPER_DATASETS)
    models = args.model or list(PAPER_MODELS)
    strategies = args.strategy or list(PAPER_STRATEGIES)
    check_names(datasets, models, strategies, args.data_dir)
    protocol = protocol_from_args(args)
    train_config(dict(protocol.train))  # bad training options fail before any run
    specs = make_grid(datasets, models, strategies, seeds, protocol, args.data_dir)
    start = time.perf_counter()
    counts = run_benchmark(specs, args.out, workers=args.workers, threads=args.threads,
                           ray_address=args.ray_address, quiet=args.quiet)
    if not args.quiet:
        print(f"{counts['ran']} runs in {time.perf_counter() - start:.0f} s, "
              f"{counts['skipped']} already done; results in {Path(args.out) / RESULTS}, "
              f"timings in {Path(args.out) / TIMINGS}; next: alden report {args.out}")
    return 0


def register_cli(subparsers) -> None:
    """Add ``alden benchmark``."""
    p = subparsers.add_parser(
        "benchmark", help="simulate active learning on labeled data sets and record curves",
        description="Run the grid datasets x models x strategies x seeds under the paper's "
                    "protocol, appending each finished run to OUT/results.jsonl (resumable).")
    p.add_argument("--dataset", action="append",
                   help="data set name or file, repeatable (default: subj and mr)")
    p.add_argument("--model", action="append",
                   help=f"one of {', '.join(MODELS)}, repeatable (default: cnn and bilstm)")
    p.add_argument("--strategy", action="append",
                   help=f"strategy name, repeatable (default: {', '.join(PAPER_STRATEGIES)})")
    p.add_argument("--seeds", type=int, default=None, help="run seeds 0..N-1 (default 10)")
    p.add_argument("--seed-list", type=_seed_list, default=None, help="explicit seeds: 0,3,7")
    add_protocol_options(p)
    p.add_argument("--out", required=True, help="folder for results.jsonl and timings.jsonl")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per run (default 1; more helps only on idle cores, "
                        "see docs/protocol.md)")
    p.add_argument("--ray-address", default=None,
                   help='run the runs as Ray tasks on this cluster ("local": start one here)')
    p.add_argument("--data-dir", default=None, help="where the data sets are (else $ALDEN_DATA)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_benchmark_command)
