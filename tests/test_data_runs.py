"""Data through the real orchestrator (its journal in SQLite, its checks, pydantic's
validation), with tasks as in-process coroutines speaking the protocol: a 1,000-element
map, and the property that every accepted run's data respects the declared types.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from strategies import TYPES, perturbed

from grammarflow.core.notation import define
from grammarflow.core.schema import incompatibility
from grammarflow.core.shapes import map_over
from grammarflow.errors import GrammarError
from grammarflow.journal.state import fold_run
from grammarflow.journal.store import Store
from grammarflow.runtime import Options, Orchestrator
from grammarflow.runtime.inprocess import InProcessExecutor, Refused, TaskIO
from grammarflow.workflow.annotations import All, Item, KindTypes
from grammarflow.workflow.definition import Kind, Workflow
from grammarflow.workflow.reading import read_workflow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(tmp: Path, workflow: Workflow, functions: dict[str, Any], parallel: int = 4
        ) -> tuple[str, Orchestrator]:
    options = Options(max_parallel=parallel, logs=tmp / "logs")

    async def go() -> tuple[str, Orchestrator]:
        o = Orchestrator.start(Store(tmp / "gf.db"), workflow, options,
                               executor=InProcessExecutor(functions))
        return await o.run(), o
    return asyncio.run(go())


def test_a_map_over_a_thousand_elements_makes_a_thousand_copies_in_order(
        tmp_path: Path) -> None:
    """The example's own workflow (its types, its grammar), its tasks as coroutines."""
    workflow = read_workflow(EXAMPLES / "map_list.py")
    words = [f"w{i}" + "x" * (i % 7) for i in range(1000)]
    given_inputs: dict[str, Any] = {}

    async def split(io: TaskIO) -> None:
        await io.request("output", value=words)

    async def measure(io: TaskIO) -> None:
        given_inputs[io.task] = io.context["inputs"]["split"]
        await io.request("output", value=len(io.context["inputs"]["split"]))

    async def total(io: TaskIO) -> None:
        inputs = await io.request("inputs")
        await io.request("output", value=inputs["inputs"]["measure"])

    status, o = run(tmp_path, workflow, {"split": split, "measure": measure, "total": total})
    assert status == "succeeded"
    g = o.d.graph
    copies = sorted(g.succ["split"] - {"total"}, key=g.rank.__getitem__)
    assert len(copies) == 1000 and {g.tasks[c].kind for c in copies} == {"measure"}
    assert [given_inputs[c] for c in copies] == words  # element i to the i-th copy
    assert g.outputs["total"] == [len(w) for w in words]  # gathered in the list's order
    assert g.pred["total"] == {"split", *copies}
    folded = fold_run(Store(tmp_path / "gf.db", readonly=True), o.run_id).d.graph
    assert folded.outputs == g.outputs  # the journal replays the data exactly


