"""A labeling project's folder: made by ``init_project``, read back as ``ProjectData``.

A project is a folder::

    PROJECT/project.db          items, classes, labels, rounds, settings (alden.project.store)
    PROJECT/encoding/x.npy      the pool encoded for the models (token ids or scaled features)
    PROJECT/encoding/embeddings.npy   word2vec vectors of the vocabulary (text projects)
    PROJECT/models/*.pt         trained models (alden.project.trained: one per labeled state)
    PROJECT/batches/round-NNNN.{csv,jsonl,labelstudio.json}   the batches asked for
    PROJECT/status/learning_curve.png

This module writes and reads the project's own files; the commands
(project_query, project_status, project_predict) build on it. Text projects default to the
ALDEN strategy with a TextCNN (margin on a sentence encoder), tabular ones to DAMI with an
MLP. A model is trained only from
``MIN_LABELS`` labels in two classes or more (``too_few_labels``).
"""

from __future__ import annotations

import getpass
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from alden.cli_types import plural
from alden.data.pool import Pool
from alden.errors import AldenError, ProjectError
from alden.models.factory import DEFAULT_MODEL, MODELS_BY_KIND, check_model
from alden.models.families import model_family, prepare_for
from alden.project import store
from alden.project.check_set import check_items, split_labels

__all__ = ["DEFAULT_MODEL", "MODELS_BY_KIND", "check_model"]  # the factory's, re-exported

MIN_LABELS = 10  # below this many labels (or with one class) a query starts cold


def default_strategy(kind: str, model: str) -> str:
    """A new project's strategy: DAMI for tables, ALDEN for the word models, margin for a
    sentence encoder. On frozen MiniLM, margin (entropy's twin for two classes) led on
    Subj and MR on all 3 seeds and ALDEN trailed it on all 3, by 0.6-1.6 points of AUC
    (docs/results.md, "A pretrained sentence encoder")."""
    if kind == "tabular":
        return "dami"
    return model_family(model).strategy or "alden"


