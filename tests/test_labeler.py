"""The terminal labeling loop: driven through a pipe, and through a pseudo-terminal (pexpect)."""

from __future__ import annotations

import io
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pexpect
import pytest
from files_util import labels

from alden.data.text import Vocab, tokenize_texts
from alden.errors import AldenError
from alden.project import labeler, store

WORDS = ["good", "bad", "film", "plot", "cast", "dull", "fine", "story", "long", "short"]


def make_project(folder: Path, n: int = 30, classes=("neg", "pos"), picks: int = 4) -> Path:
    """A text project written directly (no word2vec), with a pending round of ``picks`` items."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, 5)) for _ in range(n)]
    tokens = tokenize_texts(texts, pretokenized=False)
    vocab = Vocab.build(tokens)
    store.create(folder, ids=[f"t{i}" for i in range(n)], texts=texts, classes=classes,
                 settings={"kind": "text", "seed": 0, "model": "cnn", "strategy": "alden",
                           "cold_start": "kcenter",  # the tests below follow its picks
                           "vocab": list(vocab.words), "tokenized": False})
    (folder / "encoding").mkdir()
    np.save(folder / "encoding" / "x.npy", vocab.encode(tokens))
    np.save(folder / "encoding" / "embeddings.npy",
            rng.normal(size=(len(vocab), 8)).astype(np.float32))
    if picks:
        conn = store.connect(folder)
        store.add_round(conn, strategy="cold-start", model="cnn", n_labeled=0,
                        picks=[store.Pick(i, 1.0, f"reason {i}", None, None)
                               for i in range(picks)], info={})
        conn.close()
    return folder


def run_piped(folder: Path, answers: str, **kwargs) -> str:
    out = io.StringIO()
    assert labeler.run(folder, stdin=io.StringIO(answers), stdout=out, who="t", **kwargs) == 0
    return out.getvalue()


def test_piped_answers_label_skip_undo_quit(tmp_path):
    folder = make_project(tmp_path / "p")
    out = run_piped(folder, "1\ns\n2\nu\n1\nx\n9\nq\n")
    # item 0 -> neg; item 1 skipped; item 2 -> pos, undone, shown again -> neg; then quit
    assert labels(folder) == {0: 0, 2: 0}
    assert "undone: t2 is unlabeled again" in out and "press 1-2 for a class" in out
    assert "no class 9" in out and "labeled 2 items this session" in out
    assert "why: reason 0" in out and "[1] neg  [2] pos" in out
    conn = store.connect(folder)
    events = conn.execute("SELECT item, label FROM label_events ORDER BY seq").fetchall()
    assert events == [(0, 0), (2, 1), (2, None), (2, 0)]
    assert conn.execute("SELECT DISTINCT who, source FROM labels").fetchall() == [
        ("t", "label")]


def test_end_of_input_quits_and_keeps_labels(tmp_path):
    folder = make_project(tmp_path / "p")
    run_piped(folder, "2\n")
    assert labels(folder) == {0: 1}


def test_a_finished_batch_requeries(tmp_path):
    folder = make_project(tmp_path / "p", picks=2)
    out = run_piped(folder, "1\n2\n2\nq\n", batch=3)
    assert "retraining on 2 labels and picking the next 3 items" in out
    assert "cold start: 2 labels, fewer than 10" in out
    conn = store.connect(folder)
    assert [r["round"] for r in store.rounds(conn)] == [1, 2]
    second = [p.item for p in store.round_picks(conn, 2)]
    assert len(second) == 3 and not {0, 1} & set(second)
    assert labels(folder) == {0: 0, 1: 1, second[0]: 1}


def test_a_batch_of_skips_stops(tmp_path):
    folder = make_project(tmp_path / "p", picks=2)
    out = run_piped(folder, "s\ns\n")
    assert "nothing was labeled in this batch; stopping" in out and labels(folder) == {}


def test_more_than_nine_classes_take_a_number(tmp_path):
    names = tuple(f"c{i}" for i in range(1, 12))
    folder = make_project(tmp_path / "p", classes=names)
    run_piped(folder, "11\n10\nq\n")
    assert labels(folder) == {0: 10, 1: 9}


def test_needs_classes(tmp_path):
    folder = make_project(tmp_path / "p", classes=())
    with pytest.raises(AldenError, match="labeling needs the classes first"):
        run_piped(folder, "q\n")


# ---- a real terminal ----------------------------------------------------------------------

def spawn(folder: Path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
    return pexpect.spawn(sys.executable, ["-m", "alden.cli", "label", str(folder), *args],
                         env=env, encoding="utf-8", timeout=60, dimensions=(40, 100))


def test_single_keystrokes_on_a_terminal(tmp_path):
    folder = make_project(tmp_path / "p")
    child = spawn(folder, "--who", "tty")
    child.expect(r"\[q\] quit > ")
    child.send("2")  # one key, no Enter: the terminal is in cbreak mode
    child.expect(r"-> pos \(saved\)")
    child.expect(r"\[q\] quit > ")
    child.send("s")
    child.expect("skipped")
    child.expect(r"\[q\] quit > ")
    child.send("1")
    child.expect(r"-> neg \(saved\)")
    child.expect(r"\[q\] quit > ")
    child.send("u")
    child.expect("undone: t2 is unlabeled again")
    child.expect(r"\[q\] quit > ")
    child.send("q")
    child.expect("labeled 1 item")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert labels(folder) == {0: 1}


def test_sigkill_keeps_every_label_given(tmp_path):
    folder = make_project(tmp_path / "p", picks=6)
    child = spawn(folder)
    for key, name in zip("2121", ["pos", "neg", "pos", "neg"], strict=True):
        child.expect(r"\[q\] quit > ")
        child.send(key)
        child.expect(rf"-> {name} \(saved\)")
    child.expect(r"\[q\] quit > ")
    child.kill(signal.SIGKILL)  # no chance to clean up
    deadline = time.monotonic() + 10
    while child.isalive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not child.isalive()
    conn = store.connect(folder)
    assert store.integrity_check(conn) == "ok"
    assert store.labels(conn).as_dict() == {0: 1, 1: 0, 2: 1, 3: 0}


def test_a_skipped_item_waits_for_the_next_query(tmp_path):
    folder = make_project(tmp_path / "p", picks=2)
    out = run_piped(folder, "1\ns\nu\nu\nq\n", batch=2)
    # the batch ends after the skip: the next step is a new query, not item 1 again
    assert out.index("skipped") < out.index("retraining on 1 label")
    # undo takes back the skip (item 1 comes back with its reason from round 1), then the label
    assert "undone: t1 is no longer skipped" in out and "undone: t0 is unlabeled again" in out
    assert out.rindex("id t1 ---") > out.index("retraining") and out.count("why: reason 1") == 2
    assert out.rindex("id t0 ---") > out.rindex("id t1 ---") and out.count("why: reason 0") == 2
    assert "| undone | 0 labeled | id t0 ---" in out
    assert labels(folder) == {}


def test_a_skip_is_kept_after_a_restart(tmp_path):
    folder = make_project(tmp_path / "p", picks=4)
    run_piped(folder, "1\ns\nq\n")
    out = run_piped(folder, "q\n")  # a new session: t1 stays skipped in this round
    assert "id t1 ---" not in out and "| 3/4 | 1 labeled | id t2 ---" in out
    conn = store.connect(folder)
    assert conn.execute("SELECT item, who, label, round FROM annotations ORDER BY seq"
                        ).fetchall() == [(0, "t", 0, 1), (1, "t", None, 1)]


def test_the_counter_after_undo_shows_the_items_place(tmp_path):
    folder = make_project(tmp_path / "p", picks=5)
    out = run_piped(folder, "1\n2\nu\nq\n")
    shown = [line for line in out.splitlines() if line.startswith("--- round")]
    assert [line.split(" | ")[1] for line in shown] == ["1/5", "2/5", "3/5", "2/5"]
    assert shown[-1].endswith("id t1 ---") and labels(folder) == {0: 0}


def test_invalid_keys_say_so(tmp_path):
    folder = make_project(tmp_path / "p")
    out = run_piped(folder, "x\n\n0\nq\n")
    assert "'x' is not a key here: press 1-2 for a class, s to skip, u to undo or q" in out
    assert "Enter is not a key here" in out and "no class 0: press 1-2" in out


def test_a_second_person_never_overwrites_silently(tmp_path):
    from alden.project import answers

    folder = make_project(tmp_path / "p")
    conn = store.connect(folder)
    answers.give(conn, 0, 1, who="ann")  # someone else labels item 0 "pos" first
    conn.close()
    out = run_piped(folder, "1\nq\n")  # t sees item 1 (item 0 is labeled)
    assert "id t0 ---" not in out
    conn = store.connect(folder)
    assert answers.give(conn, 1, 1, who="ann").outcome == "conflict"  # t said neg
    assert store.labels(conn).as_dict() == {0: 1, 1: 0}  # t's label kept, not replaced
    [d] = answers.disagreements(conn)
    assert d.item == 1 and [(a.who, a.label) for a in d.answers] == [("t", 0), ("ann", 1)]
