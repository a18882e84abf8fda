"""Query strategies: thin frozen dataclasses that feed a learner's outputs to the kernels.

Every strategy has one signature, ``select(learner, pool, n, rng) -> Selection``, and reads
the model only through the Learner methods of docs/architecture.md, so the runner, the CLI
and the labeling project know nothing about any particular strategy. The math lives in
``alden.kernels.selection``.

References: ALDEN: Liu et al., CIKM 2021. DAMI: Liu et al., arXiv 2020. BALD: Houlsby et al.
2011, Gal et al. 2017. CORESET: Sener & Savarese, ICLR 2018. BADGE: Ash et al., ICLR 2020.
EGL-Word: Zhang, Lease & Wallace, AAAI 2017.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from alden.data.pool import Pool
from alden.errors import AldenError
from alden.kernels.selection import (
    alden_greedy_picks,
    bald,
    entropy,
    kcenter_greedy_picks,
    kmeans_pp,
    least_confidence,
    margin,
    top_k,
)

ANY, TEXT, TABULAR = "any", "text", "tabular"  # the pools a strategy works on
OUTPUTS = ("proba", "logits")  # what interpretations differentiate: probabilities or logits


@dataclass(frozen=True)
class Selection:
    """What a strategy picked: global pool indices in pick order, each pick's score (the
    strategy's own measure, e.g. entropy or a distance; see the strategy) and, where the
    strategy has one, a human-readable reason per pick."""

    indices: tuple[int, ...]
    scores: tuple[float, ...]
    reasons: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", tuple(int(i) for i in self.indices))
        object.__setattr__(self, "scores", tuple(float(s) for s in self.scores))
        if self.reasons is not None:
            object.__setattr__(self, "reasons", tuple(str(r) for r in self.reasons))
        if len(self.scores) != len(self.indices) or (
                self.reasons is not None and len(self.reasons) != len(self.indices)):
            raise AldenError("a Selection needs one score (and one reason, if any) per index")

    def __len__(self) -> int:
        return len(self.indices)


# ---------------------------------------------------------------- shared wiring

def _open_items(strategy: Any, pool: Pool, n: int) -> tuple[np.ndarray, int]:
    """The unlabeled indices, and how many to pick: ``n``, or all of them if fewer remain."""
    if strategy.data == TEXT and not pool.is_text:
        raise AldenError(f"strategy {strategy.name!r} needs words: it works on text pools "
                         "only (for tables use 'dami' or 'egl')")
    if strategy.data == TABULAR and pool.is_text:
        raise AldenError(f"strategy {strategy.name!r} uses gradients with respect to "
                         "tabular features: it works on tabular pools only (for text use "
                         "'alden' or 'egl_word')")
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise AldenError(f"the number of items to select must be a whole number >= 0, "
                         f"got {n!r}")
    unlabeled = pool.unlabeled
    return unlabeled, min(int(n), len(unlabeled))


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values)
    if not np.isfinite(values).all():
        raise AldenError(f"the learner's {what} contain NaN or infinite values "
                         "(did training diverge?)")
    return values


def _describe_proba(p: np.ndarray, classes: tuple[str, ...]) -> str:
    """'p(neg)=0.51, p(pos)=0.49', the three most likely classes at most."""
    order = np.argsort(-p, kind="stable")[:3]
    names = [classes[c] if c < len(classes) else str(c) for c in order]
    return ", ".join(f"p({name})={p[c]:.2f}" for name, c in zip(names, order, strict=True))


def _word(pool: Pool, word_id: int) -> str:
    if pool.vocab is not None and 0 <= word_id < len(pool.vocab):
        return pool.vocab[word_id]
    return f"#{word_id}"


def _pool_tokens(pool: Pool) -> list[np.ndarray]:
    """Each text item's token ids without pads (pads trail), as views of one array."""
    real = pool.x != 0
    return np.split(pool.x[real], np.cumsum(real.sum(axis=1))[:-1])


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise AldenError(f"output must be one of {OUTPUTS}, got {output!r}")


# ---------------------------------------------------------------- baselines

