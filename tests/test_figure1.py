"""Figure 1: the synthetic data, the triangle regions, and the command's files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from alden import cli
from alden.errors import AldenError
from alden.experiments import figure1


def test_triangle_regions_are_cut_by_the_diagonals():
    x = np.array([[3.0, 1.0], [1.0, 3.0], [-3.0, 1.0], [1.0, -3.0],
                  [4.0, -2.0], [-1.0, 4.0], [-4.0, -2.0], [-1.0, -4.0]])
    regions = figure1.triangle_regions(x)
    assert len(set(regions[:4])) == 4  # right, top, left, bottom
    assert regions[4:].tolist() == regions[:4].tolist()  # same triangles, other points


def test_synthetic_labels_follow_the_sigmoid():
    x, y = figure1.synthetic_data(20000, np.random.default_rng(0))
    assert x.shape == (20000, 2) and x.min() >= -5 and x.max() <= 5
    z = x[:, 0] * x[:, 1]
    for lo, hi in [(-50, -2), (-0.3, 0.3), (2, 50)]:
        band = (z > lo) & (z < hi)
        expected = (1 / (1 + np.exp(-z[band]))).mean()
        assert abs(y[band].mean() - expected) < 0.03
    again, _ = figure1.synthetic_data(20000, np.random.default_rng(0))
    np.testing.assert_array_equal(x, again)


@pytest.mark.slow
def test_command_writes_png_and_json(tmp_path, capsys):
    out = tmp_path / "fig"
    assert cli.main(["figure1", "--out", str(out), "--seed", "3", "--output", "proba",
                     "--n", "200"]) == 0
    record = json.loads((out / "figure1.json").read_text())
    assert record["seed"] == 3 and record["output"] == "proba"
    assert set(record["ari"]) == {"coreset", "badge", "interpretations"}
    assert all(-1 <= v <= 1 for v in record["ari"].values())
    assert (out / "figure1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ARI interpretations" in capsys.readouterr().out


def test_ari_is_one_for_the_regions_themselves_and_partial_for_quadrants():
    x, _ = figure1.synthetic_data(2000, np.random.default_rng(1))
    regions = figure1.triangle_regions(x)
    assert adjusted_rand_score(regions, 3 - regions) == 1.0
    quadrants = 2 * (x[:, 0] > 0) + (x[:, 1] > 0)
    assert 0.2 < adjusted_rand_score(regions, quadrants) < 0.5  # each quadrant: two halves


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["figure1", "--out", str(blocker)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    with pytest.raises(AldenError, match="at least 20 points"):
        figure1.figure1(n=5)
