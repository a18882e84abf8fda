"""Predictions for another file from a project's latest model (trained first if stale).

The new file is encoded the way the project's pool was: text with the project's vocabulary,
table rows matched to its feature columns and scaled with the pool's statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alden.errors import AldenError
from alden.project import store
from alden.project.trained import current_model, delete_files, save_model
from alden.project.workspace import ProjectData, check_model, read_project, too_few_labels


@dataclass(frozen=True)
class Prediction:
    """Predicted labels (and probabilities) for new items, and where they were written."""
    ids: list[str]
    proba: np.ndarray
    classes: tuple[str, ...]
    model_file: str
    trained_now: bool


def predict(folder: str | Path, data_file: str | Path, *, text_column: str | None = None,
            id_column: str | None = None, model: str | None = None) -> Prediction:
    """Class probabilities for the items of ``data_file`` from the latest model.

    If labels were added since the latest model was trained, a model is trained on all the
    labels first (and saved), so predictions always use every label given.
    """
    folder = Path(folder)
    conn = store.connect(folder)
    try:
        data = read_project(conn, folder)
        why = too_few_labels(data)
        if why:
            raise AldenError(f"{folder}: cannot train a model yet ({why}); label more items "
                             f"with `alden query` and `alden teach` or `alden label`")
        name = check_model(data.kind, model or data.settings["model"])
        learner, file = current_model(conn, data, name)  # one model per labeled state
        trained_now = file is None
        if trained_now:
            file, stale = save_model(conn, data, learner, name, store.current_round(conn))
            delete_files(folder, stale)
        ids, x = encode_new(data, Path(data_file), text_column=text_column,
                            id_column=id_column)
        return Prediction(ids, learner.predict_proba(x), data.classes, file, trained_now)
    finally:
        conn.close()


def encode_new(data: ProjectData, path: Path, *, text_column: str | None = None,
               id_column: str | None = None) -> tuple[list[str], np.ndarray]:
    """Encode another file the way the project's pool was encoded (its vocabulary or scaler)."""
    from alden.data.datasets import read_user_table, table_dataset, text_dataset

    settings = data.settings
    id_column = id_column if id_column is not None else settings["id_column"]
    table = read_user_table(path, encoding=settings.get("encoding", "utf-8"))
    if id_column is not None and id_column not in table.header:
        id_column = None  # ids from line numbers then
    if data.kind == "text":
        from alden.data.text import Vocab, tokenize_texts

        dataset = text_dataset(table, text_column or settings["text_column"], None, id_column,
                               None)
        vocab = Vocab(tuple(settings["vocab"]))
        return dataset.ids, vocab.encode(tokenize_texts(dataset.texts, settings["tokenized"]))
    from alden.data.tabular import Table

    target = settings["target_column"]
    if target in table.header:  # the target is not a feature: drop its column
        j = table.header.index(target)
        table = Table(table.path, table.header[:j] + table.header[j + 1:],
                      [r[:j] + r[j + 1:] for r in table.rows], table.lines, table.files)
    dataset = table_dataset(table, None, id_column, None)
    return dataset.ids, align_features(dataset.features, dataset.feature_names, settings)


def align_features(features: np.ndarray, names: list[str], settings: dict[str, Any]
                   ) -> np.ndarray:
    """New rows in the project's feature order, imputed and scaled with the pool's statistics.

    A one-hot column the new file lacks is 0 when the file has that column with other
    categories, else missing (imputed); features the project does not know are ignored.
    """
    want = settings["feature_names"]
    at = {n: j for j, n in enumerate(names)}
    present = {n.split("=", 1)[0] for n in names}
    x = np.full((len(features), len(want)), np.nan)
    for j, name in enumerate(want):
        if name in at:
            x[:, j] = features[:, at[name]]
        elif "=" in name and name.split("=", 1)[0] in present:
            x[:, j] = 0.0
    x = np.where(np.isnan(x), np.asarray(settings["impute"]), x)
    return ((x - np.asarray(settings["mean"])) / np.asarray(settings["scale"])).astype(np.float32)

