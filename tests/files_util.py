"""Small input files the tests write, and the labels a test project holds."""

from __future__ import annotations

import csv
from pathlib import Path

from alden.project import store


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    """A UTF-8 CSV file with ``header`` then ``rows``; returns ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def labels(folder: Path) -> dict[int, int]:
    """The project's training labels, item position -> class index."""
    conn = store.connect(folder)
    try:
        return store.labels(conn).as_dict()
    finally:
        conn.close()
