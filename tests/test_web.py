"""`grammarflow serve`'s application, in process (Starlette's test client) over real
journals made by real runs: the token, the CSRF check, read-only, 404s, what the JSON
says, steering through the operations, and the watcher that pushes changes.

The browser itself is driven in tests/e2e/test_browser.py.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from grammarflow.journal.entries import AttemptStarted
from grammarflow.journal.state import fold_run
from grammarflow.journal.store import Store
from grammarflow.running import run
from grammarflow.web import Keys, Server, hosts_of, make_app
from grammarflow.web.live import Watcher, events
from grammarflow.web.views import log_tail

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
HOSTILE = "<script>window.pwned=1</script><img src=x onerror=alert(1)>"

CHAIN = f"""
from grammarflow import define

grammar = define("A -> B")

def A() -> str:
    import sys
    print({HOSTILE!r}, file=sys.stderr)
    return {HOSTILE!r}

def B() -> None:
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
    pass

def done() -> None:
    pass
"""


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run 1: A -> B, succeeded, A's output and stderr hostile markup; run 2: waits for
    an answer to approve."""
    root = tmp_path_factory.mktemp("web")
    db = root / "gf.db"
    for name, text in (("chain.py", CHAIN), ("approval.py", APPROVAL)):
        (root / name).write_text(textwrap.dedent(text))
    assert run(root / "chain.py", db=db).status == "succeeded"
    assert run(root / "approval.py", db=db).status == "waiting"
    return db


def client(db: Path, *, read_only: bool = False, token: bool = True) -> TestClient:
    server = Server(db, Keys("sekrit", PORT), read_only)
    headers = {"authorization": "Bearer sekrit"} if token else {}
    return TestClient(make_app(server, hosts_of("127.0.0.1", PORT)), base_url=BASE,
                      headers=headers, follow_redirects=False)


def csrf() -> dict[str, str]:
    return {"x-csrf-token": Keys("sekrit", PORT).csrf}


def copy_of(journal: Path, tmp_path: Path) -> Path:
    """A journal of the test's own, to change."""
    import sqlite3

    db = tmp_path / "gf.db"
    src = sqlite3.connect(journal)
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    return db


