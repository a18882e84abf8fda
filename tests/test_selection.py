"""The selection kernels against brute force written straight from the equations."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alden.errors import AldenError
from alden.kernels import (
    alden_greedy,
    alden_greedy_flat,
    alden_greedy_picks,
    bald,
    common,
    entropy,
    kcenter_greedy,
    kcenter_greedy_picks,
    kmeans_pp,
    least_confidence,
    margin,
    top_k,
)

# ---------------------------------------------------------------- brute force references


def brute_alden(tokens, interps, emb, labeled, k):
    """Paper Eq. 6-10 and Algorithm 1, recomputed from scratch for every pick."""
    labeled = set(int(i) for i in labeled)
    picks = []
    for _ in range(k):
        lab_words = sorted({int(w) for m in labeled for w in tokens[m]})
        if not lab_words:
            raise AldenError("no labeled words")
        best = None
        for i in range(len(tokens)):
            if i in labeled:
                continue
            item = (0.0, -1, -1, -1)  # diversity, position, word, compared word
            for j, w in enumerate(tokens[i]):
                w = int(w)
                if w in lab_words:  # Eq. 6
                    ref = w
                else:  # Eq. 7: nearest labeled word, ties to the smallest id
                    ref = min(lab_words, key=lambda u, w=w: (np.linalg.norm(emb[w] - emb[u]), u))
                d = min(np.linalg.norm(interps[i][j] - interps[m][v])  # Eq. 6 / 8
                        for m in labeled for v in range(len(tokens[m]))
                        if tokens[m][v] == ref)
                if j == 0 or d > item[0]:  # Eq. 9, first max
                    item = (d, j, w, ref)
            if best is None or item[0] > best[1][0]:  # Eq. 10, smallest index on ties
                best = (i, item)
        picks.append((best[0], *best[1]))
        labeled.add(best[0])
    return picks


def _first_within(values, best):
    """Smallest index whose value is ``best`` up to rounding (the documented tie rule: exact
    ties computed in different orders differ in the last bits)."""
    return next(i for i, v in enumerate(values) if abs(v - best) <= 1e-9 * abs(best) + 1e-12)


def brute_kcenter(x, labeled, k):
    """Greedy k-center recomputing every distance to every centre for every pick."""
    centres = [int(i) for i in labeled]
    picks, dists = [], []
    for _ in range(k):
        if not centres:
            d_mean = [np.linalg.norm(x[i] - x.mean(axis=0)) for i in range(len(x))]
            i = _first_within(d_mean, min(d_mean))
        else:
            d_far = [-1.0 if i in centres else min(np.linalg.norm(x[i] - x[c]) for c in centres)
                     for i in range(len(x))]
            i = _first_within(d_far, max(d_far))
            d_mean = d_far
        picks.append(i)
        dists.append(d_mean[i])
        centres.append(i)
    return picks, np.array(dists)


def brute_kmeans_pp(x, k, rng):
    """BADGE's seeding from scratch: largest norm, then D^2 sampling."""
    picks = [int(np.argmax([np.linalg.norm(r) for r in x]))]
    while len(picks) < k:
        d2 = np.array([min(np.sum((r - x[c]) ** 2) for c in picks) for r in x])
        picks.append(int(rng.choice(len(x), p=d2 / d2.sum())))
    return picks


# ---------------------------------------------------------------- random inputs


