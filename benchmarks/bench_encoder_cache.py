"""The per-item encoder cache (``alden.models.feature_store``): time to store and to look up
10,000 items of 384 floats (MiniLM's width) in a store of N items, against the other
design considered, an append-only memmapped array with a sorted index of keys.

Run: .venv/bin/python benchmarks/bench_encoder_cache.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from alden.models.feature_store import FeatureStore, item_keys

DIM, LOOKUP = 384, 10_000


def timed(work, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def sqlite_times(folder: Path, x: np.ndarray, vectors: np.ndarray) -> tuple[float, float]:
    store = FeatureStore(folder / "s.sqlite", DIM, "bench")
    start = time.perf_counter()
    store.put(item_keys(x), vectors)
    put = time.perf_counter() - start
    asked = x[np.random.default_rng(1).permutation(len(x))[:LOOKUP]]
    return put, timed(lambda: store.get(item_keys(asked)))


def memmap_times(folder: Path, x: np.ndarray, vectors: np.ndarray) -> tuple[float, float]:
    start = time.perf_counter()
    np.save(folder / "vectors.npy", vectors)
    np.save(folder / "keys.npy", np.array(item_keys(x), dtype="S16"))
    put = time.perf_counter() - start
    asked = x[np.random.default_rng(1).permutation(len(x))[:LOOKUP]]

    def lookup() -> np.ndarray:
        keys = np.load(folder / "keys.npy")
        order = np.argsort(keys)
        wanted = np.array(item_keys(asked), dtype="S16")
        rows = order[np.searchsorted(keys, wanted, sorter=order)]
        return np.load(folder / "vectors.npy", mmap_mode="r")[np.sort(rows)]
    return put, timed(lookup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'store':>8} {'design':>8} {'write s':>8} {f'lookup {LOOKUP} s':>14} {'keys s':>7}")
    for n in args.sizes:
        x = rng.integers(1, 30_000, size=(n, 48))
        x[:, 30:] *= rng.random((n, 1)) < 0.5  # pads after some items
        vectors = rng.standard_normal((n, DIM)).astype(np.float32)
        keys = timed(lambda: item_keys(x[:LOOKUP]))  # noqa: B023
        for name, measure in (("sqlite", sqlite_times), ("memmap", memmap_times)):
            with tempfile.TemporaryDirectory() as tmp:
                put, lookup = measure(Path(tmp), x, vectors)
            print(f"{n:>8} {name:>8} {put:>8.2f} {lookup:>14.3f} {keys:>7.3f}")


if __name__ == "__main__":
    main()
