"""Strategies: one contract for all, each wired to its kernel, the registry, and the real
Learner end to end."""

from __future__ import annotations

import numpy as np
import pytest

from alden.data.pool import Pool
from alden.errors import AldenError
from alden.kernels import (
    alden_greedy_picks,
    entropy,
    kcenter_greedy_picks,
    kmeans_pp,
    margin,
)
from alden.strategies import (
    STRATEGIES,
    Alden,
    Bald,
    Dami,
    Reason,
    Selection,
    canonical_strategy,
    describe,
    get_strategy,
    parse_strategy,
    strategies_for,
    strategy_from_spec,
)

N_CLASSES = 3
VOCAB = ("<pad>", "<unk>", "bland", "dull", "great", "plot", "the", "film", "a", "witty")


class FakeLearner:
    """Stand-in for Learner: each output is a fixed function of the rows it is given, so
    asking for a subset gives that subset's rows. Records what it was asked."""

    def __init__(self, n_features: int = 0, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.emb = rng.normal(size=(len(VOCAB), 4))
        self.w_in = rng.normal(size=(max(n_features, 1), 4))
        self.w_out = rng.normal(size=(4, N_CLASSES))
        self.calls: list[tuple[str, int, str | None]] = []

    def _features(self, x: np.ndarray) -> np.ndarray:
        if np.issubdtype(x.dtype, np.integer):
            return self.emb[x].sum(axis=1) / np.maximum((x != 0).sum(axis=1, keepdims=True), 1)
        return np.maximum(x @ self.w_in, 0.0)

    def _logits(self, x):
        return self._features(x) @ self.w_out

    def predict_proba(self, x):
        self.calls.append(("predict_proba", len(x), None))
        z = self._logits(x)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict_proba_mc(self, x, T, seed):
        self.calls.append(("predict_proba_mc", len(x), str(T)))
        z = self._logits(x)[None] + np.random.default_rng(seed).normal(size=(T, len(x), N_CLASSES))
        e = np.exp(z - z.max(axis=2, keepdims=True))
        return e / e.sum(axis=2, keepdims=True)

    def hidden(self, x):
        self.calls.append(("hidden", len(x), None))
        return np.tanh(self._features(x))

    def badge_embeddings(self, x):
        self.calls.append(("badge_embeddings", len(x), None))
        p = self.predict_proba(x)
        residual = p - np.eye(N_CLASSES)[p.argmax(axis=1)]
        return (residual[:, :, None] * self.hidden(x)[:, None, :]).reshape(len(x), -1)

    def egl_word_scores(self, x):
        self.calls.append(("egl_word_scores", len(x), None))
        return np.abs(self.emb[x][..., 0]).max(axis=1)

    def egl_input_scores(self, x):
        self.calls.append(("egl_input_scores", len(x), None))
        return np.linalg.norm(x, axis=1)

    def token_interpretations(self, x, output="proba"):
        self.calls.append(("token_interpretations", len(x), output))
        values = [np.sin(np.arange(len(r[r != 0]))[:, None] + self.emb[r[r != 0]] @ self.w_out)
                  for r in x]
        if output == "proba":  # not a uniform scale of the logits' values: picks differ
            values = [np.tanh(3.0 * v) * (1.0 + np.arange(len(v)))[:, None] for v in values]
        return values

    def input_jacobian(self, x, output="proba"):
        self.calls.append(("input_jacobian", len(x), output))
        active = (x @ self.w_in > 0).astype(float)  # ReLU pattern: the linear region
        jac = np.einsum("nh,fh,hc->ncf", active, self.w_in, self.w_out)
        jac = jac.reshape(len(x), -1)
        if output == "proba":  # a per-row factor, as a softmax's slope: not a uniform scale
            jac = jac / (1.0 + np.abs(x).sum(axis=1, keepdims=True) ** 2)
        return jac

    def word_embeddings(self):
        return self.emb


def text_pool(n: int = 30, labeled: int = 4) -> Pool:
    rng = np.random.default_rng(5)
    x = np.zeros((n, 7), dtype=np.int64)
    for i in range(n):
        length = rng.integers(1, 8)
        x[i, :length] = rng.integers(2, len(VOCAB), length)
    pool = Pool.from_arrays(x, rng.integers(0, N_CLASSES, n), ("neg", "neu", "pos"), vocab=VOCAB)
    pool.mark_labeled(np.arange(0, 3 * labeled, 3), 0)
    return pool


def tabular_pool(n: int = 30, labeled: int = 4) -> Pool:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    pool = Pool.from_arrays(x, rng.integers(0, N_CLASSES, n), ("a", "b", "c"))
    pool.mark_labeled(np.arange(1, 1 + 2 * labeled, 2), 0)
    return pool


def make(kind: str) -> tuple[FakeLearner, Pool]:
    if kind == "text":
        return FakeLearner(), text_pool()
    return FakeLearner(n_features=3), tabular_pool()


CASES = [(name, kind) for kind in ("text", "tabular") for name in strategies_for(kind)]
CASES += [("alden:candidates=14", "text"), ("margin:balance=true", "text"),
          ("alden:balance=true,candidates=14", "text"), ("coreset:balance=true", "tabular"),
          ("random:balance=true", "tabular"), ("margin:subpool=10", "text"),
          ("alden:subpool=12", "text"), ("coreset:subpool=10,subpool_random=0.5", "tabular"),
          ("margin:balance=true,subpool=10", "text"), ("random:subpool=10", "tabular")]


# ---------------------------------------------------------------- the contract


@pytest.mark.parametrize("name,kind", CASES)
def test_contract(name, kind):
    learner, pool = make(kind)
    strategy = strategy_from_spec(name, kind)
    open_items = set(pool.unlabeled.tolist())
    sel = strategy.select(learner, pool, 7, np.random.default_rng(0))
    assert isinstance(sel, Selection) and len(sel) == 7
    assert len(set(sel.indices)) == 7 and set(sel.indices) <= open_items
    assert len(sel.scores) == 7 and np.isfinite(sel.scores).all()
    assert sel.reasons is None or (len(sel.reasons) == 7 and all(sel.reasons))
    again = strategy.select(learner, pool, 7, np.random.default_rng(0))
    assert again == sel  # deterministic for the same rng

    everything = strategy.select(learner, pool, 10**6, np.random.default_rng(1))
    assert sorted(everything.indices) == sorted(open_items)
    assert len(strategy.select(learner, pool, 0, np.random.default_rng(1))) == 0
    with pytest.raises(AldenError, match="whole number"):
        strategy.select(learner, pool, -1, np.random.default_rng(1))

    pool.mark_labeled(np.array(sel.indices), 1)  # the loop can label what was picked
    nxt = strategy.select(learner, pool, 5, np.random.default_rng(2))
    assert not set(nxt.indices) & set(pool.labeled.tolist())


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - set(strategies_for("tabular"))))
def test_text_only_strategies_refuse_tables(name):
    learner, pool = make("tabular")
    with pytest.raises(AldenError, match="needs words"):
        get_strategy(name).select(learner, pool, 3, np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - set(strategies_for("text"))))