@st.composite
def alden_inputs(draw):
    """Small pools with few words (so words repeat within and across items), values on a
    0.5 grid (so distances tie and are computed exactly), empty items, absent words."""
    n = draw(st.integers(2, 8))
    vocab_size = draw(st.integers(1, 6))
    n_classes = draw(st.integers(1, 3))
    dim = draw(st.integers(1, 3))
    grid = st.integers(-2, 2).map(lambda v: v / 2)
    tokens, interps = [], []
    for _ in range(n):
        length = draw(st.integers(0, 5))
        tokens.append(np.array(draw(st.lists(st.integers(0, vocab_size - 1),
                                             min_size=length, max_size=length)), dtype=np.int64))
        interps.append(np.array(draw(st.lists(st.lists(grid, min_size=n_classes,
                                                       max_size=n_classes),
                                              min_size=length, max_size=length)),
                                dtype=np.float64).reshape(length, n_classes))
    emb = np.array(draw(st.lists(st.lists(grid, min_size=dim, max_size=dim),
                                 min_size=vocab_size, max_size=vocab_size)))
    labeled = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n - 1, unique=True))
    k = draw(st.integers(0, n - len(labeled)))
    return tokens, interps, emb, labeled, k


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alden_inputs(), st.booleans())
def test_alden_greedy_matches_brute_force(case, tiny_blocks):
    tokens, interps, emb, labeled, k = case
    with mock.patch.object(common, "BLOCK", 3 if tiny_blocks else common.BLOCK):
        try:
            expected = brute_alden(tokens, interps, emb, labeled, k)
        except AldenError:
            with pytest.raises(AldenError, match="no words"):
                alden_greedy_picks(tokens, interps, emb, labeled, k)
            return
        if not any(len(tokens[m]) for m in labeled):  # k == 0 but still no labeled words
            with pytest.raises(AldenError, match="no words"):
                alden_greedy_picks(tokens, interps, emb, labeled, k)
            return
        picks = alden_greedy_picks(tokens, interps, emb, labeled, k)
    got = [(p.index, p.diversity, p.position, p.word, p.compared_word) for p in picks]
    assert got == [(i, float(d), j, w, r) for i, d, j, w, r in expected]
    assert alden_greedy(tokens, interps, emb, labeled, k) == [p[0] for p in expected]


def test_alden_greedy_matches_brute_force_on_random_floats():
    rng = np.random.default_rng(3)
    n, vocab_size = 40, 25
    tokens = [rng.integers(0, vocab_size, rng.integers(1, 9)) for _ in range(n)]
    interps = [rng.normal(size=(len(t), 2)) for t in tokens]
    emb = rng.normal(size=(vocab_size + 5, 4))
    labeled = [0, 5, 17]
    picks = alden_greedy_picks(tokens, interps, emb, labeled, 15)
    expected = brute_alden(tokens, interps, emb, labeled, 15)
    assert [p.index for p in picks] == [e[0] for e in expected]
    np.testing.assert_allclose([p.diversity for p in picks], [e[1] for e in expected],
                               rtol=1e-12)


def test_alden_greedy_reads_float32_views_as_their_float64_values():
    rng = np.random.default_rng(4)
    tokens = [rng.integers(0, 20, rng.integers(0, 7)) for _ in range(30)]
    flat = rng.normal(size=(sum(map(len, tokens)), 3)).astype(np.float32)
    bounds = np.cumsum([0, *map(len, tokens)])
    views = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]  # as the learner
    copies = [v.astype(np.float64) for v in views]
    emb = rng.normal(size=(20, 4))
    labeled = [i for i, t in enumerate(tokens) if len(t)][:3]
    assert (alden_greedy_picks(tokens, views, emb, labeled, 10)
            == alden_greedy_picks(tokens, copies, emb, labeled, 10))


def test_alden_diversity_can_rise_after_a_pick():
    # Item 1's word "a" is absent from L, so it is compared with "b" (embedding 10 away) and
    # has diversity 0. Picking item 2 brings "c" (embedding 1 away) into L, whose
    # interpretation is 5 away: item 1's diversity rises to 5 and beats item 3 (3).
    a, b, c = 0, 1, 2
    emb = np.array([[0.0], [10.0], [1.0]])
    tokens = [np.array([b]), np.array([a]), np.array([c]), np.array([b])]
    interps = [np.array([[0.0]]), np.array([[0.0]]), np.array([[5.0]]), np.array([[3.0]])]
    picks = alden_greedy_picks(tokens, interps, emb, [0], 3)
    assert [p.index for p in picks] == [2, 1, 3]
    assert picks[1].diversity == 5.0 and picks[1].compared_word == c
    assert picks[0].compared_word == b and picks[0].word == c


