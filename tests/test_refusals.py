"""A refusal is data (issue 27.3): each broken promise carries its category (``why``)
and its evidence (hole, task, edge, constraint, productions tried), which the journal
keeps as they are, and which the tests read instead of the message's words."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from grammarflow import (
    BrokenPromise,
    Derivation,
    Expand,
    Fragment,
    Grow,
    HoleSpec,
    HoleType,
    NarrowHole,
    NarrowType,
    Refine,
    SetState,
    TaskSpec,
    TaskState,
    define,
    parse_types,
)
from grammarflow.core.constraints import parse_constraints
from grammarflow.core.match.diff import Diff
from grammarflow.core.match.planning import plan
from grammarflow.core.steps import Constrain, Output
from grammarflow.errors import Refusal, Why
from grammarflow.journal.entries import ChangeRefused, decode, encode

DOCS = Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md"


def chain() -> Derivation:
    """a -> X -> b, X choosing between one task and two; an open hole after b."""
    return define("a, b, X(a, b), Any(b)", [
        "X(x, y) ::= x -> A -> y | [default] x -> A -> B -> y",
        "Any(a; ) ::= *",
    ]).derivation()


def running_b() -> Derivation:
    """a -> b, a done and b running; an open hole after a."""
    d = define("a -> b, Any(a)", ["Any(a; ) ::= *"]).derivation()
    for task, state in (("a", TaskState.RUNNING), ("a", TaskState.DONE),
                        ("b", TaskState.RUNNING)):
        d.apply(SetState(task, state))
    return d


def refused(d: Derivation, change: Callable[[Derivation], object]) -> BrokenPromise:
    before = d.graph.to_json()
    with pytest.raises(BrokenPromise) as e:
        change(d)
    assert d.graph.to_json() == before, "a refused change left a trace"
    return e.value


def raw(*tasks: tuple[str, str], edges: tuple[tuple[str, str], ...] = ()
        ) -> Callable[[Derivation], object]:
    diff = Diff(tuple(TaskSpec(n, k) for n, k in tasks), edges)
    return lambda d: plan(d, diff).apply()


def _types(*texts: str) -> tuple[HoleType, ...]:
    return tuple(parse_types(list(texts)).values())


def _hole(name: str) -> HoleSpec:
    return HoleSpec(name, ("*",))


def _narrowed(d: Derivation) -> Derivation:
    d.apply(NarrowHole("X.1", ("1",)))
    return d


def _constrained_chain() -> Derivation:
    d = chain()
    d.apply(Constrain("Any.1", parse_constraints("only M")))
    return d


CASES: list[tuple[str, Callable[[], Derivation], Callable[[Derivation], object], Why,
                  dict[str, object]]] = [
    ("no such hole", chain, lambda d: d.apply(Expand("X.9", "1")), Why.NO_SUCH_HOLE,
     {"hole": "X.9"}),
    ("no such production", chain, lambda d: d.apply(Expand("X.1", "7")),
     Why.NO_SUCH_PRODUCTION, {}),
    ("expand an open hole", chain, lambda d: d.apply(Expand("Any.1", "1")), Why.WRONG_STEP,
     {"hole": "Any.1"}),
    ("grow a closed hole", chain, lambda d: d.apply(Grow("X.1", Fragment())),
     Why.WRONG_STEP, {"hole": "X.1"}),
    ("narrowed away", lambda: _narrowed(chain()), lambda d: d.apply(Expand("X.1", "1")),
     Why.NARROWED_AWAY, {"hole": "X.1"}),
    ("no way to finish", chain, lambda d: d.apply(NarrowHole("X.1", ("1", "2"))),
     Why.NO_WAY_TO_FINISH, {"hole": "X.1"}),
    ("no hole type", chain, lambda d: d.apply(NarrowType("Nope", ("1",))), Why.NOT_DECLARED,
     {}),
    ("attrs of a task not made", chain,
     lambda d: d.apply(Expand("X.1", "1", {"Z": {"label": "z"}})), Why.ATTRS, {"hole": "X.1"}),
    ("edge beyond the hole's tasks", running_b,
     lambda d: d.apply(Grow("Any.1", Fragment((TaskSpec("m", "M"),), (), (("m", "b"),)))),
     Why.OUTSIDE_THE_ATTACHMENT, {"hole": "Any.1"}),
    ("raw edge into a started task", running_b,
     raw(("m", "M"), edges=(("a", "m"), ("m", "b"))), Why.STARTED,
     {"task": "b", "edge": ("m", "b")}),
    ("raw cycle", chain, raw(("m", "M"), ("n", "N"), edges=(("m", "n"), ("n", "m"))),
     Why.CYCLE, {}),
    ("raw self edge", chain, raw(("m", "M"), edges=(("m", "m"),)), Why.CYCLE,
     {"edge": ("m", "m")}),
    ("raw unknown task", chain, raw(("m", "M"), edges=(("ghost", "m"),)), Why.UNKNOWN_TASK,
     {"task": "ghost", "edge": ("ghost", "m")}),
    ("raw name twice", chain, raw(("m", "M"), ("m", "N")), Why.NAME_OR_ID, {"task": "m"}),
    ("raw change no production yields", chain, raw(("q", "Q"), edges=(("a", "q"),)),
     Why.NO_PRODUCTION_YIELDS_IT, {"hole": "X.1"}),
    ("refine with an existing type", chain,
     lambda d: d.apply(Refine("Any.1", Fragment(), _types("X(a; ) ::= *"))),
     Why.TYPE_EXISTS, {"hole": "Any.1"}),
    ("refinement widens", chain,
     lambda d: d.apply(Refine("Any.1", Fragment((), (_hole("W"),)),
                                        _types("W(*) ::= *"))),
     Why.WIDENS, {"hole": "Any.1"}),
    ("constraint", _constrained_chain,
     lambda d: d.apply(Grow("Any.1", Fragment((TaskSpec("n", "N"),), (), (("b", "n"),)))),
     Why.CONSTRAINT, {"hole": "Any.1", "constraint": "only M"}),
    ("output of a task not running", chain, lambda d: d.apply(Output("a", 1)), Why.OUTPUT,
     {"task": "a"}),
]


@pytest.mark.parametrize(("made", "change", "why", "evidence"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_refusal_says_its_category_and_evidence(
        made: Callable[[], Derivation], change: Callable[[Derivation], object], why: Why,
        evidence: dict[str, object]) -> None:
    error = refused(made(), change)
    assert error.why is why, f"{error.why}: {error.reason}"
    assert {k: getattr(error, k) for k in evidence} == evidence
    # the journal keeps the category and the evidence as they are
    refusal = Refusal.of(error, "T", json.dumps({"op": "x"}))
    kind, data = encode(ChangeRefused(refusal))
    assert decode(kind, json.loads(json.dumps(data))) == ChangeRefused(refusal)
    assert refusal.why is why and refusal.about == error.task
    assert refusal.edge == error.edge and refusal.constraint == error.constraint


def test_a_journal_written_before_categories_reads_without_one() -> None:
    read = decode("refused", {"task": "A", "reason": "no production yields it",
                              "hole": "X.1", "attempts": [], "message": None})
    assert isinstance(read, ChangeRefused)
    assert read.refusal.why is None and read.refusal.edge is None


def test_every_category_is_explained_in_the_docs() -> None:
    listed = set(re.findall(r"^  \| `([^`]+)` \|", DOCS.read_text(encoding="utf-8"), re.M))
    assert listed - {"why"} == {w.value for w in Why}  # "why": the header
