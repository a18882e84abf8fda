"""Reports on synthetic results with known answers: AUC, medians, paired tests, files."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alden.cli import main
from alden.errors import AldenError
from alden.experiments import curves as report_curves
from alden.experiments import report, run_files
from alden.experiments.run_files import INVOCATIONS, RESULTS, RUN_FIELDS, TIMINGS
from alden.experiments.simulation import Protocol

FRACTIONS = [0.02 * (r + 1) for r in range(25)]


def _records(curves: dict[tuple[str, int], list[float]], dataset="subj", model="cnn",
             options="abc123", fractions=FRACTIONS) -> list[dict]:
    """Result records for {(strategy, seed): accuracies}."""
    out = []
    for (strategy, seed), accuracies in curves.items():
        for r, (f, a) in enumerate(zip(fractions, accuracies, strict=True)):
            out.append({"dataset": dataset, "model": model, "strategy": strategy, "seed": seed,
                        "options": options, "round": r, "rounds": len(accuracies),
                        "labeled": round(f * 1000), "fraction": f, "accuracy": a})
    return out


def _write(path, records):
    path.mkdir(parents=True, exist_ok=True)
    run_files.append_lines(path / RESULTS, records)
    return path


# ----------------------------------------------------------------------------- AUC


@pytest.mark.parametrize("value", [0.0, 0.5, 0.873, 1.0])
def test_constant_curve_has_auc_equal_to_the_constant(value):
    assert report_curves.normalised_auc(FRACTIONS, [value] * 25) == pytest.approx(value)


def test_straight_line_has_auc_equal_to_its_mean_end_points():
    accuracies = np.linspace(0.6, 0.9, 25)
    assert report_curves.normalised_auc(FRACTIONS, accuracies) == pytest.approx(0.75)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0.001, 0.2), st.floats(0, 1)), min_size=2, max_size=12))
def test_auc_matches_a_fine_riemann_sum_of_the_interpolated_curve(steps):
    fractions = np.cumsum([s for s, _ in steps])
    accuracies = np.array([a for _, a in steps])
    grid = np.linspace(fractions[0], fractions[-1], 200_001)
    values = np.interp(grid, fractions, accuracies)
    brute = np.mean((values[1:] + values[:-1]) / 2)  # midpoints of a uniform fine grid
    assert report_curves.normalised_auc(fractions, accuracies) == pytest.approx(brute, abs=1e-6)
    assert 0 <= report_curves.normalised_auc(fractions, accuracies) <= 1


def test_auc_rejects_bad_curves():
    with pytest.raises(AldenError):
        report_curves.normalised_auc([0.1, 0.1], [0.5, 0.6])
    with pytest.raises(AldenError):
        report_curves.normalised_auc([0.1, 0.2], [0.5])
    assert report_curves.normalised_auc([0.3], [0.7]) == 0.7


# ----------------------------------------------------------------------------- tables


def test_median_auc_over_seeds():
    records = _records({("random", s): [0.5 + 0.1 * s] * 25 for s in range(5)}
                       | {("alden", 0): [0.9] * 25})
    table = report_curves.auc_table(report_curves.build_curves(records))
    by = {r["strategy"]: r for r in table}
    assert by["random"]["median_auc"] == pytest.approx(0.7)
    assert by["random"]["q25_auc"] == pytest.approx(0.6)
    assert by["random"]["q75_auc"] == pytest.approx(0.8)
    assert by["random"]["seeds"] == 5 and by["alden"]["seeds"] == 1
    assert [r["strategy"] for r in table] == ["random", "alden"]  # the paper's order


def _exact_wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided exact p of the signed-rank statistic, by enumerating every sign pattern."""
    ranks = np.argsort(np.argsort(np.abs(diff))) + 1.0
    observed = ranks[diff > 0].sum()
    total = ranks.sum()
    stats = [sum(r for r, s in zip(ranks, signs, strict=True) if s)
             for signs in itertools.product([0, 1], repeat=len(diff))]
    extreme = min(observed, total - observed)
    return min(1.0, float(np.mean([min(t, total - t) <= extreme for t in stats])))


def test_paired_comparison_counts_wins_and_matches_exact_wilcoxon():
    rng = np.random.default_rng(0)
    gaps = [0.03, 0.011, -0.005, 0.02, 0.042, 0.017, -0.013]
    curves = {}
    for seed, gap in enumerate(gaps):
        base = list(rng.uniform(0.5, 0.9, 25))
        curves[("random", seed)] = base
        curves[("alden", seed)] = [a + gap for a in base]
    curves[("random", 99)] = [0.5] * 25  # an unpaired seed is left out
    (row,) = report_curves.paired_comparison(report_curves.build_curves(_records(curves)))
    assert (row["baseline"], row["pairs"], row["wins"], row["losses"]) == ("random", 7, 5, 2)
    assert row["median_difference"] == pytest.approx(0.017)
    assert row["p_value"] == pytest.approx(_exact_wilcoxon_p(np.array(gaps)))