@dataclass(frozen=True)
class RandomStrategy:
    """Uniformly random picks (score: the random priority each pick drew)."""

    name: ClassVar[str] = "random"
    data: ClassVar[str] = ANY

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """``n`` unlabeled items uniformly at random; never reads the learner."""
        unlabeled, n = _open_items(self, pool, n)
        priority = rng.random(len(unlabeled))
        order = top_k(priority, n)
        return Selection(unlabeled[order], priority[order], None)


def _uncertainty(strategy: Any, learner: Any, pool: Pool, n: int, score_fn, largest: bool,
                 label: str) -> Selection:
    unlabeled, n = _open_items(strategy, pool, n)
    proba = _finite(learner.predict_proba(pool.x[unlabeled]), "probabilities")
    scores = score_fn(proba)
    order = top_k(scores, n, largest=largest)
    reasons = tuple(f"{label} {scores[o]:.2f} ({_describe_proba(proba[o], pool.classes)})"
                    for o in order)
    return Selection(unlabeled[order], scores[order], reasons)


@dataclass(frozen=True)
class Entropy:
    """Largest predictive entropy first (score: entropy in nats)."""

    name: ClassVar[str] = "entropy"
    data: ClassVar[str] = ANY

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """The ``n`` unlabeled items the model is least sure of, by entropy."""
        return _uncertainty(self, learner, pool, n, entropy, True, "entropy")


@dataclass(frozen=True)
class Margin:
    """Smallest gap between the two likeliest classes first (score: that gap)."""

    name: ClassVar[str] = "margin"
    data: ClassVar[str] = ANY

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """The ``n`` unlabeled items with the smallest top-two probability margin."""
        return _uncertainty(self, learner, pool, n, margin, False, "margin")


@dataclass(frozen=True)
class LeastConfidence:
    """Lowest top-class probability first (score: 1 - max p)."""

    name: ClassVar[str] = "least_confidence"
    data: ClassVar[str] = ANY

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """The ``n`` unlabeled items whose likeliest class is least likely."""
        return _uncertainty(self, learner, pool, n, least_confidence, True,
                            "least confidence")


@dataclass(frozen=True)
class Bald:
    """BALD with MC dropout (score: mutual information in nats). ``samples`` dropout passes;
    20 as in Gal, Islam & Ghahramani (2017), the dropout BALD the ALDEN paper compares with."""

    samples: int = 20
    name: ClassVar[str] = "bald"
    data: ClassVar[str] = ANY

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int | np.integer) \
                or self.samples < 2:
            raise AldenError(f"bald: samples (MC dropout passes) must be an integer >= 2, "
                             f"got {self.samples!r}")

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """The ``n`` unlabeled items on which dropout samples disagree most."""
        unlabeled, n = _open_items(self, pool, n)
        seed = int(rng.integers(2**31 - 1))
        mc = _finite(learner.predict_proba_mc(pool.x[unlabeled], int(self.samples), seed),
                     "MC dropout probabilities")
        scores = bald(mc)
        order = top_k(scores, n)
        mean = mc.mean(axis=0)
        reasons = tuple(f"mutual information {scores[o]:.3f} over {self.samples} dropout "
                        f"samples (mean {_describe_proba(mean[o], pool.classes)})"
                        for o in order)
        return Selection(unlabeled[order], scores[order], reasons)


@dataclass(frozen=True)
class Coreset:
    """Greedy k-center on the last hidden layer (score: distance to the nearest labeled or
    already-picked item)."""

    name: ClassVar[str] = "coreset"
    data: ClassVar[str] = ANY

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """``n`` items covering the hidden-layer space, each farthest from the chosen ones."""
        _, n = _open_items(self, pool, n)
        features = _finite(learner.hidden(pool.x), "hidden representations")
        picks, dists = kcenter_greedy_picks(features, pool.labeled, n)
        reasons = tuple(f"hidden representation {d:.3g} away from the nearest labeled or "
                        "picked item" for d in dists)
        return Selection(picks, dists, reasons)


