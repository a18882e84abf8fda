"""Every random stream of alden: what each one seeds, and the one function that makes it.

Every random choice derives from the user's ``seed`` and a path of small integers through
NumPy's ``SeedSequence``: a generator is ``np.random.default_rng([seed, *path])``, a torch
seed is ``derive_seed(seed, *path)`` (32 bits of the same SeedSequence). Library code never
uses global ``np.random`` or ``random``; each use below calls its function here.

==========================  ============================  ==========================================
function                    path                          what it seeds
==========================  ============================  ==========================================
``split_rng(seed)``         ``[seed]``                    the train/validation/test split
                                                          (``data.prepare.split_indices``)
``embedding_rng(seed)``     ``[seed]``                    the random rows of the embedding matrix
                                                          (words word2vec has no vector for)
``seed_set_rng(seed)``      ``[seed, 0]``                 simulation: the seed set (one draw seeds
                                                          scikit-learn's stratified split)
``strategy_rng(seed)``      ``[seed, 1]``                 simulation: every draw of the strategy in
                                                          the whole run (BALD's MC-dropout torch
                                                          seeds are drawn from it)
``criteria_rng(seed)``      ``[seed, 2]``                 simulation: the stopping criteria's stop
                                                          set and check set
``fit_seed(seed, r)``       ``[seed, r]``                 the model trained on the labels of rounds
                                                          0..r, simulation and project alike: its
                                                          torch seed, and ``default_rng(fit_seed)``
                                                          orders its batches
``fit_seed(seed, r, f)``    ``[seed, r, 1 + f]``          project: cross-validation fold f on them
``round_rng(seed, r)``      ``[seed, r]``                 project: the strategy of round r (r >= 1;
                                                          a project lives across processes, so one
                                                          generator per round)
``check_draw_rng(seed, n)`` ``[seed, CHECK_DRAW, 1 + n]`` project: the items ``alden check`` adds to
                                                          a check set that holds n
``stop_set_rng(seed)``      ``[seed, STOP_SET]``          project: its fixed stop set
``cold_start_rng(seed, r)`` ``[seed, COLD_START, 1 + r]`` a first batch chosen without labels
                                                          (``strategies.cold_start``): a
                                                          simulated run's (``--cold-start``,
                                                          r = 0) or a project's round r
``pairs_rng(fit)``          ``[fit, PAIRS]``              the sentence pairs a ``+setfit`` model
                                                          fine-tunes on (``fit``: its fit seed)
``pseudo_pairs_rng(fit)``   ``[fit, PSEUDO_PAIRS]``       the pairs of its second fine-tune when it
                                                          self-trains (labels and pseudo-labels)
==========================  ============================  ==========================================

Seeded outside SeedSequence, each by its own generator: word2vec (gensim, ``seed`` itself),
a project's cross-validation folds (scikit-learn's ``StratifiedKFold(random_state=seed)``),
and the Figure 1 experiment (``default_rng(seed)``, ``KMeans(random_state=seed)``).

Rules for a new path. SeedSequence pads a short path with zeros, so a path ending in 0 is the
path without it (``[seed, 0]`` is ``[seed]``, ``[seed, r, 0]`` is ``[seed, r]``): counts that
can be 0 enter as ``1 + n``. An entry of 2**32 or more is split into 32-bit words (it would
alias a longer path): tags stay below 2**32. Rounds never come near ``TAG_BASE`` (2**31), so a
tag there is safe from every ``[seed, r, ...]``.

Shared, and kept so: the committed benchmark grid was made with the simulation's paths and
the data's, and changing any changes its results.

- ``split_rng``, ``embedding_rng`` and ``seed_set_rng`` are one stream (``[seed]`` is
  ``[seed, 0]``); the split permutes each class, the matrix draws uniform rows, the seed set
  draws one integer.
- ``fit_seed(seed, r)`` is 32 bits of the SeedSequence that ``seed_set_rng`` (r = 0),
  ``strategy_rng`` (1), ``criteria_rng`` (2) and ``round_rng`` (r) start from; the learner
  hashes it again (``default_rng(fit_seed)``, torch's ``manual_seed``), so its draws are not
  theirs.
- ``seed_set_rng`` and ``strategy_rng`` have the paths of ``round_rng(seed, 0)`` and
  ``round_rng(seed, 1)``: a simulated run and a project never share a run.
"""

from __future__ import annotations

import numpy as np

TAG_BASE = 2**31  # far above any round number, below 2**32 (one SeedSequence word)
CHECK_DRAW = TAG_BASE + 1
STOP_SET = TAG_BASE + 2
COLD_START = TAG_BASE + 3
PAIRS = TAG_BASE + 4
PSEUDO_PAIRS = TAG_BASE + 5


def derive_seed(seed: int, *path: int) -> int:
    """A 32-bit seed from ``seed`` and ``path`` (NumPy's SeedSequence): independent streams
    for different paths, the same number for the same ones."""
    return int(np.random.SeedSequence([int(seed), *map(int, path)]).generate_state(1)[0])


def _rng(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *map(int, path)])


def fit_seed(seed: int, round_: int, fold: int | None = None) -> int:
    """The torch seed of the model trained on the labels of rounds 0..``round_``
    (or of cross-validation fold ``fold`` on them); never the strategy, so every strategy's
    model of round r starts from the same weights."""
    return derive_seed(seed, round_) if fold is None else derive_seed(seed, round_, 1 + fold)


def split_rng(seed: int) -> np.random.Generator:
    """The train/validation/test split's generator."""
    return np.random.default_rng(int(seed))


def embedding_rng(seed: int) -> np.random.Generator:
    """The generator of the embedding matrix's random rows (the split's stream, kept)."""
    return np.random.default_rng(int(seed))


def seed_set_rng(seed: int) -> np.random.Generator:
    """A simulated run's seed set."""
    return _rng(seed, 0)


def strategy_rng(seed: int) -> np.random.Generator:
    """The one generator a simulated run's strategy draws from, every round."""
    return _rng(seed, 1)


def criteria_rng(seed: int) -> np.random.Generator:
    """A simulated run's stop set and check set for the stopping criteria."""
    return _rng(seed, 2)


def round_rng(seed: int, round_: int) -> np.random.Generator:
    """The generator a project's strategy draws from in round ``round_``."""
    return _rng(seed, round_)


def check_draw_rng(seed: int, n_checked: int) -> np.random.Generator:
    """The generator of the items added to a project's check set that holds ``n_checked``."""
    return _rng(seed, CHECK_DRAW, 1 + n_checked)


def stop_set_rng(seed: int) -> np.random.Generator:
    """The generator of a project's fixed stop set."""
    return _rng(seed, STOP_SET)


def cold_start_rng(seed: int, round_: int = 0) -> np.random.Generator:
    """The generator of a batch chosen without labels: a simulated run's first batch
    (``--cold-start``, round 0) or a project's cold-start round ``round_``."""
    return _rng(seed, COLD_START, 1 + round_)


def pairs_rng(fit: int) -> np.random.Generator:
    """The generator of the labeled pairs a ``+setfit`` model fine-tunes on; ``fit`` is that
    fit's seed (``fit_seed``), so the same labels and round give the same pairs."""
    return _rng(fit, PAIRS)


def pseudo_pairs_rng(fit: int) -> np.random.Generator:
    """The generator of the pairs a self-training ``+setfit`` model fine-tunes on the second
    time, over its labels and pseudo-labels; ``fit`` is that fit's seed."""
    return _rng(fit, PSEUDO_PAIRS)
