"""word2vec's epochs on a large corpus: the TextCNN's test accuracy on Subj with vectors
trained for a given number of epochs on a corpus much larger than Subj's pool.

    nice env ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/word2vec_scale.py \
        --tokens 4000000 --epochs 40 20 5

The corpus is Subj's pool (the training split of seed 0) followed by sentences of Subj and
MR drawn with replacement, their words shuffled within the sentence (as
benchmarks/bench_scale.py makes its pools), up to ``--tokens`` tokens. For each number of
epochs, word2vec (gensim, one worker, seed 0) is trained on it, the vectors initialise the
TextCNN's embeddings for Subj's vocabulary, and the simulation runs with the random
strategy from the 2% seed set to 10% (seed 0); printed: the test accuracy per round. This
is what `data.text.word2vec_epochs` was chosen by: a corpus above FULL_EPOCHS_TOKENS gets
fewer epochs, and the accuracy must stay within noise of 40 epochs. The row "epochs 0"
is Subj's own vectors (its pool alone, 40 epochs: what `alden benchmark` uses).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from alden.data import text
from alden.data.datasets import load_dataset
from alden.data.prepare import prepare, seed_set
from alden.data.text import embedding_matrix, tokenize_texts, train_word2vec
from alden.experiments.simulation import label_schedule, simulate
from alden.models.factory import learner_factory
from alden.strategies import get_strategy
from alden.streams import embedding_rng


def large_corpus(pool_tokens: list[list[str]], n_tokens: int, seed: int) -> list[list[str]]:
    """Subj's pool, then shuffled Subj and MR sentences up to ``n_tokens`` tokens."""
    sentences = [t.split() for name in ("subj", "mr") for t in load_dataset(name).texts]
    rng = np.random.default_rng(seed)
    corpus, total = list(pool_tokens), sum(len(t) for t in pool_tokens)
    while total < n_tokens:
        words = sentences[int(rng.integers(len(sentences)))]
        corpus.append([words[j] for j in rng.permutation(len(words))])
        total += len(words)
    return corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4_000_000)
    parser.add_argument("--epochs", type=int, nargs="+", default=[40, 20, 5])
    parser.add_argument("--stop", type=float, default=0.1)
    args = parser.parse_args()
    subj = load_dataset("subj")
    prepared = prepare(subj, 0)
    tokens = tokenize_texts(subj.texts, subj.tokenized)
    corpus = large_corpus([tokens[i] for i in prepared.train_idx], args.tokens, 0)
    text.FULL_EPOCHS_TOKENS = 10**12  # every corpus gets the epochs asked for, here
    print(f"corpus: {len(corpus):,} sentences, {sum(map(len, corpus)):,} tokens")
    for epochs in [0, *args.epochs]:  # 0: Subj's own vectors (its pool, 40 epochs)
        started = time.perf_counter()
        data = prepared
        if epochs:
            vectors = train_word2vec(corpus, seed=0, epochs=epochs, cache=False)
            data = dataclasses.replace(prepared, embeddings=embedding_matrix(
                prepared.vocab, vectors, embedding_rng(0)))  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        pool = data.pool()
        rows = simulate(pool, learner_factory(data, "cnn"), get_strategy("random"),
                        label_schedule(len(pool), 0.02, 0.02, args.stop), data.val(),
                        data.test(), 0, seed_set)
        curve = " ".join(f"{r['accuracy']:.4f}" for r in rows)
        print(f"epochs {epochs:>2}: word2vec {seconds:6.0f} s; test accuracy by round {curve}",
              flush=True)


if __name__ == "__main__":
    main()
