"""ALDEN's interpretation pass with the TextCNN: autograd against the closed form, as a table.

Run: ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/bench_interpretations.py
     [--dataset subj] [--classes 2 4] [--threads 1] [--repeats 3]

The Subj pool (60% of the data set, 6000 sentences, split and encoded by
alden.data.prepare with seed 0) with a TextCNN at the paper's sizes (100-d word2vec, widths
3, 4, 5 with 100 maps each), freshly initialised with ``--classes`` outputs (the arithmetic
does not depend on the weights; a pool labeled with 4 classes pays 3 backward passes for
"proba" on the autograd path). For each: one inference pass (``predict_proba``), and
``token_interpretations_flat`` for "proba" and "logits" by autograd (a forward and a
backward pass per class, one fewer for "proba") and in closed form (``cnn_relevance``).
Each time is the minimum CPU time (user + system, this process) of ``--repeats`` runs; the
machine may be shared, so read the ratios, which are taken within one run. The last column
is the largest difference between the two paths' values, against the largest value.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from alden.data.datasets import load_dataset
from alden.data.prepare import prepare
from alden.models import quantities as q
from alden.models.networks import build_model


def best_cpu(func: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Minimum CPU seconds of ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.process_time()
        result = func()
        times.append(time.process_time() - started)
    return min(times), result


def rows_for(model: torch.nn.Module, x: np.ndarray, repeats: int) -> list[tuple[str, float, str]]:
    """(pass, CPU seconds, agreement) for one model over the pool ``x``."""
    q.predict_proba(model, x)  # warm-up: first-call allocations are not timed
    rows = [("predict_proba (inference)", best_cpu(lambda: q.predict_proba(model, x),
                                                    repeats)[0], "")]
    for output in ("proba", "logits"):
        slow, by_autograd = best_cpu(lambda out=output: q.token_interpretations_flat(
            model, x, out, closed_form=False)[0], repeats)
        fast, closed = best_cpu(lambda out=output: q.token_interpretations_flat(
            model, x, out)[0], repeats)
        a, b = np.asarray(by_autograd), np.asarray(closed)
        agreement = f"{np.abs(a - b).max():.1e} of {np.abs(a).max():.1f}"
        rows += [(f"interpretations {output}: autograd", slow, ""),
                 (f"interpretations {output}: closed form", fast, agreement)]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="subj")
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    prepared = prepare(load_dataset(args.dataset), seed=0)
    x = prepared.pool().x
    lengths = (x != 0).sum(1)
    print(f"torch {torch.__version__}, {args.threads} thread(s), minimum of {args.repeats} "
          f"runs; {args.dataset} pool: {len(x)} sentences, mean length {lengths.mean():.1f}")
    for n_classes in args.classes:
        torch.manual_seed(0)
        model = build_model("cnn", n_classes=n_classes, embeddings=prepared.embeddings)
        rows = rows_for(model, x, args.repeats)
        print(f"\nTextCNN, {n_classes} classes\n")
        print("| pass | CPU s | x inference | closed form vs autograd (max diff) |")
        print("|---|---:|---:|---|")
        for name, seconds, agreement in rows:
            print(f"| {name} | {seconds:.3f} | {seconds / rows[0][1]:.2f} | {agreement} |")


if __name__ == "__main__":
    main()
