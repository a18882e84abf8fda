"""What each strategy picks in one round, and what the picks are worth.

A diagnostic for docs/results.md: trains one model on a labeled set of the protocol's
size (the seed set, or a random stratified set of ``--at`` of the pool), lets every
strategy pick one batch (``--step`` of the pool) from the same model, and prints per
strategy: the mean sentence length of the picks (tokens) against the unlabeled pool's,
the share of class 1, how often the model got the pick wrong, its mean confidence on the
picks, the picks' overlap with ALDEN's, and the test accuracy of a model trained on the
labeled set plus the picks (same torch seed for every strategy, so only the picks differ).
Everything is seeded: the same command prints the same table.

    ALDEN_DATA=/work/shared/datasets .venv/bin/python benchmarks/pick_profile.py \
        --dataset subj --model cnn --at 0.02 --at 0.2 --seed 0
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from alden.data.prepare import seed_set
from alden.experiments import simulation
from alden.models.factory import learner_factory, train_config
from alden.strategies import strategy_from_spec
from alden.streams import fit_seed, seed_set_rng, strategy_rng

PAPER = ("random", "egl_word", "bald", "coreset", "badge", "alden")


def profile(dataset: str, model: str, at: float, strategies: list[str], seed: int,
            protocol: simulation.Protocol) -> list[dict]:
    """One row per strategy: properties of its batch picked at labeled fraction ``at``."""
    prepared = simulation.prepared_data(dataset, None, seed, tuple(protocol.split), model)
    new_learner = learner_factory(prepared, model, train_config(dict(protocol.train)))
    pool = prepared.pool()
    labeled = seed_set(pool, at, seed_set_rng(seed))
    pool.mark_labeled(labeled, 0)
    learner = new_learner().fit(pool.x[labeled], pool.y[labeled], *prepared.val(),
                                seed=fit_seed(seed, 0))
    x_test, y_test = prepared.test()
    lengths = pool.lengths()
    unlabeled = pool.unlabeled
    proba = learner.predict_proba(pool.x[unlabeled])
    by_index = dict(zip(unlabeled.tolist(), range(len(unlabeled)), strict=True))
    n = round(protocol.step * len(pool))
    picks = {name: np.asarray(strategy_from_spec(name).select(
        learner, pool, n, strategy_rng(seed)).indices) for name in strategies}
    rows = []
    for name, chosen in picks.items():
        rows_p = proba[[by_index[int(i)] for i in chosen]]
        after = np.concatenate([labeled, chosen])
        retrained = new_learner().fit(pool.x[after], pool.y[after], *prepared.val(),
                                      seed=fit_seed(seed, 1))
        accuracy = float(np.mean(retrained.predict_proba(x_test).argmax(axis=1) == y_test))
        rows.append({
            "strategy": name, "picked": len(chosen),
            "tokens": float(lengths[chosen].mean()),
            "pool_tokens": float(lengths[unlabeled].mean()),
            "class1": float(np.mean(pool.y[chosen] == 1)),
            "model_wrong": float(np.mean(rows_p.argmax(axis=1) != pool.y[chosen])),
            "confidence": float(rows_p.max(axis=1).mean()),
            "overlap_alden": (len(np.intersect1d(chosen, picks["alden"])) / len(chosen)
                              if "alden" in picks else float("nan")),
            "accuracy_after": accuracy,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="subj")
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--strategy", action="append",
                        help="repeatable, with options as NAME:KEY=VALUE (alden:output=proba)")
    parser.add_argument("--at", action="append", type=float,
                        help="labeled fraction before the pick (repeatable; default 0.02)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    protocol = simulation.Protocol()
    strategies = args.strategy or list(PAPER)
    for at in args.at or [0.02]:
        rows = profile(args.dataset, args.model, at, strategies, args.seed, protocol)
        print(f"\n{args.dataset}/{args.model}, seed {args.seed}: one batch of "
              f"{rows[0]['picked']} picked at {at:.0%} labeled "
              f"(unlabeled pool: {rows[0]['pool_tokens']:.1f} tokens per sentence)\n")
        print("| strategy | tokens | class 1 | model wrong | confidence | same as alden "
              "| test accuracy after |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['strategy']} | {r['tokens']:.1f} | {r['class1']:.2f} | "
                  f"{r['model_wrong']:.2f} | {r['confidence']:.3f} | "
                  f"{r['overlap_alden']:.2f} | {r['accuracy_after']:.4f} |")


if __name__ == "__main__":
    main()
