"""Tables to numbers: file decoding, CSV parsing, numeric vs categorical columns, one-hot, labels.

Features come out as floats with NaN where a value is missing; imputing and scaling are
fitted later on the training pool only (``make_preprocessor``), never on the test split.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from alden.data.download import UCI_URL, Remote
from alden.errors import DataError

# Cells that mean "no value" in a user's file (compared lower-cased, stripped).
MISSING = frozenset({"", "?", "na", "n/a", "nan", "null", "none"})


def make_preprocessor() -> Pipeline:
    """An unfitted mean-imputer + standard-scaler; fit it on the training pool only."""
    # keep_empty_features: a column missing everywhere in the pool keeps its place (as 0).
    return Pipeline([("impute", SimpleImputer(strategy="mean", keep_empty_features=True)),
                     ("scale", StandardScaler())])


@dataclass(frozen=True)
class Table:
    """A file's rows of strings, each with the file and line it starts on."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # line of the row in its file
    files: list[Path] | None = None  # the file of each row when files were stacked

    def where(self, i: int) -> str:
        """'file, line N' of row ``i``, for error messages."""
        return f"{self.files[i] if self.files else self.path}, line {self.lines[i]}"

    def column(self, name: str) -> int:
        """Index of column ``name``; a DataError listing the columns there are otherwise."""
        if name not in self.header:
            raise DataError(f"{self.path}: no column {name!r}; the columns are "
                            + ", ".join(repr(c) for c in self.header))
        return self.header.index(name)


def decode_file(path: Path, encoding: str = "utf-8") -> str:
    """Read a whole text file; undecodable bytes are a DataError naming the line."""
    data = Path(path).read_bytes()
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: byte {data[err.start]:#04x} is not valid {encoding}; "
            "if the file has another encoding, say so (encoding='latin-1', "
            "on the command line --encoding latin-1)") from None
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r} for {path}") from None


def read_delimited(path: Path, *, delimiter: str = ",", header: Sequence[str] | None = None,
                   encoding: str = "utf-8", skip_lines: int = 0,
                   skipinitialspace: bool = False) -> Table:
    """Parse a CSV/TSV file: its first row is the header unless ``header`` names the columns."""
    text = decode_file(path, encoding)
    if not text.strip():
        raise DataError(f"{path} is empty")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        skipinitialspace=skipinitialspace)
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if line <= skip_lines or not row:  # an empty line; "  " is an empty value
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                continue
            if len(row) != len(header):
                raise DataError(f"{path}, line {line}: {len(row)} fields, expected "
                                f"{len(header)} like the header")
            rows.append(row)
            lines.append(line)
    except csv.Error as err:
        raise DataError(f"{path}, line {reader.line_num}: {err}") from None
    if not rows:
        raise DataError(f"{path} has a header but no rows")
    return Table(Path(path), list(header), rows, lines)


def is_missing(value: str) -> bool:
    """True for the cells that mean 'no value' (blank, ?, NA, NaN, null, ...)."""
    return value.strip().lower() in MISSING


def to_float(value: str) -> float | None:
    """The finite number in a cell, NaN if missing, None if it is not a number."""
    if is_missing(value):
        return math.nan
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def is_numeric_column(values: Sequence[str], missing: frozenset[str] = MISSING) -> bool:
    """A column is numeric when every present value parses as a finite number."""
    absent = np.array([v.strip().lower() in missing for v in values], dtype=bool)
    return parse_numbers([v.strip() for v in values], absent) is not None


def parse_numbers(values: Sequence[str], absent: np.ndarray) -> np.ndarray | None:
    """A column as floats (NaN where absent), or None if a present value is not a finite number."""
    try:
        numbers = np.array(["nan" if a else v for v, a in zip(values, absent, strict=True)],
                           dtype=np.float64)
    except ValueError:
        return None
    return numbers if np.isfinite(numbers[~absent]).all() else None


