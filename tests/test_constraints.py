"""Constraint promises on open holes (grammarflow.core.constraints): each form accepted and
refused with its exact message, when each is decided, narrowing by constraints, and
the notation, the JSON and the journal of each."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import event, given
from hypothesis import strategies as st
from strategies import constraint_texts

from grammarflow import (
    BrokenPromise,
    Fragment,
    GrammarError,
    Grow,
    NotationError,
    Refine,
    Role,
    SetState,
    TaskSpec,
    TaskState,
    define,
    open_type,
    wire,
)
from grammarflow.cli import main
from grammarflow.core.constraints import (
    constraints_from_json,
    format_constraints,
    parse_constraint,
    parse_constraints,
)
from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph
from grammarflow.core.productions import HoleSpec
from grammarflow.core.resolve import grammar_unresolved
from grammarflow.core.steps import (
    Constrain,
    Expand,
    NarrowHole,
    NarrowType,
    Step,
    step_from_json,
    step_to_json,
)
from grammarflow.journal.status import describe
from grammarflow.journal.store import Entry


def dyn(constraints: str, start: str = "s -> e, Dyn(s, e)") -> Derivation:
    return define(start, f"Dyn(a; b) ::= * where {constraints}").derivation()


def grow(tasks: dict[str, str], edges: list[tuple[str, str]] = (),  # type: ignore[assignment]
         hole: str = "Dyn.1") -> Grow:
    return Grow(hole, Fragment(tuple(TaskSpec(n, k) for n, k in tasks.items()), (),
                               tuple(edges)))


def refused(d: Derivation, step: object) -> str:
    before = d.graph.to_json()
    with pytest.raises(BrokenPromise) as e:
        d.apply(step)  # type: ignore[arg-type]
    assert d.graph.to_json() == before
    return e.value.reason


def run(d: Derivation, *tasks: str) -> None:
    for t in tasks:
        d.apply(SetState(t, TaskState.RUNNING))
        d.apply(SetState(t, TaskState.DONE))


# ---------------------------------------------------------------- each form
def test_only_kinds() -> None:
    d = dyn("only M, N")
    d.apply(grow({"m": "M", "n": "N"}, [("s", "m"), ("m", "n"), ("n", "e")]))
    assert refused(d, grow({"k": "K"})) == (
        "constraint 'only M, N' of hole Dyn.1 (Dyn) is broken: task Dyn.1/k of kind K")


def test_no_new_tasks() -> None:
    d = dyn("no new tasks", "s, e, Dyn(s, e)")
    d.apply(grow({}, [("s", "e")]))
    assert refused(d, grow({"m": "M"})) == (
        "constraint 'no new tasks' of hole Dyn.1 (Dyn) is broken: task Dyn.1/m of kind M")


def test_at_most_counts_across_changes() -> None:
    d = dyn("at most 2 M; at most 3 tasks")
    d.apply(grow({"m1": "M", "x": "X"}))
    d.apply(grow({"m2": "M"}))
    assert refused(d, grow({"m3": "M"})) == (
        "constraint 'at most 2 M' of hole Dyn.1 (Dyn) is broken: task Dyn.1/m3 would be "
        "the 3rd M made there")
    assert refused(d, grow({"y": "Y"})) == (
        "constraint 'at most 3 tasks' of hole Dyn.1 (Dyn) is broken: task Dyn.1/y would "
        "be the 4th task made there")


def test_only_edges_by_kind_and_by_parameter() -> None:
    d = dyn("only a -> M, M -> N, N -> b")
    d.apply(grow({"m": "M", "n": "N"}, [("s", "m"), ("m", "n"), ("n", "e")]))
    assert refused(d, grow({"m2": "M"}, [("m2", "e")])) == (
        "constraint 'only a -> M, M -> N, N -> b' of hole Dyn.1 (Dyn) is broken: edge "
        "Dyn.1/m2 -> e (M -> e)")


def test_no_new_edges() -> None:
    d = dyn("no new edges")
    d.apply(grow({"m": "M"}))
    assert refused(d, grow({"n": "N"}, [("s", "n")])) == (
        "constraint 'no new edges' of hole Dyn.1 (Dyn) is broken: edge s -> Dyn.1/n")


def test_no_edges_from_a_task_and_into_a_parameter() -> None:
    d = define("A, B, Any(*)", "Any(*) ::= * where no edges from A; no edges into b_"
               ).derivation()
    d.apply(Grow("Any.1", Fragment((TaskSpec("m", "M"),), (), (("B", "m"),))))
    assert refused(d, Grow("Any.1", Fragment((), (), (("A", "B"),)))) == (
        "constraint 'no edges from A' of hole Any.1 (Any) is broken: edge A -> B")
    e = dyn("no edges into b")
    assert refused(e, grow({"m": "M"}, [("m", "e")])) == (
        "constraint 'no edges into b' of hole Dyn.1 (Dyn) is broken: edge Dyn.1/m -> e")


def test_in_degree_is_decided_by_the_change_after_which_nothing_can_add_a_predecessor(
        ) -> None:
    """Only a hole that comes before a task, or one attached everywhere, adds an edge
    into it: the change that leaves it with neither and too few predecessors broke the
    promise, and is refused (issue 24: it was accepted, and the run broke later)."""
    d = dyn("each D has 2 P before")
    d.apply(grow({"p1": "P", "p2": "P"}, [("s", "p1"), ("s", "p2")]))
    assert refused(d, grow({"d": "D"}, [("Dyn.1/p1", "d")])) == (
        "constraint 'each D has 2 P before' of hole Dyn.1 (Dyn) is broken: task Dyn.1/d "
        "(D) has 1 P before it, and nothing can add one now: no hole comes before it")
    d.apply(grow({"d2": "D"}, [("Dyn.1/p1", "d2"), ("Dyn.1/p2", "d2")]))
    run(d, "s", "Dyn.1/p1", "Dyn.1/p2", "Dyn.1/d2")


def test_in_degree_waits_for_the_last_hole_that_comes_before_the_task() -> None:
    d = dyn("each D has 1 P before")
    made = define("x", ["X(a; b) ::= a -> D -> b, Y(a, D)",
                        "Y(a; d) ::= [default] nothing | a -> P -> d"]).types.values()
    x, = d.apply(Refine("Dyn.1", Fragment(holes=(HoleSpec("X", ("s", "e")),)),
                        tuple(made))).holes
    y, = d.apply(Expand(x, "1")).holes  # D, and a hole before it: not decided yet
    assert refused(d, Expand(y, "1")) == (
        f"constraint 'each D has 1 P before' of hole Dyn.1 (Dyn) is broken: task {x}/D "
        "(D) has 0 P before it, and nothing can add one now: no hole comes before it")
    d.apply(Expand(y, "2"))


def test_in_degree_is_decided_when_the_task_would_start_while_any_hole_may_add_one(
        ) -> None:
    d = define("s -> e, Dyn(s, e), Any(*)",
               ["Dyn(a; b) ::= * where each D has 2 P before", "Any(*) ::= *"]).derivation()
    d.apply(grow({"p1": "P", "p2": "P"}, [("s", "p1"), ("s", "p2")]))
    d.apply(grow({"d": "D"}, [("Dyn.1/p1", "d")]))  # one P so far: Any.1 may add one
    run(d, "s", "Dyn.1/p1", "Dyn.1/p2")
    assert refused(d, SetState("Dyn.1/d", TaskState.RUNNING)) == (
        "constraint 'each D has 2 P before' of hole Dyn.1 (Dyn) is broken: task Dyn.1/d "
        "(D) would start with 1 P before it")
    d.apply(Grow("Any.1", Fragment((), (), (("Dyn.1/p2", "Dyn.1/d"),))))
    run(d, "Dyn.1/d")


def test_an_upper_bound_is_decided_by_the_edge_that_passes_it() -> None:
    d = dyn("each D has at most 1 P before")
    assert refused(d, grow({"p1": "P", "p2": "P", "d": "D"}, [("p1", "d"), ("p2", "d")])) \
        .endswith("would be the 2nd P before Dyn.1/d")


def test_out_degree_is_decided_when_the_hole_closes() -> None:
    d = dyn("each D has 1 C after")
    d.apply(grow({"d": "D"}, [("s", "d")]))
    run(d, "s", "Dyn.1/d")  # done, and still no C after it: the hole may add one
    assert refused(d, Refine("Dyn.1", Fragment())) == (
        "constraint 'each D has 1 C after' of hole Dyn.1 (Dyn) is broken: task Dyn.1/d "
        "(D) has 0 C after it as the hole closes")
    d.apply(Refine("Dyn.1", Fragment((TaskSpec("c", "C"),), (), (("Dyn.1/d", "c"),))))
    assert not d.graph.holes


def test_a_refinement_keeps_the_constraints_in_every_hole_it_makes() -> None:
    d = dyn("only M")
    inner, = d.apply(Refine("Dyn.1", Fragment(holes=(HoleSpec("Dyn", ("s", "e")),)))).holes
    assert inner == "Dyn.1.2"
    assert refused(d, grow({"k": "K"}, hole=inner)) == (
        "constraint 'only M' of hole Dyn.1 (Dyn) is broken: task Dyn.1.2/k of kind K")
    # a fresh closed type that may break it is refused at once
    step = Refine(inner, Fragment(holes=(HoleSpec("X", ("s", "e")),)),
                  tuple(define("s", "X(a, b) ::= a -> M -> b | a -> K -> b").types.values()))
    assert refused(d, step) == (
        "refining Dyn.1.2 with X(a, b) ::= a -> K -> b would break constraint 'only M' "
        "of hole Dyn.1 (Dyn): it makes a task of kind K; a refinement keeps the "
        "constraints of the hole it refines")


def test_constraints_are_added_at_run_time_never_removed() -> None:
    d = dyn("only M, N")
    d.apply(grow({"n1": "N"}))
    d.apply(Constrain("Dyn.1", parse_constraints("at most 1 N")))  # counts from now
    d.apply(grow({"n2": "N"}))
    assert "the 2nd N made there" in refused(d, grow({"n3": "N"}))
    assert "'only M, N'" in refused(d, grow({"k": "K"}))  # the first one still holds
    assert refused(d, Constrain("s", parse_constraints("no new edges"))) == \
        "no hole 's' in the graph (it may have been expanded already)"


# ---------------------------------------------------------------- notation, JSON, journal
@pytest.mark.parametrize("text", [
    "only M, N", "no new tasks", "at most 100 M", "at most 3 tasks", "only a -> M, M -> b",
    "no new edges", "no edges from A", "no edges into b",
    "each mDiffFit has 2 mProject before, 1 mConcatFit after",
    "each D has at least 1 P before, at most 2 C after"])
def test_each_form_round_trips_through_its_text(text: str) -> None:
    assert str(parse_constraint(text)) == text


@given(st.lists(constraint_texts(("a", "b")), min_size=4, max_size=4))
def test_the_canonical_text_of_constraints_is_what_was_written(texts: list[str]) -> None:
    """Every form, with random names, numbers and bounds: constraints read back from
    their canonical text (as the notation, `status` and refusals print them) are the
    same constraints, and that text is what a person writes (docs/constraints.md)."""
    for text in texts:
        constraints = parse_constraints(text)
        assert format_constraints(constraints) == text
        assert parse_constraints(format_constraints(constraints)) == constraints


def test_a_constrained_type_round_trips_through_notation_and_json() -> None:
    line = ("Dyn(a; b) ::= * where only M, N; at most 100 M; no edges into b; "
            "each mDiffFit has 2 mProject before, 1 mConcatFit after")
    g = define("s, e, Dyn(s, e)", line)
    assert repr(g.types["Dyn"]) == line
    assert Grammar.from_json(g.to_json()) == g
    assert open_type("Dyn", ["a", "b"], [Role.AFTER, Role.BEFORE],
                     constraints=line.split(" where ")[1].split("; ")) == g.types["Dyn"]


def test_a_grammar_json_without_constraints_still_reads() -> None:
    g = define("s, e, Dyn(s, e)", "Dyn(a; b) ::= *")
    assert "constraints" not in g.types["Dyn"].to_json()
    assert Grammar.from_json(g.to_json()) == g


@pytest.mark.parametrize(("line", "expected"), [
    ("Dyn(a; b) ::= * where only", "a kind or an edge after 'only'"),
    ("Dyn(a; b) ::= * where at most many M", "a number"),
    ("Dyn(a; b) ::= * where each D has 2 P", "'before' or 'after'"),
    ("Dyn(a; b) ::= * where nothing at all", "a constraint: one of"),
])
def test_a_constraint_that_does_not_parse_says_where(line: str, expected: str) -> None:
    with pytest.raises(NotationError) as e:
        define("s, e, Dyn(s, e)", line)
    assert expected in e.value.expected and e.value.text == line


def test_constraints_belong_to_open_types() -> None:
    with pytest.raises(GrammarError, match="has constraints but is not open"):
        from dataclasses import replace
        x = define("s, e, X(s, e)", "X(a, b) ::= a -> b").types["X"]
        define("s, e, X(s, e)", replace(x, constraints=parse_constraints("only M")))


def test_a_snapshot_keeps_the_counts() -> None:
    d = dyn("at most 1 M")
    d.apply(grow({"m": "M"}))
    data = d.limits.to_json()
    again = Derivation(d.grammar, Graph.from_snapshot(d.graph.snapshot()), data)
    assert "the 2nd M made there" in refused(again, grow({"m2": "M"}))


def test_the_constrain_step_round_trips_through_json() -> None:
    step = Constrain("Dyn.1", parse_constraints("only M; no edges into b"))
    assert step_from_json(step_to_json(step)) == step


# ---------------------------------------------------------------- through the CLI, for real
WORKFLOW = '''\
from grammarflow import define, task

grammar = define("s, e, Dyn(s, e)", "Dyn(a; b) ::= * where only P, D; each D has 2 P before")


def s():
    ctx = task.context()
{constrain}    task.add(tasks={{"p": "P", "d": "D"}}, edges=[(ctx.task, "p"), ("p", "d")])


def P():
    pass


D = e = P
'''


#: The same workflow with a hole attached everywhere, which may add an edge into any
#: task that has not started.
ANYWHERE = WORKFLOW.replace(
    'define("s, e, Dyn(s, e)", "Dyn(a; b) ::= * where only P, D; each D has 2 P before")',
    'define("s, e, Dyn(s, e), Any(*)",\n'
    '                 ["Dyn(a; b) ::= * where only P, D; each D has 2 P before", '
    '"Any(*) ::= *"])')


def _run(tmp_path: Path, constrain: str = "", workflow: str = WORKFLOW
         ) -> subprocess.CompletedProcess[str]:
    (tmp_path / "wf.py").write_text(workflow.format(constrain=constrain), encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "grammarflow", "run", "wf.py", "--db",
                           str(tmp_path / "gf.db")], cwd=tmp_path, capture_output=True,
                          text=True, check=False, timeout=60)


def test_a_change_that_leaves_a_task_too_few_predecessors_is_refused_from_its_task(
        tmp_path: Path) -> None:
    """Issue 24.3: nothing but a hole before Dyn.1/d could add a P before it, and there
    is none: the task that made it so is refused when it asks (it was accepted, ended
    green, and the run broke later, the orchestrator blamed)."""
    ran = _run(tmp_path)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "run 1: BROKEN — task s asked for a change the grammar does not allow"
    assert lines[1] == ("  why:     constraint 'each D has 2 P before' of hole Dyn.1 (Dyn) is "
                        "broken: task Dyn.1/d (D) has 1 P before it, and nothing can add one "
                        "now: no hole comes before it")
    assert "  refused  s (s)  its change was refused: nothing of it is in the graph" in lines


def test_a_promise_judged_when_the_task_would_start_names_who_made_it(tmp_path: Path) -> None:
    """Issue 24.3: while a hole attached everywhere may still add a P, the count is
    judged when Dyn.1/d would start; the refusal names the task and the change that
    made it."""
    ran = _run(tmp_path, workflow=ANYWHERE)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == ("run 1: BROKEN — the orchestrator could not start task Dyn.1/d: "
                        "its predecessors break a constraint")
    assert re.fullmatch(
        r"  why:     constraint 'each D has 2 P before' of hole Dyn\.1 \(Dyn\) is broken: "
        r"task Dyn\.1/d \(D\) would start with 1 P before it; task Dyn\.1/d was made by "
        r"task s \(journal entry \d+: open hole Dyn\.1 grew\)", lines[1]), lines[1]
    assert "  ready    Dyn.1/d (D)" in lines


def test_a_constraint_a_task_adds_binds_the_next_change(tmp_path: Path) -> None:
    ran = _run(tmp_path, '    task.constrain(ctx.hole("Dyn"), "no new edges")\n')
    assert ran.returncode == 3, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "run 1: BROKEN — task s asked for a change the grammar does not allow"
    assert lines[1] == ("  why:     constraint 'no new edges' of hole Dyn.1 (Dyn) is broken: "
                        "edge s -> Dyn.1/p")
    # the refused task's changes, its constraint with them, never happened: not drawn
    assert drawn_label(tmp_path) == drawn_label(tmp_path, "--at", "0") == (
        "Dyn.1 (Dyn) becomes\\nanything, where\\nonly P, D · each D ← 2 P")


def drawn_label(tmp_path: Path, *at: str) -> str:
    """The label of hole Dyn.1 in `grammarflow render 1 --format dot`."""
    out = CliRunner().invoke(main, ["render", "1", "--db", str(tmp_path / "gf.db"),
                                    "--format", "dot", "-o", "-", *at])
    assert out.exit_code == 0, out.output
    m = re.search(r'"h:Dyn\.1" \[label="([^"]*)"', out.output)
    assert m, out.output
    return m.group(1)


def test_the_picture_of_a_run_shows_a_constraint_from_the_step_that_added_it(
        tmp_path: Path) -> None:
    (tmp_path / "wf.py").write_text(WORKFLOW.replace(
        "; each D has 2 P before", "").format(
        constrain='    task.constrain(ctx.hole("Dyn"), "no edges into b")\n'), encoding="utf-8")
    ran = subprocess.run([sys.executable, "-m", "grammarflow", "run", "wf.py", "--db",
                          str(tmp_path / "gf.db")], cwd=tmp_path, capture_output=True,
                         text=True, check=False, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    history = CliRunner().invoke(main, ["history", "1", "--db", str(tmp_path / "gf.db")])
    step = next(int(line.split()[0]) for line in history.output.splitlines()
                if "is constrained: no edges into b" in line)
    before = drawn_label(tmp_path, "--at", str(step - 1))
    assert before == "Dyn.1 (Dyn) becomes\\nanything, where\\nonly P, D"
    assert drawn_label(tmp_path, "--at", str(step)) == \
        "Dyn.1 (Dyn) becomes\\nanything, where\\nonly P, D · no edges into e"


@pytest.mark.parametrize(("message", "expected"), [
    ({"hole": "Dyn.1", "constraints": []}, "'constraints' must be a non-empty list"),
    ({"hole": "Dyn.1", "constraints": [3]}, "'constraints' must be a non-empty list"),
])
def test_a_constrain_message_is_checked_on_the_wire(message: dict[str, object],
                                                    expected: str) -> None:
    line = wire.encode_message({"op": "constrain", "id": 1, **message})
    with pytest.raises(wire.WireError, match=expected):
        wire.decode_message(line)
    ok = wire.encode_message({"op": "constrain", "id": 1, "hole": "Dyn.1",
                              "constraints": ["only M"]})
    assert wire.decode_message(ok)["constraints"] == ["only M"]


def test_history_says_a_constrain_step_in_the_notation() -> None:
    step = Constrain("Dyn.1", constraints_from_json(["only M, N", "at most 3 M"]))
    entry = Entry(1, 7, 0.0, "step", step_to_json(step))
    assert describe(entry) == ("promise narrowed: hole Dyn.1 is constrained: "
                               "only M, N; at most 3 M")


def test_a_change_may_not_make_a_hole_that_could_never_finish_in_its_scope() -> None:
    """A hole whose every way to finish breaks a constraint of its scope, given what it
    is glued to, is refused when it would be made (found by random runs: the
    refinement was accepted, and the run could never end)."""
    wide = "s1, s2, Wide(*)", "Wide(*) ::= * where no edges from s2"
    d = define(*wide).derivation()
    t = tuple(define("x", "T(a) ::= a -> M").types.values())
    assert refused(d, Refine("Wide.1", Fragment(holes=(HoleSpec("T", ("s2",)),)), t)) == (
        "hole Wide.1/T.1 (T) would have no way to finish: T(a) ::= a -> M breaks 'no "
        "edges from s2' of hole Wide.1 (Wide): it makes an edge s2 -> M; a change may not "
        "leave a hole that nothing allowed could replace")
    # glued elsewhere, the same type can finish
    assert d.apply(Refine("Wide.1", Fragment(holes=(HoleSpec("T", ("s1",)),)), t)).holes \
        == ("Wide.1/T.1",)
    # an expansion that would strand a hole is refused; one that finishes is not
    d = define(*wide).derivation()
    xy = tuple(define("x", "X(a) ::= Y(a) | M\nY(a) ::= a -> K").types.values())
    x, = d.apply(Refine("Wide.1", Fragment(holes=(HoleSpec("X", ("s2",)),)), xy)).holes
    assert refused(d, Expand(x, "1")).startswith(
        f"hole {x}/Y.1 (Y) would have no way to finish: Y(a) ::= a -> K breaks 'no edges "
        "from s2' of hole Wide.1 (Wide): it makes an edge s2 -> K")
    d.apply(Expand(x, "2"))
    assert not d.graph.holes and d.graph.tasks[f"{x}/M"].kind == "M"
    # a hole narrowed to what strands it: the same
    d = define(*wide).derivation()
    x, = d.apply(Refine("Wide.1", Fragment(holes=(HoleSpec("X", ("s2",)),)), xy)).holes
    assert refused(d, NarrowHole(x, ("2",))).startswith(
        f"hole {x} (X) would have no way to finish: each of its productions makes a hole "
        "that could never finish there")
    # ... and so is a type narrowed so that a hole in the scope loses its only way
    assert refused(d, NarrowType("X", ("2",))).startswith(f"hole {x} (X) would have no way")
    d.apply(NarrowType("X", ("1",)))


class _Unchecked(Derivation):
    """The same derivation without the stranded-hole check: the reference semantics of
    'breaks a constraint' is each change's own check (ConstraintState)."""

    def check_can_finish(self, *args: object, **kwargs: object) -> None:
        return None


