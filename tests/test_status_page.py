"""The status page shows `alden status`'s numbers (issue 23): the check-set accuracy first,
the stopping advice, cross-validation on the picks with its warning, every point of the
curve in order, check items counted apart, a class without labels warned of; and the label
page's queue skips items labeled meanwhile by `alden teach`."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi", reason="`alden serve` needs the web extra: pip install -e '.[web]'")
from test_check_set import _data, _teach, _write, made, proj  # noqa: E402, F401, F811
from test_serve import signed_in  # noqa: E402
from webutil import sentences, web_project  # noqa: E402

from alden.cli import main  # noqa: E402
from alden.project import query as project_query  # noqa: E402
from alden.project.status import status  # noqa: E402
from alden.project.teach import teach_file  # noqa: E402
from alden.project.web.app import create_app  # noqa: E402

pytestmark = pytest.mark.usefixtures("private_cache", "one_torch_thread")


def _labeled(folder, truth, tmp_path):
    """The check items and 14 others labeled, then two queries answered."""
    data = _data(folder)
    check_ids = [data.ids[i] for i in data.check]
    others = [i for i in sorted(truth) if i not in check_ids]
    _teach(folder, truth, check_ids + others[:14], tmp_path / "a.csv")
    for k, name in ((10, "b.csv"), (6, "c.csv")):
        picked = project_query.query(folder, k).picks
        _teach(folder, truth, [data.ids[p.item] for p in picked], tmp_path / name)


def test_the_page_shows_the_numbers_of_alden_status(proj, tmp_path, capsys):  # noqa: F811
    folder, truth = proj
    _labeled(folder, truth, tmp_path)
    client, _ = signed_in(create_app(folder))
    before = client.get("/status").text
    assert "30 labeled for training" in before and "12 labeled check items" in before
    assert "Not estimated yet for the current 30 labels" in before  # the page trains nothing
    assert main(["status", str(folder), "--full-curve"]) == 0
    out = capsys.readouterr().out
    s = status(folder, evaluate=False)
    check = s.stopping.check
    page = client.get("/status").text
    shown = f"{check.accuracy:.3f}</strong> on {check.n}"
    assert shown in page and f"{check.accuracy:.3f} on {check.n}, 95% interval" in out
    assert f"{check.low:.3f}-{check.high:.3f}" in page
    cv = f"{s.accuracy.accuracy:.3f} ± {s.accuracy.std:.3f}"
    assert cv in page and cv in out
    assert s.stopping.sentence in page and s.stopping.sentence in out
    assert "it runs low, trust the check accuracy above" in page
    assert page.index('id="check-accuracy"') < page.index('id="advice"') < page.index('id="cv"')
    # every point of the curve, in order of labels: the check accuracy of each recorded
    # model, and each cross-validated labeled set
    table = page[page.index('id="curve-table"'):page.index("</table>", page.index(
        'id="curve-table"'))]
    counts = [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", table)]
    assert counts == sorted(counts) and {14, 24, 30} <= set(counts)
    assert [p[1] for p in s.curve] == [14, 24, 30]
    for point in s.stopping.curve:
        assert f"{point.check.accuracy:.3f} on {point.check.n}" in table


def test_a_class_without_labels_is_warned_of(tmp_path, capsys):
    folder = web_project(tmp_path / "p", sentences(12), picks=5, classes=("neg", "pos", "odd"))
    labels = _write(tmp_path / "l.csv", ["id", "label"], [["t0", "neg"], ["t1", "pos"]])
    teach_file(folder, labels)
    client, _ = signed_in(create_app(folder))
    assert "no labels yet for 1 class (&#39;odd&#39;)" in client.get("/status").text
    assert main(["status", str(folder)]) == 0
    assert "warning: no labels yet for 1 class ('odd'): the model never predicts it" \
        in capsys.readouterr().out
    assert main(["query", str(folder), "--k", "2"]) == 0
    assert "warning: no labels yet for 1 class ('odd')" in capsys.readouterr().out


def test_items_taught_meanwhile_leave_the_label_page(tmp_path):
    folder = web_project(tmp_path / "p", sentences(12), picks=5)
    client, h = signed_in(create_app(folder))
    assert client.get("/api/state").json()["item"]["id"] == "t0"
    teach_file(folder, _write(tmp_path / "b.csv", ["id", "label"], [["t0", "neg"],
                                                                   ["t2", "pos"]]))
    s = client.get("/api/state").json()
    assert (s["item"]["id"], s["position"], s["elsewhere"]) == ("t1", 3, 2)  # t0 and t2 are done
    s = client.post("/api/label", json={"item": 1, "label": 1, "client_id": "a" * 16},
                    headers=h).json()
    assert (s["item"]["id"], s["position"], s["elsewhere"]) == ("t3", 4, 2)
    # another annotator of the page still gets every item (their disagreements show)
    bob, _ = signed_in(create_app(folder), "bob")
    assert bob.get("/api/state").json()["item"]["id"] == "t1"