# ---------------------------------------------------------------- the property
@st.composite
def typed_chains(draw: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """A chain k0 -> k1 -> ... of kinds: the output type each declares, and the input
    type each takes from the one before (the same, a type near it, or any other)."""
    n = draw(st.integers(2, 4))
    # `-> None` declares no output (the Python convention): an output is never only null
    outs = [draw(TYPES.filter(lambda t: t[0] is not type(None))) for _ in range(n)]
    ins = [None] + [draw(st.sampled_from(["same", "same", "same", "near", "other"]))
                    for _ in range(n - 1)]
    inputs: list[Any] = [None]
    for i in range(1, n):
        how = ins[i]
        hint = outs[i - 1][0]
        inputs.append(hint if how == "same" else perturbed(hint, draw) if how == "near"
                      else draw(TYPES)[0])
    return outs, inputs, [draw(st.integers(0, 3)) for _ in range(n)]


def accepts(hint: Any, value: Any) -> bool:
    try:
        TypeAdapter(hint).validate_json(json.dumps(value), strict=True)
    except (ValidationError, TypeError, ValueError):
        return False
    return True


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(chain=typed_chains(), data=st.data())
def test_every_accepted_runs_data_respects_the_declared_types(tmp_path_factory: Any,
                                                               chain: Any, data: Any) -> None:
    """Each task gives a value of its declared type, or (by chance) one of another
    type. Whatever happens, what the journal keeps is typed: every committed output is
    of its kind's output type, every input a task was given is of its input type; a
    task that gave a value of the wrong type broke the run, and its value is nowhere."""
    outs, inputs, bad_odds = chain
    n = len(outs)
    kinds = [f"k{i}" for i in range(n)]
    types = {kinds[0]: KindTypes({}, outs[0][0])}
    for i in range(1, n):
        types[kinds[i]] = KindTypes({kinds[i - 1]: inputs[i]}, outs[i][0])
    grammar = define(" -> ".join(kinds))
    signatures = {k: t.signature(k) for k, t in types.items()}
    try:
        grammar = grammar.with_data(signatures)
    except GrammarError as e:  # refused before anything runs: only for a real type error
        note(f"refused at registration: {e}")
        assert any(incompatibility(signatures[kinds[i - 1]].output,  # type: ignore[arg-type]
                                   signatures[kinds[i]].inputs[0].schema) is not None
                   for i in range(1, n))
        return
    tmp = tmp_path_factory.mktemp("run")
    workflow = Workflow(grammar, {k: Kind(f":{k}") for k in kinds}, tmp / "wf.py",
                        types=types)
    seen_inputs: dict[str, Any] = {}
    sent: dict[str, Any] = {}
    values = {}
    for i, kind in enumerate(kinds):
        wrong = [v for v in (None, "x", 1.5, [1], {"f0": 0}, True) if not accepts(outs[i][0], v)]
        if wrong and data.draw(st.integers(0, 3)) < bad_odds[i] // 2:  # sometimes a wrong value
            values[kind] = data.draw(st.sampled_from(wrong))
        else:
            adapter = TypeAdapter(outs[i][0])
            values[kind] = adapter.dump_python(adapter.validate_python(data.draw(outs[i][1])),
                                               mode="json")

    def task(kind: str) -> Any:
        async def body(io: TaskIO) -> None:
            seen_inputs[io.task] = io.context.get("inputs", {})
            sent[io.task] = values[kind]
            try:
                await io.request("output", value=values[kind])
            except Refused:
                return
        return body

    status, o = run(tmp, workflow, {k: task(k) for k in kinds}, parallel=1)
    note(f"status {status}; sent {sent}; outputs {o.d.graph.outputs}")
    g = fold_run(Store(tmp / "gf.db", readonly=True), o.run_id).d.graph
    for task_id, value in g.outputs.items():
        assert accepts(types[task_id].output, value), (task_id, value)
    for task_id, given_inputs in seen_inputs.items():
        for name, value in given_inputs.items():
            assert accepts(types[task_id].inputs[name], value), (task_id, name, value)
    wrong = [k for k in kinds if k in sent and not accepts(types[k].output, sent[k])]
    if wrong:
        refusal = o.state.refusal
        assert status == "broken" and refusal is not None and refusal.task == wrong[0]
        assert wrong[0] not in g.outputs
    else:
        assert status == "succeeded" and set(g.outputs) == set(kinds)



@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(element=TYPES.filter(lambda t: t[0] is not type(None)), data=st.data())
def test_every_map_gives_each_copy_its_element_and_gathers_in_order(
        tmp_path_factory: Any, element: Any, data: Any) -> None:
    """A map over a list of any type, any length (0 included), at any parallelism: the
    i-th copy made is given element i, and the task after them the copies' outputs in
    the list's order. The list's task may make some copies itself (and may try to stop
    the map early, or to make one copy too many): the guard that counts refuses exactly
    what breaks the count, and nothing else."""
    hint, values_of = element
    adapter = TypeAdapter(hint)
    items = [adapter.dump_python(adapter.validate_python(v), mode="json")
             for v in data.draw(st.lists(values_of, max_size=6))]
    parallel = data.draw(st.integers(1, 4))
    types = {"src": KindTypes({}, list[hint]),  # type: ignore[valid-type]
             "m": KindTypes({"src": Item[hint]}, str),
             "end": KindTypes({"m": All[str]}, list[str])}
    grammar = define("src, end, Each(src, end)", map_over("Each", "m")).with_data(
        {k: t.signature(k) for k, t in types.items()})
    tmp = tmp_path_factory.mktemp("map")
    workflow = Workflow(grammar, {k: Kind(f":{k}") for k in types}, tmp / "wf.py",
                        types=types)
    seen: dict[str, Any] = {}
    own = data.draw(st.integers(0, len(items) + 1))  # copies src makes itself
    stop = data.draw(st.booleans())  # then it closes the map itself ([else])
    narrow = stop and data.draw(st.booleans())  # having first taken the copies away
    breaks = own > len(items) or (stop and own < len(items))

    async def src(io: TaskIO) -> None:
        await io.request("output", value=items)
        hole = next(h for h, t in io.holes.items() if t == "Each")
        try:
            for _ in range(own):
                hole = (await io.request("expand", hole=hole, production="1"))["holes"][0]
            if narrow:  # [else] still does not hold while a copy is due
                await io.request("narrow", hole=hole, remove=["1"])
            if stop:
                await io.request("expand", hole=hole, production="2")
        except Refused:
            return

    async def m(io: TaskIO) -> None:
        seen[io.task] = io.context["inputs"]["src"]
        await io.request("output", value=json.dumps(seen[io.task], sort_keys=True))

    async def end(io: TaskIO) -> None:
        seen["end"] = io.context["inputs"]["m"]
        await io.request("output", value=seen["end"])

    status, o = run(tmp, workflow, {"src": src, "m": m, "end": end}, parallel=parallel)
    note(f"items {items}; own {own}, stop {stop}, narrow {narrow}; seen {seen}")
    if breaks:  # refused at src's own request, with nothing of src's kept
        assert status == "broken" and o.state.refusal is not None and o.state.refusal.task == "src"
        assert "src" not in o.d.graph.outputs and o.d.graph.succ["src"] == set()
        return
    assert status == "succeeded"
    g = o.d.graph
    copies = sorted((t for t in g.succ["src"] if g.tasks[t].kind == "m"),
                    key=g.rank.__getitem__)
    assert len(copies) == len(items)
    assert [seen[c] for c in copies] == items
    said = [json.dumps(v, sort_keys=True) for v in items]
    assert seen["end"] == said and g.outputs["end"] == said
