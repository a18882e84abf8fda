"""The architecture's rules that code review alone would let slip (docs/architecture.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "alden"


@pytest.mark.parametrize("module,heavy", [
    ("alden.kernels", "torch"),           # pure NumPy kernels
    ("alden.strategies", "torch"),        # strategies read a learner, never build one
    ("alden.project.cli", "torch"),       # `alden --help` and file commands stay fast
    ("alden.project.cli", "sklearn"),
    ("alden.cli", "matplotlib"),
])
def test_module_does_not_import(module, heavy):
    code = f"import sys, {module}; print({heavy!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False", f"importing {module} imported {heavy}"


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_experiments_and_project_do_not_import_each_other():
    for side, other in (("experiments", "alden.project"), ("project", "alden.experiments")):
        for path in (SRC / side).rglob("*.py"):
            assert other not in path.read_text(), f"{path.name} imports {other}"