# ---------------------------------------------------------------- who may come in
def test_no_token_no_page(journal: Path) -> None:
    c = client(journal, token=False)
    for path in ("/", "/runs/1", "/api/runs", "/api/runs/1/picture", "/events"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert "token" in r.text
    assert c.get("/", headers={"authorization": "Bearer wrong"}).status_code == 403


def test_the_token_in_the_address_becomes_a_cookie_and_leaves_the_address(
        journal: Path) -> None:
    c = client(journal, token=False)
    r = c.get("/runs/1?token=sekrit&x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/runs/1?x=1"
    cookie = r.headers["set-cookie"]
    assert f"grammarflow_token_{PORT}=sekrit" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    c.cookies.set(f"grammarflow_token_{PORT}", "sekrit")
    r = c.get("/runs/1")
    assert r.status_code == 200 and 'data-run="1"' in r.text


def test_another_host_is_refused(journal: Path) -> None:
    # a DNS-rebinding page reaches 127.0.0.1 under its own name
    r = client(journal).get("/api/runs", headers={"host": f"evil.example:{PORT}"})
    assert r.status_code == 421


def test_every_answer_forbids_scripts_but_ours(journal: Path) -> None:
    r = client(journal).get("/runs/1")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in r.text.replace('<script src="/static/app.js" defer></script>', "")


# ---------------------------------------------------------------- steering's locks
def test_a_change_needs_the_token_and_the_csrf_value_else_nothing_changes(
        journal: Path, tmp_path: Path) -> None:
    db = copy_of(journal, tmp_path)
    before = Store(db, readonly=True).last_seq(2)
    # no token; a token but no CSRF value; a wrong one; the right one from another site
    assert client(db, token=False).post("/api/runs/2/pause", headers=csrf()).status_code == 403
    assert client(db).post("/api/runs/2/pause").status_code == 403
    assert client(db).post("/api/runs/2/pause",
                           headers={"x-csrf-token": "0" * 64}).status_code == 403
    assert client(db).post("/api/runs/2/pause", headers={
        **csrf(), "origin": "http://evil.example"}).status_code == 403
    assert Store(db, readonly=True).last_seq(2) == before
    assert not fold_run(Store(db, readonly=True), 2).paused
    # both, from this server's own page: paused, journaled
    r = client(db).post("/api/runs/2/pause", headers={**csrf(), "origin": BASE})
    assert r.status_code == 200, r.text
    assert r.json()["seq"] == before + 1
    assert fold_run(Store(db, readonly=True), 2).paused
    r = client(db).post("/api/runs/2/unpause", headers=csrf())
    assert r.status_code == 200 and not fold_run(Store(db, readonly=True), 2).paused


def test_read_only_serves_no_steering(journal: Path, tmp_path: Path) -> None:
    db = copy_of(journal, tmp_path)
    c = client(db, read_only=True)
    before = Store(db, readonly=True).last_seq(2)
    for op, body in (("pause", {}), ("answer", {"task": "approve", "value": True}),
                     ("restart", {"task": "build"}), ("resume", {})):
        r = c.post(f"/api/runs/2/{op}", headers=csrf(), json=body)
        assert r.status_code == 405, op
    assert Store(db, readonly=True).last_seq(2) == before
    assert 'data-read-only="1"' in c.get("/runs/2").text


def test_an_answer_is_checked_as_the_command_line_checks_it(journal: Path,
                                                             tmp_path: Path) -> None:
    db = copy_of(journal, tmp_path)
    c = client(db)
    task = c.get("/api/runs/2/task", params={"id": "approve"}).json()
    assert task["state"] == "waiting" and task["asks"] == "Ship it?"
    assert task["answer_type"]["schema"]["type"] == "boolean"
    assert task["history"] == [{"attempt": 1, "started": task["history"][0]["started"],
                                "log": None, "asks": "Ship it?"}]
    r = c.post("/api/runs/2/answer", headers=csrf(), json={"task": "approve",
                                                            "value": "maybe"})
    assert r.status_code == 409
    assert "the answer to task approve is refused" in r.json()["error"]
    assert fold_run(Store(db, readonly=True), 2).waiting == {"approve": "Ship it?"}
    r = c.post("/api/runs/2/answer", headers=csrf(), json={"task": "approve", "value": True})
    assert r.status_code == 200, r.text
    state = fold_run(Store(db, readonly=True), 2)
    assert state.waiting == {} and state.d.graph.outputs["approve"] is True
    assert c.post("/api/runs/2/answer", headers=csrf(), json={"value": 1}).status_code == 409


def test_restart_shows_what_it_will_do_before_it_does_it(journal: Path,
                                                          tmp_path: Path) -> None:
    db = copy_of(journal, tmp_path)
    c = client(db)
    before = Store(db, readonly=True).last_seq(1)
    preview = c.get("/api/runs/1/restart-preview", params={"task": "A"}).json()
    assert preview["refused"] is None
    assert set(preview["restarted"]) == {"A", "B"}
    assert Store(db, readonly=True).last_seq(1) == before  # a preview journals nothing
    refused = c.get("/api/runs/1/restart-preview", params={"task": "Z"}).json()
    assert "no task 'Z'" in refused["refused"]
    r = c.post("/api/runs/1/restart", headers=csrf(), json={"task": "A"})
    assert r.status_code == 200, r.text
    assert set(r.json()["restarted"]) == set(preview["restarted"])
    assert Store(db, readonly=True).run(1).status == "restarted"


def test_resume_runs_the_command_and_says_its_error(journal: Path, tmp_path: Path) -> None:
    db = copy_of(journal, tmp_path)
    r = client(db).post("/api/runs/1/resume", headers=csrf())
    assert r.status_code == 409
    assert "succeeded" in r.json()["error"]


# ---------------------------------------------------------------- what is not there
@pytest.mark.parametrize("path", [
    "/runs/99", "/runs/0", "/runs/abc", f"/runs/{2 ** 64}", "/nowhere",
    "/static/../../etc/passwd", "/static/app.py"])
def test_a_bad_address_is_a_404_page_not_a_traceback(journal: Path, path: str) -> None:
    r = client(journal).get(path)
    assert r.status_code == 404, path
    assert "Not found" in r.text and "Traceback" not in r.text


@pytest.mark.parametrize("path", [
    "/api/runs/99", "/api/runs/1/picture?at=99999", "/api/runs/1/picture?at=-1",
    "/api/runs/1/picture?at=x", "/api/runs/1/task?id=nope", "/events?watch=99",
    "/events?watch=1&watch=x"])
def test_a_bad_run_step_or_task_is_a_404(journal: Path, path: str) -> None:
    r = client(journal).get(path)
    assert r.status_code == 404, path
    assert "error" in r.json()


# ---------------------------------------------------------------- what the pages read
def test_the_runs_list_says_each_run_at_a_glance(journal: Path) -> None:
    runs = {r["run"]: r for r in client(journal).get("/api/runs").json()}
    assert runs[1]["status"] == "succeeded" and runs[1]["counts"] == {"done": 2}
    assert runs[2]["waiting"] == ["approve"] and runs[2]["status"] == "waiting"
    assert runs[1]["duration"] >= 0 and runs[1]["workflow"].endswith("chain.py")


def test_a_picture_at_every_step_and_its_caption(journal: Path) -> None:
    c = client(journal)
    now = c.get("/api/runs/1/picture").json()
    assert now["seq"] == now["last"] > 2
    start = c.get("/api/runs/1/picture", params={"at": 0}).json()
    assert start["caption"] == "the start graph" and start["seq"] == 0
    one = c.get("/api/runs/1/picture", params={"at": 1}).json()
    assert one["caption"].startswith("step 1: ")
    assert start["svg"] != now["svg"]  # A and B done now, pending at the start
    assert start["svg"].startswith("<svg")
    assert fill_of(now["svg"], "t:A") == fill_of(now["svg"], "t:B") == "#bbf7d0"  # done
    assert fill_of(start["svg"], "t:A") == "#dbeafe"  # ready
    assert fill_of(start["svg"], "t:B") == "#ffffff"  # pending


def fill_of(svg: str, node: str) -> str:
    """The fill of the node titled ``node`` in dot's SVG."""

    group = re.search(r"<title>" + re.escape(node) + r"</title>(.*?)</g>", svg, re.S)
    assert group is not None, f"no node {node} in the picture"
    fill = re.search(r'fill="(#[0-9a-f]{6})"', group.group(1))
    assert fill is not None
    return fill.group(1)


def test_a_task_in_full_with_its_log_and_hostile_text_kept_as_text(journal: Path) -> None:
    t = client(journal).get("/api/runs/1/task", params={"id": "A"}).json()
    assert t["output"] == HOSTILE  # JSON: the page shows it with textContent
    assert t["history"][0]["outcome"] == "succeeded"
    assert HOSTILE in t["log"]["text"] and HOSTILE in t["history"][0]["stderr"]
    # the picture has it escaped, never as markup
    svg = client(journal).get("/api/runs/1/picture").json()["svg"]
    assert "<script" not in svg and "<img" not in svg


def test_a_log_outside_the_runs_logs_is_not_read(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    run_dir = logs / "run-1"
    run_dir.mkdir(parents=True)
    (run_dir / "A.2.log").write_text("hello")
    assert log_tail(logs, 1, "A", "elsewhere/run-1/A.2.log")["text"] == "hello"
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    # a journaled path that is no log of the task, or of another task, is not read
    for journaled in (str(secret), "/etc/passwd", "../../secret.txt", "B.2.log"):
        assert log_tail(logs, 1, "A", journaled)["text"] is None, journaled
    (run_dir / "A.1.log").symlink_to(secret)  # the right name, but a link out
    assert log_tail(logs, 1, "A", "A.1.log")["text"] is None
    assert log_tail(logs, 2, "A", "A.2.log")["text"] is None  # another run's: not there
    assert log_tail(logs, 1, "A", None) is None


# ---------------------------------------------------------------- push
def test_the_watcher_reads_only_when_something_committed(journal: Path,
                                                          tmp_path: Path) -> None:
    db = copy_of(journal, tmp_path)

    async def go() -> None:
        w = Watcher(db)
        with w.watching(2) as watched:
            first = watched.change
            w.look(force=True)
            looks = w.looks
            for _ in range(5):
                w.look()
            assert w.looks == looks  # nothing committed: not one read of the runs
            woken = watched.woken
            store = Store.existing(db)
            store.acquire(2, __import__("grammarflow.journal.lease", fromlist=["Holder"])
                          .Holder.this_process())
            store.append(2, AttemptStarted("build", 9))
            store.release(2)
            w.look()
            assert w.looks == looks + 1 and woken.is_set()
            assert watched.change.seq == first.seq + 1
        assert 2 not in w.watched  # the last page gone: the run is no longer watched
        w.close()
    asyncio.run(go())


def test_a_stream_sends_the_state_unless_the_page_has_it(journal: Path) -> None:
    async def first_two(last_id: str | None) -> list[str]:
        w = Watcher(journal)
        out = []
        async for chunk in events(w, [1], last_id, ping_every=0.05):
            out.append(chunk)
            if len(out) == 3:
                break
        w.close()
        return out

    fresh = asyncio.run(first_two(None))
    assert fresh[1].startswith("id: ") and "event: change" in fresh[1]
    assert '"key": 1' in fresh[1]
    had = fresh[1].split("\n")[0][4:]
    again = asyncio.run(first_two(had))
    assert all("event: change" not in c for c in again)  # nothing new: pings only
    assert "event: ping" in again[1]


def test_one_stream_carries_every_run_a_browser_watches(journal: Path, tmp_path: Path
                                                        ) -> None:
    """A browser opens six connections to a server at most: its pages share one stream
    (static/stream.js), which says of each change which run it is of."""
    from grammarflow.journal.lease import Holder

    db = copy_of(journal, tmp_path)

    async def go() -> list[str]:
        w = Watcher(db)
        out: list[str] = []
        stream = events(w, [None, 1, 2], None, ping_every=5)
        async for chunk in stream:
            out.append(chunk)
            if len(out) == 4:  # retry, then the state now of the list, run 1, run 2
                store = Store.existing(db)
                store.acquire(2, Holder.this_process())
                store.append(2, AttemptStarted("build", 9))
                store.release(2)
                w.look()
            if len(out) == 6:  # then what changed: run 2, and so the list
                break
        await stream.aclose()
        w.close()
        return out
    out = asyncio.run(go())
    keys = [re.search(r'"key": ("?\w+"?)', c).group(1) for c in out[1:]]  # type: ignore[union-attr]
    assert keys[:3] == ['"runs"', "1", "2"]
    assert sorted(keys[3:]) == ['"runs"', "2"]


def test_ten_pages_asking_for_one_picture_make_it_once(journal: Path) -> None:
    server = Server(journal, Keys("sekrit", PORT))
    app = make_app(server, hosts_of("127.0.0.1", PORT))

    async def go() -> list[Any]:
        import httpx2

        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE,
                                     headers={"authorization": "Bearer sekrit"}) as c:
            return await asyncio.gather(*(c.get("/api/runs/1/picture") for _ in range(10)))
    answers = asyncio.run(go())
    assert all(r.status_code == 200 for r in answers)
    assert len({r.text for r in answers}) == 1
    assert server.cache.makings == 1


def test_the_runs_page_folds_again_only_the_runs_that_changed(journal: Path,
                                                               tmp_path: Path) -> None:
    from grammarflow.journal.lease import Holder
    from grammarflow.web.views import runs_view

    db = copy_of(journal, tmp_path)
    known: dict[int, Any] = {}
    first = runs_view(Store(db, readonly=True), known)
    said = {run: pair[1] for run, pair in known.items()}
    again = runs_view(Store(db, readonly=True), known)
    assert again == first
    assert all(known[run][1] is said[run] for run in known)  # nothing folded again
    store = Store.existing(db)
    store.acquire(2, Holder.this_process())
    store.append(2, AttemptStarted("build", 9))
    store.release(2)
    runs_view(Store(db, readonly=True), known)
    assert known[1][1] is said[1] and known[2][1] is not said[2]
    assert known[2][1]["seq"] == said[2]["seq"] + 1


def test_an_upgraded_run_is_drawn_under_the_version_it_was_under_at_each_step(
        tmp_path: Path) -> None:
    from grammarflow.journal.operations import upgrade
    from grammarflow.workflow.reading import read_workflow

    db = tmp_path / "gf.db"
    (tmp_path / "v1.py").write_text(textwrap.dedent("""
        from grammarflow import define
        grammar = define("A -> B")
        def A() -> None: ...
        def B() -> None:
            raise SystemExit(1)
        """))
    (tmp_path / "v2.py").write_text(textwrap.dedent("""
        from grammarflow import define
        grammar = define("A -> B, C")
        def A() -> None: ...
        def B() -> None: ...
        def C() -> int:
            return 3
        """))
    assert run(tmp_path / "v1.py", db=db).status == "failed"
    done = upgrade(Store(db), 1, read_workflow(tmp_path / "v2.py"))
    c = client(db)
    now = c.get("/api/runs/1/picture").json()
    assert now["seq"] == done.seq and now["caption"].startswith(
        f"step {done.seq}: UPGRADE to version ")
    assert "<title>t:C</title>" in now["svg"]
    before = c.get("/api/runs/1/picture", params={"at": done.seq - 1}).json()
    assert "<title>t:C</title>" not in before["svg"] and "<title>t:B</title>" in before["svg"]
    task = c.get("/api/runs/1/task", params={"id": "C"}).json()
    assert task["kind"] == "C" and task["answer_type"]["text"] == "int"