def test_tabular_only_strategies_refuse_text(name):
    learner, pool = make("text")
    with pytest.raises(AldenError, match="works on tables only"):
        get_strategy(name).select(learner, pool, 3, np.random.default_rng(0))


# ---------------------------------------------------------------- each strategy's wiring


def test_entropy_and_margin_rank_only_the_unlabeled():
    learner, pool = make("text")
    unlabeled = pool.unlabeled
    sel = get_strategy("entropy").select(learner, pool, 5, np.random.default_rng(0))
    assert learner.calls == [("predict_proba", len(unlabeled), None)]  # unlabeled only
    h = entropy(learner.predict_proba(pool.x[unlabeled]))
    assert list(sel.indices) == unlabeled[np.argsort(-h, kind="stable")[:5]].tolist()
    np.testing.assert_allclose(sel.scores, np.sort(h)[::-1][:5])
    top = unlabeled[np.argsort(-h, kind="stable")[0]]
    assert sel.reasons[0].kind == "entropy" and sel.reasons[0].score == sel.scores[0]
    np.testing.assert_allclose(sel.reasons[0].proba, learner.predict_proba(pool.x[[top]])[0])

    m = margin(learner.predict_proba(pool.x[unlabeled]))
    sel = get_strategy("margin").select(learner, pool, 5, np.random.default_rng(0))
    assert list(sel.indices) == unlabeled[np.argsort(m, kind="stable")[:5]].tolist()