def _finishable(grammar: Grammar, steps: list[Step], depth: int = 6) -> bool:
    """Brute force: from the run of ``steps`` (without the stranded-hole check), can
    every hole be expanded away, each step accepted? Every production of the first
    hole, recursively, at most ``depth`` expansions deep."""
    d = _Unchecked.replay(grammar, steps)
    if not d.graph.holes:
        return True
    if depth == 0:
        return False
    hole = d.graph.holes[sorted(d.graph.holes)[0]]
    for prod in d.grammar.types[hole.type].allowed(hole.allowed):
        step = Expand(hole.id, prod.name)
        try:
            _Unchecked.replay(grammar, [*steps, step])
        except BrokenPromise:
            continue
        if _finishable(grammar, [*steps, step], depth - 1):
            return True
    return False


_BODY = st.sampled_from(["a -> M", "a -> K", "M", "a -> M -> K", "a -> M, U(a)", "K, U(a)",
                         "a -> M, U(M)", "U(a), U(a)", "nothing"])
_INNER = st.sampled_from(["a -> M", "a -> K", "K", "nothing", "a -> K -> M"])


@given(st.data())
def test_a_refinement_is_refused_exactly_when_a_hole_it_makes_could_never_finish(
        data: st.DataObject) -> None:
    """Theorem 10 (no stranded hole): a refinement of a constrained open hole that glues
    a fresh closed type to a task is accepted exactly when, by brute force over every
    production of every hole it makes (each step's own constraint check, without the
    stranded-hole analysis), the holes can all be expanded away."""
    source = data.draw(st.sampled_from(["A", "B"]))
    start = "s1:A, s2:B, W(*)"
    d = define(start, f"W(*) ::= * where no edges from {source}").derivation()
    t_bodies = data.draw(st.lists(_BODY, min_size=1, max_size=3, unique=True))
    u_bodies = data.draw(st.lists(_INNER, min_size=1, max_size=2, unique=True))
    fresh = define("x", f"T(a) ::= {' | '.join(t_bodies)}\n"
                        f"U(a) ::= {' | '.join(u_bodies)}").types.values()
    target = data.draw(st.sampled_from(["s1", "s2"]))
    step = Refine("W.1", Fragment(holes=(HoleSpec("T", (target,)),)), tuple(fresh))
    expected = _finishable(d.grammar, [step])
    try:
        d.apply(step)
        accepted = True
    except BrokenPromise as e:
        assert "would have no way to finish" in e.reason, e.reason
        accepted = False
    event(f"{'accepted' if accepted else 'refused'}")
    assert accepted == expected, (t_bodies, u_bodies, target, source)


