"""The anchor for ``minilm+setfit``: the ``setfit`` library's own default recipe (20 pair
iterations, one epoch, batch 16, a logistic-regression head) on all-MiniLM-L6-v2, trained on
the benchmark's 2% seed set of (data set, seed) and scored on its test split.

Needs ``pip install 'alden[setfit]'``. Appends one JSON line per (data set, seed) to OUT,
skipping those already there (resumable), and prints the table.

    ALDEN_DATA=../shared/datasets nice .venv/bin/python benchmarks/setfit_anchor.py \
        --dataset mr --dataset subj --seeds 0 1 2 --out docs/runs/setfit/anchor.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from alden.data.prepare import seed_set
from alden.experiments.simulation import prepared_data
from alden.models.encoder import load_encoder
from alden.streams import seed_set_rng


def one(dataset: str, seed: int, init: float, train_seed: int | None = None,
        iterations: int | None = None) -> dict:
    """The setfit library's default fit on the seed set of (dataset, seed), then the test;
    the library's own training seed is ``train_seed`` (default: ``seed``); ``iterations``:
    its ``num_iterations`` (pairs = 2 x iterations x labels; default: its oversampling)."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    library_seed = seed if train_seed is None else train_seed
    prepared = prepared_data(dataset, None, seed, (0.6, 0.2, 0.2), "minilm")
    texts = prepared.texts or []
    labeled = prepared.train_idx[seed_set(prepared.pool(), init, seed_set_rng(seed))]
    train = Dataset.from_dict({"text": [texts[i] for i in labeled],
                               "label": prepared.y[labeled].tolist()})
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = SetFitModel.from_pretrained(str(load_encoder("minilm").folder))
    with tempfile.TemporaryDirectory() as out:  # its default checkpoint folder is ./checkpoints
        trainer = Trainer(model=model, args=TrainingArguments(output_dir=out, seed=library_seed,
                                                                num_iterations=iterations),
                          train_dataset=train)
        started = time.perf_counter()
        trainer.train()
        trained = time.perf_counter()
    predicted = np.asarray(model.predict([texts[i] for i in prepared.test_idx]))
    accuracy = float(np.mean(predicted == prepared.y[prepared.test_idx]))
    return {"dataset": dataset, "seed": seed, "train_seed": library_seed, "iterations": iterations,
            "labels": int(len(labeled)),
            "accuracy": accuracy, "train_seconds": round(trained - started, 1),
            "test_seconds": round(time.perf_counter() - trained, 1),
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", action="append")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--init", type=float, default=0.02)
    parser.add_argument("--iterations", type=int, default=None,
                        help="the library's num_iterations (default: its oversampling)")
    parser.add_argument("--train-seed", type=int, default=None,
                        help="the library's training seed (default: the data seed; the "
                             "library's own default is 42)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("docs/runs/setfit/anchor.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    done = set()
    if args.out.is_file():
        done = {(r["dataset"], r["seed"], r.get("train_seed", r["seed"]), r.get("iterations"))
                for r in map(json.loads, args.out.read_text().splitlines())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for dataset in args.dataset or ["subj", "mr"]:
        for seed in args.seeds:
            train = seed if args.train_seed is None else args.train_seed
            if (dataset, seed, train, args.iterations) not in done:
                row = one(dataset, seed, args.init, train, args.iterations)
                with open(args.out, "a") as out:
                    out.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    print("| data set | seed | training seed | iterations | labels | accuracy | train s | test s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in sorted(map(json.loads, args.out.read_text().splitlines()),
                    key=lambda r: (r["dataset"], r["seed"])):
        print(f"| {r['dataset']} | {r['seed']} | {r.get('train_seed', r['seed'])} | "
              f"{r.get('iterations') or 'oversampling'} | "
              f"{r['labels']} | {r['accuracy']:.3f} | "
              f"{r['train_seconds']:.0f} | {r['test_seconds']:.0f} |")


if __name__ == "__main__":
    main()
