"""`grammarflow serve` in a real browser: headless Chromium (Debian's, driven by its
ChromeDriver through selenium; `dev.sh test` installs both) against a live server
(`python -m grammarflow serve`) over real runs (`python -m grammarflow run`).

The picture appears and changes while tasks finish, with no reload; the slider steps
back; pause stops new tasks; an answer typed in the form unblocks a waiting task and
resume runs the rest; markup in any label never runs; a request without the token, or
from another site's page, changes nothing. The screenshots the README shows are taken
here (GRAMMARFLOW_SCREENSHOTS=DIR keeps them in DIR).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from grammarflow.journal.state import fold_run
from grammarflow.journal.store import Store

from .conftest import Project

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN = "browser-test-token"

DONE, RUNNING, READY = "#bbf7d0", "#fde68a", "#dbeafe"

# A and B wait for files the test writes: the test says when each ends.
GATED = """
import pathlib, time
from grammarflow import define

grammar = define("A -> B -> C")

def _gate(name):
    pathlib.Path(name + "-started").write_text("")
    while not pathlib.Path(name + "-go").exists():
        time.sleep(0.02)

def A() -> None:
    from grammarflow import task
    task.progress(3, 10)
    _gate("a")

def B() -> None:
    _gate("b")

def C() -> None:
    pass
"""

APPROVAL = """
from grammarflow import Kind, define

grammar = define("build -> approve, done, Release(approve, done)", '''
    Release(a, b) ::= [ship, when a] a -> ship -> b | [hold, else] a -> b
''')
kinds = {"approve": Kind(ask="Ship it?", output=bool)}

def build() -> str:
    return "build 1"

def ship() -> None:
    import pathlib
    pathlib.Path("shipped").write_text("")

def done() -> None:
    pass
"""

H = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
HOSTILE = f"""
from grammarflow import define

grammar = define("A -> B, X(A, B)", "X(a, b) ::= a -> N -> b")

def A() -> None:
    import sys
    from grammarflow import task
    task.log({H!r})
    print({H!r}, file=sys.stderr)
    task.expand("X.1", {H!r})

def N() -> None: ...
def B() -> None: ...
"""
HOSTILE_OK = f"""
from grammarflow import define

grammar = define("A -> B")

def A() -> str:
    return {H!r}

def B() -> None: ...
"""


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    for path in (CHROMIUM, CHROMEDRIVER):
        assert os.access(path, os.X_OK), f"{path} is missing: `bash dev.sh test` installs it"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Served:
    """A live `grammarflow serve` on the project's journal."""

    def __init__(self, project: Project, *args: str) -> None:
        self.project = project
        port = [] if "--port" in args else ["--port", "0"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grammarflow", "serve", "--db", str(project.db),
             *port, "--token", TOKEN, *args],
            cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        said = ""
        while "open http" not in said:
            line = self.proc.stderr.readline()
            assert line, f"serve ended before it said where: {said}"
            said += line
        self.address = re.search(r"open (http://\S+)", said).group(1)  # type: ignore[union-attr]
        self.base = self.address.split("/?")[0]

    def page(self, driver: webdriver.Chrome, path: str) -> None:
        driver.get(f"{self.base}{path}{'&' if '?' in path else '?'}token={TOKEN}")

    def stop(self) -> int:
        """Ctrl-C, as a person would: the server ends, and cleanly."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def served(project: Project) -> Iterator[Callable[..., Served]]:
    made: list[Served] = []

    def serve(*args: str) -> Served:
        project.db.parent.mkdir(parents=True, exist_ok=True)
        made.append(Served(project, *args))
        return made[-1]
    yield serve
    for s in made:
        assert s.stop() == 0, "Ctrl-C should stop the server cleanly"


#: Runs started in the background by the test running now: ended when it ends, passed
#: or not (a run waiting for a gate file would otherwise wait for ever).
BACKGROUND: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_run_outlives_its_test() -> Iterator[None]:
    yield
    while BACKGROUND:
        proc = BACKGROUND.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def background_run(project: Project, workflow: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", workflow, "--db",
                             str(project.db)], cwd=project.root, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    BACKGROUND.append(proc)
    return proc


def click(driver: webdriver.Chrome, selector: str, what: str) -> None:
    """Click what ``selector`` finds, once the page shows it (a part the page redraws
    as the run changes is found again)."""
    def clicked() -> bool:
        try:
            found = driver.find_elements(By.CSS_SELECTOR, selector)
            if found and found[0].is_displayed():
                found[0].click()
                return True
        except StaleElementReferenceException:
            pass
        return False
    wait_until(clicked, what)


def texts(driver: webdriver.Chrome, selector: str) -> list[str]:
    """The text of everything ``selector`` finds, read in one step (a part the page
    redraws as the run changes is never read half old, half new, nor gone stale)."""
    return list(driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText);",
        selector))


def text(driver: webdriver.Chrome, selector: str) -> str:
    """The text of the first thing ``selector`` finds, or "" when there is none."""
    return next(iter(texts(driver, selector)), "")


def fill(driver: webdriver.Chrome, node: str) -> str | None:
    """The fill of the picture's node titled ``node``, as the page shows it now."""
    return driver.execute_script("""
        const g = [...document.querySelectorAll('#canvas g.node')]
            .find(n => (n.querySelector('title') || {}).textContent === arguments[0]);
        if (!g) return null;
        const s = [...g.querySelectorAll('path, polygon, ellipse')]
            .find(e => e.getAttribute('fill') && e.getAttribute('fill') !== 'none');
        return s ? s.getAttribute('fill') : null;""", node)


