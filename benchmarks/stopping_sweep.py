"""Where each stopping criterion, at its default and at a few other settings, would have
stopped the simulated runs of a benchmark folder, and what stopping there cost.

    .venv/bin/python benchmarks/stopping_sweep.py docs/runs/stopping [--markdown]

Reads results.jsonl and criteria.jsonl (``alden benchmark`` writes both); replays every
criterion of ``alden.stopping`` over each finished run (``experiments.stopping_report``).
Per data set, over strategies and seeds: runs that stopped before the end, the median
labeled fraction at the stop, the median labels saved and the median and worst test
accuracy lost against the end of the run (points). No training: seconds to run.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections import defaultdict

import numpy as np

from alden import stopping
from alden.experiments.curves import load_records
from alden.experiments.run_files import finished_runs
from alden.experiments.stopping_report import load_criteria, stopping_rows

P = functools.partial
VARIANTS = {
    "stabilizing_predictions (1%, 2 rounds; default)": stopping.stabilizing_predictions,
    "stabilizing_predictions (3%, 2 rounds)": P(stopping.stabilizing_predictions, tolerance=0.03),
    "stabilizing_predictions (5%, 3 rounds)": P(stopping.stabilizing_predictions, tolerance=0.05,
                                                window=3),
    "kappa_average (0.99, 3 rounds; default)": stopping.kappa_average,
    "kappa_average (0.9, 3 rounds)": P(stopping.kappa_average, threshold=0.9),
    "max_uncertainty (0.2; default)": stopping.max_uncertainty,
    "overall_uncertainty (0.1; default)": stopping.overall_uncertainty,
    "overall_uncertainty (0.2)": P(stopping.overall_uncertainty, threshold=0.2),
    "check_plateau (200 items, 2 rounds; default)": stopping.check_plateau,
    "check_plateau (200 items, 4 rounds)": P(stopping.check_plateau, window=4),
    "interpretation_coverage (2%, 3 rounds; default)": stopping.interpretation_coverage,
    "interpretation_coverage (5%, 3 rounds)": P(stopping.interpretation_coverage, tolerance=0.05),
}


def sweep(folder: str) -> list[dict]:
    """One summary row per data set/model and criterion variant."""
    records = load_records(folder)
    rows = stopping_rows(records, load_criteria(folder, finished_runs(records)), VARIANTS)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], row["model"], row["criterion"])].append(row)
    out = []
    for (dataset, model, criterion), rs in groups.items():
        lost = 100 * np.array([r["accuracy_lost"] for r in rs])
        out.append({"data": f"{dataset}/{model}", "criterion": criterion, "runs": len(rs),
                    "stopped": sum(r["stopped"] for r in rs),
                    "strategies": ",".join(sorted({r["strategy"] for r in rs})),
                    "fraction": float(np.median([r["fraction"] for r in rs])),
                    "final": float(np.median([r["final_fraction"] for r in rs])),
                    "saved": float(np.median([r["labels_saved"] for r in rs])),
                    "lost": float(np.median(lost)), "worst": float(lost.max())})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = parser.parse_args(argv)
    table = sweep(args.folder)
    header = ["data/model", "criterion (setting)", "stopped (runs)", "median labeled at stop",
              "median labels saved", "median accuracy lost", "worst accuracy lost"]
    cells = [[t["data"], t["criterion"], f"{t['stopped']} ({t['runs']})",
              f"{100 * t['fraction']:.0f}% of {100 * t['final']:.0f}%", f"{t['saved']:.0f}",
              f"{t['lost']:+.1f}", f"{t['worst']:+.1f}"] for t in table]
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for c in cells:
            print("| " + " | ".join(c) + " |")
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(header, *cells, strict=True)]
        for c in [header, *cells]:
            print("  ".join(str(x).ljust(w) for x, w in zip(c, widths, strict=True)))
    runs = {t["strategies"] for t in table}
    print(f"\nstrategies: {'; '.join(sorted(runs))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
