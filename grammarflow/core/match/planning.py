"""Plan a raw change, then apply the plan: the element-first search, the hole-by-hole
one for a small change it refuses, an open hole for one no production explains, else
a refusal that says why."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import JSON
from grammarflow.core.match.diff import Diff, Elements
from grammarflow.core.match.exhaustive import exhaustive_moves, searched_hole_by_hole
from grammarflow.core.match.explain import left_alone, refusal, refuse_what_no_hole_makes
from grammarflow.core.match.growth import first_hole, grow_for
from grammarflow.core.match.limits import Cancelled, Limits, TooCostly
from grammarflow.core.match.patterns import Move
from grammarflow.core.match.search import Search
from grammarflow.core.steps import Applied, Expand, Grow, Step
from grammarflow.errors import BrokenPromise, Why

__all__ = ["DEFAULT_BUDGET", "DEFAULT_DEADLINE", "Added", "Plan", "add", "plan"]


#: Steps the search may try, beyond one per element of the diff, before it refuses.
DEFAULT_BUDGET = 20_000
#: Seconds the search may take before it refuses the diff as too costly to explain.
DEFAULT_DEADLINE = 5.0


@dataclass(frozen=True, slots=True)
class Added:
    """An accepted diff: the steps that explain it and the ids its tasks received."""

    steps: tuple[Step, ...]
    ids: Mapping[str, str] = field(default_factory=dict)
    holes: tuple[str, ...] = ()


class Plan:
    """The steps that explain a diff, found by :func:`plan` and not applied yet.

    Making the plan only reads the derivation; :meth:`apply` writes it, atomically.
    Apply a plan to the derivation it was made for, with no step applied in between.
    """

    __slots__ = ("_attrs", "_derivation", "_grow", "_moves")

    def __init__(self, derivation: Derivation, moves: tuple[Move, ...] = (),
                 attrs: Mapping[str, Mapping[str, JSON]] | None = None,
                 grow: Grow | None = None) -> None:
        self._derivation = derivation
        self._moves = moves
        self._attrs = attrs or {}
        self._grow = grow

    def apply(self) -> Added:
        """Apply the plan: every step of it, or (on a refusal) none."""
        return self.apply_to(self._derivation)

    def apply_to(self, derivation: Derivation) -> Added:
        """Apply the plan to ``derivation``: the one it was made for, or one that stands
        where that one stood then (made by :meth:`Derivation.copy`), whatever steps it
        took since. Every step is checked as it is applied: all of them, or (on a
        refusal, e.g. a hole another step took meanwhile) none."""
        if self._grow is not None:
            applied = derivation.apply(self._grow)
            return Added((self._grow,), dict(applied.tasks))
        if not self._moves:
            return Added(())
        return _apply_moves(derivation, self._moves, self._attrs)


def add(derivation: Derivation, diff: Diff, *, budget: int | None = None,
        deadline: float | None = DEFAULT_DEADLINE,
        cancelled: Callable[[], bool] | None = None, sender: str | None = None) -> Added:
    """Accept ``diff`` as the production application(s) that yield exactly it.

    Raises :class:`BrokenPromise` (the graph untouched) if no sequence of allowed
    productions, and no open hole, yields exactly this diff; or if the search gives up:
    after ``budget`` steps (default: one per element of the diff plus
    ``DEFAULT_BUDGET``), after ``deadline`` seconds (``None``: no limit), or when
    ``cancelled()`` returns true (it is asked every few hundred units of work). A diff
    that touches no task of the graph grows in an open hole attached to ``sender`` (the
    task that sent it) if there is one, else in another open hole.

    Threads: the search plans first and applies after; until it has the whole plan it
    only reads ``derivation``. So a caller may run ``add`` in a worker thread as long
    as nothing else touches the derivation until it returns (e.g. the event loop awaits
    the thread, and sets a flag that ``cancelled`` reads); or run :func:`plan` in the
    worker and :meth:`Plan.apply` on its own thread.

    >>> from grammarflow import TaskSpec, define
    >>> d = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b").derivation()
    >>> add(d, Diff((TaskSpec("mine", "B"),), (("s", "mine"), ("mine", "e")))).ids
    {'mine': 'X.1/B'}
    """
    return plan(derivation, diff, budget=budget, deadline=deadline,
                cancelled=cancelled, sender=sender).apply()


def plan(derivation: Derivation, diff: Diff, *, budget: int | None = None,
         deadline: float | None = DEFAULT_DEADLINE,
         cancelled: Callable[[], bool] | None = None, sender: str | None = None) -> Plan:
    """Find the steps behind ``diff`` without applying them (see :func:`add`).

    Only reads ``derivation``; raises :class:`BrokenPromise` as :func:`add` does.

    >>> from grammarflow import TaskSpec, define
    >>> d = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b").derivation()
    >>> p = plan(d, Diff((TaskSpec("a", "A"),), (("s", "a"), ("a", "e"))))
    >>> sorted(d.graph.tasks), p.apply().ids
    (['e', 's'], {'a': 'X.1/A'})
    """
    started = time.monotonic()
    elements = Elements(derivation, diff)
    if not elements.items:
        return Plan(derivation)
    steps = len(elements.items) + DEFAULT_BUDGET if budget is None else budget
    search = Search(derivation, elements, Limits(steps, deadline, cancelled, started))
    types = derivation.graph.types_in_use()
    if not any(derivation.grammar.types[t].open for t in types):  # else anything may come
        refuse_what_no_hole_makes(search, types)
    try:
        moves = search.run()
    except TooCostly as stop:
        grow = grow_for(derivation, elements, sender)
        if grow is None:
            raise BrokenPromise(str(stop), why=Why.SEARCH_BUDGET,
                                hole=first_hole(derivation, elements)) from None
        return Plan(derivation, grow=grow)
    except Cancelled as stop:
        raise BrokenPromise(str(stop), why=Why.SEARCH_BUDGET,
                            hole=first_hole(derivation, elements)) from None
    decided = False  # did a complete search find that no plan exists?
    cut = ""  # why the complete search stopped before it decided, if it did
    if moves is None and searched_hole_by_hole(elements):
        try:
            moves = exhaustive_moves(derivation, elements, search.limits, search.index)
            decided = moves is None
        except TooCostly as stop:  # the refusal says what the first search found, and this
            cut = str(stop).split(";")[0].replace("the change could not be explained within ", "")
        except Cancelled as stop:
            raise BrokenPromise(str(stop), why=Why.SEARCH_BUDGET,
                                hole=first_hole(derivation, elements)) from None
    if moves is not None:
        return Plan(derivation, tuple(moves), elements.attrs)
    grow = grow_for(derivation, elements, sender)
    if grow is not None:
        return Plan(derivation, grow=grow)
    left = left_alone(search, diff)
    if left is not None:
        raise refusal(search, left, certain=decided, cut=cut)
    blame = "" if search.doom is None else search.doom.why(search.el)
    raise refusal(search, search.state.best_left(), blame=blame, certain=decided, cut=cut)


def _apply_moves(d: Derivation, moves: tuple[Move, ...],
                 attrs: Mapping[str, Mapping[str, JSON]]) -> Added:
    ids: dict[str, str] = {}
    hole_ids: dict[tuple[int, int], str] = {}
    steps: list[Step] = []
    created: dict[str, None] = {}  # ordered set: holes made and not expanded again
    with d.atomic():
        for i, move in enumerate(moves):
            ref = move.hole.ref
            hole_id = ref if isinstance(ref, str) else hole_ids.pop(ref)
            left: list[str] = []  # holes the via steps make and leave
            for prod, k in move.pattern.via:
                applied = _expand(d, Expand(hole_id, prod.name), steps, created)
                left.extend(h for j, h in enumerate(applied.holes) if j != k)
                hole_id = applied.holes[k]
            bound = list(zip(move.pattern.locals, move.binding, strict=True))
            given = {local: attrs[name] for local, name in bound if attrs.get(name)}
            applied = _expand(d, Expand(hole_id, move.pattern.production.name, given),
                              steps, created)
            for local, name in bound:
                ids[name] = applied.tasks[local]
            for k, hid in enumerate([*left, *applied.holes]):
                hole_ids[(i, k)] = hid
    return Added(tuple(steps), ids, tuple(created))


def _expand(d: Derivation, step: Expand, steps: list[Step],
            created: dict[str, None]) -> Applied:
    """Apply ``step``, noting it and the holes it makes (and the one it takes away)."""
    applied = d.apply(step)
    steps.append(step)
    created.update(dict.fromkeys(applied.holes))
    if applied.removed is not None:
        created.pop(applied.removed, None)
    return applied
