"""Each strategy's scoring and selection time for K = 2% of the pool, on Subj's pool and on
a pool ten times larger; ALDEN's selection / interpretation ratio; the ALDEN kernel's peak
memory.

Run: ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/bench_strategies.py
     [--model cnn] [--scale 10] [--threads 2] [--strategies alden coreset ...]
     [--tabular magic] [--bald-samples 20]

Text: the Subj pool (60% of the data set, 6000 sentences, alden.data.prepare with seed 0) and a
synthetic pool ``--scale`` times larger made of copies of it with each copy's words
shuffled within the sentence (same vocabulary, lengths and word frequencies, no duplicate
sentences). Tables (``--tabular``): that data set's pool and ``--scale`` copies of it with
small noise. 2% of each pool is labeled (the seed set) and K = 2% is selected. The model
is fitted for one epoch on the seed set: speed does not depend on how well it is trained.

Scoring = time inside the Learner's methods (forward/backward passes); selection = the
rest of ``select`` (the kernels). Times come from one run on a shared machine: compare them
within a table, not across runs.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections import defaultdict

import numpy as np
import torch

from alden.data.datasets import load_dataset
from alden.data.pool import Pool
from alden.data.prepare import prepare
from alden.kernels import alden_greedy_picks
from alden.models.contract import TrainConfig
from alden.models.learner import NetworkLearner
from alden.strategies import get_strategy, strategies_for


class TimedLearner:
    """Delegates to a NetworkLearner and adds up the wall time spent in each of its methods."""

    def __init__(self, learner: NetworkLearner) -> None:
        self._learner = learner
        self.spent: dict[str, float] = defaultdict(float)

    def __getattr__(self, name):
        attr = getattr(self._learner, name)
        if not callable(attr):
            return attr

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - start
        return timed


def shuffled_copies(pool: Pool, scale: int, rng: np.random.Generator) -> Pool:
    """``scale`` copies of a text pool, each sentence's words shuffled (pads still trail)."""
    rows = np.repeat(pool.x, scale, axis=0)
    lengths = (rows != 0).sum(axis=1)
    keys = rng.random(rows.shape)
    keys[rows == 0] = np.inf  # pads sort last
    rows = np.take_along_axis(rows, np.argsort(keys, axis=1), axis=1)
    assert ((rows != 0).sum(axis=1) == lengths).all()
    return Pool.from_arrays(rows, np.repeat(pool.y, scale), pool.classes, vocab=pool.vocab)


def noisy_copies(pool: Pool, scale: int, rng: np.random.Generator) -> Pool:
    """``scale`` copies of a tabular pool with a little Gaussian noise."""
    rows = np.repeat(pool.x, scale, axis=0)
    rows = (rows + 0.01 * rng.normal(size=rows.shape)).astype(pool.x.dtype)
    return Pool.from_arrays(rows, np.repeat(pool.y, scale), pool.classes)


def with_seed_set(pool: Pool, rng: np.random.Generator) -> Pool:
    pool.mark_labeled(np.sort(rng.choice(len(pool), round(0.02 * len(pool)), replace=False)), 0)
    return pool


def time_strategies(learner: NetworkLearner, pool: Pool, names: list[str], bald_samples: int,
                    label: str) -> list[tuple]:
    """One row per strategy: (pool, N, K, name, scoring s, selection s, extra)."""
    k = round(0.02 * len(pool))
    rows = []
    for name in names:
        options = {"samples": bald_samples} if name == "bald" else {}
        timed = TimedLearner(learner)
        start = time.perf_counter()
        sel = get_strategy(name, **options).select(timed, pool, k, np.random.default_rng(0))
        total = time.perf_counter() - start
        assert len(sel) == k
        scoring = sum(timed.spent.values())
        extra = ""
        if name == "alden":
            interp = timed.spent["token_interpretations"]
            extra = f"selection / interpretation = {(total - scoring) / interp:.2f}"
        rows.append((label, len(pool), k, name, scoring, total - scoring, extra))
        print(f"  {label:14s} {name:17s} scoring {scoring:8.2f} s  selection "
              f"{total - scoring:8.2f} s  {extra}", flush=True)
    return rows


def alden_kernel_memory(learner: NetworkLearner, pool: Pool) -> tuple[float, float]:
    """Peak memory (MiB, tracemalloc) and time of the ALDEN kernel alone on ``pool``."""
    interpretations = learner.token_interpretations(pool.x)
    tokens = [pool.tokens(i) for i in range(len(pool))]
    embeddings = learner.word_embeddings()
    k = round(0.02 * len(pool))
    tracemalloc.start()
    start = time.perf_counter()
    alden_greedy_picks(tokens, interpretations, embeddings, pool.labeled, k)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn", choices=("cnn", "bilstm"))
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--strategies", nargs="*", default=None)
    parser.add_argument("--tabular", nargs="*", default=["magic"])
    parser.add_argument("--bald-samples", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    table = []

    prepared = prepare(load_dataset("subj"), seed=0)
    pool = with_seed_set(prepared.pool(), rng)
    learner = NetworkLearner(args.model, n_classes=len(prepared.classes),
                             embeddings=prepared.embeddings, config=TrainConfig(fixed_epochs=1))
    learner.fit(pool.x[pool.labeled], pool.y[pool.labeled], seed=0)
    names = [n for n in strategies_for("text") if not args.strategies or n in args.strategies]
    big = with_seed_set(shuffled_copies(prepared.pool(), args.scale, rng), rng)
    print(f"text, {args.model}: Subj pool {len(pool)}, synthetic pool {len(big)}", flush=True)
    table += time_strategies(learner, pool, names, args.bald_samples, "subj")
    table += time_strategies(learner, big, names, args.bald_samples, f"subj x{args.scale}")
    memory = [(label, len(p), *alden_kernel_memory(learner, p))
              for label, p in (("subj", pool), (f"subj x{args.scale}", big))]

    for name in args.tabular:
        prepared = prepare(load_dataset(name), seed=0)
        pool = with_seed_set(prepared.pool(), rng)
        learner = NetworkLearner("mlp", n_classes=len(prepared.classes),
                                 n_features=prepared.x.shape[1], config=TrainConfig(fixed_epochs=1))
        learner.fit(pool.x[pool.labeled], pool.y[pool.labeled], seed=0)
        names = [n for n in strategies_for("tabular")
                 if not args.strategies or n in args.strategies]
        big = with_seed_set(noisy_copies(prepared.pool(), args.scale, rng), rng)
        print(f"tabular, mlp: {name} pool {len(pool)}, x{args.scale} pool {len(big)}",
              flush=True)
        table += time_strategies(learner, pool, names, args.bald_samples, name)
        table += time_strategies(learner, big, names, args.bald_samples,
                                 f"{name} x{args.scale}")

    print("\n| pool | N | K | strategy | scoring s | selection s | note |")
    print("| --- | ---: | ---: | --- | ---: | ---: | --- |")
    for label, n, k, name, scoring, selection, extra in table:
        print(f"| {label} | {n} | {k} | {name} | {scoring:.2f} | {selection:.2f} | {extra} |")
    print("\n| pool | N | ALDEN kernel peak MiB (tracemalloc) | kernel s |")
    print("| --- | ---: | ---: | ---: |")
    for label, n, peak, seconds in memory:
        print(f"| {label} | {n} | {peak:.0f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
