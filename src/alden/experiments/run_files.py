"""A benchmark's files: results.jsonl, timings.jsonl, options.json and invocations.jsonl.

Appends are single O_APPEND writes flushed to disk; a write cut short leaves at most a damaged
last line, which the next reader drops (with the records of unfinished runs) and rewrites
atomically. ``docs/protocol.md`` describes the files and the resume rules.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from alden.atomic import write_atomic
from alden.errors import AldenError, DataError

RESULTS = "results.jsonl"  # one record per round; deterministic, byte-identical on repeats
TIMINGS = "timings.jsonl"  # the same keys with the seconds spent; varies from run to run
OPTIONS = "options.json"  # options hash -> the Protocol it stands for
CRITERIA = "criteria.jsonl"  # per round, the stopping criteria's quantities (alden.stopping)
INVOCATIONS = "invocations.jsonl"  # one record per benchmark command: when, how, wall time
RUN_FIELDS = ("dataset", "model", "strategy", "seed", "options")


def run_key(record: dict) -> tuple:
    """The run a record belongs to: (dataset, model, strategy, seed, options hash)."""
    return tuple(record[k] for k in RUN_FIELDS)


def read_lines(path: Path) -> tuple[list[tuple[bytes, dict]], int]:
    """Parsed JSON lines of ``path`` as (raw line, record), and how many damaged lines at
    the end were left out (an unterminated or unparsable last line: a write cut short).

    A damaged line anywhere else is a DataError naming the line: that is not our write.
    """
    if not path.exists():
        return [], 0
    lines = path.read_bytes().split(b"\n")
    dropped = 1 if lines[-1] else 0  # bytes after the last newline: a truncated write
    lines = lines[:-1]
    parsed = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as err:
            if number == len(lines) and not dropped:
                dropped = 1
                break
            raise DataError(f"{path} line {number}: expected one JSON object per line ({err}); "
                            f"the file was damaged or edited, move it aside to start over"
                            ) from None
        parsed.append((line, record))
    return parsed, dropped


def read_repaired(path: Path, *, require_complete: bool) -> list[dict]:
    """Records of ``path`` after repair: a truncated last line is dropped and, with
    ``require_complete``, so are the records of runs missing a round; the file is then
    rewritten atomically if anything was dropped."""
    parsed, dropped = read_lines(path)
    if require_complete:
        complete = finished_runs([record for _, record in parsed])
        kept = [(line, rec) for line, rec in parsed if run_key(rec) in complete]
        dropped += len(parsed) - len(kept)
        parsed = kept
    if dropped:
        write_atomic(path, b"".join(line + b"\n" for line, _ in parsed))
    return [record for _, record in parsed]


def finished_runs(records: Iterable[dict]) -> set[tuple]:
    """Keys of runs whose records cover every round 0..rounds-1."""
    rounds: dict[tuple, set[int]] = {}
    expected: dict[tuple, int] = {}
    for record in records:
        key = run_key(record)
        rounds.setdefault(key, set()).add(record["round"])
        expected[key] = record["rounds"]
    return {key for key, seen in rounds.items() if seen == set(range(expected[key]))}


def append_lines(path: Path, records: list[dict]) -> None:
    """Append ``records`` as JSON lines in one write (O_APPEND), flushed to disk."""
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def record_order(record: dict) -> tuple:
    """The canonical order of a results file."""
    return (record["dataset"], record["model"], record["options"], record["strategy"],
            record["seed"], record["round"])


def canonical_sort(path: Path) -> None:
    """Rewrite ``path`` sorted by ``record_order`` without duplicate rounds (if that
    changes it), so a finished grid's file is the same whatever order runs ended in."""
    parsed, dropped = read_lines(path)
    unique: dict[tuple, bytes] = {}
    for line, record in parsed:
        unique.setdefault(record_order(record), line)
    data = b"".join(unique[k] + b"\n" for k in sorted(unique))
    if dropped or data != path.read_bytes():
        write_atomic(path, data)


def write_options(out: Path, options: dict[str, dict]) -> None:
    """Merge hash -> protocol options into ``out/options.json`` (for report and readers)."""
    path = out / OPTIONS
    known = json.loads(path.read_text()) if path.exists() else {}
    merged = {**known, **options}
    if merged != known:
        write_atomic(path, (json.dumps(merged, indent=1, sort_keys=True) + "\n").encode())


@contextlib.contextmanager
def lock_dir(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` so that two benchmarks never write one file."""
    import fcntl

    with open(out / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AldenError(f"another alden benchmark is writing to {out}; wait for it to "
                             f"finish or give another --out") from None
        yield


# ----------------------------------------------------------------------------- one run
