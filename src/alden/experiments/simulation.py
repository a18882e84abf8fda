"""One simulated active-learning run: its protocol, its loop and its records.

One run is (dataset, model, strategy, seed, protocol). The seed alone fixes the split, the
seed set and every model initialisation, so all strategies with a seed start from the same
place. ``run_one`` returns the run's deterministic result records and its timing records.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from alden.errors import AldenError
from alden.models.contract import fit_learner
from alden.models.factory import check_model, learner_factory, train_config
from alden.models.families import data_key, prepare_for
from alden.models.sharded import sharded_learner
from alden.streams import cold_start_rng, fit_seed, seed_set_rng, strategy_rng

if TYPE_CHECKING:
    from alden.data.pool import Pool
    from alden.data.prepare import Prepared
    from alden.models.contract import Learner
    from alden.strategies.base import Strategy

__all__ = ["Protocol", "RunSpec", "label_schedule", "learner_factory", "round_count", "run_one",
           "simulate", "train_config"]


@dataclass(frozen=True)
class Protocol:
    """Everything about a run except its dataset, model, strategy and seed (hashed into
    each record as ``options``)."""

    init: float = 0.02
    step: float = 0.02
    stop: float = 0.5
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    train: tuple[tuple[str, object], ...] = ()  # TrainConfig overrides, sorted by name
    # How a user's file is read (text_column, label_column, target_column, id_column, kind)
    # and max_words when not the default, sorted by name; () for the built-in sets' defaults.
    data: tuple[tuple[str, object], ...] = ()
    # The first batch chosen without labels by this cold start (``strategies.cold_start``)
    # and labeled by the oracle; None: the paper's stratified seed set.
    cold_start: str | None = None

    def as_dict(self) -> dict:
        """Plain JSON-able options (what ``options.json`` stores under the hash); ``data``
        and ``cold_start`` only when set, so the hashes of runs without them stay what they
        were."""
        options: dict[str, Any] = {"init": self.init, "step": self.step, "stop": self.stop,
                                   "split": list(self.split), "train": dict(self.train)}
        if self.data:
            options["data"] = dict(self.data)
        if self.cold_start is not None:
            options["cold_start"] = self.cold_start
        return options

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
    # Record interpretation coverage each round (one interpretation pass over the pool: 20-30%
    # of a text run); off unless asked, it is measured not to work as a stopping rule. Not
    # part of the run's identity either: it changes criteria.jsonl, never the results.
    coverage: bool = False

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



class TimedLearner:
    """Forwards to a learner, adding the seconds spent in its methods to ``seconds``:
    the scoring part of a query (the rest of ``select`` is selection)."""

    def __init__(self, learner: Learner, clock: Callable[[], float] = time.perf_counter
                 ) -> None:
        self._learner = learner
        self._clock = clock
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:  # any attribute of the learner, forwarded
        attr = getattr(self._learner, name)
        if not callable(attr) or not hasattr(attr, "__self__"):
            return attr  # plain attributes and modules pass through untouched

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = self._clock()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += self._clock() - start
        return timed


def simulate(pool: Pool, new_learner: Callable[[], Learner], strategy: Strategy,
             counts: list[int], val: tuple[np.ndarray, np.ndarray],
             test: tuple[np.ndarray, np.ndarray], seed: int,
             seed_set: Callable[[Pool, float, np.random.Generator], np.ndarray],
             on_round: Callable[[int], None] | None = None,
             observe: Callable[[Learner, Pool, int], float] | None = None) -> list[dict]:
    """The active-learning loop on ``pool`` (mutated): one dict per round with ``round``,
    ``labeled``, ``accuracy`` and the seconds spent (train, val, test, score, select;
    validation from the learner's ``history`` entries' ``val_seconds`` where it has them).

    Round r trains a new learner on the labeled set (validation split for early stopping,
    torch seed from (seed, r); the pool's unlabeled items too when it reads them,
    ``fit_learner``), measures test accuracy, then, except after the last round,
    asks ``strategy`` for ``counts[r + 1] - counts[r]`` items. ``observe(learner, pool, r)``,
    if given, then records the round for the stopping criteria and returns its seconds
    (``criteria_seconds``); it must not change the pool or draw from the run's generators.
    """
    initial = seed_set(pool, counts[0] / len(pool), seed_set_rng(seed))
    if len(initial) != counts[0]:
        raise AldenError(f"seed set has {len(initial)} items, expected {counts[0]}")
    pool.mark_labeled(initial, 0)
    rng = strategy_rng(seed)  # the one generator the strategy draws from
    x_test, y_test = test
    rows = []
    for round_, labeled in enumerate(counts):
        idx = pool.labeled
        assert len(idx) == labeled
        start = time.perf_counter()
        learner = fit_learner(new_learner(), pool.x[idx], pool.y[idx], *val,
                              seed=fit_seed(seed, round_),
                              unlabeled=lambda: pool.x[pool.unlabeled])  # self-training's
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
            timed = TimedLearner(sharded_learner(learner))  # shards: on an attached cluster
            picked = np.asarray(strategy.select(timed, pool, n, rng).indices, dtype=np.int64)
            _check_picks(picked, pool, n, strategy)
            pool.mark_labeled(picked, round_ + 1)
            query = time.perf_counter() - tested
            row["score_seconds"] = min(timed.seconds, query)
            row["select_seconds"] = query - row["score_seconds"]
        if observe is not None:
            row["criteria_seconds"] = observe(learner, pool, round_)
        rows.append(row)
        if on_round is not None:
            on_round(round_)
    return rows


def _check_picks(picked: np.ndarray, pool: Pool, n: int, strategy: Strategy) -> None:
    """A strategy must return n distinct, unlabeled, in-range pool indices."""
    name = type(strategy).__name__
    if len(picked) != n:
        raise AldenError(f"strategy {name} picked {len(picked)} items, asked for {n}")
    if len(np.unique(picked)) != n or picked.min() < 0 or picked.max() >= len(pool):
        raise AldenError(f"strategy {name} picked duplicate or out-of-range indices")
    if (pool.labeled_in[picked] >= 0).any():
        raise AldenError(f"strategy {name} picked items that are labeled already")


_PREPARED: dict[tuple, Prepared] = {}  # the last few prepared data sets of this process
_KEEP_PREPARED = 4


def prepared_data(dataset: str, data_dir: str | None, seed: int,
                  split: tuple[float, float, float], model: str,
                  *, data: tuple[tuple[str, object], ...] = ()) -> Prepared:
    """The data set and split for (dataset, seed), encoded as ``model`` reads it, reused by
    the runs of a process whose models read the same data (``families.data_key``).
    ``data`` holds ``Protocol.data`` (how to read a user's file, max_words)."""
    from alden.data.datasets import load_dataset
    from alden.data.text import MAX_WORDS

    key = (dataset, data_dir, seed, tuple(split), data_key(model), tuple(data))
    if key not in _PREPARED:
        options: dict[str, Any] = dict(data)  # file options (str) and max_words (int)
        max_words = options.pop("max_words", MAX_WORDS)
        loaded = load_dataset(dataset, data_dir, **options)
        if len(_PREPARED) >= _KEEP_PREPARED:
            _PREPARED.pop(next(iter(_PREPARED)))
        _PREPARED[key] = prepare_for(model, loaded, seed, fractions=split, max_len=max_words)
    return _PREPARED[key]


def run_one(spec: RunSpec, on_round: Callable[[int], None] | None = None
            ) -> tuple[list[dict], list[dict], list[dict]]:
    """Run ``spec`` with the real data, learner and strategy: (records, timings, criteria)
    per round; criteria are the stopping criteria's quantities (``criteria_record``)."""
    from alden.data.prepare import seed_set
    from alden.experiments.criteria_record import CriteriaRecorder
    from alden.strategies import strategy_from_spec

    protocol = spec.protocol
    prepared = prepared_data(spec.dataset, spec.data_dir, spec.seed, protocol.split,
                             spec.model, data=protocol.data)
    check_model(prepared.kind, spec.model, f"{prepared.kind} data set {spec.dataset!r}")
    pool = prepared.pool()
    counts = label_schedule(len(pool), protocol.init, protocol.step, protocol.stop)
    recorder = CriteriaRecorder(len(pool), prepared.test(), spec.seed, coverage=spec.coverage)
    new_learner = learner_factory(prepared, spec.model, train_config(dict(protocol.train)))
    first: list[int] = []
    initial = seed_set if protocol.cold_start is None else cold_seed_set(
        protocol.cold_start, prepared, spec.model, cold_start_rng(spec.seed), first)
    rows = simulate(pool, new_learner,
                    strategy_from_spec(spec.strategy), counts, prepared.val(), prepared.test(),
                    spec.seed, initial, on_round, recorder.observe)
    records, timings = make_records(spec, rows, len(pool))
    if protocol.cold_start is not None:
        records[0]["cold_start_batch"] = first
    return records, timings, criteria_records(records, recorder.rows)


def cold_seed_set(name: str, prepared: Prepared, model: str, rng: np.random.Generator,
                  picked: list[int]) -> Callable[[Pool, float, np.random.Generator],
                                                 np.ndarray]:
    """A seed-set function for ``simulate`` that picks the first batch without labels by the
    cold start ``name`` on the model's item representations (``models.representations``),
    drawing from ``rng`` (its own stream, ``streams.cold_start_rng``) rather than the seed
    set's; the picks (pool positions, in pick order) are appended to ``picked``."""
    from alden.models.representations import item_representations
    from alden.strategies.cold_start import cold_start

    def pick(pool: Pool, fraction: float, _seed_set_rng: np.random.Generator) -> np.ndarray:
        features = item_representations(model, prepared.kind, prepared.x,
                                        prepared.embeddings)[prepared.train_idx]
        metric = "cosine" if prepared.kind == "text" else "euclidean"
        chosen = cold_start(name, features, round(fraction * len(pool)), rng, metric=metric)
        picked.extend(chosen.indices)
        return np.asarray(chosen.indices, dtype=np.int64)
    return pick


def criteria_records(records: list[dict], rows: list[dict]) -> list[dict]:
    """One ``criteria.jsonl`` record per round: the result record's keys (run, round,
    rounds, labeled, fraction) and the recorder's quantities."""
    return [{**{k: rec[k] for k in ("dataset", "model", "strategy", "seed", "options",
                                    "round", "rounds", "labeled", "fraction")},
             **{k: v for k, v in row.items() if k not in ("round", "labeled")}}
            for rec, row in zip(records, rows, strict=True)]


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
