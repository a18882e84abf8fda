"""The encoding pass and the per-item scoring in shards on a local Ray cluster of 2 workers
(``alden.cluster``, ``alden.models.sharded``): the same floats as one process, a pass cut
short recomputes only its missing shards, a dead worker's task runs again, and `alden query
--ray-address` picks the batch it picks without. Ray starts once for the module."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the alden[ray] extra is not installed")
from files_util import write_csv  # noqa: E402
from test_learner import VOCAB, toy_cnn  # noqa: E402

from alden import cluster  # noqa: E402
from alden.cli import main  # noqa: E402
from alden.errors import DataError  # noqa: E402
from alden.models import encoder_cache, sharded  # noqa: E402
from alden.project import trained  # noqa: E402

pytestmark = pytest.mark.usefixtures("private_cache", "one_torch_thread")


@pytest.fixture(scope="module", autouse=True)
def two_workers():
    """One local Ray instance of 2 CPUs for the module; `--ray-address local` joins it."""
    if ray.is_initialized():
        pytest.skip("Ray is already running in this process")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def cnn():
    """A tiny TextCNN trained on toy sentences, its scoring batches of 16, and 300 items."""
    return toy_cnn(16)


def test_shards_follow_the_batches_and_cover_every_row():
    x = np.array([[1, 0, 0], [1, 2, 3], [4, 5, 0], [6, 0, 0], [7, 8, 9]])
    parts = sharded.shard_rows(x, batch_size=2, shard_batches=1)
    assert [p.tolist() for p in parts] == [[1, 4], [2, 0], [3]]  # longest first, ties by row
    features = np.ones((5, 2), dtype=np.float32)
    assert [p.tolist() for p in sharded.shard_rows(features, 2, 2)] == [[0, 1, 2, 3], [4]]


def test_scores_on_two_workers_equal_one_process(cnn):
    learner, x = cnn
    with cluster.switched_on():
        spread = sharded.sharded_learner(learner, shard_batches=2)  # 32 rows a shard
        assert isinstance(spread, sharded.ShardedLearner)
        got = {"proba": spread.predict_proba(x), "hidden": spread.hidden(x),
               "egl": spread.egl_word_scores(x)}
        interpretations = spread.token_interpretations(x)
        logits = spread.token_interpretations(x, "logits")
        flat = spread.token_interpretations_flat(x)
    assert spread.stats == {"computed": 6 * 10, "cached": 0}  # 6 passes of 10 shards
    for ours, theirs in zip(flat, learner.token_interpretations_flat(x), strict=True):
        np.testing.assert_array_equal(ours, theirs)  # values, offsets, probabilities
    np.testing.assert_array_equal(got["proba"], learner.predict_proba(x))
    np.testing.assert_array_equal(got["hidden"], learner.hidden(x))
    np.testing.assert_array_equal(got["egl"], learner.egl_word_scores(x))
    for ours, theirs in ((interpretations, learner.token_interpretations(x)),
                         (logits, learner.token_interpretations(x, "logits"))):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    assert not list((Path(os.environ["ALDEN_CACHE"]) / sharded.FOLDER).rglob("*.npy"))


def test_a_pass_cut_short_computes_only_its_missing_shards(cnn, monkeypatch):
    learner, x = cnn
    save, saved = sharded.ShardFiles.save, []

    def save_then_die(self, path, values):  # the driver is killed after its third shard
        save(self, path, values)
        saved.append(path)
        if len(saved) == 3:
            raise KeyboardInterrupt
    monkeypatch.setattr(sharded.ShardFiles, "save", save_then_die)
    with cluster.switched_on():
        with pytest.raises(KeyboardInterrupt):
            sharded.ShardedLearner(learner, 2).predict_proba(x)
        monkeypatch.setattr(sharded.ShardFiles, "save", save)
        again = sharded.ShardedLearner(learner, 2)
        proba = again.predict_proba(x)
    assert again.stats == {"computed": 7, "cached": 3}
    np.testing.assert_array_equal(proba, learner.predict_proba(x))
    assert not any(path.exists() for path in saved)  # a finished pass keeps nothing


def test_a_dead_workers_task_runs_again(tmp_path):
    marker = tmp_path / "died-once"

    def flaky(value):  # the first attempt kills its worker process
        if not marker.exists():
            marker.touch()
            os._exit(1)
        return value * 2
    with cluster.switched_on():
        got = dict(cluster.as_finished(flaky, [(i, (i,)) for i in range(4)]))
    assert got == {0: 0, 1: 2, 2: 4, 3: 6} and marker.exists()


def test_a_benchmark_run_on_ray_scores_in_shards_on_the_same_cluster(cnn):
    from alden.experiments.simulation import RunSpec
    from alden.experiments.workers import run_on_ray

    learner, x = cnn

    def run(spec, on_round=None):  # a run task: its scoring goes to the cluster in shards
        spread = sharded.sharded_learner(learner, shard_batches=2)
        return [{"proba": spread.predict_proba(x), "stats": getattr(spread, "stats", None)}], []
    [(_, (records, _))] = run_on_ray([RunSpec("toy", "cnn", "margin", 0)], run, "local",
                                     workers=1, threads=1)
    assert records[0]["stats"] == {"computed": 10, "cached": 0}
    np.testing.assert_array_equal(records[0]["proba"], learner.predict_proba(x))


def test_a_failing_shard_says_so(cnn):
    learner, x = cnn
    bad = x.copy()
    bad[-1, 0] = VOCAB + 5  # beyond the vocabulary: that shard's worker refuses it
    with cluster.switched_on(), pytest.raises(DataError, match="token ids must lie"):
        sharded.ShardedLearner(learner, 2).predict_proba(bad)


def _texts(n: int) -> list[str]:
    from test_encoder import SENTENCES

    words = " ".join(SENTENCES).split()
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, int(rng.integers(2, 12)))) for _ in range(n)]


def test_encoding_and_interpretations_through_an_encoder(tiny_encoder, tmp_path, monkeypatch):
    from alden.models.encoder import encode_texts, load_encoder
    from alden.models.encoder_learner import EncoderLearner

    encoder = load_encoder(tiny_encoder)
    x = encode_texts(encoder, _texts(90))
    monkeypatch.setattr(encoder_cache, "CHUNK_BATCHES", 1)  # chunks of 8: a dozen tasks
    alone = encoder_cache.cached_pooled(encoder, x, directory=tmp_path / "a", batch_size=8)
    with cluster.switched_on():
        spread = encoder_cache.cached_pooled(encoder, x, directory=tmp_path / "b", batch_size=8)
    np.testing.assert_array_equal(spread, alone)
    learner = EncoderLearner(tiny_encoder, n_classes=2, table=encoder_cache.PooledTable(x, alone))
    learner.fit(x[:20], np.arange(20) % 2, seed=0)
    with cluster.switched_on():
        spread_learner = sharded.ShardedLearner(learner, 1)  # 32 rows a shard
        ours = spread_learner.token_interpretations(x)
        proba = spread_learner.predict_proba(x)  # a frozen encoder's table: here
    assert spread_learner.stats["computed"] == 3
    # no flat pass of its own: the wrapper has none either, so ALDEN joins the per-item ones
    assert getattr(spread_learner, "token_interpretations_flat", None) is None
    for a, b in zip(ours, learner.token_interpretations(x), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(proba, learner.predict_proba(x))


def test_init_encodes_an_encoder_project_on_the_cluster(tiny_encoder, tmp_path, capsys,
                                                        monkeypatch):
    from alden.models.feature_store import FOLDER, summary

    monkeypatch.setattr(encoder_cache, "CHUNK_BATCHES", 1)  # 40 items: 2 chunks of 32
    real, calls = cluster.as_finished, []
    monkeypatch.setattr(cluster, "as_finished",
                        lambda fn, calls_, **kw: calls.append(fn) or real(fn, calls_, **kw))
    texts = _texts(40)
    data = write_csv(tmp_path / "docs.csv", ["text"], [[t] for t in texts])
    assert main(["init", str(tmp_path / "p"), "--data", str(data), "--model", tiny_encoder,
                 "--ray-address", "local"]) == 0
    assert "encoded 40 items on the Ray cluster" in capsys.readouterr().out
    stores = summary(Path(os.environ["ALDEN_CACHE"]) / FOLDER)
    assert [n for _, n, _ in stores] == [len(set(texts))]
    assert calls == [encoder_cache._encode_chunk]


def test_query_on_the_cluster_picks_the_same_batch(tmp_path, monkeypatch):
    from test_project_cli import answer, sentences

    monkeypatch.setattr(trained, "TRAIN", {"fixed_epochs": 3, "eval_batch_size": 8})
    monkeypatch.setattr(sharded, "SHARD_BATCHES", 1)  # 60 items: 8 shards of 8
    texts, labels = sentences(60)
    ids = [f"d{i:02d}" for i in range(60)]
    data = write_csv(tmp_path / "docs.csv", ["id", "text"], list(zip(ids, texts, strict=True)))
    folder = tmp_path / "p"
    assert main(["init", str(folder), "--data", str(data), "--id-column", "id",
                 "--classes", "neg,pos", "--embedding-dim", "8"]) == 0
    assert main(["query", str(folder), "--k", "10"]) == 0  # cold start
    batch = sorted((folder / "batches").glob("round-*.csv"))[-1]
    answered = answer(batch, dict(zip(ids, labels, strict=True)), tmp_path / "a.csv")
    assert main(["teach", str(folder), str(answered)]) == 0
    shutil.copytree(folder, tmp_path / "q")
    real, calls = cluster.as_finished, []

    def counted(fn, calls_, **kw):
        calls.append(fn)
        return real(fn, calls_, **kw)
    monkeypatch.setattr(cluster, "as_finished", counted)
    picked = {}
    for name, extra in (("p", []), ("q", ["--ray-address", "local"])):
        assert main(["query", str(tmp_path / name), "--k", "5", "--strategy", "alden",
                     *extra]) == 0
        batch = sorted((tmp_path / name / "batches").glob("round-*.csv"))[-1]
        picked[name] = list(csv.DictReader(open(batch, encoding="utf-8")))
    assert calls and set(calls) == {sharded.score_shard}  # only the second ran shards
    assert picked["p"] == picked["q"] and len(picked["p"]) == 5
