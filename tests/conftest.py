"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared copies of the paper's data sets ($ALDEN_DATA, else ../shared/datasets)."""
    root = Path(os.environ.get("ALDEN_DATA") or Path(__file__).parents[2] / "shared" / "datasets")
    if not (root / "subj").is_dir():
        pytest.skip(f"no shared data sets at {root} (set ALDEN_DATA)")
    return root
