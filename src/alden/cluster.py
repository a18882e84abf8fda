"""The Ray cluster that ``--ray-address`` names: connecting to it, and the process-wide switch
that sends the encoding pass and the per-item scoring there in shards (issue 22).

``connected`` starts or joins Ray for a block ("local": a Ray instance on this machine; any
other address, "auto" included, is Ray's own: ``ray.init(address=...)``). ``attached`` also
turns the switch on, so that ``alden.models.encoder_cache`` encodes its chunks and
``alden.models.sharded`` scores its shards as Ray tasks; ``as_finished`` runs those tasks,
a bounded number in flight, and yields each result as it arrives. Without an address
nothing changes and Ray is never imported (it takes a second to import).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from alden.errors import AldenError

LOCAL = "local"  # --ray-address local: start a Ray instance in this process
RETRIES = 3  # a task whose worker died runs again this many times (Ray's max_retries)
_attached = False  # the switch: spread encoding and scoring over the connected cluster


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def import_ray() -> Any:
    """The ray module, or an error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise AldenError("--ray-address needs Ray: pip install 'alden[ray]'") from None
    return ray


@contextmanager
def connected(address: str, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray connected to ``address`` for the block, as the ray module; "local" starts one
    here with ``num_cpus`` (default: this machine's cores). A connection this process
    already has is used as it is and left open."""
    ray = import_ray()
    started = not ray.is_initialized()
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}  # alden says what matters
    if started:
        if address == LOCAL:
            ray.init(num_cpus=num_cpus or cores(), include_dashboard=False, **quiet)
        else:
            try:
                ray.init(address=address, **quiet)
            except (ConnectionError, ValueError, RuntimeError) as err:
                raise AldenError(f"--ray-address {address}: cannot join a Ray cluster there "
                                 f"({err}); give the head's address, or 'local' to start "
                                 f"one on this machine") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@contextmanager
def attached(address: str | None) -> Iterator[None]:
    """For the block, the encoding pass and the per-item scoring go to the cluster at
    ``address`` in shards; None: nothing changes (Ray is not imported)."""
    if address is None:
        yield
        return
    with connected(address), switched_on():
        yield


@contextmanager
def switched_on() -> Iterator[None]:
    """The switch on for the block, Ray being connected already (inside a Ray task)."""
    global _attached
    before, _attached = _attached, True
    try:
        yield
    finally:
        _attached = before


def active() -> bool:
    """Whether encoding and scoring go to a Ray cluster now."""
    return _attached


def _in_task(fn: Callable[..., Any], *args: Any) -> Any:
    """Ray side: torch on the CPUs Ray gave this task, then ``fn(*args)``."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    return fn(*args)


def as_finished(fn: Callable[..., Any], calls: Iterable[tuple[int, tuple]], *,
                window: int | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``fn(*args)`` as a one-CPU Ray task for each ``(key, args)`` of ``calls`` and
    yield ``(key, result)`` as each ends; at most ``window`` (default twice the cluster's
    CPUs) in flight, so results wait in memory a few at a time. A task whose worker died
    is run again (``RETRIES``); one that fails raises its AldenError, or an AldenError."""
    ray = import_ray()
    if window is None:
        window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    task = ray.remote(num_cpus=1, max_retries=RETRIES)(_in_task)
    pending = iter(calls)
    running: dict[Any, int] = {}
    while True:  # tasks left running when this stops early finish unread: a cancelled
        for key, args in pending:  # one may stop its worker halfway through an import
            running[task.remote(fn, *args)] = key
            if len(running) >= window:
                break
        if not running:
            return
        ready, _ = ray.wait(list(running), num_returns=1)
        key = running.pop(ready[0])
        yield key, _result(ray, ready[0])


def _result(ray: Any, ref: Any) -> Any:
    """A finished task's value; its own AldenError raised again, other failures as one."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, AldenError):
            raise cause from None
        raise AldenError(f"a shard failed on the Ray cluster: {cause or err}; the shards "
                         f"that finished are kept: run the command again to compute the "
                         f"rest") from None
    except ray.exceptions.RayError as err:
        raise AldenError(f"a shard was lost on the Ray cluster ({type(err).__name__}: "
                         f"{str(err).strip().splitlines()[0][:200] if str(err).strip() else ''})"
                         f"; the shards that finished are kept: run the command again to "
                         f"compute the rest") from None