# ---------------------------------------------------------------- names resolve (issue 24.2)
#: Dyn(a; b) is glued to s (kind A) and fin (kind B); the workflow can also run Work.
PARAMS, GRAMMAR_KINDS, START_TASKS = {"a", "b"}, {"A", "B"}, {"s", "fin"}
WORKFLOW_KINDS = {"A", "B", "Work"}
_NAME = st.sampled_from(["a", "b", "A", "B", "s", "fin", "Work", "Wk", "P"])


@st.composite
def named_constraints(draw: st.DrawFn) -> tuple[str, list[tuple[str, bool]]]:
    """A constraint in the notation over names of every sort, and its names, each
    with whether it stands in an edge (where a parameter may stand)."""
    x, y = draw(_NAME), draw(_NAME)
    form = draw(st.sampled_from(["only {x}, {y}", "at most 1 {x}", "only {x} -> {y}",
                                 "no edges from {x}", "no edges into {y}",
                                 "each {x} has 1 {y} before"]))
    edge = "->" in form or "edges" in form
    names = [n for n, f in ((x, "{x}"), (y, "{y}")) if f in form]
    return form.format(x=x, y=y), [(n, edge) for n in names]


@given(named_constraints())
def test_a_constraint_registers_exactly_when_each_of_its_names_resolves(
        case: tuple[str, list[tuple[str, bool]]]) -> None:
    """Issue 24.2: a name stands for a parameter (in an edge) or a kind; a grammar
    alone refuses only a name that is neither but a task of its start graph (an open
    hole may make other kinds), a workflow every name that is no kind it can run."""
    text, names = case
    lone = [n for n, edge in names if not (edge and n in PARAMS) and n not in GRAMMAR_KINDS
            and n in START_TASKS]
    unknown = [n for n, edge in names if not (edge and n in PARAMS)
               and n not in WORKFLOW_KINDS]
    event("names: " + ("refused alone" if lone else "refused by the workflow" if unknown
                       else "resolve"))
    start, rule = "s:A, fin:B, Dyn(s, fin)", f"Dyn(a; b) ::= * where {text}"
    if lone:
        with pytest.raises(GrammarError, match=f"names '{lone[0]}', a task of the start graph"):
            define(start, rule)
        return
    grammar = define(start, rule)
    why = grammar_unresolved(grammar, WORKFLOW_KINDS)
    assert (why is None) == (not unknown), why
    if unknown:
        assert why is not None and f"names '{unknown[0]}', which is not" in why, why


