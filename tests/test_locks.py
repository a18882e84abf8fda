"""One project, one writer (issue 23, point 5): a second `alden serve` on a project refuses
naming the first, a query cannot start while another runs on the project, across processes,
and a lock of a killed process blocks nobody."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from webutil import csrf_of, sentences, start_server, web_project

from alden.errors import ProjectError
from alden.project.locks import query_lock

HOLD = ("import sys\nfrom alden.project.locks import query_lock\n"
        "with query_lock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n")


def holding_child(folder: Path) -> subprocess.Popen:
    """Another process holding the project's query lock until its stdin closes."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert child.stdout.readline().strip() == "held"
    return child


@pytest.fixture
def project(tmp_path):
    return web_project(tmp_path / "p", sentences(12), picks=5)


def test_a_second_server_on_a_project_refuses_naming_the_first(project):
    first, url = start_server(project)
    try:
        second = subprocess.run([sys.executable, "-m", "alden.cli", "serve", str(project),
                                 "--port", "0"], capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "serving" not in second.stdout
        assert "another `alden serve` is running on this project" in second.stderr
        assert f"at {url} (pid {first.pid}, since " in second.stderr
        assert first.poll() is None  # the first one serves on
    finally:
        first.kill()  # SIGKILL: no clean-up runs, the lock's files stay behind
        first.wait(timeout=10)
        first.stdout.close()
    assert (project / "locks" / "serve.json").exists()
    third, _ = start_server(project)  # a killed server's lock blocks nobody
    third.send_signal(signal.SIGINT)  # Ctrl-C (130 if it came before uvicorn listened)
    # the timeout is for a loaded machine (20 s ran out with the 2 cores taken by benchmarks)
    assert third.wait(timeout=90) in (0, 130)
    third.stdout.close()
    assert not (project / "locks" / "serve.json").exists()  # a clean stop says nobody holds it


def test_a_query_lock_held_by_another_process_refuses_at_once(project):
    child = holding_child(project)
    try:
        with pytest.raises(ProjectError, match=re.escape(
                f"a query is already running on this project (pid {child.pid}, since ")):
            with query_lock(project):
                pass
    finally:
        child.stdin.close()
        assert child.wait(timeout=20) == 0
        child.stdout.close()
    with query_lock(project):  # free again once that process ended
        pass


def test_a_killed_querys_lock_blocks_nobody(project):
    child = holding_child(project)
    child.kill()
    child.wait(timeout=10)
    child.stdout.close()
    child.stdin.close()
    with query_lock(project):
        pass


def test_the_thread_that_holds_the_query_lock_may_enter_again_others_may_not(project):
    refused = []

    def other() -> None:
        try:
            with query_lock(project):
                pass
        except ProjectError as err:
            refused.append(str(err))

    with query_lock(project):
        with query_lock(project):  # the web's job, then query() itself
            pass
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(refused) == 1 and f"pid {os.getpid()}" in refused[0]
    other()
    assert len(refused) == 1


def test_the_web_job_fails_saying_another_process_queries(project):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from alden.project.web.app import create_app

    app = create_app(project)
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    headers = {"X-CSRF-Token": csrf_of(client.get("/").text)}
    child = holding_child(project)
    try:
        client.post("/api/query", json={"k": 2}, headers=headers)
        job = app.state.jobs.wait()
    finally:
        child.stdin.close()
        child.wait(timeout=20)
        child.stdout.close()
    assert job["state"] == "failed"
    assert f"a query is already running on this project (pid {child.pid}" in job["message"]
