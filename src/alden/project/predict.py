"""Predictions for another file from a project's latest model (trained first if stale).

The new file is encoded the way the project's pool was (``alden.project.new_items``): text
with the project's vocabulary, table rows by the pool's column encoding and its fitted
scikit-learn imputer and scaler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alden.errors import AldenError
from alden.models.factory import check_model
from alden.project import store
from alden.project.new_items import encode_new
from alden.project.trained import current_model, delete_files, save_model
from alden.project.workspace import read_project, too_few_labels


@dataclass(frozen=True)
class Prediction:
    """Predicted labels (and probabilities) for new items, and where they were written."""
    ids: list[str]
    proba: np.ndarray
    classes: tuple[str, ...]
    model_file: str
    trained_now: bool
    skipped: tuple[str, ...] = ()  # "FILE, line N: why" of each row left out (empty text)


def predict(folder: str | Path, data_file: str | Path, *, text_column: str | None = None,
            id_column: str | None = None, model: str | None = None,
            delimiter: str | None = None) -> Prediction:
    """Class probabilities for the items of ``data_file`` from the latest model.

    If labels were added since the latest model was trained, a model is trained on all the
    labels first (and saved), so predictions always use every label given. ``delimiter``
    splits a CSV/TSV ``data_file`` (None: detected).
    """
    folder = Path(folder)
    conn = store.connect(folder)
    try:
        data = read_project(conn, folder)
        why = too_few_labels(data)
        if why:
            raise AldenError(f"{folder}: cannot train a model yet ({why}); label more items "
                             f"with `alden query` and `alden teach` or `alden label`")
        # the new file is read and encoded first: a bad file fails before any training
        ids, x, skipped = encode_new(data, Path(data_file), text_column=text_column,
                                     id_column=id_column, delimiter=delimiter)
        name = check_model(data.kind, model or data.settings["model"])
        learner, found = current_model(conn, data, name)  # one model per labeled state
        if found is None:
            file, stale = save_model(conn, data, learner, name, store.current_round(conn))
            delete_files(folder, stale)
        else:
            file = found
        return Prediction(ids, learner.predict_proba(x), data.classes, file, found is None,
                          skipped)
    finally:
        conn.close()
