"""`alden serve`: the routes through an in-process ASGI client, and a real server process
killed with SIGKILL mid-labeling."""

from __future__ import annotations

import json
import signal

import pytest

pytest.importorskip("fastapi", reason="`alden serve` needs the web extra: pip install -e '.[web]'")
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from files_util import labels  # noqa: E402
from webutil import XSS, csrf_of, sentences, start_server, web_project  # noqa: E402

from alden.errors import ProjectError  # noqa: E402
from alden.project import answers, store  # noqa: E402
from alden.project.web.app import create_app  # noqa: E402
from alden.project.web.security import MAX_BODY, Guard  # noqa: E402


def signed_in(app, name: str | None = "ann") -> tuple[TestClient, dict[str, str]]:
    """A client with its session cookie, its CSRF header and (unless None) a name."""
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    csrf = csrf_of(client.get("/").text)
    headers = {"X-CSRF-Token": csrf}
    if name is not None:
        assert client.post("/api/annotator", json={"name": name},
                           headers=headers).status_code == 200
    return client, headers


@pytest.fixture
def project(tmp_path):
    return web_project(tmp_path / "p", sentences(12), picks=5)


def test_label_skip_undo_and_the_counter(project):
    client, h = signed_in(create_app(project))
    s = client.get("/api/state").json()
    assert (s["position"], s["size"], s["item"]["id"], s["annotator"]) == (1, 5, "t0", "ann")
    s = client.post("/api/label", json={"item": 0, "label": 1, "client_id": "a" * 16},
                    headers=h).json()
    assert s["ack"]["outcome"] == "labeled" and (s["position"], s["item"]["id"]) == (2, "t1")
    s = client.post("/api/skip", json={"item": 1, "client_id": "b" * 16}, headers=h).json()
    assert (s["position"], s["labeled"], s["skipped"], s["item"]["id"]) == (3, 1, 1, "t2")
    s = client.post("/api/undo", json={"client_id": "c" * 16}, headers=h).json()
    assert (s["position"], s["skipped"], s["item"]["id"]) == (2, 0, "t1")  # the skip undone
    s = client.post("/api/undo", json={"client_id": "d" * 16}, headers=h).json()
    assert (s["position"], s["labeled"], s["item"]["id"]) == (1, 0, "t0")
    assert labels(project) == {}
    for n, item in enumerate(range(5)):
        s = client.post("/api/label", json={"item": item, "label": item % 2,
                                            "client_id": f"l{n:015d}"}, headers=h).json()
    assert s["item"] is None and s["labeled"] == 5 and s["position"] is None
    assert labels(project) == {0: 0, 1: 1, 2: 0, 3: 1, 4: 0}
    # a reload resumes: a new client of the same person sees where they are
    again, _ = signed_in(create_app(project))
    assert again.get("/api/state").json()["done"] == 5


def test_a_retry_with_the_same_client_id_counts_once(project):
    client, h = signed_in(create_app(project))
    body = {"item": 0, "label": 1, "client_id": "same-id-123456"}
    first = client.post("/api/label", json=body, headers=h).json()
    second = client.post("/api/label", json=body, headers=h).json()
    assert not first["ack"]["duplicate"] and second["ack"]["duplicate"]
    assert second["position"] == 2 and labels(project) == {0: 1}
    conn = store.connect(project)
    assert conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == 1
    conn.close()


def test_two_annotators_disagree_and_the_status_page_resolves(project):
    app = create_app(project)
    ann, ha = signed_in(app, "ann")
    bob, hb = signed_in(app, "bob")
    ann.post("/api/label", json={"item": 0, "label": 1, "client_id": "x" * 16}, headers=ha)
    assert bob.get("/api/state").json()["item"]["id"] == "t0"  # bob labels the batch too
    s = bob.post("/api/label", json={"item": 0, "label": 0, "client_id": "y" * 16},
                 headers=hb).json()
    assert s["ack"]["outcome"] == "conflict" and s["disagreements"] == 1
    assert labels(project) == {0: 1}  # nothing overwritten
    page = bob.get("/status").text
    assert "ann: pos; bob: neg" in page and 'data-item="0"' in page
    r = bob.post("/api/resolve", json={"item": 0, "label": 0}, headers=hb)
    assert r.status_code == 200 and labels(project) == {0: 0}
    assert "None open." in bob.get("/status").text
    r = bob.post("/api/resolve", json={"item": 1, "label": 0}, headers=hb)
    assert r.status_code == 400 and "no disagreement" in r.json()["error"]


