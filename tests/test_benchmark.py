"""The experiment runner: schedule, one run's loop (on fakes), the results file, resume,
workers, and end-to-end runs of `alden benchmark` on a small real data set."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import pytest

from alden.cli import main
from alden.data.pool import Pool
from alden.errors import AldenError, DataError
from alden.experiments import benchmark as bm
from alden.experiments import run_files, simulation
from alden.experiments.run_files import INVOCATIONS, OPTIONS, RESULTS, TIMINGS
from alden.experiments.simulation import Protocol, label_schedule

# ----------------------------------------------------------------------------- schedule


def test_default_schedule_is_the_papers_25_rounds():
    counts = label_schedule(6000, 0.02, 0.02, 0.5)
    assert len(counts) == 25
    assert counts == [120 * (r + 1) for r in range(25)]


@pytest.mark.parametrize("pool_size", [97, 1000, 6397])
@pytest.mark.parametrize("init,step,stop", [(0.02, 0.02, 0.5), (0.05, 0.1, 0.33), (0.1, 0.5, 0.1)])
def test_schedule_follows_the_stated_rounding(pool_size, init, step, stop):
    counts = label_schedule(pool_size, init, step, stop)
    expected, r = [], 0
    while True:  # the rule written out the slow way
        fraction = init + r * step
        if fraction > stop + 1e-9:
            if expected and expected[-1] != round(stop * pool_size):
                expected.append(round(stop * pool_size))
            break
        expected.append(round(fraction * pool_size))
        r += 1
    assert counts == expected
    assert counts[-1] == round(stop * pool_size)


@pytest.mark.parametrize("args", [(100, 0.0, 0.02, 0.5), (100, 0.02, 0.0, 0.5),
                                  (100, 0.5, 0.02, 0.2), (100, 0.02, 0.001, 0.5),
                                  (10, 0.02, 0.1, 0.5)])
def test_schedule_rejects_impossible_fractions(args):
    with pytest.raises(AldenError):
        label_schedule(*args)


def test_options_hash_changes_with_any_option():
    base = Protocol()
    variants = [Protocol(init=0.04), Protocol(step=0.01), Protocol(stop=0.3),
                Protocol(split=(0.5, 0.25, 0.25)), Protocol(train=(("max_epochs", 5),))]
    hashes = {p.options_hash for p in variants} | {base.options_hash}
    assert len(hashes) == len(variants) + 1
    assert Protocol().options_hash == base.options_hash


# ----------------------------------------------------------------------------- the loop on fakes


class NearestCentroid:
    """A tiny learner: class centroids, softmax over negative distances; records fit seeds."""

    def __init__(self, log: list | None = None, delay: float = 0.0):
        self.log, self.delay = log, delay

    def fit(self, x, y, x_val=None, y_val=None, *, seed):
        if self.log is not None:
            self.log.append((seed, tuple(np.sort(y)), len(x_val)))
        self.centroids = np.stack([x[y == c].mean(axis=0) for c in (0, 1)])
        return self

    def predict_proba(self, x):
        time.sleep(self.delay)
        d = -((x[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class RandomPick:
    def select(self, learner, pool, n, rng):
        return _Selection(rng.choice(pool.unlabeled, size=n, replace=False))


@dataclass(frozen=True)
class LeastConfident:
    def select(self, learner, pool, n, rng):
        unlabeled = pool.unlabeled
        confidence = learner.predict_proba(pool.x[unlabeled]).max(axis=1)
        return _Selection(unlabeled[np.argsort(confidence, kind="stable")[:n]])


@dataclass(frozen=True)
class Broken:
    def select(self, learner, pool, n, rng):
        return _Selection(np.repeat(pool.unlabeled[:1], n))


@dataclass(frozen=True)
class _Selection:
    indices: np.ndarray


def _toy(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.normal(size=(n, 2)) + 1.5 * y[:, None]).astype(np.float32)
    return x, y


def _seed_set(pool, fraction, rng):
    return np.sort(rng.choice(len(pool), size=round(fraction * len(pool)), replace=False))


def _simulate(strategy, log=None, seed=0, learner_delay=0.0):
    x, y = _toy()
    pool = Pool.from_arrays(x[:120], y[:120], ("a", "b"))
    counts = label_schedule(len(pool), 0.1, 0.1, 0.5)
    rows = simulation.simulate(pool, lambda: NearestCentroid(log, learner_delay), strategy, counts,
                       (x[120:160], y[120:160]), (x[160:], y[160:]), seed, _seed_set)
    return pool, counts, rows


def test_loop_labels_the_scheduled_counts_and_records_each_round():
    pool, counts, rows = _simulate(LeastConfident())
    assert [r["labeled"] for r in rows] == counts == [12, 24, 36, 48, 60]
    assert [r["round"] for r in rows] == list(range(5))
    assert [(pool.labeled_in == r).sum() for r in range(5)] == [12, 12, 12, 12, 12]
    assert rows[-1]["score_seconds"] == rows[-1]["select_seconds"] == 0  # no query at the end


def test_every_strategy_gets_the_same_seed_set_and_model_seeds():
    log_random, log_uncertain = [], []
    pool_r, _, rows_r = _simulate(RandomPick(), log_random, seed=4)
    pool_u, _, rows_u = _simulate(LeastConfident(), log_uncertain, seed=4)
    assert np.array_equal(np.flatnonzero(pool_r.labeled_in == 0),
                          np.flatnonzero(pool_u.labeled_in == 0))
    assert [s for s, _, _ in log_random] == [s for s, _, _ in log_uncertain]
    assert log_random[0] == log_uncertain[0]  # same seed set, same labels, same round-0 fit
    assert rows_r[0]["accuracy"] == rows_u[0]["accuracy"]
    assert not np.array_equal(pool_r.labeled_in, pool_u.labeled_in)  # then they differ
    _, _, rows_other_seed = _simulate(RandomPick(), [], seed=5)
    assert [r["accuracy"] for r in rows_other_seed] != [r["accuracy"] for r in rows_r]


def test_loop_is_repeatable():
    a = _simulate(RandomPick(), seed=2)
    b = _simulate(RandomPick(), seed=2)
    assert np.array_equal(a[0].labeled_in, b[0].labeled_in)
    assert [r["accuracy"] for r in a[2]] == [r["accuracy"] for r in b[2]]


class ValidatingLearner(NearestCentroid):
    """Takes 30 ms to fit, 10 ms of which it reports as validation, as Learner.history does."""

    def fit(self, x, y, x_val=None, y_val=None, *, seed):
        time.sleep(0.03)
        self.history = [{"epoch": 1}, {"epoch": 2, "val_seconds": 0.01}]
        return super().fit(x, y, x_val, y_val, seed=seed)


def test_validation_seconds_come_from_the_learners_history():
    x, y = _toy()
    pool = Pool.from_arrays(x[:120], y[:120], ("a", "b"))
    rows = simulation.simulate(pool, ValidatingLearner, RandomPick(), [12, 24],
                       (x[120:160], y[120:160]), (x[160:], y[160:]), 0, _seed_set)
    assert all(r["val_seconds"] == 0.01 for r in rows)
    assert all(0.02 <= r["train_seconds"] for r in rows)


def test_a_strategy_picking_duplicates_is_an_error():
    with pytest.raises(AldenError, match="duplicate"):
        _simulate(Broken())


def test_scoring_time_is_the_time_spent_in_the_learner():
    _, _, rows = _simulate(LeastConfident(), learner_delay=0.02)
    query = rows[0]
    assert query["score_seconds"] >= 0.02  # predict_proba on the pool, inside select
    assert query["select_seconds"] < query["score_seconds"]
    _, _, rows = _simulate(RandomPick(), learner_delay=0.02)
    assert rows[0]["score_seconds"] == 0.0  # random never asks the learner


# ----------------------------------------------------------------------------- the files


def fake_run(spec, on_round=None):
    """A deterministic stand-in for run_one: accuracies from a hash of the run and round."""
    counts = label_schedule(100, spec.protocol.init, spec.protocol.step, spec.protocol.stop)
    rows = []
    for r, labeled in enumerate(counts):
        digest = hashlib.sha256(repr((spec.key, r)).encode()).digest()
        rows.append({"round": r, "labeled": labeled, "accuracy": digest[0] / 255,
                     "train_seconds": time.perf_counter() % 1, "test_seconds": 0.0,
                     "score_seconds": 0.0, "select_seconds": 0.0})
        if on_round:
            on_round(r)
    if os.environ.get("FAKE_RUN_SLEEP"):
        time.sleep(float(os.environ["FAKE_RUN_SLEEP"]))
    return simulation.make_records(spec, rows, 100)


CALLS: list = []


def counting_run(spec, on_round=None):
    CALLS.append(spec.key)
    return fake_run(spec, on_round)


def _grid(seeds=2, strategies=("random", "alden")):
    return bm.make_grid(["toy"], ["mlp"], strategies, range(seeds),
                        Protocol(init=0.1, step=0.2, stop=0.5))


def test_results_file_has_a_line_per_round_and_timings_beside_it(tmp_path):
    counts = bm.run_benchmark(_grid(), tmp_path, run_fn=fake_run, quiet=True)
    assert counts == {"total": 4, "skipped": 0, "ran": 4}
    records = [json.loads(line) for line in (tmp_path / RESULTS).read_text().splitlines()]
    timings = [json.loads(line) for line in (tmp_path / TIMINGS).read_text().splitlines()]
    assert len(records) == len(timings) == 4 * 3
    assert set(records[0]) == {"dataset", "model", "strategy", "seed", "options", "round",
                               "rounds", "labeled", "fraction", "accuracy"}
    assert not any(k.endswith("seconds") for r in records for k in r)
    assert {(run_files.run_key(t), t["round"]) for t in timings} == {
        (run_files.run_key(r), r["round"]) for r in records}
    options = json.loads((tmp_path / OPTIONS).read_text())
    assert options == {_grid()[0].protocol.options_hash: _grid()[0].protocol.as_dict()}


def failing_run(spec, on_round=None):
    if len(CALLS) == 1:
        raise KeyboardInterrupt
    return counting_run(spec, on_round)


def test_each_command_that_runs_something_logs_one_invocation(tmp_path):
    bm.run_benchmark(_grid(seeds=1), tmp_path, run_fn=fake_run, quiet=True, workers=1,
                     command=["alden", "benchmark", "--seeds", "1"])
    bm.run_benchmark(_grid(seeds=1), tmp_path, run_fn=fake_run, quiet=True)  # nothing to do
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        bm.run_benchmark(_grid(seeds=3), tmp_path, run_fn=failing_run, quiet=True)
    lines = [json.loads(line) for line in (tmp_path / INVOCATIONS).read_text().splitlines()]
    assert len(lines) == 2
    first, cut = lines
    assert (first["ran"], first["skipped"], first["total"], first["finished"]) == (2, 0, 2, True)
    assert first["command"] == ["alden", "benchmark", "--seeds", "1"]
    assert (first["workers"], first["threads"], first["ray_address"]) == (1, 1, None)
    assert first["wall_seconds"] >= 0 and first["ended"] >= first["started"]
    assert (cut["ran"], cut["skipped"], cut["total"], cut["finished"]) == (1, 2, 6, False)


def test_same_command_twice_gives_byte_identical_results(tmp_path):
    bm.run_benchmark(_grid(), tmp_path / "a", run_fn=fake_run, quiet=True)
    bm.run_benchmark(_grid(), tmp_path / "b", run_fn=fake_run, quiet=True)
    assert (tmp_path / "a" / RESULTS).read_bytes() == (tmp_path / "b" / RESULTS).read_bytes()
    assert (tmp_path / "a" / TIMINGS).read_bytes() != (tmp_path / "b" / TIMINGS).read_bytes()


def test_resume_skips_finished_runs(tmp_path):
    bm.run_benchmark(_grid(seeds=1), tmp_path, run_fn=fake_run, quiet=True)
    CALLS.clear()
    counts = bm.run_benchmark(_grid(seeds=3), tmp_path, run_fn=counting_run, quiet=True)
    assert counts == {"total": 6, "skipped": 2, "ran": 4}
    assert sorted(CALLS) == sorted(s.key for s in _grid(seeds=3) if s.seed > 0)
    bm.run_benchmark(_grid(seeds=3), tmp_path / "fresh", run_fn=fake_run, quiet=True)
    assert (tmp_path / RESULTS).read_bytes() == (tmp_path / "fresh" / RESULTS).read_bytes()
    CALLS.clear()
    assert bm.run_benchmark(_grid(seeds=3), tmp_path, run_fn=counting_run,
                            quiet=True)["ran"] == 0
    assert CALLS == []


def test_truncated_last_line_is_repaired_and_its_run_redone(tmp_path):
    bm.run_benchmark(_grid(), tmp_path, run_fn=fake_run, quiet=True)
    path = tmp_path / RESULTS
    whole = path.read_bytes()
    lines = whole.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][:17])  # a write cut short mid-line
    records = run_files.read_repaired(path, require_complete=True)
    assert len(records) == len(lines) - 3  # the cut run's other two rounds go too
    assert path.read_bytes() == b"".join(lines[:-3])
    CALLS.clear()
    counts = bm.run_benchmark(_grid(), tmp_path, run_fn=counting_run, quiet=True)
    assert counts["ran"] == 1 and len(CALLS) == 1
    assert path.read_bytes() == whole


def test_unparsable_final_line_counts_as_truncated(tmp_path):
    path = tmp_path / RESULTS
    path.write_text('{"a": 1}\n{"b": \n')
    parsed, dropped = run_files.read_lines(path)
    assert [r for _, r in parsed] == [{"a": 1}] and dropped == 1


def test_damage_in_the_middle_is_an_error_naming_the_line(tmp_path):
    bm.run_benchmark(_grid(), tmp_path, run_fn=fake_run, quiet=True)
    path = tmp_path / RESULTS
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = "garbage\n"
    path.write_text("".join(lines))
    before = path.read_bytes()
    with pytest.raises(DataError, match=r"results.jsonl line 5"):
        bm.run_benchmark(_grid(), tmp_path, run_fn=fake_run, quiet=True)
    assert path.read_bytes() == before  # nothing rewritten


def test_second_benchmark_on_the_same_folder_is_refused(tmp_path):
    with run_files.lock_dir(tmp_path):
        with pytest.raises(AldenError, match="another alden benchmark"):
            bm.run_benchmark(_grid(), tmp_path, run_fn=fake_run, quiet=True)


def test_append_writes_whole_lines(tmp_path):
    path = tmp_path / "x.jsonl"
    run_files.append_lines(path, [{"a": 1}, {"b": [1, 2]}])
    run_files.append_lines(path, [{"c": "é"}])
    assert [r for _, r in run_files.read_lines(path)[0]] == [{"a": 1}, {"b": [1, 2]}, {"c": "é"}]
    assert path.read_bytes().endswith(b"\n")


# ----------------------------------------------------------------------------- end to end

E2E = ["benchmark", "--dataset", "wine", "--model", "mlp", "--strategy", "random",
       "--strategy", "entropy", "--seeds", "2", "--init", "0.1", "--step", "0.1", "--stop",
       "0.6", "--max-epochs", "8", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> bytes:
    """results.jsonl of the small wine grid, run uninterrupted in this process."""
    out = tmp_path_factory.mktemp("reference")
    assert main([*E2E, "--out", str(out)]) == 0
    return (out / RESULTS).read_bytes()


def test_small_real_grid_has_every_round(reference):
    records = [json.loads(line) for line in reference.splitlines()]
    assert len(records) == 2 * 2 * 6
    assert {r["strategy"] for r in records} == {"random", "entropy"}
    round0 = {(r["seed"], r["strategy"]): r["accuracy"] for r in records if r["round"] == 0}
    assert round0[(0, "random")] == round0[(0, "entropy")]  # same seed set and weights
    assert all(0.3 < r["accuracy"] <= 1 for r in records)  # wine: 3 classes, learnable


def test_subpool_option_names_each_strategy_and_its_runs(tmp_path):
    args = ["benchmark", "--dataset", "wine", "--model", "mlp", "--strategy", "entropy",
            "--strategy", "margin:subpool=30", "--subpool", "20", "--seeds", "1", "--init",
            "0.1", "--step", "0.1", "--stop", "0.3", "--max-epochs", "4", "--threads", "1",
            "--quiet"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    records = [json.loads(line) for line in (tmp_path / RESULTS).read_text().splitlines()]
    assert {r["strategy"] for r in records} == {"entropy:subpool=20", "margin:subpool=20"}


def test_killed_benchmark_resumes_to_the_same_results(reference, tmp_path):
    command = [sys.executable, "-m", "alden.cli", *E2E, "--out", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = tmp_path / RESULTS
    deadline = time.monotonic() + 120
    while not (results.exists() and results.stat().st_size) and proc.poll() is None:
        assert time.monotonic() < deadline, "no run finished within two minutes"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    repaired = run_files.read_repaired(results, require_complete=True)
    runs_before = len(run_files.finished_runs(repaired))
    assert 1 <= runs_before < 4
    assert main([*E2E, "--out", str(tmp_path)]) == 0
    assert results.read_bytes() == reference


@pytest.mark.slow
def test_two_workers_give_the_same_file(reference, tmp_path):
    assert main([*E2E, "--workers", "2", "--out", str(tmp_path)]) == 0
    assert (tmp_path / RESULTS).read_bytes() == reference


@pytest.mark.slow
def test_ray_tasks_give_the_same_file(reference, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    seed0 = E2E.copy()
    seed0[seed0.index("--seeds") + 1] = "1"  # the reference's seed-0 runs only
    try:
        assert main([*seed0, "--ray-address", "local", "--out", str(tmp_path)]) == 0
    finally:
        ray.shutdown()
    expected = b"".join(line + b"\n" for line in reference.splitlines()
                        if json.loads(line)["seed"] == 0)
    assert (tmp_path / RESULTS).read_bytes() == expected


def test_strategy_options_run_under_one_canonical_name(tmp_path):
    args = ["benchmark", "--dataset", "wine", "--model", "mlp", "--strategy", "bald:samples=4",
            "--strategy", "bald:samples=04", "--strategy", "bald:samples=20", "--seeds", "1",
            "--init", "0.1", "--step", "0.1", "--stop", "0.3", "--max-epochs", "3",
            "--threads", "1", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    records = [json.loads(line) for line in (tmp_path / RESULTS).read_text().splitlines()]
    assert sorted({r["strategy"] for r in records}) == ["bald", "bald:samples=4"]
    assert len(records) == 2 * 3  # two distinct strategies, three rounds each
    (invocation,) = [json.loads(line) for line in (tmp_path / INVOCATIONS).read_text()
                     .splitlines()]
    assert invocation["command"] == ["alden", *args]  # as typed, before canonical names


@pytest.mark.parametrize("args,message", [
    (["--strategy", "bald:samples=many"], "strategy 'bald': option 'samples' must be an "),
    (["--strategy", "alden:output=grad"], "strategy 'alden:output=grad': output must be one"),
    (["--model", "gpt"], "unknown model 'gpt': expected one of cnn, bilstm, mlp"),
    (["--strategy", "nope"], "unknown strategy 'nope': expected one of alden, badge"),
    (["--dataset", "wine", "--model", "cnn"], "model 'cnn' does not fit tabular data set"),
    (["--dataset", "wine", "--model", "mlp", "--strategy", "alden"],
     "strategy 'alden' does not work on tabular data set 'wine'; strategies for tabular: "),
    (["--dataset", "wine", "--model", "mlp", "--strategy", "random", "--train", "epochz=3"],
     "unknown training option epochz"),
    (["--dataset", "wine", "--model", "mlp", "--strategy", "random", "--train", "lr=fast"],
     "training option lr must be a float, got 'fast'"),
])  # bad numbers (--max-epochs 0, --step 0) stop at the parser: tests/test_cli_options.py
def test_bad_names_and_options_are_clear_errors(args, message, tmp_path, capsys):
    assert main(["benchmark", *args, "--seeds", "1", "--quiet", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / RESULTS).exists() or not (tmp_path / RESULTS).read_bytes()


def test_repair_keeps_the_file_readable_by_others(tmp_path):
    path = tmp_path / RESULTS
    path.write_text('{"a": 1}\n{"b"')
    path.chmod(0o644)
    run_files.read_repaired(path, require_complete=False)  # rewrites without the cut line
    assert path.stat().st_mode & 0o777 == 0o644
    run_files.write_options(tmp_path, {"abc": {}})
    assert (tmp_path / OPTIONS).stat().st_mode & 0o777 == 0o644
