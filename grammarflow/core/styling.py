"""How tasks and edges look, as steps of a derivation: a ``Style`` step, and the styles
a change gives its new tasks, each kept to the cosmetic promises
(:mod:`grammarflow.core.cosmetics`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from grammarflow.core.cosmetics import cosmetic_part, promise_refusal, style_refusal
from grammarflow.core.graph import JSON, Hole
from grammarflow.core.steps import Applied, Style
from grammarflow.errors import BrokenPromise, Why

if TYPE_CHECKING:  # annotations only: the derivation calls these, passing itself
    from grammarflow.core.derivation import Derivation


def style(d: Derivation, step: Style) -> Applied:
    """Cosmetics of one task or one edge, checked (:mod:`grammarflow.core.cosmetics`)."""
    if (step.task is None) == (step.edge is None):
        raise BrokenPromise("style: name a task or an edge (one of them)",
                            why=Why.MESSAGE)
    what = step.task or " -> ".join(step.edge or ())
    why = style_refusal(d.grammar.cosmetics, what, step.task, step.attrs)
    if why is not None:
        raise BrokenPromise(why, why=Why.LOOKS, task=step.task, edge=step.edge)
    if step.task is not None:
        if step.task not in d.graph.tasks:
            raise BrokenPromise(f"style: no task {step.task!r} in the graph",
                                why=Why.UNKNOWN_TASK, task=step.task)
        d.graph.style_task(step.task, step.attrs)
    else:
        assert step.edge is not None
        d.graph.style_edge(*step.edge, step.attrs)
    return Applied(step)


def check_given_styles(d: Derivation, parent: Hole | None,
                       attrs: Mapping[str, Mapping[str, JSON]]) -> None:
    """The styles among the attrs a step gives its new tasks keep the cosmetic
    promises a ``Style`` step keeps (a change may not draw what it could not
    restyle); a value the picture cannot draw is data, kept and not drawn."""
    prefix = parent.id + "/" if parent is not None else ""
    for local, given in attrs.items():
        looks = cosmetic_part(given)
        if looks:
            why = promise_refusal(d.grammar.cosmetics, prefix + local,
                                  prefix + local, looks)
            if why is not None:
                raise BrokenPromise(why, why=Why.LOOKS, task=prefix + local,
                                    hole=parent.id if parent is not None else None)



__all__ = ["check_given_styles", "style"]
