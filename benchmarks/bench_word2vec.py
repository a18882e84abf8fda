"""word2vec on the Subj training pool: training time, cache-hit time, and a quality proxy.

Run: ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/bench_word2vec.py [--epochs 5 10]

Quality proxy: logistic regression on the mean word vector of each sentence, fitted on the
pool (6000) and scored on the validation split (2000); it says whether more epochs give
vectors that separate the classes better, without training a network.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from alden.data.datasets import load_dataset
from alden.data.prepare import split_indices
from alden.data.text import Vocab, WordVectors, embedding_matrix, tokenize_texts, train_word2vec


def mean_vectors(ids: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Mean embedding of each row's non-pad tokens."""
    mask = (ids != 0)[..., None]
    return (matrix[ids] * mask).sum(axis=1) / mask.sum(axis=1)


def proxy_accuracy(ids: np.ndarray, vocab: Vocab, vectors: WordVectors, labels: np.ndarray,
                   train: np.ndarray, val: np.ndarray, seed: int) -> float:
    """Validation accuracy of logistic regression on mean word vectors."""
    matrix = embedding_matrix(vocab, vectors, np.random.default_rng(seed))
    features = mean_vectors(ids, matrix)
    model = LogisticRegression(max_iter=2000).fit(features[train], labels[train])
    return float(model.score(features[val], labels[val]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="subj")
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sg", type=int, default=0, help="1: skip-gram, 0: CBOW")
    args = parser.parse_args()
    torch.set_num_threads(1)

    dataset = load_dataset(args.dataset)
    train, val, _ = split_indices(dataset.labels, args.seed)
    tokens = tokenize_texts(dataset.texts, dataset.tokenized)
    pool_tokens = [tokens[i] for i in train]
    vocab = Vocab.build(pool_tokens)
    ids = vocab.encode(tokens)
    n_tokens = sum(len(t) for t in pool_tokens)
    print(f"{args.dataset}: pool of {len(train)} sentences, {n_tokens} tokens, "
          f"{len(vocab)} words; gensim workers=1, dim=100")
    print(f"{'epochs':>6} {'train s':>8} {'cache hit s':>11} {'ratio':>7} {'val acc':>8}")
    no_vectors = WordVectors((), np.zeros((0, 100), np.float32))  # all U(-0.25, 0.25)
    print(f"{'random':>6} {'':>8} {'':>11} {'':>7} "
          f"{proxy_accuracy(ids, vocab, no_vectors, dataset.labels, train, val, args.seed):>8.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        for epochs in args.epochs:
            start = time.perf_counter()
            vectors = train_word2vec(pool_tokens, seed=args.seed, epochs=epochs, sg=args.sg,
                                     directory=Path(tmp))
            trained = time.perf_counter() - start
            start = time.perf_counter()
            train_word2vec(pool_tokens, seed=args.seed, epochs=epochs, sg=args.sg,
                           directory=Path(tmp))
            hit = time.perf_counter() - start
            accuracy = proxy_accuracy(ids, vocab, vectors, dataset.labels, train, val,
                                      args.seed)
            print(f"{epochs:>6} {trained:>8.2f} {hit:>11.3f} {trained / hit:>7.0f} "
                  f"{accuracy:>8.3f}")


if __name__ == "__main__":
    main()