def shot(driver: webdriver.Chrome, name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a page, not a blank
    keep = os.environ.get("GRAMMARFLOW_SCREENSHOTS")
    if keep:
        shutil.copy(path, Path(keep) / name)
    return path


def journal_starts(project: Project, task: str) -> int:
    store = Store(project.db, readonly=True)
    return sum(1 for e in store.entries(1, ["attempt"], task=task)
               if e.data.get("event") == "start")


# ---------------------------------------------------------------------------- tests
def test_the_picture_is_live_and_the_slider_steps_back(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome,
        tmp_path: Path) -> None:
    project.write("wf.py", GATED)
    running = background_run(project, "wf.py")
    wait_until(lambda: (project.root / "a-started").exists(), "A to start")
    server = served()
    server.page(browser, "/runs/1")
    wait_until(lambda: fill(browser, "t:A") == RUNNING, "A drawn running")
    assert fill(browser, "t:B") == "#ffffff"
    # what A reports of its progress reaches the page (the orchestrator writes it twice
    # a second at most, beside the journal)
    wait_until(lambda: "3 of 10" in text(browser, "#running"),
               "A's progress shown")
    # read in one step: the list is drawn again as progress comes
    bar = browser.execute_script("""
        const p = document.querySelector('#running progress');
        return p && [p.getAttribute('value'), p.getAttribute('max')];""")
    assert bar == ["3", "10"]
    browser.execute_script("window.__still_this_page = true")
    seq = int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-seq"))
    (project.root / "a-go").write_text("")
    wait_until(lambda: fill(browser, "t:A") == DONE and fill(browser, "t:B") == RUNNING,
               "A drawn done and B running, pushed to the page")
    assert browser.execute_script("return window.__still_this_page") is True  # no reload
    assert int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-seq")) > seq
    running_list = text(browser, "#running")
    assert "B" in running_list and "A" not in running_list.split()
    shot(browser, "serve-run.png", tmp_path)

    # the slider back to the start: A ready, nothing done; the caption says the step
    browser.execute_script("const s = document.getElementById('slider'); s.value = 0; "
                           "s.dispatchEvent(new Event('input'));")
    wait_until(lambda: fill(browser, "t:A") == READY, "the start graph drawn")
    assert text(browser, "#caption") == "the start graph"
    click(browser, "#fwd", "the step forward button")
    wait_until(lambda: text(browser, "#caption").startswith("step 1: "),
               "step 1")
    # while looking back, the run goes on: the picture stays where it was asked to be
    (project.root / "b-go").write_text("")
    assert running.wait(60) == 0
    time.sleep(0.5)
    assert text(browser, "#caption").startswith("step 1: ")
    click(browser, "#live", "the live button")
    wait_until(lambda: fill(browser, "t:C") == DONE, "live again: C done")
    wait_until(lambda: "succeeded" in text(browser, "#verdict"),
               "the verdict says succeeded")


def test_pause_stops_new_tasks_and_unpause_lets_them_start(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome) -> None:
    project.write("wf.py", GATED)
    running = background_run(project, "wf.py")
    wait_until(lambda: (project.root / "a-started").exists(), "A to start")
    served().page(browser, "/runs/1")
    click(browser, "#pause", "the pause button")
    wait_until(lambda: "paused" in text(browser, "#said"), "paused said")
    wait_until(lambda: fold_run(Store(project.db, readonly=True), 1).paused, "pause journaled")
    (project.root / "a-go").write_text("")
    wait_until(lambda: fold_run(Store(project.db, readonly=True), 1).d.graph.state["A"].value
               == "done", "A done")
    time.sleep(1.5)  # B would have started by now
    assert journal_starts(project, "B") == 0
    assert not (project.root / "b-started").exists()
    wait_until(lambda: "PAUSED" in text(browser, "#verdict"),
               "the page says PAUSED")
    click(browser, "#unpause", "the unpause button")
    wait_until(lambda: (project.root / "b-started").exists(), "B to start after unpause")
    (project.root / "b-go").write_text("")
    assert running.wait(60) == 0


def test_an_answer_typed_in_the_form_unblocks_a_waiting_task(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome,
        tmp_path: Path) -> None:
    project.write("approval.py", APPROVAL)
    assert project.cli("run", "approval.py").returncode == 4  # waits for a person
    served().page(browser, "/runs/1")
    click(browser, "#waiting a", "the waiting task listed")
    form = wait_until(lambda: browser.find_elements(By.ID, "answer"), "the answer form")[0]
    # built from the kind's declared type: a bool is a choice of true or false
    assert "waits for an answer" in text(browser, "#task .attempts")
    choice = Select(form.find_element(By.NAME, "value"))
    assert [o.text for o in choice.options] == ["true", "false"]
    shot(browser, "serve-answer.png", tmp_path)
    choice.select_by_visible_text("true")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(lambda: "answered" in text(browser, "#task .said"),
               "answered said")
    state = fold_run(Store(project.db, readonly=True), 1)
    assert state.waiting == {} and state.d.graph.outputs["approve"] is True
    # nobody runs it now: resume, from the page
    click(browser, "#resume", "the resume button")
    wait_until(lambda: Store(project.db, readonly=True).run(1).status == "succeeded",
               "the run resumed to its end", timeout=60)
    assert (project.root / "shipped").exists()  # the answer chose ship
    wait_until(lambda: "succeeded" in text(browser, "#verdict"),
               "the page says succeeded")


def test_an_answer_being_filled_in_is_not_drawn_again_by_a_change_elsewhere(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome) -> None:
    project.write("approval.py", APPROVAL)
    assert project.cli("run", "approval.py").returncode == 4
    served().page(browser, "/runs/1")
    click(browser, "#waiting a", "the waiting task listed")
    form = wait_until(lambda: browser.find_elements(By.ID, "answer"), "the answer form")[0]
    Select(form.find_element(By.NAME, "value")).select_by_visible_text("false")
    seq = Store(project.db, readonly=True).last_seq(1)
    click(browser, "#pause", "the pause button")  # a change to the run, not to the task
    wait_until(lambda: "PAUSED" in text(browser, "#verdict"), "the page says PAUSED")
    assert Store(project.db, readonly=True).last_seq(1) > seq
    # the very form the user was filling in, still holding their choice
    assert Select(form.find_element(By.NAME, "value")).first_selected_option.text == "false"


def test_markup_in_any_label_never_runs(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome,
        tmp_path: Path) -> None:
    project.write("hostile.py", HOSTILE)
    project.write("ok.py", HOSTILE_OK)
    assert project.cli("run", "hostile.py").returncode == 3  # broken: the refused change
    assert project.cli("run", "ok.py").returncode == 0
    server = served()
    server.page(browser, "/runs/1")
    refusal = wait_until(lambda: text(browser, "#refusal"), "the refusal")
    assert "BROKEN" in refusal and "<script>window.pwned=1</script>" in refusal  # as text
    assert "null" not in refusal  # what is not there is left out, not said "null"
    wait_until(lambda: fill(browser, "t:A"), "the picture")
    click(browser, "#refusal a.task-link", "the refused task's link")
    log = wait_until(lambda: text(browser, "#task pre.log"), "the task's log")
    assert H in log
    shot(browser, "serve-broken.png", tmp_path)
    server.page(browser, "/runs/2")
    wait_until(lambda: fill(browser, "t:A") == DONE, "run 2's picture")
    browser.execute_script("""
        const a = [...document.querySelectorAll('#canvas g.node')]
            .find(n => n.querySelector('title').textContent === 't:A');
        a.dispatchEvent(new MouseEvent('click', {bubbles: true}));""")
    output = wait_until(lambda: text(browser, "#task .v-output"), "A's output shown")
    assert output == f'"{H.replace(chr(34), chr(92) + chr(34))}"'  # JSON, as text
    server.page(browser, "/")
    wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 2,
               "the runs listed")
    assert browser.execute_script("return window.pwned") is None
    assert not browser.find_elements(By.CSS_SELECTOR, "#main img, #main script")


