"""The encoder grid's normalised AUC per data set, seed and strategy, as a markdown table.

Reads a benchmark folder (default docs/runs/encoder); only finished runs count. One row per
strategy, one column per (data set, seed): the paired view behind the medians of
``alden report``; then where ALDEN ranks among the strategies in each column.

    .venv/bin/python benchmarks/encoder_seeds.py [docs/runs/encoder]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from alden.experiments.curves import load_records, normalised_auc, strategy_sort_key


def aucs(folder: str) -> dict[tuple[str, str, int], float]:
    """(data set, strategy, seed) -> normalised AUC of each finished run."""
    runs: dict[tuple[str, str, int], list[tuple[float, float]]] = defaultdict(list)
    rounds: dict[tuple[str, str, int], int] = {}
    for r in load_records(folder):
        key = (r["dataset"], r["strategy"], r["seed"])
        runs[key].append((r["fraction"], r["accuracy"]))
        rounds[key] = r["rounds"]
    out = {}
    for key, points in runs.items():
        if len(points) == rounds[key]:
            f, a = np.array(sorted(points)).T
            out[key] = normalised_auc(f, a)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default="docs/runs/encoder")
    parser.add_argument("--reference", default="alden")
    args = parser.parse_args()
    table = aucs(args.folder)
    columns = sorted({(d, s) for d, _, s in table}, key=lambda c: (c[0] != "subj", c))
    strategies = sorted({s for _, s, _ in table}, key=strategy_sort_key)
    print("| strategy | " + " | ".join(f"{d} s{s}" for d, s in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for strategy in strategies:
        cells = [f"{table[(d, strategy, s)]:.4f}" if (d, strategy, s) in table else ""
                 for d, s in columns]
        print(f"| {strategy} | " + " | ".join(cells) + " |")
    ranks = []
    for d, s in columns:
        if (d, args.reference, s) in table:
            # entropy and margin pick alike for two classes: one of them counts
            rivals = {k: v for k, v in table.items()
                      if k[0] == d and k[2] == s and k[1] != "entropy"}
            order = sorted(rivals, key=rivals.get, reverse=True)
            ranks.append(f"{d} s{s}: {order.index((d, args.reference, s)) + 1} of {len(order)}")
    print(f"\n{args.reference} ranks: " + "; ".join(ranks))


if __name__ == "__main__":
    main()
