"""Data between tasks: what each kind takes and gives, and how inputs bind along edges.

A kind's :class:`Signature` declares its inputs and output as JSON Schemas. Types are
checked when a workflow is registered (:func:`static_problems`), when a step adds an
edge (:func:`edge_problem`) and when a task would start (:func:`bind`). The binding
rule: docs/data.md and proofs/11-data.md.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grammarflow.core.schema import Schema, describe, element, incompatibility
from grammarflow.errors import GrammarflowError

if TYPE_CHECKING:
    from grammarflow.core.grammar import Grammar
    from grammarflow.core.graph import Graph
    from grammarflow.core.productions import Fragment


class Gather(enum.Enum):
    """How an input takes the outputs of the predecessors that feed it."""

    ONE = "one"
    ALL = "all"
    ITEM = "item"


@dataclass(frozen=True, slots=True)
class Input:
    """One named input: how it gathers, its type (a JSON Schema) and that type's name."""

    name: str
    gather: Gather
    schema: Schema
    text: str
    optional: bool = False  # a function parameter with a default: fed or not

    def shown(self) -> str:
        if self.gather is Gather.ONE:
            return f"{self.name}: {self.text}"
        return f"{self.name}: {self.gather.name.title()}[{self.text}]"


@dataclass(frozen=True, slots=True)
class Signature:
    """What a kind takes (its inputs) and gives (its output; ``None``: nothing)."""

    inputs: tuple[Input, ...] = ()
    output: Schema | None = None
    output_text: str = ""

    def input(self, name: str) -> Input | None:
        return next((i for i in self.inputs if i.name == name), None)

    def shown(self, kind: str) -> str:
        """``M(x: int, ys: All[str]) -> float``."""
        out = f" -> {self.output_text}" if self.output is not None else ""
        return f"{kind}({', '.join(i.shown() for i in self.inputs)}){out}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "inputs": [{"name": i.name, "gather": i.gather.value, "schema": i.schema,
                        "text": i.text, **({"optional": True} if i.optional else {})}
                       for i in self.inputs]}
        if self.output is not None:
            data["output"] = self.output
            data["output_text"] = self.output_text
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signature:
        return cls(tuple(Input(i["name"], Gather(i["gather"]), i["schema"], i["text"],
                               bool(i.get("optional")))
                         for i in data.get("inputs", ())),
                   data.get("output"), data.get("output_text", ""))


def signatures_to_json(data: Mapping[str, Signature]) -> dict[str, Any]:
    return {kind: sig.to_json() for kind, sig in sorted(data.items())}


def signatures_from_json(data: Mapping[str, Any] | None) -> dict[str, Signature]:
    return {kind: Signature.from_json(s) for kind, s in (data or {}).items()}


class BindingError(GrammarflowError):
    """An input that cannot be bound, or an output that cannot feed an input."""


def local_name(task_id: str) -> str:
    """A task's local name: its id after the last ``/`` (a start task: its id)."""
    return task_id.rpartition("/")[2]


def feeds(local: str, kind: str, name: str) -> bool:
    """Does a predecessor with this local name and kind feed input ``name``?"""
    return local == name or kind == name


# ====================================================================== run time
def feeders(graph: Graph, task: str, name: str) -> list[str]:
    """The predecessors of ``task`` that feed its input ``name``, oldest first."""
    found = [u for u in graph.pred[task] if feeds(local_name(u), graph.tasks[u].kind, name)]
    found.sort(key=graph.rank.__getitem__)
    return found


def bind(graph: Graph, task: str, sig: Signature) -> dict[str, Any]:
    """The values of ``task``'s inputs (every predecessor done), or BindingError."""
    values: dict[str, Any] = {}
    kind = graph.tasks[task].kind
    for inp in sig.inputs:
        found = feeders(graph, task, inp.name)
        if inp.gather is Gather.ALL:
            values[inp.name] = [_output(graph, u, task, inp) for u in found]
            continue
        if not found and inp.optional:
            continue  # the parameter keeps its default
        if len(found) != 1:
            raise BindingError(_count_problem(graph, task, kind, inp, found))
        value = _output(graph, found[0], task, inp)
        if inp.gather is Gather.ITEM:
            value = _element(graph, found[0], task, kind, inp, value)
        values[inp.name] = value
    return values


def _output(graph: Graph, source: str, task: str, inp: Input) -> Any:
    if source not in graph.outputs:
        raise BindingError(f"input '{inp.name}' of task {task} is fed by task {source}, "
                           "which gave no output")
    return graph.outputs[source]


