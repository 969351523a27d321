"""Parallel runs are as exact as sequential ones (proofs/04, 07): a Hypothesis state
machine drives the real orchestrator at --max-parallel 1, 2 and 8.

Tasks are coroutines (the in-process executor, same protocol, every message checked by
the orchestrator); the machine decides, step by step, which running task sends which
message — legal or not, often aimed at holes other running tasks are also changing —
and which finishes, with which exit status. At the end:

* every journaled step is an allowed production application, replayed by the naive
  reference model (tests/reference.py): the final graph is in the language;
* the ids each succeeded attempt was told are exactly the ids its committed steps
  created — never another attempt's hole, whatever the order of commits;
* no task completed twice, never more than max_parallel attempts at once, and a
  succeeded run is finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from reference import replay
from strategies import grammars

from grammarflow import Derivation, Grammar, Kind, Workflow, define, repeat_parallel, wire
from grammarflow.core.graph import Hole
from grammarflow.core.steps import step_from_json
from grammarflow.journal.state import fold_from_start
from grammarflow.journal.store import Store
from grammarflow.runtime import Options, Orchestrator
from grammarflow.runtime.inprocess import InProcessExecutor, Refused, TaskIO
from grammarflow.testing import production_diff

GROWN_KIND = "G"


@dataclass
class Fake:
    """One attempt's coroutine, waiting for what the machine makes it do."""

    io: TaskIO
    inbox: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    idle: bool = False
    told: list[Any] = field(default_factory=list)  # results of accepted requests
    finished: bool = False

    async def run(self) -> int:
        while True:
            self.idle = True
            what, arg = await self.inbox.get()
            self.idle = False
            if what == "exit":
                self.finished = True
                return int(arg)
            op, fields = arg
            with contextlib.suppress(Refused):  # a refusal ends the run: it kills us
                self.told.append(await self.io.request(op, **fields))


