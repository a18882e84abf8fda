"""Tables: parsing, column types, one-hot, labels, the pool-fitted preprocessor, UCI built-ins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from alden.data.datasets import load_dataset
from alden.data.download import Remote
from alden.data.tabular import (
    TABLES,
    Table,
    TableSpec,
    encode_features,
    encode_labels,
    is_numeric_column,
    make_preprocessor,
    read_delimited,
    read_table_spec,
)
from alden.errors import DataError


def table(header: list[str], rows: list[list[str]]) -> Table:
    return Table(Path("t.csv"), header, rows, list(range(2, len(rows) + 2)))


# --- the preprocessor ----------------------------------------------------------------------

def test_preprocessor_is_unfitted_and_uses_only_the_pool_statistics():
    rng = np.random.default_rng(0)
    pool = rng.normal(3.0, 2.0, size=(50, 4))
    pool[[1, 7, 9], [0, 2, 2]] = np.nan
    test = rng.normal(-5.0, 9.0, size=(20, 4))
    test[3, 1] = np.nan
    pre = make_preprocessor()
    with pytest.raises(NotFittedError):
        check_is_fitted(pre)
    pre.fit(pool)
    # brute-force reference: column means ignoring NaN, then population std of the imputed pool
    mean = np.nanmean(pool, axis=0)
    imputed = np.where(np.isnan(pool), mean, pool)
    std = imputed.std(axis=0)
    expected = (np.where(np.isnan(test), mean, test) - imputed.mean(axis=0)) / std
    np.testing.assert_allclose(pre.transform(test), expected, rtol=1e-12)
    np.testing.assert_allclose(pre.transform(pool).mean(axis=0), 0, atol=1e-12)


def test_preprocessor_keeps_a_column_that_is_missing_everywhere_in_the_pool():
    pool = np.array([[1.0, np.nan], [3.0, np.nan]])
    out = make_preprocessor().fit(pool).transform(np.array([[2.0, 5.0]]))
    assert out.shape == (1, 2) and np.isfinite(out).all()


# --- parsing -------------------------------------------------------------------------------

def test_read_delimited_skips_lines_and_initial_spaces(tmp_path):
    path = tmp_path / "a.test"
    path.write_text("|junk line\n1, x, <=50K.\n\n2, y, >50K.\n\n")
    parsed = read_delimited(path, header=["n", "c", "y"], skip_lines=1, skipinitialspace=True)
    assert parsed.rows == [["1", "x", "<=50K."], ["2", "y", ">50K."]]
    assert parsed.lines == [2, 4] and parsed.where(1) == f"{path}, line 4"


def test_is_numeric_column_ignores_missing_cells():
    assert is_numeric_column(["1", " 2.5", "?", "", "NaN", "-3e2"])
    assert not is_numeric_column(["1", "two"])
    assert not is_numeric_column(["1", "inf"])  # an infinite feature would poison the scaler


# --- features ------------------------------------------------------------------------------

def test_encode_features_detects_types_and_one_hots_sorted_categories():
    t = table(["num", "cat", "zip"], [["1.5", "b", "90210"], ["?", "a", "10001"],
                                      ["2", "", "90210"]])
    features, names = encode_features(t, [0, 1, 2])
    assert names == ["num", "cat=a", "cat=b", "zip"]
    expected = [[1.5, 0, 1, 90210], [np.nan, 1, 0, 10001], [2, np.nan, np.nan, 90210]]
    np.testing.assert_array_equal(features, expected)


def test_schema_can_make_a_numeric_looking_column_categorical():
    t = table(["num", "zip"], [["1", "90210"], ["2", "10001"]])
    features, names = encode_features(t, [0, 1], categorical=[1])
    assert names == ["num", "zip=10001", "zip=90210"]
    np.testing.assert_array_equal(features, [[1, 0, 1], [2, 1, 0]])


def test_schema_numeric_column_with_text_names_file_line_and_column():
    t = table(["num", "cat"], [["1", "a"], ["2", "b"], ["three", "a"]])
    with pytest.raises(DataError, match=r"t\.csv, line 4: column 'num' holds 'three', "
                                        "expected a number"):
        encode_features(t, [0, 1], categorical=[1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.sampled_from("xyz"), st.booleans()),
                min_size=1, max_size=30))
def test_encoding_matches_a_per_row_reference(rows):
    t = table(["num", "cat"], [[repr(v), "" if gone else c] for v, c, gone in rows])
    features, names = encode_features(t, [0, 1])
    categories = sorted({c for _, c, gone in rows if not gone})
    if not categories:  # a column with no values at all counts as numeric: all NaN
        assert names == ["num", "cat"] and np.isnan(features[:, 1]).all()
        return
    assert names == ["num"] + [f"cat={c}" for c in categories]
    for out, (value, cat, gone) in zip(features, rows, strict=True):
        assert out[0] == value
        if gone:
            assert np.isnan(out[1:]).all()
        else:
            assert out[1:].tolist() == [float(c == cat) for c in categories]


# --- labels --------------------------------------------------------------------------------

def test_encode_labels_sorts_strings_and_numbers_and_respects_given_names():
    where = ["l1", "l2", "l3"]
    labels, names = encode_labels(["b", " a", "b"], where, source="f", column="y")
    assert names == ("a", "b") and labels.tolist() == [1, 0, 1]
    labels, names = encode_labels([9, "10", 9.0], where, source="f", column="y")
    assert names == ("9", "10") and labels.tolist() == [0, 1, 0]
    labels, names = encode_labels(["b", "a", "b"], where, source="f", column="y",
                                  label_names=["b", "a", "c"])
    assert names == ("b", "a", "c") and labels.tolist() == [0, 1, 0]


def test_encode_labels_refuses_one_class():
    with pytest.raises(DataError, match=r"f: column 'y' holds one class only \('a'\)"):
        encode_labels(["a", "a"], ["l1", "l2"], source="f", column="y")


# --- built-in tables: the spec machinery on a fake, then the real UCI files -----------------

def test_table_spec_stacks_files_drops_columns_and_strips_label_suffix(tmp_path):
    (tmp_path / "t.data").write_text("1, a, 7, yes\n2, ?, 8, no\n")
    (tmp_path / "t.test").write_text("|first line\n3, b, 9, no.\n")
    spec = TableSpec("fake", Remote("tabular/fake", "http://x/", ("t.data",),
                                    (("t.data", 2), ("t.test", 2))),
                     columns=("n", "c", "leak", "y"), target="y", categorical=("c",),
                     drop=("leak",), skipinitialspace=True, skip_first_line=("t.test",),
                     label_suffix=".")
    parsed, features, names, labels, label_names = read_table_spec(spec, tmp_path)
    assert names == ["n", "c=a", "c=b"]
    np.testing.assert_array_equal(features, [[1, 1, 0], [2, np.nan, np.nan], [3, 0, 1]])
    assert label_names == ("no", "yes") and labels.tolist() == [1, 0, 0]
    assert parsed.where(2) == f"{tmp_path / 't.test'}, line 2"


EXPECTED = {  # rows, features, class counts (UCI documentation; adult: data + test)
    "bank": (4521, 50, [4000, 521]),
    "magic": (19020, 10, [12332, 6688]),
    "letter": (20000, 16, None),
    "spambase": (4601, 57, [2788, 1813]),
    "adult": (48842, 105, [37155, 11687]),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "adult" else n
                                  for n in EXPECTED])
def test_uci_tables_match_their_documentation(shared_data, name):
    data = load_dataset(name, shared_data, download=False)
    rows, n_features, counts = EXPECTED[name]
    assert data.kind == "tabular" and data.features.dtype == np.float64
    assert data.features.shape == (rows, n_features) == (len(data), len(data.feature_names))
    assert len(set(data.ids)) == rows
    if counts:
        assert np.bincount(data.labels).tolist() == counts
    else:
        assert len(data.label_names) == 26 and np.bincount(data.labels).min() > 700
    missing_columns = {n for n, col in zip(data.feature_names, np.isnan(data.features).T,
                                           strict=True) if col.any()}
    if name == "adult":  # '?' only in these three categorical columns
        assert {n.split("=")[0] for n in missing_columns} == {
            "workclass", "occupation", "native-country"}
        assert data.label_names == ("<=50K", ">50K")
    else:
        assert not missing_columns
    if name == "bank":
        assert "duration" not in data.feature_names and "job=unknown" in data.feature_names


def test_every_uci_spec_names_its_columns_and_target():
    for spec in TABLES.values():
        assert spec.columns is None or spec.target in spec.columns
        assert set(spec.categorical) <= set(spec.columns or spec.categorical)
    assert len(TABLES["spambase"].columns) == 58 and len(TABLES["letter"].columns) == 17


@pytest.mark.parametrize(("name", "shape", "n_classes"), [
    ("breast_cancer", (569, 30), 2), ("wine", (178, 13), 3), ("digits", (1797, 64), 10)])
def test_sklearn_bundled_sets(name, shape, n_classes):
    data = load_dataset(name)
    assert data.kind == "tabular" and data.features.shape == shape
    assert len(data.label_names) == n_classes == len(np.unique(data.labels))
    assert len(data.feature_names) == shape[1] and data.ids[0] == "1"
