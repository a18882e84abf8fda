"""Slow work off the request path: "train and pick the next batch" (``query``) and "estimate
accuracy" (``status``), one at a time, each in a background thread.

A job reports its state for the page to poll: running (with its current step, as the work
reports it, and a progress estimate), done (with
what it did) or failed (with a message: an AldenError's own words, or the exception's name and
message for anything else; the traceback goes to the server's log, never to the page).
Progress is an estimate from the time the same kind of job took last time in this server
(a first run assumes ``FIRST_GUESS_S``), held below 95% until the job has really finished;
labeling goes on meanwhile, each label its own transaction.
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

log = logging.getLogger("alden.serve")
FIRST_GUESS_S = {"query": 20.0, "evaluate": 60.0}


@dataclass
class Job:
    kind: str
    started: float
    expected_s: float
    state: str = "running"  # running, done, failed
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    finished: float | None = None
    number: int = 0
    step: str = ""

    def view(self) -> dict[str, Any]:
        """The job as the page sees it."""
        elapsed = (self.finished or time.monotonic()) - self.started
        progress = 1.0 if self.state != "running" else min(0.95, elapsed / self.expected_s)
        return {"kind": self.kind, "state": self.state, "message": self.message,
                "progress": round(progress, 3), "elapsed_s": round(elapsed, 1),
                "result": self.result, "number": self.number, "step": self.step}


class Jobs:
    """At most one job at a time; the latest one's state is kept for the page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._took: dict[str, float] = {}
        self._count = 0

    def current(self) -> dict[str, Any] | None:
        with self._lock:
            return self._job.view() if self._job else None

    def start(self, kind: str, work: Callable[[Callable[[str], None]], dict[str, Any]],
              describe: Callable[[dict[str, Any]], str]) -> tuple[bool, dict[str, Any]]:
        """Run ``work(report)`` in a thread unless a job is running; (started, the job's
        view). ``report(text)`` sets the step the page shows."""
        with self._lock:
            if self._job is not None and self._job.state == "running":
                return False, self._job.view()
            self._count += 1
            job = Job(kind, time.monotonic(), self._took.get(kind, FIRST_GUESS_S[kind]),
                      number=self._count)
            self._job = job
        thread = threading.Thread(target=self._run, args=(job, work, describe),
                                  name=f"alden-{kind}", daemon=True)
        thread.start()
        return True, job.view()

    def _run(self, job: Job, work: Callable[[Callable[[str], None]], dict[str, Any]],
             describe: Callable[[dict[str, Any]], str]) -> None:
        def report(text: str) -> None:
            with self._lock:
                job.step = text

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
            if state == "done":
                self._took[job.kind] = max(0.5, job.finished - job.started)

    def wait(self, timeout: float = 60.0) -> dict[str, Any] | None:
        """Block until no job runs (tests, shutdown); the latest job's view."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = self.current()
            if view is None or view["state"] != "running":
                return view
            time.sleep(0.02)
        return self.current()
