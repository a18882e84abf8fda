"""Annotators: every answer kept, disagreements listed and resolved, retries counted once,
and Label Studio exports with disagreeing annotators never stored silently."""

from __future__ import annotations

import json
import sqlite3

import pytest
from test_labeler import make_project

from alden.errors import DataError, ProjectError
from alden.project import answers, store
from alden.project.teach import teach_file


@pytest.fixture
def conn(tmp_path):
    folder = make_project(tmp_path / "p", picks=4)
    c = store.connect(folder)
    yield c
    c.close()


def test_two_annotators_keep_both_answers_and_the_first_label(conn):
    assert answers.give(conn, 0, 1, who="ann").outcome == "labeled"
    assert answers.give(conn, 0, 0, who="bob").outcome == "conflict"
    assert store.labels(conn).as_dict() == {0: 1}  # not overwritten
    [d] = answers.disagreements(conn)
    assert (d.item, d.label, [(a.who, a.label) for a in d.answers]) == (
        0, 1, [("ann", 1), ("bob", 0)])
    answers.resolve(conn, 0, 0, who="lead")
    assert store.labels(conn).as_dict() == {0: 0} and answers.disagreements(conn) == []
    assert [d.item for d in answers.disagreements(conn, resolved=True)] == [0]
    assert conn.execute("SELECT label, who, rule FROM conflicts").fetchall() == [
        (0, "lead", "page")]
    # a third answer agreeing with the resolution keeps it resolved; a differing one reopens
    answers.give(conn, 0, 0, who="cat")
    assert answers.disagreements(conn) == []
    answers.give(conn, 0, 1, who="dan")
    assert [d.item for d in answers.disagreements(conn)] == [0]
    assert store.labels(conn).as_dict() == {0: 0}


def test_agreement_after_an_undo_settles_the_label(conn):
    answers.give(conn, 0, 1, who="ann")
    answers.give(conn, 0, 0, who="bob")
    answers.give(conn, 0, 0, who="cat")
    assert answers.withdraw(conn, 0, who="ann")
    assert store.labels(conn).as_dict() == {0: 0} and answers.disagreements(conn) == []
    events = conn.execute("SELECT item, label FROM label_events ORDER BY seq").fetchall()
    assert events == [(0, 1), (0, 0)]


def test_a_retried_request_counts_once(conn):
    first = answers.give(conn, 1, 1, who="ann", client_id="c-1")
    again = answers.give(conn, 1, 0, who="ann", client_id="c-1")  # same id: a replay
    assert not first.duplicate and again.duplicate and again.outcome == "labeled"
    assert store.labels(conn).as_dict() == {1: 1}
    assert conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == 1
    u1 = answers.undo(conn, who="ann", client_id="u-1")
    u2 = answers.undo(conn, who="ann", client_id="u-1")
    assert u1.item == 1 and u2.duplicate and store.labels(conn).as_dict() == {}


def test_undo_takes_back_skips_and_labels_latest_first(conn):
    answers.give(conn, 0, 1, who="ann")
    answers.give(conn, 1, None, who="ann")
    q = answers.queue(conn, "ann")
    assert (q.done, q.labeled, q.skipped, q.current.item, q.size) == (2, 1, 1, 2, 4)
    assert answers.undo(conn, who="ann").item == 1
    assert answers.queue(conn, "ann").current.item == 1
    assert answers.undo(conn, who="ann").item == 0
    assert answers.undo(conn, who="ann").outcome == "nothing"
    assert answers.queue(conn, "bob").current.item == 0


def test_bad_items_and_classes_are_refused(conn):
    with pytest.raises(ProjectError, match="no item 99"):
        answers.give(conn, 99, 0, who="ann")
    with pytest.raises(ProjectError, match="no class 5"):
        answers.give(conn, 0, 5, who="ann")
    with pytest.raises(ProjectError, match="no disagreement"):
        answers.resolve(conn, 0, 0, who="ann")
    assert store.labels(conn).as_dict() == {}


def test_rules():
    a = [answers.Answer(w, lab, n, "", "") for n, (w, lab) in
         enumerate([("x", 0), ("y", 1), ("z", 1)])]
    assert answers.by_rule(a, "latest") == 1 and answers.by_rule(a, "majority") == 1
    assert answers.by_rule(a[:2], "majority") is None
    assert answers.by_rule(a, "skip") is None
    with pytest.raises(ProjectError, match="unknown conflict rule"):
        answers.by_rule(a, "first")