def test_a_name_that_resolves_to_nothing_says_what_it_could_be() -> None:
    start = "s:A, fin:B, Dyn(s, fin)"
    with pytest.raises(GrammarError) as e:
        define(start, "Dyn(a; b) ::= * where each fin has 1 A before")
    assert str(e.value) == (
        "hole type Dyn: constraint 'each fin has 1 A before' names 'fin', a task of the "
        "start graph (kind B), not a kind: did you mean B?")
    grammar = define(start, "Dyn(a; b) ::= * where no edges from A; only b -> Wrk")
    assert grammar_unresolved(grammar, WORKFLOW_KINDS) == (
        "hole type Dyn: constraint 'only b -> Wrk' names 'Wrk', which is not a parameter "
        "of Dyn (a, b) or a kind: no task of the workflow can have that kind (it is no "
        "kind of the grammar, 'kinds' does not name it and the workflow file defines no "
        "function so called): did you mean Work?")
    # a kind no task of the grammar has may come at run time: only a workflow knows
    assert grammar_unresolved(define(start, "Dyn(a; b) ::= * where only Work")) is None


def test_a_name_in_a_constraint_given_at_run_time_resolves() -> None:
    d = define("s:A, fin:B, Dyn(s, fin)", "Dyn(a; b) ::= *").derivation()
    assert refused(d, Constrain("Dyn.1", parse_constraints("no edges into fin"))).startswith(
        "constraining Dyn.1: constraint 'no edges into fin' names 'fin', a task of the "
        "start graph (kind B), not a parameter of Dyn (a, b) or a kind: did you mean b "
        "(the parameter glued to fin) or B?")
    d.workflow_kinds = frozenset(WORKFLOW_KINDS)  # as the orchestrator sets them
    assert "did you mean Work?" in refused(
        d, Constrain("Dyn.1", parse_constraints("at most 2 Wrk")))
    fresh = tuple(define("x", "Only(p; q) ::= * where only Wrk").types.values())
    assert "names 'Wrk'" in refused(d, Refine("Dyn.1", Fragment(
        holes=(HoleSpec("Only", ("s", "fin")),)), fresh))
    d.apply(Constrain("Dyn.1", parse_constraints("no edges into b; at most 2 Work")))


