"""Does this trace keep my promises? A whole recorded instance (WfFormat) checked
against a workflow's grammar: is its graph one of the finished graphs the grammar
allows (docs/formats.md)?

A grammar with no hole allows one graph: the trace must be it (tasks known by the ids
the import kept). Otherwise the trace is one raw change — sent by the start graph's one
task if the trace does not have it (a planner), else by a task of its own (``_trace``)
before the start graph wrapped as the production of a hole — which the raw-change
checker explains as production applications,
whatever the order of the file (or refuses, naming what no production explains and the
productions tried). What it leaves must close with nothing more: every hole left takes
its default and makes no task.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Role, TaskState
from grammarflow.core.match import Diff, add
from grammarflow.core.productions import Fragment, HoleSpec, HoleType, Production, TaskSpec
from grammarflow.core.steps import SetState
from grammarflow.errors import BrokenPromise, GrammarflowError
from grammarflow.formats.wfformat import Instance

__all__ = ["SENDER", "Verdict", "conform"]

#: The task the trace is sent by, before every task the start graph begins with.
SENDER = "_trace"
_WHOLE = "_Whole"


@dataclass(frozen=True)
class Verdict:
    """Whether the trace is one of the grammar's finished graphs, and if not, why."""

    conforms: bool
    reason: str | None
    tried: tuple[str, ...]  # the productions tried, each with why it did not fit
    task: str | None  # the trace's task no production explains, if one is named
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"conforms": self.conforms, "reason": self.reason, "tried": list(self.tried),
                "task": self.task, "seconds": self.seconds}


def _wrapped(grammar: Grammar) -> Grammar:
    """The grammar with its start graph as the production of a hole after ``_trace``."""
    start = grammar.start
    if any(h.type in grammar.types and grammar.types[h.type].everywhere
           for h in start.holes):
        raise GrammarflowError("the workflow's start graph has an open hole attached to "
                               "every task: any trace of any shape conforms to it")
    if SENDER in start.locals:
        raise GrammarflowError(f"the workflow's start graph has a task named {SENDER}")
    body = Fragment(start.tasks, start.holes, (*start.edges, (SENDER, _anchor(grammar))))
    whole = HoleType(_WHOLE, (SENDER,), (Role.AFTER,),
                     (Production(_WHOLE, (SENDER,), body, "1"),))
    return Grammar(Fragment((TaskSpec(SENDER, SENDER),), (HoleSpec(_WHOLE, (SENDER,)),)),
                   {**grammar.types, _WHOLE: whole}, data=grammar.data)


def conform(grammar: Grammar, instance: Instance, *, deadline: float | None = 60.0
            ) -> Verdict:
    """Is ``instance``'s graph a finished graph of ``grammar``? If the start graph is
    one task the trace does not have (a planner, such as examples/epigenomics.py's
    ``plan``), the trace is what that task adds, after it; else the trace is the whole
    run, the start graph's tasks among its own."""
    t0 = time.perf_counter()
    start = grammar.start
    if not start.holes:  # fully static: the one graph it allows, up to the tasks' names
        reason = _not_the_graph(start, instance)
        return Verdict(reason is None, reason, (), None, time.perf_counter() - t0)
    kinds = {k for _, k, _ in instance.tasks}
    into = {v for _, v in instance.edges}
    roots = [name for name, _, _ in instance.tasks if name not in into]
    if len(start.tasks) == 1 and start.tasks[0].kind not in kinds:
        # a planner: it sends the trace, every task the trace begins with after it
        return _decided(grammar, start.tasks[0].local, instance, roots, deadline, t0)
    # the whole run: the start graph's tasks among the trace's; one of them, which
    # nothing comes before, is sent after _trace (tried with each root of its kind)
    kind = next(t.kind for t in start.tasks if t.local == _anchor(grammar))
    kind_of = {name: k for name, k, _ in instance.tasks}
    wrapped = _wrapped(grammar)
    verdicts = [_decided(wrapped, SENDER, instance, [root], deadline, t0)
                for root in [r for r in roots if kind_of[r] == kind][:8]]
    if not verdicts:
        return Verdict(False, f"the trace begins with no task of kind {kind}, as the "
                       "workflow's start graph does", (), None, time.perf_counter() - t0)
    return next((v for v in verdicts if v.conforms), verdicts[0])