def test_the_heat_map_and_the_reason(project):
    client, _ = signed_in(create_app(project))
    item = client.get("/api/state").json()["item"]
    words = [s for s in item["segments"] if "h" in s]
    assert len(words) == 7  # six words and the full stop
    assert words[1]["m"] and words[-1]["h"] == 1.0 and words[0]["h"] == pytest.approx(1 / 7,
                                                                                       abs=1e-3)
    assert "".join(s["t"] for s in item["segments"]) == sentences(12)[0]
    assert item["reason"].startswith(f"'{words[1]['t']}' (word 2) is used here unlike")
    assert (item["predicted"], item["confidence"]) == ("neg", 0.75)


def test_csrf_origin_host_and_size_are_checked(project):
    app = create_app(project)
    client, h = signed_in(app)
    body = {"item": 0, "label": 1, "client_id": "z" * 16}
    assert client.post("/api/label", json=body).status_code == 403  # no CSRF token
    r = client.post("/api/label", json=body, headers={"X-CSRF-Token": "0" * 40})
    assert r.status_code == 403 and "CSRF" in r.text
    other, h_other = signed_in(app, "eve")  # a valid token, but another session's
    r = client.post("/api/label", json=body, headers=h_other)
    assert r.status_code == 403 and other.get("/api/state").status_code == 200
    r = client.post("/api/label", json=body, headers={**h, "Origin": "http://evil.example"})
    assert r.status_code == 403 and "another site" in r.text
    r = client.get("/api/state", headers={"Host": "evil.example:8765"})  # DNS rebinding
    assert r.status_code == 403
    big = {"item": 0, "label": 1, "client_id": "q" * 16, "pad": "x" * (MAX_BODY + 1)}
    assert client.post("/api/label", json=big, headers=h).status_code == 413

    def chunks():
        yield b'{"item": 0, "label": 1, "client_id": "qqqqqqqqqqqqqqqq", "pad": "'
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"x" * 1024
        yield b'"}'

    r = client.post("/api/label", content=chunks(), headers={**h, "Content-Type":
                                                                "application/json"})
    assert r.status_code == 413
    assert labels(project) == {}


def test_bad_requests_say_what_is_wrong(project):
    client, h = signed_in(create_app(project), name=None)
    r = client.post("/api/label", json={"item": 0, "label": 1, "client_id": "n" * 16},
                    headers=h)
    assert r.status_code == 400 and "say who you are" in r.json()["error"]
    client.post("/api/annotator", json={"name": "ann"}, headers=h)
    r = client.post("/api/label", json={"item": 0, "label": 7, "client_id": "m" * 16},
                    headers=h)
    assert r.status_code == 400 and r.json()["error"] == "no class 7 in this project"
    r = client.post("/api/label", json={"item": 0, "label": 1, "client_id": "../x"}, headers=h)
    assert r.status_code == 422
    r = client.post("/api/label", json={"item": 2**70, "label": 1, "client_id": "k" * 16},
                    headers=h)
    assert r.status_code == 422
    r = client.post("/api/label", content=b"{not json", headers={**h, "Content-Type":
                                                                 "application/json"})
    assert r.status_code == 422
    r = client.post("/api/annotator", json={"name": "a\x00b"}, headers=h)
    assert r.status_code == 400
    assert labels(project) == {}