def test_eq7_retargets_an_unseen_word_to_a_word_labeled_in_the_same_batch():
    # Eq. (7) and Algorithm 1, line 10: an unlabeled word's neighbour is the nearest word of
    # the labeled set as it stands at each pick, picks of this batch included. Word a is in
    # no labeled item; its nearest labeled word is b (10 away), so item 1 starts at
    # |6 - 0| = 6 and would be picked second. The first pick, item 2, labels word c, 1 away
    # from a: item 1 is now compared with c, |6 - 7| = 1, and item 3 (5) goes before it.
    a, b, c, d = 0, 1, 2, 3
    emb = np.array([[0.0], [10.0], [1.0], [20.0]])
    tokens = [np.array([b]), np.array([a]), np.array([c]), np.array([d])]
    interps = [np.array([[0.0]]), np.array([[6.0]]), np.array([[7.0]]), np.array([[5.0]])]
    picks = alden_greedy_picks(tokens, interps, emb, [0], 3)
    assert [(p.index, p.diversity, p.compared_word) for p in picks] == [
        (2, 7.0, b), (3, 5.0, b), (1, 1.0, c)]
    expected = brute_alden(tokens, interps, emb, [0], 3)
    assert [(p.index, p.diversity, p.compared_word) for p in picks] == [
        (i, float(dv), r) for i, dv, _j, _w, r in expected]


def test_alden_pick_names_the_representing_token():
    emb = np.eye(4)
    tokens = [np.array([0, 1]), np.array([1, 0, 1]), np.array([2, 0])]
    interps = [np.array([[0.0, 0.0], [1.0, 1.0]]),
               np.array([[1.0, 1.0], [0.0, 3.0], [1.0, 2.0]]),
               np.array([[0.0, 0.0], [0.0, 0.0]])]
    (pick,) = alden_greedy_picks(tokens, interps, emb, [0], 1)
    assert (pick.index, pick.position, pick.word, pick.compared_word) == (1, 1, 0, 0)
    assert pick.diversity == 3.0


def test_alden_ties_go_to_smallest_index_and_word_id():
    # Words 1 and 2 are equally near absent word 0; word 1 (smaller id) is used.
    emb = np.array([[0.0], [1.0], [-1.0]])
    tokens = [np.array([1, 2]), np.array([0]), np.array([0])]
    interps = [np.array([[0.0], [9.0]]), np.array([[2.0]]), np.array([[2.0]])]
    picks = alden_greedy_picks(tokens, interps, emb, [0], 2)
    assert [p.index for p in picks] == [1, 2]
    assert picks[0].compared_word == 1 and picks[0].diversity == 2.0


def test_eq7_tie_after_a_pick_goes_to_the_smaller_word_id():
    # Only word 2 (embedding -1) is labeled at first. Item 1 (word 1, interpretation 5) is
    # picked first, |5 - 0| = 5. Word 0 (embedding 0) is now equally near labeled words 1
    # and 2: the tie goes to word 1, |1 - 5| = 4 (word 2 would give |1 - 0| = 1).
    emb = np.array([[0.0], [1.0], [-1.0]])
    tokens = [np.array([2]), np.array([1]), np.array([0])]
    interps = [np.array([[0.0]]), np.array([[5.0]]), np.array([[1.0]])]
    picks = alden_greedy_picks(tokens, interps, emb, [0], 2)
    assert [(p.index, p.diversity, p.compared_word) for p in picks] == [
        (1, 5.0, 2), (2, 4.0, 1)]
    expected = brute_alden(tokens, interps, emb, [0], 2)
    assert [(p.index, p.diversity, p.compared_word) for p in picks] == [
        (i, float(dv), r) for i, dv, _j, _w, r in expected]


