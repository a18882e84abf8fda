"""Accuracy against time of ``minilm+setfit`` by fine-tuning recipe, on the benchmark's seed
sets: one fit on the 2% seed set of (data set, seed), as round 0 of ``alden benchmark``
trains it (same split, seed set, fit seed and validation data), per step budget or per
model name with options (``minilm+setfit:lr=2e-5,loss=cosine``: SetFit's own pair loss and
rate).

Appends one JSON line per (data set, seed, model) to OUT and skips those already there
(resumable); prints the table, with the validation accuracy (what a recipe is chosen by)
beside the test accuracy.

    ALDEN_DATA=../shared/datasets nice .venv/bin/python benchmarks/setfit_budget.py \
        --dataset mr --dataset subj --steps 0 50 100 200 400 --out docs/runs/setfit/budget.jsonl
    ... benchmarks/setfit_budget.py --dataset mr --seeds 0 1 2 \
        --model minilm+setfit --model minilm+setfit:lr=2e-5,loss=cosine \
        --out docs/runs/setfit/recipe.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from alden.data.prepare import seed_set
from alden.experiments.simulation import prepared_data
from alden.models.setfit_learner import SetFitLearner
from alden.models.setfit_options import canonical_name
from alden.streams import fit_seed, seed_set_rng


def one(dataset: str, seed: int, model: str, init: float) -> dict:
    """Round 0 of a benchmark run of ``model`` (``minilm+setfit`` with options)."""
    prepared = prepared_data(dataset, None, seed, (0.6, 0.2, 0.2), "minilm+setfit")
    pool = prepared.pool()
    labeled = seed_set(pool, init, seed_set_rng(seed))
    learner = SetFitLearner(model, n_classes=len(prepared.classes))
    started = time.perf_counter()
    x_val, y_val = prepared.val()
    learner.fit(pool.x[labeled], pool.y[labeled], x_val, y_val, seed=fit_seed(seed, 0))
    trained = time.perf_counter()
    x_test, y_test = prepared.test()
    accuracy = float(np.mean(learner.predict(x_test) == y_test))
    tested = time.perf_counter()
    val_accuracy = float(np.mean(learner.predict(x_val) == y_val))
    # setfit's head for comparison: logistic regression on the same fine-tuned embeddings
    logistic = LogisticRegression(max_iter=1000).fit(learner.hidden(pool.x[labeled]),
                                                     pool.y[labeled])
    lr_accuracy = float(np.mean(logistic.predict(learner.hidden(x_test)) == y_test))
    return {"dataset": dataset, "seed": seed, "model": model, "steps": learner.tune.steps,
            "labels": int(len(labeled)), "accuracy": accuracy, "val_accuracy": val_accuracy,
            "logistic_accuracy": lr_accuracy,
            "train_seconds": round(trained - started, 1),
            "test_seconds": round(tested - trained, 1),
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", action="append")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[],
                        help="step budgets (each minilm+setfit:steps=N)")
    parser.add_argument("--model", action="append", default=[],
                        help="a +setfit model name with its options (repeatable)")
    parser.add_argument("--init", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("docs/runs/setfit/budget.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    done = set()
    if args.out.is_file():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done.add((row["dataset"], row["seed"], _model(row)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    models = [canonical_name(m) for m in  # one name a recipe, as alden benchmark stores it
              args.model + [f"minilm+setfit:steps={steps}" for steps in args.steps]]
    for dataset in args.dataset or ["subj", "mr"]:
        for seed in args.seeds:
            for model in models or ["minilm+setfit"]:
                if (dataset, seed, model) in done:
                    continue
                row = one(dataset, seed, model, args.init)
                with open(args.out, "a") as out:
                    out.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    rows = [json.loads(line) for line in args.out.read_text().splitlines()]
    print("| data set | seed | labels | model | validation | test accuracy | logistic head "
          "| train s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["dataset"], _model(r), r["seed"])):
        print(f"| {r['dataset']} | {r['seed']} | {r['labels']} | {_model(r)} | "
              f"{r.get('val_accuracy', float('nan')):.3f} | {r['accuracy']:.3f} | "
              f"{r.get('logistic_accuracy', float('nan')):.3f} | {r['train_seconds']:.0f} |")


def _model(row: dict) -> str:
    """A row's model name (canonical: options that are the default left out)."""
    return row["model"]


if __name__ == "__main__":
    main()