def test_no_request_names_a_file(project):
    client, _ = signed_in(create_app(project))
    for path in ("/static/..%2fapp.py", "/static/%2e%2e%2f%2e%2e%2fproject.db",
                 "/static/app.py", "/../project.db", "/curve.png?path=/etc/passwd"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert b"SQLite" not in r.content and b"import" not in r.content
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")


def test_access_token_off_loopback(project):
    guard = Guard.for_host("0.0.0.0")
    assert guard.token and len(guard.token) >= 24
    client = TestClient(create_app(project, host="0.0.0.0", guard=guard),
                        base_url="http://192.0.2.1:8765", follow_redirects=False)
    assert client.get("/").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    r = client.get(f"/?token={guard.token}")
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert client.get("/").status_code == 200  # the cookie carries it now


def test_texts_are_escaped(tmp_path):
    folder = web_project(tmp_path / "p", [*XSS, *sentences(3)], picks=3, heat=False)
    app = create_app(folder)
    ann, ha = signed_in(app, "<b>ann</b>")
    bob, hb = signed_in(app, "bob")
    for client, h, label in ((ann, ha, 0), (bob, hb, 1)):
        client.post("/api/label", headers=h,
                    json={"item": 0, "label": label, "client_id": f"{label}" * 16})
    response = bob.get("/status")
    page = response.text
    assert "script-src 'self';" in response.headers["content-security-policy"]
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page and "<script>window" not in page
    assert "&lt;b&gt;ann&lt;/b&gt;: neg" in page and "<b>ann</b>" not in page
    assert "&lt;b&gt;ann&lt;/b&gt;" in ann.get("/").text
    assert page.count("<script") == 1 and '<script src="/static/status.js"></script>' in page
    item = bob.get("/api/state").json()["item"]  # JSON: the text as it is, set as textContent
    assert item["segments"][0]["t"] == XSS[1]


def test_next_batch_runs_in_the_background(project):
    app = create_app(project, k=3)
    client, h = signed_in(app)
    r = client.post("/api/query", json={}, headers=h).json()
    assert r["started"] and r["job"]["state"] in ("running", "done")
    view = app.state.jobs.wait()
    assert view["state"] == "done" and view["message"].startswith("round 2: cold start")
    s = client.get("/api/state").json()
    assert (s["round"], s["size"], s["position"]) == (2, 3, 1)


def test_a_failed_job_shows_a_message_not_a_trace(project):
    conn = store.connect(project)
    for item in range(12):
        answers.give(conn, item, item % 2, who="ann")
    conn.close()
    app = create_app(project)
    client, h = signed_in(app)
    client.post("/api/query", json={"k": 2}, headers=h)
    view = app.state.jobs.wait()
    assert view["state"] == "failed" and "every item is labeled" in view["message"]
    assert "Traceback" not in json.dumps(client.get("/api/job").json())


def test_exports(project):
    client, h = signed_in(create_app(project))
    client.post("/api/label", json={"item": 0, "label": 1, "client_id": "e" * 16}, headers=h)
    r = client.get("/export/labels.csv")
    assert r.text.splitlines()[0] == "id,label,annotator,time,round,source"
    assert r.text.splitlines()[1].startswith("t0,pos,ann,") and r.text.splitlines()[1].endswith(
        ",1,serve")
    assert "attachment" in r.headers["content-disposition"]
    tasks = client.get("/export/labelstudio.json").json()
    assert [t["data"]["id"] for t in tasks] == ["t0", "t1", "t2", "t3", "t4"]


def test_the_web_download_is_what_alden_export_writes(project, tmp_path, capsys):
    from alden.cli import main
    from alden.project.teach import teach_file

    app = create_app(project)
    ann, ha = signed_in(app, "ann")
    bob, hb = signed_in(app, "bob")
    ann.post("/api/label", json={"item": 0, "label": 1, "client_id": "f" * 16}, headers=ha)
    bob.post("/api/label", json={"item": 1, "label": 0, "client_id": "g" * 16}, headers=hb)
    path = tmp_path / "in.csv"
    path.write_text("id,label\nt7,pos\n")
    teach_file(project, path, who="cli")
    web = bob.get("/export/labels.csv").content
    assert main(["export", str(project), "--out", str(tmp_path / "out.csv")]) == 0
    assert "(id, label, annotator, time, round, source)" in capsys.readouterr().out
    assert web == (tmp_path / "out.csv").read_bytes()
    rows = [line.split(",") for line in web.decode().splitlines()]
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in rows[1:]] == [
        ("t0", "pos", "ann", "1", "serve"), ("t1", "neg", "bob", "1", "serve"),
        ("t7", "pos", "cli", "1", f"teach {path.name}")]


