"""Which training regime a labeling project should use: it has labels, but no validation split.

    ALDEN_DATA=/work/shared/datasets nice -n 10 python benchmarks/bench_project_training.py run \
        --datasets subj,mr --seeds 0,1,2 --sizes 50,100,200,500,1000 \
        --out runs/project_training.jsonl
    python benchmarks/bench_project_training.py table runs/project_training.jsonl

``run`` splits each data set by seed as the protocol does (60/20/20), draws a stratified
random labeled set of n items from the training pool, trains the TextCNN on it under each
regime and records the test accuracy (the protocol's test split; the validation split is
never used: a project has none) and the seconds spent training (validation included).
One JSON line per (dataset, seed, size, regime), appended as it finishes, so an interrupted
run resumes where it stopped. Regimes:

- ``fixed-E``: E epochs on all labels, no validation (E = 5, 10, 15, 20; one 20-epoch fit
  read after each E, which equals an E-epoch fit: the epochs do not depend on the total).
  ``fixed-10`` is what projects did before.
- ``es``: early stopping on a stratified slice held back from the labels (``--holdout``),
  the benchmark's rule (TrainConfig defaults: 20 epochs at most, patience 3, a check
  every ceil(1000 / n) epochs), best weights restored; the slice is never trained on.
- ``es-each``: the same with a check after every epoch (the slice is small, so checking
  is cheap).
- ``es-refit``, ``es-each-refit``: the epoch count that early stopping found, then a new
  model trained on all labels for that many epochs (seconds: both fits).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from alden.data.datasets import load_dataset
from alden.data.prepare import prepare, seed_set
from alden.models.contract import TrainConfig
from alden.models.learner import NetworkLearner
from alden.streams import derive_seed

FIXED = (5, 10, 15, 20)
REGIMES = (*(f"fixed-{e}" for e in FIXED), "es", "es-refit", "es-each", "es-each-refit")


def holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held back) positions in ``y``: a stratified slice when every class has 2 items."""
    at = np.arange(len(y))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    fit, held = train_test_split(at, test_size=fraction, stratify=stratify, random_state=seed)
    return np.sort(fit), np.sort(held)


def accuracy(learner: NetworkLearner, test: tuple[np.ndarray, np.ndarray]) -> float:
    return float((learner.predict(test[0]) == test[1]).mean())


def best_epoch(history: list[dict]) -> int:
    """The epoch whose weights early stopping kept (best validation accuracy, then loss)."""
    checked = [h for h in history if "val_accuracy" in h]
    return min(checked, key=lambda h: (-h["val_accuracy"], h["val_loss"]))["epoch"]


def seconds(history: list[dict]) -> float:
    return sum(h["train_seconds"] + h.get("val_seconds", 0.0) for h in history)


def cell(prepared, n: int, seed: int, holdout: float, done: set[str]) -> list[dict]:
    """Every regime not in ``done`` for one labeled set of ``n`` items."""
    pool = prepared.train_idx
    test = prepared.test()
    make = {"embeddings": prepared.embeddings, "n_classes": len(prepared.classes)}
    labeled = pool[seed_set(prepared.y[pool], n / len(pool), np.random.default_rng([seed, n]))]
    x, y = prepared.x[labeled], prepared.y[labeled]
    fit_seed = derive_seed(seed, n)
    rows = []
    if not all(f"fixed-{e}" in done for e in FIXED):
        marks: dict[int, float] = {}

        def read(fitted: NetworkLearner, record: dict) -> None:
            if record["epoch"] in FIXED:
                marks[record["epoch"]] = accuracy(fitted, test)

        learner = NetworkLearner("cnn", config=TrainConfig(fixed_epochs=max(FIXED)), **make)
        learner.fit(x, y, seed=fit_seed, on_epoch=read)
        for e in FIXED:
            rows.append({"regime": f"fixed-{e}", "accuracy": marks[e], "epochs": e,
                         "seconds": seconds(learner.history[:e])})
    fit, held = holdout_split(y, holdout, fit_seed % 2**31)
    for name, config in (("es", TrainConfig()), ("es-each", TrainConfig(min_items_per_check=1))):
        if name in done and f"{name}-refit" in done:
            continue
        learner = NetworkLearner("cnn", config=config, **make)
        learner.fit(x[fit], y[fit], x[held], y[held], seed=fit_seed)
        found, spent = best_epoch(learner.history), seconds(learner.history)
        rows.append({"regime": name, "accuracy": accuracy(learner, test), "epochs": found,
                     "trained_epochs": len(learner.history), "seconds": spent})
        refit = NetworkLearner("cnn", config=TrainConfig(fixed_epochs=found), **make)
        refit.fit(x, y, seed=fit_seed)
        rows.append({"regime": f"{name}-refit", "accuracy": accuracy(refit, test),
                     "epochs": found, "seconds": spent + seconds(refit.history)})
    return [r for r in rows if r["regime"] not in done]


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done: dict[tuple, set[str]] = {}
    if out.exists():
        for line in out.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            done.setdefault((r["dataset"], r["seed"], r["n"], r["holdout"]), set()).add(
                r["regime"])
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in args.datasets.split(","):
            sizes = [int(s) for s in args.sizes.split(",")]
            if all(set(REGIMES) <= done.get((name, seed, n, args.holdout), set())
                   for n in sizes):
                continue
            prepared = prepare(load_dataset(name, progress=False), seed)
            for n in sizes:
                key = (name, seed, n, args.holdout)
                started = time.perf_counter()
                rows = cell(prepared, n, seed, args.holdout, done.get(key, set()))
                with out.open("a", encoding="utf-8") as f:
                    for r in rows:
                        f.write(json.dumps({"dataset": name, "seed": seed, "n": n,
                                            "holdout": args.holdout, **r}) + "\n")
                print(f"{name} seed {seed} n={n}: "
                      + " ".join(f"{r['regime']} {r['accuracy']:.3f}" for r in rows)
                      + f" ({time.perf_counter() - started:.0f}s)", flush=True)


