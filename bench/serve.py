"""`grammarflow serve` measured: first paint of big runs, push latency, the slider on a
100,000-entry journal, and what ten watching pages cost the orchestrator.

    .venv/bin/python bench/serve.py            # everything (a few minutes)
    .venv/bin/python bench/serve.py --only paint,push,slider,pages --quick

Each figure is measured through the real thing: `grammarflow run` makes the runs, a live
`grammarflow serve` serves them, and Debian's headless Chromium (what `dev.sh test`
installs) loads the pages. The floors, measured in the same run: the browser loading the
server's smallest page (the "not found" page, with its script), and reading a journal's
rows with sqlite3 without decoding them.

- first paint: from the browser's navigation start to the picture on screen, for a
  Montage of about 2,000 and 10,000 tasks (its every mProject with its own successors:
  nothing collapses as siblings). Target < 1 s and < 3 s.
- push: from a journal entry's commit (its ``at``) to the page's hearing of it, over
  a run of short tasks. Target p95 < 0.5 s.
- slider: the picture at a random journal step of a 100,000-entry run, asked of the
  server cold (nothing cached). Target < 0.2 s.
- pages: the orchestrator's own CPU time (not its tasks') for a 1,000-task run at
  --max-parallel 4 with ten pages watching it, against none. Target < 5% more.
- stable: each time a hole of an example's run expands, how many pairs of tasks drawn
  in one column swap places in the picture. Target: none.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
TOKEN = "bench"

MONTAGE = f"""
import importlib.util, os
spec = importlib.util.spec_from_file_location("montage", {str(ROOT / "examples" / "montage.py")!r})
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
m.ROWS, m.COLS = int(os.environ["ROWS"]), int(os.environ["COLS"])
grammar = m.grammar

def survey() -> None: m.survey()
def mProject() -> None: m.mProject()
def mDiffFit() -> None: m.mDiffFit()
def mConcatFit() -> None: ...
def mBgModel() -> None: ...
def mBackground() -> None: ...
def mImgtbl() -> None: ...
def mAdd() -> None: ...
"""

CHAIN = """
import time
from grammarflow import define
N = 60
grammar = define(" -> ".join(f"t{i}:T" for i in range(N)), [])
def T() -> None:
    time.sleep(0.05)
"""

def run(root: Path, workflow: str, *args: str, env: dict[str, str] | None = None,
        wait: bool = True) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([PY, "-m", "grammarflow", "run", workflow, "--db",
                             str(root / "gf.db"), *args], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    if wait:
        proc.wait()
    return proc


@contextmanager
def served(db: Path) -> Iterator[str]:
    proc = subprocess.Popen([PY, "-m", "grammarflow", "serve", "--db", str(db), "--port", "0",
                             "--token", TOKEN], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    said = ""
    while "open http" not in said:
        said += proc.stderr.readline()
    base = re.search(r"open (http://[^/]+)", said).group(1)  # type: ignore[union-attr]
    try:
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


#: Milliseconds from navigation start until ``selector`` is on the page.
UNTIL = """
const [selector, done] = [arguments[0], arguments[arguments.length - 1]];
const look = () => document.querySelector(selector)
    ? done(performance.now()) : requestAnimationFrame(look);
