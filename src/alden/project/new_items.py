"""New items encoded the way a project's pool was, for ``alden predict``.

Text: the project's tokenizer and vocabulary, each text cut to the project's ``max_words``.
Tables: the pool's fitted scikit-learn preprocessing, reused rather than re-implemented. No
pickle holds it: it is refitted, deterministically, from what the project stores as data
(the pool's rows in the database and the encoding of each column in its settings). A mean
imputer and a standard scaler fitted on the same numbers are the same objects, and the
refitted ones are checked against the statistics ``init`` recorded, so a changed pool or a
changed scikit-learn cannot pass unnoticed. Refitting costs one pass over the pool's rows
(milliseconds for thousands of rows); storing parameters and setting a fitted object's
private attributes by hand would tie the project files to one scikit-learn version.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from alden.errors import ProjectError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from alden.data.files import Table
    from alden.data.tabular import Column
    from alden.project.workspace import ProjectData


def pool_table(data: ProjectData) -> Table:
    """The pool's rows (as ``init`` stored them: strings by column) as a Table."""
    from alden.data.files import Table

    table_rows = cast("list[dict[str, Any]]", list(data.contents))  # a table's items: rows
    header = list(dict.fromkeys(k for row in table_rows for k in row))
    rows = [["" if row.get(h) is None else str(row.get(h)) for h in header]
            for row in table_rows]
    return Table(data.folder / "project.db", header, rows, list(range(1, len(rows) + 1)))


def fitted_columns(data: ProjectData, table: Table | None = None) -> list[Column]:
    """How each column became features: from the settings, else fitted again on the pool
    (what ``init`` did, for projects made before the settings kept it)."""
    from alden.data.tabular import Column, fit_columns

    if "columns" in data.settings:
        return [Column.from_dict(c) for c in data.settings["columns"]]
    table = table or pool_table(data)
    return fit_columns(table, range(len(table.header)))


def table_preprocessor(data: ProjectData) -> tuple[list[Column], Pipeline]:
    """The project's column encoding and its imputer + scaler, fitted on the pool again."""
    from alden.data.tabular import encode_columns, make_preprocessor

    table = pool_table(data)
    columns = fitted_columns(data, table)
    names = [n for c in columns for n in c.feature_names()]
    if names != list(data.settings["feature_names"]):
        raise ProjectError(f"{data.folder}: the stored rows do not give the project's "
                           "features; the project is damaged")
    pipeline = make_preprocessor().fit(encode_columns(table, columns))
    impute, scale = pipeline[0], pipeline[-1]
    for name, fitted in (("impute", impute.statistics_), ("mean", scale.mean_),
                         ("scale", scale.scale_)):
        if not np.allclose(fitted, np.asarray(data.settings[name], dtype=np.float64),
                           rtol=1e-9, atol=1e-12):
            raise ProjectError(f"{data.folder}: the preprocessing fitted on the stored rows "
                               f"differs from the one made at init ({name}); the project "
                               "is damaged")
    return columns, pipeline


def encode_new(data: ProjectData, path: Path, *, text_column: str | None = None,
               id_column: str | None = None, delimiter: str | None = None
               ) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """(ids, encoded items, rows left out) of another file, encoded like the project's pool.

    A row with an empty text is left out and listed ("FILE, line N: why"). A CSV/TSV file is
    split at ``delimiter``, else at the one detected.
    """
    from alden.data.datasets import read_ids, read_user_table, text_dataset

    settings = data.settings
    id_column = id_column if id_column is not None else settings["id_column"]
    table = read_user_table(Path(path), encoding=settings.get("encoding", "utf-8"),
                            delimiter=delimiter)
    if id_column is not None and id_column not in table.header:
        id_column = None  # ids from line numbers then
    if data.kind == "text":
        from alden.data.text import MAX_WORDS, Vocab, tokenize_texts

        dataset = text_dataset(table, text_column or settings["text_column"], None, id_column,
                               None)
        texts = cast("list[str]", dataset.texts)  # a text data set always has its texts
        if settings.get("encoder"):  # word pieces of the project's sentence encoder
            from alden.models.encoder import encode_texts, load_encoder

            x = encode_texts(load_encoder(settings["encoder"]), texts)
            return dataset.ids, x, dataset.skipped
        max_words = settings.get("max_words", MAX_WORDS)
        tokens = [t[:max_words] for t in tokenize_texts(texts, settings["tokenized"])]
        vocab = Vocab(tuple(settings["vocab"]))
        return dataset.ids, vocab.encode(tokens, max_words), dataset.skipped
    from alden.data.tabular import encode_columns

    columns, pipeline = table_preprocessor(data)
    features = encode_columns(table, columns)  # the target and unknown columns are not read
    x = np.asarray(pipeline.transform(features), dtype=np.float32)
    return read_ids(table, id_column), x, ()
