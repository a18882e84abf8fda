"""Slow work off the request path: "train and pick the next batch" (``query``) and "estimate
accuracy" (``status``), one at a time, each in a background thread.

A job reports its state for the page to poll: running (with its current step as the work
reports it: its text, and how far it is where the step counts, e.g. items encoded or epochs
trained; ``progress`` is None where it does not, and the page says so rather than guess),
done (with what it did) or failed (with a message: an AldenError's own words, or the
exception's name and message for anything else; the traceback goes to the server's log,
never to the page). Labeling goes on meanwhile, each label its own transaction.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alden.errors import AldenError
from alden.project.progress import Say

log = logging.getLogger("alden.serve")


@dataclass
class Job:
    kind: str
    started: float
    state: str = "running"  # running, done, failed
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    finished: float | None = None
    number: int = 0
    step: str = ""
    done: int | None = None  # the step's count so far, where it counts
    total: int | None = None

    def view(self) -> dict[str, Any]:
        """The job as the page sees it: ``progress`` is the running step's fraction done,
        None while the step does not count."""
        elapsed = (self.finished or time.monotonic()) - self.started
        progress: float | None = 1.0
        if self.state == "running":
            progress = None if not self.total or self.done is None \
                else round(min(1.0, self.done / self.total), 3)
        return {"kind": self.kind, "state": self.state, "message": self.message,
                "progress": progress, "elapsed_s": round(elapsed, 1),
                "result": self.result, "number": self.number, "step": self.step,
                "done": self.done, "total": self.total}


class Jobs:
    """At most one job at a time; the latest one's state is kept for the page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._count = 0

    def current(self) -> dict[str, Any] | None:
        with self._lock:
            return self._job.view() if self._job else None

    def start(self, kind: str, work: Callable[[Say], dict[str, Any]],
              describe: Callable[[dict[str, Any]], str]) -> tuple[bool, dict[str, Any]]:
        """Run ``work(report)`` in a thread unless a job is running; (started, the job's
        view). ``report(text[, done, total])`` sets the step the page shows."""
        with self._lock:
            if self._job is not None and self._job.state == "running":
                return False, self._job.view()
            self._count += 1
            job = Job(kind, time.monotonic(), number=self._count)
            self._job = job
        thread = threading.Thread(target=self._run, args=(job, work, describe),
                                  name=f"alden-{kind}", daemon=True)
        thread.start()
        return True, job.view()

    def _run(self, job: Job, work: Callable[[Say], dict[str, Any]],
             describe: Callable[[dict[str, Any]], str]) -> None:
        def report(text: str, done: int | None = None, total: int | None = None) -> None:
            with self._lock:
                job.step, job.done, job.total = text, done, total

        try:
            result = work(report)
            state, message = "done", describe(result)
        except AldenError as err:
            result, state, message = {}, "failed", str(err)
        except Exception as err:  # shown as a message; the traceback goes to the log only
            log.error("%s failed:\n%s", job.kind, traceback.format_exc())
            result, state = {}, "failed"
            message = f"{job.kind} failed: {type(err).__name__}: {err}"
        with self._lock:
            job.finished = time.monotonic()
            job.result, job.state, job.message = result, state, message

    def wait(self, timeout: float = 60.0) -> dict[str, Any] | None:
        """Block until no job runs (tests, shutdown); the latest job's view."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = self.current()
            if view is None or view["state"] != "running":
                return view
            time.sleep(0.02)
        return self.current()