def _element(graph: Graph, source: str, task: str, kind: str, inp: Input, value: Any) -> Any:
    if not isinstance(value, list):
        raise BindingError(f"input '{inp.name}' of task {task} takes an element of the "
                           f"output of task {source}, which is not a list")
    index = place(graph, source, task)
    if index >= len(value):
        raise BindingError(
            f"task {task} is the {_ordinal(index + 1)} task of kind {kind} after task "
            f"{source}, whose output has {len(value)} element(s): a map makes exactly one "
            "task per element")
    return value[index]


def place(graph: Graph, source: str, task: str) -> int:
    """``task``'s place among the tasks of its kind that ``source`` runs right before."""
    return bisect.bisect_left(graph.next_of_kind(source, graph.tasks[task].kind),
                              graph.rank[task])


def _count_problem(graph: Graph, task: str, kind: str, inp: Input, found: list[str]) -> str:
    what = "an element of the output" if inp.gather is Gather.ITEM else "the output"
    preds = sorted(graph.pred[task], key=graph.rank.__getitem__)
    after = ", ".join(f"{u} ({graph.tasks[u].kind})" for u in preds) or "nothing"
    if not found:
        return (f"input '{inp.name}' of task {task} ({kind}) takes {what} of the one task "
                f"it runs after that is named or of kind '{inp.name}', and there is none; "
                f"it runs after: {after}")
    return (f"input '{inp.name}' of task {task} ({kind}) takes {what} of one task named "
            f"or of kind '{inp.name}', and {len(found)} feed it: {', '.join(found)} "
            f"(declare it All[{inp.text}] to take the outputs of them all)")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ====================================================================== type checks
def pair_problem(source_local: str, source_kind: str, target_local: str, target_kind: str,
                 data: Mapping[str, Signature]) -> Iterator[tuple[Input, str]]:
    """For an edge ``source -> target``: each input of ``target`` that ``source`` feeds
    and whose type ``source``'s output does not fit, with the reason."""
    sig = data.get(target_kind)
    if sig is None:
        return
    for inp in sig.inputs:
        if not feeds(source_local, source_kind, inp.name):
            continue
        why = output_problem(source_kind, inp, data)
        if why is not None:
            yield inp, why


def output_problem(source_kind: str, inp: Input, data: Mapping[str, Signature]) -> str | None:
    """Why the output of a ``source_kind`` task cannot feed ``inp`` (``None``: it can)."""
    src = data.get(source_kind)
    if src is None or src.output is None:
        declared = "declares no output" if src is not None else "declares no types"
        return (f"kind {source_kind} {declared}: declare its output type (a function's "
                f"return annotation, or Kind(..., output=...)) to feed '{inp.shown()}'")
    out: Schema | None = src.output
    given = src.output_text
    if inp.gather is Gather.ITEM:
        out = element(src.output)
        if out is None:
            return (f"'{inp.shown()}' takes an element of a list, and kind {source_kind} "
                    f"gives {given}")
        given = f"an element of {given}"
    assert out is not None
    why = incompatibility(out, inp.schema)
    if why is None:
        return None
    return f"kind {source_kind} gives {given}, and '{inp.shown()}' takes {inp.text}: {why}"


def edge_problem(graph: Graph, data: Mapping[str, Signature], u: str, v: str) -> str | None:
    """Why a new edge ``u -> v`` breaks the data promises (``None``: it does not)."""
    kv = graph.tasks[v].kind
    sig = data.get(kv)
    if sig is None:
        return None
    ku = graph.tasks[u].kind
    lu = local_name(u)
    for _, why in pair_problem(lu, ku, local_name(v), kv, data):
        return f"edge {u} -> {v}: {why}"
    for inp in sig.inputs:
        if inp.gather is Gather.ALL or not feeds(lu, ku, inp.name):
            continue
        others = [w for w in feeders(graph, v, inp.name) if w != u]
        if others:
            return (f"edge {u} -> {v}: input '{inp.name}' of task {v} ({kv}) takes the "
                    f"output of one task, and task {others[0]} feeds it already (declare "
                    f"it All[{inp.text}] to take the outputs of them all)")
    return None


# ====================================================================== registration
Slot = tuple[str, str]  # (local name, kind) a parameter may be bound to


