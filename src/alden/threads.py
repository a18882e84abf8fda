"""How many torch threads a training command uses when ``--threads`` is not given.

Torch's own default is every core. On a machine other processes keep busy, that is the worst
choice: the threads wait for each other and for the cores. ``free_cores`` takes the cores
this process may run on minus the 1-minute load average (rounded, at least 1): all of them on
an idle machine, one on a busy one. benchmarks/bench_threads.py measures the choice (the
table is in docs/labeling.md, "Threads").
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def free_cores(load: float | None = None, cores: int | None = None) -> int:
    """Usable cores minus the 1-minute load average, rounded, between 1 and the cores."""
    cores = usable_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):  # no load average here: be safe on a shared machine
            return 1
    return max(1, min(cores, int(cores - load + 0.5)))


def use_threads(threads: int | None) -> int:
    """Set torch's threads to ``threads``, or to ``free_cores()`` when None; return it."""
    import torch

    chosen = free_cores() if threads is None else threads
    torch.set_num_threads(chosen)
    return chosen
