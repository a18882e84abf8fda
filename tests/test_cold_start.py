"""TypiClust, ProbCover and Cluster-Margin against brute force written from the papers, and
on inputs with a known answer."""

import math

import numpy as np
import pytest

from alden.errors import AldenError
from alden.kernels import cluster_margin, probcover, purity_delta, typiclust
from alden.kernels.cluster_margin import hac_clusters
from alden.kernels.cold_start import kmeans_labels, typical_picks, typicality


def dist_matrix(x):
    """Pairwise Euclidean distances of the float32 rows, pair by pair in float64."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    return np.array([[math.sqrt(float(np.sum((a - b) ** 2))) for b in x] for a in x])


def blobs(sizes, spread=0.1, seed=0, outlier=False):
    """Tight blobs around (0, 0), (10, 0), (0, 10), ...; the last row far away if outlier."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float)
    parts = [centres[i] + spread * rng.standard_normal((s, 2)) for i, s in enumerate(sizes)]
    if outlier:
        parts.append(np.array([[40.0, 40.0]]))
    return np.concatenate(parts), np.repeat(np.arange(len(sizes)), sizes)


# ---------------------------------------------------------------- TypiClust

def brute_typicality(x, clusters, kn):
    d = dist_matrix(x)
    out = np.zeros(len(x))
    for i in range(len(x)):
        others = sorted(d[i, j] for j in range(len(x)) if j != i and clusters[j] == clusters[i])
        if others:  # half the cluster at most, as the authors' code
            mean = np.mean(others[:min(kn, (len(others) + 1) // 2)])
            out[i] = np.inf if mean == 0 else 1 / mean
    return out


def brute_typical_picks(x, clusters, k, labeled, kn, min_size=0):
    """The paper's loop: the cluster with fewest labeled-or-picked points (ties: largest,
    then lower number), its most typical unpicked point (ties: smaller index); clusters of
    ``min_size`` points or fewer pooled as one and used last."""
    clusters = np.asarray(clusters)
    clusters = np.where(np.bincount(clusters)[clusters] <= min_size, -1, clusters)
    typ = brute_typicality(x, clusters, kn)
    count = {c: sum(clusters[i] == c for i in labeled) for c in set(clusters.tolist())}
    size = {c: int(np.sum(clusters == c)) for c in count}
    taken = set(labeled)
    picks = []
    while len(picks) < k:
        open_ = [c for c in count if any(clusters[i] == c and i not in taken
                                         for i in range(len(x)))]
        c = min(open_, key=lambda c: (c < 0, count[c], -size[c], c))
        members = [i for i in range(len(x)) if clusters[i] == c and i not in taken]
        best = min(members, key=lambda i: (-typ[i], i))
        picks.append(best)
        taken.add(best)
        count[c] += 1
    return picks


@pytest.mark.parametrize("seed", range(4))
def test_typicality_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    clusters = rng.integers(0, 4, size=40)
    np.testing.assert_allclose(typicality(x, clusters, 5), brute_typicality(x, clusters, 5))


@pytest.mark.parametrize("seed", range(4))
def test_typical_picks_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((45, 4)).astype(np.float32)
    clusters = rng.integers(0, 6, size=45)
    labeled = sorted(rng.choice(45, size=seed * 2, replace=False).tolist())
    got = typical_picks(x, clusters, 15, labeled=labeled, neighbours=4)
    assert got.indices.tolist() == brute_typical_picks(x, clusters, 15, labeled, 4)
    sizes = np.bincount(clusters, minlength=6)
    np.testing.assert_array_equal(got.values, sizes[got.groups])
    np.testing.assert_array_equal(got.groups, clusters[got.indices])


def test_typiclust_is_kmeans_then_typical_picks():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((60, 5))
    got = typiclust(x, 7, np.random.default_rng(9), labeled=[3, 4], neighbours=5)
    clusters = kmeans_labels(np.asarray(x, np.float32), 9, np.random.default_rng(9))
    assert got.indices.tolist() == brute_typical_picks(x, clusters, 7, [3, 4], 5, min_size=5)
    got = typiclust(x, 7, np.random.default_rng(9), labeled=[3, 4], neighbours=5,
                    min_cluster_size=0)
    assert got.indices.tolist() == brute_typical_picks(x, clusters, 7, [3, 4], 5)


def test_typiclust_skips_small_clusters_until_nothing_else_is_left():
    x, blob = blobs([30, 20, 3], spread=0.5)  # three clusters, the last of 3 points
    got = typiclust(x, 3, np.random.default_rng(0))
    assert sorted(blob[got.indices].tolist()) == [0, 0, 1]  # the small blob skipped
    everything = typiclust(x, len(x), np.random.default_rng(0))
    assert blob[everything.indices[-3:]].tolist() == [2, 2, 2]  # used last
    kept = typiclust(x, 3, np.random.default_rng(0), min_cluster_size=2)
    assert sorted(blob[kept.indices].tolist()) == [0, 1, 2]


def test_typiclust_caps_the_clusters():
    x, blob = blobs([20, 20, 20, 20], spread=0.5)
    got = typiclust(x, 8, np.random.default_rng(0), max_clusters=4)
    assert sorted(blob[got.indices].tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_typiclust_takes_the_centre_of_each_blob_largest_first():
    x, blob = blobs([50, 30, 10], spread=0.5)
    got = typiclust(x, 3, np.random.default_rng(0))
    assert blob[got.indices].tolist() == [0, 1, 2]
    assert got.values.tolist() == [50, 30, 10]
    for i, b in zip(got.indices, blob[got.indices], strict=True):
        members = np.flatnonzero(blob == b)
        typ = brute_typicality(x[members], np.zeros(len(members)), 20)
        assert i == members[np.argmax(typ)]  # the most typical member
        centre = x[members].mean(axis=0)
        spread = np.linalg.norm(x[members] - centre, axis=1)
        assert np.linalg.norm(x[i] - centre) < np.median(spread)  # and a central one


def test_typiclust_skips_covered_blobs_and_outliers():
    x, blob = blobs([40, 30, 20], spread=0.5, outlier=True)
    first = typiclust(x, 1, np.random.default_rng(0))
    assert first.indices[0] != len(x) - 1 and blob[first.indices[0]] == 0
    labeled = np.flatnonzero(blob == 0)[:3]
    got = typiclust(x, 2, np.random.default_rng(0), labeled=labeled)
    assert sorted(blob[got.indices].tolist()) == [1, 2]


def test_typiclust_with_duplicates_and_more_clusters_than_distinct_rows():
    x = np.repeat(np.random.default_rng(1).standard_normal((5, 3)), 4, axis=0)
    got = typiclust(x, 12, np.random.default_rng(0), min_cluster_size=0)
    assert len(set(got.indices.tolist())) == 12
    assert len({tuple(r) for r in x[got.indices[:5]]}) == 5  # every distinct row first


# ---------------------------------------------------------------- ProbCover

def brute_purity_delta(x, clusters, alpha):
    d = dist_matrix(x)
    best = 0.0
    for delta in sorted(set(d.ravel().tolist()) | {np.inf}):
        pure = [all(clusters[j] == clusters[i] for j in range(len(x)) if d[i, j] < delta)
                for i in range(len(x))]
        if np.mean(pure) >= alpha:
            best = delta
    return best


def brute_probcover(x, k, delta, labeled, rng):
    """The paper's algorithm on the whole graph: edges d < delta; drop edges into points a
    labeled point covers; take the largest out-degree (ties: smaller index); drop the edges
    into what it covers; when no edges are left, draw at random."""
    edges = dist_matrix(x) < delta
    covered = edges[labeled].any(axis=0) if len(labeled) else np.zeros(len(x), bool)
    free = np.ones(len(x), bool)
    free[labeled] = False
    picks, values = [], []
    for _ in range(k):
        degree = (edges & ~covered[None, :]).sum(axis=1)
        degree[~free] = -1
        i = int(np.argmax(degree))
        if degree[i] <= 0:
            i = int(rng.choice(np.flatnonzero(free)))
        picks.append(i)
        values.append(max(int(degree[i]), 0))
        free[i] = False
        covered |= edges[i]
    return picks, values


@pytest.mark.parametrize("seed", range(4))
def test_purity_delta_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((30, 3)).astype(np.float32)
    clusters = (x[:, 0] > 0).astype(int)  # two halves: pure balls exist
    for alpha in (0.5, 0.8, 0.95):
        assert purity_delta(x, clusters, alpha) == brute_purity_delta(x, clusters, alpha)


@pytest.mark.parametrize("seed", range(4))
def test_probcover_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((50, 3)).astype(np.float32)
    labeled = sorted(rng.choice(50, size=seed, replace=False).tolist())
    delta = float(np.median(dist_matrix(x))) / 2
    got = probcover(x, 20, delta, rng=np.random.default_rng(7), labeled=labeled)
    picks, values = brute_probcover(x, 20, delta, labeled, np.random.default_rng(7))
    assert got.indices.tolist() == picks
    assert got.values.tolist() == values


def test_probcover_on_the_purity_radius_matches_brute_force():
    # delta is then an exact pair distance: balls at their boundary must agree too
    rng = np.random.default_rng(11)
    x = rng.standard_normal((40, 2)).astype(np.float32)
    clusters = (x[:, 1] > 0).astype(int)
    delta = purity_delta(x, clusters, 0.9)
    got = probcover(x, 12, delta, rng=np.random.default_rng(2))
    assert got.indices.tolist() == brute_probcover(x, 12, delta, [], np.random.default_rng(2))[0]


def test_probcover_covers_blobs_largest_first_and_the_outlier_last():
    x, blob = blobs([50, 30, 10], outlier=True)
    got = probcover(x, 4, 3.0, rng=np.random.default_rng(0))
    assert blob[got.indices[:3]].tolist() == [0, 1, 2]
    assert got.values.tolist() == [50, 30, 10, 1]
    assert got.indices[3] == len(x) - 1
    chosen = probcover(x, 3, rng=np.random.default_rng(0), classes=3)  # delta by purity
    assert len(x) - 1 not in chosen.indices[:1]


def test_probcover_leaves_what_labeled_items_cover():
    x, blob = blobs([50, 30, 10])
    got = probcover(x, 2, 3.0, rng=np.random.default_rng(0), labeled=[0])
    assert blob[got.indices].tolist() == [1, 2]


def test_probcover_with_duplicates_and_everything_covered():
    x = np.repeat(np.eye(3), 5, axis=0)
    got = probcover(x, 6, 0.5, rng=np.random.default_rng(0))
    assert got.values.tolist()[:3] == [5, 5, 5] and got.values.tolist()[3:] == [0, 0, 0]
    assert len(set(got.indices.tolist())) == 6


# ---------------------------------------------------------------- Cluster-Margin

def brute_hac(x, n_clusters=None, threshold=None):
    """Average linkage from the definition: merge the two clusters of smallest mean
    pairwise distance until n_clusters remain (or the smallest exceeds threshold)."""
    d = dist_matrix(x)
    groups = [[i] for i in range(len(x))]
    while len(groups) > 1:
        pairs = [(np.mean([d[i, j] for i in a for j in b]), ia, ib)
                 for ia, a in enumerate(groups) for ib, b in enumerate(groups) if ia < ib]
        link, ia, ib = min(pairs)
        if (n_clusters is not None and len(groups) <= n_clusters) or (
                threshold is not None and link > threshold):
            break
        groups[ia] = groups[ia] + groups[ib]
        del groups[ib]
    return groups


def brute_cluster_margin(x, margins, k, candidates, n_clusters=None, threshold=None):
    order = sorted(range(len(x)), key=lambda i: (margins[i], i))[:candidates]
    chosen = sorted(order)
    groups = [[chosen[i] for i in g] for g in brute_hac(x[chosen], n_clusters, threshold)]
    groups = [sorted(g, key=lambda i: (margins[i], i)) for g in groups]
    groups.sort(key=lambda g: (len(g), g[0]))
    picks, turn = [], 0
    while len(picks) < k:
        picks += [g[turn] for g in groups if turn < len(g)][:k - len(picks)]
        turn += 1
    return picks


@pytest.mark.parametrize("seed", range(4))
def test_cluster_margin_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    margins = rng.random(40)
    got = cluster_margin(x, margins, 8, candidates=20, clusters=5)
    assert got.indices.tolist() == brute_cluster_margin(x, margins, 8, 20, n_clusters=5)
    np.testing.assert_array_equal(got.values, margins[got.indices])
    got = cluster_margin(x, margins, 6, candidates=15, threshold=1.5)
    assert got.indices.tolist() == brute_cluster_margin(x, margins, 6, 15, threshold=1.5)


def test_hac_clusters_match_brute_force():
    x = np.random.default_rng(3).standard_normal((25, 2)).astype(np.float32)
    for n in (1, 4, 25):
        labels = hac_clusters(x, clusters=n)
        want = brute_hac(x, n_clusters=n)
        assert sorted(sorted(np.flatnonzero(labels == c).tolist()) for c in set(labels)) == \
            sorted(sorted(g) for g in want)


def test_cluster_margin_spreads_a_batch_over_near_duplicates():
    rng = np.random.default_rng(0)
    x, blob = blobs([6, 6, 20], spread=0.01)
    margins = np.where(blob == 0, 0.01, np.where(blob == 1, 0.02, 0.5)) + 1e-4 * rng.random(32)
    plain = np.argsort(margins)[:3]  # margin alone: three near-duplicates from blob 0
    assert set(blob[plain].tolist()) == {0}
    got = cluster_margin(x, margins, 2, candidates=12)
    assert sorted(blob[got.indices].tolist()) == [0, 1]
    for i, b in zip(got.indices, blob[got.indices], strict=True):  # lowest margin of each
        assert margins[i] == margins[blob == b].min()


def test_cluster_margin_leaves_labeled_items_out():
    rng = np.random.default_rng(2)
    x, margins = rng.standard_normal((30, 2)), rng.random(30)
    best = int(np.argmin(margins))
    got = cluster_margin(x, margins, 5, labeled=[best])
    assert best not in got.indices and len(set(got.indices.tolist())) == 5


# ---------------------------------------------------------------- shared contract

def run(method, x, k, seed, **kw):
    if method == "typiclust":
        return typiclust(x, k, np.random.default_rng(seed), **kw)
    if method == "probcover":
        return probcover(x, k, rng=np.random.default_rng(seed), **kw)
    margins = np.linspace(0, 1, len(x))[::-1].copy()
    return cluster_margin(x, margins, k, np.random.default_rng(seed), **kw)


METHODS = ["typiclust", "probcover", "cluster_margin"]


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_picks(method):
    x = np.random.default_rng(4).standard_normal((80, 6))
    a, b = run(method, x, 10, 3), run(method, x, 10, 3)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize("method", METHODS)
def test_k_zero_too_large_and_all(method):
    x = np.random.default_rng(5).standard_normal((12, 3))
    assert len(run(method, x, 0, 0)) == 0
    with pytest.raises(AldenError, match="only 12"):
        run(method, x, 13, 0)
    with pytest.raises(AldenError, match="only 10"):
        run(method, x, 11, 0, labeled=[0, 1])
    everything = run(method, x, 12, 0)
    assert sorted(everything.indices.tolist()) == list(range(12))


@pytest.mark.parametrize("method", METHODS)
def test_duplicates_give_distinct_picks(method):
    x = np.repeat(np.random.default_rng(6).standard_normal((4, 3)), 5, axis=0)
    got = run(method, x, 15, 0, labeled=[0, 7])
    assert len(set(got.indices.tolist())) == 15 and not {0, 7} & set(got.indices.tolist())


@pytest.mark.parametrize("method", METHODS)
def test_cosine_is_euclidean_on_unit_rows(method):
    x = np.random.default_rng(7).standard_normal((50, 4))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    a = run(method, x * np.random.default_rng(8).uniform(1, 5, (50, 1)), 6, 1, metric="cosine")
    b = run(method, unit, 6, 1)
    np.testing.assert_array_equal(a.indices, b.indices)


# ---------------------------------------------------------------- cold starts by name

@pytest.mark.parametrize("name", ["random", "kcenter", "typiclust", "probcover"])
def test_cold_start_picks_unlabeled_rows_with_a_reason(name):
    from alden.strategies import describe
    from alden.strategies.cold_start import cold_start

    x, _ = blobs([30, 20, 10], spread=0.5)
    labeled = [0, 1, 30]
    got = cold_start(name, x, 8, np.random.default_rng(0), labeled=labeled)
    assert len(set(got.indices)) == 8 and not set(got.indices) & set(labeled)
    kinds = {"random": "random_start", "kcenter": "cold_start"}
    assert {r.kind for r in got.reasons} == {kinds.get(name, name)}
    text = describe(got.reasons[0], item="sentence")
    if name == "typiclust":
        assert text == f"typical of a group of {int(got.scores[0])} similar sentences no one " \
                       "has labeled"
    if name == "random":
        assert text == "drawn at random to start: no labels yet"
    again = cold_start(name, x, 8, np.random.default_rng(0), labeled=labeled)
    assert again == got


def test_random_cold_start_is_the_top_priorities_of_the_unlabeled():
    from alden.strategies.cold_start import cold_start

    x = np.zeros((10, 2))
    got = cold_start("random", x, 3, np.random.default_rng(4), labeled=[2, 5])
    free = np.array([0, 1, 3, 4, 6, 7, 8, 9])
    priority = np.random.default_rng(4).random(len(free))
    assert list(got.indices) == free[np.argsort(-priority, kind="stable")[:3]].tolist()


def test_unknown_cold_start_is_refused():
    from alden.strategies.cold_start import check_cold_start, cold_start

    with pytest.raises(AldenError, match="unknown cold start 'nearest'"):
        check_cold_start("nearest")
    with pytest.raises(AldenError, match="unknown cold start"):
        cold_start("nearest", np.zeros((3, 2)), 1, np.random.default_rng(0))


def test_the_cold_start_is_part_of_a_runs_identity_only_when_set():
    from alden.experiments.simulation import Protocol

    assert "cold_start" not in Protocol().as_dict()
    assert Protocol().options_hash != Protocol(cold_start="random").options_hash
    assert Protocol(cold_start="random").options_hash != \
        Protocol(cold_start="typiclust").options_hash


def test_a_projects_default_cold_start_follows_the_measurements():
    from alden.strategies.cold_start import default_cold_start

    assert default_cold_start("text", word_pieces=False) == "typiclust"  # word2vec means
    assert default_cold_start("text", word_pieces=True) == "random"  # an encoder's
    assert default_cold_start("tabular", word_pieces=False) == "random"
