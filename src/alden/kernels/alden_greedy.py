"""ALDEN's greedy pick by diverse word interpretations (Liu et al., CIKM 2021, Eq. 6-10 and
Algorithm 1), exact and lazy. Pure NumPy; ties go to the smallest index."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from alden.errors import AldenError
from alden.kernels import common
from alden.kernels.common import (
    check_k,
    gather_ranges,
    labeled_indices,
    min_sq_dist,
    nearest_words,
)


@dataclass(frozen=True)
class AldenPick:
    """One greedy ALDEN pick and the token that represents it (for the reason shown)."""

    index: int          # the picked item
    diversity: float    # D(L, x_i) of Eq. 9 when it was picked
    position: int       # 0-based position of the representing token (-1: item has no tokens)
    word: int           # that token's word id (-1: none)
    compared_word: int  # labeled word its interpretation was compared with (Eq. 6 or 8)


def _check_alden_inputs(tokens: Sequence[np.ndarray], interpretations: Sequence[np.ndarray],
                        embeddings: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-item token ids and interpretations as flat word ids (T,), interpretations
    (T, C) and item offsets (N+1,)."""
    if len(tokens) != len(interpretations):
        raise AldenError(f"{len(tokens)} token arrays but {len(interpretations)} "
                         "interpretation arrays: expected one per item")
    # Interpretations stay in their own dtype per item and go into one flat array at once:
    # a pool's interpretations are held once, not twice.
    tok = [np.asarray(t, dtype=np.int64).reshape(-1) for t in tokens]
    lengths = np.array([len(t) for t in tok], dtype=np.int64)
    inter = [np.asarray(a) for a in interpretations]
    widths = {a.shape[1] for a in inter if a.ndim == 2 and len(a)}
    if len(widths) > 1:
        raise AldenError(f"interpretations have different numbers of columns: {sorted(widths)}")
    n_cols = widths.pop() if widths else 1
    for i, (t, a) in enumerate(zip(tok, inter, strict=True)):
        if a.shape != (len(t), n_cols) and not (len(t) == 0 and a.size == 0):
            raise AldenError(f"item {i}: interpretations have shape {a.shape}, expected "
                             f"({len(t)}, {n_cols}): one row per token")
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    words = np.concatenate(tok) if tok else np.zeros(0, dtype=np.int64)
    # float32 interpretations (the learners') stay float32 here, half the memory of the
    # pool's largest array; every distance is taken on their exact float64 values.
    dtype = np.float32 if inter and all(a.dtype == np.float32 for a in inter) else np.float64
    values = (np.concatenate([a.reshape(-1, n_cols) for a in inter], dtype=dtype)
              if inter else np.zeros((0, n_cols)))
    return words, values, offsets


