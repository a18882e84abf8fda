"""Selection kernels: pure NumPy functions, arrays in, pool positions out (no torch here).

Each is tested against a brute-force reference written from its paper's equations.
"""

from alden.kernels.alden_greedy import AldenPick, alden_greedy, alden_greedy_picks
from alden.kernels.kcenter import kcenter_greedy, kcenter_greedy_picks, kmeans_pp
from alden.kernels.scores import bald, entropy, least_confidence, margin, top_k

__all__ = ["AldenPick", "alden_greedy", "alden_greedy_picks", "bald", "entropy",
           "kcenter_greedy", "kcenter_greedy_picks", "kmeans_pp", "least_confidence",
           "margin", "top_k"]
