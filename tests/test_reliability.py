"""Storage faults on a labeling project (docs/reliability.md, "Storage"): a damaged or cut
database, backups and restore, export, a full disk, a read-only folder, no permission, and
a model file holding a pickle. Every test here failed before the fix it names."""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from files_util import labels as labels_of
from files_util import write_csv

from alden.cli import main
from alden.errors import StorageError
from alden.project import answers, backup, batch_files, db, integrity, store
from alden.project import query as project_query
from alden.project.init import init_project
from alden.project.teach import teach_file

WORDS = ["good", "bad", "film", "plot", "cast", "dull", "warm", "cold", "story", "fine"]



pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A text project of 40 short sentences, made once by `init` (query works cold)."""
    root = tmp_path_factory.mktemp("made")
    rng = np.random.default_rng(0)
    rows = [[f"d{i:02d}", " ".join(rng.choice(WORDS, 6))] for i in range(40)]
    data = write_csv(root / "docs.csv", ["id", "text"], rows)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALDEN_CACHE", str(root / "cache"))
        init_project(root / "p", data, id_column="id", classes=("neg", "pos"), embedding_dim=8)
    return root / "p"


@pytest.fixture
def proj(made, tmp_path):
    shutil.copytree(made, tmp_path / "p")
    return tmp_path / "p"


def labels_file(tmp_path: Path, items: range, name: str = "l.csv", flip: bool = False) -> Path:
    return write_csv(tmp_path / name, ["id", "label"],
                     [[f"d{i:02d}", ("neg", "pos")[(i + flip) % 2]] for i in items])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def damage_table(folder: Path, table: str) -> None:
    """Overwrite the first page of ``table`` (its root) with garbage, as a bad disk would."""
    conn = sqlite3.connect(db.db_path(folder))
    root, size = conn.execute("SELECT rootpage, (SELECT page_size FROM pragma_page_size) "
                              "FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(db.db_path(folder), "r+b") as f:
        f.seek((root - 1) * size)
        f.write(bytes(range(256)) * (size // 256))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---- a damaged database --------------------------------------------------------------------

def test_a_damaged_database_is_refused_by_every_command_and_never_written(proj, tmp_path,
                                                                          capsys):
    teach_file(proj, labels_file(tmp_path, range(12)))
    damage_table(proj, "items")
    before = digest(db.db_path(proj))
    more = labels_file(tmp_path, range(12, 20), "more.csv")
    for argv in (["status", proj], ["query", proj, "--k", "2"], ["teach", proj, more],
                 ["predict", proj, "--data", more], ["label", proj]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, argv
        assert "is damaged" in err and "alden restore" in err, (argv, err)
        assert "Traceback" not in err and "malformed" in err
    assert digest(db.db_path(proj)) == before  # teach wrote nothing into it


def test_status_check_runs_the_full_integrity_check(proj, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "status", proj, "--check", "--no-curve")
    assert code == 0 and "is sound (PRAGMA integrity_check" in out
    damage_table(proj, "labels")
    code, _, err = run_cli(capsys, "status", proj, "--check")
    assert code == 2 and "integrity_check" in err and "is damaged" in err


@pytest.mark.parametrize("size", [0, 100])
def test_a_cut_database_says_so_and_a_backup_brings_the_labels_back(proj, tmp_path, capsys,
                                                                    size):
    teach_file(proj, labels_file(tmp_path, range(10)))
    teach_file(proj, labels_file(tmp_path, range(10, 16), "2.csv"))  # backed up 10 labels first
    with open(db.db_path(proj), "r+b") as f:
        f.truncate(size)
    code, _, err = run_cli(capsys, "teach", proj, labels_file(tmp_path, range(16, 18), "3.csv"))
    assert code == 2 and f"is {size} bytes long" in err and "alden restore" in err
    newest = backup.backups(proj)[-1].name
    assert newest in err
    code, out, _ = run_cli(capsys, "restore", proj, newest)
    assert code == 0 and "10 labels again" in out
    assert labels_of(proj) == {i: i % 2 for i in range(10)}
    assert list((proj / "backups").glob("damaged-*.db"))  # the cut file was kept aside


# ---- backups and restore -------------------------------------------------------------------

def test_backups_before_teach_and_query_keep_the_newest_five_distinct(proj, tmp_path):
    for n in range(7):
        teach_file(proj, labels_file(tmp_path, range(n, n + 1), f"{n}.csv"))
    kept = backup.backups(proj)
    assert len(kept) == backup.KEEP
    counts = [backup.inspect(p).labels for p in kept]
    assert counts == [2, 3, 4, 5, 6]  # each copy made before its teach
    teach_file(proj, tmp_path / "6.csv")  # changes nothing: no second identical copy
    assert backup.backups(proj)[-1] != kept[-1] and len(backup.backups(proj)) == backup.KEEP
    assert backup.inspect(backup.backups(proj)[-1]).labels == 7
    teach_file(proj, tmp_path / "6.csv")
    assert len(backup.backups(proj)) == backup.KEEP
    assert backup.backups(proj)[-1].name.endswith("-teach.db")
    project_query.query(proj, 2)  # the same labels: the newest copy already holds them
    assert not any(p.name.endswith("-query.db") for p in backup.backups(proj))
    assert not [p for p in (proj / "backups").iterdir() if p.name.startswith(".")]


def test_backups_are_consistent_while_another_process_writes(proj, tmp_path):
    go = tmp_path / "go"
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, time
        from alden.project import answers, store
        conn = store.connect({str(proj)!r})
        open({str(go)!r}, "w").close()
        for round_ in range(30):
            for i in range(40):
                answers.give(conn, i, (i + round_) % 2, who="writer")
        """)])
    try:
        while not go.exists():
            assert writer.poll() is None
        conn = store.connect(proj)
        copies = []
        while writer.poll() is None and len(copies) < 40:
            copies.append(backup.make_backup(conn, proj, "test", keep=1000))
        conn.close()
    finally:
        assert writer.wait(timeout=120) == 0
    assert len(set(copies)) >= 2
    for path in set(copies):
        copy = sqlite3.connect(path)
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # each label write adds a label_events row in the same transaction: a snapshot taken
        # in the middle of one would not match
        changed = copy.execute("SELECT COUNT(*) FROM label_events").fetchone()[0]
        first = copy.execute("SELECT COUNT(DISTINCT item) FROM label_events").fetchone()[0]
        assert copy.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == first <= changed
        copy.close()


