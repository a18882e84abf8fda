"""A fine-tuned encoder's learning curves beside the frozen one's, paired by seed.

For each (data set, strategy, seed) that both models ran (all rounds up to ``--stop``): the
accuracy after the seed set and the normalised AUC over 2%..stop (docs/protocol.md) of the
fine-tuned model (``--model``, default ``minilm+setfit``) and of the frozen one
(``--frozen``, default ``minilm``), their difference, then per strategy the mean difference
and on how many seeds the fine-tuned model is ahead; each strategy's AUC against random's on
the same model and seed (does a strategy help more on the fine-tuned model?, on the seeds
the fine-tuned model ran); then the mean seconds a round spent
training (fine-tune, encoding, head) and choosing, per model and strategy. Each folder holds
a benchmark's results.jsonl and timings.jsonl; the same run in two folders counts once.

    .venv/bin/python benchmarks/setfit_grid.py --model minilm+setfit:mix=1.0 --stop 0.1 \\
        docs/runs/setfit/grid docs/runs/setfit/grid-subj docs/runs/encoder docs/runs/subpool
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
from encoder_auc import finished_curves

from alden.experiments.curves import load_timings, normalised_auc


def seconds(dirs: list[str]) -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """Mean (training, choosing) seconds a round and the rounds counted, per (data set,
    model, strategy)."""
    records = {key: rec for folder in dirs for key, rec in load_timings(folder).items()}
    rounds: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for rec in records.values():  # a round in two folders once
        choose = rec.get("query_seconds", rec["score_seconds"] + rec["select_seconds"])
        rounds[(rec["dataset"], rec["model"], rec["strategy"])].append(
            (rec["train_seconds"], choose))
    return {key: (*np.mean(values, axis=0), len(values)) for key, values in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stop", type=float, default=0.1)
    parser.add_argument("--model", default="minilm+setfit")
    parser.add_argument("--frozen", default="minilm")
    parser.add_argument("dirs", nargs="+")
    args = parser.parse_args()
    runs = finished_curves(args.dirs, args.stop)
    print(f"| data set | strategy | seed | {args.model} at 2% | {args.frozen} at 2% | "
          f"{args.model} AUC | {args.frozen} AUC | difference |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    gains: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (dataset, model, strategy, seed), (_, tuned) in sorted(runs.items()):
        frozen = runs.get((dataset, args.frozen, strategy, seed))
        if model != args.model or frozen is None:
            continue
        tuned_auc = normalised_auc(*runs[(dataset, model, strategy, seed)])
        frozen_auc = normalised_auc(*frozen)
        gains[(dataset, strategy)].append(tuned_auc - frozen_auc)
        print(f"| {dataset} | {strategy} | {seed} | {tuned[0]:.4f} | {frozen[1][0]:.4f} | "
              f"{tuned_auc:.4f} | {frozen_auc:.4f} | {100 * (tuned_auc - frozen_auc):+.1f} |")
    print("\n| data set | strategy | seeds | mean AUC difference (points) | fine-tuned ahead |")
    print("|---|---|---:|---:|---:|")
    for (dataset, strategy), values in sorted(gains.items()):
        ahead = sum(v > 0 for v in values)
        print(f"| {dataset} | {strategy} | {len(values)} | {100 * np.mean(values):+.2f} | "
              f"{ahead} of {len(values)} |")
    print("\n| data set | strategy | model | seeds | AUC minus random's, mean (points) | "
          "ahead of random |")
    print("|---|---|---|---:|---:|---:|")
    for dataset, strategy in sorted(gains):
        for model in (args.model, args.frozen):
            diffs = [normalised_auc(*runs[k]) - normalised_auc(*runs[(dataset, model, "random",
                                                                        k[3])])
                     for k in runs if k[:3] == (dataset, model, strategy)
                     and (dataset, model, "random", k[3]) in runs
                     and (dataset, args.model, strategy, k[3]) in runs]
            if strategy != "random" and diffs:
                print(f"| {dataset} | {strategy} | {model} | {len(diffs)} | "
                      f"{100 * np.mean(diffs):+.2f} | {sum(d > 0 for d in diffs)} of "
                      f"{len(diffs)} |")
    print("\n| data set | model | strategy | rounds | training s a round | choosing s a round |")
    print("|---|---|---|---:|---:|---:|")
    for (dataset, model, strategy), (train, choose, n) in sorted(seconds(args.dirs).items()):
        if model in (args.model, args.frozen) and any(
                k[0] == dataset and k[2] == strategy and k[1] == args.model for k in runs):
            print(f"| {dataset} | {model} | {strategy} | {n} | {train:.0f} | {choose:.1f} |")


if __name__ == "__main__":
    main()
