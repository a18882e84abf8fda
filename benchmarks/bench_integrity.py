"""What the storage safety costs: SQLite's quick check (before every write and on opening a
project), the full integrity check (`status --check`) and one backup (before each teach and
query), on projects of 1,000 to 50,000 short texts with a third of them labeled.

    .venv/bin/python benchmarks/bench_integrity.py [--sizes 1000 10000 50000] [--repeat 5]

Prints one table row per size: the database's size and the median milliseconds of each step.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from alden.project import backup, db, integrity


def make(folder: Path, n: int) -> None:
    rng = random.Random(0)
    words = [f"w{i}" for i in range(20_000)]
    texts = [" ".join(rng.choice(words) for _ in range(25)) for _ in range(n)]
    db.create(folder, ids=[f"s{i:06d}" for i in range(n)], texts=texts, classes=("a", "b"),
              settings={"kind": "text", "vocab": words})
    conn = db.connect(folder)
    with db.transaction(conn):
        for i in range(0, n, 3):
            conn.execute("INSERT INTO labels VALUES (?, ?, 'me', 't', 0, 'bench')", (i, i % 2))
            conn.execute("INSERT INTO label_events (item, label, who, at, round, source) "
                         "VALUES (?, ?, 'me', 't', 0, 'bench')", (i, i % 2))
    conn.close()


def median_ms(step, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"sqlite {sqlite3.sqlite_version}; median of {args.repeat} runs, milliseconds")
    print(f"{'items':>7} {'db MB':>6} {'connect':>8} {'quick_check':>12} {'integrity_check':>16} "
          f"{'backup':>7}")
    for n in args.sizes:
        print(row(n, args.repeat))


def row(n: int, repeat: int) -> str:
    """One size: make the project, then time each step."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "p"
        make(folder, n)
        conn = db.connect(folder)
        size = db.db_path(folder).stat().st_size / 2**20
        connect = median_ms(lambda: db.connect(folder).close(), repeat)
        quick = median_ms(lambda: integrity.check_sound(conn), repeat)
        full = median_ms(lambda: integrity.full_check(conn), repeat)
        copy = median_ms(lambda: backup.make_backup(conn, folder, "bench", keep=1), repeat)
        conn.close()
    return f"{n:>7} {size:>6.1f} {connect:>8.1f} {quick:>12.1f} {full:>16.1f} {copy:>7.1f}"

if __name__ == "__main__":
    main()
