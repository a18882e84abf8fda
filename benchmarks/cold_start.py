"""Cold start without labels: accuracy of a logistic regression on the first batch alone.

For each data set and seed: alden's split (``alden.data.prepare.split_indices``, the split
``prepare`` makes: 60% pool, 20% validation, 20% test), frozen all-MiniLM-L6-v2 sentence
embeddings of every text (sentence-transformers, the model folder found offline by
``alden.models.encoder_weights.find_encoder``), then a first batch of 0.5%, 1% and 2% of the
pool picked without labels by each method:

- random     uniform picks (not stratified: a real cold start has no labels);
- kcenter    ``kcenter_greedy_picks`` with nothing labeled, as a labeling project starts;
- typiclust  ``alden.kernels.typiclust`` (Hacohen et al., 2022) with the authors' rules:
             clusters of 5 items or fewer skipped, at most 500 clusters, typicality over
             min(20, size // 2) neighbours;
- typiclust_all  the same with every cluster kept (``min_cluster_size=0``);
- probcover  ``alden.kernels.probcover`` with delta from the purity rule (Yehuda et al., 2022).

``typiclust_first`` lines in the committed results are the first kernel (every cluster
kept, min(20, size - 1) neighbours), measured before the authors' rules were added.

The picks' embeddings and (oracle) labels fit scikit-learn's LogisticRegression (C=10,
max_iter=1000); the table is its test accuracy, mean over seeds. C=10, not the default 1:
on the unit-length embeddings, 30-60 examples and C=1 give weights so small that the model
predicts one class (validation accuracy 0.50-0.61 for random picks at 0.5% on Subj), while
C=10 and C=100 train (0.69-0.87); chosen on the validation split with random picks, the
same for every method (``--C`` changes it). A batch holding one class
cannot fit a classifier: its accuracy is then the test share of that class (what a model that
has seen one class predicts), counted in the ``1cls`` column.

``--features w2v`` uses TextCNN's item representations instead: sentence means of the
word2vec vectors ``prepare`` trains on each seed's pool (``models.representations``); the
logistic regression then reads the same means (pool and test).

Embeddings are cached as one ``.npy`` per data set (keyed by the texts and the encoder's
files; a sentence's embedding does not depend on the seed) under ``$ALDEN_CACHE`` (else
``~/.cache/alden/cache``)/cold-start. Each (data set, seed, method, budget) result is one
line appended to ``--out``; lines already there are skipped, so a stopped run resumes.

    ALDEN_DATA=../shared/datasets nice .venv/bin/python benchmarks/cold_start.py \
        --datasets subj,mr --seeds 0,1,2 --out docs/runs/cold_start/results.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

METHODS = ("random", "kcenter", "typiclust", "typiclust_all", "probcover")
SHOWN = ("random", "kcenter", "typiclust_first", "typiclust", "typiclust_all", "probcover")
BUDGETS = (0.005, 0.01, 0.02)


def embeddings(texts: list[str], name: str, threads: int) -> np.ndarray:
    """(N, 384) float32 MiniLM sentence embeddings of ``texts``, from the cache when there."""
    from alden.data.text import cache_dir
    from alden.models.encoder_weights import MINILM, files_hash, find_encoder

    folder = find_encoder(MINILM)
    digest = hashlib.sha256(files_hash(folder).encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    path = cache_dir() / "cold-start" / f"{name}-minilm-{digest.hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(folder), device="cpu")
    start = time.perf_counter()
    emb = model.encode(texts, batch_size=64, convert_to_numpy=True,
                       show_progress_bar=False).astype(np.float32)
    print(f"# encoded {len(texts)} {name} texts in {time.perf_counter() - start:.0f} s",
          flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npy", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        np.save(handle, emb)
    os.replace(tmp, path)
    return emb


def word2vec_means(dataset, seed: int) -> np.ndarray:
    """(N, 100) sentence means of the word2vec vectors ``prepare`` trains on seed's pool."""
    from alden.data.prepare import prepare
    from alden.models.representations import sentence_means

    prepared = prepare(dataset, seed)
    return sentence_means(prepared.x, prepared.embeddings).astype(np.float32)


