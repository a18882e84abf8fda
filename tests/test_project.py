"""The project store: schema, transactions, versions, crashes and concurrent writers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alden.errors import DataError, ProjectError
from alden.project import answers, labels
from alden.project import store as project
from alden.project import teach as teach_mod


def make(folder: Path, n: int = 10, classes=("neg", "pos")) -> Path:
    project.create(folder, ids=[f"id{i}" for i in range(n)], texts=[f"text {i}" for i in range(n)],
                   classes=classes, settings={"kind": "text", "seed": 3})
    return folder


def test_create_and_read_back(tmp_path):
    folder = make(tmp_path / "p", n=5)
    conn = project.connect(folder)
    assert project.item_ids(conn) == ["id0", "id1", "id2", "id3", "id4"]
    assert project.item_contents(conn)[2] == "text 2"
    assert project.classes(conn) == ("neg", "pos")
    got = project.settings(conn)
    assert got["kind"] == "text" and got["seed"] == 3 and "created" in got
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert conn.execute("PRAGMA user_version").fetchone()[0] == project.SCHEMA_VERSION
    assert project.integrity_check(conn) == "ok"


def test_rows_are_stored_as_json(tmp_path):
    rows = [{"age": 31, "job": "nurse"}, {"age": None, "job": "pilot"}]
    project.create(tmp_path / "p", ids=["a", "b"], rows=rows)
    conn = project.connect(tmp_path / "p")
    assert project.item_contents(conn) == rows


def test_duplicate_ids_refused(tmp_path):
    with pytest.raises(ProjectError, match="not unique"):
        project.create(tmp_path / "p", ids=["a", "a"], texts=["x", "y"])


def test_other_schema_version_says_so(tmp_path):
    folder = make(tmp_path / "p")
    raw = sqlite3.connect(project.db_path(folder))
    raw.execute("PRAGMA user_version = 7")
    raw.close()
    with pytest.raises(ProjectError, match=r"newer alden \(project schema version 7\).*version "
                       + str(project.SCHEMA_VERSION)):
        project.connect(folder)


def test_not_a_project(tmp_path):
    with pytest.raises(ProjectError, match="no such project folder"):
        project.connect(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProjectError, match="project.db is missing"):
        project.connect(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    other = sqlite3.connect(tmp_path / "other" / "project.db")
    other.execute("CREATE TABLE t (x)")
    other.close()
    with pytest.raises(ProjectError, match="not an alden project database"):
        project.connect(tmp_path / "other")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "project.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ProjectError, match="not a readable SQLite database"):
        project.connect(tmp_path / "junk")


def test_labels_are_idempotent_and_conflicts_refused(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    with project.transaction(conn):
        change = labels.write_labels(conn, [(0, 1), (1, 0)], who="ann", source="t")
    assert change == labels.LabelChange(added=2, unchanged=0, replaced=0)
    with project.transaction(conn):
        change = labels.write_labels(conn, [(0, 1), (1, 0)], who="ann", source="t")
    assert change == labels.LabelChange(added=0, unchanged=2, replaced=0)
    with pytest.raises(ProjectError, match="labeled 1 already"), project.transaction(conn):
        labels.write_labels(conn, [(2, 0), (0, 0)], who="bob", source="t")
    assert project.labels(conn).as_dict() == {0: 1, 1: 0}  # item 2 rolled back as well
    with project.transaction(conn):
        change = labels.write_labels(conn, [(0, 0)], who="bob", source="t", overwrite=True)
    assert change.replaced == 1 and project.labels(conn).as_dict() == {0: 0, 1: 0}
    who = conn.execute("SELECT who, source FROM labels WHERE item = 0").fetchone()
    assert who == ("bob", "t")
    assert conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == 3


def test_undo_removes_and_keeps_history(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    answers.give(conn, 4, 1, who="ann")
    assert answers.withdraw(conn, 4, who="ann") is True
    assert answers.withdraw(conn, 4, who="ann") is False
    assert len(project.labels(conn)) == 0
    events = conn.execute("SELECT item, label, who, source FROM label_events ORDER BY seq")
    assert events.fetchall() == [(4, 1, "ann", "label"), (4, None, "undo", "undo")]


def test_labels_belong_to_the_latest_round(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    answers.give(conn, 0, 0, who="a")
    picks = [project.Pick(3, 0.9, "far", None, None), project.Pick(5, 0.4, "near", 1, 0.7)]
    assert project.add_round(conn, strategy="cold-start", model="cnn", n_labeled=1,
                             picks=picks, info={"k": 2}) == 1
    answers.give(conn, 3, 1, who="a")
    assert project.labels(conn).rounds == (0, 1)
    assert project.round_picks(conn, 1) == picks
    (summary,) = project.rounds(conn)
    assert (summary["round"], summary["size"], summary["labeled_now"]) == (1, 2, 1)
    assert summary["info"] == {"k": 2}


def test_transaction_rolls_back_on_error(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    with pytest.raises(RuntimeError), project.transaction(conn):
        labels.write_labels(conn, [(0, 1)], who="a", source="t")
        raise RuntimeError("boom")
    assert len(project.labels(conn)) == 0
    assert not conn.in_transaction


def test_labels_key_tracks_the_labeled_set(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    empty = project.labels_key(conn)
    answers.give(conn, 1, 0, who="a")
    one = project.labels_key(conn)
    answers.give(conn, 1, 1, who="a")
    assert len({empty, one, project.labels_key(conn)}) == 3
    with project.transaction(conn):  # another's label, written over it (teach --overwrite)
        labels.write_labels(conn, [(1, 0)], who="b", source="t", overwrite=True)
    assert project.labels_key(conn) == one


def test_models_and_evaluations(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    assert project.latest_model(conn) is None
    project.add_model(conn, file="models/a.pt", round_=1, model="cnn", n_labeled=4, key="k1")
    project.add_model(conn, file="models/b.pt", round_=2, model="cnn", n_labeled=8, key="k2")
    assert project.latest_model(conn)["file"] == "models/b.pt"
    assert project.evaluation(conn, key="k2", model="cnn", folds=5) is None
    project.add_evaluation(conn, key="k2", model="cnn", folds=5, round_=2, n_labeled=8,
                           accuracy=0.75, std=0.1)
    assert project.evaluation(conn, key="k2", model="cnn", folds=5) == (0.75, 0.1)


def test_staging_is_all_or_nothing(tmp_path):
    target = tmp_path / "p"
    with pytest.raises(RuntimeError), project.staging(target) as tmp:
        make(tmp)
        raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with project.staging(target) as tmp:
        make(tmp)
    assert project.item_count(project.connect(target)) == 10
    with pytest.raises(ProjectError, match="not empty"), project.staging(target):
        pass


def run_python(code: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            stdout=subprocess.PIPE, text=True, **kwargs)


def test_sigkill_in_the_middle_of_a_write_keeps_all_or_none(tmp_path):
    folder = make(tmp_path / "p", n=2000)
    # The writer announces when half its rows are inside the open transaction, then stalls.
    proc = run_python(f"""
        import sys, time
        from alden.project import labels, store as project
        conn = project.connect({str(folder)!r})
        def entries():
            for i in range(2000):
                if i == 1000:
                    print("half", flush=True)
                    time.sleep(60)
                yield i, i % 2
        with project.transaction(conn):
            labels.write_labels(conn, entries(), who="w", source="t")
        """)
    assert proc.stdout.readline().strip() == "half"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    conn = project.connect(folder)
    assert project.integrity_check(conn) == "ok"
    assert len(project.labels(conn)) == 0  # none of the half-written batch
    answers.give(conn, 1, 1, who="after")  # and the project still works
    assert project.labels(conn).as_dict() == {1: 1}


def test_two_processes_writing_at_once(tmp_path):
    folder = make(tmp_path / "p", n=400)
    go = tmp_path / "go"
    writer = """
        import os, time
        from alden.project import answers, store as project
        conn = project.connect({folder!r})
        while not os.path.exists({go!r}):  # start both at once, so their writes interleave
            time.sleep(0.01)
        for i in range({start}, 400, 2):
            answers.give(conn, i, i % 2, who="w{start}")
        """
    procs = [run_python(writer.format(folder=str(folder), go=str(go), start=s)) for s in (0, 1)]
    go.touch()
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    conn = project.connect(folder)
    assert project.integrity_check(conn) == "ok"
    assert project.labels(conn).as_dict() == {i: i % 2 for i in range(400)}


# ---- teach: reading and validating label files -------------------------------------------

def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_read_label_files_of_every_format(tmp_path):
    want = [("id1", "pos"), ("id2", "neg")]
    csv_file = write(tmp_path / "a.csv", """
        id,text,label
        id1,"a, quoted",pos

        id2,b,neg
        """)
    tsv_file = write(tmp_path / "a.tsv", "id\tlabel\nid1\tpos\nid2\tneg\n")
    jsonl = write(tmp_path / "a.jsonl", '{"id": "id1", "label": "pos"}\n{"id": "id2", '
                                        '"label": "neg"}\n')
    studio = write(tmp_path / "a.json", """
        [{"data": {"text": "x", "id": "id1"}, "annotations": [
            {"was_cancelled": true, "result": [{"value": {"choices": ["neg"]}}]},
            {"result": [{"type": "choices", "value": {"choices": ["pos"]}}]}]},
         {"data": {"text": "y", "id": "id2"}, "annotations": [
            {"result": [{"value": {"choices": ["neg"]}}]}]}]
        """)
    for path in (csv_file, tsv_file, jsonl, studio):
        rows = teach_mod.read_label_file(path)
        assert [(r.id, r.label) for r in rows] == want, path
    assert [r.where for r in teach_mod.read_label_file(csv_file)] == ["line 2", "line 4"]
    assert [r.where for r in teach_mod.read_label_file(studio)] == ["task 1", "task 2"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("x.csv", "key,label\n1,pos\n", r"x.csv: no column 'id'; the columns are 'key', 'label'"),
    ("x.csv", "", r"x.csv: the file is empty"),
    ("x.jsonl", '{"id": "1", "label": "a"}\n{"id": 2,\n', r"x.jsonl, line 2: not valid JSON"),
    ("x.json", '{"id": 1}', r"x.json: expected a JSON list of tasks"),
    ("x.xlsx", "whatever", r"unknown file type '.xlsx'"),
])
def test_bad_label_files_say_where(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message):
        teach_mod.read_label_file(write(tmp_path / name, content))


def test_undecodable_label_file_names_the_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"id,label\nid1,pos\nid2,n\xe9g\n")
    with pytest.raises(DataError, match=r"x.csv, line 3: not UTF-8"):
        teach_mod.read_label_file(path)


def teach_file(conn, path, **kwargs):
    return teach_mod.teach(conn, teach_mod.read_label_file(path), source=f"teach {path.name}",
                         who="tester", **kwargs)


def test_teach_reports_every_bad_row_and_writes_nothing(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    answers.give(conn, 9, 0, who="x")  # id9 is "neg" already
    path = write(tmp_path / "l.csv", """
        id,label
        id1,pos
        nope,pos
        id2,maybe
        id3,pos
        id3,neg
        id4,
        id9,pos
        ,pos
        id5,pos,extra
        """)
    with pytest.raises(DataError) as err:
        teach_file(conn, path)
    message = str(err.value)
    for expected in ["l.csv: 6 bad rows, nothing was written",
                     "line 3: unknown id 'nope'",
                     "line 4: unknown label 'maybe' for id 'id2'; the classes are 'neg', 'pos'",
                     "line 6: id 'id3' is labeled 'neg' here but 'pos' on line 5",
                     "line 8: id 'id9' is labeled 'neg' already, not 'pos'",
                     "line 9: the id is empty", "line 10: 3 fields, expected 2"]:
        assert expected in message
    assert project.labels(conn).as_dict() == {9: 0}


def test_teach_skip_bad_writes_the_good_rows(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    path = write(tmp_path / "l.csv", "id,label\nid1,pos\nnope,pos\nid3,pos\nid3,neg\nid4,\n")
    result = teach_file(conn, path, skip_bad=True)
    assert result.change.added == 1 and result.blank == 1 and len(result.skipped) == 2
    assert project.labels(conn).as_dict() == {1: 1}  # id3 has two labels: neither is written


def test_teach_twice_changes_nothing(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    path = write(tmp_path / "l.jsonl", '{"id": "id1", "label": "pos"}\n'
                                       '{"id": "id1", "label": "pos"}\n'
                                       '{"id": "id2", "label": "neg"}\n')
    first = teach_file(conn, path)
    events = conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0]
    at = conn.execute("SELECT at FROM labels").fetchall()
    second = teach_file(conn, path)
    assert (first.change.added, second.change.added, second.change.unchanged) == (2, 0, 2)
    assert conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == events
    assert conn.execute("SELECT at FROM labels").fetchall() == at


def test_teach_classes_first_file_adopts_later_files_must_match(tmp_path):
    project.create(tmp_path / "p", ids=["a", "b", "c"], texts=["x", "y", "z"])
    conn = project.connect(tmp_path / "p")
    result = teach_file(conn, write(tmp_path / "1.csv", "id,label\na,spam\nb,ham\n"))
    assert result.new_classes == ("ham", "spam") and project.classes(conn) == ("ham", "spam")
    with pytest.raises(DataError, match="unknown label 'eggs'"):
        teach_file(conn, write(tmp_path / "2.csv", "id,label\nc,eggs\n"))
    teach_file(conn, tmp_path / "2.csv", add_classes=True)
    assert project.classes(conn) == ("ham", "spam", "eggs")
    assert project.labels(conn).as_dict() == {0: 1, 1: 0, 2: 2}


def test_teach_overwrite_replaces(tmp_path):
    conn = project.connect(make(tmp_path / "p"))
    teach_file(conn, write(tmp_path / "1.csv", "id,label\nid1,pos\n"))
    result = teach_file(conn, write(tmp_path / "2.csv", "id,label\nid1,neg\n"), overwrite=True)
    assert result.change.replaced == 1 and project.labels(conn).as_dict() == {1: 0}
