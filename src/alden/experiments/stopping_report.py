"""Where each stopping criterion would have stopped a simulated run, and what that cost.

Reads ``criteria.jsonl`` (written by ``alden benchmark`` beside ``results.jsonl``; see
``criteria_record``) and replays every criterion of ``alden.stopping`` over each finished
run's rounds: the first round it says stop, the labels that would have been saved and the
test accuracy lost against the run's last round. A criterion that never fires stops the run
at its end (nothing saved, nothing lost) and is counted as not stopping.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from alden.experiments.run_files import CRITERIA, read_lines, run_key
from alden.stopping import CRITERIA as CRITERION_FUNCTIONS
from alden.stopping import stop_round


def load_criteria(results_dir: str | Path, finished: set[tuple]) -> dict[tuple, list[dict]]:
    """Per finished run (key as ``run_files.run_key``), its criteria rows in round order; a
    run repeated after an interruption keeps one row per round. Empty without the file."""
    path = Path(results_dir) / CRITERIA
    by_run: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for _, record in read_lines(path)[0]:
        key = run_key(record)
        if key in finished:
            by_run[key].setdefault(record["round"], record)
    return {key: [rows[r] for r in sorted(rows)] for key, rows in by_run.items()
            if 0 in rows and sorted(rows) == list(range(rows[0]["rounds"]))}


def stopping_rows(records: list[dict], criteria: dict[tuple, list[dict]],
                  functions: dict[str, Callable] | None = None) -> list[dict]:
    """One row per run and criterion: where it stops and what stopping there saves/loses.
    ``functions``: criteria by name (default: ``alden.stopping.CRITERIA`` as they are)."""
    functions = CRITERION_FUNCTIONS if functions is None else functions
    results: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for record in records:
        results[run_key(record)][record["round"]] = record
    rows = []
    for key, crit_rows in sorted(criteria.items()):
        rounds = results.get(key)
        if not rounds or len(rounds) != len(crit_rows):
            continue
        last = rounds[len(rounds) - 1]
        for name, function in functions.items():
            at = stop_round(function, crit_rows)
            stop = rounds[at if at is not None else len(rounds) - 1]
            rows.append({"dataset": key[0], "model": key[1], "strategy": key[2],
                         "seed": key[3], "options": key[4], "criterion": name,
                         "stopped": at is not None, "stop_round": at,
                         "fraction": stop["fraction"], "labeled": stop["labeled"],
                         "labels_saved": last["labeled"] - stop["labeled"],
                         "accuracy": stop["accuracy"],
                         "accuracy_lost": last["accuracy"] - stop["accuracy"],
                         "final_fraction": last["fraction"], "rounds": len(rounds)})
    return rows


def stopping_summary(rows: list[dict]) -> list[dict]:
    """Per (dataset, model, options, criterion), over strategies and seeds: runs, how many
    stopped before the end, the median labeled fraction at stop, the median labels saved and
    the median and worst accuracy lost (points of test accuracy)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], row["model"], row["options"], row["criterion"])].append(row)
    order = list(dict.fromkeys(r["criterion"] for r in rows))
    summary = []
    for (dataset, model, options, criterion), rs in sorted(
            groups.items(), key=lambda kv: (kv[0][:3], order.index(kv[0][3]))):
        lost = np.array([r["accuracy_lost"] for r in rs])
        summary.append({"dataset": dataset, "model": model, "options": options,
                        "criterion": criterion, "runs": len(rs),
                        "stopped": sum(r["stopped"] for r in rs),
                        "median_round": float(np.median([r["stop_round"] if r["stopped"]
                                                         else r["rounds"] - 1 for r in rs])),
                        "median_fraction": float(np.median([r["fraction"] for r in rs])),
                        "final_fraction": float(np.median([r["final_fraction"] for r in rs])),
                        "median_labels_saved": float(np.median([r["labels_saved"] for r in rs])),
                        "median_accuracy_lost": float(np.median(lost)),
                        "worst_accuracy_lost": float(lost.max())})
    return summary


def stopping_markdown(summary: list[dict], names: dict[tuple, str]) -> str:
    """The summary as a Markdown table (accuracy lost in points)."""
    header = ["data/model", "criterion", "stopped (runs)", "median stop round",
              "median labeled at stop",
              "median labels saved", "median accuracy lost", "worst accuracy lost"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summary:
        group = (s["dataset"], s["model"], s["options"])
        cells = [names.get(group, f"{group[0]}/{group[1]}"), s["criterion"],
                 f"{s['stopped']} ({s['runs']})", f"{s['median_round']:g}",
                 f"{100 * s['median_fraction']:.0f}% of {100 * s['final_fraction']:.0f}%",
                 f"{s['median_labels_saved']:.0f}",
                 f"{100 * s['median_accuracy_lost']:+.1f}",
                 f"{100 * s['worst_accuracy_lost']:+.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
