"""`alden predict` encodes new table rows with the pool's fitted scikit-learn preprocessing
(refitted from the stored pool, no pickle), not a hand-made copy of it (issue 11)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from files_util import write_csv

from alden.data.datasets import load_dataset
from alden.data.files import read_table
from alden.data.tabular import encode_columns, make_preprocessor
from alden.errors import ProjectError
from alden.project import store
from alden.project import workspace as project_data
from alden.project.init import init_project
from alden.project.new_items import encode_new, table_preprocessor


@pytest.fixture
def project(tmp_path):
    """A table project: numbers with gaps, a category with gaps, a label column, an id."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(30):
        size = "" if i % 7 == 3 else f"{rng.normal(5, 2):.3f}"
        colour = "?" if i % 9 == 4 else ("red", "blue", "green")[i % 3]
        rows.append([f"r{i}", size, colour, f"{rng.normal():.3f}", ("big", "small")[i % 2]])
    data = write_csv(tmp_path / "pool.csv", ["key", "size", "colour", "noise", "kind"], rows)
    init_project(tmp_path / "p", data, target_column="kind", id_column="key")
    conn = store.connect(tmp_path / "p")
    try:
        yield project_data.read_project(conn, tmp_path / "p"), data
    finally:
        conn.close()


def test_the_pool_itself_encodes_to_the_stored_encoding(project):
    data, pool_file = project
    ids, x, _ = encode_new(data, pool_file)
    assert ids == data.ids
    np.testing.assert_allclose(x, data.x, rtol=1e-6, atol=1e-6)


def test_new_rows_equal_the_fitted_pipeline_transform(project, tmp_path):
    data, pool_file = project
    # the pipeline as the benchmark fits it: the file's features, imputer + scaler on them
    dataset = load_dataset(pool_file, target_column="kind", id_column="key")
    pipeline = make_preprocessor().fit(dataset.features)
    # new rows: columns reordered, the target left out, a gap, an unseen colour, an extra column
    new = write_csv(tmp_path / "new.csv", ["noise", "colour", "extra", "size", "key"],
                    [["0.5", "green", "x", "4.0", "n1"], ["-1", "purple", "y", "", "n2"],
                     ["2", "", "z", "7.5", "n3"]])
    ids, x, _ = encode_new(data, new)
    assert ids == ["n1", "n2", "n3"]
    by_name = {"size": [4.0, np.nan, 7.5], "noise": [0.5, -1.0, 2.0]}
    expected = np.zeros((3, len(dataset.feature_names)))
    for j, name in enumerate(dataset.feature_names):
        if name in by_name:
            expected[:, j] = by_name[name]
        else:  # colour=...: one-hot, purple is none of them, a gap is missing
            expected[:, j] = [name == "colour=green", 0.0, np.nan]
    np.testing.assert_allclose(x, pipeline.transform(expected), rtol=1e-6, atol=1e-6)
    # and the refitted objects are scikit-learn's own, with the pool's statistics
    columns, refitted = table_preprocessor(data)
    np.testing.assert_allclose(refitted[0].statistics_, pipeline[0].statistics_)
    np.testing.assert_allclose(refitted[-1].scale_, pipeline[-1].scale_)
    table = read_table(new)
    np.testing.assert_allclose(refitted.transform(encode_columns(table, columns)), x,
                               rtol=1e-6, atol=1e-6)


def test_a_changed_pool_is_refused_not_silently_used(project):
    data, pool_file = project
    raw = sqlite3.connect(data.folder / "project.db")
    row = json.loads(raw.execute("SELECT row FROM items WHERE pos = 0").fetchone()[0])
    row["size"] = "1000"
    raw.execute("UPDATE items SET row = ? WHERE pos = 0", (json.dumps(row),))
    raw.commit()
    raw.close()
    conn = store.connect(data.folder)
    try:  # the pool's rows are read from the database, while it is open
        changed = project_data.read_project(conn, data.folder)
        with pytest.raises(ProjectError, match="differs from the one made at init"):
            encode_new(changed, pool_file)
    finally:
        conn.close()