def test_a_request_without_the_token_or_from_another_site_changes_nothing(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome) -> None:
    import httpx2

    project.write("approval.py", APPROVAL)
    assert project.cli("run", "approval.py").returncode == 4
    server = served()
    before = Store(project.db, readonly=True).last_seq(1)
    # a script without the token
    r = httpx2.post(f"{server.base}/api/runs/1/pause", headers={"x-csrf-token": "x"})
    assert r.status_code == 403
    # another site's page in the browser that holds the cookie: it cannot read the CSRF
    # value, and the cookie is SameSite=Strict
    server.page(browser, "/runs/1")
    wait_until(lambda: browser.find_elements(By.ID, "verdict"), "the page")
    browser.get("data:text/html,<p>another site</p>")
    status = browser.execute_async_script(f"""
        const done = arguments[arguments.length - 1];
        fetch("{server.base}/api/runs/1/pause", {{method: "POST", credentials: "include",
              mode: "no-cors", headers: {{"content-type": "text/plain"}}, body: "{{}}"}})
          .then(r => done("sent " + r.type)).catch(e => done("failed " + e));""")
    assert status.startswith(("sent", "failed"))
    time.sleep(0.3)
    assert Store(project.db, readonly=True).last_seq(1) == before
    assert not fold_run(Store(project.db, readonly=True), 1).paused
    # a bad run id is a page that says so
    server.page(browser, "/runs/999")
    assert "no run 999" in text(browser, ".missing")


