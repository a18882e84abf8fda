"""Strategies that read gradients with respect to the input: the paper's ALDEN (text; Liu et
al., CIKM 2021) and DAMI (tables; Liu et al., arXiv 2020), and the gradient-length baselines
EGL-Word (Zhang, Lease & Wallace, AAAI 2017) and its tabular sibling EGL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypedDict

import numpy as np

from alden.data.pool import Pool
from alden.errors import AldenError
from alden.kernels import (
    AldenPick,
    alden_greedy_flat,
    alden_greedy_picks,
    kcenter_greedy_picks,
    margin,
    top_k,
)
from alden.kernels.pieces import MergedWords, merge_pieces
from alden.models.outputs import DEFAULT_OUTPUT, check_output
from alden.strategies.base import (
    TABULAR,
    TEXT,
    Selection,
    TextGradientLearner,
    finite,
    flat_interpretations,
    flat_tokens,
    open_items,
    pool_tokens,
    rows_pass,
    tabular_gradients,
    text_gradients,
)
from alden.strategies.reasons import Reason

if TYPE_CHECKING:
    from alden.models.contract import Learner


@dataclass(frozen=True)
class EglWord:
    """EGL-Word: largest expected gradient length of a word embedding first (score: it)."""

    name: ClassVar[str] = "egl_word"
    data: ClassVar[str] = TEXT

    def select(self, learner: Learner, pool: Pool, n: int,
               rng: np.random.Generator) -> Selection:
        """The ``n`` unlabeled sentences whose strongest word would move the model most."""
        unlabeled, n = open_items(self, pool, n)
        scores = finite(rows_pass(learner, text_gradients(learner).egl_word_scores, pool.x,
                                  unlabeled), "EGL-Word scores")
        order = top_k(scores, n)
        return Selection(unlabeled[order], scores[order],
                         [Reason("egl_word", float(scores[o])) for o in order])


@dataclass(frozen=True)
class Egl:
    """Tabular EGL: largest expected gradient length with respect to the features first."""

    name: ClassVar[str] = "egl"
    data: ClassVar[str] = TABULAR

    def select(self, learner: Learner, pool: Pool, n: int,
               rng: np.random.Generator) -> Selection:
        """The ``n`` unlabeled rows whose label would move the model's input gradient most."""
        unlabeled, n = open_items(self, pool, n)
        scores = finite(tabular_gradients(learner).egl_input_scores(pool.x[unlabeled]),
                        "EGL scores")
        order = top_k(scores, n)
        return Selection(unlabeled[order], scores[order],
                         [Reason("egl", float(scores[o])) for o in order])


