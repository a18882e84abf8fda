"""Dips in learning curves: rounds whose test accuracy falls more than 3 points below the
previous round's, counted per dataset and model (and per strategy with ``--by-strategy``).

    python benchmarks/dips.py docs/runs/paper/results.jsonl [--threshold 0.03] [--by-strategy]

A dip is noise of one fit (the labeled set only grows from round to round), and it hides
the differences between strategies; this counts them in a results file of the benchmark.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict


def dips(accuracies: list[float], threshold: float) -> list[int]:
    """Indices r >= 1 where ``accuracies[r] < accuracies[r - 1] - threshold``."""
    return [r for r in range(1, len(accuracies))
            if accuracies[r] < accuracies[r - 1] - threshold]


def curves(rows: list[dict]) -> dict[tuple, list[float]]:
    """Accuracy by round for each run (dataset, model, strategy, seed, options)."""
    runs: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in rows:
        runs[(r["dataset"], r["model"], r["strategy"], r["seed"], r["options"])][r["round"]] = \
            r["accuracy"]
    return {k: [v[i] for i in sorted(v)] for k, v in runs.items()}


def table(rows: list[dict], threshold: float, by_strategy: bool = False,
          by_options: bool = False) -> list[tuple]:
    """(group, runs, rounds compared, dips, dips per run, largest drop in points, mean
    accuracy) per group."""
    groups: dict[tuple, list[list[float]]] = defaultdict(list)
    for (dataset, model, strategy, _seed, options), acc in curves(rows).items():
        group = (dataset, model, strategy) if by_strategy else (dataset, model)
        groups[(*group, options) if by_options else group].append(acc)
    out = []
    for group in sorted(groups):
        accs = groups[group]
        found = [dips(a, threshold) for a in accs]
        drops = [a[r - 1] - a[r] for a, f in zip(accs, found, strict=True) for r in f]
        out.append(("/".join(map(str, group)), len(accs), sum(len(a) - 1 for a in accs),
                    sum(map(len, found)), sum(map(len, found)) / len(accs),
                    100 * max(drops, default=0.0),
                    sum(map(sum, accs)) / sum(map(len, accs))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--threshold", type=float, default=0.03)
    parser.add_argument("--by-strategy", action="store_true")
    parser.add_argument("--by-options", action="store_true",
                        help="a group per options hash too (training overrides, fractions)")
    args = parser.parse_args()
    rows = [json.loads(line) for path in args.files
            for line in open(path, encoding="utf-8") if line.strip()]
    print(f"Rounds whose test accuracy is more than {100 * args.threshold:g} points below the "
          f"previous round's\n")
    print("| group | runs | rounds compared | dips | dips per run | largest drop (points) "
          "| mean accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    total = [0, 0, 0]
    for group, n_runs, compared, n_dips, per_run, largest, mean in table(
            rows, args.threshold, args.by_strategy, args.by_options):
        print(f"| {group} | {n_runs} | {compared} | {n_dips} | {per_run:.2f} | {largest:.1f} "
              f"| {mean:.4f} |")
        total = [total[0] + n_runs, total[1] + compared, total[2] + n_dips]
    print(f"| all | {total[0]} | {total[1]} | {total[2]} | {total[2] / max(total[0], 1):.2f} "
          "| | |")


if __name__ == "__main__":
    main()
