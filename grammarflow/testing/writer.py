"""A running task about to write one message: what it reads of the derivation as it
stands, what the run's tasks remember between messages, and how it chooses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from hypothesis import strategies as st

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph, Hole, TaskState
from grammarflow.testing.messages import Message
from grammarflow.testing.walks import reach

T = TypeVar("T")

__all__ = ["Draft", "Memory", "Writer", "scratch_copy", "unnarrowed_copy"]


@dataclass(frozen=True, slots=True)
class Draft:
    """A message written, with what it was built to exercise (see :class:`Outcome`)."""

    message: Message
    tags: tuple[str, ...]
    illegal: bool = False
    legal: bool = False


@dataclass
class Memory:
    """What the tasks of one run remember between messages."""

    serial: int = 0
    #: (question, answer) pairs :meth:`Writer.vary` has taken in this run
    used: set[tuple[str, str]] = field(default_factory=set)
    #: edges added through holes attached everywhere (a cycle through them takes
    #: several steps)
    wide: set[tuple[str, str]] = field(default_factory=set)
    #: open hole -> local names of the tasks grown in it (the same name again is an id
    #: taken)
    grown: dict[str, list[str]] = field(default_factory=dict)


def scratch_copy(d: Derivation) -> Derivation:
    """A scratch copy of a derivation, without constraints (the writers do not read
    them): the same ids come out of the same steps, so a batch can name holes its
    members make."""
    grammar = d.grammar
    if grammar.constrained:
        grammar = Grammar(grammar.start, {
            n: replace(t, constraints=()) for n, t in grammar.types.items()})
    return Derivation(grammar, Graph.from_json(d.graph.to_json()))


def unnarrowed_copy(d: Derivation) -> Derivation:
    """A scratch copy of a derivation with every narrowing lifted, without constraints:
    where a production narrowed away still applies."""
    data = d.graph.to_json()
    for h in data["holes"]:
        h["allowed"] = None
    grammar = Grammar(d.grammar.start, {
        n: replace(t, removed=frozenset(), constraints=()) for n, t in d.grammar.types.items()})
    return Derivation(grammar, Graph.from_json(data))


class Writer:
    """A running task writing one message for the derivation as it stands: the state
    it reads and the ways it chooses (each kind of message is a function of it)."""

    def __init__(self, draw: st.DrawFn, d: Derivation, memory: Memory) -> None:
        self.draw, self.d, self.g, self.memory = draw, d, d.graph, memory
        self.types = d.grammar.types
        memory.serial += 1
        self.prefix = f"m{memory.serial}"
        while any(t.startswith(self.prefix) for t in self.g.tasks):
            self.prefix += "x"
        holes = [self.g.holes[h] for h in sorted(self.g.holes)]
        self.closed = [h for h in holes if not self.types[h.type].open]
        self.open = [h for h in holes if self.types[h.type].open]
        self.everywhere = [h for h in self.open if h.everywhere]
        self.pending = [t for t in self.g.tasks if self.g.state[t] is TaskState.PENDING]
        self.started = [t for t in self.g.tasks if self.g.state[t] is not TaskState.PENDING]
        self.kinds = sorted(d.grammar.kinds() | {"G"})

    def pick(self, items: Sequence[T]) -> T:
        return self.draw(st.sampled_from(items))

    def later(self, names: Sequence[str]) -> str:
        """A production name, leaning to the later ones: Hypothesis leans to the first
        option, and first productions are often the plain ones that end a hole."""
        return self.pick(names[::-1])

    def vary(self, question: str, options: Sequence[T],
             name: Callable[[T], str] = str) -> T:
        """One of the options, mostly one this run has not taken yet: so each run
        writes many kinds of message, not one kind many times."""
        new = [o for o in options if (question, name(o)) not in self.memory.used]
        choice = self.pick(new if new and not self.coin(4) else options)
        self.memory.used.add((question, name(choice)))
        return choice

    def coin(self, odds: int = 2) -> bool:
        """True with probability 1/odds."""
        return self.draw(st.integers(0, odds - 1)) == 0

    def shuffled(self, items: Sequence[T]) -> tuple[T, ...]:
        """The items rotated, maybe reversed: any one may come first (two draws, where
        a permutation takes one a item and runs cost Hypothesis its size limit)."""
        if len(items) < 2:
            return tuple(items)
        k = self.draw(st.integers(0, len(items) - 1))
        turned = [*items[k:], *items[:k]]
        return tuple(turned[::-1] if self.coin() else turned)

    def fresh(self, what: str) -> str:
        """A name no hole type and no task has."""
        n = 0
        while f"{what}{self.prefix}_{n}" in self.types:
            n += 1
        return f"{what}{self.prefix}_{n}"

    def removed(self) -> list[tuple[Hole, str, str]]:
        """(hole, production, 'by type' | 'for hole') for productions narrowed away."""
        out = []
        for hole in self.closed:
            htype = self.types[hole.type]
            for p in htype.productions:
                if p.name in htype.removed:
                    out.append((hole, p.name, "by type"))
                elif hole.allowed is not None and p.name not in hole.allowed:
                    out.append((hole, p.name, "for hole"))
        return out

    def cycles_back(self) -> list[tuple[str, str, bool]]:
        """(u, v, wide): v is pending and runs before u, so an edge u -> v closes a
        cycle; wide if the way from v to u takes an edge added through an everywhere
        hole (the cycle then takes several steps)."""
        out = []
        for v in self.pending:
            for u, wide in sorted(reach(self.g, v, self.memory.wide).items()):
                if u != v and u in self.g.tasks:
                    out.append((u, v, wide))
        return out