def test_restore_lists_checks_and_saves_the_current_database_first(proj, tmp_path, capsys):
    teach_file(proj, labels_file(tmp_path, range(4)))
    teach_file(proj, labels_file(tmp_path, range(4, 8), "2.csv"))
    code, out, _ = run_cli(capsys, "restore", proj, "--list")
    first, second = backup.backups(proj)
    assert code == 0 and first.name in out and "0 labels" in out and "4 labels" in out
    code, out, _ = run_cli(capsys, "restore", proj, second.name)
    assert code == 0 and labels_of(proj) == {i: i % 2 for i in range(4)}
    saved = [p for p in backup.backups(proj) if p.name.endswith("-before-restore.db")]
    assert len(saved) == 1 and backup.inspect(saved[0]).labels == 8 and saved[0].name in out
    conn = store.connect(proj)  # still a WAL project that takes labels
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    answers.give(conn, 20, 1, who="after")
    conn.close()
    # a damaged backup is refused and nothing changes
    bad = tmp_path / "bad.db"
    shutil.copy(first, bad)
    damage_table_file(bad, "labels")
    before = digest(db.db_path(proj))
    code, _, err = run_cli(capsys, "restore", proj, bad)
    assert code == 2 and "cannot be restored" in err and "nothing was changed" in err
    assert digest(db.db_path(proj)) == before
    code, _, err = run_cli(capsys, "restore", proj, "nope.db")
    assert code == 2 and "no backup 'nope.db'" in err


def damage_table_file(path: Path, table: str) -> None:
    folder = tmp = path.parent / "tmp-damage"
    tmp.mkdir()
    shutil.copy(path, db.db_path(folder))
    damage_table(folder, table)
    shutil.copy(db.db_path(folder), path)
    shutil.rmtree(tmp)


# ---- export ----------------------------------------------------------------------------------

def test_export_writes_every_label_as_csv_and_json_lines(proj, tmp_path, capsys):
    teach_file(proj, labels_file(tmp_path, range(5)), who="ann")
    code, out, _ = run_cli(capsys, "export", proj, "--out", tmp_path / "l.csv")
    assert code == 0 and "wrote 5 labels" in out
    rows = list(csv.DictReader(open(tmp_path / "l.csv", encoding="utf-8")))
    assert [(r["id"], r["label"], r["annotator"], r["round"], r["source"]) for r in rows] == [
        (f"d{i:02d}", ("neg", "pos")[i % 2], "ann", "0", "teach l.csv") for i in range(5)]
    assert all(r["time"].startswith("20") for r in rows)
    assert run_cli(capsys, "export", proj, "--out", tmp_path / "l.jsonl")[0] == 0
    lines = [json.loads(x) for x in open(tmp_path / "l.jsonl", encoding="utf-8")]
    assert lines[1] == {**{k: rows[1][k] for k in ("id", "label", "annotator", "time",
                                                    "source")}, "round": 0}
    code, _, err = run_cli(capsys, "export", proj, "--out", tmp_path / "l.xlsx")
    assert code == 2 and ".csv or .jsonl" in err


