"""Per-item scoring in one process against shards on a local Ray cluster (issue 22).

    nice -n 10 env ALDEN_DATA=../shared/datasets PYTHONPATH=src \
        .venv/bin/python benchmarks/bench_ray_shards.py --n 20000 --workers 2

The pool: ``--n`` sentences of Subj and MR drawn with replacement, words shuffled within each
(numpy's default_rng(0)), as word ids of their own vocabulary, padded to the longest; a
TextCNN of the default size (100-d random word vectors, 3 x 100 filters) trained 5 epochs on
400 of them with their sets' classes. Timed, each once, on the same trained model:
  one process   predict_proba and ALDEN's token_interpretations with torch on 1 thread,
                then on ``--workers``
  Ray shards    the same through ``alden.models.sharded`` on a local Ray instance of
                ``--workers`` CPUs (one thread per shard task), after its start (timed
                apart), twice: new workers (they import torch and alden first), then warm;
                then the probabilities again after a pass cut short before its last shard
                (only that shard computed, the others read back)
Every sharded result is checked equal to the one-process one. Printed: wall and CPU
seconds (this process's user + system; the Ray workers' CPU is not in it) and the load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import time

import numpy as np


def make_pool(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Word ids (n, longest) and classes 0..3 of the shuffled sentences."""
    from alden.data.datasets import load_dataset

    sentences, classes = [], []
    for offset, name in ((0, "subj"), (2, "mr")):
        data = load_dataset(name)
        sentences += [text.split() for text in data.texts]
        classes += [offset + int(y) for y in data.labels]
    rng = np.random.default_rng(0)
    source = rng.integers(len(sentences), size=n)
    vocab: dict[str, int] = {}
    rows = []
    for s in source:
        words = sentences[s]
        rows.append([vocab.setdefault(words[j], len(vocab) + 1)
                     for j in rng.permutation(len(words))][:60])
    x = np.zeros((n, max(map(len, rows))), dtype=np.int64)
    for i, row in enumerate(rows):
        x[i, :len(row)] = row
    return x, np.asarray(classes)[source] % 2


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(what: str, fn, table: list) -> object:
    wall, used = time.perf_counter(), cpu()
    result = fn()
    table.append((what, time.perf_counter() - wall, cpu() - used, os.getloadavg()[0]))
    return result


def score(learner) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and ALDEN's flat interpretations of the whole pool."""
    x = POOL
    return learner.predict_proba(x), np.concatenate(learner.token_interpretations(x))


def main() -> None:
    global POOL
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import torch

    from alden import cluster
    from alden.models import sharded
    from alden.models.contract import TrainConfig
    from alden.models.learner import NetworkLearner

    POOL, y = make_pool(args.n)
    vocab = int(POOL.max()) + 1
    learner = NetworkLearner("cnn", n_classes=2, vocab_size=vocab,
                             config=TrainConfig(fixed_epochs=5))
    torch.set_num_threads(args.workers)
    learner.fit(POOL[:400], y[:400], seed=0)
    table: list = []
    torch.set_num_threads(1)
    alone = timed("one process, 1 thread", lambda: score(learner), table)
    torch.set_num_threads(args.workers)
    timed(f"one process, {args.workers} threads", lambda: score(learner), table)
    rows = sharded.shard_rows(POOL, learner.config.eval_batch_size)
    with contextlib.ExitStack() as stack:
        timed(f"Ray start ({args.workers} CPUs)",
              lambda: stack.enter_context(cluster.connected("local", args.workers)), table)
        stack.enter_context(cluster.switched_on())
        ray_passes(learner, alone, rows, table, args.workers)
    print(f"pool {args.n:,} texts (longest {POOL.shape[1]} words), TextCNN, "
          f"probabilities + interpretations")
    print(f"{'step':<48} {'wall s':>7} {'CPU s':>7} {'load':>5}")
    for what, wall, used, load in table:
        print(f"{what:<48} {wall:7.2f} {used:7.2f} {load:5.2f}")


def ray_passes(learner, alone, rows, table: list, workers: int) -> None:
    """The sharded passes on the connected cluster, checked equal to ``alone``."""
    from alden.models import sharded

    spread = sharded.ShardedLearner(learner)
    for workers_are in ("new", "warm"):  # new: each worker imports torch and alden first
        got = timed(f"Ray, {workers} workers ({workers_are}), {len(rows)} shards",
                    lambda: score(spread), table)
        assert all(np.array_equal(a, b) for a, b in zip(got, alone, strict=True))
    save, count = sharded.ShardFiles.save, []

    def save_then_stop(self, path, values):
        save(self, path, values)
        count.append(path)
        if len(count) == len(rows) - 1:
            raise KeyboardInterrupt
    sharded.ShardFiles.save = save_then_stop  # a pass cut short before its last shard
    try:
        spread.predict_proba(POOL)
    except KeyboardInterrupt:
        pass
    sharded.ShardFiles.save = save
    again = sharded.ShardedLearner(learner)
    proba = timed("Ray, the pass again: 1 shard computed", lambda: again.predict_proba(POOL),
                  table)
    assert np.array_equal(proba, alone[0]) and again.stats["computed"] == 1


POOL = np.zeros((0, 0), dtype=np.int64)

if __name__ == "__main__":
    main()