def test_a_read_only_server_shows_no_steering(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome) -> None:
    project.write("approval.py", APPROVAL)
    assert project.cli("run", "approval.py").returncode == 4
    served("--read-only").page(browser, "/runs/1")
    wait_until(lambda: "WAITING" in text(browser, "#verdict").upper(),
               "the verdict")
    click(browser, "#waiting a", "the waiting task listed")
    wait_until(lambda: browser.find_element(By.ID, "task").is_displayed(), "the task")
    assert not browser.find_elements(By.ID, "answer")
    assert not browser.find_elements(By.ID, "pause")
    assert not browser.find_element(By.ID, "steer").is_displayed()


def test_a_page_whose_server_is_gone_says_so(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome) -> None:
    project.write("approval.py", APPROVAL)
    assert project.cli("run", "approval.py").returncode == 4
    server = served()
    server.page(browser, "/runs/1")
    wait_until(lambda: text(browser, "#stream") == "live", "live")
    # an idle page asks nothing: what it hears comes over the one stream it shares
    asked = "return performance.getEntriesByType('resource').length"

    def settled() -> bool:  # what loading the page asked (its first state) has come
        was = browser.execute_script(asked)
        time.sleep(1.0)
        return bool(browser.execute_script(asked) == was)
    wait_until(settled, "the page loaded")
    before = browser.execute_script(asked)
    time.sleep(3)
    assert browser.execute_script(asked) == before
    assert text(browser, "#stream") == "live"  # the pings came
    assert server.stop() == 0
    lost = wait_until(lambda: browser.find_element(By.ID, "lost").is_displayed(),
                      "the page to say it lost the server", timeout=8)
    assert lost
    assert text(browser, "#stream") == "connection lost"


