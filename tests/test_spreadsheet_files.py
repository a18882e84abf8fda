"""Files from spreadsheets (issue 23, point 6): the delimiter detected or forced, a BOM and
CRLF read as they come, messages that say how a file was split, and class names that hold
commas."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from alden.cli import main
from alden.cli_types import class_names, delimiter
from alden.data.datasets import load_dataset
from alden.data.files import detect_delimiter, parse_delimited, read_table
from alden.errors import DataError
from alden.project import store
from alden.project.teach import read_label_file, teach

pytestmark = pytest.mark.usefixtures("private_cache")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding, newline="")
    return path


REVIEWS = [("r1", "pos", "good value, works well"), ("r2", "neg", "broke after a day; sad"),
           ("r3", "neg, mostly", "fine | but slow"), ("r4", "pos", "great")]


def rows_with(sep: str, *, end: str = "\n") -> str:
    """The reviews as a delimited text: cells holding ``sep`` quoted, as spreadsheets do."""
    def cell(c: str) -> str:
        return f'"{c}"' if sep in c else c
    lines = [sep.join(("id", "label", "text"))]
    lines += [sep.join(cell(c) for c in row) for row in REVIEWS]
    return end.join(lines) + end


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_each_delimiter_is_detected_in_a_csv_file(tmp_path, sep):
    table = read_table(write(tmp_path / "d.csv", rows_with(sep)))
    assert table.delimiter == sep and table.header == ["id", "label", "text"]
    assert table.rows == [list(r) for r in REVIEWS] and table.lines == [2, 3, 4, 5]


def test_an_excel_export_bom_crlf_and_semicolons(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + rows_with(";", end="\r\n").encode("utf-8"))
    data = load_dataset(path, id_column="id", label_column="label")
    assert data.ids == ["r1", "r2", "r3", "r4"]
    assert data.texts == [r[2] for r in REVIEWS]
    assert data.label_names == ("neg", "neg, mostly", "pos")  # one class, comma and all


def test_a_tab_file_named_csv(tmp_path):
    path = write(tmp_path / "tabs.csv", rows_with("\t"))
    data = load_dataset(path, id_column="id", label_column="label")
    assert data.ids == ["r1", "r2", "r3", "r4"] and data.texts[0] == "good value, works well"


def test_a_file_of_one_column_keeps_the_extensions_delimiter(tmp_path):
    path = write(tmp_path / "one.csv", "text\nhello there\nbye now\n")
    assert read_table(path).delimiter == ","
    assert read_table(write(tmp_path / "one.tsv", "text\nhi, you\n")).delimiter == "\t"


def test_a_forced_delimiter_wins_over_detection(tmp_path):
    # read with ';' the header has three columns; forced to ',' it is split at the commas
    path = write(tmp_path / "f.csv", "id;label,text\n1;a,x\n2;b,y\n")
    with pytest.raises(DataError, match="cannot tell the delimiter"):
        read_table(path)
    assert read_table(path, delimiter=",").header == ["id;label", "text"]
    data = load_dataset(path, text_column="text", delimiter=",")
    assert data.texts == ["x", "y"]
    assert load_dataset(path, text_column="label,text", delimiter=";").texts == ["a,x", "b,y"]


def test_an_ambiguous_file_names_the_candidates(tmp_path):
    path = write(tmp_path / "a.csv", "a,b;c\n1,2;3\n4,5;6\n")
    with pytest.raises(DataError) as err:
        load_dataset(path, text_column="a")
    message = str(err.value)
    assert "cannot tell the delimiter" in message
    assert "comma-separated (2 columns) or semicolon-separated (2 columns)" in message
    assert "--delimiter" in message
    assert detect_delimiter(path, "a,b;c\n1,2;3\n4,5;6\n7;8\n") == ";"  # more rows fit


def test_a_row_that_does_not_fit_names_the_delimiter_and_the_columns(tmp_path):
    path = write(tmp_path / "r.csv", "id;label\n1;a\n2;b;c\n")
    with pytest.raises(DataError, match=r"r\.csv, line 3: 3 fields, expected 2 like the header "
                                        r"\(read as semicolon-separated; the columns are "
                                        r"'id', 'label'\)"):
        read_table(path)


def test_a_file_forced_the_wrong_way_says_how_its_header_looks(tmp_path):
    path = write(tmp_path / "x.csv", "id;text\nr1;good, fine\n")
    with pytest.raises(DataError, match=r"line 2: 2 fields, expected 1 like the header \(read "
                                        r"as comma-separated; the columns are 'id;text'\); the "
                                        r"header looks semicolon-separated: give --delimiter ';'"):
        read_table(path, delimiter=",")
    two = write(tmp_path / "y.csv", "id,a;b\n1,2\n")  # two columns: a name may hold ';'
    with pytest.raises(DataError) as err:
        read_table(two, delimiter=",").column("x", "--text-column")
    assert "looks" not in str(err.value) and "--text-column" in str(err.value)


def test_a_header_split_the_wrong_way_says_so_instead_of_naming_another_column(tmp_path):
    path = write(tmp_path / "w.csv", "id;label\n1;a\n")
    table = parse_delimited(path, path.read_text(), delimiter=",")  # the old fixed comma
    with pytest.raises(DataError) as err:
        table.column("id", "--id-column")
    message = str(err.value)
    assert "looks semicolon-separated: give --delimiter ';'" in message
    assert "read as comma-separated" in message and "--id-column" not in message


def test_init_and_benchmark_take_delimiter(tmp_path, capsys):
    lines = ["text;label"] + [f"item {i} {'good' if i % 2 else 'bad'};{'ab'[i % 2]}"
                              for i in range(30)]
    path = write(tmp_path / "s.csv", "\n".join(lines) + "\n")
    assert main(["init", str(tmp_path / "p"), "--data", str(path), "--embedding-dim", "8"]) == 0
    assert "30 text items" in capsys.readouterr().out
    parser = argparse.ArgumentParser()
    from alden.cli_types import add_data_options

    add_data_options(parser)
    assert parser.parse_args(["--delimiter", "tab"]).delimiter == "\t"
    from alden.experiments.data_options import data_options, load_options

    args = parser.parse_args(["--delimiter", ";"])
    assert load_options(data_options(args, [str(path)]))["delimiter"] == ";"
    assert "delimiter" not in dict(data_options(parser.parse_args([]), [str(path)]))


def test_teach_reads_a_semicolon_file_and_an_excel_export(tmp_path):
    path = write(tmp_path / "l.csv", "id;label\nr1;pos\nr2;neg, mostly\n")
    assert [(r.id, r.label) for r in read_label_file(path)] == [("r1", "pos"),
                                                                ("r2", "neg, mostly")]
    excel = tmp_path / "excel.csv"
    excel.write_bytes(b"\xef\xbb\xbf" + rows_with(";", end="\r\n").encode("utf-8"))
    assert [r.label for r in read_label_file(excel)] == [r[1] for r in REVIEWS]


# ---- class names -------------------------------------------------------------------------

def test_class_names_by_commas_json_or_file(tmp_path):
    assert class_names("neg, pos") == ("neg", "pos")
    assert class_names('["neg, mostly", "pos"]') == ("neg, mostly", "pos")
    listed = write(tmp_path / "classes.txt", "\ufeffneg, mostly\r\npos\n\n")
    assert class_names(str(listed)) == ("neg, mostly", "pos")
    for bad, why in (("a,,b", "empty"), ("a,b,a", "named twice"), ("[1, 2]", "JSON list of "
                     "strings"), ("[\"a\"", "not a JSON list")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            class_names(bad)


def test_delimiter_option_values():
    assert [delimiter(t) for t in (";", ",", "|", "tab", "\\t", "semicolon", "\t")] == [
        ";", ",", "|", "\t", "\t", ";", "\t"]
    for bad in ("ab", "x", '"', ""):
        with pytest.raises(argparse.ArgumentTypeError, match="one character"):
            delimiter(bad)


def test_a_label_with_a_comma_stays_one_class(tmp_path):
    store.create(tmp_path / "p", ids=["r1", "r2", "r3"], texts=["x", "y", "z"])
    conn = store.connect(tmp_path / "p")
    try:
        for name, text in (("q.csv", 'id,label\nr1,"neg, mostly"\nr2,pos\n'),
                           ("j.jsonl", json.dumps({"id": "r3", "label": "neg, mostly"}) + "\n")):
            result = teach(conn, read_label_file(write(tmp_path / name, text)), source=name,
                           who="t", add_classes=True)
            assert "neg" not in result.new_classes
        assert store.classes(conn) == ("neg, mostly", "pos")
        assert store.labels(conn).as_dict() == {0: 0, 1: 1, 2: 0}
    finally:
        conn.close()


def test_init_and_teach_print_a_class_with_a_comma_as_one_name(tmp_path, capsys):
    lines = ["id;text"] + [f"r{i};item {i} {'good' if i % 2 else 'bad'}" for i in range(20)]
    path = write(tmp_path / "s.csv", "\n".join(lines) + "\n")
    assert main(["init", str(tmp_path / "p"), "--data", str(path), "--embedding-dim", "8",
                 "--classes", '["bad", "good, mostly"]']) == 0
    assert "classes: bad, 'good, mostly';" in capsys.readouterr().out
    answers = write(tmp_path / "a.csv", 'id;label\nr1;bad\nr2;"ok, I guess"\n')
    assert main(["teach", str(tmp_path / "p"), str(answers), "--add-classes"]) == 0
    assert "new classes: 'ok, I guess'" in capsys.readouterr().out