def test_alden_wires_interpretations_embeddings_and_labeled_set():
    learner, pool = make("text")
    sel = Alden(output="proba").select(learner, pool, 6, np.random.default_rng(0))
    assert ("token_interpretations", len(pool), "proba") in learner.calls
    tokens = [pool.tokens(i) for i in range(len(pool))]
    picks = alden_greedy_picks(tokens, learner.token_interpretations(pool.x, "proba"),
                               learner.emb, pool.labeled, 6)
    assert list(sel.indices) == [p.index for p in picks]
    assert list(sel.scores) == [p.diversity for p in picks]
    first = picks[0]
    reason = sel.reasons[0]
    assert (reason.kind, reason.score, reason.word, reason.position, reason.compared_word) == (
        "alden", first.diversity, VOCAB[first.word], first.position,
        VOCAB[first.compared_word])
    item_tokens = tokens[first.index]
    assert reason.words == tuple(VOCAB[t] for t in item_tokens)  # the heat map's words
    np.testing.assert_allclose(reason.interpretations, np.linalg.norm(
        learner.token_interpretations(pool.x[[first.index]], "proba")[0], axis=1))


def test_alden_and_dami_read_probabilities_by_default():
    learner, pool = make("text")
    tokens = [pool.tokens(i) for i in range(len(pool))]
    by_output = {out: [p.index for p in alden_greedy_picks(
        tokens, learner.token_interpretations(pool.x, out), learner.emb, pool.labeled, 8)]
        for out in ("proba", "logits")}
    assert by_output["proba"] != by_output["logits"]  # else this test could not fail
    assert list(Alden().select(learner, pool, 8, np.random.default_rng(0)).indices) == \
        by_output["proba"]
    learner, pool = make("tabular")
    by_output = {out: kcenter_greedy_picks(learner.input_jacobian(pool.x, out), pool.labeled,
                                           8)[0] for out in ("proba", "logits")}
    assert by_output["proba"] != by_output["logits"]
    assert list(Dami().select(learner, pool, 8, np.random.default_rng(0)).indices) == \
        by_output["proba"]


def test_alden_reason_names_the_nearest_labeled_word_for_an_absent_word():
    pool = Pool.from_arrays(np.array([[2, 0], [3, 0], [2, 2]]), np.array([0, 0, 0]),
                            ("neg", "neu", "pos"), vocab=VOCAB)
    pool.mark_labeled(np.array([0]), 0)
    learner = FakeLearner()
    sel = Alden().select(learner, pool, 2, np.random.default_rng(0))
    by_index = dict(zip(sel.indices, sel.reasons, strict=True))
    assert (by_index[1].word, by_index[1].position, by_index[1].compared_word) == (
        "dull", 0, "bland")
    assert describe(by_index[1]).startswith(
        "'dull' (word 1) is in no labeled item; it is used here unlike the nearest labeled "
        "word, 'bland'")


def test_alden_needs_a_seed_set():
    learner = FakeLearner()
    pool = text_pool(labeled=0)
    with pytest.raises(AldenError, match="labeled seed set"):
        Alden().select(learner, pool, 3, np.random.default_rng(0))