def test_export_reads_a_damaged_database_as_far_as_it_can(tmp_path, capsys):
    n = 3000  # labels over many pages: one damaged page loses some rows
    store.create(tmp_path / "p", ids=[f"i{k}" for k in range(n)], texts=["x"] * n,
                 classes=("a", "b"), settings={"kind": "text"})
    teach_file(tmp_path / "p", write_csv(tmp_path / "l.csv", ["id", "label"],
                                         [[f"i{k}", "ab"[k % 2]] for k in range(n)]))
    conn = sqlite3.connect(db.db_path(tmp_path / "p"))
    leaf = conn.execute("SELECT pageno FROM dbstat WHERE name = 'labels' AND pagetype = 'leaf' "
                        "LIMIT 1 OFFSET 3").fetchone()[0] if _has_dbstat(conn) else None
    conn.close()
    if leaf is None:
        pytest.skip("this SQLite has no dbstat table")
    with open(db.db_path(tmp_path / "p"), "r+b") as f:
        f.seek((leaf - 1) * 4096)
        f.write(b"\xff" * 4096)
    code, out, _ = run_cli(capsys, "export", tmp_path / "p", "--out", tmp_path / "out.csv")
    assert code == 0 and "the database is damaged" in out and "recovered from the label " \
        "history" in out
    rows = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert {(r["id"], r["label"]) for r in rows} == {(f"i{k}", "ab"[k % 2]) for k in range(n)}
    assert {r["source"] for r in rows} == {"teach l.csv"}  # also on the recovered rows


def _has_dbstat(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1 FROM dbstat LIMIT 1")
        return True
    except sqlite3.OperationalError:
        return False


def test_export_of_an_unreadable_file_points_to_restore(proj, tmp_path, capsys):
    teach_file(proj, labels_file(tmp_path, range(3)))
    with open(db.db_path(proj), "r+b") as f:
        f.truncate(100)
    code, _, err = run_cli(capsys, "export", proj, "--out", tmp_path / "x.csv")
    assert code == 2 and "alden restore" in err and not (tmp_path / "x.csv").exists()


# ---- the disk: full, read-only, no permission ----------------------------------------------

def limit_pages(monkeypatch) -> None:
    """Every project connection may not grow its file: SQLite's own "disk is full"."""
    configure = db._configure

    def full(conn):
        configure(conn)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(db, "_configure", full)


def test_a_full_disk_during_teach_says_so_and_writes_nothing(tmp_path, capsys, monkeypatch):
    n = 3000
    store.create(tmp_path / "p", ids=[f"i{k}" for k in range(n)], texts=["x"] * n,
                 classes=("a", "b"), settings={"kind": "text"})
    teach_file(tmp_path / "p", write_csv(tmp_path / "1.csv", ["id", "label"], [["i0", "a"]]))
    limit_pages(monkeypatch)
    big = write_csv(tmp_path / "big.csv", ["id", "label"], [[f"i{k}", "b"] for k in range(n)])
    code, _, err = run_cli(capsys, "teach", tmp_path / "p", big, "--overwrite")
    assert code == 2 and "is full" in err and "Free some space" in err
    assert str(db.db_path(tmp_path / "p")) in err
    assert "Traceback" not in err and "_open_transaction" not in err
    monkeypatch.undo()
    assert labels_of(tmp_path / "p") == {0: 0}


def test_an_io_error_is_a_full_disk_only_when_the_disk_is_full(tmp_path, monkeypatch):
    err = sqlite3.OperationalError("disk I/O error")
    err.sqlite_errorcode, err.sqlite_errorname = 4874, "SQLITE_IOERR_SHMSIZE"
    path = tmp_path / "project.db"
    monkeypatch.setattr(integrity, "free_space", lambda folder: 0)
    message = str(integrity.explain(err, path))
    assert "is full (" in message and "unreadable" not in message
    monkeypatch.setattr(integrity, "free_space", lambda folder: 10 << 30)
    assert "input/output error" in str(integrity.explain(err, path))


def test_a_read_only_database_says_what_to_fix(proj, tmp_path, capsys, monkeypatch):
    configure = db._configure
    monkeypatch.setattr(db, "_configure", lambda c: (configure(c),
                                                     c.execute("PRAGMA query_only = ON")))
    code, _, err = run_cli(capsys, "teach", proj, labels_file(tmp_path, range(3)))
    assert code == 2 and "read-only" in err and "chmod" in err and "Traceback" not in err


def fail_with(code: int):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return refuse


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "is full"),
                                        (errno.EACCES, "permission denied"),
                                        (errno.EROFS, "read-only file system")])