@dataclass(frozen=True)
class Badge:
    """k-means++ seeding on gradient embeddings (score: distance to the nearest earlier
    pick when drawn; the first pick: its embedding's norm)."""

    name: ClassVar[str] = "badge"
    data: ClassVar[str] = ANY

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """``n`` unlabeled items with large and diverse last-layer gradients."""
        unlabeled, n = _open_items(self, pool, n)
        if n == 0:
            return Selection((), (), ())
        emb = _finite(learner.badge_embeddings(pool.x[unlabeled]), "gradient embeddings")
        picks, dists = kmeans_pp(emb, n, rng)
        reasons = (f"largest gradient embedding (norm {dists[0]:.3g})",) + tuple(
            f"gradient embedding {d:.3g} away from the nearest earlier pick (k-means++ draw)"
            for d in dists[1:])
        return Selection(unlabeled[picks], dists, reasons)


@dataclass(frozen=True)
class EglWord:
    """EGL-Word: largest expected gradient length of a word embedding first (score: it)."""

    name: ClassVar[str] = "egl_word"
    data: ClassVar[str] = TEXT

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """The ``n`` unlabeled sentences whose strongest word would move the model most."""
        unlabeled, n = _open_items(self, pool, n)
        scores = _finite(learner.egl_word_scores(pool.x[unlabeled]), "EGL-Word scores")
        order = top_k(scores, n)
        reasons = tuple(f"expected gradient length {scores[o]:.3g} of its strongest word's "
                        "embedding" for o in order)
        return Selection(unlabeled[order], scores[order], reasons)


@dataclass(frozen=True)
class Egl:
    """Tabular EGL: largest expected gradient length with respect to the features first."""

    name: ClassVar[str] = "egl"
    data: ClassVar[str] = TABULAR

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """The ``n`` unlabeled rows whose label would move the model's input gradient most."""
        unlabeled, n = _open_items(self, pool, n)
        scores = _finite(learner.egl_input_scores(pool.x[unlabeled]), "EGL scores")
        order = top_k(scores, n)
        reasons = tuple(f"expected gradient length {scores[o]:.3g} with respect to its "
                        "features" for o in order)
        return Selection(unlabeled[order], scores[order], reasons)


# ---------------------------------------------------------------- the paper's strategies

@dataclass(frozen=True)
class Alden:
    """ALDEN: greedy picks by the most diverse word interpretation (score: Eq. 9's
    diversity). ``output``: interpretations of the logits (default) or the probabilities
    ("proba"). Logits by measurement: on Figure 1's data, k-means on logit Jacobians finds
    the four linear regions (ARI 0.72-0.90 over 5 seeds), on probability Jacobians it does
    not (ARI 0.04-0.06): a saturated softmax flattens the gradients. For selection the
    flattening helps: with TextCNN on Subj and MR, "proba" picks more of the sentences the
    model gets wrong and scored 0.4-1.0 points more normalised AUC over 3 seeds
    (docs/results.md)."""

    output: str = "logits"
    name: ClassVar[str] = "alden"
    data: ClassVar[str] = TEXT

    def __post_init__(self) -> None:
        _check_output(self.output)

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """``n`` sentences whose words are read most unlike the labeled ones (Eq. 6-10)."""
        _, n = _open_items(self, pool, n)
        if n == 0:
            return Selection((), (), ())
        if pool.labeled.size == 0:
            raise AldenError("alden needs a labeled seed set: it compares interpretations "
                             "with those of labeled words")
        interpretations = learner.token_interpretations(pool.x, output=self.output)
        embeddings = learner.word_embeddings()
        picks = alden_greedy_picks(_pool_tokens(pool), interpretations, embeddings,
                                   pool.labeled, n)
        return Selection([p.index for p in picks], [p.diversity for p in picks],
                         tuple(_alden_reason(pool, p) for p in picks))


def _alden_reason(pool: Pool, pick) -> str:
    if pick.position < 0:
        return "no words (picked once every item with words was more like the labeled ones)"
    word = _word(pool, pick.word)
    where = f'word "{word}" (position {pick.position + 1})'
    if pick.compared_word == pick.word:
        return (f"{where}: interpretation {pick.diversity:.3g} from the nearest labeled "
                f'"{word}"')
    return (f'{where}, in no labeled item: interpretation {pick.diversity:.3g} from '
            f'"{_word(pool, pick.compared_word)}", the nearest labeled word')