look();
"""


def first_paint(driver: Any, url: str, selector: str) -> float:
    driver.get(url)
    return float(driver.execute_async_script(UNTIL, selector)) / 1000


def floor_page(driver: Any, base: str) -> float:
    driver.get(f"{base}/?token={TOKEN}")  # the cookie, once
    return min(first_paint(driver, f"{base}/runs/999999", "p.missing") for _ in range(3))


# ------------------------------------------------------------------------ paint
def paint(quick: bool) -> None:
    print("first paint of a Montage (every mProject its own successors):")
    sizes = [(10, 10)] if quick else [(20, 25), (45, 55)]
    with chromium() as driver:
        for rows, cols in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                (root / "wf.py").write_text(MONTAGE)
                t0 = time.perf_counter()
                run(root, "wf.py", "--max-parallel", "8",
                    env={"ROWS": str(rows), "COLS": str(cols)})
                made = time.perf_counter() - t0
                tasks = sqlite3.connect(root / "gf.db").execute(
                    "SELECT COUNT(*) FROM journal WHERE kind='attempt' AND "
                    "data LIKE '%\"start\"%'").fetchone()[0]
                with served(root / "gf.db") as base:
                    floor = floor_page(driver, base)
                    times = [first_paint(driver, f"{base}/runs/1", "#canvas svg")
                             for _ in range(3)]
                    print(f"  {tasks:>6,} tasks (run made in {made:5.1f} s): first paint "
                          f"{times[0]:.2f} s cold, {min(times[1:]):.2f} s again; floor "
                          f"(the smallest page) {floor:.3f} s; ratio {times[0] / floor:.1f}x")


# ------------------------------------------------------------------------ push
PUSHED = """
window.__heard = [];
const source = new EventSource('/events/runs/1');
source.addEventListener('change', e => {
  window.__heard.push([JSON.parse(e.data).seq, Date.now() / 1000]);
});
"""


def push(quick: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, chromium() as driver:
        root = Path(tmp)
        (root / "wf.py").write_text(CHAIN)
        (root / "gf.db").touch()
        first = run(root, "wf.py", wait=False)  # makes the database; run 1
        time.sleep(1.0)
        with served(root / "gf.db") as base:
            driver.get(f"{base}/runs/1?token={TOKEN}")
            driver.execute_script(PUSHED)
            first.wait()
            time.sleep(0.5)
            heard = driver.execute_script("return window.__heard")
        at = dict(sqlite3.connect(root / "gf.db").execute(
            "SELECT seq, at FROM journal WHERE run=1").fetchall())
    lags = sorted(t - at[seq] for seq, t in heard if seq in at and at[seq] > 0)
    p95 = lags[int(0.95 * (len(lags) - 1))]
    print(f"push: {len(lags)} changes heard; commit to page p50 "
          f"{statistics.median(lags) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"max {lags[-1] * 1000:.0f} ms (the watcher looks every 100 ms)")


# ------------------------------------------------------------------------ slider
def slider(quick: bool) -> None:
    from bench.journal import write_big_run
    from grammarflow.journal.state import Checkpoints
    from grammarflow.journal.store import Store
    from grammarflow.picture.render import Picture
    from grammarflow.web.views import picture_view

    tasks = 4_000 if quick else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        db = write_big_run(Path(tmp), tasks)
        con = sqlite3.connect(db)
        t0 = time.perf_counter()
        entries = len(con.execute("SELECT data FROM journal WHERE run=1").fetchall())
        floor = time.perf_counter() - t0
        store = Store(db, readonly=True)
        checkpoints = Checkpoints()
        t0 = time.perf_counter()
        picture_view(store, 1, entries - 1, Picture(), checkpoints)  # the first: folds all
        first = time.perf_counter() - t0
        rng = random.Random(1)
        times = []
        for at in rng.sample(range(1, entries), 12):
            t0 = time.perf_counter()
            picture_view(store, 1, at, Picture(), checkpoints)
            times.append(time.perf_counter() - t0)
        times.sort()
        print(f"slider on a {entries:,}-entry journal: the picture at a random step "
              f"p50 {statistics.median(times):.3f} s, max {max(times):.3f} s (the first "
              f"look back, which keeps a state every 5,000 entries: {first:.3f} s); floor "
              f"(read every row, undecoded) {floor:.3f} s")


# ------------------------------------------------------------------------ pages
#: `grammarflow run ...`, which writes its own CPU time (not its tasks') to a file at exit.
OWN_CPU = ("import atexit, resource, sys\n"
           "where = sys.argv.pop(1)\n"
           "def said():\n"
           "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
           "    open(where, 'w').write(str(u.ru_utime + u.ru_stime))\n"
           "atexit.register(said)\n"
           "from grammarflow.cli import main\n"
           "main()\n")


def orchestrator(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PY, "-c", OWN_CPU, str(root / "cpu"), "run", "wf.py", "--db",
                             str(root / "gf.db"), *args], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_of(proc: subprocess.Popen[bytes], root: Path) -> float:
    proc.wait()
    return float((root / "cpu").read_text())


def pages(quick: bool) -> None:
    n = 300 if quick else 1_000
    # s waits until the pages watch (a file the bench writes), then n Ms and e run
    workflow = f"""
import pathlib, time
from grammarflow import define
grammar = define(", ".join(f"s -> m{{i}}:M -> e" for i in range({n})), [])
def s() -> None:
    while not pathlib.Path("go").exists():
        time.sleep(0.02)