def encode_features(table: Table, columns: Sequence[int], *,
                    categorical: Sequence[int] | None = None,
                    missing: frozenset[str] = MISSING) -> tuple[np.ndarray, list[str]]:
    """Float features (N, F): numeric columns as is, categorical ones one-hot.

    Which columns are categorical comes from the schema (``categorical``) or, when None, from
    the values (a column with any non-number). Categories are the file's sorted values, so the
    encoding does not depend on the split. A missing categorical is NaN in all its one-hot
    columns: the pool-fitted mean imputer then fills in the category frequencies.
    """
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for col in columns:
        values = [row[col].strip() for row in table.rows]
        absent = np.array([v.lower() in missing for v in values], dtype=bool)
        numbers = parse_numbers(values, absent)
        numeric = numbers is not None if categorical is None else col not in categorical
        if numeric:
            if numbers is None:  # the schema says numeric, the file disagrees: say where
                i = next(i for i in np.flatnonzero(~absent)
                         if parse_numbers([values[i]], np.zeros(1, dtype=bool)) is None)
                raise DataError(f"{table.where(i)}: column {table.header[col]!r} holds "
                                f"{values[i]!r}, expected a number")
            block = numbers[:, None]
            names.append(table.header[col])
        else:
            categories = sorted({v for v, a in zip(values, absent, strict=True) if not a})
            index = {c: i for i, c in enumerate(categories)}
            block = np.zeros((len(values), len(categories)))
            present = np.flatnonzero(~absent)
            block[present, [index[values[i]] for i in present]] = 1.0
            block[absent] = np.nan
            names += [f"{table.header[col]}={c}" for c in categories]
        blocks.append(block)
    features = np.hstack(blocks) if blocks else np.zeros((len(table.rows), 0))
    return features, names


