"""`alden serve` in a real browser: headless Chromium from the OS packages, driven by Selenium
through the OS's chromedriver (nothing downloads a browser). Skipped, saying why, only where
chromium or chromedriver is missing (`make venv` installs them where it runs as root)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from files_util import labels
from webutil import XSS, sentences, start_server, web_project

from alden.project import answers, store

pytest.importorskip("fastapi", reason="`alden serve` needs the web extra: pip install -e '.[web]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--window-size=1100,900")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver on PATH: install the OS packages `chromium` and "
           "`chromium-driver` (apt-get install -y chromium chromium-driver)")


@pytest.fixture
def browser(tmp_path):
    options = Options()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chrome-profile'}")
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def served(request):
    """A live `alden serve` for a project made by the test; stopped after it."""
    procs = []

    def serve(folder: Path, *args: str) -> str:
        proc, url = start_server(folder, *args)
        procs.append(proc)
        return url

    yield serve
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
        proc.stdout.close()


def wait_text(driver, element_id: str, text: str, timeout: float = 30) -> str:
    """Wait until the element's text contains ``text``; its text."""
    WebDriverWait(driver, timeout).until(
        lambda d: text in d.find_element(By.ID, element_id).text)
    return driver.find_element(By.ID, element_id).text


def press(driver, keys: str) -> None:
    driver.find_element(By.TAG_NAME, "body").send_keys(keys)


def test_label_a_batch_with_the_keyboard_then_the_next_batch(tmp_path, browser, served):
    folder = web_project(tmp_path / "p", sentences(20), picks=4)
    url = served(folder, "--k", "3")
    browser.get(url)
    name = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "name"))
    WebDriverWait(browser, 30).until(lambda d: name.is_displayed())
    name.send_keys("ann\n")  # asked once
    wait_text(browser, "counter", "Item 1 of 4")
    assert browser.find_element(By.CSS_SELECTOR, "#text .word.pick").text  # ALDEN's word
    press(browser, "2")
    wait_text(browser, "counter", "Item 2 of 4 · 1 labeled, 0 skipped")
    press(browser, "s")
    wait_text(browser, "counter", "Item 3 of 4 · 1 labeled, 1 skipped")
    press(browser, "u")  # takes back the skip: item 2 again, and the counter says so
    wait_text(browser, "counter", "Item 2 of 4 · 1 labeled, 0 skipped")
    assert browser.find_element(By.ID, "item-id").text == "id t1"
    press(browser, "x")
    assert "is not a key here: press 1-2 for a class" in wait_text(browser, "message", "x")
    press(browser, "9")
    wait_text(browser, "message", "no class 9")
    press(browser, "1")
    wait_text(browser, "counter", "Item 3 of 4")
    browser.refresh()  # a reload resumes where the annotator was
    wait_text(browser, "counter", "Item 3 of 4 · 2 labeled, 0 skipped")
    assert "labeling as ann" in browser.find_element(By.ID, "who").text
    press(browser, "2")
    wait_text(browser, "counter", "Item 4 of 4")
    press(browser, "s")
    wait_text(browser, "counter", "Batch done")
    assert labels(folder) == {0: 1, 1: 0, 2: 1}
    browser.find_element(By.ID, "query").click()
    wait_text(browser, "counter", "Item 1 of 3")
    assert "round 2" in browser.find_element(By.ID, "batch-info").text
    assert "round 2: cold start" in browser.find_element(By.ID, "job").text
    press(browser, "1")
    wait_text(browser, "counter", "Item 2 of 3")
    conn = store.connect(folder)
    assert [r["round"] for r in store.rounds(conn)] == [1, 2]
    second = [p.item for p in store.round_picks(conn, 2)]
    assert not {0, 1, 2} & set(second) and store.labels(conn).as_dict()[second[0]] == 0
    assert conn.execute("SELECT DISTINCT who, source FROM labels").fetchall() == [
        ("ann", "serve")]
    conn.close()


def test_xss_items_run_nothing(tmp_path, browser, served):
    folder = web_project(tmp_path / "p", [*XSS, *sentences(5)], picks=3, heat=False)
    conn = store.connect(folder)
    page = answers.PAGE_SOURCE  # two annotators of the page (items taught leave the queue)
    answers.give(conn, 0, 0, who="<img src=x onerror=window.__xss=9>", source=page)
    answers.give(conn, 0, 1, who="bob", source=page)  # a disagreement: the status page lists it
    conn.close()
    url = served(folder, "--annotator", "ann")
    browser.get(url)
    for n, text in enumerate(XSS):
        wait_text(browser, "counter", f"Item {n + 1} of 3")
        shown = browser.find_element(By.ID, "text")
        assert shown.text == text  # the markup is shown as text
        assert shown.find_elements(By.CSS_SELECTOR, "img, svg, script") == []
        press(browser, "1")
    wait_text(browser, "counter", "Batch done")
    assert browser.execute_script("return window.__xss") is None
    browser.get(url + "status")
    table = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "open"))
    assert XSS[0] in table.text and "<img src=x onerror=window.__xss=9>: neg" in table.text
    assert table.find_elements(By.CSS_SELECTOR, "img, svg, script") == []
    assert browser.execute_script("return window.__xss") is None
    browser.find_element(By.CSS_SELECTOR, "button.resolve[data-label='1']").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "no-open"))
    assert labels(folder)[0] == 1


