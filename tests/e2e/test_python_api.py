"""Running from Python (issue 28.3): `grammarflow.run` returns a Run (status, graph,
outputs, history, picture); `run_async` works inside a running event loop, as in a
notebook; Jupyter's `_repr_svg_` draws workflows, grammars, derivations, graphs and
runs; `GRAMMARFLOW_DB` places the journal; the public surface is `__all__`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import grammarflow
from grammarflow import Expand, define, load_workflow, open_run, repeat_parallel, run, run_async

FLOW = '''
from grammarflow import define

grammar = define("A -> B, Ms(A, B)", "Ms(a, b) ::= [default] nothing | a -> M -> b, Ms(a, b)")


def A() -> int:
    from grammarflow import task

    task.expand("Ms.1", "2")
    return 21


def M() -> None: ...


def B() -> None: ...
'''

BROKEN = '''
from grammarflow import define

grammar = define("A -> B")


def A() -> None:
    from grammarflow import task

    task.add(tasks={"rogue": "Rogue"}, edges=[("A", "rogue")])


def B() -> None: ...
'''


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.py"
    path.write_text(FLOW)
    return path


def test_a_run_from_python_says_how_it_went(flow: Path, tmp_path: Path) -> None:
    done = run(flow, db=tmp_path / "j.db")
    assert done.ok and done.status == "succeeded" and done.reason is None
    assert set(done.graph.tasks) == {"A", "B", "Ms.1/M"}
    assert done.outputs == {"A": 21}
    assert any("expand" in line.lower() or "Ms.1" in line for line in done.history())
    assert done.picture().startswith(b"<?xml") and "<svg" in done._repr_svg_()
    assert open_run(done.id, db=tmp_path / "j.db").graph == done.graph
    assert repr(done).startswith(f"<Run {done.id} succeeded")


def test_a_broken_run_says_why(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    broken = run(path, db=tmp_path / "j.db")
    assert broken.status == "broken" and not broken.ok
    assert "broken promise" in (broken.reason or "")
    assert broken.view["refusal"]["why"] == "no hole takes it"


def test_a_notebook_awaits_the_run_in_its_own_loop(flow: Path, tmp_path: Path) -> None:
    async def cell() -> grammarflow.Run:  # a notebook cell runs inside a running loop
        with pytest.raises(RuntimeError, match="run_async"):
            run(flow, db=tmp_path / "j.db")
        return await run_async(flow, db=tmp_path / "j.db", max_parallel=4)

    done = asyncio.run(cell())
    assert done.ok and done.id == 1 and "<svg" in done._repr_svg_()


def test_the_journal_goes_where_grammarflow_db_says(flow: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAMMARFLOW_DB", str(tmp_path / "from-env.db"))
    assert run(flow).ok and (tmp_path / "from-env.db").exists()
    env = {**os.environ, "GRAMMARFLOW_DB": str(tmp_path / "cli.db")}
    cli = subprocess.run([sys.executable, "-m", "grammarflow", "run", str(flow)], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "cli.db").exists() and not (tmp_path / ".grammarflow").exists()


def test_jupyter_draws_what_it_is_shown(flow: Path) -> None:
    grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    d = grammar.derivation()
    d.apply(Expand("Ms.1", "2"))
    for shown in (grammar, d, load_workflow(str(flow))):
        svg = shown._repr_svg_()
        assert svg is not None and "<svg" in svg and "Ms" in svg
    assert d.graph._repr_svg_() is None  # a bare graph does not know what its holes may be
    done = define("A -> B").derivation().graph
    assert "<svg" in (done._repr_svg_() or "")


def test_the_public_surface_is_what_all_says() -> None:
    assert dir(grammarflow) == sorted([*grammarflow.__all__, "__version__"])
    assert not {"annotations", "importlib", "TYPE_CHECKING"} & set(dir(grammarflow))
    assert all(getattr(grammarflow, name) is not None for name in grammarflow.__all__)


FLAKY = '''
from pathlib import Path

from grammarflow import Kind, define

grammar = define("A")
kinds = {"A": Kind(":A", retries=2, retry_delay=0.3, backoff=2)}


def A() -> None:
    tries = Path(__file__).with_name("tries")
    n = int(tries.read_text()) + 1 if tries.exists() else 1
    tries.write_text(str(n))
    if n < 3:
        raise SystemExit(f"attempt {n} fails")
'''


def test_a_retry_waits_longer_each_time(tmp_path: Path) -> None:
    from grammarflow.journal.store import Store

    path = tmp_path / "flaky.py"
    path.write_text(FLAKY)
    done = run(path, db=tmp_path / "j.db")
    assert done.ok and (tmp_path / "tries").read_text() == "3"
    starts = [x.at for x in Store(str(tmp_path / "j.db"), readonly=True).entries(done.id)
              if x.kind == "attempt" and x.data.get("event") == "start"]
    ends = [x.at for x in Store(str(tmp_path / "j.db"), readonly=True).entries(done.id)
            if x.kind == "attempt" and x.data.get("event") == "end"]
    assert len(starts) == 3
    assert starts[1] - ends[0] >= 0.3 and starts[2] - ends[1] >= 0.6  # 0.3 s, then twice that


WIDE = '''
import time

from grammarflow import define

grammar = define("A -> M1 -> B, A -> M2 -> B, A -> M3 -> B, A -> M4 -> B")
max_parallel = 3


def A() -> None: ...
def B() -> None: ...
def M1() -> None: time.sleep(0.4)
def M2() -> None: time.sleep(0.4)
def M3() -> None: time.sleep(0.4)
def M4() -> None: time.sleep(0.4)
'''


def _most_at_once(db: Path, run_id: int) -> int:
    from grammarflow.journal.store import Store

    moments = sorted((x.at, 1 if x.data["event"] == "start" else -1)
                     for x in Store(str(db), readonly=True).entries(run_id)
                     if x.kind == "attempt" and x.data.get("event") in ("start", "end"))
    most = now = 0
    for _, change in moments:
        now += change
        most = max(most, now)
    return most


def test_a_workflow_says_how_many_tasks_run_at_once(tmp_path: Path) -> None:
    path = tmp_path / "wide.py"
    path.write_text(WIDE)
    wide = run(path, db=tmp_path / "j.db")
    assert wide.ok and 2 <= _most_at_once(tmp_path / "j.db", wide.id) <= 3
    told = run(path, db=tmp_path / "j.db", max_parallel=1)  # the caller's word wins
    assert told.ok and _most_at_once(tmp_path / "j.db", told.id) == 1
    path.write_text(WIDE.replace("max_parallel = 3", "max_parallel = 0"))
    with pytest.raises(grammarflow.GrammarflowError, match="line 7: max_parallel = 0"):
        run(path, db=tmp_path / "j.db")


PARAMS = '''
import json
import sys
from pathlib import Path

from grammarflow import Kind, define

grammar = define("A -> B")
params = {"n": 3, "mode": "fast", "ratio": 0.5}
kinds = {"B": Kind("b.py")}


def A(n: int, mode: str) -> int:
    Path(__file__).with_name("a.json").write_text(json.dumps([n, mode]))
    return n * 2
'''

SCRIPT = '''
import json
from pathlib import Path

from grammarflow import task

Path(__file__).with_name("b.json").write_text(json.dumps(task.context().params))
'''


def test_a_run_is_given_its_parameters(tmp_path: Path) -> None:
    path = tmp_path / "params.py"
    path.write_text(PARAMS)
    (tmp_path / "b.py").write_text(SCRIPT)
    done = run(path, db=tmp_path / "j.db", params={"n": 7})
    assert done.ok and done.outputs == {"A": 14}
    assert (tmp_path / "a.json").read_text() == '[7, "fast"]'  # a function: by its names
    assert json.loads((tmp_path / "b.json").read_text()) == {"n": 7, "mode": "fast",
                                                              "ratio": 0.5}  # a script
    cli = subprocess.run([sys.executable, "-m", "grammarflow", "run", str(path), "--db",
                          str(tmp_path / "j.db"), "-p", "n=11", "-p", "ratio=2"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "a.json").read_text() == '[11, "fast"]'
    assert json.loads((tmp_path / "b.json").read_text())["ratio"] == 2.0
    for bad, said in ((["-p", "n=many"], "run parameter n='many': expected int"),
                      (["-p", "nn=2"], "no run parameter 'nn'"), (["-p", "n"], "NAME=VALUE")):
        refused = subprocess.run([sys.executable, "-m", "grammarflow", "run", str(path),
                                  "--db", str(tmp_path / "j.db"), *bad], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr


def test_a_run_shows_the_order_an_empty_hole_kept(tmp_path: Path) -> None:
    path = tmp_path / "work.py"
    path.write_text('from grammarflow import define\n'
                    'grammar = define("plan, report, Work(plan, report)",\n'
                    '                 ["Work(plan; report) ::= * where only step"])\n'
                    'def plan(): ...\ndef report(): ...\ndef step(): ...\n')
    done = run(path, db=tmp_path / "j.db")
    assert done.ok and done.view["ran_after"] == [["plan", "report"]]
    assert done.view["edges"] == [] and "ran after" in done._repr_svg_()
    status = subprocess.run([sys.executable, "-m", "grammarflow", "status", str(done.id),
                             "--db", str(tmp_path / "j.db")], capture_output=True, text=True,
                            timeout=60)
    assert "order    report ran after plan" in status.stdout
