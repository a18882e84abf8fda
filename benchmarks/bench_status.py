"""What `alden status` costs, and how many torch threads to train with by default.

A project of Subj sentences with LABELS labels given over three rounds is made once. Then:

* status: the old default (5 folds, every round of the curve evaluated) against the new one
  (2 folds, the current labels only; earlier rounds from the cache), beside one query's
  training on all the labels: models trained and seconds.
* threads: one training on all the labels with 1 thread, every core, and ``free_cores()``
  (alden.threads), on the machine as it is and, with ``--burn N``, with N more processes
  spinning on the cores (a busy machine). The load average is printed with each row.

Usage (one table per run; ALDEN_DATA must hold subj):
    nice -n 10 .venv/bin/python benchmarks/bench_status.py --labels 300 [--burn 2] [--skip-status]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def burn(stop) -> None:
    """Spin until ``stop`` is set: one busy core."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def make_project(root: Path, n_items: int, n_labels: int) -> Path:
    from alden.data.datasets import load_dataset
    from alden.project import store
    from alden.project.init import init_project
    from alden.project.teach import teach_file

    data = load_dataset("subj", download=False)
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(data.texts), n_items, replace=False)
    path = root / "subj.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "text"], *[[f"s{i}", data.texts[i]] for i in chosen]])
    folder = root / "p"
    init_project(folder, path, id_column="id", classes=data.label_names)
    per_round = n_labels // 3
    for r in range(3):
        rows = [[f"s{i}", data.label_names[data.labels[i]]]
                for i in chosen[r * per_round:(r + 1) * per_round]]
        labels = root / f"labels{r}.csv"
        with open(labels, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["id", "label"], *rows])
        teach_file(folder, labels)
        if r < 2:
            conn = store.connect(folder)
            try:
                store.add_round(conn, strategy="random", model="cnn",
                                n_labeled=per_round * (r + 1), picks=[], info={})
            finally:
                conn.close()
    return folder


def fresh_copy(folder: Path) -> Path:
    """The project without cached evaluations (a copy, so each measure starts cold)."""
    copy = Path(tempfile.mkdtemp(dir=folder.parent)) / "p"
    shutil.copytree(folder, copy)
    return copy


def time_status(folder: Path, folds: int, full: bool) -> tuple[int, float]:
    from alden.project import status as project_status

    copy = fresh_copy(folder)
    real = project_status.train
    count = [0]

    def counted(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    project_status.train = counted
    try:
        start = time.perf_counter()
        project_status.status(copy, folds=folds, full_curve=full,
                              **({"stopping": False} if "stopping" in
                                 project_status.status.__code__.co_varnames else {}))
        return count[0], time.perf_counter() - start
    finally:
        project_status.train = real


def time_training(folder: Path, threads: int) -> float:
    import torch

    from alden.project import store
    from alden.project.trained import train
    from alden.project.workspace import read_project

    torch.set_num_threads(threads)
    conn = store.connect(folder)
    try:
        data = read_project(conn, folder)
    finally:
        conn.close()
    start = time.perf_counter()
    train(data, "cnn")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--burn", type=int, default=0, help="extra spinning processes")
    parser.add_argument("--skip-status", action="store_true")
    parser.add_argument("--work", default="runs/bench_status")
    args = parser.parse_args()
    from alden.threads import free_cores, usable_cores

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ALDEN_CACHE", str(work / "cache"))
    folder = work / "p"
    if not folder.exists():
        make_project(work, args.items, args.labels)
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=burn, args=(stop,), daemon=True)
               for _ in range(args.burn)]
    for p in burners:
        p.start()
    time.sleep(5 if burners else 0)
    try:
        print(f"# {args.labels} labels over 3 rounds, {usable_cores()} cores, "
              f"{args.burn} extra spinning processes", flush=True)
        import torch

        torch.set_num_threads(1)
        if not args.skip_status:
            print("| status | models trained | seconds | load (1 min) |")
            print("| --- | ---: | ---: | ---: |")
            for name, folds, full in (("old default: 5 folds, every round", 5, True),
                                      ("new default: 2 folds, current labels", 2, False)):
                n, seconds = time_status(folder, folds, full)
                print(f"| {name} | {n} | {seconds:.1f} | {os.getloadavg()[0]:.1f} |",
                      flush=True)
            seconds = time_training(folder, 1)
            print(f"| one query's training on all labels | 1 | {seconds:.1f} | "
                  f"{os.getloadavg()[0]:.1f} |", flush=True)
        print("\n| threads | chosen | training seconds | load (1 min) |")
        print("| --- | ---: | ---: | ---: |")
        for name in ("1", "every core", "free cores (default)", "1", "every core",
                     "free cores (default)"):
            threads = {"1": 1, "every core": usable_cores()}.get(name) or free_cores()
            seconds = time_training(folder, threads)
            print(f"| {name} | {threads} | {seconds:.1f} | {os.getloadavg()[0]:.1f} |",
                  flush=True)
    finally:
        stop.set()
        for p in burners:
            p.join()


if __name__ == "__main__":
    sys.exit(main())