def test_coreset_and_dami_are_kcenter_on_their_representation():
    learner, pool = make("tabular")
    sel = get_strategy("coreset").select(learner, pool, 6, np.random.default_rng(0))
    picks, dists = kcenter_greedy_picks(learner.hidden(pool.x), pool.labeled, 6)
    assert list(sel.indices) == picks and np.allclose(sel.scores, dists)
    sel = Dami(output="proba").select(learner, pool, 6, np.random.default_rng(0))
    assert ("input_jacobian", len(pool), "proba") in learner.calls
    picks, _ = kcenter_greedy_picks(learner.input_jacobian(pool.x, "proba"), pool.labeled, 6)
    assert list(sel.indices) == picks


def test_badge_is_kmeans_pp_on_unlabeled_gradient_embeddings():
    learner, pool = make("text")
    sel = get_strategy("badge").select(learner, pool, 6, np.random.default_rng(3))
    unlabeled = pool.unlabeled
    picks, _ = kmeans_pp(learner.badge_embeddings(pool.x[unlabeled]), 6,
                         np.random.default_rng(3))
    assert list(sel.indices) == unlabeled[picks].tolist()


def test_bald_passes_samples_and_a_seed_drawn_from_rng():
    learner, pool = make("tabular")
    a = Bald(samples=5).select(learner, pool, 4, np.random.default_rng(9))
    assert ("predict_proba_mc", len(pool.unlabeled), "5") in learner.calls
    b = Bald(samples=5).select(learner, pool, 4, np.random.default_rng(10))
    assert a != b  # a different rng gives different dropout masks


# ---------------------------------------------------------------- registry and records


def test_get_strategy_errors_and_conversions():
    with pytest.raises(AldenError, match="unknown strategy 'aldn'; choose one of: alden, "):
        get_strategy("aldn")
    with pytest.raises(AldenError, match="'T'; its options: balance, samples, subpool, "):
        get_strategy("bald", T=3)
    with pytest.raises(AldenError,
                       match="its options: balance, subpool, subpool_neighbours, subpool_random$"):
        get_strategy("entropy", output="proba")
    with pytest.raises(AldenError, match="'balance' must be true or false"):
        get_strategy("entropy", balance="yes")
    assert get_strategy("entropy", balance="false") == get_strategy("entropy")
    assert get_strategy("bald", samples="7") == Bald(samples=7)
    with pytest.raises(AldenError, match="must be an integer"):
        get_strategy("bald", samples="many")
    with pytest.raises(AldenError, match="output must be one of"):
        get_strategy("alden", output="grad")
    assert get_strategy("dami", output="proba").output == "proba"
    assert get_strategy("alden").output == "proba"  # the default, by learning curves
    assert get_strategy("dami").output == "proba"


@pytest.mark.parametrize("spec,name,options", [
    ("alden", "alden", {}),
    ("alden:output=proba", "alden", {"output": "proba"}),
    ("bald:samples=5", "bald", {"samples": "5"}),
])
def test_parse_strategy_splits_name_and_options(spec, name, options):
    assert parse_strategy(spec) == (name, options)


@pytest.mark.parametrize("spec", ["alden:", "alden:output", "alden:=proba", "alden:output=",
                                  "bald:samples=5,samples=6"])
def test_malformed_strategy_specs_name_the_spec(spec):
    with pytest.raises(AldenError, match=f"strategy '{spec}': expected name:key=value"):
        parse_strategy(spec)


def test_strategy_from_spec_builds_and_checks_options():
    assert strategy_from_spec("alden:output=proba") == Alden(output="proba")
    assert strategy_from_spec("bald:samples=7") == Bald(samples=7)
    with pytest.raises(AldenError, match="strategy 'alden:output=grad': output must be one of"):
        strategy_from_spec("alden:output=grad")
    with pytest.raises(AldenError, match="has no option 'T'"):
        strategy_from_spec("bald:T=3")