def _check_flat(words: np.ndarray, values: np.ndarray, offsets: np.ndarray,
                embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The checked embeddings (float64) and interpretations (float32 or float64, as given:
    the pool's largest array is never copied); a clear error for inconsistent inputs."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2:
        raise AldenError(f"embeddings must be (V, d), got shape {embeddings.shape}")
    if words.ndim != 1 or not np.issubdtype(words.dtype, np.integer):
        raise AldenError(f"word ids must be a flat integer array, got {words.dtype} of shape "
                         f"{words.shape}")
    if (offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0
            or offsets[-1] != len(words) or np.any(np.diff(offsets) < 0)):
        raise AldenError(f"offsets must rise from 0 to the {len(words)} tokens, one more "
                         f"than the items")
    if values.ndim != 2 or len(values) != len(words):
        raise AldenError(f"interpretations have shape {values.shape}, expected "
                         f"({len(words)}, C): one row per token")
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    if words.size and (words.min() < 0 or words.max() >= len(embeddings)):
        raise AldenError(f"word ids must lie in 0..{len(embeddings) - 1} (the embedding rows); "
                         f"got {words.min()}..{words.max()}")
    if not all(np.isfinite(values[s:s + common.BLOCK]).all()
               for s in range(0, len(values), common.BLOCK)):
        raise AldenError("interpretations contain NaN or infinite values")
    return embeddings, values


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
    words join the labeled set, K times. Per-item lists; :func:`alden_greedy_flat` takes a
    pool's tokens as flat arrays.

    Incremental and exact. After a pick, a token whose reference word stays the same can
    only get closer to the labeled set (more occurrences to take the minimum over), so its
    stored diversity stays an upper bound and is brought up to date only when its item
    reaches the top of a max-heap of item bounds (lazy greedy). A token whose reference
    word changes (its word, or a nearer word, was just labeled) can go up as well as down:
    it is recomputed at once and its item's bound raised where needed. An item is picked
    only once its bound is exact for the current labeled set, so the picks are those of
    recomputing every diversity from scratch before every pick.
    """
    words, values, offsets = _check_alden_inputs(tokens, interpretations, embeddings)
    return alden_greedy_flat(words, values, offsets, embeddings, labeled, k)


def alden_greedy_flat(words: np.ndarray, values: np.ndarray, offsets: np.ndarray,
                      embeddings: np.ndarray, labeled: Sequence[int] | np.ndarray,
                      k: int) -> list[AldenPick]:
    """:func:`alden_greedy_picks` on a pool held flat: item ``i``'s word ids are
    ``words[offsets[i]:offsets[i + 1]]`` (any integer dtype), its interpretations the same
    rows of ``values`` (T, C): no per-item arrays, and the interpretations never copied."""
    words, offsets = np.asarray(words), np.asarray(offsets, dtype=np.int64)
    embeddings, values = _check_flat(words, np.asarray(values), offsets, embeddings)
    n_items = len(offsets) - 1
    lab = labeled_indices(labeled, n_items)
    if lab.size == 0:
        raise AldenError("ALDEN needs at least one labeled item: it compares interpretations "
                         "with those of labeled words (label a seed set first)")
    k = check_k(k, n_items - lab.size)
    st = _alden_state(words, values, offsets, embeddings, lab)
    # The loop's products are thin (words x new words): one BLAS thread does them faster
    # than several waking up for each, above all on a busy machine.
    with threadpool_limits(limits=1, user_api="blas"):
        return _alden_loop(st, k)


def _alden_loop(st: _AldenState, k: int) -> list[AldenPick]:
    """Algorithm 1, lines 7-15: ``k`` greedy picks from the state, updating it in place."""
    offsets = st.offsets
    heap = [(-float(st.item_div[i]), int(i)) for i in np.flatnonzero(~st.is_labeled)]
    heapq.heapify(heap)
    exact_at = np.zeros(len(st.item_div), dtype=np.int64)  # pick its bound was last exact at
    picks: list[AldenPick] = []
    for step in range(k):
        while True:  # Eq. 10: pop bounds until the top one is exact
            neg_bound, i = heapq.heappop(heap)
            if st.is_labeled[i] or -neg_bound != st.item_div[i]:
                continue  # an outdated entry
            if exact_at[i] == step:
                break
            _refresh_item(st, i)
            exact_at[i] = step
            heapq.heappush(heap, (-float(st.item_div[i]), i))
        lo, hi = offsets[i], offsets[i + 1]
        if hi > lo:
            j = int(np.argmax(st.token_div[lo:hi]))  # Eq. 9's argmax, first on ties
            w = st.word_of[lo + j]
            picks.append(AldenPick(i, float(st.item_div[i]), j, int(st.vocab[w]),
                                   int(st.vocab[st.nearest[w]])))
        else:
            picks.append(AldenPick(i, float(st.item_div[i]), -1, -1, -1))
        st.is_labeled[i] = True
        if hi > lo:
            for raised in _alden_add(st, lo, hi):
                heapq.heappush(heap, (-float(st.item_div[raised]), int(raised)))
    return picks


@dataclass
class _AldenState:
    """The greedy loop's arrays; tokens are those of all items, flattened in item order."""

    word_of: np.ndarray      # (T,) each token's word, as a position in vocab
    values: np.ndarray       # (T, C) interpretations (float32 or float64; distances in float64)
    offsets: np.ndarray      # (N+1,) item i holds tokens offsets[i]:offsets[i+1]
    item_of: np.ndarray      # (T,) each token's item
    vocab: np.ndarray        # (W,) word ids that occur, ascending
    vectors: np.ndarray      # (W, d) their embeddings
    vectors32: np.ndarray    # (W, d) the same in float32, to find candidates fast
    sq_norms: np.ndarray     # (W,) their squared norms
    by_word: np.ndarray      # (T,) token positions grouped by word ...
    word_ptr: np.ndarray     # (W+1,) ... word w's at by_word[word_ptr[w]:word_ptr[w+1]]
    is_labeled: np.ndarray   # (N,) bool
    in_labeled: np.ndarray   # (W,) bool: the word occurs in a labeled item
    nearest: np.ndarray      # (W,) the labeled word it is compared with (Eq. 7), itself if in L
    near_dist: np.ndarray    # (W,) embedding distance to it
    occurrences: list        # per word, an array whose first occ_len[w] hold its labeled tokens
    occ_len: np.ndarray      # (W,)
    seen: np.ndarray         # (T,) how many occurrences of its reference word a token has met
    token_div: np.ndarray    # (T,) D(L, x_ij) of unlabeled tokens (Eq. 6/8), an upper bound
    item_div: np.ndarray     # (N,) D(L, x_i) (Eq. 9), an upper bound until refreshed


def _alden_state(words: np.ndarray, values: np.ndarray, offsets: np.ndarray,
                 embeddings: np.ndarray, lab: np.ndarray) -> _AldenState:
    """Every word's nearest labeled word and every unlabeled token's and item's diversity."""
    n_items = len(offsets) - 1
    lengths = np.diff(offsets)
    # Per-token positions in int32 where they fit (half the state of a large pool); the
    # words that occur, ascending, found by counting (no sort of every token).
    index = np.int32 if len(words) < 2**31 else np.int64
    item_of = np.repeat(np.arange(n_items, dtype=index), lengths)
    occurs = np.zeros(len(embeddings), dtype=bool)
    occurs[words] = True
    vocab = np.flatnonzero(occurs)
    word_of = (np.cumsum(occurs, dtype=index) - 1)[words]
    vectors = embeddings[vocab]
    is_labeled = np.zeros(n_items, dtype=bool)
    is_labeled[lab] = True
    token_labeled = is_labeled[item_of]
    lab_tokens = np.flatnonzero(token_labeled)
    lab_tokens = lab_tokens[np.argsort(word_of[lab_tokens], kind="stable")]
    lab_word = word_of[lab_tokens]
    occ_len = np.bincount(lab_word, minlength=len(vocab))
    if not occ_len.any():
        raise AldenError("the labeled items contain no words: ALDEN needs at least one "
                         "labeled word to compare interpretations with")
    occ_start = np.concatenate([[0], np.cumsum(occ_len)])
    st = _AldenState(
        word_of=word_of, values=values, offsets=offsets, item_of=item_of, vocab=vocab,
        vectors=vectors, vectors32=vectors.astype(np.float32),
        sq_norms=np.einsum("ij,ij->i", vectors, vectors),
        by_word=np.argsort(word_of, kind="stable").astype(index),
        word_ptr=np.concatenate([[0], np.cumsum(np.bincount(word_of, minlength=len(vocab)))]),
        is_labeled=is_labeled, in_labeled=occ_len > 0, nearest=np.arange(len(vocab)),
        near_dist=np.zeros(len(vocab)),
        occurrences=[lab_tokens[a:b].copy() for a, b in zip(occ_start[:-1], occ_start[1:],
                                                             strict=True)],
        occ_len=occ_len, seen=np.zeros(len(words), dtype=index),
        token_div=np.full(len(words), np.inf), item_div=np.zeros(n_items))

    # Eq. 7: the labeled word each absent word is compared with.
    absent = np.flatnonzero(~st.in_labeled)
    present = np.flatnonzero(st.in_labeled)
    if absent.size:
        pos, dist = nearest_words(vectors, st.vectors32, st.sq_norms, absent, present)
        st.nearest[absent] = present[pos]
        st.near_dist[absent] = dist

    # Eq. 6/8 for every unlabeled token, grouped by the labeled word it is compared with:
    # that word's own tokens and those of the absent words nearest to it, read from by_word
    # one reference at a time (no token-sized temporaries).
    by_ref = np.argsort(st.nearest, kind="stable")  # words grouped by their reference
    bounds = np.searchsorted(st.nearest[by_ref], present, side="right")
    counts = np.diff(st.word_ptr)
    for ref, a, b in zip(present, np.concatenate([[0], bounds[:-1]]), bounds, strict=True):
        ws = by_ref[a:b]
        group = st.by_word[gather_ranges(st.word_ptr[ws], counts[ws])]
        group = group[~token_labeled[group]]
        st.token_div[group] = np.sqrt(min_sq_dist(values[group],
                                                   values[st.occurrences[ref]]))
        st.seen[group] = occ_len[ref]

    # Eq. 9 for every item (max over its tokens; 0 without tokens).
    filled = np.flatnonzero(lengths > 0)
    if filled.size:
        st.item_div[filled] = np.maximum.reduceat(st.token_div, offsets[filled])
    return st


def _refresh_item(st: _AldenState, i: int) -> None:
    """Make item ``i``'s token diversities and its diversity exact for the labeled set:
    each token meets the occurrences of its reference word labeled since it last looked."""
    lo, hi = st.offsets[i], st.offsets[i + 1]
    if hi == lo:
        return
    refs = st.nearest[st.word_of[lo:hi]].tolist()
    seen, occ_len, occurrences = st.seen, st.occ_len, st.occurrences
    tok_list, occ_parts = [], []
    for t, ref in zip(range(lo, hi), refs, strict=True):
        end = occ_len[ref]
        if seen[t] < end:
            tok_list.append(t)
            occ_parts.append(occurrences[ref][seen[t]:end])
            seen[t] = end
    if tok_list:
        sizes = np.array([len(o) for o in occ_parts])
        diff = (st.values[np.repeat(tok_list, sizes)].astype(np.float64)
                - st.values[np.concatenate(occ_parts)])
        sq = np.einsum("ij,ij->i", diff, diff)
        behind = np.array(tok_list)
        st.token_div[behind] = np.minimum(st.token_div[behind], np.sqrt(
            np.minimum.reduceat(sq, np.cumsum(sizes) - sizes)))
    st.item_div[i] = st.token_div[lo:hi].max()


def _alden_add(st: _AldenState, lo: int, hi: int) -> np.ndarray:
    """The item holding tokens ``lo:hi`` was just labeled: update the state in place and
    return the items whose bound went up.

    Its tokens become occurrences of their words. Its new words may become the nearest
    labeled word of absent words (Eq. 7): the unlabeled tokens whose reference word changed
    are recomputed now (their reference's only occurrences are in this item); every other
    token keeps its bound until its item is refreshed.
    """
    new_words = st.word_of[lo:hi]
    for t, w in zip(range(lo, hi), new_words, strict=True):
        if st.occ_len[w] == len(st.occurrences[w]):  # full: double the capacity
            st.occurrences[w] = np.concatenate([st.occurrences[w],
                                                np.empty(max(4, st.occ_len[w]), np.int64)])
        st.occurrences[w][st.occ_len[w]] = t
        st.occ_len[w] += 1
    item_words = np.unique(new_words)
    fresh = item_words[~st.in_labeled[item_words]]
    if fresh.size == 0:
        return np.zeros(0, dtype=np.int64)
    st.in_labeled[fresh] = True
    reset = fresh
    absent = np.flatnonzero(~st.in_labeled)
    if absent.size:
        pos, dist = nearest_words(st.vectors, st.vectors32, st.sq_norms, absent, fresh,
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

    # The unlabeled tokens of the words whose reference changed, against the occurrences
    # of that reference in this item: the r-th occurrences of all words at once.
    counts = st.word_ptr[reset + 1] - st.word_ptr[reset]
    toks = st.by_word[gather_ranges(st.word_ptr[reset], counts)]
    toks = toks[~st.is_labeled[st.item_of[toks]]]
    if toks.size == 0:
        return np.zeros(0, dtype=np.int64)
    ref = st.nearest[st.word_of[toks]]
    x_order = np.argsort(new_words, kind="stable")
    x_values = st.values[lo:hi][x_order].astype(np.float64)
    x_first = np.searchsorted(new_words[x_order], item_words)
    repeats = np.diff(np.append(x_first, hi - lo))
    u = np.searchsorted(item_words, ref)
    step = max(1, common.BLOCK // st.values.shape[1])
    for s in range(0, len(toks), step):
        t, tu = toks[s:s + step], u[s:s + step]
        values = st.values[t].astype(np.float64)
        best = np.full(len(t), np.inf)
        for r in range(int(repeats[tu].max())):
            rows = np.flatnonzero(repeats[tu] > r) if r else slice(None)
            diff = values[rows] - x_values[x_first[tu[rows]] + r]
            best[rows] = np.minimum(best[rows], np.einsum("ij,ij->i", diff, diff))
        st.token_div[t] = np.sqrt(best)
    st.seen[toks] = st.occ_len[ref]

    # A changed token can raise its item's bound (a lowered one leaves a valid bound).
    items = st.item_of[toks]
    bound = st.item_div.copy()
    np.maximum.at(bound, items, st.token_div[toks])
    raised = np.unique(items[bound[items] > st.item_div[items]])
    st.item_div[raised] = bound[raised]
    return raised
