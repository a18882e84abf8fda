"""The tables of issue 24's batch and class-balance runs (docs/runs/batch, docs/runs/balance):
per (data set, strategy) the normalised AUC (``experiments.curves.normalised_auc``: mean test
accuracy over the labeled range) of each seed and their mean, the accuracy at the last
round, and the mean seconds of a query (score + select, ``timings.jsonl``).

    PYTHONPATH=src .venv/bin/python benchmarks/batch_table.py docs/runs/batch
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(folder: Path) -> str:
    from alden.experiments.curves import normalised_auc

    runs: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows_of(folder / "results.jsonl"):
        runs[(Path(r["dataset"]).stem, r["strategy"], r["seed"])].append(r)
    seconds: dict[tuple, list[float]] = defaultdict(list)
    for t in rows_of(folder / "timings.jsonl"):
        if t["query_seconds"] > 0:
            seconds[(Path(t["dataset"]).stem, t["strategy"])].append(t["query_seconds"])
    cells: dict[tuple, dict[int, tuple[float, float]]] = defaultdict(dict)
    for (data, strategy, seed), rs in runs.items():
        rs.sort(key=lambda r: r["round"])
        auc = normalised_auc(np.array([r["fraction"] for r in rs]),
                             np.array([r["accuracy"] for r in rs]))
        cells[(data, strategy)][seed] = (auc, rs[-1]["accuracy"])
    seeds = sorted({s for c in cells.values() for s in c})
    head = ("| data | strategy | AUC mean | " + " | ".join(f"seed {s}" for s in seeds)
            + " | last accuracy (mean) | query s (mean) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (data, strategy), by_seed in sorted(cells.items()):
        aucs = [by_seed[s][0] if s in by_seed else float("nan") for s in seeds]
        last = np.mean([v[1] for v in by_seed.values()])
        q = seconds.get((data, strategy), [])
        lines.append(f"| {data} | {strategy} | {np.nanmean(aucs):.4f} | "
                     + " | ".join(f"{a:.4f}" for a in aucs)
                     + f" | {last:.4f} | {np.mean(q) if q else 0:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    print(table(parser.parse_args().folder))


if __name__ == "__main__":
    main()