def test_canonical_strategy_has_one_spelling_per_strategy():
    assert canonical_strategy("alden:output=proba") == "alden"  # the default drops out
    assert canonical_strategy("alden:output=logits") == "alden:output=logits"
    assert canonical_strategy("bald:samples=20") == "bald"
    assert canonical_strategy("bald:samples=05") == "bald:samples=5"
    assert canonical_strategy("random") == "random"


def test_strategies_for_each_kind():
    assert set(strategies_for("text")) == set(STRATEGIES) - {"dami", "egl"}
    assert set(strategies_for("tabular")) == set(STRATEGIES) - {"alden", "egl_word"}


def test_selection_checks_lengths():
    with pytest.raises(AldenError, match="one score"):
        Selection((1, 2), (0.5,))
    sel = Selection(np.array([3, 1]), np.array([0.5, 0.25]),
                    [Reason("margin", 0.5), Reason("margin", 0.25)])
    assert sel.indices == (3, 1) and sel.reasons == (Reason("margin", 0.5),
                                                     Reason("margin", 0.25))
    with pytest.raises(AldenError, match="Reason objects"):  # text is made at the edges
        Selection((1,), (0.5,), ("picked",))


# ---------------------------------------------------------------- the real NetworkLearner


@pytest.mark.slow
@pytest.mark.parametrize("kind,model", [("text", "cnn"), ("text", "bilstm"),
                                        ("tabular", "mlp")])
def test_every_strategy_with_the_real_learner(kind, model):
    learner_mod = pytest.importorskip("alden.models.learner")
    rng = np.random.default_rng(0)
    if kind == "text":
        pool = text_pool(n=40, labeled=5)
        options = dict(vocab_size=len(VOCAB), embedding_dim=8)
        options.update(n_maps=4, widths=(2, 3)) if model == "cnn" else options.update(
            hidden_size=4)
    else:
        pool = tabular_pool(n=40, labeled=5)
        options = dict(n_features=3, hidden_sizes=(8,))
    learner = learner_mod.NetworkLearner(model, n_classes=N_CLASSES,
                                         config=learner_mod.TrainConfig(fixed_epochs=2), **options)
    labeled = pool.labeled
    learner.fit(pool.x[labeled], pool.y[labeled], seed=0)
    for name in strategies_for(kind):
        sel = get_strategy(name).select(learner, pool, 4, rng)
        assert len(set(sel.indices)) == 4, name
        assert not set(sel.indices) & set(labeled.tolist()), name
        assert np.isfinite(sel.scores).all(), name


