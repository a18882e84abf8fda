"""The encoder's AUC table beside the word models', over the same labeled range.

The committed TextCNN/BiLSTM grid (docs/runs/paper) runs to 50% labeled, the encoder grid
(docs/runs/encoder) to 20%: this cuts every curve at ``--stop`` and prints the median
normalised AUC over seeds (trapezoid area over 2%..stop divided by the range, as
docs/protocol.md), with the number of seeds, as a markdown table: one row per strategy,
one column per data set and model.

    .venv/bin/python benchmarks/encoder_auc.py --stop 0.2
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from alden.experiments.curves import load_records, normalised_auc, strategy_sort_key

Run = tuple[str, str, str, int]  # data set, model, strategy, seed


def finished_curves(dirs: list[str], stop: float) -> dict[Run, tuple[np.ndarray, np.ndarray]]:
    """(fractions, accuracies) of each run in ``dirs`` that reached ``stop``, cut there; the
    same run in two folders counts once."""
    points: dict[Run, dict[float, float]] = defaultdict(dict)
    for folder in dirs:
        for r in load_records(folder):
            if r["fraction"] <= stop + 1e-3:  # a round's count is rounded to whole items
                key = (r["dataset"], r["model"], r["strategy"], int(r["seed"]))
                points[key][round(r["fraction"], 4)] = r["accuracy"]
    out = {}
    for key, by_fraction in points.items():
        fractions = np.array(sorted(by_fraction))
        if fractions[-1] >= stop - 1e-3:  # else an unfinished run
            out[key] = fractions, np.array([by_fraction[f] for f in fractions])
    return out


def table(dirs: list[str], stop: float) -> str:
    aucs: dict[tuple, list[float]] = defaultdict(list)
    for (dataset, model, strategy, _seed), curve in finished_curves(dirs, stop).items():
        aucs[(dataset, model, strategy)].append(normalised_auc(*curve))
    columns = sorted({(d, m) for d, m, _ in aucs}, key=lambda c: (c[0], c[1] != "minilm", c[1]))
    strategies = sorted({s for _, _, s in aucs}, key=strategy_sort_key)
    lines = ["| strategy | " + " | ".join(f"{d} {m}" for d, m in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for s in strategies:
        cells = []
        for d, m in columns:
            values = aucs.get((d, m, s))
            cells.append(f"{np.median(values):.3f} [{len(values)}]" if values else "")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stop", type=float, default=0.2)
    parser.add_argument("dirs", nargs="*", default=["docs/runs/encoder", "docs/runs/paper"])
    args = parser.parse_args()
    print(table(args.dirs, args.stop))


if __name__ == "__main__":
    main()
