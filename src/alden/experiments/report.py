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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from alden.atomic import replacing, write_atomic
from alden.experiments.curves import (
    TIME_FIELDS,
    Curve,
    Group,
    auc_table,
    build_curves,
    load_published,
    load_records,
    load_timings,
    paired_comparison,
    strategy_sort_key,
    time_table,
)
from alden.experiments.run_files import (
    INVOCATIONS,
    OPTIONS,
    RESULTS,
    finished_runs,
    read_lines,
)
from alden.experiments.stopping_report import (
    load_criteria,
    stopping_markdown,
    stopping_rows,
    stopping_summary,
)

# Display order: the paper's Table 1 order, then the extra baselines; others alphabetically.
# ----------------------------------------------------------------------------- output


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", Path(text).name).strip("_") or "data"


def _several_options(groups: list[Group]) -> set[Group]:
    """Groups whose dataset/model pair was run with more than one options hash."""
    pairs: defaultdict[tuple[str, str], int] = defaultdict(int)
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
                 reference: str | Sequence[str] = "alden",
                 published: str | Path | None = None) -> tuple[dict[str, Path], str]:
    """Write report.md, auc.csv, paired.csv, time.csv and one curves PNG per group (and,
    given a ``published`` CSV, our AUCs beside those); returns the files by name and the
    AUC table as Markdown. ``reference``: the strategy (or strategies, each in a section of
    its own) compared with every other, paired by seed."""
    references = [reference] if isinstance(reference, str) else list(reference)
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir
    out.mkdir(parents=True, exist_ok=True)
    records = load_records(results_dir)
    published_aucs = load_published(published) if published is not None else None
    curves = build_curves(records)
    names = _group_names(list(curves))
    table = auc_table(curves)
    table_md = auc_markdown(table, names)
    paired = [row for ref in references for row in paired_comparison(curves, ref)]
    times = time_table(records, load_timings(results_dir))
    files: dict[str, Path] = {}
    sections = ["# Benchmark report\n", f"From `{results_dir / RESULTS}`. Normalised AUC: "
                "area under test accuracy against labeled fraction, divided by the fraction "
                "range (a mean accuracy; docs/protocol.md). Cells: median over seeds (seeds).\n",
                "## Normalised area under the learning curve\n", table_md]
    if published is not None and published_aucs is not None:
        for row in table:
            row["published_auc"] = published_aucs.get((row["dataset"], row["model"],
                                                        row["strategy"]))
        sections += [f"## Beside the published numbers ({Path(published).name})\n",
                     published_markdown(table, names, published_aucs)]
    for ref in references:
        rows = [row for row in paired if row["reference"] == ref]
        sections += [f"## {ref} against each baseline, paired by seed\n",
                     paired_markdown(rows, names) if rows
                     else f"n/a: no {ref} runs in these results.\n"]
    if times:
        sections += ["## Where the time went (mean seconds per run, share of the run)\n",
                     time_markdown(times, names)]
    stops = stopping_rows(records, load_criteria(results_dir, finished_runs(records)))
    if stops:
        sections += ["## Where each stopping criterion would have stopped (criteria.jsonl)\n",
                     "Over strategies and seeds; accuracy lost: test accuracy at the end of "
                     "the run minus at the stop, in points (docs/protocol.md).\n",
                     stopping_markdown(stopping_summary(stops), names)]
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
    if stops:
        outputs["stopping"] = ("stopping.csv", _csv(stops))
    for key, (name, text) in outputs.items():
        write_atomic(out / name, text)
        files[key] = out / name
    return files, table_md


def _report_command(args: argparse.Namespace) -> int:
    files, table_md = write_report(args.results, args.out, args.reference or ["alden"],
                                   args.published)
    print(table_md)
    for name, path in files.items():
        print(f"{name}: {path}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``alden report``."""
    p = subparsers.add_parser(
        "report", help="plots and tables from a benchmark's results",
        description="Learning curves (PNG), normalised AUC table (Markdown, CSV), paired "
                    "comparison of one strategy against the others, and where the time went.")
    p.add_argument("results", metavar="DIR", help="folder holding results.jsonl")
    p.add_argument("--out", default=None, metavar="FOLDER", help="where to write (default: DIR)")
    p.add_argument("--reference", action="append", metavar="STRATEGY",
                   help="a strategy compared against each other one, paired by seed; "
                        "repeat for several (default alden)")
    p.add_argument("--published", default=None, metavar="CSV",
                   help="published AUCs to show beside ours (columns dataset, model, strategy, "
                        "auc), e.g. docs/runs/paper/published.csv for the paper's Table 1")
    p.set_defaults(func=_report_command)
