"""The data options of `alden benchmark`: the same as `alden init`'s, for a researcher's file.

``--dataset data.csv --text-column body --label-column y`` (or ``--target-column`` /
``--kind tabular`` for a table, ``--id-column``, ``--delimiter``, ``--max-words``) benchmarks
a labeled CSV, TSV or JSON Lines file of one's own. The options become ``Protocol.data`` (so
they are part of the runs' ``options`` hash, and each worker reads the file the same way);
the built-in sets ignore them. A file's every row needs a label: the simulation's labeler
answers from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING

from alden.errors import AldenError

if TYPE_CHECKING:
    from alden.data.datasets import Dataset

FILE_OPTIONS = ("text_column", "label_column", "target_column", "id_column", "kind",
                "delimiter")


def data_options(args: argparse.Namespace, datasets: Iterable[str]) -> tuple:
    """``Protocol.data`` from the options: sorted (name, value) pairs of those given, with
    the label column's default ("label") for text files; () when nothing is set."""
    from alden.data.datasets import BUILTINS
    from alden.data.text import MAX_WORDS

    given = {name: getattr(args, name, None) for name in FILE_OPTIONS}
    given = {k: v for k, v in given.items() if v is not None}
    if given.get("text_column") and (given.get("target_column") or given.get("kind") ==
                                     "tabular"):
        raise AldenError("give --text-column for text or --target-column (or --kind tabular) "
                         "for a table, not both")
    datasets = list(datasets)
    files = [d for d in datasets if d.lower() not in BUILTINS]
    if given and not files:
        options = ", ".join("--" + k.replace("_", "-") for k in given)
        raise AldenError(f"{options} read a data set file; the built-in sets "
                         f"({', '.join(datasets)}) have their own columns")
    tabular = given.get("kind") == "tabular" or "target_column" in given
    if files and not tabular and "label_column" not in given:
        given["label_column"] = "label"
    if tabular and "target_column" not in given and "label_column" in given:
        given["target_column"] = given.pop("label_column")
    max_words = getattr(args, "max_words", None)
    if max_words is not None and max_words != MAX_WORDS:
        given["max_words"] = max_words
    return tuple(sorted(given.items()))


def load_options(data: tuple) -> dict:
    """The keyword arguments of ``load_dataset`` in ``Protocol.data`` (without max_words)."""
    return {k: v for k, v in dict(data).items() if k in FILE_OPTIONS}


def check_labeled(dataset: Dataset, name: str, data: tuple) -> None:
    """A benchmark's data set needs a label on every item (the simulated labeler's answers)."""
    import numpy as np

    missing = int((np.asarray(dataset.labels) < 0).sum())
    if missing:
        option = ("--target-column" if dataset.kind == "tabular" else "--label-column")
        column = dict(data).get("target_column" if dataset.kind == "tabular" else "label_column")
        said = f" (column {column!r})" if column else ""
        raise AldenError(f"data set {name!r}: {missing} of {len(dataset)} items have no "
                         f"label{said}; a benchmark answers each query with the file's labels, "
                         f"so every row needs one: name the label column with {option}")
