"""Data between tasks in the core: signatures from annotations, the binding rule, and
type errors refused at registration, when a step adds an edge, and when a task would
start — each with a reason a person can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from grammarflow import (
    All,
    BrokenPromise,
    Expand,
    Fragment,
    GrammarError,
    Item,
    Output,
    SetState,
    TaskSpec,
)
from grammarflow.core.dataflow import Gather, Signature, bind, feeders
from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph, TaskState
from grammarflow.core.notation import define
from grammarflow.core.shapes import map_over
from grammarflow.core.steps import Grow, step_from_json, step_to_json
from grammarflow.errors import WorkflowFileError
from grammarflow.workflow.annotations import DataTypeError, KindTypes, Validator, function_types
from grammarflow.workflow.definition import Kind
from grammarflow.workflow.reading import read_workflow


@dataclass
class Row:
    name: str
    size: int


def sigs(**functions: Any) -> dict[str, Signature]:
    out = {}
    for kind, func in functions.items():
        types = func if isinstance(func, KindTypes) else function_types(func)
        assert types is not None
        out[kind] = types.signature(kind)
    return out


def fetch() -> str: ...
def parse(fetch: str) -> list[Row]: ...
def parse_ints(fetch: str) -> list[int]: ...
def total(parse: list[Row]) -> int: ...
def each(split: Item[str]) -> int: ...
def gather(each: All[int]) -> list[int]: ...
def maybe(fetch: str = "none") -> str: ...


def done(d: Derivation, task: str, output: Any = None, give: bool = True) -> None:
    d.apply(SetState(task, TaskState.RUNNING))
    if give:
        d.apply(Output(task, output))
    d.apply(SetState(task, TaskState.DONE))


# ---------------------------------------------------------------- signatures
def test_a_function_declares_its_signature_with_annotations() -> None:
    shown = {k: s.shown(k) for k, s in sigs(parse=parse, each=each, gather=gather,
                                             maybe=maybe).items()}
    assert shown == {"parse": "parse(fetch: str) -> list[Row]",
                     "each": "each(split: Item[str]) -> int",
                     "gather": "gather(each: All[int]) -> list[int]",
                     "maybe": "maybe(fetch: str) -> str"}
    assert sigs(maybe=maybe)["maybe"].inputs[0].optional
    gathers = [i.gather for s in sigs(each=each, gather=gather).values() for i in s.inputs]
    assert gathers == [Gather.ITEM, Gather.ALL]

    def untyped() -> None: ...
    assert function_types(untyped) is None  # takes nothing, gives nothing


def test_a_type_that_is_not_json_data_is_refused_with_its_name() -> None:
    def bad(x: object, y: type) -> int: ...
    with pytest.raises(DataTypeError, match="input 'y' of kind bad is declared type"):
        function_types(bad).signature("bad")  # type: ignore[union-attr]


def test_signatures_round_trip_through_the_journal_form() -> None:
    g = define("fetch -> parse -> total").with_data(sigs(fetch=fetch, parse=parse, total=total))
    assert Grammar.from_json(g.to_json()) == g
    assert Grammar.from_json(g.to_json()).data["parse"].shown("parse") == \
        "parse(fetch: str) -> list[Row]"


# ---------------------------------------------------------------- registration
def test_an_output_that_cannot_feed_an_input_is_refused_at_registration() -> None:
    g = define("fetch -> parse -> total")
    with pytest.raises(GrammarError) as e:
        g.with_data(sigs(fetch=fetch, parse=parse_ints, total=total))
    assert str(e.value) == (
        "type errors in the grammar:\n  the start graph: edge parse -> total: kind parse "
        "gives list[int], and 'parse: list[Row]' takes list[Row]: elements: an int is not "
        "a Row")


def test_registration_follows_parameters_to_the_tasks_they_can_be_bound_to() -> None:
    """The map's copies are made by a production: the edge a -> each in it is checked
    with a bound to split (an element of list[int] is not a str)."""
    def split() -> list[int]: ...
    g = define("split, gather, Each(split, gather)", map_over("Each", "each"))
    with pytest.raises(GrammarError) as e:
        g.with_data(sigs(split=split, each=each, gather=gather))
    assert ("production Each(a, b) ::= [when count(a -> each) < len(a)] a -> each -> b, "
            "Each(a, b): edge a -> each: kind split gives an element of list[int], and "
            "'split: Item[str]' takes str: an int is not a str") in str(e.value)

    def split_ok() -> list[str]: ...
    g.with_data(sigs(split=split_ok, each=each, gather=gather))  # accepted


def test_an_untyped_kind_cannot_feed_a_typed_input() -> None:
    g = define("fetch -> parse")
    with pytest.raises(GrammarError, match="kind fetch declares no types: declare its "
                                           "output type"):
        g.with_data(sigs(parse=parse))


def test_two_tasks_feeding_one_single_input_are_refused() -> None:
    g = define("fetch -> parse, fetch2:fetch -> parse")
    with pytest.raises(GrammarError, match="input 'fetch' of parse takes the output of one "
                                           "task, and 2 feed it: fetch, fetch2"):
        g.with_data(sigs(fetch=fetch, parse=parse))


# ---------------------------------------------------------------- binding at run time
def test_inputs_bind_by_local_name_or_kind_one_all_and_item() -> None:
    def split() -> list[str]: ...
    g = define("split, gather, Each(split, gather)", map_over("Each", "each")).with_data(
        sigs(split=split, each=each, gather=gather))
    d = g.derivation()
    done(d, "split", ["a", "bb", "ccc"])
    d.close_due()
    copies = sorted(d.graph.succ["split"] - {"gather"}, key=d.graph.rank.__getitem__)
    assert [d.inputs(t) for t in copies] == [{"split": "a"}, {"split": "bb"},
                                             {"split": "ccc"}]
    for t, n in zip(copies, (1, 2, 3), strict=True):
        done(d, t, n)
    assert d.inputs("gather") == {"each": [1, 2, 3]}  # the list's order


def test_an_optional_input_no_task_feeds_keeps_its_default() -> None:
    g = define("start -> maybe").with_data(sigs(maybe=maybe))
    d = g.derivation()
    done(d, "start", give=False)
    assert d.inputs("maybe") == {}


def test_an_input_no_edge_can_feed_is_refused_at_registration() -> None:
    def parse_typo(fetc: str) -> int: ...
    with pytest.raises(GrammarError) as e:
        define("fetch -> parse").with_data(sigs(fetch=fetch, parse=parse_typo))
    assert str(e.value) == (
        "type errors in the grammar:\n  input 'fetc' of kind parse is fed by no task: no "
        "edge the grammar can make into a parse comes from a task named or of kind 'fetc' "
        "(they come from: fetch); did you mean 'fetch'?")


def test_an_input_no_task_feeds_is_refused_when_the_task_would_start() -> None:
    """With an open hole, a feeding task may come at run time: decided at the start."""
    g = define("start -> parse, Dyn(start, parse)", "Dyn(a; b) ::= *").with_data(
        sigs(parse=parse))
    d = g.derivation()
    done(d, "start", give=False)
    with pytest.raises(BrokenPromise) as e:
        d.apply(SetState("parse", TaskState.RUNNING))
    assert e.value.reason == (
        "the orchestrator could not start task parse: input 'fetch' of task parse (parse) "
        "takes the output of the one task it runs after that is named or of kind 'fetch', "
        "and there is none; it runs after: start (start)")
    assert d.graph.state["parse"] is TaskState.PENDING


def test_an_element_past_the_end_of_the_list_is_refused() -> None:
    def split() -> list[str]: ...
    g = define("split, end, Dyn(split, end)", "Dyn(a; b) ::= *").with_data(
        sigs(split=split, each=each))
    d = g.derivation()
    done(d, "split", ["only"])
    d.apply(Grow("Dyn.1", Fragment((TaskSpec("e1", "each"), TaskSpec("e2", "each")),
                                   edges=(("split", "e1"), ("split", "e2")))))
    d.apply(SetState("Dyn.1/e1", TaskState.RUNNING))
    with pytest.raises(BrokenPromise, match=re.escape(
            "task Dyn.1/e2 is the 2nd task of kind each after task split, whose output has "
            "1 element(s): a map makes exactly one task per element")):
        d.apply(SetState("Dyn.1/e2", TaskState.RUNNING))


def test_an_edge_a_step_adds_is_type_checked_when_it_is_made() -> None:
    """An open hole can make any kind at run time: its edges are checked then."""
    g = define("fetch, end, Dyn(fetch, end)", "Dyn(a; b) ::= *").with_data(
        sigs(fetch=fetch, parse_ints=parse_ints, total=total))
    d = g.derivation()
    done(d, "fetch", "text")
    before = d.graph.to_json()
    bad = Grow("Dyn.1", Fragment((TaskSpec("parse", "parse_ints"), TaskSpec("total", "total")),
                                 edges=(("fetch", "parse"), ("parse", "total"))))
    with pytest.raises(BrokenPromise) as e:
        d.apply(bad)
    assert e.value.reason == (
        "edge Dyn.1/parse -> Dyn.1/total: kind parse_ints gives list[int], and "
        "'parse: list[Row]' takes list[Row]: elements: an int is not a Row")
    assert d.graph.to_json() == before


def test_a_second_task_feeding_a_single_input_is_refused_when_its_edge_is_made() -> None:
    g = define("fetch -> parse, f2:fetch, end, Dyn(f2, parse)", "Dyn(a; b) ::= *").with_data(
        sigs(fetch=fetch, parse=parse))
    d = g.derivation()
    done(d, "f2", "x")
    frag = Fragment(edges=(("f2", "parse"),))
    with pytest.raises(BrokenPromise, match="input 'fetch' of task parse \\(parse\\) takes "
                                            "the output of one task, and task fetch feeds "
                                            "it already"):
        d.apply(Grow("Dyn.1", frag))


# ---------------------------------------------------------------- outputs
def test_an_output_is_given_once_by_a_running_task_and_journaled() -> None:
    g = define("fetch -> parse").with_data(sigs(fetch=fetch, parse=parse))
    d = g.derivation()
    with pytest.raises(BrokenPromise, match="task fetch is pending: only a running task "
                                            "gives its output"):
        d.apply(Output("fetch", "x"))
    d.apply(SetState("fetch", TaskState.RUNNING))
    d.apply(Output("fetch", "x"))
    with pytest.raises(BrokenPromise, match="task fetch has set its output already"):
        d.apply(Output("fetch", "y"))
    assert d.graph.outputs == {"fetch": "x"}
    assert step_from_json(step_to_json(Output("fetch", {"a": [1]}))) == Output("fetch",
                                                                               {"a": [1]})
    replayed = Derivation.replay(g, d.history)
    assert replayed.graph.outputs == {"fetch": "x"}


def test_a_kind_that_declares_no_output_gives_none() -> None:
    def quiet(fetch: str) -> None: ...
    g = define("fetch -> quiet").with_data(sigs(fetch=fetch, quiet=quiet))
    d = g.derivation()
    done(d, "fetch", "x")
    d.apply(SetState("quiet", TaskState.RUNNING))
    with pytest.raises(BrokenPromise, match="kind quiet declares none"):
        d.apply(Output("quiet", 1))


@pytest.mark.parametrize(("hint", "value", "why"), [
    (list[Row], [{"name": "a", "size": "3"}],
     'expected list[Row]: at [0].size: Input should be a valid integer (got "3")'),
    (int, 1.5, "expected int: at the top: Input should be a valid integer (got 1.5)"),
    (Literal["a", "b"], "c", "expected Literal['a', 'b']: at the top: Input should be 'a' "
                             "or 'b' (got \"c\")"),
    (Row, {"name": "x"}, "expected Row: at .size: Field required (got {\"name\": \"x\"})"),
])
def test_a_value_not_of_its_type_is_refused_with_the_path_to_it(hint: Any, value: Any,
                                                                why: str) -> None:
    with pytest.raises(DataTypeError) as e:
        Validator(hint)(value)
    assert str(e.value) == why


def test_a_valid_value_is_kept_as_pydantic_dumps_it() -> None:
    assert Validator(list[Row])([{"name": "a", "size": 3, "extra": 1}]) == [
        {"name": "a", "size": 3}]
    assert Validator(float)(2) == 2.0


# ---------------------------------------------------------------- workflow files
def test_a_workflow_file_with_a_type_error_is_refused_naming_it(tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text("from grammarflow import define\n"
                  "grammar = define('fetch -> parse')\n"
                  "def fetch() -> int: ...\n"
                  "def parse(fetch: str) -> None: ...\n")
    with pytest.raises(WorkflowFileError) as e:
        read_workflow(wf)
    assert str(e.value) == (
        f"{wf}: type errors in the grammar:\n  the start graph: edge fetch -> parse: kind "
        "fetch gives int, and 'fetch: str' takes str: an int is not a str")


def test_a_script_declares_its_types_with_its_kind(tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text("from grammarflow import Kind, define\n"
                  "grammar = define('fetch -> parse')\n"
                  "kinds = {'fetch': Kind('fetch.py', output=list[str]),\n"
                  "         'parse': Kind('parse.py', inputs={'fetch': list[str]}, "
                  "output=int)}\n")
    workflow = read_workflow(wf)
    assert {k: s.shown(k) for k, s in workflow.grammar.data.items()} == {
        "fetch": "fetch() -> list[str]", "parse": "parse(fetch: list[str]) -> int"}
    assert Kind("x.py") == Kind("x.py", output=int)  # types are not part of the command


def test_expanding_a_guarded_map_checks_the_copies_edges() -> None:
    def split() -> list[str]: ...
    g = define("split, gather, Each(split, gather)", map_over("Each", "each")).with_data(
        sigs(split=split, each=each, gather=gather))
    d = g.derivation()
    d.apply(SetState("split", TaskState.RUNNING))
    d.apply(Output("split", ["x"]))
    assert d.apply(Expand("Each.1", "1")).tasks == {"each": "Each.1/each"}
    with pytest.raises(BrokenPromise, match=r"its guard .* is false"):
        d.apply(Expand("Each.1.2", "1"))
    d.apply(Expand("Each.1.2", "2"))
    assert bind(d.graph, "Each.1/each", g.data["each"]) == {"split": "x"}


def test_an_expansion_is_type_checked_where_registration_could_not_see() -> None:
    """X is never written with its arguments in the grammar (an open hole makes the X
    hole at run time), so only the expansion can see what feeds parse: refused then."""
    from grammarflow import HoleSpec, Refine

    def num() -> int: ...
    g = define("start, end, Dyn(start, end)", ["Dyn(a; b) ::= *",
                                               "X(a, b) ::= a -> parse -> b"]).with_data(
        sigs(num=num, parse=parse))
    d = g.derivation()
    done(d, "start", give=False)
    d.apply(Refine("Dyn.1", Fragment((TaskSpec("fetch", "num"),),
                                     (HoleSpec("X", ("fetch", "end")),), (("start", "fetch"),))))
    done(d, "Dyn.1/fetch", 7)
    before = d.graph.to_json()
    with pytest.raises(BrokenPromise) as e:
        d.apply(Expand("Dyn.1/X.1", "1"))
    assert e.value.reason == (
        "edge Dyn.1/fetch -> Dyn.1/X.1/parse: kind num gives int, and 'fetch: str' takes "
        "str: an int is not a str")
    assert d.graph.to_json() == before


# ---------------------------------------------------------------- one feeder, fuzzed
def src() -> list[int]: ...
def one(src: list[int]) -> int: ...
def item(src: Item[int]) -> int: ...
def every(src: All[list[int]]) -> int: ...


#: The kinds of the property below: a list's source, and an input of each gathering.
FEEDING = sigs(src=src, one=one, item=item, every=every)
SINGLE = {"one", "item"}  # kinds whose input 'src' takes one feeder
KINDS_DRAWN = ["src", "item", "src", "one", "every"]  # feeders as often as not


@st.composite
def feeding_edges(draw: st.DrawFn, tasks: list[tuple[str, str]], least: int = 0
                  ) -> list[tuple[str, str]]:
    """Edges from src tasks into 0-2 later tasks of the list (so never a cycle), 1-2
    into each: a second feeder as often as not."""
    edges: list[tuple[str, str]] = []
    targets = [(i, v) for i, (v, k) in enumerate(tasks)
               if k != "src" and any(ku == "src" for _, ku in tasks[:i])]
    if not targets:
        return edges
    for i, v in draw(st.lists(st.sampled_from(targets), min_size=min(least, 1), max_size=2,
                              unique=True)):
        sources = [u for u, ku in tasks[:i] if ku == "src"]
        edges += [(u, v) for u in draw(st.lists(st.sampled_from(sources), min_size=1,
                                                max_size=2, unique=True))]
    return edges


def second_feeders(graph: Graph, new: dict[str, str], edges: list[tuple[str, str]]
                   ) -> list[str]:
    """Tasks whose single input 'src' the graph and ``edges`` (among its tasks and
    ``new`` ones: id -> kind) would give more than one feeder."""
    kind = {**{t: task.kind for t, task in graph.tasks.items()}, **new}
    fed = {v: sum(1 for u in graph.pred.get(v, ()) if kind[u] == "src") for v in kind}
    for u, v in edges:
        if kind[u] == "src" and not (u in graph.tasks and v in graph.tasks
                                     and graph.has_edge(u, v)):
            fed[v] += 1
    return sorted(v for v, n in fed.items() if n > 1 and kind[v] in SINGLE)


@given(st.data())
def test_a_single_input_is_fed_by_one_task_whatever_edges_come(data: st.DataObject) -> None:
    """Theorem 11 (2), the binding rule: an input that takes one output (``src: T``) or
    one element of a list (``Item[T]``) has exactly one feeder; the start graph giving
    it two is refused at registration, and an edge that would give it a second is
    refused when a step makes it (here: random growth of an open hole attached
    everywhere, a step at a time, in any order). ``All[T]`` takes any number."""
    kinds = data.draw(st.lists(st.sampled_from(KINDS_DRAWN), min_size=2, max_size=5),
                      label="start tasks")
    start = [(f"s{i}", k) for i, k in enumerate(sorted(kinds, key=lambda k: k != "src"))]
    edges = data.draw(feeding_edges(start, least=data.draw(st.integers(0, 1))),
                      label="start edges")
    text = ", ".join([*(f"{t}:{k}" for t, k in start), *(f"{u} -> {v}" for u, v in edges),
                      "Any(*)"])
    grammar = define(text, "Any(*) ::= *")
    twice = second_feeders(grammar.derivation().graph, {}, [])
    event(f"start graph: {'a second feeder' if twice else 'one feeder each'}")
    if twice:
        with pytest.raises(GrammarError, match=r"takes the output of one task, and \d feed it"):
            grammar.with_data(FEEDING)
        return
    d = grammar.with_data(FEEDING).derivation()
    tasks = list(start)
    for n in range(data.draw(st.integers(1, 4), label="steps")):
        new = [(f"g{n}_{i}", k) for i, k in enumerate(data.draw(
            st.lists(st.sampled_from(KINDS_DRAWN), max_size=2), label="new tasks"))]
        ids = {t: f"Any.1/{t}" for t, _ in new}
        edges = data.draw(feeding_edges([*tasks, *((ids[t], k) for t, k in new)], least=1),
                          label="edges")
        local = {v: k for k, v in ids.items()}
        step = Grow("Any.1", Fragment(tuple(TaskSpec(t, k) for t, k in new), (), tuple(
            (local.get(u, u), local.get(v, v)) for u, v in edges)))
        before = d.graph.to_json()
        expected = second_feeders(d.graph, {ids[t]: k for t, k in new}, edges)
        event(f"step: {'a second feeder' if expected else 'one feeder each'}")
        if expected:
            with pytest.raises(BrokenPromise, match="feeds it already"):
                d.apply(step)
            assert d.graph.to_json() == before
        else:
            d.apply(step)
            tasks += [(ids[t], k) for t, k in new]
    for v in d.graph.tasks:
        if d.graph.tasks[v].kind in SINGLE:
            assert len(feeders(d.graph, v, "src")) <= 1, v