def pick(method: str, features: np.ndarray, k: int, rng: np.random.Generator
         ) -> np.ndarray:
    """Pool positions of the first batch of ``k`` items chosen by ``method`` (no labels)."""
    from alden.kernels import kcenter_greedy_picks, probcover, typiclust

    if method == "random":
        return rng.choice(len(features), size=k, replace=False)
    if method == "kcenter":
        return np.asarray(kcenter_greedy_picks(features.astype(np.float64), [], k)[0])
    if method == "typiclust":
        return typiclust(features, k, rng).indices
    if method == "typiclust_all":
        return typiclust(features, k, rng, min_cluster_size=0).indices
    if method == "probcover":
        return probcover(features, k, rng=rng).indices
    raise SystemExit(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
             y_test: np.ndarray, c: float) -> tuple[float, bool]:
    """Test accuracy of LogisticRegression on the batch, and whether the batch had one class
    (then the test share of that class)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y_train)) < 2:
        return float(np.mean(y_test == y_train[0])), True
    model = LogisticRegression(C=c, max_iter=1000).fit(x_train, y_train)
    return float(model.score(x_test, y_test)), False


def done_keys(path: Path) -> set[tuple]:
    """(data set, seed, method, budget) of the results already in ``path``."""
    if not path.is_file():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            keys.add((r["dataset"], r["seed"], r["method"], r["budget"]))
    return keys


def run(args: argparse.Namespace) -> None:
    from alden.data.datasets import load_dataset
    from alden.data.prepare import split_indices

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = done_keys(out)
    for name in args.datasets.split(","):
        dataset = load_dataset(name)
        emb = embeddings(dataset.texts, name, args.threads) if args.features == "minilm" \
            else None
        if args.embed_only:
            continue
        labels = np.asarray(dataset.labels)
        for seed in (int(s) for s in args.seeds.split(",")):
            train, _, test = split_indices(labels, seed)
            if args.features == "w2v":
                emb = word2vec_means(dataset, seed)
            pool, y_pool = emb[train], labels[train]
            for budget in (float(b) for b in args.budgets.split(",")):
                k = max(1, round(budget * len(train)))
                for method in args.methods.split(","):
                    if (name, seed, method, budget) in done:
                        continue
                    rng = np.random.default_rng([seed, k])
                    start = time.perf_counter()
                    chosen = pick(method, pool, k, rng)
                    seconds = time.perf_counter() - start
                    acc, one = accuracy(pool[chosen], y_pool[chosen], emb[test], labels[test],
                                        args.C)
                    record = dict(dataset=name, seed=seed, method=method, budget=budget, k=k,
                                  pool=len(train), C=args.C, accuracy=acc, one_class=one,
                                  positives=int(y_pool[chosen].sum()),
                                  seconds=round(seconds, 3), picks=[int(i) for i in chosen])
                    with open(out, "a") as handle:
                        handle.write(json.dumps(record) + "\n")
                    print(f"# {name} seed {seed} {budget:.3f} {method}: {acc:.4f} "
                          f"({seconds:.1f} s)", flush=True)


def table(path: Path) -> str:
    """Mean test accuracy over seeds per (data set, budget, method), from the results file."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            cells[(r["dataset"], r["budget"], r["method"])].append(r)
    methods = [m for m in SHOWN if any(key[2] == m for key in cells)]
    rows = [f"{'data':<5} {'budget':>6} {'k':>4} " + " ".join(f"{m:>15}" for m in methods)
            + "  seeds  1cls"]
    for data, budget in sorted({(d, b) for d, b, _ in cells}, key=lambda t: (t[0], t[1])):
        runs = [cells[(data, budget, m)] for m in methods]
        k = runs[0][0]["k"] if runs[0] else 0
        accs = " ".join(f"{np.mean([r['accuracy'] for r in rs]):>15.4f}" if rs else
                        f"{'-':>15}" for rs in runs)
        seeds = min(len(rs) for rs in runs)
        one = sum(r["one_class"] for rs in runs for r in rs)
        rows.append(f"{data:<5} {budget * 100:>5.1f}% {k:>4} {accs}  {seeds:>5}  {one:>4}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="subj,mr")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--budgets", default=",".join(str(b) for b in BUDGETS))
    parser.add_argument("--out", required=True, help="JSONL file of results (appended)")
    parser.add_argument("--C", type=float, default=10.0,
                        help="inverse regularisation of the logistic regression")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for encoding")
    parser.add_argument("--features", choices=("minilm", "w2v"), default="minilm",
                        help="MiniLM sentence embeddings, or TextCNN's word2vec sentence means")
    parser.add_argument("--embed-only", action="store_true",
                        help="fill the embedding cache and stop")
    args = parser.parse_args()
    run(args)
    if not args.embed_only:
        print(table(Path(args.out)))


if __name__ == "__main__":
    main()
