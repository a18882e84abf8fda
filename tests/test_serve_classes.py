"""A project made without classes labeled in the browser (issue 23, point 2): the page asks
for the class names, ``alden.project.classes.add_classes`` checks and writes them, and the
keys work after; and the footer and the Undo button say only what is true (point 8)."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="`alden serve` needs the web extra: pip install -e '.[web]'")
from fastapi.testclient import TestClient  # noqa: E402
from files_util import labels  # noqa: E402
from webutil import csrf_of, sentences, web_project  # noqa: E402

from alden.errors import AldenError  # noqa: E402
from alden.project import store  # noqa: E402
from alden.project.classes import add_classes  # noqa: E402
from alden.project.web.app import create_app  # noqa: E402


def signed_in(app, name: str | None = "ann") -> tuple[TestClient, dict[str, str]]:
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    headers = {"X-CSRF-Token": csrf_of(client.get("/").text)}
    if name is not None:
        client.post("/api/annotator", json={"name": name}, headers=headers)
    return client, headers


@pytest.fixture
def bare(tmp_path):
    """A project with a batch of four and no classes (init without --classes)."""
    return web_project(tmp_path / "p", sentences(12), picks=4, classes=())


def test_add_classes_checks_the_names_and_keeps_commas(bare):
    conn = store.connect(bare)
    try:
        for names, why in (([], "at least one"), (["a", " "], "empty"), (["a", "a "], "twice"),
                           (["x" * 101], "1 to 100"), (["a\tb"], "printable")):
            with pytest.raises(AldenError, match=why):
                add_classes(conn, names)
        assert store.classes(conn) == ()  # nothing written by a refused call
        assert add_classes(conn, [" neg, mostly ", "pos"]) == ("neg, mostly", "pos")
        with pytest.raises(AldenError, match="has a class 'pos' already"):
            add_classes(conn, ["pos"])
        assert add_classes(conn, ["meh"]) == ("neg, mostly", "pos", "meh")
    finally:
        conn.close()


def test_the_page_asks_for_classes_then_labels_with_them(bare):
    app = create_app(bare)
    page = TestClient(app, base_url="http://127.0.0.1:8765").get("/").text
    assert 'id="classes-form"' in page and 'id="class-names"' in page
    client, h = signed_in(app)
    s = client.get("/api/state").json()
    assert s["classes"] == [] and s["item"]["id"] == "t0"
    r = client.post("/api/label", json={"item": 0, "label": 0, "client_id": "a" * 16},
                    headers=h)
    assert r.status_code == 400 and labels(bare) == {}
    r = client.post("/api/classes", json={"names": ["neg", "neg"]}, headers=h)
    assert r.status_code == 400 and "named twice" in r.json()["error"]
    s = client.post("/api/classes", json={"names": ["neg, mostly", "pos"]}, headers=h).json()
    assert s["classes"] == ["neg, mostly", "pos"] and s["item"]["id"] == "t0"
    for n in range(4):
        s = client.post("/api/label", json={"item": n, "label": n % 2,
                                            "client_id": f"l{n:015d}"}, headers=h).json()
    assert s["labeled"] == 4 and labels(bare) == {0: 0, 1: 1, 2: 0, 3: 1}
    r = client.post("/api/classes", json={"names": ["pos"]}, headers=h)
    assert r.status_code == 400 and "already" in r.json()["error"]


def test_naming_classes_needs_a_name_and_the_csrf_token(bare):
    app = create_app(bare)
    anon, h = signed_in(app, None)
    r = anon.post("/api/classes", json={"names": ["a", "b"]}, headers=h)
    assert r.status_code == 400 and "say who you are" in r.json()["error"]
    client, _ = signed_in(app)
    assert client.post("/api/classes", json={"names": ["a", "b"]}).status_code == 403
    conn = store.connect(bare)
    assert store.classes(conn) == ()
    conn.close()


def test_the_footer_speaks_of_alden_only_beside_its_outlined_word(tmp_path):
    page = TestClient(create_app(web_project(tmp_path / "p", sentences(6))),
                      base_url="http://127.0.0.1:8765").get("/").text
    assert '<span id="pick-note" hidden>' in page and '<span id="heat-note" hidden>' in page
    footer = page[page.index('class="muted keys"'):]
    assert footer.index("ALDEN") > footer.index('id="pick-note"')  # only inside the note
