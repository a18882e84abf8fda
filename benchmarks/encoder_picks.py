"""What each strategy's first query picks on the frozen encoder, beside random picks.

For each data set and seed: the benchmark's split, 2% seed set and round-0 model (frozen
MiniLM, the head trained with the benchmark's seed), then one 2% query by each strategy
from the same model. Prints per strategy the mean of its picks': length in word pieces,
share the round-0 model gets wrong, normalised entropy of the model's prediction, and
cosine distance of the pooled embedding to the nearest labeled item (how far from what is
labeled); for ALDEN, also the words that represented its picks most often.

    ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/encoder_picks.py \
        --datasets subj,mr --seeds 0
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch

STRATEGIES = ("random", "entropy", "bald", "coreset", "badge", "egl_word", "alden")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="subj,mr")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args()
    torch.set_num_threads(1)

    from alden.data.datasets import load_dataset
    from alden.data.prepare import seed_set
    from alden.models.encoder import prepare_encoded
    from alden.models.encoder_learner import encoder_learner_for
    from alden.strategies import get_strategy
    from alden.streams import fit_seed, seed_set_rng, strategy_rng

    print(f"{'data':<5} {'seed':>4} {'strategy':<9} {'pieces':>7} {'wrong':>6} "
          f"{'entropy':>8} {'dist':>6}  ALDEN's words")
    for name in args.datasets.split(","):
        dataset = load_dataset(name)
        for seed in (int(s) for s in args.seeds.split(",")):
            prepared = prepare_encoded(dataset, seed, "minilm")
            pool = prepared.pool()
            pool.mark_labeled(seed_set(pool, 0.02, seed_set_rng(seed)), 0)
            learner = encoder_learner_for(prepared, "minilm").fit(
                pool.x[pool.labeled], pool.y[pool.labeled], *prepared.val(),
                seed=fit_seed(seed, 0))
            proba = learner.predict_proba(pool.x)
            entropy = -(proba * np.log(np.clip(proba, 1e-12, 1))).sum(1) / np.log(proba.shape[1])
            pooled = learner.hidden(pool.x)
            pooled = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
            nearest = 1 - (pooled @ pooled[pool.labeled].T).max(axis=1)
            lengths = (pool.x != 0).sum(1)
            k = round(0.02 * len(pool))
            for spec in args.strategies.split(","):
                selection = get_strategy(spec).select(learner, pool, k,
                                                      strategy_rng(seed))
                picks = np.asarray(selection.indices, dtype=np.int64)
                wrong = proba[picks].argmax(1) != pool.y[picks]
                words = ""
                if spec == "alden":
                    counts = Counter(r.word for r in selection.reasons if r.word)
                    words = ", ".join(f"{w} ({n})" for w, n in counts.most_common(6))
                print(f"{name:<5} {seed:>4} {spec:<9} {lengths[picks].mean():>7.1f} "
                      f"{wrong.mean():>6.3f} {entropy[picks].mean():>8.3f} "
                      f"{nearest[picks].mean():>6.3f}  {words}", flush=True)


if __name__ == "__main__":
    main()