@dataclass(frozen=True)
class Dami:
    """DAMI: greedy k-center on the flattened input Jacobian of the MLP (score: distance to
    the nearest labeled or already-picked item). ``output``: "logits" (default, see
    :class:`Alden`) or "proba"."""

    output: str = "logits"
    name: ClassVar[str] = "dami"
    data: ClassVar[str] = TABULAR

    def __post_init__(self) -> None:
        _check_output(self.output)

    def select(self, learner: Any, pool: Pool, n: int, rng: np.random.Generator) -> Selection:
        """``n`` rows from the linear regions farthest from the labeled ones."""
        _, n = _open_items(self, pool, n)
        jacobian = _finite(learner.input_jacobian(pool.x, output=self.output),
                           "input Jacobians")
        picks, dists = kcenter_greedy_picks(jacobian, pool.labeled, n)
        reasons = tuple(f"interpretation {d:.3g} away from the nearest labeled or picked "
                        "item's" for d in dists)
        return Selection(picks, dists, reasons)


# ---------------------------------------------------------------- registry

STRATEGIES: dict[str, type] = {cls.name: cls for cls in (
    RandomStrategy, Entropy, Margin, LeastConfidence, Bald, Coreset, Badge, EglWord, Egl,
    Alden, Dami)}


def strategies_for(kind: str) -> list[str]:
    """Names of the strategies that work on a "text" or "tabular" pool."""
    if kind not in (TEXT, TABULAR):
        raise AldenError(f"kind must be 'text' or 'tabular', got {kind!r}")
    return [name for name, cls in STRATEGIES.items() if cls.data in (ANY, kind)]


def get_strategy(name: str, **options: Any) -> Any:
    """A strategy by registry name with its options, e.g. ``get_strategy("bald", samples=20)``.

    Options given as strings (from a command line) are converted to the option's type.
    """
    if name not in STRATEGIES:
        raise AldenError(f"unknown strategy {name!r}; choose one of: "
                         f"{', '.join(sorted(STRATEGIES))}")
    cls = STRATEGIES[name]
    valid = {f.name: f for f in fields(cls)}
    unknown = sorted(set(options) - set(valid))
    if unknown:
        have = ", ".join(sorted(valid)) or "none"
        raise AldenError(f"strategy {name!r} has no option {unknown[0]!r}; its options: {have}")
    converted = {}
    for key, value in options.items():
        default = valid[key].default
        kind = type(default)
        if isinstance(value, str) and kind in (int, float):
            try:
                value = kind(value)
            except ValueError:
                raise AldenError(f"strategy {name!r}: option {key!r} must be "
                                 f"{'an integer' if kind is int else 'a number'}, "
                                 f"got {value!r}") from None
        converted[key] = value
    return cls(**converted)


def parse_strategy(spec: str) -> tuple[str, dict[str, str]]:
    """Split a command line's strategy, ``name`` or ``name:key=value,key=value``, into the
    name and its options (strings; ``get_strategy`` converts them)."""
    name, colon, rest = spec.partition(":")
    options: dict[str, str] = {}
    for part in rest.split(",") if colon else []:
        key, eq, value = part.partition("=")
        if not eq or not key or not value or key in options:
            raise AldenError(f"strategy {spec!r}: expected name:key=value[,key=value...], "
                             f"each key once; {part!r} is not key=value")
        options[key] = value
    return name, options


def strategy_from_spec(spec: str) -> Any:
    """The strategy a command line names, options included, e.g. ``"alden:output=proba"``."""
    name, options = parse_strategy(spec)
    try:
        return get_strategy(name, **options)
    except AldenError as error:
        if str(error).startswith("strategy "):
            raise
        raise AldenError(f"strategy {spec!r}: {error}") from None


def canonical_strategy(spec: str) -> str:
    """One spelling per strategy: the name, then its non-default options sorted by key
    (``"bald:samples=20"``; ``"alden:output=logits"`` is ``"alden"``), so that results
    files never hold one strategy under two names."""
    return strategy_spec(strategy_from_spec(spec))


def strategy_spec(strategy: Any) -> str:
    """The canonical spelling (``canonical_strategy``) of a strategy object."""
    changed = [f"{f.name}={getattr(strategy, f.name)}" for f in sorted(fields(strategy),
                                                                        key=lambda f: f.name)
               if getattr(strategy, f.name) != f.default]
    return strategy.name + (":" + ",".join(changed) if changed else "")
