"""A graph as a person or a library reads it: in the notation's words (:func:`notation`,
also its ``repr``) and as a ``networkx.DiGraph`` (:func:`to_networkx`). The functions
are :class:`~grammarflow.core.graph.Graph`'s methods of the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx

    from grammarflow.core.grammar import Grammar
    from grammarflow.core.graph import Graph

__all__ = ["SHOWN", "Drawer", "graph_repr", "graph_svg", "install_drawer", "notation", "svg",
           "to_networkx"]

#: Draws a graph as SVG, its holes as the wildcards its grammar says (the constraints
#: in force too, the third argument). The core does no I/O: :mod:`grammarflow.picture`
#: installs one when it is imported (the public API imports it), and Jupyter shows a
#: graph, a derivation, a grammar, a workflow or a run as its picture from then on.
Drawer = Callable[["Graph", "Grammar | None", Any], str]
_drawers: list[Drawer] = []


def install_drawer(drawer: Drawer) -> None:
    """Draw every ``_repr_svg_`` with ``drawer`` from now on."""
    _drawers[:] = [drawer]


def svg(graph: Graph, grammar: Grammar | None, limits: Any = None) -> str | None:
    """``graph`` as SVG, if a drawer is installed and the holes' promises are known
    (a bare graph with holes is not drawn: its picture would not know their futures)."""
    if not _drawers or (grammar is None and graph.holes):
        return None
    return _drawers[0](graph, grammar, limits)

#: Items (edges, lone tasks, holes) ``repr`` shows before it says how many more.
SHOWN = 40


def notation(self: Graph, most: int | None = SHOWN) -> str:
    """The graph in the notation's words: its edges ``u -> v``, its tasks with no edge,
    and its holes ``id=Type(args)``; a task is ``id:Kind`` where it is first named, if
    its id is not its kind; beyond ``most`` items (None: no limit), how many more.

    >>> from grammarflow import define, repeat_parallel
    >>> d = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M")).derivation()
    >>> _ = d.apply(__import__("grammarflow").Expand("Ms.1", "2"))
    >>> d.graph
    Graph('A -> Ms.1/M:M, Ms.1/M -> B, Ms.1/Ms_more.1=Ms_more(A, B)')
    """
    named: set[str] = set()

    def name(task: str) -> str:
        if task in named or self.tasks[task].kind == task:
            return task
        named.add(task)
        return f"{task}:{self.tasks[task].kind}"

    items = [f"{name(u)} -> {name(v)}" for u in self.tasks for v in sorted(self.succ[u])]
    items += [name(t) for t in self.tasks if not self.succ[t] and not self.pred[t]]
    items += [f"{h.id}={h.type}({', '.join(h.args) if not h.everywhere else '*'})"
              for h in self.holes.values()]
    if most is not None and len(items) > most:
        items = [*items[:most], f"... and {len(items) - most} more"]
    return ", ".join(items)


def graph_repr(self: Graph) -> str:
    """``Graph('...')``: the graph in the notation's words (:func:`notation`)."""
    return f"Graph({notation(self)!r})"


def to_networkx(self: Graph, *, holes: bool = False) -> networkx.DiGraph:
    """The graph as a ``networkx.DiGraph``: a node per task (``kind``, ``state``,
    ``attrs``, and ``output`` when it gave one), an edge per edge (and ``order=True``
    per mark of the order an open hole kept: ``b`` ran after ``a``); with ``holes``, a
    node per hole too (``hole=True``, ``type``), joined to the tasks it comes after and
    before (an everywhere hole: to none).

    >>> from grammarflow import define
    >>> g = define("A -> B, X(A, B)", "X(a, b) ::= a -> C -> b").derivation().graph
    >>> sorted(g.to_networkx().edges), sorted(g.to_networkx(holes=True).edges)
    ([('A', 'B')], [('A', 'B'), ('A', 'X.1'), ('X.1', 'B')])
    """
    import networkx

    out = networkx.DiGraph()
    for task in self.tasks.values():
        data: dict[str, Any] = {"kind": task.kind, "state": self.state[task.id].value,
                                "attrs": dict(task.attrs)}
        if task.id in self.outputs:
            data["output"] = self.outputs[task.id]
        out.add_node(task.id, **data)
    out.add_edges_from(self.edges())
    out.add_edges_from(((a, b) for a, b in self.order if not out.has_edge(a, b)), order=True)
    if holes:
        for h in self.holes.values():
            out.add_node(h.id, hole=True, type=h.type)
            out.add_edges_from((a, h.id) for a in h.after)
            out.add_edges_from((h.id, b) for b in h.before)
    return out


def graph_svg(self: Graph) -> str | None:
    """Jupyter's picture of a graph (see :data:`Drawer`)."""
    return svg(self, None)
