"""The picture is sound and complete (DESIGN §5; issue 4, point 7). Guards: proofs/08.

(a) complete: every hole-free graph that finishing a random partial run can reach is
    an instance of the picture drawn before it: drawn tasks and solid edges stay; every
    new task descends from a drawn wildcard whose label admits its kind; every new edge
    is drawn dashed (a potential edge), or runs along a wildcard's dashed attachments,
    or the floating ∗ allows it.
(b) sound: every wildcard, potential edge and ∗ drawn can be realised: each listed
    alternative applied, the derivation still finishes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st
from strategies import grammars

from grammarflow import Derivation, Expand, Fragment, Grammar, Grow, Refine, TaskSpec
from grammarflow.render import Picture, is_potential_edge, to_dot
from grammarflow.simulate import RandomChooser, finish
from grammarflow.testing import partial_runs

_NODE = re.compile(r'^  "((?:[^"\\]|\\.)*)" \[(.*)\];$', re.M)
_EDGE = re.compile(r'^  "((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"(?: \[(.*)\])?;$', re.M)


@dataclass
class Drawn:
    """What a picture shows, read back from its DOT."""

    tasks: set[str] = field(default_factory=set)
    holes: dict[str, str] = field(default_factory=dict)  # hole id -> label
    solid: set[tuple[str, str]] = field(default_factory=set)
    after: dict[str, set[str]] = field(default_factory=dict)  # hole -> tasks it follows
    before: dict[str, set[str]] = field(default_factory=dict)  # hole -> tasks it precedes
    potential: dict[tuple[str, str], str] = field(default_factory=dict)  # edge -> hole
    everywhere: set[str] = field(default_factory=set)


def read(dot: str) -> Drawn:
    drawn = Drawn()
    for name, attrs in _NODE.findall(dot):
        if name.startswith("t:"):
            drawn.tasks.add(name[2:])
        elif name.startswith("h:"):
            label = re.search(r'label="((?:[^"\\]|\\.)*)"', attrs)
            drawn.holes[name[2:]] = label.group(1) if label else ""
            if "anything may be added" in attrs:
                drawn.everywhere.add(name[2:])
    for u, v, attrs in _EDGE.findall(dot):
        if u.startswith("t:") and v.startswith("t:"):
            if "style=dashed" in attrs:
                hole = re.search(r'tooltip="([^:"]+): this edge may appear"', attrs)
                assert hole, attrs
                drawn.potential[(u[2:], v[2:])] = hole.group(1)
            else:
                drawn.solid.add((u[2:], v[2:]))
        elif u.startswith("t:") and v.startswith("h:"):
            drawn.after.setdefault(v[2:], set()).add(u[2:])
        elif u.startswith("h:") and v.startswith("t:"):
            drawn.before.setdefault(u[2:], set()).add(v[2:])
    return drawn


def lineage(grammar: Grammar, d: Derivation, start: int) -> dict[str, str]:
    """For each node created by d.history[start:], the hole it came from."""
    parent: dict[str, str] = {}
    replay = Derivation.replay(grammar, d.history[:start])
    for step in d.history[start:]:
        applied = replay.apply(step)
        hole = getattr(step, "hole", None)
        if hole is None:
            continue
        for tid in applied.tasks.values():
            parent[tid] = hole
        for hid in applied.holes:
            parent[hid] = hole
    return parent


def root(node: str, parent: dict[str, str], drawn: set[str]) -> str | None:
    while node not in drawn:
        up = parent.get(node)
        if up is None:
            return None
        node = up
    return node


@given(st.data())
def test_every_finished_graph_is_an_instance_of_the_picture(data: st.DataObject) -> None:
    check_complete(data)


def check_complete(data: st.DataObject) -> None:
    grammar = data.draw(grammars())
    d = data.draw(partial_runs(grammar))
    drawn = read(to_dot(d.graph, d.grammar, Picture(collapse_above=10**9)))
    assert drawn.tasks == set(d.graph.tasks)
    start = len(d.history)
    cont = Derivation.replay(grammar, d.history)
    finish(cont, RandomChooser(random.Random(data.draw(st.integers(0, 2**32)))))
    parent = lineage(grammar, cont, start)
    holes = set(drawn.holes) | set(drawn.potential.values())
    g = cont.graph
    assert drawn.tasks <= set(g.tasks)
    assert drawn.solid <= set(g.edges())
    for tid in set(g.tasks) - drawn.tasks:
        r = root(tid, parent, holes)
        assert r is not None, f"{tid} comes from no drawn wildcard"
        label = drawn.holes.get(r, "")
        kind = g.tasks[tid].kind
        assert (kind in label or "…" in label or "*" in label or "∗" in label), \
            f"{tid} ({kind}) is not among what {r} shows: {label!r}"
    for u, v in set(g.edges()) - drawn.solid:
        if drawn.everywhere:
            continue  # anything may be added anywhere (before tasks not yet started)
        ru = u if u in drawn.tasks else root(u, parent, holes)
        rv = v if v in drawn.tasks else root(v, parent, holes)
        if u in drawn.tasks and v in drawn.tasks:
            assert (u, v) in drawn.potential or any(
                u in drawn.after.get(h, ()) and v in drawn.before.get(h, ())
                for h in drawn.holes), f"edge {u} -> {v} was not drawn as possible"
        elif u in drawn.tasks:
            assert u in drawn.after.get(rv or "", ()), f"{u} -> {v}: {rv} does not follow {u}"
        elif v in drawn.tasks:
            assert v in drawn.before.get(ru or "", ()), f"{u} -> {v}: {ru} does not precede {v}"
        else:
            assert ru == rv, f"{u} -> {v} joins two wildcards {ru} and {rv}"


@given(st.data())
def test_every_wildcard_drawn_can_be_realised(data: st.DataObject) -> None:
    grammar = data.draw(grammars())
    d = data.draw(partial_runs(grammar))
    drawn = read(to_dot(d.graph, d.grammar, Picture(collapse_above=10**9)))
    seed = data.draw(st.integers(0, 2**32))
    for hid in sorted(set(drawn.holes) | set(drawn.potential.values())):
        hole = d.graph.holes[hid]
        htype = d.grammar.types[hole.type]
        if hid in drawn.everywhere:
            first = sorted(d.graph.tasks)[0]
            steps = [Grow(hid, Fragment(tasks=(TaskSpec("x", "X"),), edges=((first, "x"),)))]
        elif htype.open:
            steps = [Refine(hid, Fragment())]
        else:
            steps = [Expand(hid, p.name) for p in htype.allowed(hole.allowed)]
            if is_potential_edge(htype, hole):
                assert {bool(d.grammar.types[hole.type].production(s.production).fragment.edges)
                        for s in steps} == {True, False} or len(steps) == 1
        assert steps, f"{hid} is drawn but has no production left"
        for step in steps:
            cont = Derivation.replay(grammar, d.history)
            cont.apply(step)
            finish(cont, RandomChooser(random.Random(seed)))
            assert not cont.graph.holes, f"{step} drawn, but the run cannot finish after it"


def test_a_picture_that_hides_alternatives_is_caught(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Mutation: labels that do not say what a hole may become fail completeness."""
    from hypothesis import settings

    from grammarflow import render

    monkeypatch.setattr(render, "short", lambda htype, hole, types: "?")

    @settings(max_examples=300, derandomize=True, database=None)
    @given(st.data())
    def mutated(data: st.DataObject) -> None:
        check_complete(data)

    assert "is not among what" in failure_of(mutated)


def test_a_picture_that_drops_potential_edges_is_caught(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Mutation: a potential edge drawn as an ordinary wildcard without its meaning."""
    from hypothesis import settings

    from grammarflow import render

    real = render._hole
    monkeypatch.setattr(render, "_hole", lambda hole, types, node_of, picture: [
        line for line in real(hole, types, node_of, picture) if "this edge may appear" not in line])

    @settings(max_examples=300, derandomize=True, database=None)
    @given(st.data())
    def mutated(data: st.DataObject) -> None:
        check_complete(data)

    assert "was not drawn as possible" in failure_of(mutated)


def failure_of(test) -> str:  # type: ignore[no-untyped-def]
    """The text of the failure(s) Hypothesis reports (one error, or a group of them)."""
    try:
        test()
    except AssertionError as e:
        return str(e)
    except BaseExceptionGroup as group:
        return "\n".join(str(e) for e in group.exceptions)
    raise AssertionError("the mutated picture passed: the property cannot fail")
