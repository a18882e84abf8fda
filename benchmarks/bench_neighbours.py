"""Neighbour index backends compared: build seconds, query seconds, peak memory, recall@10.

Data: N points in d=384 around 200 (``--centres``) Gaussian centres (unit-variance
centres, unit noise: clusters that overlap, like sentence embeddings), float32, cosine
distance. Q = 1,000 pool
rows ask for their 10 nearest other rows; recall@10 is the share of the exact answer (the
exact backend on the same rows) each backend finds. "all rows" scales the query time to
every row of the pool asking (what TypiClust's typicality needs). Each (backend, N) runs in
a fresh process; peak memory is that process's peak resident size above its size once the
data are made. One thread everywhere (BLAS, OpenMP, hnswlib): the machine is shared.

Backends: exact (alden.kernels.neighbours, blocked NumPy), ivf (alden's faiss IVF index:
faiss-ivf's settings, candidates re-measured), hnsw (alden's hnswlib index: M=16,
ef_construction=200, ef=100, built on one thread from a fixed seed), faiss-flat
(IndexFlatIP: exact, BLAS), faiss-ivf (IndexIVFFlat, sqrt(N)*4 lists, nprobe=16),
faiss-hnsw (IndexHNSWFlat, M=16, efConstruction=200, efSearch=100).

    PYTHONPATH=src nice .venv/bin/python benchmarks/bench_neighbours.py --sizes 10000,100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BACKENDS = ("exact", "ivf", "hnsw", "faiss-flat", "faiss-ivf", "faiss-hnsw")
DIM, QUERIES, K = 384, 1000, 10
CENTRES = int(os.environ.get("BENCH_CENTRES", "200"))  # --centres, passed to each case


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """(n, DIM) float32 points around CENTRES Gaussian centres, made in chunks."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        out[s:s + m] = centres[rng.integers(CENTRES, size=m)]
        out[s:s + m] += rng.standard_normal((m, DIM), dtype=np.float32)
    return out


def _memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _faiss(backend: str, x: np.ndarray, rows: np.ndarray):
    import faiss

    faiss.omp_set_num_threads(1)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    start = time.perf_counter()
    if backend == "faiss-flat":
        index = faiss.IndexFlatIP(DIM)
    elif backend == "faiss-ivf":
        nlist = int(4 * np.sqrt(len(x)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist,
                                   faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        index.nprobe = 16
    else:
        index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
        index.hnsw.efSearch = 100
    index.add(x)
    build = time.perf_counter() - start
    start = time.perf_counter()
    _, found = index.search(x[rows], K + 1)
    query = time.perf_counter() - start
    found = np.array([[j for j in f if j != r][:K] for f, r in zip(found, rows, strict=True)])
    return build, query, found


def _alden(backend: str, x: np.ndarray, rows: np.ndarray):
    from threadpoolctl import threadpool_limits

    from alden.kernels.neighbours import build_index, knn

    with threadpool_limits(limits=1):
        start = time.perf_counter()
        index = build_index(x, metric="cosine", backend=backend)
        build = time.perf_counter() - start
        start = time.perf_counter()
        found, _ = knn(index, K, rows=rows)
        query = time.perf_counter() - start
    return build, query, found


def case(backend: str, n: int, truth_path: str) -> dict:
    """One (backend, N) measurement, in this process."""
    x = clustered(n)
    rows = np.random.default_rng(1).choice(n, size=min(QUERIES, n), replace=False)
    base = _memory_kib("VmRSS")
    runner = _faiss if backend.startswith("faiss") else _alden
    build, query, found = runner(backend, x, rows)
    peak = _memory_kib("VmHWM") - base
    if backend == "exact":
        np.save(truth_path, found)
        recall = 1.0
    else:
        truth = np.load(truth_path)
        recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth,
                                                                          strict=True)]))
    return dict(backend=backend, n=n, build=build, query=query, all_rows=query * n / len(rows),
                peak_mib=peak / 1024, recall=recall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--centres", type=int, default=200,
                        help="Gaussian centres of the data (more: less clustered)")
    parser.add_argument("--limit", type=float, default=300, help="seconds per case")
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # backend n truth_path
    args = parser.parse_args()
    if args.case:
        print(json.dumps(case(args.case[0], int(args.case[1]), args.case[2])))
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               BENCH_CENTRES=str(args.centres))
    print(f"{'N':>9} {'backend':<11} {'build s':>8} {'query s':>8} {'all rows s':>11} "
          f"{'peak MiB':>9} {'recall@10':>9}   (Q={QUERIES} rows, k={K}, d={DIM}, "
          f"{args.centres} centres, 1 thread)")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            truth = str(Path(tmp) / f"truth-{n}.npy")
            for backend in args.backends.split(","):
                try:
                    done = subprocess.run([sys.executable, __file__, "--case", backend, str(n),
                                           truth], capture_output=True, text=True, env=env,
                                          timeout=args.limit, check=True)
                except subprocess.TimeoutExpired:
                    print(f"{n:>9} {backend:<11} over the {args.limit:.0f} s limit", flush=True)
                    continue
                except subprocess.CalledProcessError as err:
                    print(f"{n:>9} {backend:<11} failed: {err.stderr.strip()[-300:]}", flush=True)
                    continue
                r = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"{n:>9} {backend:<11} {r['build']:>8.2f} {r['query']:>8.3f} "
                      f"{r['all_rows']:>11.1f} {r['peak_mib']:>9.0f} {r['recall']:>9.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
