"""Cost of the encoder family (frozen all-MiniLM-L6-v2) on Subj, in one process, one thread.

Measures, on the same items: one encoding pass (pooled embeddings, no gradients,
length-sorted batches; the better of two, after a warm-up), the same through
sentence-transformers' ``encode`` (reference),
one forward + backward through the frozen encoder (ALDEN's Eq. 4, both readings; EGL-Word),
ALDEN's greedy selection on whole words and on pieces, head training on a 2% seed set,
and the cheap strategies' queries on cached embeddings. Prints a table with each time and
its ratio to the encoding pass; the target is ALDEN's scoring at most 2x the encoding pass.
Times are CPU seconds of this process (``time.process_time``, one torch thread): on a
machine shared with other jobs, wall time measures the neighbours, CPU time the work.

    ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/bench_encoder.py --items 1000
    (--items 0: the whole Subj pool of the seed-0 split; --alden-only: the issue's target
    alone, the encoding pass against ALDEN's scoring and whole query, a third of the cost)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(fn, repeat: int = 1):
    """The least CPU seconds of ``repeat`` calls, and the last call's result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        out = fn()
        best = min(best, time.process_time() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="subj")
    parser.add_argument("--items", type=int, default=1000,
                        help="the first N items of the seed-0 pool (0: all of it)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-st", action="store_true", help="no sentence-transformers row")
    parser.add_argument("--alden-only", action="store_true",
                        help="only the encoding pass, ALDEN's Eq. 4 (proba) and ALDEN's query")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from alden.data.datasets import load_dataset
    from alden.data.prepare import seed_set
    from alden.models.encoder import ATTENTION, load_encoder, prepare_encoded
    from alden.models.encoder_cache import PooledTable, encode_pooled
    from alden.models.encoder_learner import EncoderLearner
    from alden.strategies import get_strategy

    prepared = prepare_encoded(load_dataset(args.dataset), 0, "minilm")
    pool = prepared.pool()
    if args.items:
        keep = np.arange(min(args.items, len(pool)))
        pool = type(pool).from_arrays(pool.x[keep], pool.y[keep], pool.classes,
                                      vocab=pool.vocab, texts=[pool.texts[i] for i in keep],
                                      continues=pool.continues)
    n = len(pool)
    lengths = (pool.x != 0).sum(1)
    enc = load_encoder("minilm")
    rows: list[tuple[str, float]] = []

    encode_pooled(enc, pool.x[:32])  # warm-up: the first pass of a process pays set-up costs
    t_enc, pooled = timed(lambda: encode_pooled(enc, pool.x), repeat=2)
    rows.append(("encoding pass (alden, no grad)", t_enc))
    if not (args.skip_st or args.alden_only):
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(enc.folder), device="cpu")
        t_st, _ = timed(lambda: st.encode(pool.texts, batch_size=32), repeat=2)
        rows.append(("encoding pass (sentence-transformers encode)", t_st))

    x_val, y_val = (part[:300] for part in prepared.val())  # enough for early stopping
    table = PooledTable(pool.x, pooled)
    val_pooled = encode_pooled(enc, x_val)
    table.add(x_val, val_pooled)
    initial = seed_set(pool, 0.02, np.random.default_rng([0, 0]))
    pool.mark_labeled(initial, 0)
    learner = EncoderLearner("minilm", n_classes=len(pool.classes), table=table)
    t_fit, _ = timed(lambda: learner.fit(pool.x[initial], pool.y[initial], x_val, y_val,
                                         seed=1), repeat=3)
    rows.append((f"head training, {len(initial)} labels (per round)", t_fit))
    unl = pool.unlabeled
    t_p, _ = timed(lambda: learner.token_interpretations(pool.x, "proba"))
    rows.append((f"ALDEN Eq. 4, proba (fwd + C-1 bwd), {ATTENTION} attention", t_p))
    other = "sdpa" if ATTENTION == "eager" else "eager"  # the attention not chosen
    learner._require_model().transformer.set_attn_implementation(other)
    t_o, _ = timed(lambda: learner.token_interpretations(pool.x, "proba"))
    rows.append((f"ALDEN Eq. 4, proba (fwd + C-1 bwd), {other} attention", t_o))
    learner._require_model().transformer.set_attn_implementation(ATTENTION)
    if not args.alden_only:
        t_l, _ = timed(lambda: learner.token_interpretations(pool.x, "logits"))
        rows.append(("ALDEN Eq. 4, logits (fwd + C bwd)", t_l))
        t_e, _ = timed(lambda: learner.egl_word_scores(pool.x[unl]))
        rows.append(("EGL-Word scores (fwd + C-1 bwd)", t_e))
    k = max(1, round(0.02 * n))
    specs = ("alden",) if args.alden_only else (
        "alden", "alden:unit=piece", "random", "entropy", "margin", "bald", "coreset", "badge")
    for spec in specs:
        name, _, opt = spec.partition(":")
        options = dict([opt.split("=")]) if opt else {}
        strategy = get_strategy(name, **options)
        t_q, _ = timed(lambda s=strategy: s.select(learner, pool, k, np.random.default_rng(0)))
        rows.append((f"query {spec} ({k} picks, whole query)", t_q))

    print(f"{args.dataset}: {n} pool items ({'first ' + str(n) if args.items else 'all'}), "
          f"{int(lengths.sum())} pieces, mean {lengths.mean():.1f}, max {lengths.max()}; "
          f"torch threads {args.threads}")
    print(f"{'step':<52} {'CPU s':>9} {'x encoding':>11}")
    for label, seconds in rows:
        print(f"{label:<52} {seconds:>9.2f} {seconds / t_enc:>11.2f}")


if __name__ == "__main__":
    main()