def M() -> None: ...
def e() -> None: ...
"""
    results: dict[int, list[float]] = {0: [], 10: []}
    with chromium() as driver:
        for repeat in range(2 if quick else 5):
            for watchers in (0, 10):
                with tempfile.TemporaryDirectory() as tmp:
                    root = Path(tmp)
                    (root / "wf.py").write_text(workflow)
                    proc = orchestrator(root, "--max-parallel", "4")
                    while not (root / "gf.db").exists():
                        time.sleep(0.05)
                    with served(root / "gf.db") as base:
                        driver.get(f"{base}/?token={TOKEN}")
                        handles = [driver.current_window_handle]
                        for _ in range(watchers):
                            driver.switch_to.new_window("tab")
                            handles.append(driver.current_window_handle)
                            driver.get(f"{base}/runs/1")
                        time.sleep(1.0)
                        (root / "go").write_text("")
                        t0 = time.perf_counter()
                        cpu = cpu_of(proc, root)
                        wall = time.perf_counter() - t0
                        for h in handles[1:]:
                            driver.switch_to.window(h)
                            driver.close()
                        driver.switch_to.window(handles[0])
                    results[watchers].append(cpu)
                    print(f"  run {repeat + 1}, {watchers:>2} pages: orchestrator CPU {cpu:.2f} s "
                          f"(wall {wall:.1f} s)")
    none, ten = statistics.median(results[0]), statistics.median(results[10])
    print(f"pages: a {n:,}-task run at --max-parallel 4: the orchestrator's own CPU "
          f"{none:.2f} s with no page, {ten:.2f} s with ten (medians): "
          f"{100 * (ten / none - 1):+.1f}% (best of each: {min(results[0]):.2f} / "
          f"{min(results[10]):.2f} s)")


# ------------------------------------------------------------------------ stable
def drawn_at(svg: str) -> dict[str, tuple[float, float]]:
    out = {}
    for chunk in svg.split('class="node">')[1:]:
        title = re.search(r"<title>([^<]*)</title>", chunk)
        where = re.search(r'<text[^>]* x="([\d.\-]+)" y="([\d.\-]+)"', chunk)
        if title and where and title.group(1).startswith("t:"):
            out[title.group(1)] = (float(where.group(1)), float(where.group(2)))
    return out


def stable(quick: bool) -> None:
    """Each time a hole expands, how many pairs of tasks drawn in one column before and
    after it swap places (the pictures the page shows, alternatives drawn)."""
    from bench.journal import write_big_run
    from grammarflow.core.steps import Expand
    from grammarflow.journal.entries import StepTaken
    from grammarflow.journal.store import Store
    from grammarflow.picture.of_run import run_dot
    from grammarflow.picture.render import Picture, render

    examples = ["a map grown one M at a time (40)", "random_map.py", "loop.py",
                "subgraph.py"]
    for name in examples[:2] if quick else examples:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            if name.endswith(".py"):
                run(root, str(ROOT / "examples" / name), env={"EXAMPLE_SEED": "5"})
                db = root / "gf.db"
            else:
                db = write_big_run(root, 40)
            store = Store(db, readonly=True)
            steps = [e.seq for e in store.entries(1, ["step"])
                     if isinstance(e.record, StepTaken) and isinstance(e.record.step, Expand)]

            def at(seq: int, store: Store = store) -> dict[str, tuple[float, float]]:
                dot = run_dot(store, 1, Picture(alternatives=True), at=seq)[0]
                return drawn_at(render(dot, "svg").decode())
            swaps = pairs = 0
            for seq in steps:
                before, after = at(seq - 1), at(seq)
                both = [t for t in before if t in after]
                for i, a in enumerate(both):
                    for b in both[i + 1:]:
                        if before[a][0] == before[b][0] and after[a][0] == after[b][0]:
                            pairs += 1
                            swaps += (before[a][1] - before[b][1]) * (
                                after[a][1] - after[b][1]) < 0
            print(f"stable layout, {name}: {len(steps)} expansions; of {pairs} pairs of "
                  f"tasks in one column before and after one, {swaps} swapped places")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="paint,push,slider,pages,stable")
    args = parser.parse_args()
    for name in args.only.split(","):
        {"paint": paint, "push": push, "slider": slider, "pages": pages,
         "stable": stable}[name](args.quick)


if __name__ == "__main__":
    main()
