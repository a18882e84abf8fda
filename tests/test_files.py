"""The one reader of user files (alden.data.files) and what init, predict and teach do with
odd input: one line numbering, huge cells, empty texts, long texts (issue 14, issue 11)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from alden.cli import main
from alden.data.datasets import load_dataset
from alden.data.files import read_table
from alden.errors import DataError
from alden.project import store
from alden.project import workspace as project_data
from alden.project.new_items import encode_new
from alden.project.teach import read_label_file

MEGABYTE = 1_000_000


pytestmark = pytest.mark.usefixtures("private_cache")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def huge_text(words: int = 210_000) -> str:
    """About 1 MB of text: ``words`` words of four letters and a space."""
    rng = np.random.default_rng(0)
    vocab = ["good", "film", "dull", "plot", "cast", "warm", "grim", "told"]
    return " ".join(rng.choice(vocab, words))


def sentences(n: int) -> list[str]:
    good, bad = ["good", "great", "fine"], ["bad", "dull", "poor"]
    return [f"the film was {(good if i % 2 else bad)[i % 3]} and {i}" for i in range(n)]


# ---- one line numbering -----------------------------------------------------------------

def test_a_quoted_cell_over_two_lines_keeps_the_line_it_starts_on_in_every_reader(tmp_path):
    path = write(tmp_path / "l.csv", 'id,label,text\nid1,pos,"two\nlines"\nid2,neg,one\n')
    assert read_table(path).lines == [2, 4]
    assert [r.where for r in read_label_file(path)] == ["line 2", "line 4"]  # teach said 3
    assert load_dataset(path, id_column="id", label_column="label").lines == [
        f"{path}, line 2", f"{path}, line 4"]


def test_a_ragged_row_gets_the_same_line_from_init_and_teach(tmp_path):
    path = write(tmp_path / "r.csv", 'id,label,text\nid1,pos,"a\nb"\nid2,neg,x,extra\n')
    with pytest.raises(DataError, match=r"r\.csv, line 4: 4 fields, expected 3"):
        load_dataset(path, id_column="id")
    rows = read_label_file(path)
    assert rows[1].where == "line 4" and "4 fields, expected 3" in rows[1].problem


def test_json_lines_split_at_newlines_only_not_at_unicode_line_separators(tmp_path):
    texts = ["one\u2028two", "three\x85four", "five"]  # JSON keeps both characters raw
    lines = [json.dumps({"id": f"i{k}", "text": t, "label": "ab"[k % 2]}, ensure_ascii=False)
             for k, t in enumerate(texts)]
    path = write(tmp_path / "u.jsonl", "\n".join(lines) + "\n")
    data = load_dataset(path, label_column="label")
    assert data.texts == texts and data.ids == ["i0", "i1", "i2"]  # three records, not five
    rows = read_label_file(path)  # teach split at \u2028 and \x85 too: "not valid JSON"
    assert [(r.where, r.id, r.label) for r in rows] == [
        ("line 1", "i0", "a"), ("line 2", "i1", "b"), ("line 3", "i2", "a")]


def test_bad_json_names_file_line_and_character(tmp_path):
    path = write(tmp_path / "b.jsonl", '{"text": "a"}\n{"text": "b",}\n')
    for read in (load_dataset, read_label_file):
        with pytest.raises(DataError, match=r"b\.jsonl, line 2: not valid JSON \(.* at "
                                            r"character 14\)"):
            read(path)


# ---- a 1 MB cell ------------------------------------------------------------------------

def test_a_one_megabyte_csv_cell_is_read(tmp_path):
    big = huge_text()
    assert len(big) > MEGABYTE
    path = tmp_path / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text", "label"], ["short one", "a"], [big, "b"]])
    data = load_dataset(path, label_column="label")  # was: field larger than field limit
    assert data.texts[1] == big
    batch = tmp_path / "batch.csv"  # a batch file echoes the text: teach reads it back
    with open(batch, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "label", "text"], ["3", "b", big]])
    assert [(r.id, r.label) for r in read_label_file(batch)] == [("3", "b")]


# ---- empty texts ------------------------------------------------------------------------

def test_an_empty_text_is_left_out_and_listed_not_the_whole_file(tmp_path):
    path = write(tmp_path / "e.csv", "text,label\nhi there,a\n  ,b\nho there,b\n,a\n")
    data = load_dataset(path, label_column="label")
    assert data.texts == ["hi there", "ho there"] and data.ids == ["2", "4"]
    assert data.skipped == (f"{path}, line 3: column 'text' has an empty text",
                            f"{path}, line 5: column 'text' has an empty text")
    with pytest.raises(DataError, match=r"e\.csv, line 3: column 'text' has an empty text "
                                        r"\(and 1 more\); leave out --strict"):
        load_dataset(path, label_column="label", strict=True)


def test_an_empty_line_or_file_in_a_class_folder_is_left_out_and_listed(tmp_path):
    for folder, files, texts in (
            ("lines", {"a.txt": "x\n\ny\n", "b.txt": "z\n"}, ["x", "y", "z"]),
            ("files", {"a/1.txt": "x", "a/2.txt": "  \n", "b/1.txt": "z"}, ["x", "z"])):
        for name, text in files.items():
            (tmp_path / folder / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / name).write_text(text, encoding="utf-8")
        data = load_dataset(tmp_path / folder)  # was: the whole folder refused
        assert data.texts == texts and data.labels.tolist() == [0] * (len(texts) - 1) + [1]
    assert load_dataset(tmp_path / "lines").skipped == (f"{tmp_path / 'lines' / 'a.txt'}, line 2: "
                                                        "empty text",)
    assert load_dataset(tmp_path / "files").skipped == (f"{tmp_path / 'files' / 'a' / '2.txt'}: "
                                                        "empty text",)


def test_init_lists_the_rows_left_out_and_strict_refuses(tmp_path, capsys):
    texts = sentences(30)
    texts[4] = "   "
    path = tmp_path / "d.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text"], *[[t] for t in texts]])
    assert main(["init", str(tmp_path / "p"), "--data", str(path), "--embedding-dim", "8"]) == 0
    out = capsys.readouterr().out
    assert "made project" in out and "29 text items" in out
    assert "left out 1 row with an empty text" in out and f"{path}, line 6" in out
    assert main(["init", str(tmp_path / "q"), "--data", str(path), "--strict"]) == 2
    assert "line 6: column 'text' has an empty text" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


# ---- long texts -------------------------------------------------------------------------

def test_a_one_megabyte_text_is_cut_and_the_pool_stays_small(tmp_path, capsys):
    texts = sentences(40)
    texts[7] = huge_text()
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    assert path.stat().st_size > MEGABYTE
    assert main(["init", str(tmp_path / "p"), "--data", str(path), "--embedding-dim", "8"]) == 0
    out = capsys.readouterr().out
    assert "cut 1 text to the first 200 words" in out and f"{path}, line 8" in out
    x = np.load(tmp_path / "p" / "encoding" / "x.npy")
    assert x.shape == (40, 200)  # was (40, 210000): every row padded to the longest text
    assert x.nbytes < 100_000
    conn = store.connect(tmp_path / "p")
    try:
        data = project_data.read_project(conn, tmp_path / "p")
    finally:
        conn.close()
    assert data.settings["max_words"] == 200
    ids, new, skipped = encode_new(data, path)  # predict: the same bound for new files
    assert new.shape == (40, 200) and skipped == ()
    np.testing.assert_array_equal(new, x)


def test_max_words_is_an_init_option(tmp_path, capsys):
    texts = sentences(20)
    path = write(tmp_path / "s.csv", "text\n" + "\n".join(texts) + "\n")
    assert main(["init", str(tmp_path / "p"), "--data", str(path), "--max-words", "3",
                 "--embedding-dim", "8"]) == 0
    out = capsys.readouterr().out
    assert "cut 20 texts to the first 3 words (change it with --max-words)" in out
    assert "... and 10 more" in out  # the first ten lines are listed
    assert np.load(tmp_path / "p" / "encoding" / "x.npy").shape == (20, 3)


def test_the_paper_sets_are_not_cut_by_the_default(shared_data):
    from alden.data.text import MAX_WORDS, tokenize_texts

    for name in ("subj", "mr"):
        data = load_dataset(name, shared_data, download=False)
        longest = max(len(t) for t in tokenize_texts(data.texts, data.tokenized))
        assert longest < MAX_WORDS  # so benchmark results stay what they were


def test_words_past_the_cut_are_not_in_the_vocabulary(tmp_path):
    from alden.data.prepare import prepare_unlabeled

    texts = [f"word{i} the film was good and then onlyhere{i}" for i in range(6)]
    path = write(tmp_path / "v.csv", "text\n" + "\n".join(texts) + "\n")
    prepared = prepare_unlabeled(load_dataset(path), 0, embedding_dim=4, max_len=4)
    assert prepared.cut == tuple(range(6)) and prepared.x.shape == (6, 4)
    assert not any(w.startswith("onlyhere") for w in prepared.vocab.words)
    assert len(prepared.embeddings) == len(prepared.vocab)