def test_flat_tokens_are_the_items_tokens_read_from_a_mapped_file(tmp_path):
    from alden.strategies.base import flat_tokens, pool_tokens

    pool = text_pool(n=50)
    pool.x[7] = 0  # an item without tokens
    np.save(tmp_path / "x.npy", pool.x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    words, offsets = flat_tokens(mapped)
    assert words.dtype == np.int32 and offsets[0] == 0 and offsets[8] == offsets[7]
    for i, tokens in enumerate(pool_tokens(pool)):
        np.testing.assert_array_equal(words[offsets[i]:offsets[i + 1]], tokens)
    assert offsets[-1] == len(words)


@pytest.mark.slow
def test_alden_on_the_real_textcnn_hands_back_the_pools_probabilities():
    """ALDEN's pass over the whole pool gives the stop record the probabilities a
    prediction pass would (bit for bit); over margin's candidates it has none to give."""
    learner_mod = pytest.importorskip("alden.models.learner")
    pool = text_pool(n=40, labeled=5)
    learner = learner_mod.NetworkLearner(
        "cnn", n_classes=N_CLASSES, config=learner_mod.TrainConfig(fixed_epochs=2),
        vocab_size=len(VOCAB), embedding_dim=8, n_maps=4, widths=(2, 3))
    learner.fit(pool.x[pool.labeled], pool.y[pool.labeled], seed=0)
    sel = Alden().select(learner, pool, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(sel.pool_proba, learner.predict_proba(pool.x))
    tokens = [pool.tokens(i) for i in range(len(pool))]
    picks = alden_greedy_picks(tokens, learner.token_interpretations(pool.x),
                               learner.word_embeddings(), pool.labeled, 4)
    assert list(sel.indices) == [p.index for p in picks]
    assert sel == Selection(sel.indices, sel.scores, sel.reasons)  # pool_proba not compared
    fewer = strategy_from_spec("alden:candidates=8").select(
        learner, pool, 4, np.random.default_rng(0))
    assert fewer.pool_proba is None


# ---------------------------------------------------------------- batch strategies


def test_cluster_margin_is_the_kernel_on_the_unlabeled_hidden_layer():
    from alden.kernels import cluster_margin

    learner, pool = make("text")
    sel = get_strategy("cluster_margin").select(learner, pool, 2, np.random.default_rng(0))
    unlabeled = pool.unlabeled
    gaps = margin(learner.predict_proba(pool.x[unlabeled]))
    want = cluster_margin(learner.hidden(pool.x[unlabeled]), gaps, 2)
    assert list(sel.indices) == unlabeled[want.indices].tolist()
    assert np.allclose(sel.scores, gaps[want.indices])
    assert ("hidden", 20, None) in learner.calls  # only margin's 10 * n candidates
    assert [r.first for r in sel.reasons] == [True, True]
    text = describe(sel.reasons[0], ("neg", "neu", "pos"))
    assert text.startswith("the model is torn between ") and text.endswith(
        ", and no picked item is near it")


def test_alden_candidates_run_the_pass_on_margins_most_uncertain_only():
    learner, pool = make("text")
    sel = strategy_from_spec("alden:candidates=10").select(
        learner, pool, 3, np.random.default_rng(0))
    unlabeled = pool.unlabeled.tolist()
    gaps = margin(learner.predict_proba(pool.x[pool.unlabeled]))
    top = sorted(range(len(unlabeled)), key=lambda i: (gaps[i], unlabeled[i]))[:10]
    rows = sorted(pool.labeled.tolist() + [unlabeled[i] for i in top])
    assert ("token_interpretations", len(rows), "proba") in learner.calls
    inter = learner.token_interpretations(pool.x[rows])
    tokens = [r[r != 0] for r in pool.x[rows]]
    labeled = [i for i, r in enumerate(rows) if r in set(pool.labeled.tolist())]
    picks = alden_greedy_picks(tokens, inter, learner.word_embeddings(), labeled, 3)
    assert list(sel.indices) == [rows[p.index] for p in picks]
    assert canonical_strategy("alden:candidates=0") == "alden"


def brute_balanced(classes, n, n_classes):
    """Shares by the smallest cap s that fills n, one more for the classes that have it,
    in the order they first appear; each class's first items of the list."""
    have = [sum(1 for c in classes if c == k) for k in range(n_classes)]
    n = min(n, len(classes))
    s = next(s for s in range(n + 1) if sum(min(h, s) for h in have) >= n)
    share = [min(h, s - 1) if s else 0 for h in have]
    for c in dict.fromkeys(classes):
        if sum(share) < n and have[c] >= s:
            share[c] += 1
    keep, taken = [], [0] * n_classes
    for i, c in enumerate(classes):
        if taken[c] < share[c]:
            keep.append(i)
            taken[c] += 1
    return keep


@pytest.mark.parametrize("seed", range(30))
def test_balanced_order_matches_brute_force(seed):
    from alden.strategies.batch import balanced_order

    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 5))
    weights = rng.dirichlet(np.ones(n_classes) * 0.5)
    classes = rng.choice(n_classes, size=int(rng.integers(1, 25)), p=weights).tolist()
    n = int(rng.integers(0, 30))
    assert balanced_order(np.array(classes), n, n_classes) == brute_balanced(classes, n,
                                                                               n_classes)


