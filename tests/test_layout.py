"""The architecture's rules that code review alone would let slip (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
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
    ("alden.cache", "torch"),            # `alden cache` reads the stores without a model
    ("alden.cli", "ray"),                # Ray only with --ray-address (alden.cluster)
    ("alden.experiments.simulation", "ray"),
])
def test_module_does_not_import(module, heavy):
    code = f"import sys, {module}; print({heavy!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False", f"importing {module} imported {heavy}"


def test_no_function_is_over_80_lines():
    long = [f"{p.relative_to(SRC)}:{node.lineno} {node.name}"
            for p in SRC.rglob("*.py") for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 80]
    assert long == []


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_experiments_and_project_do_not_import_each_other():
    for side, other in (("experiments", "alden.project"), ("project", "alden.experiments")):
        for path in (SRC / side).rglob("*.py"):
            assert other not in path.read_text(), f"{path.name} imports {other}"


# ---- imports: project/ in layers, and no loops anywhere ---------------------------------

def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of src/alden by dotted name: (file, whether it is a package's __init__)."""
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _imports() -> dict[str, set[str]]:
    """The alden modules each module imports: at module level, in functions, or under
    TYPE_CHECKING alike (an import inside a function is still a dependency)."""
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, package) in modules.items():
        base = name.split(".") if package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges[name] |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                target = (".".join(base[:len(base) - node.level + 1]
                                   + ([node.module] if node.module else []))
                          if node.level else node.module)
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:
                        edges[name].add(sub)
                    elif target in modules:
                        edges[name].add(target)
    return edges


# project/ from the bottom up; a module imports only project modules of its layer or below.
PROJECT_LAYERS = {
    # storage: the only SQL (labels: the one writer of labels and their history)
    "db": 0, "integrity": 0, "store": 0, "backup": 0, "labels": 0, "answers": 0,
    "export": 0, "locks": 0,
    # the project as read
    "workspace": 1,
    # shared parts the commands use
    "trained": 2, "batch_files": 2, "stop_records": 2, "new_items": 2, "progress": 2,
    # the commands
    "init": 3, "classes": 3, "query": 3, "teach": 3, "check": 3, "status": 3, "stopping_status": 3,
    "predict": 3,
    # the faces
    "cli": 4, "backup_cli": 4, "check_cli": 4, "labeler": 4, "web": 4, "status_text": 4,
}


def _layer(module: str) -> int:
    part = module.removeprefix("alden.project.").split(".")[0]
    assert part in PROJECT_LAYERS, f"{module} has no layer in PROJECT_LAYERS"
    return PROJECT_LAYERS[part]


def test_project_imports_never_go_up_a_layer():
    edges = _imports()
    assert "alden.project.query" in edges["alden.project.web.job_routes"]  # in-function import
    project = [m for m in edges if m.startswith("alden.project.")]
    assert len(project) > len(PROJECT_LAYERS)
    up = sorted(f"{m} -> {d}" for m in project for d in edges[m]
                if d.startswith("alden.project.") and _layer(d) > _layer(m))
    assert up == []


def _loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import loops: strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v] - {v}:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                loops.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return loops


def test_loops_are_found():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "d"}}
    assert _loops(edges) == [["a", "b", "c"]]


def test_no_import_loop_through_project():
    assert [loop for loop in _loops(_imports())
            if any(m.startswith("alden.project") for m in loop)] == []


def test_no_import_loop():
    assert _loops(_imports()) == []


def test_sql_only_in_storage_and_labels_written_in_one_place():
    run_sql = re.compile(r"\.execute(many|script)?\(")
    write_labels = re.compile(r"(INSERT( OR \w+)? INTO|DELETE FROM|UPDATE) (labels|label_events)\b")
    with_sql, label_writers = set(), set()
    for path in (SRC / "project").rglob("*.py"):  # web/ included: its routes call functions
        text = path.read_text()
        name = path.relative_to(SRC / "project").parts[0].removesuffix(".py")
        if run_sql.search(text):
            with_sql.add(name)
        if write_labels.search(text):
            label_writers.add(name)
    assert with_sql and {m for m in with_sql if PROJECT_LAYERS[m] > 0} == set()
    assert label_writers == {"labels"}
