"""Where a benchmark run's time goes: training, validation, test, scoring, selection.

Instead of running whole runs, this trains one model at a few labeled fractions of the
schedule (a random labeled set of that size), times every strategy's query on it, and
integrates the measured costs over the 25-round schedule by linear interpolation. Prints
a table per dataset x model and the extrapolated cost of a run and of the grids.

Times are CPU seconds of this process (``time.process_time``) by default: on a machine
shared with other jobs, wall time measures the neighbours; with one torch thread, CPU
seconds are what the work costs one idle core. ``--clock wall`` uses wall time. The
wall/CPU ratio of the whole measurement is printed.

    ALDEN_DATA=/work/shared/datasets .venv/bin/python benchmarks/bench_runner.py \
        --dataset subj --dataset mr --model cnn --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch

from alden.data.prepare import seed_set
from alden.experiments import simulation
from alden.models.factory import learner_factory, train_config
from alden.models.learner import NetworkLearner
from alden.strategies import get_strategy
from alden.streams import fit_seed

PAPER = ("random", "egl_word", "bald", "coreset", "badge", "alden")


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = time.process_time


@contextlib.contextmanager
def timed_validation(log: list[float]):
    """Time NetworkLearner.predict_proba calls made inside fit (the validation checks)."""
    original = NetworkLearner.predict_proba

    def predict_proba(self, x):
        start = clock()
        try:
            return original(self, x)
        finally:
            log.append(clock() - start)

    NetworkLearner.predict_proba = predict_proba
    try:
        yield
    finally:
        NetworkLearner.predict_proba = original


def measure(dataset: str, model: str, strategies: list[str], points: list[float],
            seed: int, protocol: simulation.Protocol) -> dict:
    prepared = simulation.prepared_data(dataset, None, seed, protocol.split)
    new_learner = learner_factory(prepared, model, train_config(dict(protocol.train)))
    pool_size = len(prepared.train_idx)
    rows = []
    for fraction in points:
        pool = prepared.pool()
        labeled = seed_set(pool, fraction, np.random.default_rng([seed, 7]))
        pool.mark_labeled(labeled, 0)
        val_log: list[float] = []
        start = clock()
        with timed_validation(val_log):
            learner = new_learner().fit(pool.x[labeled], pool.y[labeled], *prepared.val(),
                                        seed=fit_seed(seed, 0))
        fit = clock() - start
        start = clock()
        learner.predict_proba(prepared.test()[0])
        test = clock() - start
        row = {"fraction": fraction, "labeled": len(labeled), "epochs": len(learner.history),
               "train": fit - sum(val_log), "val": sum(val_log), "checks": len(val_log),
               "test": test}
        n = round(protocol.step * pool_size)
        for name in strategies:
            timed = simulation.TimedLearner(learner, clock)
            start = clock()
            get_strategy(name).select(timed, pool, n, np.random.default_rng(seed))
            total = clock() - start
            row[name] = (min(timed.seconds, total), total - min(timed.seconds, total))
        rows.append(row)
        print(f"  {dataset}/{model} at {fraction:.0%}: fit {fit:.1f} s "
              f"({row['epochs']} epochs, {row['checks']} checks)", flush=True)
    return {"pool_size": pool_size, "rows": rows}


def extrapolate(result: dict, strategies: list[str], protocol: simulation.Protocol) -> dict:
    """Seconds of one whole run per strategy, split by part, from the measured points."""
    counts = simulation.label_schedule(result["pool_size"], protocol.init, protocol.step,
                                       protocol.stop)
    fractions = np.array(counts) / result["pool_size"]
    xs = np.array([r["labeled"] / result["pool_size"] for r in result["rows"]])

    def total(values, rounds):
        return float(np.interp(fractions[:rounds], xs, values).sum())

    base = {part: total([r[part] for r in result["rows"]], len(counts))
            for part in ("train", "val", "test")}
    out = {}
    for name in strategies:
        score = total([r[name][0] for r in result["rows"]], len(counts) - 1)
        select = total([r[name][1] for r in result["rows"]], len(counts) - 1)
        out[name] = {**base, "score": score, "select": select}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append")
    parser.add_argument("--model", action="append")
    parser.add_argument("--strategy", action="append")
    parser.add_argument("--points", default="0.02,0.14,0.26,0.38,0.5")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    wall, cpu = time.perf_counter(), time.process_time()
    datasets, models = args.dataset or ["subj"], args.model or ["cnn"]
    strategies = args.strategy or list(PAPER)
    points = [float(p) for p in args.points.split(",")]
    protocol = simulation.Protocol()
    print(f"torch threads {args.threads}; {args.clock} seconds; points {points}; "
          f"protocol {protocol.as_dict()}")
    per_run = {}
    for dataset in datasets:
        for model in models:
            result = measure(dataset, model, strategies, points, args.seed, protocol)
            print(f"\n{dataset}/{model}, pool {result['pool_size']}: seconds at each point")
            print("| labeled | epochs | train | val | test | "
                  + " | ".join(f"{s} score+select" for s in strategies) + " |")
            print("|" + "---|" * (5 + len(strategies)))
            for r in result["rows"]:
                cells = [f"{r[s][0]:.2f}+{r[s][1]:.2f}" for s in strategies]
                print(f"| {r['labeled']} | {r['epochs']} | {r['train']:.1f} | {r['val']:.2f} | "
                      f"{r['test']:.2f} | " + " | ".join(cells) + " |")
            per_run[(dataset, model)] = extrapolate(result, strategies, protocol)
    print("\nOne run (25 trainings, 24 queries), extrapolated, seconds:")
    print("| data/model | strategy | train | val | test | score | select | total |")
    print("|---|---|---|---|---|---|---|---|")
    grid_total = 0.0
    for (dataset, model), by_strategy in per_run.items():
        for name, parts in by_strategy.items():
            total = sum(parts.values())
            grid_total += total
            print(f"| {dataset}/{model} | {name} | " + " | ".join(
                f"{parts[p]:.0f}" for p in ("train", "val", "test", "score", "select"))
                + f" | {total:.0f} |")
    print(f"\nAll measured data/model x strategies, 1 seed: {grid_total / 3600:.2f} h; "
          f"3 seeds: {3 * grid_total / 3600:.2f} h; 10 seeds: {10 * grid_total / 3600:.2f} h "
          f"({args.clock} time of one process with {args.threads} torch threads)")
    print(f"This measurement: {time.perf_counter() - wall:.0f} s wall, "
          f"{time.process_time() - cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
