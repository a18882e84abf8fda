"""Data sets: the paper's built-in text sets, tabular sets, and the user's own files."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sklearn import datasets as sklearn_datasets

from alden.data import download as dl
from alden.data.download import CORNELL_URL, Remote
from alden.data.files import (  # noqa: F401 (read_json_lines re-exported)
    SUFFIXES,
    Table,
    at,
    decode_file,
    read_json_lines,
    read_table,
)
from alden.data.tabular import (
    TABLES,
    Column,
    encode_columns,
    encode_labels,
    fit_columns,
    read_table_spec,
)
from alden.errors import DataError

DATA_ENV = "ALDEN_DATA"


@dataclass
class Dataset:
    """Items with their labels (-1 where unknown), as read from disk, not yet split or encoded.

    Text sets fill ``texts``; tabular sets fill ``features`` (float, categoricals one-hot,
    NaN where a value is missing: imputing and scaling are fitted on the pool later).
    """

    name: str
    kind: str  # "text" or "tabular"
    labels: np.ndarray
    label_names: tuple[str, ...]
    ids: list[str]
    texts: list[str] | None = field(default=None, repr=False)
    features: np.ndarray | None = field(default=None, repr=False)
    feature_names: list[str] | None = field(default=None, repr=False)
    tokenized: bool = False  # built-in text sets are already tokenised by their authors
    lines: list[str] | None = field(default=None, repr=False)  # "FILE, line N" of each item
    skipped: tuple[str, ...] = ()  # "FILE, line N: why" of each row left out
    columns: list[Column] | None = field(default=None, repr=False)  # a user table's encoding
    id_column: str | None = None  # the user file's column the ids came from (None: lines)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TextSpec:
    """A built-in text set: its files, one sentence per line, one file per class."""

    name: str
    remote: Remote
    classes: tuple[tuple[str, str], ...]  # (file, class name) for label 0, 1, ...


TEXT_SETS: dict[str, TextSpec] = {spec.name: spec for spec in (
    TextSpec("subj", Remote("subj", CORNELL_URL, ("rotten_imgs.tar.gz",),
                            (("quote.tok.gt9.5000", 5000), ("plot.tok.gt9.5000", 5000))),
             (("plot.tok.gt9.5000", "objective"), ("quote.tok.gt9.5000", "subjective"))),
    TextSpec("mr", Remote("mr", CORNELL_URL, ("rt-polaritydata.tar.gz",),
                          (("rt-polarity.pos", 5331), ("rt-polarity.neg", 5331))),
             (("rt-polarity.neg", "negative"), ("rt-polarity.pos", "positive"))),
)}

SKLEARN_SETS: dict[str, Callable] = {
    "breast_cancer": sklearn_datasets.load_breast_cancer,
    "wine": sklearn_datasets.load_wine,
    "digits": sklearn_datasets.load_digits,
}

BUILTINS: tuple[str, ...] = (*TEXT_SETS, *TABLES, *SKLEARN_SETS)


def data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where built-in sets live: the argument, else $ALDEN_DATA, else ~/.cache/alden."""
    chosen = data_dir or os.environ.get(DATA_ENV) or Path.home() / ".cache" / "alden"
    return Path(chosen).expanduser()