def test_alden_errors_are_clear():
    emb = np.zeros((3, 2))
    tokens = [np.array([0, 1]), np.array([2])]
    interps = [np.zeros((2, 2)), np.zeros((1, 2))]
    with pytest.raises(AldenError, match="at least one labeled item"):
        alden_greedy(tokens, interps, emb, [], 1)
    with pytest.raises(AldenError, match="only 1 are unlabeled"):
        alden_greedy(tokens, interps, emb, [0], 2)
    with pytest.raises(AldenError, match=r"item 1: interpretations have shape \(2, 2\)"):
        alden_greedy(tokens, [np.zeros((2, 2)), np.zeros((2, 2))], emb, [0], 1)
    with pytest.raises(AldenError, match="word ids must lie in 0..2"):
        alden_greedy([np.array([0, 3]), np.array([1])], interps, emb, [0], 1)
    with pytest.raises(AldenError, match="labeled indices"):
        alden_greedy(tokens, interps, emb, [5], 1)


def test_alden_greedy_flat_is_the_per_item_greedy():
    rng = np.random.default_rng(7)
    tokens = [rng.integers(0, 20, rng.integers(0, 8)) for _ in range(60)]
    offsets = np.cumsum([0, *map(len, tokens)])
    words = np.concatenate(tokens).astype(np.int32)  # a pool's flat ids, as the strategy has
    values = rng.normal(size=(len(words), 3)).astype(np.float32)
    emb = rng.normal(size=(20, 4))
    labeled = [i for i, t in enumerate(tokens) if len(t)][:4]
    picks = alden_greedy_flat(words, values, offsets, emb, labeled, 15)
    assert picks == alden_greedy_picks(tokens, np.split(values, offsets[1:-1]), emb, labeled, 15)
    assert [p.index for p in picks] == [e[0] for e in brute_alden(
        tokens, np.split(values.astype(np.float64), offsets[1:-1]), emb, labeled, 15)]


def test_alden_greedy_flat_errors_are_clear():
    emb, words, offsets = np.zeros((3, 2)), np.array([0, 1, 2]), np.array([0, 2, 3])
    values = np.zeros((3, 2))
    with pytest.raises(AldenError, match="offsets must rise from 0 to the 3 tokens"):
        alden_greedy_flat(words, values, np.array([0, 2, 4]), emb, [0], 1)
    with pytest.raises(AldenError, match="offsets must rise"):
        alden_greedy_flat(words, values, np.array([0, 3, 2, 3]), emb, [0], 1)
    with pytest.raises(AldenError, match=r"interpretations have shape \(2, 2\), expected \(3, C\)"):
        alden_greedy_flat(words, values[:2], offsets, emb, [0], 1)
    with pytest.raises(AldenError, match="flat integer array"):
        alden_greedy_flat(words.astype(float), values, offsets, emb, [0], 1)
    with pytest.raises(AldenError, match="NaN or infinite"):
        alden_greedy_flat(words, np.full((3, 2), np.nan), offsets, emb, [0], 1)
    with pytest.raises(AldenError, match="word ids must lie in 0..2"):
        alden_greedy_flat(np.array([0, 1, 3]), values, offsets, emb, [0], 1)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_kcenter_matches_brute_force(data):
    n = data.draw(st.integers(1, 12))
    dim = data.draw(st.integers(1, 3))
    x = np.array(data.draw(st.lists(st.lists(st.integers(-3, 3), min_size=dim, max_size=dim),
                                    min_size=n, max_size=n)), dtype=np.float64)
    labeled = data.draw(st.lists(st.integers(0, n - 1), max_size=n, unique=True))
    k = data.draw(st.integers(0, n - len(labeled)))
    tiny = data.draw(st.booleans())
    with mock.patch.object(common, "BLOCK", 2 if tiny else common.BLOCK):
        picks, dists = kcenter_greedy_picks(x, labeled, k)
    expected, expected_d = brute_kcenter(x, labeled, k)
    assert picks == expected
    np.testing.assert_allclose(dists, expected_d, rtol=1e-12, atol=1e-12)
    assert kcenter_greedy(x, labeled, k) == expected


