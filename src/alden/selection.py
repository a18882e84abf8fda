"""Pure NumPy selection kernels: arrays in, pool positions out, tested against brute force.

ALDEN's greedy pick by diverse interpretations (Liu et al., CIKM 2021, Eq. 6-10 and
Algorithm 1), greedy k-center (CORESET, Sener & Savarese 2018; DAMI), k-means++ seeding
(BADGE, Ash et al. 2020) and the uncertainty scores. Ties always go to the smallest index.
Temporary arrays are cut into blocks of about ``_BLOCK`` numbers, so memory stays bounded
whatever the pool size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import AldenError

_BLOCK = 1 << 21  # numbers per temporary block (16 MiB of float64)


# ---------------------------------------------------------------- shared helpers

def _labeled_indices(labeled: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """Validated, de-duplicated labeled indices."""
    idx = np.unique(np.asarray(labeled, dtype=np.int64).reshape(-1))
    if idx.size and (idx[0] < 0 or idx[-1] >= n):
        raise AldenError(f"labeled indices must lie in 0..{n - 1}; got {idx[0]}..{idx[-1]}")
    return idx


def _check_k(k: int, available: int) -> int:
    if int(k) != k or k < 0:
        raise AldenError(f"the number of items to pick must be a whole number >= 0, got {k!r}")
    if k > available:
        raise AldenError(f"asked to pick {k} items but only {available} are unlabeled")
    return int(k)


def _gather_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of the ranges [starts[i], starts[i] + counts[i]), vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.cumsum(counts) - counts  # where each range begins in the output
    return np.repeat(starts - first, counts) + np.arange(total)


def _min_sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of ``a``, the smallest squared Euclidean distance to a row of ``b``.

    Differences, not the Gram expansion, so equal vectors give exactly 0 and ties are exact;
    meant for the few columns of interpretations (C values per token).
    """
    out = np.empty(len(a))
    step = max(1, _BLOCK // max(1, len(b) * a.shape[1]))
    for s in range(0, len(a), step):
        diff = a[s:s + step, None, :] - b[None, :, :]
        out[s:s + step] = np.einsum("ijk,ijk->ij", diff, diff).min(axis=1)
    return out


def _nearest_words(vectors: np.ndarray, sq_norms: np.ndarray, queries: np.ndarray,
                   refs: np.ndarray, bound: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the position in ``refs`` of its nearest row (ties: smallest
    position) and the distance; rows are indices into ``vectors``.

    The Gram expansion finds candidates fast (BLAS); the few within rounding of the minimum
    are then compared on exact differences, so ties are decided exactly. With ``bound``
    (one distance per query), queries that cannot come within it are skipped: their
    position is -1 and their distance inf.
    """
    idx = np.full(len(queries), -1, dtype=np.int64)
    dist = np.full(len(queries), np.inf)
    ref_vectors = vectors[refs]
    ref_sq = sq_norms[refs]
    if len(refs) * len(vectors) <= _BLOCK:  # few refs: one product for every row, no gather
        products = vectors @ ref_vectors.T
        product_of = products.__getitem__
    else:
        def product_of(q: np.ndarray) -> np.ndarray:
            return vectors[q] @ ref_vectors.T
    step = max(1, _BLOCK // max(1, len(refs)))
    for s in range(0, len(queries), step):
        q = queries[s:s + step]
        gram = sq_norms[q, None] + ref_sq[None, :] - 2.0 * product_of(q)
        tol = 1e-7 * (sq_norms[q] + ref_sq.max()) + 1e-12
        best = gram.min(axis=1)
        keep = np.ones(len(q), dtype=bool) if bound is None else (
            best <= bound[s:s + step] ** 2 + tol)
        kept = np.flatnonzero(keep)
        rows, cols = np.nonzero(gram[kept] <= (best[kept] + tol[kept])[:, None])
        rows = kept[rows]
        diff = vectors[q[rows]] - ref_vectors[cols]
        exact = np.einsum("ij,ij->i", diff, diff)
        order = np.lexsort((cols, exact, rows))  # by row, then distance, then position
        first = order[np.unique(rows[order], return_index=True)[1]]
        idx[s + rows[first]] = cols[first]
        dist[s + rows[first]] = np.sqrt(exact[first])
    return idx, dist


def _sq_dist_to_rows(x: np.ndarray, x_sq: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Squared distances (N, len(rows)) from every point to the points ``rows`` (Gram)."""
    d2 = x_sq[:, None] + x_sq[None, rows] - 2.0 * (x @ x[rows].T)
    return np.maximum(d2, 0.0)


def top_k(scores: np.ndarray, k: int, *, largest: bool = True) -> np.ndarray:
    """Positions of the ``k`` best scores, best first; ties go to the smaller position."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise AldenError("scores contain NaN: the model's outputs are not finite")
    k = _check_k(k, len(scores))
    order = np.argsort(-scores if largest else scores, kind="stable")
    return order[:k]


# ---------------------------------------------------------------- ALDEN

@dataclass(frozen=True)
class AldenPick:
    """One greedy ALDEN pick and the token that represents it (for the reason shown)."""

    index: int          # the picked item
    diversity: float    # D(L, x_i) of Eq. 9 when it was picked
    position: int       # 0-based position of the representing token (-1: item has no tokens)
    word: int           # that token's word id (-1: none)
    compared_word: int  # labeled word its interpretation was compared with (Eq. 6 or 8)


def _check_alden_inputs(tokens, interpretations, embeddings):
    """Flattened word ids (T,), interpretations (T, C), item offsets (N+1,), embeddings."""
    if len(tokens) != len(interpretations):
        raise AldenError(f"{len(tokens)} token arrays but {len(interpretations)} "
                         "interpretation arrays: expected one per item")
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2:
        raise AldenError(f"embeddings must be (V, d), got shape {embeddings.shape}")
    tok = [np.asarray(t, dtype=np.int64).reshape(-1) for t in tokens]
    lengths = np.array([len(t) for t in tok], dtype=np.int64)
    inter = [np.asarray(a, dtype=np.float64) for a in interpretations]
    n_cols = {a.shape[1] for a in inter if a.ndim == 2 and len(a)}
    if len(n_cols) > 1:
        raise AldenError(f"interpretations have different numbers of columns: {sorted(n_cols)}")
    n_cols = n_cols.pop() if n_cols else 1
    for i, (t, a) in enumerate(zip(tok, inter, strict=True)):
        if a.shape != (len(t), n_cols) and not (len(t) == 0 and a.size == 0):
            raise AldenError(f"item {i}: interpretations have shape {a.shape}, expected "
                             f"({len(t)}, {n_cols}): one row per token")
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    words = np.concatenate(tok) if tok else np.zeros(0, dtype=np.int64)
    if words.size and (words.min() < 0 or words.max() >= len(embeddings)):
        raise AldenError(f"word ids must lie in 0..{len(embeddings) - 1} (the embedding rows); "
                         f"got {words.min()}..{words.max()}")
    values = (np.concatenate([a.reshape(-1, n_cols) for a in inter]) if inter
              else np.zeros((0, n_cols)))
    if not np.isfinite(values).all():
        raise AldenError("interpretations contain NaN or infinite values")
    return words, values, offsets, embeddings


def alden_greedy(tokens: Sequence[np.ndarray], interpretations: Sequence[np.ndarray],
                 embeddings: np.ndarray, labeled: Sequence[int] | np.ndarray,
                 k: int) -> list[int]:
    """The ``k`` items ALDEN labels next, in pick order (Eq. 6-10, Algorithm 1 lines 7-15).

    ``tokens[i]``: word ids of item ``i`` (no pads); ``interpretations[i]``: its
    ``(len(tokens[i]), C)`` local interpretations; ``embeddings``: ``(V, d)`` word vectors;
    ``labeled``: indices already labeled (at least one). See :func:`alden_greedy_picks`.
    """
    return [p.index for p in alden_greedy_picks(tokens, interpretations, embeddings,
                                                labeled, k)]


def alden_greedy_picks(tokens: Sequence[np.ndarray], interpretations: Sequence[np.ndarray],
                       embeddings: np.ndarray, labeled: Sequence[int] | np.ndarray,
                       k: int) -> list[AldenPick]:
    """ALDEN's greedy picks with, for each, its diversity and representing token.

    A token's diversity is the smallest Euclidean distance between its interpretation and
    those of the labeled tokens of the same word (Eq. 6); for a word no labeled item
    contains, of the labeled word nearest in embedding space (Eq. 7-8; ties: smallest word
    id). An item's diversity is its largest token diversity (Eq. 9; an item without tokens
    has 0); the most diverse unlabeled item is picked (Eq. 10; ties: smallest index) and its
    words join the labeled set, K times.

    After a pick only the tokens compared with the new item's words are updated, so a pick
    costs about the number of such tokens, not the pool. A word's nearest labeled word can
    change after a pick, so a token's diversity can go up as well as down: every affected
    token is recomputed, none is assumed to only decrease.
    """
    words, values, offsets, embeddings = _check_alden_inputs(tokens, interpretations,
                                                             embeddings)
    n_items = len(offsets) - 1
    lab = _labeled_indices(labeled, n_items)
    if lab.size == 0:
        raise AldenError("ALDEN needs at least one labeled item: it compares interpretations "
                         "with those of labeled words (label a seed set first)")
    k = _check_k(k, n_items - lab.size)
    state = _alden_state(words, values, offsets, embeddings, lab)
    picks: list[AldenPick] = []
    for _ in range(k):
        i = int(np.argmax(np.where(state.is_labeled, -np.inf, state.item_div)))  # Eq. 10
        lo, hi = offsets[i], offsets[i + 1]
        if hi > lo:
            j = int(np.argmax(state.token_div[lo:hi]))  # Eq. 9's argmax, first on ties
            w = state.word_of[lo + j]
            picks.append(AldenPick(i, float(state.item_div[i]), j, int(state.vocab[w]),
                                   int(state.vocab[state.nearest[w]])))
        else:
            picks.append(AldenPick(i, float(state.item_div[i]), -1, -1, -1))
        state.is_labeled[i] = True
        if hi > lo:
            _alden_add(state, lo, hi)
    return picks


@dataclass
class _AldenState:
    """The greedy loop's arrays; tokens are those of all items, flattened in item order."""

    word_of: np.ndarray      # (T,) each token's word, as a position in vocab
    values: np.ndarray       # (T, C) interpretations
    offsets: np.ndarray      # (N+1,) item i holds tokens offsets[i]:offsets[i+1]
    item_of: np.ndarray      # (T,) each token's item
    vocab: np.ndarray        # (W,) word ids that occur, ascending
    vectors: np.ndarray      # (W, d) their embeddings
    sq_norms: np.ndarray     # (W,) their squared norms
    by_word: np.ndarray      # (T,) token positions grouped by word ...
    word_ptr: np.ndarray     # (W+1,) ... word w's at by_word[word_ptr[w]:word_ptr[w+1]]
    is_labeled: np.ndarray   # (N,) bool
    in_labeled: np.ndarray   # (W,) bool: the word occurs in a labeled item
    nearest: np.ndarray      # (W,) the labeled word it is compared with (Eq. 7), itself if in L
    near_dist: np.ndarray    # (W,) embedding distance to it
    token_div: np.ndarray    # (T,) D(L, x_ij) of unlabeled tokens (Eq. 6/8)
    item_div: np.ndarray     # (N,) D(L, x_i) (Eq. 9)


def _alden_state(words: np.ndarray, values: np.ndarray, offsets: np.ndarray,
                 embeddings: np.ndarray, lab: np.ndarray) -> _AldenState:
    """Every word's nearest labeled word and every unlabeled token's and item's diversity."""
    n_items = len(offsets) - 1
    lengths = np.diff(offsets)
    item_of = np.repeat(np.arange(n_items), lengths)
    vocab, word_of = np.unique(words, return_inverse=True)
    vectors = embeddings[vocab]
    is_labeled = np.zeros(n_items, dtype=bool)
    is_labeled[lab] = True
    token_labeled = is_labeled[item_of]
    in_labeled = np.zeros(len(vocab), dtype=bool)
    in_labeled[word_of[token_labeled]] = True
    if not in_labeled.any():
        raise AldenError("the labeled items contain no words: ALDEN needs at least one "
                         "labeled word to compare interpretations with")
    st = _AldenState(
        word_of=word_of, values=values, offsets=offsets, item_of=item_of, vocab=vocab,
        vectors=vectors, sq_norms=np.einsum("ij,ij->i", vectors, vectors),
        by_word=np.argsort(word_of, kind="stable"),
        word_ptr=np.concatenate([[0], np.cumsum(np.bincount(word_of, minlength=len(vocab)))]),
        is_labeled=is_labeled, in_labeled=in_labeled, nearest=np.arange(len(vocab)),
        near_dist=np.zeros(len(vocab)), token_div=np.full(len(words), np.inf),
        item_div=np.zeros(n_items))

    # Eq. 7: the labeled word each absent word is compared with.
    absent = np.flatnonzero(~in_labeled)
    present = np.flatnonzero(in_labeled)
    if absent.size:
        pos, dist = _nearest_words(vectors, st.sq_norms, absent, present)
        st.nearest[absent] = present[pos]
        st.near_dist[absent] = dist

    # Eq. 6/8 for every unlabeled token, grouped by the labeled word it is compared with.
    open_tokens = np.flatnonzero(~token_labeled)
    open_ref = st.nearest[word_of[open_tokens]]
    order = np.argsort(open_ref, kind="stable")
    open_tokens, open_ref = open_tokens[order], open_ref[order]
    lab_tokens = np.flatnonzero(token_labeled)
    lab_tokens = lab_tokens[np.argsort(word_of[lab_tokens], kind="stable")]
    lab_word = word_of[lab_tokens]
    refs, starts = np.unique(open_ref, return_index=True)
    ends = np.append(starts[1:], len(open_ref))[:len(starts)]
    lab_lo = np.searchsorted(lab_word, refs, side="left")
    lab_hi = np.searchsorted(lab_word, refs, side="right")
    for s, e, lo, hi in zip(starts, ends, lab_lo, lab_hi, strict=True):
        group = open_tokens[s:e]
        st.token_div[group] = np.sqrt(_min_sq_dist(values[group],
                                                   values[lab_tokens[lo:hi]]))

    # Eq. 9 for every item (max over its tokens; 0 without tokens).
    filled = np.flatnonzero(lengths > 0)
    if filled.size:
        st.item_div[filled] = np.maximum.reduceat(st.token_div, offsets[filled])
    return st


def _alden_add(st: _AldenState, lo: int, hi: int) -> None:
    """The item holding tokens ``lo:hi`` was just labeled: update the state in place.

    Its new words may become the nearest labeled word of absent words (Eq. 7); the tokens
    compared with any of its words get a new minimum (Eq. 6/8), computed afresh where their
    reference word changed; then their items' maxima (Eq. 9).
    """
    new_words = st.word_of[lo:hi]
    item_words = np.unique(new_words)
    fresh = item_words[~st.in_labeled[item_words]]
    reset = fresh
    if fresh.size:
        st.in_labeled[fresh] = True
        absent = np.flatnonzero(~st.in_labeled)
        if absent.size:
            pos, dist = _nearest_words(st.vectors, st.sq_norms, absent, fresh,
                                       bound=st.near_dist[absent])
            cand = fresh[np.maximum(pos, 0)]
            better = (pos >= 0) & ((dist < st.near_dist[absent]) | (
                (dist == st.near_dist[absent]) & (cand < st.nearest[absent])))
            moved = absent[better]
            st.nearest[moved] = cand[better]
            st.near_dist[moved] = dist[better]
            reset = np.concatenate([fresh, moved])
        st.nearest[fresh] = fresh
        st.near_dist[fresh] = 0.0

    # The words compared with one of the item's words, sorted by that word, and their
    # unlabeled tokens: contiguous runs, one per reference word.
    affected = np.flatnonzero(np.isin(st.nearest, item_words))
    affected = affected[np.argsort(st.nearest[affected], kind="stable")]
    counts = st.word_ptr[affected + 1] - st.word_ptr[affected]
    toks = st.by_word[_gather_ranges(st.word_ptr[affected], counts)]
    ref = np.repeat(st.nearest[affected], counts)
    keep = ~st.is_labeled[st.item_of[toks]]
    toks, ref = toks[keep], ref[keep]
    if toks.size == 0:
        return
    if reset.size:
        st.token_div[toks[np.isin(st.word_of[toks], reset)]] = np.inf
    x_order = np.argsort(new_words, kind="stable")
    x_words, x_values = new_words[x_order], st.values[lo:hi][x_order]
    bounds = np.searchsorted(ref, item_words, side="left")
    bounds = np.append(bounds, len(ref))
    x_lo = np.searchsorted(x_words, item_words, side="left")
    x_hi = np.searchsorted(x_words, item_words, side="right")
    for u in range(len(item_words)):
        t = toks[bounds[u]:bounds[u + 1]]
        if t.size:
            d = np.sqrt(_min_sq_dist(st.values[t], x_values[x_lo[u]:x_hi[u]]))
            st.token_div[t] = np.minimum(st.token_div[t], d)

    # Eq. 9 again for the items that hold an affected token.
    touched = np.zeros(len(st.is_labeled), dtype=bool)
    touched[st.item_of[toks]] = True
    items = np.flatnonzero(touched)
    counts = st.offsets[items + 1] - st.offsets[items]
    gathered = st.token_div[_gather_ranges(st.offsets[items], counts)]
    st.item_div[items] = np.maximum.reduceat(gathered, np.cumsum(counts) - counts)


# ---------------------------------------------------------------- k-center and k-means++

def kcenter_greedy(features: np.ndarray, labeled: Sequence[int] | np.ndarray,
                   k: int) -> list[int]:
    """Greedy k-center: each pick is the point farthest from every labeled-or-picked point.

    Ties go to the smallest index. With nothing labeled the first pick is the point nearest
    the features' mean (ties: smallest index), a deterministic, central start.
    """
    return kcenter_greedy_picks(features, labeled, k)[0]


def kcenter_greedy_picks(features: np.ndarray, labeled: Sequence[int] | np.ndarray,
                         k: int) -> tuple[list[int], np.ndarray]:
    """:func:`kcenter_greedy`'s picks and each one's distance to the nearest
    labeled-or-picked point when picked (the first pick of an empty labeled set: its
    distance to the mean). Keeps one running minimum distance per point: O(N F) a pick."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise AldenError(f"features must be (N, F), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AldenError("features contain NaN or infinite values")
    lab = _labeled_indices(labeled, len(x))
    k = _check_k(k, len(x) - lab.size)
    x_sq = np.einsum("ij,ij->i", x, x)
    min_sq = np.full(len(x), np.inf)
    step = max(1, _BLOCK // max(1, len(x)))
    for s in range(0, lab.size, step):
        min_sq = np.minimum(min_sq, _sq_dist_to_rows(x, x_sq, lab[s:s + step]).min(axis=1))
    min_sq[lab] = -np.inf
    picks: list[int] = []
    dists = np.empty(k)
    for step_no in range(k):
        if lab.size == 0 and step_no == 0:
            diff = x - x.mean(axis=0)
            centre_sq = np.einsum("ij,ij->i", diff, diff)
            i = int(np.argmin(centre_sq))
            dists[0] = np.sqrt(centre_sq[i])
        else:
            i = int(np.argmax(min_sq))
            dists[step_no] = np.sqrt(min_sq[i])
        picks.append(i)
        min_sq = np.minimum(min_sq, _sq_dist_to_rows(x, x_sq, np.array([i]))[:, 0])
        min_sq[i] = -np.inf
    return picks, dists


def kmeans_pp(features: np.ndarray, k: int, rng: np.random.Generator
              ) -> tuple[list[int], np.ndarray]:
    """k-means++ seeding as BADGE uses it: the row of largest norm first, then D^2 sampling.

    Returns the picked rows in order and each one's distance to the nearest earlier pick
    when picked (the first: its norm). Ties on the first pick: smallest index. If every
    remaining row coincides with a pick (all D = 0), the next is drawn uniformly.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise AldenError(f"features must be (N, F), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AldenError("features contain NaN or infinite values")
    k = _check_k(k, len(x))
    picks: list[int] = []
    dists = np.empty(k)
    if k == 0:
        return picks, dists
    x_sq = np.einsum("ij,ij->i", x, x)
    i = int(np.argmax(x_sq))
    picks.append(i)
    dists[0] = np.sqrt(x_sq[i])
    min_sq = np.full(len(x), np.inf)
    chosen = np.zeros(len(x), dtype=bool)
    for step_no in range(1, k):
        chosen[i] = True
        min_sq = np.minimum(min_sq, _sq_dist_to_rows(x, x_sq, np.array([i]))[:, 0])
        min_sq[chosen] = 0.0
        total = min_sq.sum()
        if total > 0:
            i = int(rng.choice(len(x), p=min_sq / total))
        else:
            i = int(rng.choice(np.flatnonzero(~chosen)))
        picks.append(i)
        dists[step_no] = np.sqrt(min_sq[i])
    return picks, dists


# ---------------------------------------------------------------- uncertainty scores

def _check_proba(proba: np.ndarray, ndim: int, shape: str) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != ndim or p.shape[-1] < 2:
        raise AldenError(f"class probabilities must be {shape} with C >= 2, got {p.shape}")
    if not np.isfinite(p).all():
        raise AldenError("class probabilities contain NaN or infinite values")
    return p


def _entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) over the last axis, with 0 log 0 = 0."""
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=-1)


def entropy(proba: np.ndarray) -> np.ndarray:
    """Predictive entropy of each row of ``proba`` (N, C), in nats: higher is less sure."""
    return _entropy(_check_proba(proba, 2, "(N, C)"))


def margin(proba: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 class probability (N,): smaller is less sure."""
    p = np.sort(_check_proba(proba, 2, "(N, C)"), axis=1)
    return p[:, -1] - p[:, -2]


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """One minus the largest class probability (N,): higher is less sure."""
    return 1.0 - _check_proba(proba, 2, "(N, C)").max(axis=1)


def bald(mc_proba: np.ndarray) -> np.ndarray:
    """BALD mutual information (N,) from MC-dropout probabilities (T, N, C), in nats.

    Entropy of the mean prediction minus the mean entropy of each prediction (Houlsby et
    al. 2011; Gal et al. 2017); clipped at 0 against rounding.
    """
    p = _check_proba(mc_proba, 3, "(T, N, C)")
    return np.maximum(_entropy(p.mean(axis=0)) - _entropy(p).mean(axis=0), 0.0)
