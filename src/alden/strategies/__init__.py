"""Query strategies: frozen dataclasses that feed a learner's outputs to the kernels.

``get_strategy(name, **options)`` or ``strategy_from_spec("alden:output=logits")`` gives one;
every strategy has ``select(learner, pool, n, rng) -> Selection``. The math lives in
``alden.kernels``; the learner methods each strategy reads are the Protocols of ``base``.
"""

from alden.strategies.base import (
    ANY,
    TABULAR,
    TEXT,
    Selection,
    Strategy,
    check_fits,
)
from alden.strategies.batch import Balanced, ClusterMargin
from alden.strategies.interpretation import Alden, Dami, Egl, EglWord
from alden.strategies.reasons import Reason, describe, stored_reason
from alden.strategies.registry import (
    STRATEGIES,
    canonical_strategy,
    get_strategy,
    parse_strategy,
    strategies_for,
    strategy_from_spec,
    strategy_spec,
    with_subpool,
)
from alden.strategies.representation import Badge, Coreset
from alden.strategies.subpool import Subpool
from alden.strategies.uncertainty import Bald, Entropy, LeastConfidence, Margin, RandomStrategy

__all__ = [
    "ANY", "TABULAR", "TEXT", "STRATEGIES", "Alden", "Badge", "Bald", "Balanced",
    "ClusterMargin", "Coreset", "Dami", "Egl",
    "EglWord", "Entropy", "LeastConfidence", "Margin", "RandomStrategy", "Reason",
    "Selection", "Strategy", "Subpool", "canonical_strategy", "check_fits", "describe",
    "get_strategy", "parse_strategy", "stored_reason", "strategies_for",
    "strategy_from_spec", "strategy_spec", "with_subpool",
]
