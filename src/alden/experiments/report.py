"""Reports from a benchmark's files: learning curves, normalised AUC, paired tests, time spent.

Reads ``DIR/results.jsonl`` (and ``DIR/timings.jsonl`` when present) as ``alden benchmark``
writes them; ``docs/protocol.md`` defines every number written here.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alden.atomic import replacing, write_atomic
from alden.errors import AldenError
from alden.experiments.run_files import (
    INVOCATIONS,
    OPTIONS,
    RESULTS,
    TIMINGS,
    finished_runs,
    read_lines,
    run_key,
)

# Display order: the paper's Table 1 order, then the extra baselines; others alphabetically.
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
    fewer than 2 paired seeds, no reference runs, or every difference zero)."""
    from scipy.stats import wilcoxon

    rows = []
    for (dataset, model, options), by_strategy in curves.items():
        ours = by_strategy[reference].aucs() if reference in by_strategy else {}
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


# ----------------------------------------------------------------------------- output


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", Path(text).name).strip("_") or "data"


def _several_options(groups: list[Group]) -> set[Group]:
    """Groups whose dataset/model pair was run with more than one options hash."""
    pairs = defaultdict(int)
    for dataset, model, _ in groups:
        pairs[(dataset, model)] += 1
    return {g for g in groups if pairs[g[:2]] > 1}


def _group_names(groups: list[Group]) -> dict[Group, str]:
    """"dataset/model", with the options hash only where a pair has several."""
    several = _several_options(groups)
    return {g: f"{g[0]}/{g[1]}" + (f" [{g[2]}]" if g in several else "") for g in groups}


def plot_curves(group_name: str, by_strategy: dict[str, Curve], path: Path) -> None:
    """Accuracy vs labeled fraction, median over seeds with the interquartile band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for strategy, curve in by_strategy.items():
        q25, median, q75 = np.percentile(curve.accuracies, [25, 50, 75], axis=0)
        x = 100 * curve.fractions
        (line,) = ax.plot(x, median, marker="o", markersize=3,
                          label=f"{strategy} ({len(curve.seeds)})")
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel("labeled (% of the pool)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{group_name}: median over seeds, band = interquartile range")
    ax.grid(alpha=0.3)
    ax.legend(title="strategy (seeds)", fontsize=8)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def auc_markdown(table: list[dict], names: dict[Group, str]) -> str:
    """Table 1's shape: a row per strategy, a column per dataset/model, median AUC (seeds)."""
    columns = list(names)
    strategies = sorted({r["strategy"] for r in table}, key=strategy_sort_key)
    cell = {(r["dataset"], r["model"], r["options"], r["strategy"]): r for r in table}
    rows = []
    for strategy in strategies:
        row = [strategy]
        for group in columns:
            r = cell.get((*group, strategy))
            row.append(f"{r['median_auc']:.3f} ({r['seeds']})" if r else "")
        rows.append(row)
    return _markdown(["strategy", *(names[g] for g in columns)], rows)


def _ranks(values: dict[str, float]) -> dict[str, int]:
    """Rank 1 for the largest value (ties share the better rank)."""
    return {k: 1 + sum(other > v for other in values.values()) for k, v in values.items()}


def published_markdown(table: list[dict], names: dict[Group, str],
                       published: dict[tuple[str, str, str], float]) -> str:
    """Ours beside the published AUC per dataset/model, each with its rank among the
    strategies both have: absolute values need not match (the normalisation and the
    training differ), the order of the strategies should."""
    header, columns = ["strategy"], []
    for group in names:
        mine = {r["strategy"]: r["median_auc"] for r in table if (r["dataset"], r["model"],
                                                                   r["options"]) == group}
        theirs = {s: published[(group[0], group[1], s)] for s in mine
                  if (group[0], group[1], s) in published}
        if theirs:
            both = {s: mine[s] for s in theirs}
            columns.append((group, _ranks(both), theirs, _ranks(theirs), both))
            header += [f"{names[group]} ours (rank)", f"{names[group]} published (rank)"]
    if not columns:
        return "No published numbers for these data sets and models.\n"
    strategies = sorted({s for *_, both in columns for s in both}, key=strategy_sort_key)
    rows = []
    for strategy in strategies:
        row = [strategy]
        for _, our_rank, theirs, their_rank, both in columns:
            if strategy in both:
                row += [f"{both[strategy]:.3f} ({our_rank[strategy]})",
                        f"{theirs[strategy]:.3f} ({their_rank[strategy]})"]
            else:
                row += ["", ""]
        rows.append(row)
    return _markdown(header, rows)


def paired_markdown(paired: list[dict], names: dict[Group, str]) -> str:
    rows = []
    for r in paired:
        if r["pairs"] == 0:
            rows.append([names[(r["dataset"], r["model"], r["options"])], r["baseline"], "0",
                         "n/a", "n/a", "n/a"])
            continue
        p = f"{r['p_value']:.3g}" if r["p_value"] is not None else "n/a"
        rows.append([names[(r["dataset"], r["model"], r["options"])], r["baseline"],
                     str(r["pairs"]), f"{r['wins']}/{r['ties']}/{r['losses']}",
                     f"{r['median_difference']:+.4f}", p])
    reference = paired[0]["reference"] if paired else "alden"
    return _markdown(["data/model", "baseline", "paired seeds", f"{reference} wins/ties/losses",
                      "median AUC difference", "Wilcoxon p"], rows)