def table(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for path in args.files
            for line in open(path, encoding="utf-8") if line.strip()]
    regimes = [r for r in REGIMES if any(row["regime"] == r for row in rows)]
    cells = sorted({(r["dataset"], r["n"]) for r in rows})
    by: dict[tuple, list[dict]] = {}
    for r in rows:
        by.setdefault((r["dataset"], r["n"], r["regime"]), []).append(r)
    for stat in ("mean", "median"):
        f = statistics.mean if stat == "mean" else statistics.median
        print(f"\nTest accuracy, {stat} over seeds (seeds per cell in brackets)\n")
        print("| regime | " + " | ".join(f"{d} {n}" for d, n in cells) + " | mean |")
        print("| --- |" + " --- |" * (len(cells) + 1))
        for regime in regimes:
            values = [f([r["accuracy"] for r in by.get((d, n, regime), [])] or [np.nan])
                      for d, n in cells]
            counts = [len(by.get((d, n, regime), [])) for d, n in cells]
            print(f"| {regime} | " + " | ".join(f"{v:.3f} [{c}]" for v, c in zip(
                values, counts, strict=True)) + f" | {np.nanmean(values):.3f} |")
    print("\nTraining seconds (validation included), mean over seeds\n")
    print("| regime | " + " | ".join(f"{d} {n}" for d, n in cells) + " | total |")
    print("| --- |" + " --- |" * (len(cells) + 1))
    for regime in regimes:
        values = [statistics.mean([r["seconds"] for r in by.get((d, n, regime), [])] or [np.nan])
                  for d, n in cells]
        print(f"| {regime} | " + " | ".join(f"{v:.1f}" for v in values)
              + f" | {np.nansum(values):.1f} |")
    print("\nDips: a size whose test accuracy is more than 3 points below the next smaller "
          "size's (same dataset, seed and regime; summed)\n")
    curves: dict[tuple, dict[int, float]] = {}
    for r in rows:
        curves.setdefault((r["regime"], r["dataset"], r["seed"]), {})[r["n"]] = r["accuracy"]
    for regime in regimes:
        found = compared = 0
        for (name, _d, _s), curve in curves.items():
            if name == regime:
                acc = [curve[n] for n in sorted(curve)]
                compared += len(acc) - 1
                found += sum(b < a - 0.03 for a, b in zip(acc, acc[1:], strict=False))
        print(f"{regime}: {found} of {compared}")
    print("\nEpochs early stopping kept (mean over seeds)\n")
    for regime in ("es", "es-each"):
        values = [statistics.mean([r["epochs"] for r in by.get((d, n, regime), [])] or [np.nan])
                  for d, n in cells]
        print(f"{regime}: " + ", ".join(f"{d} {n}: {v:.1f}" for (d, n), v in zip(
            cells, values, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--datasets", default="subj,mr")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--sizes", default="50,100,200,500,1000")
    p.add_argument("--holdout", type=float, default=0.2, help="share of the labels held back")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/project_training.jsonl")
    p.set_defaults(func=run)
    t = sub.add_parser("table")
    t.add_argument("files", nargs="+")
    t.set_defaults(func=table)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