def static_problems(grammar: Grammar, data: Mapping[str, Signature]) -> list[str]:
    """Every type error an edge of the grammar can make, found before anything runs:
    each edge of the start graph and of every production, with every (name, kind)
    its parameters can be bound to (tasks made in open holes are checked when they
    appear)."""
    if not data:
        return []
    slots = parameter_slots(grammar)
    problems: dict[str, None] = {}
    sources: dict[str, set[Slot]] = {}  # kind -> (name, kind) of every edge into one
    fragments: list[tuple[str, Fragment, Mapping[str, set[Slot]]]] = [
        ("the start graph", grammar.start, {})]
    for htype in grammar.types.values():
        for prod in htype.productions:
            bound = {p: slots.get((htype.name, p), set()) for p in prod.params}
            fragments.append((f"production {prod!r}", prod.fragment, bound))
    for where, fragment, bound_here in fragments:
        kinds = {t.local: t.kind for t in fragment.tasks}

        def ends(name: str, kinds: dict[str, str] = kinds,
                 bound: Mapping[str, set[Slot]] = bound_here) -> Iterable[Slot]:
            if name in kinds:
                return ((name, kinds[name]),)
            return bound.get(name, ())

        counted: dict[tuple[str, str], set[str]] = {}
        for u, v in fragment.edges:
            for lu, ku in ends(u):
                for lv, kv in ends(v):
                    sources.setdefault(kv, set()).add((lu, ku))
                    for _, why in pair_problem(lu, ku, lv, kv, data):
                        problems[f"{where}: edge {u} -> {v}: {why}"] = None
                    sig = data.get(kv)
                    if sig is None or v not in kinds:
                        continue
                    for inp in sig.inputs:
                        if inp.gather is not Gather.ALL and feeds(lu, ku, inp.name):
                            counted.setdefault((v, inp.name), set()).add(u)
        for (v, name), fed in counted.items():
            if len(fed) > 1:
                problems[f"{where}: input '{name}' of {v} takes the output of one task, "
                         f"and {len(fed)} feed it: {', '.join(sorted(fed))}"] = None
    if not any(t.open for t in grammar.types.values()):  # else a task may come at run time
        problems.update(dict.fromkeys(unfed_inputs(grammar, data, sources)))
    return list(problems)


def unfed_inputs(grammar: Grammar, data: Mapping[str, Signature],
                 sources: Mapping[str, set[Slot]]) -> list[str]:
    """Inputs no edge of the grammar can feed (a name misspelt, most often): each one
    a task of the kind needs and no task can ever give."""
    made = grammar.kinds()
    found = []
    for kind in sorted(made & set(data)):
        for inp in data[kind].inputs:
            if inp.optional or inp.gather is Gather.ALL:
                continue
            before = sources.get(kind, set())
            if any(feeds(local, k, inp.name) for local, k in before):
                continue
            names = sorted({local for local, _ in before} | {k for _, k in before})
            near = [n for n in names if n.casefold() == inp.name.casefold()
                    or _one_edit(n, inp.name)]
            hint = f"; did you mean '{near[0]}'?" if near else ""
            found.append(f"input '{inp.name}' of kind {kind} is fed by no task: no edge the "
                         f"grammar can make into a {kind} comes from a task named or of "
                         f"kind '{inp.name}' (they come from: {', '.join(names) or 'none'})"
                         f"{hint}")
    return found


def _one_edit(a: str, b: str) -> bool:
    """Do two names differ by one letter changed, added or removed?"""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def parameter_slots(grammar: Grammar) -> dict[tuple[str, str], set[Slot]]:
    """For each (hole type, parameter): the (local name, kind) of the tasks it can be
    bound to, from where holes of the type appear (a fixpoint over the grammar)."""
    slots: dict[tuple[str, str], set[Slot]] = {}
    start_kinds = {t.local: t.kind for t in grammar.start.tasks}
    uses: list[tuple[str | None, Fragment]] = [(None, grammar.start)]
    uses.extend((t.name, p.fragment) for t in grammar.types.values() for p in t.productions)
    changed = True
    while changed:
        changed = False
        for owner, fragment in uses:
            kinds = start_kinds if owner is None else {t.local: t.kind for t in fragment.tasks}
            for hole in fragment.holes:
                htype = grammar.types.get(hole.type)
                if htype is None or htype.everywhere:
                    continue
                for param, arg in zip(htype.params, hole.args, strict=False):
                    if arg in kinds:
                        found: set[Slot] = {(arg, kinds[arg])}
                    elif owner is not None:
                        found = slots.get((owner, arg), set())
                    else:
                        continue
                    have = slots.setdefault((hole.type, param), set())
                    if not found <= have:
                        have |= found
                        changed = True
    return slots


def describe_value_type(schema: Schema | None) -> str:
    return "nothing" if schema is None else describe(schema)


__all__ = ["BindingError", "Gather", "Input", "Signature", "bind", "edge_problem",
           "feeders", "feeds", "local_name", "output_problem", "pair_problem",
           "parameter_slots", "place", "signatures_from_json", "signatures_to_json",
           "static_problems"]