def test_paired_comparison_is_na_without_enough_pairs():
    curves = report_curves.build_curves(_records({
        ("random", 0): [0.5] * 25, ("alden", 0): [0.6] * 25, ("bald", 0): [0.6] * 25,
        ("bald", 1): [0.6] * 25}))


    rows = {r["baseline"]: r for r in report_curves.paired_comparison(curves)}
    assert rows["random"]["pairs"] == 1 and rows["random"]["p_value"] is None
    assert rows["random"]["wins"] == 1
    assert rows["bald"]["ties"] == 1 and rows["bald"]["p_value"] is None
    no_alden = report_curves.build_curves(_records({("random", 0): [0.5] * 25,
                                             ("random", 1): [0.5] * 25}))
    assert report_curves.paired_comparison(no_alden) == []  # no reference: no rows of n/a


def test_curves_of_different_pool_sizes_in_one_group_are_an_error():
    records = (_records({("random", 0): [0.5] * 25})
               + _records({("random", 1): [0.5] * 25}, fractions=[f * 1.01 for f in FRACTIONS]))
    with pytest.raises(AldenError, match="different labeled fractions"):
        report_curves.build_curves(records)


def test_time_table_is_the_mean_per_run():
    records = _records({("random", 0): [0.5] * 25, ("random", 1): [0.5] * 25})
    timings = {(*run_files.run_key(r), r["round"]): {"train_seconds": 2.0 if r["seed"] else 1.0,
                                              "score_seconds": 0.1, "select_seconds": 0.0,
                                              "test_seconds": 0.0} for r in records}
    (row,) = report_curves.time_table(records, timings)
    assert row["runs"] == 2
    assert row["train_seconds"] == pytest.approx(25 * 1.5)
    assert row["score_seconds"] == pytest.approx(25 * 0.1)
    assert row["val_seconds"] == 0.0  # absent from these timings
    assert row["total_seconds"] == pytest.approx(25 * 1.6)


# ----------------------------------------------------------------------------- files and CLI