def test_balance_takes_each_predicted_class_share_in_the_strategys_order():
    learner, pool = make("text")
    plain = get_strategy("margin").select(learner, pool, 26, np.random.default_rng(0))
    sel = strategy_from_spec("margin:balance=true").select(learner, pool, 6,
                                                           np.random.default_rng(0))
    predicted = learner.predict_proba(pool.x).argmax(axis=1)
    order = list(plain.indices)
    by_class = {c: [i for i in order if predicted[i] == c] for c in range(N_CLASSES)}
    have = {c: len(v) for c, v in by_class.items()}
    got = {c: [i for i in sel.indices if predicted[i] == c] for c in range(N_CLASSES)}
    for c in range(N_CLASSES):
        assert got[c] == by_class[c][:len(got[c])]  # each class's top, in margin's order
    assert all(len(got[c]) == min(2, have[c]) for c in got) or sum(have.values()) < 6
    assert list(sel.indices) == [i for i in order if i in set(sel.indices)]
    assert canonical_strategy("margin:balance=true") == "margin:balance=true"
    with pytest.raises(AldenError, match="needs words"):
        strategy_from_spec("alden:balance=true", "tabular")


def test_margin_reasons_of_a_fresh_model_tell_picks_apart():
    """Probabilities near 0.5 each (a fresh encoder head): two digits read 0.00 and 0.50 for
    every pick; three significant digits and three decimals tell them apart."""
    from alden.strategies.reasons import Reason

    near = describe(Reason("margin", 0.00213, proba=(0.49894, 0.50106)), ("neg", "pos"))
    nearer = describe(Reason("margin", 0.000412, proba=(0.499794, 0.500206)), ("neg", "pos"))
    assert near == "margin 0.00213 (p(pos)=0.501, p(neg)=0.499)"
    assert nearer == "margin 0.000412 (p(pos)=0.500, p(neg)=0.500)"


# ---------------------------------------------------------------- subpools


def brute_subpool(learner, pool, size, k, share):
    """The neighbours part of a subpool by brute force: every labeled-unlabeled cosine
    distance in float64, each labeled item's k nearest (ties to the smaller index), their
    union cut to the ones nearest a labeled item."""
    h = learner.hidden(pool.x)
    h = h / np.linalg.norm(h, axis=1, keepdims=True)
    lab, unl = pool.labeled, pool.unlabeled
    dist = 1.0 - h[lab] @ h[unl].T
    best: dict[int, float] = {}
    for row in dist:
        for j in sorted(range(len(unl)), key=lambda j: (row[j], j))[:k]:
            best[j] = min(best.get(j, np.inf), row[j])
    budget = size - int(np.ceil(share * size))
    kept = sorted(best, key=lambda j: (best[j], j))[:budget]
    return sorted(unl[kept].tolist())


@pytest.mark.parametrize("kind,size,k,share", [("tabular", 12, 2, 0.25), ("tabular", 8, 5, 0.0),
                                               ("text", 10, 3, 0.1), ("tabular", 20, 1, 0.5),
                                               ("text", 6, 10, 1.0)])
def test_subpool_candidates_are_the_exact_neighbours_and_a_random_share(kind, size, k, share):
    from alden.strategies.subpool import subpool_candidates

    learner, pool = make(kind)
    near, drawn = subpool_candidates(learner, pool, size, k, share, np.random.default_rng(3))
    assert near.tolist() == brute_subpool(learner, pool, size, k, share)
    assert len(near) + len(drawn) == size and not set(near) & set(drawn)
    assert set(drawn) <= set(pool.unlabeled.tolist())
    again = subpool_candidates(learner, pool, size, k, share, np.random.default_rng(3))
    assert [a.tolist() for a in again] == [near.tolist(), drawn.tolist()]