def encode_labels(values: Sequence[object], where: Sequence[str], *, source: object,
                  column: str, label_names: Sequence[str] | None = None,
                  ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class ids (int64) and names from a label column; every row needs a label.

    ``where[i]`` locates row i ("file, line N") and ``source`` the whole column, for errors.
    Numeric labels are named by their whole number and sorted numerically; other labels are
    sorted as strings; given ``label_names`` fix the classes and their order instead.
    """
    texts: list[str] = []
    for value, at in zip(values, where, strict=True):
        text = "" if value is None else str(value).strip()
        if is_missing(text):
            raise DataError(f"{at}: column {column!r} has no label ({text or 'empty'}); every "
                            "row needs one, or leave out the label column for an unlabeled pool")
        texts.append(text)
    numbers = [to_float(t) for t in texts]
    numeric = [n is not None for n in numbers]
    if any(numeric) and not all(numeric):
        bad, good = numeric.index(False), numeric.index(True)
        raise DataError(f"{where[bad]}: column {column!r} holds the label {texts[bad]!r}, not "
                        f"a number like the other labels ({where[good]}: {texts[good]!r})")
    if all(numeric):
        for number, at in zip(numbers, where, strict=True):
            if number != int(number):
                raise DataError(f"{at}: column {column!r} holds {number!r}, expected a whole "
                                "number (a class, not a measurement)")
        texts = [str(int(n)) for n in numbers]
    if label_names is None:
        key = (lambda t: int(t)) if all(numeric) else None
        label_names = sorted(set(texts), key=key)
    index = {name: i for i, name in enumerate(label_names)}
    for text, at in zip(texts, where, strict=True):
        if text not in index:
            raise DataError(f"{at}: column {column!r} holds the label {text!r}, expected one of "
                            + ", ".join(label_names))
    if len(set(texts)) < 2:
        raise DataError(f"{source}: column {column!r} holds one class only ({texts[0]!r}); "
                        "training needs at least two")
    return np.array([index[t] for t in texts], dtype=np.int64), tuple(label_names)


@dataclass(frozen=True)
class TableSpec:
    """How to read one built-in UCI table: its raw files, columns, class and missing marker."""

    name: str
    remote: Remote  # folder under the data dir, UCI download and line counts
    columns: tuple[str, ...] | None  # None: the file's first row is the header
    target: str
    categorical: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    delimiter: str = ","
    skipinitialspace: bool = False
    skip_first_line: tuple[str, ...] = ()  # files whose first line is not a row
    missing: str = "?"
    label_suffix: str = ""  # stripped from labels ("<=50K." in adult.test)


def read_table_spec(spec: TableSpec, folder: Path) -> tuple[Table, np.ndarray, list[str],
                                                             np.ndarray, tuple[str, ...]]:
    """Read, stack and encode a built-in table: (table, features, names, labels, label names)."""
    parts = [read_delimited(folder / name, delimiter=spec.delimiter, header=spec.columns,
                            encoding="latin-1", skip_lines=int(name in spec.skip_first_line),
                            skipinitialspace=spec.skipinitialspace)
             for name in spec.remote.files]
    table = Table(folder, parts[0].header, [r for p in parts for r in p.rows],
                  [line for p in parts for line in p.lines],
                  [p.path for p in parts for _ in p.lines])
    target = table.column(spec.target)
    keep = [i for i, c in enumerate(table.header) if i != target and c not in spec.drop]
    categorical = [table.column(c) for c in spec.categorical]
    features, names = encode_features(table, keep, categorical=categorical,
                                      missing=frozenset({spec.missing}))
    raw = [row[target].strip().removesuffix(spec.label_suffix) for row in table.rows]
    where = [table.where(i) for i in range(len(raw))]
    labels, label_names = encode_labels(raw, where, source=folder, column=spec.target)
    return table, features, names, labels, label_names


SPAMBASE_WORDS = (
    "make address all 3d our over remove internet order mail receive will people report "
    "addresses free business email you credit your font 000 money hp hpl george 650 lab labs "
    "telnet 857 data 415 85 technology 1999 parts pm direct cs meeting original project re edu "
    "table conference").split()

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (
    TableSpec(
        "adult",
        Remote("tabular/adult", UCI_URL, ("adult/adult.data", "adult/adult.test"),
               (("adult.data", 32561), ("adult.test", 16282))),
        columns=("age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
                 "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
                 "hours-per-week", "native-country", "income"),
        target="income",
        categorical=("workclass", "education", "marital-status", "occupation", "relationship",
                     "race", "sex", "native-country"),
        skipinitialspace=True, skip_first_line=("adult.test",), label_suffix="."),
    TableSpec(
        "bank",
        Remote("tabular/bank", UCI_URL, ("00222/bank.zip",), (("bank.csv", 4522),)),
        columns=None, target="y", delimiter=";", drop=("duration",),  # duration leaks the label
        categorical=("job", "marital", "education", "default", "housing", "loan", "contact",
                     "month", "poutcome")),
    TableSpec(
        "magic",
        Remote("tabular/magic", UCI_URL, ("magic/magic04.data",), (("magic04.data", 19020),)),
        columns=("fLength", "fWidth", "fSize", "fConc", "fConc1", "fAsym", "fM3Long",
                 "fM3Trans", "fAlpha", "fDist", "class"),
        target="class"),
    TableSpec(
        "letter",
        Remote("tabular/letter", UCI_URL, ("letter-recognition/letter-recognition.data",),
               (("letter-recognition.data", 20000),)),
        columns=("lettr", "x-box", "y-box", "width", "high", "onpix", "x-bar", "y-bar",
                 "x2bar", "y2bar", "xybar", "x2ybr", "xy2br", "x-ege", "xegvy", "y-ege", "yegvx"),
        target="lettr"),
    TableSpec(
        "spambase",
        Remote("tabular/spambase", UCI_URL, ("spambase/spambase.data",),
               (("spambase.data", 4601),)),
        columns=(*(f"word_freq_{w}" for w in SPAMBASE_WORDS),
                 *(f"char_freq_{c}" for c in ";([!$#"),
                 "capital_run_length_average", "capital_run_length_longest",
                 "capital_run_length_total", "spam"),
        target="spam"),
)}
