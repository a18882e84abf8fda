"""Where a benchmark's runs execute: in this process, in spawned worker processes, or as Ray
tasks; each yields (spec, result) as runs finish and sets torch's thread count per run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Protocol

from alden.cluster import connected, cores, switched_on
from alden.experiments.simulation import RunSpec

if TYPE_CHECKING:
    from queue import Queue

RunResult = tuple[list[dict], ...]  # (records, timings) or (records, timings, criteria)


class RunFn(Protocol):
    """A run function: a spec and an optional per-round callback give the run's records
    (``RunResult``); the real one is simulation.run_one, tests pass small fakes."""

    def __call__(self, spec: RunSpec, on_round: Callable[[int], None] | None = None
                 ) -> RunResult: ...


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def _in_worker(run_fn: RunFn, spec: RunSpec, queue: Queue[int]) -> RunResult:
    """Worker side of --workers: run, reporting each round to the driver's queue."""
    return run_fn(spec, lambda r: queue.put(1))


def run_locally(specs: list[RunSpec], run_fn: RunFn, workers: int, threads: int,
                 on_round: Callable[[int], None]) -> Iterator[tuple[RunSpec, RunResult]]:
    """Yield (spec, result) as runs finish, in this process or over spawned workers."""
    if workers <= 1:
        set_threads(threads)
        for spec in specs:
            yield spec, run_fn(spec, on_round)
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        queue = manager.Queue()
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=set_threads,
                                   initargs=(threads,))
        try:
            futures = {pool.submit(_in_worker, run_fn, spec, queue): spec for spec in specs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                while not queue.empty():
                    on_round(queue.get())
                for future in sorted(done, key=lambda f: specs.index(futures[f])):
                    while not queue.empty():
                        on_round(queue.get())
                    yield futures[future], future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def _ray_task(run_fn: RunFn, spec: RunSpec) -> RunResult:
    """Ray side: one thread per CPU Ray gave this task; the run's encoding pass and
    per-item scoring go to the same cluster in shards (``alden.cluster``)."""
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    set_threads(int(cpus))
    with switched_on():
        return run_fn(spec)


def run_on_ray(specs: list[RunSpec], run_fn: RunFn, address: str, workers: int,
                threads: int) -> Iterator[tuple[RunSpec, RunResult]]:
    """Yield (spec, result) as Ray tasks finish; "local" starts a Ray instance here."""
    with connected(address, workers if workers > 1 else cores()) as ray:
        task = ray.remote(num_cpus=threads)(_ray_task)
        refs = {task.remote(run_fn, spec): spec for spec in specs}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            spec = refs.pop(ready[0])
            yield spec, ray.get(ready[0])