def test_subpool_picks_are_the_inner_strategys_among_the_candidates_in_global_indices():
    from alden.strategies.subpool import subpool_candidates

    learner, pool = make("tabular")
    sel = strategy_from_spec("margin:subpool=9,subpool_neighbours=2").select(
        learner, pool, 4, np.random.default_rng(7))
    near, drawn = subpool_candidates(learner, pool, 9, 2, 0.1, np.random.default_rng(7))
    candidates = np.union1d(near, drawn)
    gaps = margin(learner.predict_proba(pool.x[candidates]))
    assert list(sel.indices) == candidates[np.argsort(gaps, kind="stable")[:4]].tolist()
    assert [r.subpool for r in sel.reasons] == [
        "neighbour" if i in near else "random" for i in sel.indices]


@pytest.mark.parametrize("spec", ["margin", "random", "alden", "coreset", "badge"])
def test_a_subpool_as_large_as_the_unlabeled_items_changes_nothing(spec):
    learner, pool = make("text" if spec == "alden" else "tabular")
    plain = strategy_from_spec(spec).select(learner, pool, 5, np.random.default_rng(4))
    for size in (len(pool.unlabeled), 10**6):
        wrapped = strategy_from_spec(f"{spec}:subpool={size}")
        assert wrapped.select(learner, pool, 5, np.random.default_rng(4)) == plain
    # a batch larger than the subpool: the subpool grows to the batch, here the whole pool
    big = strategy_from_spec(f"{spec}:subpool=2").select(learner, pool, 26,
                                                         np.random.default_rng(4))
    assert big == strategy_from_spec(spec).select(learner, pool, 26, np.random.default_rng(4))


def test_subpool_reasons_say_where_the_item_came_from():
    near = Reason("margin", 0.01, (0.5, 0.49, 0.01), subpool="neighbour")
    assert describe(near, ("neg", "neu", "pos"), item="sentence") == (
        "margin 0.01 (p(neg)=0.500, p(neu)=0.490, p(pos)=0.010); from the subpool of labeled "
        "sentences' near neighbours")
    drawn = Reason("coreset", 1.5, subpool="random")
    assert describe(drawn) == ("hidden representation 1.5 away from the nearest labeled or "
                               "picked item; from the subpool's random share")
    assert Reason.from_json(near.to_json()) == near
    assert "subpool" not in Reason("margin", 0.01).to_json()


def test_subpool_options_in_the_registry():
    from alden.strategies import Subpool, with_subpool

    assert canonical_strategy("margin:subpool=1000") == "margin:subpool=1000"
    assert canonical_strategy("margin:subpool_random=0.1,subpool=5,balance=true") == (
        "margin:balance=true,subpool=5")
    assert canonical_strategy("bald:subpool=5,subpool_neighbours=3,samples=3") == (
        "bald:samples=3,subpool=5,subpool_neighbours=3")
    assert with_subpool("bald:samples=3", 50) == "bald:samples=3,subpool=50"
    assert with_subpool("margin", None) == "margin"
    wrapped = get_strategy("margin", subpool="5", balance="true")
    assert isinstance(wrapped, Subpool) and wrapped.size == 5
    with pytest.raises(AldenError, match="subpool options need subpool=N"):
        get_strategy("margin", subpool_random=0.2)
    with pytest.raises(AldenError, match="subpool must be a whole number >= 1"):
        get_strategy("margin", subpool=0)
    with pytest.raises(AldenError, match="'subpool' must be an integer"):
        get_strategy("margin", subpool=2.5)
    with pytest.raises(AldenError, match="'subpool_random' must be a number"):
        get_strategy("margin", subpool=3, subpool_random="half")
    with pytest.raises(AldenError, match="subpool_random must lie in"):
        get_strategy("margin", subpool=3, subpool_random=2)
    with pytest.raises(AldenError, match="needs words"):
        strategy_from_spec("alden:subpool=5,balance=true", "tabular")
