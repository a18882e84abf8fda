"""Time of each quantity the strategies read, next to one plain inference pass, as ratios.

Run: ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/bench_quantities.py
     [--text subj] [--tabular magic letter] [--threads 1] [--repeats 3] [--mc-passes 10]

Text: the Subj pool (60% of the data set, 6000 sentences, split and encoded by
alden.data.prepare with seed 0) with a TextCNN and a BiLSTM at the issue's sizes (100-d
word2vec, 3 x 100 maps / 100 units a direction). Tables: the pools of the tabular sets
with the default MLP (two layers of 100). The models are freshly initialised, not trained:
the arithmetic of every quantity does not depend on the weights. Each time is the minimum
of ``--repeats`` runs (the machine is shared). Two reference rows put the batching in
context: inference on uncut, unsorted batches (every batch padded to the pool's longest
sentence; the BiLSTM packs its sequences, so it skips pads either way), and a
per-sample loop (one forward and C backward passes per sentence, the way small-text
computes EGL-Word) timed on ``--per-sample`` items and scaled to the pool.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from alden.data.datasets import load_dataset
from alden.data.prepare import prepare
from alden.models import quantities as q
from alden.models.networks import build_model


def best_time(func: Callable[[], object], repeats: int) -> float:
    """Minimum wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def uncut_inference(model: torch.nn.Module, x: np.ndarray, batch_size: int) -> None:
    """Plain inference without length buckets: batches in pool order at full width."""
    model.eval()
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            torch.softmax(model(torch.as_tensor(x[start:start + batch_size])), -1)


def per_sample_egl_word(model: torch.nn.Module, x: np.ndarray) -> None:
    """EGL-Word one sentence and one class at a time: the loop the batched version replaces."""
    model.eval()
    for row in x:
        ids = torch.as_tensor(row[row != 0][None])
        e = model.embedding(ids).detach().requires_grad_(True)
        mask = ids != 0
        logits = model.forward_embedded(e, mask)
        p = torch.softmax(logits, -1)[0].detach()
        for c in range(len(p)):
            (g,) = torch.autograd.grad(F.cross_entropy(logits, torch.tensor([c])), e,
                                       retain_graph=True)
            (p[c] * g[0].norm(dim=-1)).max()


def text_rows(model: torch.nn.Module, x: np.ndarray, args: argparse.Namespace
              ) -> list[tuple[str, float]]:
    """(quantity, seconds) for a text model over pool ``x``."""
    bs, r = args.batch_size, args.repeats
    q.predict_proba(model, x, batch_size=bs)  # warm-up: first-call allocations are not timed
    rows = [
        ("predict_proba (inference)", best_time(
            lambda: q.predict_proba(model, x, batch_size=bs), r)),
        ("  inference, uncut unsorted batches", best_time(
            lambda: uncut_inference(model, x, bs), r)),
        (f"predict_proba_mc T={args.mc_passes}", best_time(
            lambda: q.predict_proba_mc(model, x, args.mc_passes, seed=0, batch_size=bs), r)),
        (f"  predict_proba_mc T={args.mc_passes}, whole model every pass", best_time(
            lambda: q.predict_proba_mc(model, x, args.mc_passes, seed=0, batch_size=bs,
                                       features_once=False), r)),
        ("hidden", best_time(lambda: q.hidden(model, x, batch_size=bs), r)),
        ("badge_embeddings", best_time(lambda: q.badge_embeddings(model, x, batch_size=bs), r)),
        ("egl_word_scores", best_time(lambda: q.egl_word_scores(model, x, batch_size=bs), r)),
        ("token_interpretations proba", best_time(
            lambda: q.token_interpretations(model, x, "proba", batch_size=bs), r)),
        ("token_interpretations logits", best_time(
            lambda: q.token_interpretations(model, x, "logits", batch_size=bs), r)),
        ("word_embeddings", best_time(lambda: q.word_embeddings(model), r)),
    ]
    if args.per_sample:
        sub = x[:args.per_sample]
        seconds = best_time(lambda: per_sample_egl_word(model, sub), 1) * len(x) / len(sub)
        rows.append((f"  per-sample EGL-Word loop (x{len(x)}/{len(sub)})", seconds))
    return rows


def tabular_rows(model: torch.nn.Module, x: np.ndarray, args: argparse.Namespace
                 ) -> list[tuple[str, float]]:
    """(quantity, seconds) for an MLP over pool ``x``."""
    bs, r = args.batch_size, args.repeats
    q.predict_proba(model, x, batch_size=bs)  # warm-up
    return [
        ("predict_proba (inference)", best_time(
            lambda: q.predict_proba(model, x, batch_size=bs), r)),
        (f"predict_proba_mc T={args.mc_passes}", best_time(
            lambda: q.predict_proba_mc(model, x, args.mc_passes, seed=0, batch_size=bs), r)),
        (f"  predict_proba_mc T={args.mc_passes}, whole model every pass", best_time(
            lambda: q.predict_proba_mc(model, x, args.mc_passes, seed=0, batch_size=bs,
                                       features_once=False), r)),
        ("hidden", best_time(lambda: q.hidden(model, x, batch_size=bs), r)),
        ("badge_embeddings", best_time(lambda: q.badge_embeddings(model, x, batch_size=bs), r)),
        ("egl_input_scores", best_time(lambda: q.egl_input_scores(model, x, batch_size=bs), r)),
        ("input_jacobian proba", best_time(
            lambda: q.input_jacobian(model, x, "proba", batch_size=bs), r)),
        ("input_jacobian logits", best_time(
            lambda: q.input_jacobian(model, x, "logits", batch_size=bs), r)),
    ]


def print_table(title: str, rows: list[tuple[str, float]]) -> None:
    base = rows[0][1]
    print(f"\n{title}")
    print(f"{'quantity':<50} {'seconds':>9} {'x inference':>12}")
    for name, seconds in rows:
        print(f"{name:<50} {seconds:>9.3f} {seconds / base:>12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", nargs="*", default=["subj"])
    parser.add_argument("--tabular", nargs="*", default=["magic", "letter"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=q.DEFAULT_BATCH_SIZE)
    parser.add_argument("--mc-passes", type=int, default=10)
    parser.add_argument("--per-sample", type=int, default=300,
                        help="items for the per-sample reference loop (0: skip it)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch size {args.batch_size}, "
          f"minimum of {args.repeats} runs")

    for name in args.text:
        prepared = prepare(load_dataset(name), seed=0)
        x = prepared.pool().x
        lengths = (x != 0).sum(1)
        print(f"\n{name} pool: {len(x)} sentences, mean length {lengths.mean():.1f}, "
              f"longest {lengths.max()}, {len(prepared.classes)} classes")
        for model_name in ("cnn", "bilstm"):
            torch.manual_seed(0)
            model = build_model(model_name, n_classes=len(prepared.classes),
                                embeddings=prepared.embeddings)
            print_table(f"{name} / {model_name}", text_rows(model, x, args))

    for name in args.tabular:
        prepared = prepare(load_dataset(name), seed=0)
        x = prepared.pool().x
        torch.manual_seed(0)
        model = build_model("mlp", n_classes=len(prepared.classes), n_features=x.shape[1])
        print_table(f"{name} / mlp: pool {x.shape[0]} x {x.shape[1]} features, "
                    f"{len(prepared.classes)} classes", tabular_rows(model, x, args))


if __name__ == "__main__":
    main()