def test_eight_pages_of_one_server_all_stay_live(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome) -> None:
    # A browser opens at most six connections to a server: a stream per page would
    # leave the seventh page loading for ever. The pages share one stream.
    project.write("wf.py", GATED)
    running = background_run(project, "wf.py")
    wait_until(lambda: (project.root / "a-started").exists(), "A to start")
    server = served()
    server.page(browser, "/")
    first = browser.current_window_handle
    tabs = []
    for _ in range(8):
        browser.switch_to.new_window("tab")
        browser.get(f"{server.base}/runs/1")
        tabs.append(browser.current_window_handle)
        wait_until(lambda: fill(browser, "t:A") == RUNNING, "the page drawn")
    (project.root / "a-go").write_text("")
    for tab in tabs:
        browser.switch_to.window(tab)
        wait_until(lambda: fill(browser, "t:A") == DONE, "every page hears that A is done")
        browser.close()
    browser.switch_to.window(first)
    (project.root / "b-go").write_text("")
    assert running.wait(60) == 0


def click_node(driver: webdriver.Chrome, node: str) -> None:
    """A click on the picture's node titled ``node``, as a person's."""
    wait_until(lambda: fill(driver, node) is not None, f"{node} drawn")
    driver.execute_script("""
        const g = [...document.querySelectorAll('#canvas g.node')]
            .find(n => n.querySelector('title').textContent === arguments[0]);
        g.dispatchEvent(new MouseEvent('click', {bubbles: true}));""", node)


def nodes(driver: webdriver.Chrome) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#canvas g.node title')].map(t => t.textContent)")


def test_a_collapsed_group_is_drawn_task_by_task_on_a_click(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome) -> None:
    project.write("wide.py", """
        from grammarflow import define
        grammar = define(", ".join(f"s -> m{i}:M -> e" for i in range(250)), [])
        def s() -> None: ...
        def M() -> None: ...
        def e() -> None: ...
    """)
    assert project.cli("run", "wide.py", "--max-parallel", "4").returncode == 0
    served().page(browser, "/runs/1")
    wait_until(lambda: "g:M#m0" in nodes(browser), "the 250 Ms drawn as one")
    assert "t:m7" not in nodes(browser)
    click_node(browser, "g:M#m0")
    wait_until(lambda: "t:m7" in nodes(browser), "each M drawn after the click")
    drawn = nodes(browser)
    assert "g:M#m0" not in drawn and sum(n.startswith("t:m") for n in drawn) == 250


def test_restart_lists_what_it_sends_back_then_does_it(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome) -> None:
    project.write("chain.py", """
        from grammarflow import define
        grammar = define("A -> B -> C")
        def A() -> None: ...
        def B() -> None: ...
        def C() -> None: ...
    """)
    assert project.cli("run", "chain.py").returncode == 0
    served().page(browser, "/runs/1")
    click_node(browser, "t:B")
    click(browser, "#restart", "the restart button")
    listed = wait_until(lambda: texts(browser, "ul.restarted li"),
                        "the tasks a restart sends back")
    assert sorted(listed) == ["B", "C"]
    assert Store(project.db, readonly=True).run(1).status == "succeeded"  # not yet
    click(browser, "#confirm-restart", "the confirmation")
    wait_until(lambda: Store(project.db, readonly=True).run(1).status == "restarted",
               "the restart journaled")
    wait_until(lambda: "restarted" in text(browser, "#verdict"),
               "the page says restarted")
    click(browser, "#resume", "the resume button")
    wait_until(lambda: Store(project.db, readonly=True).run(1).status == "succeeded",
               "the run resumed to its end", timeout=60)
    assert journal_starts(project, "B") == 2 and journal_starts(project, "A") == 1


def test_a_page_picks_up_again_when_its_server_comes_back(
        project: Project, served: Callable[..., Served], browser: webdriver.Chrome) -> None:
    project.write("approval.py", APPROVAL)
    assert project.cli("run", "approval.py").returncode == 4
    first = served()
    port = first.base.rsplit(":", 1)[1]
    first.page(browser, "/runs/1")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#waiting li"), "waiting")
    assert first.stop() == 0
    wait_until(lambda: browser.find_element(By.ID, "lost").is_displayed(), "lost", timeout=8)
    # meanwhile, from a terminal: the answer
    assert project.cli("answer", "1", "approve", "false").returncode == 0
    served("--port", port)  # the same address, the same token: the page's cookie holds
    wait_until(lambda: not browser.find_element(By.ID, "lost").is_displayed(),
               "the page live again", timeout=15)
    wait_until(lambda: not browser.find_elements(By.CSS_SELECTOR, "#waiting li"),
               "what changed meanwhile shown: nobody waits now")
