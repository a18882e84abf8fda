"""What every strategy shares: the Selection it returns, the structured Reason per pick, the
Protocols that say which learner methods a strategy reads, and small wiring helpers.

Strategies read a model only through the learner methods below, so the runner, the CLI and
the labeling project know nothing about any particular strategy, and a fake learner that
implements a Protocol is enough to test one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import Field, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, SupportsFloat, SupportsIndex, cast

import numpy as np

from alden.data.mapped import row_blocks
from alden.data.pool import Pool
from alden.errors import AldenError
from alden.strategies.reasons import Reason

if TYPE_CHECKING:
    from alden.models.contract import Learner

ANY, TEXT, TABULAR = "any", "text", "tabular"  # the pools a strategy works on


@dataclass(frozen=True, init=False)
class Selection:
    """What a strategy picked: global pool indices in pick order, each pick's score (the
    strategy's own measure, e.g. entropy or a distance; see the strategy) and, where the
    strategy has one, a structured ``Reason`` per pick (rendered to text at the edges).
    Built from any sequences (lists, arrays); stored as tuples of plain ints and floats.
    ``pool_proba``: the model's class probabilities of every pool item (N, C), when the
    strategy computed them on the way (ALDEN's pass over the whole pool does), so that its
    caller need not predict the pool again; not compared."""

    indices: tuple[int, ...]
    scores: tuple[float, ...]
    reasons: tuple[Reason, ...] | None = None
    pool_proba: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __init__(self, indices: Iterable[SupportsIndex], scores: Iterable[SupportsFloat],
                 reasons: Iterable[Reason] | None = None, *,
                 pool_proba: np.ndarray | None = None) -> None:
        object.__setattr__(self, "indices", tuple(int(i) for i in indices))
        object.__setattr__(self, "scores", tuple(float(s) for s in scores))
        object.__setattr__(self, "reasons", None if reasons is None else tuple(reasons))
        object.__setattr__(self, "pool_proba", pool_proba)
        if self.reasons is not None:
            if not all(isinstance(r, Reason) for r in self.reasons):
                raise AldenError("a Selection's reasons must be Reason objects")
        if len(self.scores) != len(self.indices) or (
                self.reasons is not None and len(self.reasons) != len(self.indices)):
            raise AldenError("a Selection needs one score (and one reason, if any) per index")

    def __len__(self) -> int:
        return len(self.indices)


# ---------------------------------------------------------------- the contracts

class ProbaLearner(Protocol):
    """Class probabilities, batched: ``(N, ...) -> (N, C)``."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


class DropoutLearner(Protocol):
    """``T`` MC-dropout passes with the same masks for the same seed: ``(T, N, C)``."""

    def predict_proba_mc(self, x: np.ndarray, samples: int, seed: int) -> np.ndarray: ...


class HiddenLearner(Protocol):
    """The last hidden layer ``(N, H)`` and BADGE's gradient embeddings ``(N, C*H)``."""

    def hidden(self, x: np.ndarray) -> np.ndarray: ...

    def badge_embeddings(self, x: np.ndarray) -> np.ndarray: ...


class TextGradientLearner(Protocol):
    """Gradients with respect to word embeddings: EGL-Word's scores ``(N,)``, Eq. (4)'s
    interpretations (one ``(len_i, C)`` array per item) and the embedding table ``(V, d)``."""

    def egl_word_scores(self, x: np.ndarray) -> np.ndarray: ...

    def token_interpretations(self, x: np.ndarray, output: str = ...) -> list[np.ndarray]: ...

    def word_embeddings(self) -> np.ndarray: ...


class TabularGradientLearner(Protocol):
    """Gradients with respect to features: EGL scores ``(N,)`` and the input Jacobian
    ``(N, C*F)``."""

    def egl_input_scores(self, x: np.ndarray) -> np.ndarray: ...

    def input_jacobian(self, x: np.ndarray, output: str = ...) -> np.ndarray: ...


class Strategy(Protocol):
    """One signature for every strategy; ``data`` says which pools it works on. Every
    strategy is a dataclass: its fields are its options (``alden.strategies.registry``)."""

    name: ClassVar[str]
    data: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def select(self, learner: Learner, pool: Pool, n: int, rng: np.random.Generator
               ) -> Selection: ...


def text_gradients(learner: Learner) -> TextGradientLearner:
    """``learner`` read through its word gradients. Every text learner has them (the
    networks' cnn and bilstm, the encoders) and ``check_fits`` keeps the strategies that read
    them to text pools: the cast states that invariant, it checks nothing."""
    return cast(TextGradientLearner, learner)


def tabular_gradients(learner: Learner) -> TabularGradientLearner:
    """``learner`` read through its feature gradients. Every tabular learner has them (the
    network family's mlp) and ``check_fits`` keeps the strategies that read them to tabular
    pools: the cast states that invariant, it checks nothing."""
    return cast(TabularGradientLearner, learner)


# ---------------------------------------------------------------- shared wiring

def check_fits(strategy: Strategy, kind: str) -> None:
    """Refuse a strategy that cannot work on a "text" or "tabular" pool, before any training."""
    if strategy.data == TEXT and kind != TEXT:
        raise AldenError(f"strategy {strategy.name!r} needs words: it works on text only "
                         "(for tables use 'dami' or 'egl')")
    if strategy.data == TABULAR and kind != TABULAR:
        raise AldenError(f"strategy {strategy.name!r} uses gradients with respect to tabular "
                         "features: it works on tables only (for text use 'alden' or "
                         "'egl_word')")


def open_items(strategy: Strategy, pool: Pool, n: int) -> tuple[np.ndarray, int]:
    """The unlabeled indices, and how many to pick: ``n``, or all of them if fewer remain."""
    check_fits(strategy, TEXT if pool.is_text else TABULAR)
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise AldenError(f"the number of items to select must be a whole number >= 0, "
                         f"got {n!r}")
    unlabeled = pool.unlabeled
    return unlabeled, min(int(n), len(unlabeled))


def finite(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as an array, or an error if training left NaN or infinities in them."""
    values = np.asarray(values)
    if not np.isfinite(values).all():
        raise AldenError(f"the learner's {what} contain NaN or infinite values "
                         "(did training diverge?)")
    return values


ROWS_PASS_BATCHES = 64  # scoring batches a block of ``rows_pass`` copies from the pool


def rows_pass(learner: object, method: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
              rows: np.ndarray) -> np.ndarray:
    """``method(x[rows])`` (one result row per item) computed a block of rows at a time, so
    only a block of a large (memory-mapped) pool is copied. Only for a learner whose
    per-item outputs depend on nothing but the batches ``alden.models.quantities`` cuts
    (``rows_in_batches``): the blocks follow that order (text: longest first, ties in row
    order) and hold whole batches, so every float is the one call's; others get one call."""
    config = getattr(learner, "config", None)
    batch = getattr(config, "eval_batch_size", None)
    block = ROWS_PASS_BATCHES * batch if isinstance(batch, int) and batch > 0 else 0
    if not getattr(learner, "rows_in_batches", False) or not block or len(rows) <= block:
        return np.asarray(method(x[rows]))
    if np.issubdtype(x.dtype, np.integer):  # text: the batches' order, longest first
        order = np.argsort(-token_counts(x)[rows], kind="stable")
    else:
        order = np.arange(len(rows))
    out: np.ndarray | None = None
    for start in range(0, len(rows), block):
        part = order[start:start + block]
        result = np.asarray(method(x[rows[part]]))
        if out is None:
            out = np.empty((len(rows), *result.shape[1:]), dtype=result.dtype)
        out[part] = result
    assert out is not None
    return out


def pool_tokens(pool: Pool) -> list[np.ndarray]:
    """Each text item's token ids without pads (pads trail), as views of one array."""
    real = pool.x != 0
    return np.split(pool.x[real], np.cumsum(real.sum(axis=1))[:-1])


def token_counts(x: np.ndarray) -> np.ndarray:
    """Real (non-pad) tokens per row of ``x``, read a block of rows at a time (``row_blocks``:
    it may be a memory-mapped file)."""
    counts = np.empty(len(x), dtype=np.int64)
    for start, rows in row_blocks(x):
        counts[start:start + len(rows)] = np.count_nonzero(rows, axis=1)
    return counts


def flat_tokens(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The token ids of the rows of ``x`` without their pads (pads trail), one flat int32
    array, and each row's offsets into it (N+1,); ``x`` is read a block of rows at a time
    (``row_blocks``: it may be a memory-mapped file)."""
    offsets = np.zeros(len(x) + 1, dtype=np.int64)
    np.cumsum(token_counts(x), out=offsets[1:])
    words = np.empty(int(offsets[-1]), dtype=np.int32)
    for start, rows in row_blocks(x):
        words[offsets[start]:offsets[start + len(rows)]] = rows[rows != 0]
    return words, offsets


def flat_interpretations(gradients: TextGradientLearner, x: np.ndarray, output: str
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Eq. (4) for the rows of ``x``: one (T, C) array, the rows' offsets (N+1,) and the
    class probabilities (N, C) the pass computed, from a learner that gives them flat (no
    per-item arrays for a large pool); else its per-item arrays joined, and None."""
    flat = getattr(gradients, "token_interpretations_flat", None)
    if flat is not None:
        values, offsets, proba = flat(x, output=output)
        return values, offsets, proba
    parts = gradients.token_interpretations(x, output=output)
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    width = max((p.shape[1] for p in parts if np.ndim(p) == 2), default=1)
    values = (np.concatenate([np.reshape(p, (-1, width)) for p in parts]) if parts
              else np.zeros((0, width)))
    return values, offsets, None
