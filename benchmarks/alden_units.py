"""ALDEN's "word" on a word-piece encoder: whole words (pieces' interpretations summed) or
each piece, compared on the same interpretations.

For each seed: the benchmark's split, 2% seed set and round-0 model (frozen MiniLM, head
trained with the benchmark's seed), one interpretation pass over the pool (Eq. 4, shared),
then one 2% query by each unit; a new head is trained on each labeled set (the round-1 seed)
and its test accuracy measured. Prints per seed: the accuracy after each query, how many
picks the two share, and how many picks' representing words have several pieces.

    ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/alden_units.py \
        --dataset runs/subj3000.csv --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _fit(prepared, pool, labeled: np.ndarray, seed: int):
    from alden.models.encoder_learner import encoder_learner_for

    return encoder_learner_for(prepared, "minilm").fit(pool.x[labeled], pool.y[labeled],
                                                       *prepared.val(), seed=seed)


def _accuracy(learner, prepared) -> float:
    x_test, y_test = prepared.test()
    return float((learner.predict(x_test) == y_test).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="runs/subj3000.csv")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--output", default="proba")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from alden.data.datasets import load_dataset
    from alden.data.prepare import seed_set
    from alden.kernels import alden_greedy_picks
    from alden.kernels.pieces import merge_pieces
    from alden.models.encoder import prepare_encoded
    from alden.strategies.base import pool_tokens
    from alden.streams import fit_seed, seed_set_rng

    options = {"label_column": "label"} if args.dataset.endswith(".csv") else {}
    dataset = load_dataset(args.dataset, **options)
    print(f"{'seed':>4} {'round 0':>8} {'word':>7} {'piece':>7} {'shared':>7} "
          f"{'multi-piece words (word / piece)':>33} {'interp s':>9}")
    for seed in (int(s) for s in args.seeds.split(",")):
        prepared = prepare_encoded(dataset, seed, "minilm")
        pool = prepared.pool()
        pool.mark_labeled(seed_set(pool, 0.02, seed_set_rng(seed)), 0)
        learner = _fit(prepared, pool, pool.labeled, fit_seed(seed, 0))
        start = time.perf_counter()
        interpretations = learner.token_interpretations(pool.x, args.output)
        seconds = time.perf_counter() - start
        tokens = pool_tokens(pool)
        embeddings = learner.word_embeddings()
        merged = merge_pieces(tokens, interpretations, pool.continues, embeddings, pool.vocab)
        k = round(0.02 * len(pool))
        by_word = alden_greedy_picks(merged.tokens, merged.interpretations, merged.embeddings,
                                     pool.labeled, k)
        by_piece = alden_greedy_picks(tokens, interpretations, embeddings, pool.labeled, k)
        words = [p.word >= merged.n_pieces for p in by_word]
        pieces = [merged.tokens[p.index][merged.word_of_piece[p.index][p.position]]
                  >= merged.n_pieces for p in by_piece if p.position >= 0]
        acc = {}
        for unit, picks in (("word", by_word), ("piece", by_piece)):
            labeled = np.concatenate([pool.labeled, [p.index for p in picks]])
            acc[unit] = _accuracy(_fit(prepared, pool, labeled, fit_seed(seed, 1)), prepared)
        shared = len({p.index for p in by_word} & {p.index for p in by_piece})
        print(f"{seed:>4} {_accuracy(learner, prepared):>8.4f} {acc['word']:>7.4f} "
              f"{acc['piece']:>7.4f} {shared:>3}/{k:<3} "
              f"{sum(words):>16}/{k} / {sum(pieces)}/{k} {seconds:>9.1f}")


if __name__ == "__main__":
    main()
