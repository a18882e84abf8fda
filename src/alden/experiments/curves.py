"""The numbers of a benchmark report: learning curves per group and strategy, normalised
AUC, paired comparisons by seed and time spent, from ``results.jsonl``/``timings.jsonl``.

``docs/protocol.md`` defines each one; ``report`` renders them.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alden.errors import AldenError
from alden.experiments.run_files import RESULTS, TIMINGS, finished_runs, read_lines, run_key

STRATEGY_ORDER = ("random", "entropy", "margin", "least_confidence", "egl", "egl_word", "bald",
                  "coreset", "badge", "dami", "alden")
TIME_FIELDS = ("train_seconds", "val_seconds", "test_seconds", "score_seconds",
               "select_seconds")

Group = tuple[str, str, str]  # (dataset, model, options hash)


def normalised_auc(fractions: np.ndarray, accuracies: np.ndarray) -> float:
    """Trapezoid area under accuracy vs labeled fraction, divided by the fraction range:
    a mean accuracy in [0, 1]. One point: its accuracy."""
    fractions = np.asarray(fractions, dtype=float)
    accuracies = np.asarray(accuracies, dtype=float)
    if len(fractions) != len(accuracies) or len(fractions) == 0:
        raise AldenError(f"a learning curve needs as many fractions as accuracies, at least "
                         f"one; got {len(fractions)} and {len(accuracies)}")
    if len(fractions) == 1:
        return float(accuracies[0])
    if np.any(np.diff(fractions) <= 0):
        raise AldenError("a learning curve's labeled fractions must increase")
    span = fractions[-1] - fractions[0]
    return float(np.trapezoid(accuracies, fractions) / span)


@dataclass(frozen=True)
class Curve:
    """One strategy's runs in a group: per-seed accuracies over the shared fractions."""

    fractions: np.ndarray  # (R,)
    seeds: tuple[int, ...]
    accuracies: np.ndarray  # (S, R), row i is seed seeds[i]

    def aucs(self) -> dict[int, float]:
        return {seed: normalised_auc(self.fractions, row)
                for seed, row in zip(self.seeds, self.accuracies, strict=True)}


def strategy_sort_key(name: str) -> tuple:
    """Table order: the paper's, then others alphabetically; a variant with options
    (``alden:output=proba``) right after its strategy."""
    base, _, options = name.partition(":")
    rank = STRATEGY_ORDER.index(base) if base in STRATEGY_ORDER else len(STRATEGY_ORDER)
    return (rank, base, options)


def load_records(results_dir: str | Path) -> list[dict]:
    """The finished runs' records of ``results_dir/results.jsonl`` (a cut-short tail skipped)."""
    path = Path(results_dir) / RESULTS
    if not path.exists():
        raise AldenError(f"no {RESULTS} in {results_dir}: run `alden benchmark --out "
                         f"{results_dir}` first")
    records = [record for _, record in read_lines(path)[0]]
    done = finished_runs(records)
    records = [r for r in records if run_key(r) in done]
    if not records:
        raise AldenError(f"{path} holds no finished run yet")
    return records


def load_timings(results_dir: str | Path) -> dict[tuple, dict]:
    """Timing records by (run key, round); the latest wins when a run was repeated."""
    path = Path(results_dir) / TIMINGS
    return {(*run_key(rec), rec["round"]): rec for _, rec in read_lines(path)[0]}


PUBLISHED_COLUMNS = ("dataset", "model", "strategy", "auc")


