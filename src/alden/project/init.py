"""`alden init`'s work: a new project folder from a file of texts or table rows.

The pool is encoded for the project's model (word ids and word2vec vectors, an encoder's word
pieces, or scaled table features), the database is created with the items, classes and
settings, and the labels given up front (a label column of the data file, a labels file
through ``teach``) are written, all in a staging folder that becomes the project only when
everything is in place. Text projects default to the ALDEN strategy with a TextCNN (margin
on a frozen sentence encoder, ALDEN on a subpool on a fine-tuned one), tabular ones to DAMI
with an MLP (``default_strategy``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from alden.errors import AldenError
from alden.models.factory import DEFAULT_MODEL, check_model
from alden.models.families import model_family, prepare_for
from alden.project import store
from alden.project.labels import write_labels
from alden.project.teach import read_label_file, teach
from alden.project.workspace import read_project, user_name
from alden.strategies.cold_start import check_cold_start, default_cold_start

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from alden.data.datasets import Dataset
    from alden.data.files import Table
    from alden.data.prepare import Prepared
    from alden.data.tabular import Column
    from alden.data.text import Vocab
    from alden.models.encoder import PieceVocab


def default_strategy(kind: str, model: str) -> str:
    """A new project's strategy: DAMI for tables, ALDEN for the word models, margin for a
    frozen sentence encoder, ALDEN on a 1,000 subpool for a fine-tuned one (the model
    family's). On frozen MiniLM, margin (entropy's twin for two classes) led on Subj and MR
    on all 3 seeds and ALDEN trailed it on all 3, by 0.6-1.6 points of AUC (docs/results.md,
    "A pretrained sentence encoder"); on the fine-tuned one margin trailed random."""
    if kind == "tabular":
        return "dami"
    return model_family(model).strategy or "alden"


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
                 strategy: str | None = None, delimiter: str | None = None,
                 cold_start: str | None = None) -> InitResult:
    """Make a project from a CSV/TSV/JSON Lines file of texts or table rows.

    The folder appears whole or not at all. Labels may come from ``label_column`` of the
    data file or from ``labels_file`` (id, label); ``classes`` fixes the class list up front.
    Texts longer than ``max_words`` words (default ``alden.data.text.MAX_WORDS``) are cut to
    it; a row with an empty text is left out (``strict``: refused). Both are listed in the
    result (``cut``, ``skipped``). ``strategy``: the project's (``default_strategy`` if
    None), checked against the kind of data before anything is read; ``delimiter`` splits a
    CSV/TSV file (None: detected); ``cold_start``: how queries pick while labels are too
    few for a model (``strategies.cold_start``; default ``default_cold_start``, measured).
    """
    from alden.data.datasets import load_dataset
    from alden.data.text import MAX_WORDS

    max_words = MAX_WORDS if max_words is None else max_words

    data = Path(data)
    store.check_new_folder(folder)  # before the slow part, not after it
    kind, model, strategy = _checked_choices(kind, model, strategy, text_column, target_column)
    cold_start = check_cold_start(cold_start or default_cold_start(
        kind, model_family(model).word_pieces))
    target = (target_column or label_column) if kind == "tabular" else None
    dataset = load_dataset(data, text_column=text_column if kind == "text" else None,
                           label_column=label_column if kind == "text" else None,
                           target_column=target, id_column=id_column, kind=kind,
                           encoding=encoding, delimiter=delimiter, strict=strict)
    id_column = dataset.id_column  # a column named "id" is taken without --id-column
    prepared = _prepare(dataset, model, seed, embedding_dim, max_words)
    settings: dict[str, Any] = {
        "kind": kind, "data": str(data.resolve()), "text_column": text_column or "text",
        "target_column": target, "id_column": id_column, "encoding": encoding, "seed": seed,
        "model": model, "strategy": strategy or default_strategy(kind, model),
        "cold_start": cold_start}
    encoded, rows = _encoding_settings(data, kind, model, dataset, prepared, encoding=encoding,
                                       delimiter=delimiter,
                                       skip={target, id_column}, max_words=max_words)
    with store.staging(folder) as tmp:
        _write_pool(tmp, kind, dataset, prepared, rows,
                    tuple(dict.fromkeys((*classes, *dataset.label_names))),
                    {**settings, **encoded})
        conn = store.connect(tmp)
        try:
            _first_labels(conn, dataset, data, labels_file, who or user_name())
            made, n_labels = store.classes(conn), len(store.labels(conn))
        finally:
            conn.close()
    return InitResult(Path(folder), kind, len(dataset), made, n_labels,
                      len(prepared.vocab) if prepared.vocab is not None else None,
                      dataset.skipped, tuple(dataset.lines[i] for i in prepared.cut)
                      if dataset.lines else (), max_words if kind == "text" else None,
                      model, settings["strategy"])


def encode_items(folder: str | Path, on_progress: Callable[[int, int], None] | None = None
                 ) -> int:
    """A sentence-encoder project's items encoded now by its frozen encoder into the
    encoder's per-item cache (``alden.models.encoder_cache``), where every later command
    finds them: the encoding pass ``--ray-address`` spreads over a cluster in shards
    (``alden.cluster``). Returns the items (0 for a project of another model)."""
    conn = store.connect(folder)
    try:
        data = read_project(conn, folder)
    finally:
        conn.close()
    encoder = data.settings.get("encoder")
    if not encoder:
        return 0
    from alden.models.encoder import load_encoder
    from alden.models.encoder_cache import cached_pooled

    frozen = model_family(encoder).data_key(encoder)  # the table every learner reads
    cached_pooled(load_encoder(frozen), data.x, on_progress=on_progress)
    return len(data.x)


def _checked_choices(kind: str | None, model: str | None, strategy: str | None,
                     text_column: str | None, target_column: str | None
                     ) -> tuple[str, str, str | None]:
    """The project's kind, model and strategy (in its canonical spelling; None: the
    default), each checked before the data is read."""
    if text_column and target_column:
        raise AldenError("give --text-column for text or --target-column for a table, not both")
    if kind is None:
        kind = "tabular" if target_column else "text"
    model = check_model(kind, model or DEFAULT_MODEL[kind])
    if strategy is not None:
        from alden.strategies import strategy_from_spec, strategy_spec

        strategy = strategy_spec(strategy_from_spec(strategy, kind))
    return kind, model, strategy


def _prepare(dataset: Dataset, model: str, seed: int, embedding_dim: int, max_words: int
             ) -> Prepared:
    """The pool encoded for ``model``: its word pieces for a sentence encoder, else word ids
    and word2vec vectors (text) or the scaled features (tables)."""
    return prepare_for(model, dataset, seed, unlabeled=True, embedding_dim=embedding_dim,
                       max_len=max_words)


def _encoding_settings(data: Path, kind: str, model: str, dataset: Dataset, prepared: Prepared,
                       *, encoding: str, delimiter: str | None,
                       skip: set[str | None], max_words: int
                       ) -> tuple[dict[str, Any], list[dict[str, str]] | None]:
    """The settings that say how the pool was encoded, and (tables) the pool's raw rows
    without the columns in ``skip``, kept to encode new rows the same way."""
    from alden.data.datasets import read_user_table

    if model_family(model).word_pieces:  # the encoder family's prepare gives its pieces
        pieces = cast("PieceVocab", prepared.vocab)
        return dict(vocab=list(pieces.words), encoder=model,
                    continues=np.flatnonzero(pieces.continues).tolist(),
                    tokenized=bool(dataset.tokenized)), None
    if kind == "text":  # text is always prepared with a vocabulary
        vocab = cast("Vocab", prepared.vocab)
        return dict(vocab=list(vocab.words), tokenized=bool(dataset.tokenized),
                    max_words=max_words), None
    rows = _raw_rows(read_user_table(data, encoding=encoding, delimiter=delimiter), skip)
    # a table is always prepared with its fitted imputer + scaler, read with its columns
    pipeline = cast("Pipeline", prepared.preprocessor)
    impute, scale = pipeline[0], pipeline[-1]
    feature_names = cast("list[str]", dataset.feature_names)
    columns = cast("list[Column]", dataset.columns)
    return dict(feature_names=list(feature_names),
                columns=[c.as_dict() for c in columns],
                impute=impute.statistics_.tolist(), mean=scale.mean_.tolist(),
                scale=scale.scale_.tolist()), rows


def _raw_rows(table: Table, skip: set[str | None]) -> list[dict[str, str]]:
    keep = [j for j, name in enumerate(table.header) if name not in skip]
    return [{table.header[j]: row[j] for j in keep} for row in table.rows]


def _write_pool(tmp: Path, kind: str, dataset: Dataset, prepared: Prepared,
                rows: list[dict[str, str]] | None, classes: tuple[str, ...],
                settings: dict[str, Any]) -> None:
    """The database (items, classes, settings) and the encoded pool, in the staging folder."""
    store.create(tmp, ids=dataset.ids, texts=dataset.texts if kind == "text" else None,
                 rows=rows, classes=classes, settings=settings)
    (tmp / "encoding").mkdir()
    np.save(tmp / "encoding" / "x.npy", prepared.x)
    if prepared.embeddings is not None:
        np.save(tmp / "encoding" / "embeddings.npy", prepared.embeddings)


def _first_labels(conn: sqlite3.Connection, dataset: Dataset, data: Path,
                  labels_file: str | Path | None, who: str) -> None:
    """The labels given up front: the data file's label column, then the labels file
    (checked and written as `alden teach` writes a file)."""
    known = np.flatnonzero(dataset.labels >= 0)
    if len(known):
        index = {n: i for i, n in enumerate(store.classes(conn))}
        with store.transaction(conn):
            write_labels(conn, ((int(i), index[dataset.label_names[dataset.labels[i]]])
                                for i in known), who=who, source=f"init {data.name}")
    if labels_file is not None:
        path = Path(labels_file)
        teach(conn, read_label_file(path), source=f"init {path.name}", who=who)
