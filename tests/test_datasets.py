"""load_dataset: built-in text sets, user files and folders, and every bad-input message."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from alden import cli
from alden.data.datasets import BUILTINS, Dataset, data_dir, load_dataset
from alden.errors import DataError


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- the data dir -------------------------------------------------------------------------

def test_data_dir_prefers_argument_then_env_then_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALDEN_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv("ALDEN_DATA")
    assert data_dir() == tmp_path / "home" / ".cache" / "alden"


# --- built-in text sets on the real files --------------------------------------------------

@pytest.mark.parametrize(("name", "size", "names", "accented"), [
    ("subj", 5000, ("objective", "subjective"), "clichés"),
    ("mr", 5331, ("negative", "positive"), "almodóvar"),
])
def test_builtin_text_sets_have_the_papers_sizes(shared_data, name, size, names, accented):
    data = load_dataset(name, shared_data, download=False)
    assert (data.kind, data.tokenized, data.label_names) == ("text", True, names)
    assert len(data) == len(data.texts) == len(data.ids) == 2 * size
    assert np.bincount(data.labels).tolist() == [size, size]
    assert len(set(data.ids)) == len(data)
    # Latin-1 decoding keeps the accented word whole (UTF-8 would fail, ASCII would mangle it)
    assert any(accented in text.split() for text in data.texts)


def test_builtin_name_is_case_insensitive_and_uses_env(shared_data, monkeypatch):
    monkeypatch.setenv("ALDEN_DATA", str(shared_data))
    assert len(load_dataset("SUBJ", download=False)) == 10000


def fake_subj(root: Path, quote_lines: list[bytes], plot_lines: list[bytes]) -> None:
    write(root / "subj" / "quote.tok.gt9.5000", b"\n".join(quote_lines) + b"\n")
    write(root / "subj" / "plot.tok.gt9.5000", b"\n".join(plot_lines) + b"\n")


def test_latin1_bytes_decode_and_nel_byte_does_not_split_a_line(tmp_path):
    # 0x85 is NEL in Latin-1, which str.splitlines() would treat as a line break
    quote = [b"caf\xe9 na\xefve \x85 ok"] + [b"quote %d" % i for i in range(4999)]
    fake_subj(tmp_path, quote, [b"plot %d" % i for i in range(5000)])
    data = load_dataset("subj", tmp_path, download=False)
    assert len(data) == 10000
    first = data.ids.index("quote.tok.gt9.5000:1")
    assert data.texts[first] == "café naïve \x85 ok"
    assert data.labels[first] == data.label_names.index("subjective")


def test_builtin_with_wrong_line_count_is_refused(tmp_path):
    fake_subj(tmp_path, [b"q"] * 4999, [b"p"] * 5000)
    with pytest.raises(DataError, match=r"quote.tok.gt9.5000 has 4999 lines, expected 5000"):
        load_dataset("subj", tmp_path, download=False)


def test_missing_builtin_without_download_says_which_files_to_put_where(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("mr", tmp_path, download=False)
    message = str(err.value)
    assert "rt-polarity.pos" in message and "rt-polarity.neg" in message
    assert str(tmp_path / "mr") in message and "rt-polaritydata.tar.gz" in message


# --- user files ----------------------------------------------------------------------------

ROWS = [("a1", "good film", "pos"), ("a2", "bad film", "neg"), ("a3", "fine ; really", "pos")]


def user_file(tmp_path: Path, fmt: str) -> Path:
    if fmt == "jsonl":
        lines = [json.dumps({"id": i, "text": t, "label": lab}) for i, t, lab in ROWS]
        return write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")
    sep = "," if fmt == "csv" else "\t"
    lines = [sep.join(("id", "text", "label"))] + [sep.join(row) for row in ROWS]
    return write(tmp_path / f"data.{fmt}", "\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_user_file_with_string_labels(tmp_path, fmt):
    path = user_file(tmp_path, fmt)
    data = load_dataset(path, text_column="text", label_column="label", id_column="id")
    assert (data.name, data.kind, data.tokenized) == ("data", "text", False)
    assert data.texts == [t for _, t, _ in ROWS]
    assert data.label_names == ("neg", "pos")
    assert data.labels.dtype == np.int64 and data.labels.tolist() == [1, 0, 1]
    assert data.ids == ["a1", "a2", "a3"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_ids_default_to_an_id_column_else_line_numbers_and_labels_are_optional(tmp_path, fmt):
    path = user_file(tmp_path, fmt)
    data = load_dataset(path, text_column="text")
    assert data.ids == ["a1", "a2", "a3"] and data.id_column == "id"
    if fmt == "csv":
        no_ids = write(tmp_path / "no_ids.csv", "text\n" + "\n".join(t for _, t, _ in ROWS))
    else:
        no_ids = write(tmp_path / "no_ids.jsonl", "".join(
            json.dumps({"text": t}) + "\n" for _, t, _ in ROWS))
    first = 2 if fmt == "csv" else 1  # the CSV header is line 1
    assert load_dataset(no_ids).ids == [str(first + i) for i in range(3)]
    assert data.labels.tolist() == [-1, -1, -1] and data.label_names == ()
    given = load_dataset(path, label_names=["neg", "pos"])
    assert given.label_names == ("neg", "pos") and (given.labels == -1).all()


def test_ids_follow_the_file_line_of_quoted_multiline_rows(tmp_path):
    path = write(tmp_path / "m.csv", 'text,label\n"two\nlines",a\nthird,b\n')
    data = load_dataset(path, label_column="label")
    assert data.ids == ["2", "4"] and data.texts == ["two\nlines", "third"]


def test_numeric_labels_sort_as_numbers_and_whole_floats_merge(tmp_path):
    path = write(tmp_path / "n.csv", "text,label\na,10\nb,2\nc,2.0\nd,10\n")
    data = load_dataset(path, label_column="label")
    assert data.label_names == ("2", "10")
    assert data.labels.tolist() == [1, 0, 0, 1]


def test_given_label_names_fix_the_order(tmp_path):
    path = user_file(tmp_path, "csv")
    data = load_dataset(path, label_column="label", label_names=("pos", "neg"))
    assert data.label_names == ("pos", "neg") and data.labels.tolist() == [0, 1, 0]


def test_tabular_user_csv_with_target(tmp_path):
    path = write(tmp_path / "t.csv", "id,age,colour,y\nr1,30,red,yes\nr2,,blue,no\nr3,41,,no\n")
    data = load_dataset(path, target_column="y", id_column="id")
    assert data.kind == "tabular" and data.texts is None
    assert data.feature_names == ["age", "colour=blue", "colour=red"]
    expected = np.array([[30, 0, 1], [np.nan, 1, 0], [41, np.nan, np.nan]])
    np.testing.assert_array_equal(data.features, expected)
    assert data.label_names == ("no", "yes") and data.labels.tolist() == [1, 0, 0]
    assert data.ids == ["r1", "r2", "r3"]


def test_tabular_pool_without_target(tmp_path):
    path = write(tmp_path / "t.tsv", "a\tb\n1\t2\n3\t4\n")
    data = load_dataset(path, kind="tabular")
    np.testing.assert_array_equal(data.features, [[1, 2], [3, 4]])
    assert (data.labels == -1).all() and data.ids == ["2", "3"]


def test_folder_with_one_file_per_class(tmp_path):
    write(tmp_path / "f" / "pos.txt", "great\nloved it\n")
    write(tmp_path / "f" / "neg.txt", "awful\n")
    data = load_dataset(tmp_path / "f")
    assert data.label_names == ("neg", "pos")
    assert data.texts == ["awful", "great", "loved it"]
    assert data.labels.tolist() == [0, 1, 1]
    assert data.ids == ["neg/1", "pos/1", "pos/2"]


def test_folder_with_one_subfolder_per_class(tmp_path):
    write(tmp_path / "f" / "spam" / "1.txt", "buy now\n")
    write(tmp_path / "f" / "spam" / "2.txt", "cheap pills")
    write(tmp_path / "f" / "ham" / "a.txt", "see you\nat noon\n")
    data = load_dataset(tmp_path / "f")
    assert data.label_names == ("ham", "spam")
    assert data.texts == ["see you\nat noon", "buy now", "cheap pills"]
    assert data.ids == ["ham/a.txt", "spam/1.txt", "spam/2.txt"]


# --- bad input: each one DataError with one clear message -----------------------------------

BAD_TEXT_FILES = {
    "missing file": (None, {}, r"nope\.csv: no such file or folder"),
    "empty file": ("", {}, r"e\.csv is empty"),
    "header only": ("text,label\n", {"label_column": "label"}, "has a header but no rows"),
    "missing column": ("text,label\nhi,a\n", {"text_column": "body"},
                       r"no column 'body'; the columns are 'text', 'label'"),
    "missing label column": ("text,label\nhi,a\n", {"label_column": "y"},
                             r"no column 'y'; the columns are 'text', 'label'"),
    "one class only": ("text,label\nhi,a\nho,a\n", {"label_column": "label"},
                       r"column 'label' holds one class only \('a'\)"),
    "empty text, strict": ("text,label\nhi,a\n,b\n", {"label_column": "label", "strict": True},
                           r"e\.csv, line 3: column 'text' has an empty text; leave out --strict"),
    "whitespace text, strict": ("text,label\nhi,a\n  \t ,b\nho,b\n",
                                {"label_column": "label", "strict": True},
                                r"e\.csv, line 3: column 'text' has an empty text"),
    "every text empty": ("text,label\n,a\n \t,b\n", {"label_column": "label"},
                         r"e\.csv, line 2: column 'text' has an empty text \(and 1 more\)"),
    "NaN label": ("text,label\nhi,1\nho,NaN\n", {"label_column": "label"},
                  r"e\.csv, line 3: column 'label' has no label \(NaN\)"),
    "blank label": ("text,label\nhi,1\nho,\n", {"label_column": "label"},
                    r"e\.csv, line 3: column 'label' has no label \(empty\)"),
    "non-numeric label": ("text,label\nhi,1\nho,0\nhu,x\n", {"label_column": "label"},
                          r"e\.csv, line 4: column 'label' holds the label 'x', not a number"
                          r" like the other labels \(.*e\.csv, line 2: '1'\)"),
    "fractional label": ("text,label\nhi,1\nho,0.5\n", {"label_column": "label"},
                         r"e\.csv, line 3: column 'label' holds 0\.5, expected a whole number"),
    "unknown label": ("text,label\nhi,a\nho,c\n", {"label_column": "label",
                                                    "label_names": ("a", "b")},
                      r"e\.csv, line 3: column 'label' holds the label 'c', expected one of a, b"),
    "duplicate ids": ("id,text\nx,hi\ny,ho\nx,hu\n", {"id_column": "id"},
                      r"e\.csv: duplicate id 'x' in column 'id' at lines 2 and 4"),
    "ragged row": ("text,label\nhi,a\nho,b,extra\n", {},
                   r"e\.csv, line 3: 3 fields, expected 2 like the header"),
    "NaN target": ("x,y\n1,a\n2,nan\n3,b\n", {"target_column": "y"},
                   r"e\.csv, line 3: column 'y' has no label \(nan\)"),
    "missing target column": ("x,y\n1,a\n", {"target_column": "z"},
                              r"no column 'z'; the columns are 'x', 'y'"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT_FILES))
def test_bad_user_file_gives_one_clear_data_error(tmp_path, case):
    content, options, message = BAD_TEXT_FILES[case]
    path = tmp_path / ("nope.csv" if content is None else "e.csv")
    if content is not None:
        write(path, content)
    with pytest.raises(DataError, match=message):
        load_dataset(path, **options)


def test_undecodable_bytes_name_the_line_and_the_encoding_option(tmp_path):
    path = write(tmp_path / "u.csv", "text,label\nfine,a\ncaf\xe9,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"u\.csv, line 3: byte 0xe9 is not valid utf-8; "
                                        r"if the file has another encoding, give it, e\.g\. "
                                        r"--encoding latin-1$"):
        load_dataset(path, label_column="label")
    data = load_dataset(path, label_column="label", encoding="latin-1")
    assert data.texts == ["fine", "café"]


def test_a_windows_1252_file_is_told_to_read_as_cp1252(tmp_path):
    text = "text,label\n\u201cgood\u201d \u2013 caf\xe9,a\nfine,b\n"
    path = write(tmp_path / "w.csv", text.encode("cp1252"))  # Excel's CSV on Windows
    with pytest.raises(DataError, match=r"w\.csv, line 2: byte 0x93 is not valid utf-8; it "
                                        r"reads as Windows-1252 .*: give --encoding cp1252$"):
        load_dataset(path, label_column="label")
    data = load_dataset(path, label_column="label", encoding="cp1252")
    assert data.texts == ["\u201cgood\u201d \u2013 caf\xe9", "fine"]


def test_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = write(tmp_path / "bom.csv", "\ufefftext,label\nhi,a\nho,b\n".encode())
    assert load_dataset(path, label_column="label").texts == ["hi", "ho"]


@pytest.mark.parametrize(("content", "message"), [
    ("", r"j\.jsonl is empty"),
    ('{"text": "hi"}\n{"text": oops}\n', r"j\.jsonl, line 2: not valid JSON"),
    ('{"text": "hi"}\n[1, 2]\n', r"j\.jsonl, line 2: expected a JSON object"),
    ('{"text": "hi", "label": 1}\n{"text": "ho", "label": null}\n',
     r"j\.jsonl, line 2: column 'label' has no label"),
    ('{"text": "hi", "label": 1}\n\n{"label": 0}\n',
     r"j\.jsonl, line 3: column 'text' has an empty"),
])
def test_bad_json_lines(tmp_path, content, message):
    path = write(tmp_path / "j.jsonl", content)
    with pytest.raises(DataError, match=message):
        load_dataset(path, label_column="label", strict=True)


@pytest.mark.parametrize(("files", "message"), [
    ({}, "is an empty folder"),
    ({"only.txt": "a\nb\n"}, r"holds one class only \(only\.txt\)"),
    ({"a.txt": "x\n", "b/1.txt": "y"}, "mixes files and sub-folders"),
    ({"a.txt": "x\n\ny\n", "b.txt": "z\n"}, r"a\.txt, line 2: empty text"),
    ({"a.txt": "", "b.txt": "z\n"}, r"a\.txt is empty"),
    ({"a/1.txt": "  \n", "b/1.txt": "z"}, r"1\.txt: empty text"),
])
def test_bad_folders(tmp_path, files, message):
    root = tmp_path / "f"
    root.mkdir()
    for name, text in files.items():
        write(root / name, text)
    with pytest.raises(DataError, match=message):
        load_dataset(root, strict=True)  # strict: an empty text is an error, not left out


def test_unknown_extension_and_unknown_kind(tmp_path):
    path = write(tmp_path / "x.xlsx", "whatever")
    with pytest.raises(DataError, match=r"unknown file type \.xlsx; expected one of \.csv"):
        load_dataset(path)
    with pytest.raises(DataError, match="unknown kind 'image'"):
        load_dataset(user_file(tmp_path, "csv"), kind="image")
    with pytest.raises(DataError, match="a text column for text or a target column for a table"):
        load_dataset(user_file(tmp_path, "csv"), text_column="text", target_column="label")


def test_unknown_name_lists_the_builtin_sets():
    with pytest.raises(DataError, match="no such file or folder.*subj, mr, adult"):
        load_dataset("sujb")
    assert {"subj", "mr", "adult", "bank", "magic", "letter", "spambase",
            "breast_cancer", "wine", "digits"} == set(BUILTINS)


def test_bad_input_through_the_cli_is_one_line_without_traceback(tmp_path, monkeypatch, capsys):
    command = types.ModuleType("alden._load_command")

    def register_cli(sub):
        parser = sub.add_parser("load")
        parser.add_argument("path")
        parser.set_defaults(func=lambda args: len(load_dataset(args.path)) and 0)

    command.register_cli = register_cli
    monkeypatch.setitem(sys.modules, "alden._load_command", command)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("_load_command",))
    path = write(tmp_path / "e.csv", "text\nhi\nho,extra\n")
    assert cli.main(["load", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 3" in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_dataset_length_is_its_label_count():
    data = Dataset("d", "text", np.array([0, 1, -1]), ("a", "b"), ["1", "2", "3"],
                   texts=["x", "y", "z"])
    assert len(data) == 3


def test_a_column_named_id_gives_the_ids_without_being_told(tmp_path):
    text = tmp_path / "t.csv"
    text.write_text("id,text\nr7,a fine film\nr9,a dull one\n", encoding="utf-8")
    found = load_dataset(text)
    assert found.ids == ["r7", "r9"] and found.id_column == "id"
    assert load_dataset(text, id_column="text").ids == ["a fine film", "a dull one"]
    table = tmp_path / "t.tsv"
    table.write_text("id\tx\ty\nr1\t1.5\ta\nr2\t2.5\tb\n", encoding="utf-8")
    rows = load_dataset(table, target_column="y")
    assert rows.ids == ["r1", "r2"] and rows.feature_names == ["x"]  # never a feature
    plain = tmp_path / "p.csv"
    plain.write_text("text\nfirst\nsecond\n", encoding="utf-8")
    assert load_dataset(plain).id_column is None and len(set(load_dataset(plain).ids)) == 2