GOOD = st.sampled_from(["only P, D", "no new edges", "at most 3 P", "no edges into b",
                        "each D has 2 P before", "only a -> P, P -> b"])
BAD = st.sampled_from(["at most", "each D has P before", "only", "no edges from",
                       "at most three P"])


@given(st.lists(GOOD, max_size=4), BAD, st.integers(0, 4),
       st.lists(st.sampled_from(["", " ", "\n    "]), min_size=12, max_size=12))
def test_a_bad_constraint_is_pointed_at_in_the_text_it_was_read_from(
        good: list[str], bad: str, at: int, spaces: list[str]) -> None:
    """A malformed constraint among others is reported where it is in the whole text
    (its line and column in a workflow file come from there): the position falls inside
    the bad piece, not inside the piece at the same place of another (a `;`-separated
    list was reported relative to its piece)."""
    pieces = [*good[:at], bad, *good[at:]]
    text, start = "", 0
    for i, piece in enumerate(pieces):
        if i == min(at, len(good)):
            start = len(text)
        text += spaces[2 * i] + piece + spaces[2 * i + 1] + (";" if i < len(pieces) - 1 else "")
    end = start + len(spaces[2 * min(at, len(good))]) + len(bad) + len(
        spaces[2 * min(at, len(good)) + 1])
    with pytest.raises(NotationError) as e:
        parse_constraints(text)
    assert e.value.text == text
    assert start <= e.value.position <= end, (text, e.value.position, start, end)
