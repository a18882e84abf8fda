"""Stopping criteria (alden.stopping) on synthetic rounds whose answer is known, the
simulation's recorder on a fake learner, and the benchmark report's stopping table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alden import stopping
from alden.data.pool import Pool
from alden.experiments import benchmark as bm
from alden.experiments import simulation
from alden.experiments.criteria_record import CriteriaRecorder
from alden.experiments.run_files import CRITERIA, RESULTS
from alden.experiments.simulation import Protocol, label_schedule
from alden.experiments.stopping_report import (
    load_criteria,
    stopping_rows,
    stopping_summary,
)

# ----------------------------------------------------------------------------- helpers


def test_kappa_of_identical_labelings_is_one_and_of_chance_agreement_zero():
    a = np.array([0, 1, 0, 1, 1, 0, 0, 1])
    assert stopping.cohen_kappa(a, a) == 1.0
    assert stopping.cohen_kappa(a, 1 - a) == -1.0
    # a always says 0: agreement equals what chance gives (p_o = p_e = 0.5)
    assert stopping.cohen_kappa(a, np.zeros_like(a)) == 0.0


def test_kappa_matches_the_textbook_example():
    # 50 items: both yes 20, a yes b no 5, a no b yes 10, both no 15 -> p_o 0.7, p_e 0.5
    a = np.array([1] * 25 + [0] * 25)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    assert stopping.cohen_kappa(a, b) == pytest.approx(0.4)
    assert stopping.prediction_change(a, b) == (pytest.approx(0.3), pytest.approx(0.4))


def test_kappa_of_one_class_labelings_is_defined():
    assert stopping.cohen_kappa([2, 2, 2], [2, 2, 2]) == 1.0
    with pytest.raises(ValueError, match="length"):
        stopping.cohen_kappa([0, 1], [0])


def test_normalised_entropy_is_zero_when_certain_and_one_when_uniform():
    h = stopping.normalised_entropy(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]))
    assert h == pytest.approx([0.0, 1.0], abs=1e-9)


def test_wilson_interval_known_values_and_edges():
    lo, hi = stopping.wilson_interval(81, 100)
    # by hand: centre (0.81 + 1.96²/200) / (1 + 1.96²/100) = 0.7985, half width 0.0763
    assert (lo, hi) == (pytest.approx(0.7222, abs=1e-4), pytest.approx(0.8749, abs=1e-4))
    assert stopping.wilson_interval(0, 10)[0] == 0.0 < stopping.wilson_interval(0, 10)[1]
    assert stopping.wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert stopping.wilson_interval(0, 0) == (0.0, 1.0)


def test_labels_to_halve_the_interval_is_about_three_times_n():
    def width(p, m):
        lo, hi = stopping.wilson_interval(p * m, m)
        return hi - lo

    for correct, n in ((80, 100), (45, 50), (300, 400)):
        more, p = stopping.labels_to_halve(correct, n), correct / n
        assert width(p, n + more) <= width(p, n) / 2 < width(p, n + more - 1)
        assert 2.5 * n < more < 3.5 * n


# ----------------------------------------------------------------------------- criteria


def _rows(**series):
    n = max(len(v) for v in series.values())
    return [{k: (v[i] if i < len(v) else None) for k, v in series.items()} for i in range(n)]


def test_stabilizing_predictions_waits_for_window_rounds_under_tolerance():
    rows = _rows(changed=[None, 0.2, 0.05, 0.008, 0.02, 0.004, 0.003])
    assert stopping.stabilizing_predictions(rows[:2]).stop is None  # one change measured
    verdicts = [stopping.stabilizing_predictions(rows[:r + 1]).stop for r in range(2, 7)]
    assert verdicts == [False, False, False, False, True]
    assert stopping.stop_round("stabilizing_predictions", rows) == 6
    v = stopping.stabilizing_predictions(rows)
    assert v.value == pytest.approx(0.004) and "0.4%" in v.text


def test_kappa_average_is_bloodgood_and_vijay_shankers_mean_of_three():
    rows = _rows(kappa=[None, 0.9, 0.995, 0.99, 0.985, 0.999, 0.999])
    assert stopping.stop_round("kappa_average", rows) == 5  # (0.985+0.999+0.999)/3 >= 0.99
    assert stopping.kappa_average(rows[:4]).stop is False  # (0.9+0.995+0.99)/3
    assert stopping.kappa_average(rows[:3]).stop is None


def test_uncertainty_criteria_compare_the_last_round_with_their_thresholds():
    rows = _rows(max_uncertainty=[1.0, 0.5, 0.19], mean_uncertainty=[0.4, 0.09, 0.2])
    assert stopping.stop_round("max_uncertainty", rows) == 2
    assert stopping.stop_round("overall_uncertainty", rows) == 1
    assert stopping.overall_uncertainty(rows).stop is False  # it went back up
    assert stopping.max_uncertainty([]).stop is None


def test_check_plateau_needs_gains_the_check_set_cannot_tell_from_noise():
    n = 200
    rising = _rows(check_correct=[120, 140, 160, 180], check_n=[n] * 4)
    assert stopping.stop_round("check_plateau", rising) is None
    flat = _rows(check_correct=[120, 160, 163, 161], check_n=[n] * 4)
    assert stopping.stop_round("check_plateau", flat) == 3
    # the same flat curve on a check set of 20,000 tells 80.5% from 81.5% apart
    big = _rows(check_correct=[12000, 16000, 16300, 16100], check_n=[20000] * 4)
    assert stopping.stop_round("check_plateau", big) is None
    assert stopping.check_plateau(_rows(check_correct=[1, 2], check_n=[0, 0])).stop is None


def test_interpretation_coverage_stops_when_the_largest_diversity_stops_falling():
    rows = _rows(coverage=[1.0, 0.8, 0.6, 0.5, 0.45, 0.44, 0.43, 0.45, 0.44])
    # window 3: drops of the mean (rounds r-5..r-3 against r-2..r) over the first value:
    # r=5: 0.8 - 0.4633 = 0.337; r=6: 0.633 - 0.44 = 0.193; r=7: 0.5167 - 0.4367 = 0.08;
    # r=8: 0.4633 - 0.44 = 0.0233; r=9 would be next
    assert stopping.stop_round("interpretation_coverage", rows) is None
    assert stopping.stop_round("interpretation_coverage", rows + [{"coverage": 0.44}]) == 9
    assert stopping.interpretation_coverage(rows[:5]).stop is None
    assert stopping.interpretation_coverage(rows, tolerance=0.03).stop is True
    assert stopping.interpretation_coverage(_rows(coverage=[0.0] * 6)).stop is None


def test_evaluate_gives_every_criterion_and_no_data_says_nothing():
    verdicts = stopping.evaluate([])
    assert [v.name for v in verdicts] == list(stopping.CRITERIA)
    assert all(v.stop is None for v in verdicts)
    assert stopping.DEFAULT_CRITERION in stopping.CRITERIA


def test_stopping_module_imports_no_torch_project_or_experiments():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(stopping))
    names = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {n for n in names if n and (n.startswith(("torch", "alden.")))}


# ----------------------------------------------------------------------------- simulation


class Centroids:
    """A fake learner: nearest class centroid, softmax over negative squared distances."""

    def fit(self, x, y, x_val=None, y_val=None, *, seed):
        self.c = np.stack([x[y == k].mean(axis=0) for k in (0, 1)])
        return self

    def predict_proba(self, x):
        d = -((x[:, None, :] - self.c[None]) ** 2).sum(-1)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


class FirstUnlabeled:
    def select(self, learner, pool, n, rng):
        return type("S", (), {"indices": pool.unlabeled[:n]})()


def _toy_run(observe=None):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = (rng.normal(size=(300, 2)) + 2.0 * y[:, None]).astype(np.float32)
    pool = Pool.from_arrays(x[:200], y[:200], ("a", "b"))
    seed_set = lambda p, f, r: np.sort(r.choice(len(p), round(f * len(p)), replace=False))  # noqa: E731
    rows = simulation.simulate(pool, Centroids, FirstUnlabeled(), label_schedule(200, .1, .1, .5),
                               (x[200:250], y[200:250]), (x[250:], y[250:]), 3, seed_set,
                               observe=observe)
    return pool, rows, (x[250:], y[250:])


def test_recording_criteria_changes_nothing_in_the_run():
    pool_a, rows_a, check = _toy_run()
    recorder = CriteriaRecorder(200, check, seed=3, stop_size=80, check_size=30)
    pool_b, rows_b, _ = _toy_run(recorder.observe)
    assert np.array_equal(pool_a.labeled_in, pool_b.labeled_in)
    assert [r["accuracy"] for r in rows_a] == [r["accuracy"] for r in rows_b]
    assert all(r["criteria_seconds"] >= 0 for r in rows_b)
    crit = recorder.rows
    assert [c["labeled"] for c in crit] == [40, 60, 80, 100, 100]  # after each round's picks
    assert crit[0]["changed"] is None and all(c["changed"] is not None for c in crit[1:])
    assert all(0 <= c["mean_uncertainty"] <= c["max_uncertainty"] <= 1 for c in crit)
    assert all(c["check_n"] == 30 and 0 <= c["check_correct"] <= 30 for c in crit)
    assert all(c["coverage"] is None for c in crit)  # not a text pool
    assert len(recorder.stop_set) == 80 == len(np.unique(recorder.stop_set))


def test_recorder_kappa_is_one_when_the_model_does_not_change():
    pool = Pool.from_arrays(np.eye(2, dtype=np.float32)[[0, 1] * 10], np.array([0, 1] * 10),
                            ("a", "b"))
    pool.mark_labeled(np.arange(4), 0)
    learner = Centroids().fit(pool.x[:4], pool.y[:4], seed=0)
    recorder = CriteriaRecorder(20, (pool.x, pool.y), seed=0, stop_size=10)
    recorder.observe(learner, pool, 0)
    recorder.observe(learner, pool, 1)
    assert recorder.rows[1]["changed"] == 0.0 and recorder.rows[1]["kappa"] == 1.0
    assert recorder.rows[1]["check_correct"] == 20


# ----------------------------------------------------------------------------- benchmark files


def run_with_criteria(spec, on_round=None):
    """A fake run_one returning criteria too: predictions settle from round 3 on."""
    counts = label_schedule(100, spec.protocol.init, spec.protocol.step, spec.protocol.stop)
    rows = [{"round": r, "labeled": c, "accuracy": 0.5 + 0.05 * min(r, 3),
             "train_seconds": 0.0, "score_seconds": 0.0, "select_seconds": 0.0}
            for r, c in enumerate(counts)]
    records, timings = simulation.make_records(spec, rows, 100)
    crit = [{"round": r, "changed": None if r == 0 else (0.3 if r < 3 else 0.0),
             "kappa": None if r == 0 else (0.5 if r < 3 else 1.0)} for r in range(len(counts))]
    return records, timings, simulation.criteria_records(records, crit)


def test_benchmark_writes_criteria_and_report_finds_the_stop(tmp_path):
    specs = bm.make_grid(["toy"], ["mlp"], ["random"], range(2), Protocol(0.1, 0.1, 0.8))
    bm.run_benchmark(specs, tmp_path, run_fn=run_with_criteria, quiet=True)
    lines = [json.loads(x) for x in (tmp_path / CRITERIA).read_text().splitlines()]
    assert len(lines) == 2 * 8 and {"changed", "kappa", "fraction"} <= set(lines[0])
    records = [json.loads(x) for x in (tmp_path / RESULTS).read_text().splitlines()]
    crit = load_criteria(tmp_path, {simulation.RunSpec(*s.key[:4], s.protocol).key
                                    for s in specs})
    rows = [r for r in stopping_rows(records, crit) if r["criterion"] == "stabilizing_predictions"]
    # changed is 0 from round 3; two such rounds first at round 4 (50% labeled of 80%)
    assert [r["stop_round"] for r in rows] == [4, 4]
    assert rows[0]["labels_saved"] == 80 - 50 and rows[0]["accuracy_lost"] == 0.0
    summary = {s["criterion"]: s for s in stopping_summary(stopping_rows(records, crit))}
    assert summary["stabilizing_predictions"]["median_fraction"] == 0.5
    assert summary["stabilizing_predictions"]["median_round"] == 4
    assert summary["max_uncertainty"]["stopped"] == 0  # never recorded: never stops
    assert summary["max_uncertainty"]["median_round"] == 7  # so it stops at the end


def test_report_shows_the_stopping_table(tmp_path):
    from alden.experiments.report import write_report

    specs = bm.make_grid(["toy"], ["mlp"], ["random"], range(1), Protocol(0.1, 0.1, 0.8))
    bm.run_benchmark(specs, tmp_path, run_fn=run_with_criteria, quiet=True)
    files, _ = write_report(tmp_path, tmp_path / "report")
    text = files["report"].read_text()
    assert "stopping criterion" in text and "| toy/mlp | stabilizing_predictions | 1 (1) |" in text
    assert "stopping" in files and files["stopping"].read_text().startswith("dataset,")


def test_coverage_is_recorded_only_when_asked_and_is_not_part_of_a_runs_identity():
    plain, asked = (bm.make_grid(["toy"], ["mlp"], ["random"], range(1), Protocol(0.1, 0.1, 0.8),
                                 coverage=c)[0] for c in (False, True))
    assert (plain.coverage, asked.coverage) == (False, True)
    assert plain.key == asked.key  # the same run: coverage changes criteria.jsonl only
