"""Large pools: seconds and peak memory of `alden init` and of one query per strategy.

    nice -n 10 env ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/bench_scale.py \
        --sizes 10000 100000 --label after --work /tmp/scale [--src src]

The pools are synthetic, made from the sentences of Subj and MR (20,662 sentences, about
22 words each): for a pool of N texts, N sentences drawn with replacement (seeded, numpy's
default_rng(seed)), each with its words shuffled within the sentence (the same generator),
so the texts are not copies of each other and the vocabulary is the two sets' (about 37,000
words); written as ``WORK/pool-N.csv`` (id, text), with ``labels-N.csv``: 400 items drawn
from the pool, labeled with the class of the sentence they came from (objective,
subjective, negative, positive).

Each step runs as its own process (``alden`` from ``--src``) and its peak memory is that
process's maximum resident set size (``os.wait4``'s rusage), so peaks are per step:
  init     `alden init` with a cold cache (a new empty $ALDEN_CACHE): word2vec included
  teach    `alden teach` of the 400 labels
  STRATEGY `alden query --k 10 --strategy STRATEGY --threads T` (``--threads``, default
           2; kept with the row as ``threads``): the first query trains
           the TextCNN on the 400 labels and saves it (alden runs first, so its time is
           that of a whole query); the others reuse the saved model, as a project does.
With ``--model`` (a sentence encoder, e.g. minilm) init makes an encoder project and the
encoder cache is kept from step to step: the first full-pool query encodes the pool, the
later ones (e.g. ``margin:subpool=20000``) read already-encoded items.
The step's CPU seconds (user + system, all its threads: ``cpu_s``) and the machine's
1-minute load average when it starts (``load``) are kept with it: on a shared machine the
wall seconds are only comparable at similar loads, the CPU seconds nearly always.
Results are appended to ``WORK/results.jsonl`` (one line per label, size and step) and a
step already there is skipped, so a stopped run resumes; the table of every label in the
file is printed at the end (``--table`` prints it without running anything).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

STRATEGIES = ("alden", "margin", "random", "entropy", "bald", "coreset", "badge", "egl_word")
N_LABELS = 400


def make_pool(work: Path, n: int, seed: int) -> tuple[Path, Path]:
    """The pool's CSV and its labels file (see the module docstring), written once."""
    from alden.data.datasets import load_dataset

    pool, labels = work / f"pool-{n}.csv", work / f"labels-{n}.csv"
    if pool.exists() and labels.exists():
        return pool, labels
    sentences: list[list[str]] = []
    classes: list[str] = []
    for name in ("subj", "mr"):
        data = load_dataset(name)
        sentences += [text.split() for text in data.texts]
        classes += [data.label_names[y] for y in data.labels]
    rng = np.random.default_rng(seed)
    source = rng.integers(len(sentences), size=n)
    tmp = pool.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i, s in enumerate(source):
            words = sentences[s]
            writer.writerow([f"t{i}", " ".join(words[j] for j in rng.permutation(len(words)))])
    os.replace(tmp, pool)
    with open(labels, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label"])
        for i in np.sort(rng.choice(n, size=min(N_LABELS, n), replace=False)):
            writer.writerow([f"t{i}", classes[source[i]]])
    return pool, labels


def run_step(args: list[str], env: dict[str, str], log: Path) -> dict:
    """Run one `alden` command; its seconds, peak RSS (MiB) and exit status."""
    started, load = time.perf_counter(), os.getloadavg()[0]
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(args)}\n")
        out.flush()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": round(time.perf_counter() - started, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_mib": round(usage.ru_maxrss / 1024, 1), "rc": proc.returncode,
            "load": round(load, 1)}


def done(results: Path) -> set[tuple[str, int, str]]:
    if not results.exists():
        return set()
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return {(r["label"], r["n"], r["step"]) for r in rows if r["rc"] == 0}


def bench_size(n: int, args: argparse.Namespace) -> None:
    """Every step not yet done for a pool of ``n`` texts."""
    work, results = Path(args.work), Path(args.work) / "results.jsonl"
    finished = done(results)
    pool, labels = make_pool(work, n, args.seed)
    project = work / f"project-{args.label}-{n}"
    env = {**os.environ, "PYTHONPATH": str(Path(args.src).resolve())}
    alden = [sys.executable, "-m", "alden.cli"]
    steps: list[tuple[str, list[str]]] = [
        ("init", [*alden, "init", str(project), "--data", str(pool), "--id-column", "id",
                  *(["--model", args.model] if args.model else [])]),
        ("teach", [*alden, "teach", str(project), str(labels)])]
    steps += [(s, [*alden, "query", str(project), "--k", "10", "--strategy", s,
                   "--threads", str(args.threads)]) for s in args.strategies]
    if (args.label, n, "init") not in finished and project.exists():
        shutil.rmtree(project)  # a half-made run: start the project again
    for step, command in steps:
        if (args.label, n, step) in finished:
            continue
        # a word model: every step's cache cold; an encoder: one cache a project, cold at
        # init, kept after (its queries read already-encoded items, as a project's do)
        cache = work / (f"cache-{args.label}-{n}" if args.model else
                        f"cache-{args.label}-{n}-{step}")
        if step == "init" or not args.model:
            shutil.rmtree(cache, ignore_errors=True)
        row = run_step(command, {**env, "ALDEN_CACHE": str(cache)},
                       work / f"log-{args.label}-{n}.txt")
        if not args.model:
            shutil.rmtree(cache, ignore_errors=True)
        row = {"label": args.label, "n": n, "step": step, **row,
               **({"threads": args.threads} if step in args.strategies else {})}
        with open(results, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        if row["rc"] != 0:
            raise SystemExit(f"{step} failed at {n}: see {work}/log-{args.label}-{n}.txt")


def table(results: Path) -> str:
    """One Markdown table per label: a row per step, seconds and peak MiB per size."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    out = []
    for label in dict.fromkeys(r["label"] for r in rows):
        mine = {(r["n"], r["step"]): r for r in rows if r["label"] == label and r["rc"] == 0}
        sizes = sorted({n for n, _ in mine})
        steps = list(dict.fromkeys(s for _, s in mine))
        out.append(f"{label}:\n")
        out.append("| step | " + " | ".join(f"{n:,}: s | CPU s | peak MiB" for n in sizes)
                   + " |")
        out.append("|---|" + "---:|" * (3 * len(sizes)))
        for step in steps:
            cells = [(f"{mine[n, step]['seconds']:.0f} | {mine[n, step].get('cpu_s', '')} | "
                      f"{mine[n, step]['peak_mib']:.0f}" if (n, step) in mine else " | | ")
                     for n in sizes]
            out.append(f"| {step} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES),
                        help="the queries to run (none: init and teach only)")
    parser.add_argument("--label", default="after", help="names this code's rows")
    parser.add_argument("--src", default="src", help="the alden source tree to measure")
    parser.add_argument("--work", default="/tmp/alden-scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None,
                        help="init's --model (default: the TextCNN); with an encoder the "
                             "encoder cache is kept from step to step")
    parser.add_argument("--threads", type=int, default=2,
                        help="the queries' torch threads (1 on a machine others keep busy)")
    parser.add_argument("--table", action="store_true", help="print the table only")
    args = parser.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if not args.table:
        for n in args.sizes:
            bench_size(n, args)
    print(table(Path(args.work) / "results.jsonl"))


if __name__ == "__main__":
    main()