def load_dataset(name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None, *,
                 text_column: str | None = None, label_column: str | None = None,
                 target_column: str | None = None, id_column: str | None = None,
                 label_names: Sequence[str] | None = None, kind: str | None = None,
                 encoding: str = "utf-8", delimiter: str | None = None,
                 download: bool = True, progress: bool = True,
                 strict: bool = False) -> Dataset:
    """Load a built-in set by name (see BUILTINS) or a user's file or folder.

    User files, by extension: .csv, .tsv/.tab, .jsonl/.ndjson with a header (or keys);
    ``text_column`` (default "text") for text, ``target_column`` (or ``kind="tabular"``) for
    a table. Without a label/target column the items are unlabeled (labels -1, label names
    ``label_names`` or empty); with one, every row needs a label. Ids come from ``id_column``,
    else from a column named "id" when the file has one, else the row's line in the file
    (``Dataset.id_column`` says which). Table columns with any non-number are one-hot; a missing
    value is NaN (a missing category: NaN in all its one-hot columns). A CSV/TSV file is split
    at ``delimiter``, else at the one detected (``alden.data.files.detect_delimiter``).
    A folder holds one file per class (one text per line) or one sub-folder per class (one
    text per file). Bad input raises DataError naming the file, line or column.
    """
    name = str(name_or_path)
    if name.lower() in BUILTINS and not isinstance(name_or_path, Path):
        return load_builtin(name.lower(), data_dir, download=download, progress=progress)
    if kind not in (None, "text", "tabular"):
        raise DataError(f"unknown kind {kind!r}: expected 'text' or 'tabular'")
    if text_column is not None and (target_column is not None or kind == "tabular"):
        raise DataError("give a text column for text or a target column for a table, not both")
    path = Path(name_or_path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (built-in sets: {', '.join(BUILTINS)})")
    if path.is_dir():
        return read_folder(path, encoding=encoding, label_names=label_names, strict=strict)
    if kind == "tabular" and target_column is None:
        target_column = label_column
    table = read_user_table(path, encoding=encoding, delimiter=delimiter)
    if id_column is None and "id" in table.header and "id" not in (
            text_column, label_column, target_column):
        id_column = "id"  # what a user's file names its ids, without being told
    if target_column is not None or kind == "tabular":
        dataset = table_dataset(table, target_column, id_column, label_names)
    else:
        dataset = text_dataset(table, text_column or "text", label_column, id_column,
                               label_names, strict=strict)
    return replace(dataset, id_column=id_column)


def load_builtin(name: str, directory: str | os.PathLike | None = None, *,
                 download: bool = True, progress: bool = True) -> Dataset:
    """One of BUILTINS, from the data dir (downloaded there when missing) or scikit-learn."""
    if name in SKLEARN_SETS:
        bunch = SKLEARN_SETS[name]()
        return Dataset(name, "tabular", bunch.target.astype(np.int64),
                       tuple(str(n) for n in bunch.target_names),
                       [str(i + 1) for i in range(len(bunch.target))],
                       features=np.asarray(bunch.data, dtype=np.float64),
                       feature_names=[str(n) for n in bunch.get("feature_names", [])]
                       or [f"x{j}" for j in range(bunch.data.shape[1])])
    root = data_dir(directory)
    if name in TABLES:
        spec = TABLES[name]
        folder = dl.ensure(spec.remote, root, download=download, progress=progress)
        table, features, names, labels, classes = read_table_spec(spec, folder)
        ids = [f"{table.file(i).name}:{table.lines[i]}" for i in range(len(labels))]
        return Dataset(name, "tabular", labels, classes, ids, features=features,
                       feature_names=names)
    return read_text_spec(TEXT_SETS[name], root, download=download, progress=progress)


def read_text_spec(spec: TextSpec, root: Path, *, download: bool = True,
                   progress: bool = True) -> Dataset:
    """A built-in text set: Latin-1 lines, already lower-cased and tokenised by its authors."""
    folder = dl.ensure(spec.remote, root, download=download, progress=progress)
    expected = dict(spec.remote.lines)
    texts: list[str] = []
    labels: list[int] = []
    ids: list[str] = []
    for label, (filename, _) in enumerate(spec.classes):
        # split on "\n" only: str.splitlines would also split at Latin-1's \x85 and \x1c-\x1e
        lines = (folder / filename).read_bytes().decode("latin-1").split("\n")
        kept = [(n, s.rstrip("\r")) for n, s in enumerate(lines, 1) if s.strip()]
        if len(kept) != expected[filename]:
            raise DataError(f"{folder / filename} has {len(kept)} lines, expected "
                            f"{expected[filename]}; delete it to download it again")
        texts += [s for _, s in kept]
        ids += [f"{filename}:{n}" for n, _ in kept]
        labels += [label] * len(kept)
    return Dataset(spec.name, "text", np.array(labels, dtype=np.int64),
                   tuple(c for _, c in spec.classes), ids, texts=texts, tokenized=True)


def read_user_table(path: Path, *, encoding: str = "utf-8",
                    delimiter: str | None = None) -> Table:
    """A CSV/TSV/JSON Lines file as a Table of strings (``alden.data.files.read_table``;
    ``delimiter`` None: detected)."""
    if Path(path).suffix.lower() not in SUFFIXES:
        raise DataError(f"{path}: unknown file type {Path(path).suffix or '(none)'}; expected "
                        "one of " + ", ".join(SUFFIXES) + " or a folder")
    return read_table(path, encoding=encoding, delimiter=delimiter)


def read_ids(table: Table, id_column: str | None) -> list[str]:
    """Ids from ``id_column`` (non-empty, unique), else each row's line number in the file."""
    if id_column is None:
        return [str(line) for line in table.lines]
    col = table.column(id_column, "--id-column")
    seen: dict[str, int] = {}
    ids = []
    for i, row in enumerate(table.rows):
        item = row[col].strip()
        if not item:
            raise DataError(f"{table.where(i)}: column {id_column!r} has no id")
        if item in seen:
            raise DataError(f"{table.path}: duplicate id {item!r} in column {id_column!r} at "
                            f"lines {table.lines[seen[item]]} and {table.lines[i]}")
        seen[item] = i
        ids.append(item)
    return ids


def read_labels(table: Table, label_column: str | None, label_names: Sequence[str] | None,
                option: str = "--label-column") -> tuple[np.ndarray, tuple[str, ...]]:
    """Class ids and names from ``label_column``, or all -1 for an unlabeled pool."""
    if label_column is None:
        return np.full(len(table.rows), -1, dtype=np.int64), tuple(label_names or ())
    col = table.column(label_column, option)
    where = [table.where(i) for i in range(len(table.rows))]
    return encode_labels([row[col] for row in table.rows], where, source=table.path,
                         column=label_column, label_names=label_names)


def text_dataset(table: Table, text_column: str, label_column: str | None,
                 id_column: str | None, label_names: Sequence[str] | None, *,
                 strict: bool = False) -> Dataset:
    """A text Dataset from a user's table. A row with an empty text is left out and listed
    in ``skipped`` ("FILE, line N: ..."); with ``strict`` it is an error instead."""
    col = table.column(text_column, "--text-column (or --target-column for a table)")
    texts = [row[col].strip() for row in table.rows]
    empty = [i for i, text in enumerate(texts) if not text]
    if empty and (strict or len(empty) == len(texts)):
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        hint = "; leave out --strict to skip such rows" if strict else ""
        raise DataError(f"{table.where(empty[0])}: column {text_column!r} has an empty "
                        f"text{more}{hint}")
    skipped = tuple(f"{table.where(i)}: column {text_column!r} has an empty text"
                    for i in empty)
    if empty:
        keep = [i for i in range(len(texts)) if texts[i]]
        table = Table(table.path, table.header, [table.rows[i] for i in keep],
                      [table.lines[i] for i in keep],
                      [table.files[i] for i in keep] if table.files else None)
        texts = [texts[i] for i in keep]
    labels, names = read_labels(table, label_column, label_names)
    return Dataset(table.path.stem, "text", labels, names, read_ids(table, id_column),
                   texts=texts, lines=[table.where(i) for i in range(len(table.rows))],
                   skipped=skipped)


def table_dataset(table: Table, target_column: str | None, id_column: str | None,
                  label_names: Sequence[str] | None) -> Dataset:
    """A tabular Dataset: every column but the target and id is a feature (detected types);
    ``columns`` keeps how each was encoded, to encode later files the same way."""
    skip = {table.column(c, option) for c, option in ((target_column, "--target-column"),
                                                      (id_column, "--id-column"))
            if c is not None}
    columns = [i for i in range(len(table.header)) if i not in skip]
    if not columns:
        raise DataError(f"{table.path}: no feature columns besides the target and id")
    fitted = fit_columns(table, columns)
    labels, names = read_labels(table, target_column, label_names, "--target-column")
    return Dataset(table.path.stem, "tabular", labels, names, read_ids(table, id_column),
                   features=encode_columns(table, fitted),
                   feature_names=[n for c in fitted for n in c.feature_names()],
                   lines=[table.where(i) for i in range(len(table.rows))], columns=fitted)


def read_folder(path: Path, *, encoding: str = "utf-8",
                label_names: Sequence[str] | None = None, strict: bool = False) -> Dataset:
    """One file per class (a text per line) or one sub-folder per class (a text per file).

    An empty line or file is left out and listed in ``skipped`` (``strict``: an error)."""
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    if not entries:
        raise DataError(f"{path} is an empty folder; expected one file or sub-folder per class")
    if all(p.is_file() for p in entries):
        per_class = {p.stem: read_lines(p, encoding) for p in entries}
    elif all(p.is_dir() for p in entries):
        per_class = {p.name: read_files(p, encoding) for p in entries}
    else:
        raise DataError(f"{path} mixes files and sub-folders; expected one file per class "
                        "(a text per line) or one sub-folder per class (a text per file)")
    if len(per_class) < 2:
        raise DataError(f"{path} holds one class only ({entries[0].name}); training needs "
                        "at least two")
    names = tuple(label_names) if label_names is not None else tuple(per_class)
    unknown = [c for c in per_class if c not in names]
    if unknown:
        raise DataError(f"{path}: classes {', '.join(unknown)} are not among the label names "
                        + ", ".join(names))
    texts, labels, ids, lines, skipped = [], [], [], [], []
    for cls, items in per_class.items():
        for item_id, text, where in items:
            if not text:
                skipped.append(f"{where}: empty text")
                continue
            texts.append(text)
            ids.append(f"{cls}/{item_id}")
            lines.append(where)
            labels.append(names.index(cls))
    if skipped and (strict or not texts):
        hint = "; leave out --strict to skip such texts" if strict else ""
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise DataError(f"{skipped[0]}{more}{hint}")
    return Dataset(path.name, "text", np.array(labels, dtype=np.int64), names, ids,
                   texts=texts, lines=lines, skipped=tuple(skipped))


def read_lines(path: Path, encoding: str) -> list[tuple[str, str, str]]:
    """(line number, text, "FILE, line N") for each line of a class file (texts stripped;
    a blank line gives an empty text)."""
    lines = decode_file(path, encoding).split("\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise DataError(f"{path} is empty; expected one text per line")
    return [(str(n), line.strip(), at(path, n)) for n, line in enumerate(lines, 1)]


def read_files(folder: Path, encoding: str) -> list[tuple[str, str, str]]:
    """(file name, text, file) for each file of a class folder (an empty file: empty text)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"{folder} holds no files; expected one text per file")
    return [(p.name, decode_file(p, encoding).strip(), str(p)) for p in files]
