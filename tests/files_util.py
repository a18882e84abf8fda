"""Small input files the tests write."""

from __future__ import annotations

import csv
from pathlib import Path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    """A UTF-8 CSV file with ``header`` then ``rows``; returns ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path
