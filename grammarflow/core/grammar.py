"""A grammar: the start graph plus the hole types — the workflow's promises.

Constructing one checks it (:mod:`grammarflow.core.wellformed`); ``grammar.derivation()``
starts applying it to a graph (:mod:`grammarflow.core.derivation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

from grammarflow.core import graph_views
from grammarflow.core.dataflow import (
    Signature,
    signatures_from_json,
    signatures_to_json,
    static_problems,
)
from grammarflow.core.derivation import Derivation
from grammarflow.core.formatting import format_grammar, pretty
from grammarflow.core.graph import JSON
from grammarflow.core.plans import Plan
from grammarflow.core.productions import Fragment, HoleType, Production
from grammarflow.core.wellformed import check_grammar
from grammarflow.errors import GrammarError

__all__ = ["Grammar"]

# ====================================================================== grammars
@dataclass(frozen=True, slots=True)
class Grammar:
    """The start graph plus the hole types: the workflow's promises.

    Construction checks the grammar (:mod:`grammarflow.core.wellformed`; docs/notation.md):
    every production well formed, every hole type productive, the start graph acyclic. A
    :class:`~grammarflow.errors.GrammarError` says why not.

    The grammar owns the compiled form of its productions (``plans``): built on first
    use, shared with the grammars derived from it by narrowing or refinement (their
    productions are the same values), and gone with them.
    """

    start: Fragment
    types: Mapping[str, HoleType]
    plans: dict[tuple[str, str], tuple[Production, Plan]] = field(
        default_factory=dict, compare=False, repr=False, hash=False)
    #: What each kind takes and gives (:mod:`grammarflow.core.dataflow`): kind -> signature.
    data: Mapping[str, Signature] = field(default_factory=dict, hash=False)
    #: Promises about cosmetics (:mod:`grammarflow.core.cosmetics`), in canonical text.
    cosmetics: tuple[str, ...] = ()
    #: How tasks of a kind and edges between kinds are drawn, given at registration
    #: (:func:`grammarflow.core.cosmetics.registered_styles`): kind or "A -> B" -> attrs.
    styles: Mapping[str, Mapping[str, JSON]] = field(default_factory=dict, hash=False)
    #: The open types with constraints (a hole of one starts a scope when it is made).
    constrained: frozenset[str] = field(init=False, compare=False, repr=False, hash=False)
    #: False: the grammar was checked when it was registered (read back from a journal
    #: or a snapshot), and is not checked again — for a 100k-task start graph that is
    #: most of what reading a run costs.
    checked: InitVar[bool] = True

    def __post_init__(self, checked: bool) -> None:
        if checked:
            check_grammar(self)
        object.__setattr__(self, "constrained", frozenset(
            n for n, t in self.types.items() if t.constraints))

    def derivation(self) -> Derivation:
        """A fresh derivation at the start graph."""
        return Derivation(self)

    def kinds(self) -> set[str]:
        """Every task kind the start graph and the productions can create."""
        found = {t.kind for t in self.start.tasks}
        for t in self.types.values():
            for p in t.productions:
                found.update(s.kind for s in p.fragment.tasks)
        return found

    def with_types(self, types: Iterable[HoleType]) -> Grammar:
        """This grammar with ``types`` added or replaced (checked again)."""
        merged = dict(self.types)
        for t in types:
            merged[t.name] = t
        return Grammar(self.start, merged, self.plans, self.data, self.cosmetics, self.styles)

    def with_data(self, data: Mapping[str, Signature]) -> Grammar:
        """This grammar with the kinds' signatures; every edge it can make is checked
        for type errors first (a GrammarError lists them)."""
        problems = static_problems(self, data)
        if problems:
            raise GrammarError("type errors in the grammar:\n  " + "\n  ".join(problems))
        return Grammar(self.start, self.types, self.plans, dict(data), self.cosmetics,
                       self.styles)

    def __repr__(self) -> str:
        return format_grammar(self)

    _repr_pretty_ = pretty

    def _repr_svg_(self) -> str | None:
        """Jupyter's picture: the start graph, every hole a wildcard for its futures."""
        d = self.derivation()
        return graph_views.svg(d.graph, self, d.limits)

    def to_json(self, *, start: bool = True) -> dict[str, Any]:
        """Its JSON form (``start=False``: without the start graph, as a snapshot keeps
        it — its run's own, never changed by a step)."""
        return {**({"start": self.start.to_json()} if start else {}),
                "types": [t.to_json() for t in self.types.values()],
                **({"data": signatures_to_json(self.data)} if self.data else {}),
                **({"cosmetics": list(self.cosmetics)} if self.cosmetics else {}),
                **({"styles": {k: dict(v) for k, v in self.styles.items()}}
                   if self.styles else {})}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, checked: bool = True,
                  start: Fragment | None = None) -> Grammar:
        """The grammar of its JSON form (``checked=False``: one this grammarflow wrote
        after registering it, not checked again; ``start``: its start graph, when the
        JSON leaves it out — a snapshot's grammar is its run's, narrowed)."""
        types = [HoleType.from_json(t) for t in data["types"]]
        return cls(start or Fragment.from_json(data["start"]), {t.name: t for t in types},
                   data=signatures_from_json(data.get("data")),
                   cosmetics=tuple(data.get("cosmetics", ())),
                   styles={k: dict(v) for k, v in data.get("styles", {}).items()},
                   checked=checked)