def test_query_that_cannot_write_its_batch_records_nothing(proj, capsys, monkeypatch, code,
                                                           words):
    import tempfile

    from alden.atomic import write_atomic

    def write_refused(path, data):  # the batch files only; the backup before them works
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(tempfile, "mkstemp", fail_with(code))
            write_atomic(path, data)

    monkeypatch.setattr(batch_files, "write_atomic", write_refused)
    status, _, err = run_cli(capsys, "query", proj, "--k", "3")
    assert status == 2 and words in err and "round-0001" in err and "Traceback" not in err
    monkeypatch.undo()
    conn = store.connect(proj)
    assert store.current_round(conn) == 0  # the round was rolled back with its files
    conn.close()
    assert not (proj / "batches").exists() or not list((proj / "batches").iterdir())


def test_init_on_a_full_disk_leaves_no_folder(tmp_path, monkeypatch):
    data = write_csv(tmp_path / "d.csv", ["text"], [["good film"], ["bad plot"]] * 5)
    monkeypatch.setattr("alden.project.init.np.save", fail_with(errno.ENOSPC))
    with pytest.raises(StorageError, match=r"cannot write .*new.*is full"):
        init_project(tmp_path / "new", data, embedding_dim=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "d.csv"]


def test_a_model_that_cannot_be_written_is_a_storage_error(tmp_path, monkeypatch):
    from alden.models.learner import NetworkLearner

    learner = NetworkLearner("mlp", n_classes=2, n_features=3).fit(
        np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], np.array([0, 1, 1, 0]), seed=0)
    (tmp_path / "m.pt").write_bytes(b"old")
    monkeypatch.setattr("alden.atomic.os.replace", fail_with(errno.ENOSPC))
    with pytest.raises(StorageError, match="is full"):
        learner.save(tmp_path / "m.pt")
    assert (tmp_path / "m.pt").read_bytes() == b"old" and os.listdir(tmp_path) == ["m.pt"]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (needs root and mount); skipped where it cannot be made."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                                            str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int) -> None:
    (folder / "fill").unlink(missing_ok=True)
    free = shutil.disk_usage(folder).free - leave
    with open(folder / "fill", "wb") as f:
        try:
            f.write(b"\0" * max(free, 0))
        except OSError:
            pass


@pytest.mark.parametrize("leave", [0, 40 << 10, 150 << 10])
def test_a_really_full_disk(small_disk, proj, tmp_path, capsys, leave):
    shutil.copytree(proj, small_disk / "p")
    conn = store.connect(small_disk / "p")
    answers.give(conn, 0, 0, who="x")
    conn.close()
    before = labels_of(small_disk / "p")
    fill(small_disk, leave)
    big = labels_file(tmp_path, range(40), flip=True)
    for argv in (["teach", small_disk / "p", big, "--overwrite"],
                 ["query", small_disk / "p", "--k", "3"],
                 ["init", small_disk / "q", "--data", write_csv(
                     tmp_path / "d.csv", ["text"], [["good film"], ["bad plot"]] * 5),
                  "--embedding-dim", "8"]):
        code, _, err = run_cli(capsys, *argv)
        if code == 0:
            continue  # it fitted
        assert code == 2 and "is full" in err and "Free some space" in err, (argv, err)
        assert "unreadable" not in err and "not a readable" not in err
    assert not (small_disk / "q").exists()
    (small_disk / "fill").unlink()
    assert labels_of(small_disk / "p") in (before, {i: (i + 1) % 2 for i in range(40)})


# ---- a model file holding a pickle ----------------------------------------------------------

def test_a_pickled_model_is_refused_in_aldens_words(tmp_path):
    import pickle

    from alden.models.families import load_learner

    path = tmp_path / "m.pt"
    with open(path, "wb") as f:
        pickle.dump({"description": Path("x")}, f, protocol=2)
    with pytest.raises(Exception) as err:
        load_learner(path)
    message = str(err.value)
    assert "alden loads weights only" in message and "pathlib" in message
    assert "weights_only" not in message and "will likely succeed" not in message