def time_markdown(times: list[dict], names: dict[Group, str]) -> str:
    rows = []
    for r in times:
        total = r["total_seconds"] or 1.0
        rows.append([names[(r["dataset"], r["model"], r["options"])], r["strategy"],
                     str(r["runs"]), *(f"{r[f]:.1f} ({100 * r[f] / total:.0f}%)"
                                       for f in TIME_FIELDS), f"{r['total_seconds']:.1f}"])
    return _markdown(["data/model", "strategy", "runs", "train s", "validation s", "test s",
                      "score s", "select s", "total s"], rows)


def invocations_markdown(results_dir: Path) -> str | None:
    """The benchmark commands that wrote ``results_dir``, with their wall time and total;
    None where the file is missing (results from before it existed)."""
    invocations = [rec for _, rec in read_lines(results_dir / INVOCATIONS)[0]]
    if not invocations:
        return None
    rows = [[rec["started"], f"{rec['wall_seconds']:.0f}",
             f"{rec['ran']} of {rec['total']} ({rec['skipped']} done before)",
             "yes" if rec["finished"] else "no (interrupted)",
             f"{rec['workers']} x {rec['threads']}" + (" on Ray" if rec["ray_address"] else ""),
             f"{rec['cpus']} ({rec['machine']})",
             "`" + " ".join(rec["command"]) + "`" if rec.get("command") else ""]
            for rec in invocations]
    total = sum(rec["wall_seconds"] for rec in invocations)
    return (_markdown(["started (UTC)", "wall s", "runs", "finished", "workers x threads",
                       "CPUs", "command"], rows)
            + f"\nWall time in all: {total:.0f} s ({total / 3600:.2f} h).\n")


def write_report(results_dir: str | Path, out_dir: str | Path | None = None,
                 reference: str = "alden", published: str | Path | None = None
                 ) -> tuple[dict[str, Path], str]:
    """Write report.md, auc.csv, paired.csv, time.csv and one curves PNG per group (and,
    given a ``published`` CSV, our AUCs beside those); returns the files by name and the
    AUC table as Markdown."""
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir
    out.mkdir(parents=True, exist_ok=True)
    records = load_records(results_dir)
    published_aucs = load_published(published) if published is not None else None
    curves = build_curves(records)
    names = _group_names(list(curves))
    table = auc_table(curves)
    table_md = auc_markdown(table, names)
    paired = paired_comparison(curves, reference)
    times = time_table(records, load_timings(results_dir))
    files: dict[str, Path] = {}
    sections = ["# Benchmark report\n", f"From `{results_dir / RESULTS}`. Normalised AUC: "
                "area under test accuracy against labeled fraction, divided by the fraction "
                "range (a mean accuracy; docs/protocol.md). Cells: median over seeds (seeds).\n",
                "## Normalised area under the learning curve\n", table_md]
    if published_aucs is not None:
        for row in table:
            row["published_auc"] = published_aucs.get((row["dataset"], row["model"],
                                                        row["strategy"]))
        sections += [f"## Beside the published numbers ({Path(published).name})\n",
                     published_markdown(table, names, published_aucs)]
    sections += [f"## {reference} against each baseline, paired by seed\n",
                 paired_markdown(paired, names) if reference in {r["strategy"] for r in table}
                 else f"n/a: no {reference} runs in these results.\n"]
    if times:
        sections += ["## Where the time went (mean seconds per run, share of the run)\n",
                     time_markdown(times, names)]
    invocations_md = invocations_markdown(results_dir)
    if invocations_md:
        sections += ["## Benchmark commands (invocations.jsonl)\n", invocations_md]
    sections.append("## Learning curves\n")
    several = _several_options(list(curves))
    for group, by_strategy in curves.items():
        suffix = f"_{group[2]}" if group in several else ""
        png = out / f"curves_{_slug(group[0])}_{_slug(group[1])}{suffix}.png"
        plot_curves(names[group], by_strategy, png)
        files[f"curves {names[group]}"] = png
        sections.append(f"![{names[group]}]({png.name})\n")
    options_path = results_dir / OPTIONS
    if options_path.exists():
        sections += ["## Options\n", "```json\n" + options_path.read_text() + "```\n"]
    outputs = {"report": ("report.md", "\n".join(sections)), "auc": ("auc.csv", _csv(table)),
               "paired": ("paired.csv", _csv(paired)), "time": ("time.csv", _csv(times))}
    for key, (name, text) in outputs.items():
        write_atomic(out / name, text)
        files[key] = out / name
    return files, table_md


def _report_command(args: argparse.Namespace) -> int:
    files, table_md = write_report(args.results, args.out, args.reference, args.published)
    print(table_md)
    for name, path in files.items():
        print(f"{name}: {path}")
    return 0


def register_cli(subparsers) -> None:
    """Add ``alden report``."""
    p = subparsers.add_parser(
        "report", help="plots and tables from a benchmark's results",
        description="Learning curves (PNG), normalised AUC table (Markdown, CSV), paired "
                    "comparison of one strategy against the others, and where the time went.")
    p.add_argument("results", metavar="DIR", help="folder holding results.jsonl")
    p.add_argument("--out", default=None, help="where to write (default: DIR)")
    p.add_argument("--reference", default="alden",
                   help="the strategy compared against each other one (default alden)")
    p.add_argument("--published", default=None, metavar="CSV",
                   help="published AUCs to show beside ours (columns dataset, model, strategy, "
                        "auc), e.g. docs/runs/paper/published.csv for the paper's Table 1")
    p.set_defaults(func=_report_command)