def load_published(path: str | Path) -> dict[tuple[str, str, str], float]:
    """Published normalised AUCs by (dataset, model, strategy) from a CSV with the columns
    dataset, model, strategy, auc (e.g. the paper's Table 1, docs/runs/paper/published.csv)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise AldenError(f"{path}: cannot read the published numbers ({err.strerror})") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in PUBLISHED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise AldenError(f"{path} line 1: expected the columns {', '.join(PUBLISHED_COLUMNS)}; "
                         f"missing {', '.join(missing)}")
    published = {}
    for line, row in enumerate(reader, 2):
        try:
            value = float(row["auc"])
        except (TypeError, ValueError):
            raise AldenError(f"{path} line {line}, column auc: expected a number, got "
                             f"{row['auc']!r}") from None
        if not 0 <= value <= 1:
            raise AldenError(f"{path} line {line}, column auc: expected a value in [0, 1], "
                             f"got {value}")
        key = (row["dataset"], row["model"], row["strategy"])
        if key in published:
            raise AldenError(f"{path} line {line}: {'/'.join(key)} appears twice")
        published[key] = value
    return published


def build_curves(records: list[dict]) -> dict[Group, dict[str, Curve]]:
    """Curves by group and strategy; runs of a group must share their labeled fractions."""
    runs: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        runs[run_key(record)].append(record)
    grouped: dict[Group, dict[str, dict[int, list[dict]]]] = defaultdict(lambda: defaultdict(dict))
    for (dataset, model, strategy, seed, options), rows in runs.items():
        rows = sorted({r["round"]: r for r in rows}.values(), key=lambda r: r["round"])
        grouped[(dataset, model, options)][strategy][seed] = rows
    curves: dict[Group, dict[str, Curve]] = {}
    for group in sorted(grouped):
        curves[group] = {}
        for strategy in sorted(grouped[group], key=strategy_sort_key):
            by_seed = grouped[group][strategy]
            seeds = tuple(sorted(by_seed))
            fractions = np.array([r["fraction"] for r in by_seed[seeds[0]]])
            for seed in seeds:
                other = np.array([r["fraction"] for r in by_seed[seed]])
                if other.shape != fractions.shape or not np.allclose(other, fractions):
                    raise AldenError(f"{'/'.join(group)} {strategy}: seeds {seeds[0]} and {seed} "
                                     f"have different labeled fractions; the pool sizes differ")
            accuracies = np.array([[r["accuracy"] for r in by_seed[s]] for s in seeds])
            curves[group][strategy] = Curve(fractions, seeds, accuracies)
    return curves


def auc_table(curves: dict[Group, dict[str, Curve]]) -> list[dict]:
    """Per group and strategy: median, quartiles and count of the per-seed normalised AUCs."""
    rows = []
    for (dataset, model, options), by_strategy in curves.items():
        for strategy, curve in by_strategy.items():
            aucs = np.array(list(curve.aucs().values()))
            q25, median, q75 = np.percentile(aucs, [25, 50, 75])
            rows.append({"dataset": dataset, "model": model, "options": options,
                         "strategy": strategy, "seeds": len(aucs), "median_auc": median,
                         "q25_auc": q25, "q75_auc": q75})
    return rows


def paired_comparison(curves: dict[Group, dict[str, Curve]], reference: str = "alden"
                      ) -> list[dict]:
    """``reference`` against each other strategy, over the seeds both ran: wins/ties/losses
    by per-seed AUC, median AUC difference, Wilcoxon signed-rank p (None when undefined:
    fewer than 2 paired seeds or every difference zero). Groups without ``reference`` runs
    give no rows."""
    from scipy.stats import wilcoxon

    rows = []
    for (dataset, model, options), by_strategy in curves.items():
        if reference not in by_strategy:
            continue
        ours = by_strategy[reference].aucs()
        for strategy, curve in by_strategy.items():
            if strategy == reference:
                continue
            theirs = curve.aucs()
            seeds = sorted(set(ours) & set(theirs))
            diff = np.array([ours[s] - theirs[s] for s in seeds])
            p_value = None
            if len(seeds) >= 2 and np.any(diff != 0):
                p_value = float(wilcoxon(diff).pvalue)
            rows.append({"dataset": dataset, "model": model, "options": options,
                         "reference": reference, "baseline": strategy, "pairs": len(seeds),
                         "wins": int((diff > 0).sum()), "ties": int((diff == 0).sum()),
                         "losses": int((diff < 0).sum()),
                         "median_difference": float(np.median(diff)) if len(seeds) else None,
                         "p_value": p_value})
    return rows


def time_table(records: list[dict], timings: dict[tuple, dict]) -> list[dict]:
    """Mean seconds per run (train, test, score, select) per group and strategy, from the
    timing records of the runs in ``records``."""
    sums: dict[tuple, np.ndarray] = defaultdict(lambda: np.zeros(len(TIME_FIELDS)))
    runs: dict[tuple, set] = defaultdict(set)
    for record in records:
        timing = timings.get((*run_key(record), record["round"]))
        if timing is None:
            continue
        key = (record["dataset"], record["model"], record["options"], record["strategy"])
        sums[key] += [timing.get(f, 0.0) for f in TIME_FIELDS]
        runs[key].add(record["seed"])
    rows = []
    for key in sorted(sums, key=lambda k: (k[:3], strategy_sort_key(k[3]))):
        per_run = sums[key] / len(runs[key])
        total = per_run.sum()
        row = dict(zip(("dataset", "model", "options", "strategy"), key, strict=True))
        row["runs"] = len(runs[key])
        row.update({f: float(v) for f, v in zip(TIME_FIELDS, per_run, strict=True)})
        row["total_seconds"] = float(total)
        rows.append(row)
    return rows
