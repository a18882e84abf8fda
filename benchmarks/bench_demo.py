"""What `alden demo` can afford: TextCNN fit time and test accuracy on Subj against the
maximum epoch count, at labeled sizes of the demo's range (2% to 20% of the pool).

    ALDEN_DATA=/work/shared/datasets .venv/bin/python benchmarks/bench_demo.py --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from alden.data.prepare import seed_set
from alden.experiments import simulation
from alden.models.factory import learner_for, train_config
from alden.streams import fit_seed, seed_set_rng


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", default="0.02,0.1,0.2")
    parser.add_argument("--epochs", default="10,15,30")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fractions = [float(f) for f in args.fractions.split(",")]
    epochs = [int(e) for e in args.epochs.split(",")]
    print(f"Subj, TextCNN, torch threads {args.threads}, mean over seeds 0..{args.seeds - 1}")
    print("| labeled | max_epochs | epochs run | fit s | test accuracy |")
    print("|---|---|---|---|---|")
    for fraction in fractions:
        for max_epochs in epochs:
            times, accs, runs = [], [], []
            for seed in range(args.seeds):
                prepared = simulation.prepared_data("subj", None, seed, (0.6, 0.2, 0.2), "cnn")
                pool = prepared.pool()
                idx = seed_set(pool, fraction, seed_set_rng(seed))
                learner = learner_for(prepared, "cnn", train_config({"max_epochs": max_epochs}))
                start = time.perf_counter()
                learner.fit(pool.x[idx], pool.y[idx], *prepared.val(),
                            seed=fit_seed(seed, 0))
                times.append(time.perf_counter() - start)
                x_test, y_test = prepared.test()
                accs.append(float(np.mean(learner.predict(x_test) == y_test)))
                runs.append(len(learner.history))
            print(f"| {len(idx)} | {max_epochs} | {np.mean(runs):.1f} | {np.mean(times):.1f} | "
                  f"{np.mean(accs):.3f} |", flush=True)


if __name__ == "__main__":
    main()
