"""Tables to numbers: file decoding, CSV parsing, numeric vs categorical columns, one-hot, labels.

Features come out as floats with NaN where a value is missing; imputing and scaling are
fitted later on the training pool only (``make_preprocessor``), never on the test split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from alden.data.download import UCI_URL, Remote
from alden.data.files import Table, decode_file, read_delimited  # noqa: F401 (re-exported)
from alden.errors import DataError

# Cells that mean "no value" in a user's file (compared lower-cased, stripped).
MISSING = frozenset({"", "?", "na", "n/a", "nan", "null", "none"})


def make_preprocessor() -> Pipeline:
    """An unfitted mean-imputer + standard-scaler; fit it on the training pool only."""
    # keep_empty_features: a column missing everywhere in the pool keeps its place (as 0).
    return Pipeline([("impute", SimpleImputer(strategy="mean", keep_empty_features=True)),
                     ("scale", StandardScaler())])


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


@dataclass(frozen=True)
class Column:
    """How one table column becomes features: a number (``categories`` None) or one-hot over
    ``categories``. Fitted on the pool's file, it encodes any later file the same way."""

    name: str
    categories: tuple[str, ...] | None = None

    def feature_names(self) -> list[str]:
        if self.categories is None:
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]

    def as_dict(self) -> dict:
        return {"name": self.name, "categories": None if self.categories is None
                else list(self.categories)}

    @classmethod
    def from_dict(cls, data: dict) -> Column:
        cats = data.get("categories")
        return cls(str(data["name"]), None if cats is None else tuple(str(c) for c in cats))


def fit_columns(table: Table, columns: Sequence[int], *, categorical: Sequence[int] | None = None,
                missing: frozenset[str] = MISSING) -> list[Column]:
    """The encoding of ``columns``: which are numbers and the categories of the others.

    Which columns are categorical comes from the schema (``categorical``) or, when None, from
    the values (a column with any non-number). Categories are the file's sorted values, so the
    encoding does not depend on the split.
    """
    fitted = []
    for col in columns:
        values = [row[col].strip() for row in table.rows]
        absent = np.array([v.lower() in missing for v in values], dtype=bool)
        numeric = (parse_numbers(values, absent) is not None if categorical is None
                   else col not in categorical)
        cats = None if numeric else tuple(sorted({v for v, a in zip(values, absent, strict=True)
                                                  if not a}))
        fitted.append(Column(table.header[col], cats))
    return fitted


def encode_columns(table: Table, fitted: Sequence[Column], *, missing: frozenset[str] = MISSING
                   ) -> np.ndarray:
    """Float features (N, F) of ``table`` by the fitted columns, found by name.

    A missing value is NaN (a missing category: NaN in all its one-hot columns, so the
    pool-fitted mean imputer fills in the category frequencies); a column the table lacks is
    missing everywhere; a category the pool never had is 0 in every one-hot column.
    """
    blocks: list[np.ndarray] = []
    n = len(table.rows)
    for column in fitted:
        width = len(column.categories) if column.categories is not None else 1
        if column.name not in table.header:
            blocks.append(np.full((n, width), np.nan))
            continue
        col = table.header.index(column.name)
        values = [row[col].strip() for row in table.rows]
        absent = np.array([v.lower() in missing for v in values], dtype=bool)
        if column.categories is None:
            numbers = parse_numbers(values, absent)
            if numbers is None:  # the pool says numeric, the file disagrees: say where
                i = next(int(i) for i in np.flatnonzero(~absent)
                         if parse_numbers([values[i]], np.zeros(1, dtype=bool)) is None)
                raise DataError(f"{table.where(i)}: column {column.name!r} holds "
                                f"{values[i]!r}, expected a number")
            blocks.append(numbers[:, None])
            continue
        index = {c: i for i, c in enumerate(column.categories)}
        block = np.zeros((n, width))
        known = [i for i in np.flatnonzero(~absent) if values[i] in index]
        block[known, [index[values[i]] for i in known]] = 1.0
        block[absent] = np.nan
        blocks.append(block)
    return np.hstack(blocks) if blocks else np.zeros((n, 0))


def encode_features(table: Table, columns: Sequence[int], *,
                    categorical: Sequence[int] | None = None,
                    missing: frozenset[str] = MISSING) -> tuple[np.ndarray, list[str]]:
    """Float features (N, F) and their names: numeric columns as is, categorical ones
    one-hot (``fit_columns`` then ``encode_columns`` on the same table)."""
    fitted = fit_columns(table, columns, categorical=categorical, missing=missing)
    names = [name for column in fitted for name in column.feature_names()]
    return encode_columns(table, fitted, missing=missing), names


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
    found = [n for n in numbers if n is not None]  # all of numbers, where all are numeric
    if any(numeric) and not all(numeric):
        bad, good = numeric.index(False), numeric.index(True)
        raise DataError(f"{where[bad]}: column {column!r} holds the label {texts[bad]!r}, not "
                        f"a number like the other labels ({where[good]}: {texts[good]!r})")
    if all(numeric):
        for number, at in zip(found, where, strict=True):
            if number != int(number):
                raise DataError(f"{at}: column {column!r} holds {number!r}, expected a whole "
                                "number (a class, not a measurement)")
        texts = [str(int(n)) for n in found]
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