def export(path, tasks):
    """A Label Studio export: each task's answers as (annotator id, choice)."""
    path.write_text(json.dumps([
        {"id": n, "data": {"id": f"t{n}", "text": "..."}, "annotations": [
            {"completed_by": who, "created_at": f"2026-01-0{k + 1}T00:00:00Z",
             "result": [{"value": {"choices": [choice]}}]}
            for k, (who, choice) in enumerate(answers)]}
        for n, answers in tasks]))
    return path


def test_label_studio_disagreement_is_not_stored_silently(tmp_path):
    folder = make_project(tmp_path / "p")
    path = export(tmp_path / "ls.json", [(0, [(1, "pos"), (2, "neg")]), (1, [(1, "pos")])])
    with pytest.raises(DataError, match=r"task 1: annotators disagree on id 't0' "
                       r"\(labelstudio:1: 'pos', labelstudio:2: 'neg'\); give --on-conflict"):
        teach_file(folder, path, who="me")
    conn = store.connect(folder)
    assert store.labels(conn).as_dict() == {}
    conn.close()


@pytest.mark.parametrize("rule, label, open_", [("latest", 0, False), ("majority", None, True),
                                                 ("skip", None, True)])
def test_label_studio_on_conflict_rules(tmp_path, rule, label, open_):
    folder = make_project(tmp_path / "p")
    path = export(tmp_path / "ls.json", [(0, [(1, "pos"), (2, "neg")]), (1, [(1, "pos")]),
                                         (2, [(1, "neg"), (2, "neg")])])
    result = teach_file(folder, path, who="me", on_conflict=rule)
    conn = store.connect(folder)
    expected = {1: 1, 2: 0} | ({0: label} if label is not None else {})
    assert store.labels(conn).as_dict() == expected
    assert result.change.added == len(expected) and len(result.conflicts) == 1
    assert result.new_classes == ()  # neg and pos are the project's classes already
    assert [d.item for d in answers.disagreements(conn)] == ([0] if open_ else [])
    assert conn.execute("SELECT who, label FROM annotations WHERE item = 0 ORDER BY seq"
                        ).fetchall() == [("labelstudio:1", 1), ("labelstudio:2", 0)]
    assert conn.execute("SELECT who FROM labels WHERE item = 2").fetchone() == (
        "labelstudio:2",)
    conn.close()


def test_an_old_project_gains_the_tables_and_keeps_its_labels(tmp_path):
    from alden.project import db

    folder = tmp_path / "old"
    folder.mkdir()
    raw = sqlite3.connect(folder / db.DB_NAME)  # a project as alden left it at version 1
    raw.executescript(db.SCHEMA + f"""
        INSERT INTO items (pos, id, text) VALUES (0, 'a', 'good'), (1, 'b', 'bad');
        INSERT INTO classes VALUES (0, 'neg'), (1, 'pos');
        INSERT INTO labels VALUES (0, 1, 'ann', '2026-01-01T00:00:00+00:00', 0, 'label');
        PRAGMA application_id = {db.APPLICATION_ID}; PRAGMA user_version = 1;""")
    raw.close()
    conn = store.connect(folder)
    assert conn.execute("SELECT item, who, label FROM annotations").fetchall() == [(0, "ann", 1)]
    assert store.labels(conn).as_dict() == {0: 1}
    assert answers.give(conn, 0, 0, who="bob").outcome == "conflict"  # ann's label kept
    assert store.labels(conn).as_dict() == {0: 1}
    conn.close()


def test_teach_command_takes_on_conflict(tmp_path, capsys):
    from alden.cli import main

    folder = make_project(tmp_path / "p")
    path = export(tmp_path / "ls.json", [(0, [(1, "pos"), (2, "neg"), (3, "neg")])])
    assert main(["teach", str(folder), str(path)]) == 2
    assert "annotators disagree on id 't0'" in capsys.readouterr().err
    assert main(["teach", str(folder), str(path), "--on-conflict", "majority"]) == 0
    out = capsys.readouterr().out
    assert "annotators disagreed on 1 task (every answer is kept):" in out
    assert "'neg' by --on-conflict majority" in out
    conn = store.connect(folder)
    assert store.labels(conn).as_dict() == {0: 0}
    assert conn.execute("SELECT rule FROM conflicts").fetchall() == [("majority",)]
    conn.close()