@dataclass(frozen=True)
class Alden:
    """ALDEN: greedy picks by the most diverse word interpretation (score: Eq. 9's
    diversity). ``output``: interpretations of the probabilities (default) or the logits;
    see ``alden.models.outputs`` for the measurements behind the default. Logits find
    Figure 1's linear regions (ARI 0.72-0.90 over 5 seeds; probabilities 0.04-0.06, a
    saturated softmax flattens the gradients), but for selection the flattening helps: with
    TextCNN on Subj and MR, "proba" picks more of the sentences the model gets wrong and
    scored 0.4-1.0 points more normalised AUC over 3 seeds (docs/results.md).

    ``candidates`` > 0 runs the interpretation pass only on the labeled sentences and
    margin's ``candidates`` most uncertain unlabeled ones (a multiple of the batch size
    leaves ALDEN a choice; fewer than the batch are raised to it), so interpretation
    diversity chooses among informative items at a fraction of the cost; 0 (default): the
    whole pool.

    ``unit`` matters only on word-piece pools (sentence encoders, ``Pool.continues``):
    "word" (default) merges each word's pieces, summing their interpretations; "piece"
    takes each tokenizer entry as a word. Measured on a Subj sample with frozen MiniLM,
    one query from the same interpretations: a tie (3 seeds); over a run: 0.860 vs 0.849
    AUC for whole words (1 seed; docs/results.md). Reasons name whole words either way."""

    output: str = DEFAULT_OUTPUT
    unit: str = "word"
    candidates: int = 0
    name: ClassVar[str] = "alden"
    data: ClassVar[str] = TEXT

    def __post_init__(self) -> None:
        check_output(self.output)
        if self.unit not in UNITS:
            raise AldenError(f"alden: unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int | np.integer) \
                or self.candidates < 0:
            raise AldenError(f"alden: candidates must be a whole number >= 0 (0: the whole "
                             f"pool), got {self.candidates!r}")

    def select(self, learner: Learner, pool: Pool, n: int,
               rng: np.random.Generator) -> Selection:
        """``n`` sentences whose words are read most unlike the labeled ones (Eq. 6-10); with
        ``candidates``, only among margin's that many most uncertain unlabeled sentences."""
        unlabeled, n = open_items(self, pool, n)
        if n == 0:
            return Selection((), (), ())
        if pool.labeled.size == 0:
            raise AldenError("alden needs a labeled seed set: it compares interpretations "
                             "with those of labeled words")
        rows = np.arange(len(pool))
        if self.candidates:  # at least the batch: then margin's top n, no choice left
            proba = finite(rows_pass(learner, learner.predict_proba, pool.x, unlabeled),
                           "probabilities")
            m = max(int(self.candidates), n)
            uncertain = unlabeled[top_k(margin(proba), m, largest=False)]
            rows = np.sort(np.concatenate([pool.labeled, uncertain]))
        return self._greedy(text_gradients(learner), pool, rows, n)

    def _greedy(self, gradients: TextGradientLearner, pool: Pool, rows: np.ndarray,
                n: int) -> Selection:
        """The greedy picks over the pool's ``rows`` (every labeled row among them): one
        interpretation pass over those rows only."""
        whole = len(rows) == len(pool)
        x = pool.x if whole else pool.x[rows]  # the whole pool: no copy
        values, offsets, proba = flat_interpretations(gradients, x, self.output)
        embeddings = gradients.word_embeddings()
        labeled = np.flatnonzero(pool.labeled_in[rows] >= 0)
        if pool.continues is None:  # every token is a word (the word models): flat arrays
            words, _ = flat_tokens(x)
            picks = alden_greedy_flat(words, values, offsets, embeddings, labeled, n)
            reasons = [alden_reason(pool, p, *(a[offsets[p.index]:offsets[p.index + 1]]
                                               for a in (words, values))) for p in picks]
            return Selection([rows[p.index] for p in picks], [p.diversity for p in picks],
                             reasons, pool_proba=proba if whole else None)
        every = pool_tokens(pool)
        tokens = every if len(rows) == len(pool) else [every[r] for r in rows]
        interpretations = np.split(values, offsets[1:-1])
        merged = merge_pieces(tokens, interpretations, pool.continues, embeddings,
                              pool.vocab or ())
        if self.unit == "word":
            picks = alden_greedy_picks(merged.tokens, merged.interpretations,
                                       merged.embeddings, labeled, n)
        else:
            picks = alden_greedy_picks(tokens, interpretations, embeddings, labeled, n)
        reasons = [piece_reason(pool, p, merged, self.unit) for p in picks]
        return Selection([rows[p.index] for p in picks], [p.diversity for p in picks],
                         reasons)


UNITS = ("word", "piece")  # ALDEN's "word" on word pieces: whole words, or each piece


class Heat(TypedDict, total=False):
    """A reason's heat map: each word of the item and the size of its interpretation."""

    words: tuple[str, ...]
    interpretations: tuple[float, ...]


def piece_reason(pool: Pool, pick: AldenPick, merged: MergedWords, unit: str) -> Reason:
    """The reason of an ALDEN pick on a word-piece pool, naming whole words: the word
    (pieces merged) that made the pick, the labeled word compared, and every word of the
    item with the size of its summed interpretation."""
    i = pick.index
    words = pool.vocab or ()
    heat: Heat = {"words": tuple(merged.text(int(w), words) for w in merged.tokens[i]),
                  "interpretations": tuple(float(v) for v in np.linalg.norm(
                      np.asarray(merged.interpretations[i], dtype=np.float64), axis=1))}
    if pick.position < 0:
        return Reason("alden", float(pick.diversity), **heat)
    if unit == "word":
        position, compared = pick.position, merged.text(pick.compared_word, words)
    else:
        position = int(merged.word_of_piece[i][pick.position])
        compared = (heat["words"][position] if pick.compared_word == pick.word
                    else merged.text(pick.compared_word, words).removeprefix("##"))
    word = heat["words"][position]
    if unit == "word" and pick.compared_word == pick.word:
        compared = word
    return Reason("alden", float(pick.diversity), word=word, position=int(position),
                  compared_word=compared, **heat)


def alden_reason(pool: Pool, pick: AldenPick, tokens: np.ndarray | None = None,
                 interpretations: np.ndarray | None = None) -> Reason:
    """The data of an ALDEN pick: its word, the word's position, the labeled word compared,
    and (given the item's tokens and (len, C) interpretations) every word with the size of
    its interpretation (Euclidean norm over classes), for a heat map."""
    heat: Heat = {}
    if tokens is not None and interpretations is not None:
        heat = {"words": tuple(pool.word(int(t)) for t in tokens),
                "interpretations": tuple(float(v) for v in np.linalg.norm(
                    np.asarray(interpretations, dtype=np.float64), axis=1))}
    if pick.position < 0:
        return Reason("alden", float(pick.diversity), **heat)
    return Reason("alden", float(pick.diversity), word=pool.word(pick.word),
                  position=int(pick.position), compared_word=pool.word(pick.compared_word),
                  **heat)


@dataclass(frozen=True)
class Dami:
    """DAMI: greedy k-center on the flattened input Jacobian of the MLP (score: distance to
    the nearest labeled or already-picked item). ``output``: "proba" (default, see
    :class:`Alden`) or "logits"."""

    output: str = DEFAULT_OUTPUT
    name: ClassVar[str] = "dami"
    data: ClassVar[str] = TABULAR

    def __post_init__(self) -> None:
        check_output(self.output)

    def select(self, learner: Learner, pool: Pool, n: int,
               rng: np.random.Generator) -> Selection:
        """``n`` rows from the linear regions farthest from the labeled ones."""
        _, n = open_items(self, pool, n)
        jacobian = finite(tabular_gradients(learner).input_jacobian(pool.x, output=self.output),
                          "input Jacobians")
        picks, dists = kcenter_greedy_picks(jacobian, pool.labeled, n)
        return Selection(picks, dists, [Reason("dami", float(d)) for d in dists])


def coverage_left(learner: Learner, pool: Pool) -> float:
    """The largest ALDEN diversity (Eq. 9) among the pool's unlabeled items for its labeled
    set: what ALDEN's next pick would score, whichever strategy picked so far; read by the
    interpretation-coverage stopping criterion (``alden.stopping``). One interpretation pass
    over the pool. 0.0 when nothing is left unlabeled."""
    if len(pool.unlabeled) == 0:
        return 0.0
    gradients = text_gradients(learner)  # a text pool's learner (callers check pool.is_text)
    values, offsets, _ = flat_interpretations(gradients, pool.x, DEFAULT_OUTPUT)
    picks = alden_greedy_flat(flat_tokens(pool.x)[0], values, offsets,
                              gradients.word_embeddings(), pool.labeled, 1)
    return float(picks[0].diversity)