def user_name() -> str:
    """Who is giving labels, for the label log: the login name, else "unknown"."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# ---- init -------------------------------------------------------------------------------

@dataclass(frozen=True)
class InitResult:
    """What `init` made: the project folder, its kind, items, classes, labels and vocabulary."""
    folder: Path
    kind: str
    items: int
    classes: tuple[str, ...]
    labels: int
    vocab: int | None
    skipped: tuple[str, ...] = ()  # "FILE, line N: why" of each row left out
    cut: tuple[str, ...] = ()  # "FILE, line N" of each text cut to max_words
    max_words: int | None = None
    model: str = ""
    strategy: str = ""


def init_project(folder: str | Path, data: str | Path, *, text_column: str | None = None,
                 target_column: str | None = None, id_column: str | None = None,
                 label_column: str | None = None, kind: str | None = None,
                 labels_file: str | Path | None = None, classes: tuple[str, ...] = (),
                 seed: int = 0, embedding_dim: int = 100, encoding: str = "utf-8",
                 who: str | None = None, max_words: int | None = None,
                 strict: bool = False, model: str | None = None,
                 strategy: str | None = None) -> InitResult:
    """Make a project from a CSV/TSV/JSON Lines file of texts or table rows.

    The folder appears whole or not at all. Labels may come from ``label_column`` of the
    data file or from ``labels_file`` (id, label); ``classes`` fixes the class list up front.
    Texts longer than ``max_words`` words (default ``alden.data.text.MAX_WORDS``) are cut to
    it; a row with an empty text is left out (``strict``: refused). Both are listed in the
    result (``cut``, ``skipped``). ``strategy``: the project's (``default_strategy`` if
    None), checked against the kind of data before anything is read.
    """
    from alden.data.datasets import load_dataset, read_user_table
    from alden.data.text import MAX_WORDS

    max_words = MAX_WORDS if max_words is None else max_words

    data = Path(data)
    store.check_new_folder(folder)  # before the slow part, not after it
    if text_column and target_column:
        raise AldenError("give --text-column for text or --target-column for a table, not both")
    if kind is None:
        kind = "tabular" if target_column else "text"
    model = check_model(kind, model or DEFAULT_MODEL[kind])
    if strategy is not None:
        from alden.strategies import strategy_from_spec, strategy_spec

        strategy = strategy_spec(strategy_from_spec(strategy, kind))
    dataset = load_dataset(data, text_column=text_column if kind == "text" else None,
                           label_column=label_column if kind == "text" else None,
                           target_column=(target_column or label_column) if kind == "tabular"
                           else None, id_column=id_column, kind=kind, encoding=encoding,
                           strict=strict)
    prepared = prepare_for(model, dataset, seed, unlabeled=True, embedding_dim=embedding_dim,
                           max_len=max_words)  # a sentence encoder: its own word pieces
    settings: dict[str, Any] = {
        "kind": kind, "data": str(data.resolve()), "text_column": text_column or "text",
        "target_column": (target_column or label_column) if kind == "tabular" else None,
        "id_column": id_column, "encoding": encoding, "seed": seed,
        "model": model, "strategy": strategy or default_strategy(kind, model)}
    rows = None
    if model_family(model).word_pieces:
        settings.update(vocab=list(prepared.vocab.words), encoder=model,
                        continues=np.flatnonzero(prepared.vocab.continues).tolist(),
                        tokenized=bool(dataset.tokenized))
    elif kind == "text":
        settings.update(vocab=list(prepared.vocab.words), tokenized=bool(dataset.tokenized),
                        max_words=max_words)
    else:
        rows = _raw_rows(read_user_table(data, encoding=encoding),
                         {settings["target_column"], id_column})
        impute, scale = prepared.preprocessor[0], prepared.preprocessor[-1]
        settings.update(feature_names=list(dataset.feature_names),
                        columns=[c.as_dict() for c in dataset.columns],
                        impute=impute.statistics_.tolist(), mean=scale.mean_.tolist(),
                        scale=scale.scale_.tolist())
    names = tuple(dict.fromkeys((*classes, *dataset.label_names)))
    with store.staging(folder) as tmp:
        store.create(tmp, ids=dataset.ids, texts=dataset.texts if kind == "text" else None,
                     rows=rows, classes=names, settings=settings)
        (tmp / "encoding").mkdir()
        np.save(tmp / "encoding" / "x.npy", prepared.x)
        if prepared.embeddings is not None:
            np.save(tmp / "encoding" / "embeddings.npy", prepared.embeddings)
        conn = store.connect(tmp)
        try:
            known = np.flatnonzero(dataset.labels >= 0)
            if len(known):
                index = {n: i for i, n in enumerate(store.classes(conn))}
                with store.transaction(conn):
                    store.write_labels_in(
                        conn, ((int(i), index[dataset.label_names[dataset.labels[i]]])
                               for i in known), who=who or user_name(), source=f"init {data.name}")
            if labels_file is not None:
                path = Path(labels_file)
                from alden.project.teach import read_label_file, teach

                teach(conn, read_label_file(path), source=f"init {path.name}",
                      who=who or user_name())
            result = InitResult(Path(folder), kind, len(dataset), store.classes(conn),
                                len(store.labels(conn)),
                                len(prepared.vocab) if prepared.vocab is not None else None,
                                dataset.skipped, tuple(dataset.lines[i] for i in prepared.cut)
                                if dataset.lines else (), max_words if kind == "text" else None,
                                model, settings["strategy"])
        finally:
            conn.close()
    return result


def _raw_rows(table, skip: set[str | None]) -> list[dict[str, str]]:
    keep = [j for j, name in enumerate(table.header) if name not in skip]
    return [{table.header[j]: row[j] for j in keep} for row in table.rows]


# ---- the pool as the models see it ------------------------------------------------------

@dataclass(frozen=True)
class ProjectData:
    """Everything a command needs from a project, read once."""

    folder: Path
    settings: dict[str, Any]
    ids: list[str]
    contents: list[Any]  # text, or row dict
    classes: tuple[str, ...]
    x: np.ndarray
    embeddings: np.ndarray | None
    labels: store.Labels  # the training labels: check items' are in check_labels
    check: tuple[int, ...] = ()  # items set aside to measure accuracy, never trained on
    check_labels: store.Labels = store.Labels((), (), ())  # the labels given to them so far

    @property
    def kind(self) -> str:
        return self.settings["kind"]

    def pool(self) -> Pool:
        """A Pool with the labels given so far; ``labeled_in`` holds each label's round."""
        y = np.full(len(self.x), -1, dtype=np.int64)
        labeled_in = np.full(len(self.x), -1, dtype=np.int64)
        y[list(self.labels.items)] = self.labels.labels
        labeled_in[list(self.labels.items)] = self.labels.rounds
        vocab = tuple(self.settings["vocab"]) if self.kind == "text" else None
        texts = self.contents if self.kind == "text" else [_row_text(r) for r in self.contents]
        continues = None
        if self.settings.get("continues") is not None:  # word pieces of an encoder
            continues = np.zeros(len(vocab), dtype=bool)
            continues[self.settings["continues"]] = True
        return Pool(self.x, y, labeled_in, self.classes, vocab=vocab, texts=texts,
                    continues=continues)


def read_project(conn: sqlite3.Connection, folder: str | Path) -> ProjectData:
    """The project's settings, items, labels and encoded pool, checked against each other."""
    folder = Path(folder)
    encoding = folder / "encoding"
    try:
        x = np.load(encoding / "x.npy", allow_pickle=False)
        emb_path = encoding / "embeddings.npy"
        embeddings = np.load(emb_path, allow_pickle=False) if emb_path.exists() else None
    except (OSError, ValueError) as err:
        raise ProjectError(f"{encoding}: the encoded pool is missing or damaged ({err})") from err
    ids = store.item_ids(conn)
    if len(x) != len(ids):
        raise ProjectError(f"{encoding / 'x.npy'} holds {len(x)} items, the database "
                           f"{len(ids)}: the project is damaged")
    check = check_items(conn)
    labels, check_labels = split_labels(store.labels(conn), check)
    return ProjectData(folder, store.settings(conn), ids, store.item_contents(conn),
                       store.classes(conn), x, embeddings, labels, check, check_labels)


def _row_text(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in row.items())


def display_text(content: Any) -> str:
    """An item as a person reads it: the text itself, or a row as "column: value, ..."."""
    return content if isinstance(content, str) else _row_text(content)


def too_few_labels(data: ProjectData) -> str | None:
    """Why a model cannot be trained yet, or None when it can."""
    n, distinct = len(data.labels), len(set(data.labels.labels))
    if n < MIN_LABELS:
        return f"{plural(n, 'label')}, fewer than {MIN_LABELS}"
    if distinct < 2:
        return "only one class labeled so far"
    return None


def sentence_means(x: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Each sentence's mean word vector over its tokens (pads left out), as one sparse product."""
    rows, cols = np.nonzero(x)
    counts = scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, x[rows, cols])),
                                     shape=(len(x), len(embeddings)))
    lengths = np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1)
    return np.asarray(counts @ embeddings.astype(np.float64)) / lengths[:, None]
