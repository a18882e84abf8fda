"""The encoder grid's normalised AUC per data set, seed and strategy, as a markdown table.

Reads a benchmark folder (default docs/runs/encoder) as `alden report` does. One row per
strategy, one column per (data set, seed): the paired view behind the medians of
``alden report``; then where ALDEN ranks among the strategies in each column.

    .venv/bin/python benchmarks/encoder_seeds.py [docs/runs/encoder]
"""

from __future__ import annotations

import argparse

from alden.experiments.curves import build_curves, load_records, strategy_sort_key


def aucs(folder: str) -> dict[tuple[str, str, int], float]:
    """(data set, strategy, seed) -> normalised AUC of each run, from the report's curves
    (``alden.experiments.curves.build_curves``, which refuses unfinished runs by name)."""
    return {(dataset, strategy, seed): auc
            for (dataset, _model, _options), by_strategy in
            build_curves(load_records(folder)).items()
            for strategy, curve in by_strategy.items()
            for seed, auc in curve.aucs().items()}


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