def test_report_writes_plots_and_tables(tmp_path):
    curves = {(s, seed): [0.6 + 0.01 * i + (0.05 if s == "alden" else 0) + 0.001 * seed
                          for i in range(25)]
              for s in ("random", "alden") for seed in range(3)}
    records = _records(curves) + _records(curves, dataset="mr", model="bilstm")
    results = _write(tmp_path / "run", records)
    timings = [{**{k: r[k] for k in RUN_FIELDS}, "round": r["round"], "train_seconds": 1.0,
                "test_seconds": 0.1, "score_seconds": 0.2, "select_seconds": 0.05}
               for r in records]
    run_files.append_lines(results / TIMINGS, timings)
    files, table_md = report.write_report(results, tmp_path / "out")
    assert files["curves subj/cnn"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files["curves mr/bilstm"].name == "curves_mr_bilstm.png"
    rows = list(csv.DictReader(files["auc"].open()))
    assert len(rows) == 4
    alden = [r for r in rows if r["strategy"] == "alden" and r["dataset"] == "subj"][0]
    assert float(alden["median_auc"]) == pytest.approx(0.6 + 0.12 + 0.05 + 0.001)
    paired = list(csv.DictReader(files["paired"].open()))
    assert {(r["wins"], r["pairs"]) for r in paired} == {("3", "3")}
    text = files["report"].read_text()
    assert "| alden | 0.771 (3) | 0.771 (3) |" in text and table_md in text
    assert "curves_subj_cnn.png" in text and "| validation s |" in text
    assert "Benchmark commands" not in text  # no invocations.jsonl: no section


def test_report_lists_the_benchmark_commands_and_their_wall_time(tmp_path):
    results = _write(tmp_path / "run", _records({("random", 0): [0.5] * 25}))
    base = {"ended": "x", "skipped": 0, "total": 2, "workers": 2, "threads": 1,
            "ray_address": None, "cpus": 2, "machine": "x86_64", "python": "3.11.7",
            "torch": "2.13.0"}
    run_files.append_lines(results / INVOCATIONS, [
        {**base, "started": "2026-11-30T01:00:00+00:00", "wall_seconds": 3000.0, "ran": 1,
         "finished": False, "command": ["alden", "benchmark", "--seeds", "1"]},
        {**base, "started": "2026-11-30T02:00:00+00:00", "wall_seconds": 600.0, "ran": 1,
         "skipped": 1, "finished": True, "command": None}])
    files, _ = report.write_report(results, tmp_path / "out")
    text = files["report"].read_text()
    assert "| 2026-11-30T01:00:00+00:00 | 3000 | 1 of 2 (0 done before) | no (interrupted) " \
           "| 2 x 1 | 2 (x86_64) | `alden benchmark --seeds 1` |" in text
    assert "| 1 of 2 (1 done before) | yes |" in text
    assert "Wall time in all: 3600 s (1.00 h)." in text


def test_report_command_prints_the_table(tmp_path, capsys):
    results = _write(tmp_path, _records({("random", 0): [0.5] * 25, ("alden", 0): [0.7] * 25}))
    assert main(["report", str(results)]) == 0
    out = capsys.readouterr().out
    assert "| alden | 0.700 (1) |" in out and "report.md" in out
    assert (results / "report.md").exists()


def test_report_on_a_folder_without_results_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no results.jsonl" in capsys.readouterr().err


def test_report_ignores_an_unfinished_run(tmp_path):
    records = _records({("random", 0): [0.5] * 25, ("alden", 0): [0.7] * 25})
    results = _write(tmp_path, records[:-3])  # alden's run cut short
    files, _ = report.write_report(results)
    assert [r["strategy"] for r in csv.DictReader(files["auc"].open())] == ["random"]
    assert "n/a: no alden runs" in files["report"].read_text()


def test_report_puts_published_numbers_and_ranks_beside_ours(tmp_path, capsys):
    results = _write(tmp_path / "run", _records({("random", 0): [0.9] * 25,
                                                 ("coreset", 0): [0.8] * 25,
                                                 ("alden", 0): [0.85] * 25}))
    published = tmp_path / "paper.csv"
    published.write_text("dataset,model,strategy,auc\nsubj,cnn,random,0.6\n"
                         "subj,cnn,alden,0.8\nsubj,cnn,coreset,0.7\nmr,cnn,alden,0.7\n")
    assert main(["report", str(results), "--published", str(published)]) == 0
    text = (results / "report.md").read_text()
    assert "| subj/cnn ours (rank) | subj/cnn published (rank) |" in text
    assert "| random | 0.900 (1) | 0.600 (3) |" in text
    assert "| alden | 0.850 (2) | 0.800 (1) |" in text
    rows = {r["strategy"]: r["published_auc"] for r in csv.DictReader((results / "auc.csv").open())}
    assert rows == {"random": "0.6", "coreset": "0.7", "alden": "0.8"}


@pytest.mark.parametrize(("content", "message"), [
    ("dataset,model,auc\nsubj,cnn,0.5\n", "line 1: expected the columns .* missing strategy"),
    ("dataset,model,strategy,auc\nsubj,cnn,alden,0.5\nsubj,cnn,random,high\n",
     "line 3, column auc: expected a number, got 'high'"),
    ("dataset,model,strategy,auc\nsubj,cnn,alden,81.4\n", r"line 2, column auc: .*\[0, 1\]"),
    ("dataset,model,strategy,auc\nsubj,cnn,alden,0.5\nsubj,cnn,alden,0.6\n",
     "line 3: subj/cnn/alden appears twice"),
])
def test_bad_published_file_names_the_line_and_writes_nothing(tmp_path, content, message):
    results = _write(tmp_path / "run", _records({("alden", 0): [0.5] * 25}))
    published = tmp_path / "paper.csv"
    published.write_text(content)
    with pytest.raises(AldenError, match=message):
        report.write_report(results, tmp_path / "out", published=published)
    assert not (tmp_path / "out" / "report.md").exists()


def test_demo_runs_its_grid_writes_the_report_and_says_where(tmp_path, monkeypatch, capsys):
    from alden.experiments import demo

    monkeypatch.setattr(demo, "DATASET", "wine")  # the demo's plumbing on a 2-second grid
    monkeypatch.setattr(demo, "MODEL", "mlp")
    monkeypatch.setattr(demo, "STRATEGIES", ("random", "entropy"))
    monkeypatch.setattr(demo, "SEEDS", (0,))
    monkeypatch.setattr(demo, "PROTOCOL", Protocol(init=0.1, step=0.2, stop=0.5,
                                                      train=(("max_epochs", 3),)))
    files = demo.run_demo(tmp_path, workers=1, threads=1)
    out = capsys.readouterr().out
    assert f"{tmp_path / RESULTS}" in out and f"report: {tmp_path / 'report.md'}" in out
    assert "| random |" in out and "| entropy |" in out
    assert files["curves wine/mlp"].exists()
    assert len((tmp_path / RESULTS).read_text().splitlines()) == 2 * 3
    demo.run_demo(tmp_path, workers=1, threads=1, quiet=True)  # resumes: nothing to run
    assert capsys.readouterr().out == ""


def test_tables_put_a_variant_right_after_its_strategy():
    names = ["zeta", "alden:output=proba", "random", "alden", "bald:samples=5", "bald",
             "entropy"]
    assert sorted(names, key=report.strategy_sort_key) == [
        "random", "entropy", "bald", "bald:samples=5", "alden", "alden:output=proba", "zeta"]
