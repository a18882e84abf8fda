"""What a model family reads of each item before any training: the representation a cold
start (a first batch without labels) chooses from. Pooled frozen-encoder embeddings for the
encoders, sentence means of the word vectors for the word models, the features for tables.
No torch at import."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse

from alden.errors import AldenError
from alden.models.families import model_family


def item_representations(model: str, kind: str, x: np.ndarray,
                         embeddings: np.ndarray | None,
                         on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, d) float64 representations of the encoded items ``x`` for ``model``: the frozen
    encoder's pooled embeddings (the shared, cached table the frozen learner reads;
    ``on_progress(done, total)`` hears the items encoded), :func:`sentence_means` of
    ``embeddings`` (text for the word models) or ``x`` (tables)."""
    family = model_family(model)
    if kind == "text" and family.word_pieces:
        from alden.models.encoder_cache import shared_table

        frozen = family.data_key(model)  # the encoder's own name: its frozen pooled table
        return shared_table(frozen, x, on_progress=on_progress).pooled.astype(np.float64)
    if kind == "text":
        if embeddings is None:
            raise AldenError("text items need their word vectors (embeddings)")
        return sentence_means(x, embeddings)
    return np.asarray(x, dtype=np.float64)


def sentence_means(x: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Each sentence's mean word vector over its tokens (pads left out), as one sparse product."""
    rows, cols = np.nonzero(x)
    counts = scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, x[rows, cols])),
                                     shape=(len(x), len(embeddings)))
    lengths = np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1)
    return np.asarray(counts @ embeddings.astype(np.float64)) / lengths[:, None]