def _anchor(grammar: Grammar) -> str:
    """A task of the start graph nothing can come before: none before it in the start
    graph, and no hole of it comes before it."""
    start = grammar.start
    before = {v for _, v in start.edges}
    for h in start.holes:
        t = grammar.types[h.type]
        before |= {a for a, r in zip(h.args, t.roles, strict=True) if r is Role.BEFORE}
    found = [t.local for t in start.tasks if t.local not in before]
    if not found:
        raise GrammarflowError("the workflow's start graph begins with no task of its "
                               "own: conform cannot tell which task of a trace is which")
    return found[0]


def _decided(grammar: Grammar, sender: str, instance: Instance, roots: list[str],
             deadline: float | None, t0: float) -> Verdict:
    d = grammar.derivation()
    d.apply(SetState(sender, TaskState.RUNNING))
    diff = Diff(tuple(TaskSpec(name, kind, attrs) for name, kind, attrs in instance.tasks),
                (*instance.edges, *((sender, root) for root in roots)))
    try:
        add(d, diff, sender=sender, deadline=deadline)
    except BrokenPromise as e:
        return Verdict(False, e.reason, tuple(str(a) for a in e.attempts), e.task,
                       time.perf_counter() - t0)
    d.apply(SetState(sender, TaskState.DONE))
    left = _left(d)
    return Verdict(left is None, left, (), None, time.perf_counter() - t0)


def _not_the_graph(start: Fragment, instance: Instance) -> str | None:
    """Why the trace is not the start graph (None: it is): its tasks known by the ids
    the import kept (``wf_id``), else by their names, each of the same kind, with the
    same edges. (Up to renaming alone, it would be graph isomorphism: not attempted.)"""
    ours: Counter[str] = Counter(t.kind for t in start.tasks)
    theirs: Counter[str] = Counter(k for _, k, _ in instance.tasks)
    if ours != theirs:
        kind = sorted(set(ours) | set(theirs), key=lambda k: (ours[k] == theirs[k], k))[0]
        return (f"the trace has {theirs[kind]} task(s) of kind {kind}, the workflow "
                f"{ours[kind]} (its start graph is all it allows: it has no hole)")
    keyed = all("wf_id" in t.attrs for t in start.tasks)
    ours_as = {t.local: str(t.attrs["wf_id"]) if keyed else t.local for t in start.tasks}
    theirs_as = {name: str(attrs.get("wf_id", name)) if keyed else name
                 for name, _, attrs in instance.tasks}
    kind_of = {ours_as[t.local]: t.kind for t in start.tasks}
    for name, kind, _ in instance.tasks:
        known = theirs_as[name]
        if known not in kind_of:
            return (f"task {known} of the trace is no task of the workflow (tasks are known "
                    "by the ids `grammarflow import wfformat` kept, else by name)")
        if kind_of[known] != kind:
            return f"task {known} is of kind {kind} in the trace, {kind_of[known]} here"
    want = {(ours_as[u], ours_as[v]) for u, v in start.edges}
    have = {(theirs_as[u], theirs_as[v]) for u, v in instance.edges}
    for u, v in sorted(have - want):
        return f"the trace has an edge {u} -> {v} the workflow does not"
    for u, v in sorted(want - have):
        return f"the trace lacks the edge {u} -> {v} of the workflow"
    return None


def _left(d: Derivation) -> str | None:
    """Why the holes the trace left cannot close with nothing more (None: they can)."""
    for hole_id in sorted(d.graph.holes):
        hole = d.graph.holes[hole_id]
        before = len(d.graph.tasks)
        try:
            d.close(hole_id)
        except BrokenPromise as e:
            return (f"the trace ends where hole {hole_id} ({hole.type}) still waits for a "
                    f"part of it: {e.reason}")
        if len(d.graph.tasks) != before:
            return (f"the trace ends where hole {hole_id} ({hole.type}) must still make "
                    "tasks: its default production is not empty")
    if d.graph.holes:
        return _left(d)
    return None
