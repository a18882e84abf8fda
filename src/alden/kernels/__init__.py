"""Selection kernels: pure NumPy functions, arrays in, pool positions out (no torch here).

Each is tested against a brute-force reference written from its paper's equations.
"""

from alden.kernels.alden_greedy import (
    AldenPick,
    alden_greedy,
    alden_greedy_flat,
    alden_greedy_picks,
)
from alden.kernels.cluster_margin import cluster_margin
from alden.kernels.cold_start import BatchPicks, probcover, purity_delta, typiclust
from alden.kernels.kcenter import kcenter_greedy, kcenter_greedy_picks, kmeans_pp
from alden.kernels.neighbours import NeighbourIndex, build_index, knn, within
from alden.kernels.scores import bald, entropy, least_confidence, margin, top_k

__all__ = ["AldenPick", "alden_greedy", "alden_greedy_flat", "alden_greedy_picks", "bald",
           "entropy",
           "kcenter_greedy", "kcenter_greedy_picks", "kmeans_pp", "least_confidence",
           "margin", "top_k",
           "BatchPicks", "NeighbourIndex", "build_index", "cluster_margin", "knn", "probcover",
           "purity_delta", "typiclust", "within"]