def test_a_bad_folder_fails_at_start(tmp_path):
    with pytest.raises(ProjectError, match="no such project folder"):
        create_app(tmp_path / "none")


# ---- a real server ---------------------------------------------------------------------

def test_sigkill_mid_labeling_loses_no_acknowledged_label(tmp_path):
    folder = web_project(tmp_path / "p", sentences(40), picks=30)
    proc, url = start_server(folder, "--annotator", "ann")
    acked = {}
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            h = {"X-CSRF-Token": csrf_of(client.get("/").text)}
            for item in range(25):
                r = client.post("/api/label", json={"item": item, "label": item % 2,
                                                    "client_id": f"kill-{item:08d}"}, headers=h)
                assert r.status_code == 200
                acked[item] = item % 2
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    conn = store.connect(folder)
    assert store.integrity_check(conn) == "ok"
    assert store.labels(conn).as_dict() == acked
    conn.close()


def test_estimate_accuracy_runs_as_a_job(project):
    app = create_app(project)
    client, h = signed_in(app)
    r = client.post("/api/evaluate", json={}, headers=h).json()
    assert r["started"]
    again = client.post("/api/evaluate", json={}, headers=h).json()  # one job at a time
    view = app.state.jobs.wait()
    assert view["state"] == "done" and "too few labels to estimate accuracy" in view["message"]
    assert not again["started"] or again["job"]["number"] == 2
    assert client.get("/curve.png").status_code == 404  # no curve drawn yet


def test_serve_off_loopback_prints_a_token_and_refuses_without_it(project, capsys):
    from alden.cli import main

    assert main(["serve", str(project.parent / "missing")]) == 2
    assert "no such project folder" in capsys.readouterr().err
    proc, url = start_server(project, "--host", "0.0.0.0")
    try:
        token = url.split("?token=")[1]
        assert len(token) >= 24
        local = url.split("?")[0].replace("0.0.0.0", "127.0.0.1")
        with httpx.Client(timeout=30, follow_redirects=False) as client:
            assert client.get(local).status_code == 403
            assert client.get(local + "api/state").status_code == 403
            r = client.get(f"{local}?token={token}")
            assert r.status_code == 303 and "alden_access" in r.headers["set-cookie"]
            assert client.get(local + "api/state").json()["size"] == 5  # the cookie now
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_the_commands_work_on_the_project_while_it_is_served(project, tmp_path):
    from alden.project.teach import teach_file

    client, h = signed_in(create_app(project))
    client.post("/api/label", json={"item": 0, "label": 1, "client_id": "w" * 16}, headers=h)
    path = tmp_path / "labels.csv"
    path.write_text("id,label\nt1,neg\nt2,pos\n")
    assert teach_file(project, path, who="cli").change.added == 2  # while the app is open
    s = client.get("/api/state").json()
    # the items teach labeled leave ann's queue (issue 23): she goes on with t3
    assert s["total_labeled"] == 3 and s["item"]["id"] == "t3" and s["elsewhere"] == 2


def test_a_job_shows_the_step_its_work_reports():
    import threading

    from alden.project.web.jobs import Jobs

    jobs, go_on, go_on2 = Jobs(), threading.Event(), threading.Event()
    reached, uncounted = threading.Event(), threading.Event()

    def work(report):
        report("encoding 1,200 of 3,300 texts", 1200, 3300)
        reached.set()
        go_on.wait(10)
        report("training cnn on 14 labels")  # a step with no count
        uncounted.set()
        go_on2.wait(10)
        report("writing the batch")
        return {"n": 1}

    started, view = jobs.start("query", work, lambda r: f"done {r['n']}")
    assert started
    assert reached.wait(10)
    running = jobs.current()
    assert running["state"] == "running"
    assert running["step"] == "encoding 1,200 of 3,300 texts"
    assert running["progress"] == round(1200 / 3300, 3) and running["total"] == 3300
    go_on.set()
    assert uncounted.wait(10)
    assert jobs.current()["progress"] is None  # the bar says it does not know
    go_on2.set()
    done = jobs.wait()
    assert (done["state"], done["message"], done["step"]) == ("done", "done 1",
                                                              "writing the batch")