def test_kcenter_matches_brute_force_on_random_floats():
    x = np.random.default_rng(0).normal(size=(60, 5))
    picks, dists = kcenter_greedy_picks(x, [3, 9], 20)
    expected, expected_d = brute_kcenter(x, [3, 9], 20)
    assert picks == expected
    np.testing.assert_allclose(dists, expected_d, rtol=1e-9)
    assert np.all(np.diff(dists) <= 1e-12)  # k-center radii never grow


def test_kcenter_empty_labeled_starts_near_the_mean():
    x = np.array([[10.0, 0.0], [0.1, 0.0], [-10.0, 0.0], [0.0, 5.0]])
    assert kcenter_greedy(x, [], 2)[0] == 1


def test_kmeans_pp_matches_brute_force_and_is_deterministic():
    x = np.random.default_rng(1).integers(-4, 5, size=(30, 3)).astype(float)
    picks, _ = kmeans_pp(x, 10, np.random.default_rng(7))
    assert picks == brute_kmeans_pp(x, 10, np.random.default_rng(7))
    assert picks == kmeans_pp(x, 10, np.random.default_rng(7))[0]
    assert len(set(picks)) == 10


def test_kmeans_pp_first_is_largest_norm_then_d2_sampling():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    draws = [kmeans_pp(x, 2, np.random.default_rng(s))[0] for s in range(2000)]
    assert all(d[0] == 3 for d in draws)
    d2 = np.array([16.0, 17.0, 25.0, 0.0])
    counts = np.bincount([d[1] for d in draws], minlength=4)
    assert counts[3] == 0
    _, p_value = scipy.stats.chisquare(counts[:3], 2000 * d2[:3] / d2.sum())
    assert p_value > 1e-4


def test_kmeans_pp_all_duplicates_still_distinct():
    picks, dists = kmeans_pp(np.ones((5, 2)), 5, np.random.default_rng(0))
    assert sorted(picks) == [0, 1, 2, 3, 4]
    assert np.all(dists[1:] == 0.0)


# ---------------------------------------------------------------- scores


def test_uncertainty_scores_match_definitions():
    p = np.random.default_rng(2).dirichlet(np.ones(4), size=50)
    np.testing.assert_allclose(entropy(p), scipy.stats.entropy(p, axis=1), rtol=1e-12)
    top = np.sort(p, axis=1)
    np.testing.assert_allclose(margin(p), top[:, -1] - top[:, -2])
    np.testing.assert_allclose(least_confidence(p), 1 - p.max(axis=1))
    assert entropy(np.array([[1.0, 0.0]]))[0] == 0.0
    np.testing.assert_allclose(entropy(np.full((1, 4), 0.25)), [np.log(4)])


def test_bald_matches_loops():
    mc = np.random.default_rng(4).dirichlet(np.ones(3), size=(7, 20))
    expected = []
    for i in range(20):
        mean = mc[:, i].mean(axis=0)
        h_mean = -sum(q * np.log(q) for q in mean)
        mean_h = np.mean([-sum(q * np.log(q) for q in mc[t, i]) for t in range(7)])
        expected.append(h_mean - mean_h)
    np.testing.assert_allclose(bald(mc), expected, rtol=1e-10)
    same = np.repeat(mc[:1], 7, axis=0)  # no disagreement between dropout samples
    np.testing.assert_allclose(bald(same), 0.0, atol=1e-12)


def test_scores_reject_bad_shapes():
    with pytest.raises(AldenError, match=r"\(N, C\)"):
        entropy(np.ones(3))
    with pytest.raises(AldenError, match=r"\(T, N, C\)"):
        bald(np.ones((3, 2)))
    with pytest.raises(AldenError, match="NaN"):
        margin(np.array([[np.nan, 1.0]]))


def test_top_k_orders_and_breaks_ties_by_position():
    s = np.array([0.5, 0.9, 0.5, 0.9, 0.1])
    assert top_k(s, 3).tolist() == [1, 3, 0]
    assert top_k(s, 2, largest=False).tolist() == [4, 0]
    with pytest.raises(AldenError, match="only 5"):
        top_k(s, 6)