class ParallelRun(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory(prefix="gf-parallel-")
        self.fakes: dict[tuple[str, int], Fake] = {}
        self.most_running = 0
        self.serial = 0

    # ---------------------------------------------------------------- set-up
    @initialize(grammar=grammars(), parallel=st.sampled_from([1, 2, 8]))
    def start(self, grammar: Grammar, parallel: int) -> None:
        self.grammar, self.parallel = grammar, parallel
        kinds = {k: Kind(f":{k}") for k in [*grammar.kinds(), GROWN_KIND]}
        workflow = Workflow(grammar, kinds, Path(self.tmp.name) / "wf.py")
        self.store = Store(Path(self.tmp.name) / "gf.db")
        executor = InProcessExecutor({k: self._fake for k in kinds})
        options = Options(max_parallel=parallel, logs=Path(self.tmp.name) / "logs")
        self.o = Orchestrator.start(self.store, workflow, options, executor=executor)
        self.run_task = self.loop.create_task(self.o.run())
        self._quiet()

    async def _fake(self, io: TaskIO) -> int:
        fake = Fake(io)
        self.fakes[(io.task, int(io.context["attempt"]))] = fake
        return await fake.run()

    def _quiet(self) -> None:
        """Let the loop run until nothing changes: every running attempt is waiting for
        the machine, or the run has ended."""
        async def settle() -> None:
            last, stable = None, 0
            for _ in range(20_000):
                await asyncio.sleep(0)
                self.most_running = max(self.most_running, len(self.o.running))
                now = (len(self.o.d.history), tuple(sorted(self.o.running)),
                       tuple(f.idle for f in self.fakes.values()), self.run_task.done())
                waiting = all(self._fake_of(t) is not None and self._fake_of(t).idle
                              for t in self.o.running)
                stable = stable + 1 if now == last and (waiting or self.run_task.done()) else 0
                if stable >= 5:
                    return
                last = now
            raise AssertionError("the orchestrator never became quiet")
        self.loop.run_until_complete(settle())

    def _fake_of(self, task: str) -> Fake | None:
        attempt = self.o.running.get(task)
        return None if attempt is None else self.fakes.get((task, attempt.number))

    def _idle(self) -> list[str]:
        return sorted(t for t in self.o.running
                      if (f := self._fake_of(t)) is not None and f.idle and not f.finished)

    # ---------------------------------------------------------------- rules
    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        """An idle running task sends a message (mostly) or exits (sometimes)."""
        idle = self._idle()
        if idle:
            task = data.draw(st.sampled_from(idle))
            fake = self._fake_of(task)
            assert fake is not None
            waiting = due_when_done(self.o.d, task)
            if not self.o.d.graph.holes or (not waiting and data.draw(st.integers(0, 3)) == 0):
                fake.inbox.put_nowait(("exit", data.draw(st.sampled_from([0, 0, 0, 0, 1]))))
            else:
                self.serial += 1
                fake.inbox.put_nowait(("request",
                                       data.draw(messages(self.o.d, task, self.serial,
                                                          waiting))))
        self._quiet()

    @invariant()
    def never_more_than_max_parallel(self) -> None:
        if hasattr(self, "o"):
            assert self.most_running <= self.parallel

    # ---------------------------------------------------------------- the end
    def teardown(self) -> None:
        try:
            if hasattr(self, "o"):
                self._run_to_the_end()
                self._check_the_journal()
        finally:
            self.loop.close()
            self.tmp.cleanup()

    def _run_to_the_end(self) -> None:
        for _ in range(500):
            if self.run_task.done():
                break
            for task in self._idle():
                fake = self._fake_of(task)
                assert fake is not None
                fake.inbox.put_nowait(("exit", 0))
            self._quiet()
        assert self.run_task.done(), "the run did not end when every task had exited"
        self.status = self.run_task.result()
        event(f"max_parallel={self.parallel}: status {self.status}")
        at_once = self.most_running
        event(f"attempts at once, at most: {min(at_once, 3)}{'+' if at_once > 3 else ''}")
        for e in self.store.entries(self.o.run_id, ["refused"]):
            event(f"refused: {e.data['reason'][:45]}")
        told = sum(len(f.told) for f in self.fakes.values())
        event(f"accepted requests: {'0' if not told else '1-3' if told < 4 else '4+'}")

    def _check_the_journal(self) -> None:
        entries = list(self.store.entries(self.o.run_id))
        steps = [step_from_json(e.data) for e in entries if e.kind == "step"]
        final = Derivation.replay(self.grammar, steps)
        assert final.graph == self.o.d.graph
        # the orchestrator's own state is what its journal says: it changed it only by
        # journaling entries (docs/architecture.md), so a run read back is the run lived
        live, folded = self.o.state, fold_from_start(self.store, self.o.run_id)
        assert (live.attempts, live.failures, live.refusal, live.paused, live.waiting) == (
            folded.attempts, folded.failures, folded.refusal, folded.paused, folded.waiting)
        check_in_the_language(self.grammar, steps)
        done = [s.task for s in steps if getattr(s, "state", None) is not None
                and s.state.value == "done"]
        assert len(done) == len(set(done)), "a task completed twice"
        if self.status == "succeeded":
            assert final.is_finished()
        for (task, number), made in committed_ids(self.grammar, entries).items():
            told = told_ids(self.fakes[(task, number)].told)
            assert told <= made, (f"attempt {number} of {task} was told {sorted(told - made)}, "
                                  "which its committed steps did not make")
            tasks_made = {i for i in made if i in final.graph.tasks}
            assert tasks_made <= told, (f"attempt {number} of {task} made tasks "
                                        f"{sorted(tasks_made - told)} it was never told of")


def due_when_done(d: Derivation, task: str) -> list[str]:
    """Holes with no default that are due once ``task`` is done: it should expand them
    (as a well-behaved task does) or the run breaks when it ends."""
    g, types = d.graph, d.grammar.types
    out = []
    for h in sorted(g.holes_at(task)):
        hole = g.holes[h]
        htype = types[hole.type]
        if task in hole.after and not htype.open and htype.default is None and all(
                g.state[a].value == "done" for a in hole.after if a != task):
            out.append(h)
    return out


@st.composite
def messages(draw: st.DrawFn, d: Derivation, task: str, serial: int,
             first: list[str]) -> tuple[str, dict[str, Any]]:
    """A message a running task could send: the holes in ``first`` if any (due when it
    ends), else usually a hole after it, often any hole (another running task may be
    changing it too); legal or not."""
    g, types = d.graph, d.grammar.types
    holes = sorted(g.holes)
    mine = first or [h for h in holes if task in g.holes[h].after or g.holes[h].everywhere]
    hole = g.holes[draw(st.sampled_from(mine if mine and draw(st.booleans()) else holes))]
    htype = types[hole.type]
    if htype.open:
        return _open_message(draw, d, hole, task, serial)
    legal = [p.name for p in htype.allowed(hole.allowed)]
    how = draw(st.sampled_from(["expand"] * 4 + ["add"] * 3 + ["narrow", "bad"]))
    name = draw(st.sampled_from(legal or [p.name for p in htype.productions]))
    if how == "expand":
        return "expand", {"hole": hole.id, "production": name}
    if how == "add":
        diff = production_diff(d, hole, name, prefix=f"n{serial}")
        if not diff.tasks and not diff.edges:
            return "expand", {"hole": hole.id, "production": name}
        return "add", {"tasks": [{"name": t.local, "kind": t.kind} for t in diff.tasks],
                       "edges": [list(e) for e in diff.edges]}
    if how == "narrow":
        return "narrow", {"hole": hole.id, "remove": [name]}
    return "expand", {"hole": hole.id, "production": "no_such_production"}


def _open_message(draw: st.DrawFn, d: Derivation, hole: Hole, task: str, serial: int
                  ) -> tuple[str, dict[str, Any]]:
    name = f"g{serial}"
    sources = sorted(d.graph.tasks) if hole.everywhere else list(hole.after)
    edges = [[draw(st.sampled_from(sources)), name]] if sources else []
    if draw(st.booleans()):
        return "add", {"tasks": [{"name": name, "kind": GROWN_KIND}], "edges": edges}
    return "refine", {"hole": hole.id, "tasks": [{"name": name, "kind": GROWN_KIND}],
                      "edges": edges if draw(st.booleans()) else []}


def check_in_the_language(grammar: Grammar, steps: list[Any]) -> None:
    """Replay the journal through the naive reference model (tests/reference.py): it
    must accept every step, and end where the core ended."""
    start = grammar.derivation()
    final = Derivation.replay(grammar, steps)
    model = replay(start.graph.to_json(), start.grammar.to_json(), steps)  # Illegal: refused
    differences = model.differences(final.graph.to_json(), final.grammar.to_json())
    assert not differences, differences


def committed_ids(grammar: Grammar, entries: list[Any]) -> dict[tuple[str, int], set[str]]:
    """For each succeeded attempt, the ids its committed steps created: they are the
    ``changes`` steps journaled right before its completion."""
    d = grammar.derivation()
    made: list[set[str]] = []  # per step entry, in order
    order: list[int] = []  # journal index of each step entry
    result: dict[tuple[str, int], set[str]] = {}
    for i, e in enumerate(entries):
        if e.kind == "step":
            applied = d.apply(step_from_json(e.data))
            made.append(set(applied.tasks.values()) | set(applied.holes))
            order.append(i)
        elif (e.kind == "attempt" and e.data.get("event") == "end"
              and e.data["outcome"] == "succeeded"):
            n = e.data["changes"]
            # the steps, then the task's completion, then this entry
            assert order and order[-1] == i - 1
            result[(e.data["task"], e.data["attempt"])] = set().union(
                *made[len(made) - 1 - n:len(made) - 1]) if n else set()
    return result


def told_ids(results: list[Any]) -> set[str]:
    ids: set[str] = set()
    for result in results:
        for r in result if isinstance(result, list) else [result]:
            ids |= set(r.get("tasks", {}).values()) | set(r.get("holes", []))
            ids |= set(r.get("ids", {}).values())
    return ids


# At least 150 runs (the CI profile's budget is per test, and each run here is cheap);
# the thorough profile's bigger budget applies as it is.
ParallelRun.TestCase.settings = settings(
    settings.default, max_examples=max(150, settings.default.max_examples),
    stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_parallel_runs_are_exact = ParallelRun.TestCase


# ---------------------------------------------------------------- find, beside a running task
def run_in_process(tmp: Path, grammar: Grammar, functions: dict[str, Any], kinds: list[str],
                   parallel: int) -> tuple[str, Orchestrator]:
    """Run ``grammar`` to its end with coroutine tasks; its status and orchestrator."""
    workflow = Workflow(grammar, {k: Kind(f":{k}") for k in kinds}, tmp / "wf.py")
    options = Options(max_parallel=parallel, logs=tmp / "logs")

    async def go() -> tuple[str, Orchestrator]:
        o = Orchestrator.start(Store(tmp / "gf.db"), workflow, options,
                               executor=InProcessExecutor(functions))
        return await o.run(), o
    return asyncio.run(go())


def test_find_sees_committed_tasks_and_its_own_never_a_running_siblings(
        tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    a_made_x, b_looked, a_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def a(io: TaskIO) -> int:
        made = await io.request("add", tasks=[{"name": "x", "kind": "X"}],
                                edges=[[io.task, "x"]])
        seen["x"] = made["ids"]["x"]
        seen["a, own"] = await io.find(kind="X")
        a_made_x.set()
        await b_looked.wait()
        seen["a, b's running"] = await io.find(kind="Y")
        a_done.set()
        return 0

    async def b(io: TaskIO) -> int:
        await a_made_x.wait()
        seen["b, a's running"] = await io.find(kind="X")
        await io.request("add", tasks=[{"name": "y", "kind": "Y"}], edges=[[io.task, "y"]])
        seen["b, own"] = await io.find(kind="Y")
        b_looked.set()
        await a_done.wait()
        while (await io.find(kind="X")) == {}:  # until a's attempt has been committed
            await asyncio.sleep(0.001)
        seen["b, a's committed"] = await io.find(kind="X")
        seen["b, right after a"] = await io.find(after="a")
        seen["b, right before x"] = await io.find(before=seen["x"])
        seen["b, every task"] = await io.find()
        return 0

    grammar = define("a, b, Any(*)", "Any(*) ::= *")
    status, _ = run_in_process(tmp_path, grammar, {"a": a, "b": b}, ["a", "b", "X", "Y"], 2)
    assert status == "succeeded"
    x, y = seen["x"], "Any.1/y"
    assert seen["a, own"] == {x: "X"}  # its own change, not yet committed
    assert seen["b, a's running"] == {}  # a sibling's uncommitted task: not visible
    assert seen["b, own"] == {y: "Y"} and seen["a, b's running"] == {}
    assert seen["b, a's committed"] == {x: "X"} == seen["b, right after a"]
    assert seen["b, right before x"] == {"a": "a"}
    assert list(seen["b, every task"]) == ["a", "b", x, y]  # oldest first


def test_a_task_after_more_tasks_than_the_environment_takes_asks_for_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "MAX_NEIGHBOURS", 60)  # so that 5 Ms are too many
    told: dict[str, Any] = {}

    async def fan_out(io: TaskIO) -> None:
        await io.request("add", tasks=[{"name": f"m{i}", "kind": "M"} for i in range(5)],
                         edges=[e for i in range(5) for e in ([io.task, f"m{i}"], [f"m{i}", "B"])])

    async def reduce(io: TaskIO) -> None:
        told["context"] = sorted(io.context)
        told["after"], told["before"] = await io.after(), await io.before()

    grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    status, o = run_in_process(tmp_path, grammar, {"A": fan_out, "B": reduce},
                               ["A", "B", "M"], 1)
    assert status == "succeeded"
    assert "after" not in told["context"] and "before" in told["context"]
    g = o.d.graph
    assert told["after"] == {m: "M" for m in sorted(g.pred["B"], key=g.rank.__getitem__)}
    assert len(told["after"]) == 5 and told["before"] == {}
