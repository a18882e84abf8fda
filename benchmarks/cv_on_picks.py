"""How far cross-validation on the picked labels is from the real accuracy, next to the check
set's estimate (issue 23, point 4): a project on Subj sentences, labeled round by round by an
oracle, with rows held back that the project never sees.

Each round: `alden status`'s cross-validation on the training labels (the items the strategy
picked), the check set's accuracy with its 95% interval (items drawn at random, never trained
on), and the current model's accuracy on the held-back rows (the truth).

    ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/cv_on_picks.py \
        --items 3000 --held-back 500 --check 200 --seeds 0 1
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from alden.data.datasets import load_dataset
from alden.project.check import add_check
from alden.project.init import init_project
from alden.project.predict import predict
from alden.project.query import query
from alden.project.status import status
from alden.project.teach import teach_file


def write_rows(path: Path, rows: list[list[str]], header: list[str]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def answer(batch: Path, truth: dict[str, str], out: Path) -> Path:
    """The batch file with the oracle's label in each row."""
    with open(batch, newline="", encoding="utf-8") as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    return write_rows(out, [[i, truth[i]] for i in ids], ["id", "label"])


def run(args: argparse.Namespace, seed: int, work: Path) -> list[dict[str, object]]:
    data = load_dataset(args.dataset)
    picked = np.random.default_rng(seed).choice(len(data), args.items + args.held_back,
                                                replace=False)
    ids = [f"s{i}" for i in picked]
    truth = {f"s{i}": data.label_names[data.labels[i]] for i in picked}
    texts = {f"s{i}": data.texts[i] for i in picked}
    pool = write_rows(work / "pool.csv", [[i, texts[i]] for i in ids[:args.items]],
                      ["id", "text"])
    held = ids[args.items:]
    held_file = write_rows(work / "held.csv", [[i, texts[i]] for i in held], ["id", "text"])
    folder = work / "project"
    init_project(folder, pool, id_column="id", classes=data.label_names, seed=seed,
                 strategy=args.strategy)
    check = add_check(folder, args.check)
    teach_file(folder, answer(check.files[0], truth, work / "check.csv"))
    rows = []
    for r in range(args.rounds):
        batch = query(folder, args.first if r == 0 else args.k)
        teach_file(folder, answer(batch.files[0], truth, work / f"r{r}.csv"))
        if r == 0:
            continue
        s = status(folder, curve=False)
        p = predict(folder, held_file, id_column="id")
        real = float(np.mean([p.classes[int(q.argmax())] == truth[i]
                              for i, q in zip(p.ids, p.proba, strict=True)]))
        c = s.stopping.check if s.stopping else None
        rows.append({"seed": seed, "labels": s.accuracy.n_labeled if s.accuracy else None,
                     "cv": s.accuracy.accuracy if s.accuracy else None,
                     "check": c.accuracy if c else None, "low": c.low if c else None,
                     "high": c.high if c else None, "held": real})
        print_row(rows[-1])
    return rows


def print_row(row: dict[str, object]) -> None:
    cv, held = row["cv"], row["held"]
    gap = "" if cv is None else f"{100 * (cv - held):+.1f}"  # type: ignore[operator]
    check = (f"{row['check']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"
             if row["check"] is not None else "-")
    inside = ("" if row["check"] is None
              else "yes" if row["low"] <= held <= row["high"] else "no")  # type: ignore[operator]
    print(f"| {row['seed']} | {row['labels']} | {cv:.3f} | {check} | {inside} | {held:.3f} | "
          f"{gap} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="subj")
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--held-back", type=int, default=500)
    parser.add_argument("--check", type=int, default=200)
    parser.add_argument("--strategy", default=None, help="default: the model's")
    parser.add_argument("--first", type=int, default=20, help="the cold start's batch")
    parser.add_argument("--k", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    print("| seed | labels | CV on picks | check set [95% interval] | held-back inside | "
          "held-back | CV - held-back (points) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            rows += run(args, seed, Path(tmp))
    gaps = [100 * (r["cv"] - r["held"]) for r in rows if r["cv"] is not None]  # type: ignore
    inside = [r["low"] <= r["held"] <= r["high"] for r in rows if r["check"] is not None]  # type: ignore
    print(f"CV minus held-back: mean {np.mean(gaps):+.1f} points, range "
          f"{min(gaps):+.1f} to {max(gaps):+.1f}; the check set's interval held the "
          f"held-back accuracy in {sum(inside)} of {len(inside)} rounds")


if __name__ == "__main__":
    main()