def test_screenshot_of_the_label_page(tmp_path, browser, served):
    texts = ["the cast is fine but the plot is long and dull , a story told too slowly .",
             *sentences(10)]
    folder = web_project(tmp_path / "p", texts, picks=4)
    browser.get(served(folder, "--annotator", "ann"))
    wait_text(browser, "counter", "Item 1 of 4")
    path = tmp_path / "label-page.png"
    assert browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    print(f"screenshot: {path}")


def test_a_project_from_a_csv_without_classes_is_labeled_in_the_browser(tmp_path, browser,
                                                                         served):
    from alden.cli import main

    texts = [f"{t} {i}" for i, t in enumerate(sentences(30))]
    data = tmp_path / "reviews.csv"
    data.write_text("text\n" + "".join(f"{t}\n" for t in texts), encoding="utf-8")
    folder = tmp_path / "p"
    assert main(["init", str(folder), "--data", str(data), "--embedding-dim", "8"]) == 0
    browser.get(served(folder))
    name = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "name"))
    WebDriverWait(browser, 30).until(lambda d: name.is_displayed())
    name.send_keys("ann\n")
    form = browser.find_element(By.ID, "classes-form")
    WebDriverWait(browser, 30).until(lambda d: form.is_displayed())
    assert browser.find_element(By.ID, "undo").get_attribute("disabled")  # nothing to undo
    press(browser, "1")
    wait_text(browser, "message", "no classes yet")
    browser.find_element(By.ID, "class-names").send_keys("bad, mostly\ngood\n")
    browser.find_element(By.ID, "classes-save").click()
    WebDriverWait(browser, 30).until(lambda d: not form.is_displayed())
    browser.find_element(By.ID, "query").click()  # the cold start: no model needed
    wait_text(browser, "counter", "Item 1 of 10", timeout=120)
    assert [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#classes button")] == [
        "1 bad, mostly", "2 good"]
    assert not browser.find_element(By.ID, "pick-note").is_displayed()  # no ALDEN word here
    for n in range(10):
        press(browser, "12"[n % 2])
        wait_text(browser, "counter", f"Item {n + 2} of 10" if n < 9 else "Batch done")
        assert not browser.find_element(By.ID, "undo").get_attribute("disabled")
    conn = store.connect(folder)
    try:
        assert store.classes(conn) == ("bad, mostly", "good")
        assert sorted(store.labels(conn).as_dict().values()) == [0] * 5 + [1] * 5
    finally:
        conn.close()


def test_the_status_page_estimates_and_the_label_page_follows_teach(tmp_path, browser, served):
    """Issue 23: the label page moves on when `alden teach` labels the item it shows; the
    status page's job bar reports its steps, then the page shows the check accuracy first,
    the stopping advice and cross-validation on the picks with its warning."""
    from alden.project.check import add_check
    from alden.project.teach import teach_file

    folder = web_project(tmp_path / "p", sentences(40), picks=0)
    add_check(folder, 6)
    checked = set(_check_items(folder))
    batch = [i for i in range(40) if i not in checked][:4]  # the batch the page shows
    answers_file = tmp_path / "labels.csv"
    answers_file.write_text("id,label\n" + "".join(
        f"t{i},{('neg', 'pos')[i % 2]}\n" for i in range(40) if i not in batch),
        encoding="utf-8")
    teach_file(folder, answers_file)  # the check items and every other item labeled
    conn = store.connect(folder)
    store.add_round(conn, strategy="random", model="cnn", n_labeled=30, info={},
                    picks=[store.Pick(i, 1.0, "reason", None, None) for i in batch])
    conn.close()
    url = served(folder, "--annotator", "ann")
    browser.get(url)
    wait_text(browser, "counter", "Item 1 of 4")
    assert browser.find_element(By.ID, "item-id").text == f"id t{batch[0]}"
    taught = tmp_path / "first.csv"
    taught.write_text(f"id,label\nt{batch[0]},neg\n", encoding="utf-8")
    teach_file(folder, taught)  # another writer labels the item shown
    wait_text(browser, "counter", "Item 2 of 4")
    assert browser.find_element(By.ID, "item-id").text == f"id t{batch[1]}"
    assert "labeled elsewhere" in browser.find_element(By.ID, "message").text
    browser.get(url + "status")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "evaluate"))
    assert "Not estimated yet" in browser.find_element(By.ID, "cv").text
    browser.find_element(By.ID, "evaluate").click()
    shown = wait_text(browser, "check-accuracy", "check items", timeout=120)
    assert "95% interval" in shown and "on 6" in shown
    assert "±" in browser.find_element(By.ID, "cv").text
    assert "runs low" in browser.find_element(By.ID, "cv-note").text
    assert browser.find_element(By.ID, "advice").text.startswith("Stopping: ")


def _check_items(folder: Path) -> tuple[int, ...]:
    conn = store.connect(folder)
    try:
        return store.check_items(conn)
    finally:
        conn.close()
