"""The picture: the graph as it stands, every hole drawn as a wildcard for its futures.

What is drawn (DESIGN §5):

* tasks as rounded boxes, filled by run state (pending, ready, running, done, failed);
* every hole as a wildcard — a dashed double octagon, a shape no task may take —
  labelled with its id, its type and its productions in short (``A | B``, ``M*``,
  ``∗ anything``), joined by dashed lines to the tasks it comes after and before;
* a hole that can only become an edge or nothing (``E(u, v) ::= u -> v | nothing``) as
  a dashed edge ``u -> v`` labelled ``E?``;
* an open hole attached everywhere as one floating ``∗`` node;
* a task's cosmetic attributes (``color``, ``label``, ``shape`` from a safe set), and
  ``edge_color``/``edge_label`` for the edges that end at it (edges are order only);
* a legend.

Above ``collapse_above`` tasks, sibling tasks (same kind, same predecessors and
successors, as instances of one production are) collapse into one node ``M ×N`` and
long runs of same-kind tasks into one ``t ×N in a row``, with their states counted.

Everything the graph or a task supplies is quoted by :func:`quote`: ids and attributes
with quotes, braces, ``<``, newlines or HTML cannot break the DOT or inject markup (no
HTML-like labels are ever produced), and characters XML forbids (controls, lone
surrogates, U+FFFE, U+FFFF, also spelled as ``&#...;`` references) cannot make dot's
SVG ill-formed: they are shown as escapes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from grammarflow.grammar import Fragment, Grammar, HoleType, Production
from grammarflow.graph import Graph, Hole, Role

STATE_FILL = {"pending": "#ffffff", "ready": "#dbeafe", "running": "#fde68a",
              "done": "#bbf7d0", "failed": "#fecaca"}
HOLE_SHAPE = "doubleoctagon"  # no task may take it: the wildcard's own shape
SAFE_SHAPES = frozenset({"box", "ellipse", "oval", "circle", "diamond", "note", "tab",
                         "folder", "component", "cylinder", "plain"})
_COLOR = re.compile(r"#[0-9a-fA-F]{6}\Z|[a-zA-Z]{1,20}\Z")
MAX_LABEL = 200


#: What XML 1.0 forbids (controls but tab and newline, lone surrogates, U+FFFE, U+FFFF),
#: and C1 controls, which it allows but nobody can see.
_UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def quote(text: str) -> str:
    """A DOT double-quoted string that shows ``text`` literally, whatever it holds.

    >>> quote('say "hi"\\n&#1;')
    '"say \\\\"hi\\\\"\\\\n&amp;#1;"'
    """
    text = text[:MAX_LABEL * 4]
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    out = out.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    # dot turns "&#1;" or "&#xFFFE;" into the character itself: keep '&' literal
    out = out.replace("&", "&amp;")
    return f'"{_UNSHOWABLE.sub(_escape, out)}"'


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\\\x{code:02x}" if code < 0x100 else f"\\\\u{code:04x}"


# ====================================================================== short notation
def short_alternative(prod: Production, types: dict[str, HoleType]) -> str:
    """One production in short: its new tasks in order, child holes as ``Type…``."""
    frag = prod.fragment
    if not frag.tasks and not frag.holes:
        return "→" if frag.edges else "∅"
    kinds = {t.local: t.kind for t in frag.tasks}
    order = _chain_order(frag)
    parts = [" → ".join(kinds[n] for n in chain) for chain in order]
    for h in frag.holes:
        child = types.get(h.type)
        parts.append(_child(h.type, child, types))
    return ", ".join(parts)


def _child(name: str, child: HoleType | None, types: dict[str, HoleType]) -> str:
    if child is None:
        return f"{name}…"
    if child.open:
        return "∗"
    rep = repetition(child, types)
    return rep if rep is not None else f"{name}…"


def repetition(htype: HoleType, types: dict[str, HoleType]) -> str | None:
    """``F*`` if the type is "nothing (or keep order) | F and again", else None."""
    prods = list(htype.allowed())
    if len(prods) != 2:
        return None
    base = [p for p in prods if not p.fragment.tasks and not p.fragment.holes]
    more = [p for p in prods if p not in base]
    if len(base) != 1 or len(more) != 1:
        return None
    frag = more[0].fragment
    again = [h for h in frag.holes if h.type == htype.name and h.args == htype.params]
    if len(again) != 1 or len(frag.holes) != 1 or not frag.tasks:
        return None
    kinds = {t.local: t.kind for t in frag.tasks}
    body = ", ".join(" → ".join(kinds[n] for n in c) for c in _chain_order(frag))
    return f"({body})*" if ("," in body or "→" in body) else f"{body}*"


def short(htype: HoleType, hole: Hole | None, types: dict[str, HoleType]) -> str:
    """A hole type's productions in short: ``A | B``, ``M*``, ``∗ anything``."""
    if htype.open:
        return "∗ anything"
    rep = repetition(htype, types)
    if rep is not None and (hole is None or hole.allowed is None):
        return rep
    alts = [short_alternative(p, types) for p in htype.allowed(hole.allowed if hole else None)]
    # "→ | M, M*" (keep the order, or one M and maybe more) reads as M*
    if len(alts) == 2 and alts[0] in ("→", "∅") and alts[1].endswith("*"):
        body = alts[1].rsplit(", ", 1)
        if len(body) == 2 and body[1] == f"{body[0]}*":
            return body[1]
    return " | ".join(alts)


def _chain_order(frag: Fragment) -> list[list[str]]:
    """The fragment's new tasks as chains along its task-to-task edges."""
    local = {t.local for t in frag.tasks}
    succ: dict[str, list[str]] = {}
    has_pred: set[str] = set()
    for u, v in frag.edges:
        if u in local and v in local:
            succ.setdefault(u, []).append(v)
            has_pred.add(v)
    chains: list[list[str]] = []
    seen: set[str] = set()
    for t in frag.tasks:
        if t.local in seen or t.local in has_pred:
            continue
        chain = [t.local]
        seen.add(t.local)
        while succ.get(chain[-1]):
            nxt = next((n for n in succ[chain[-1]] if n not in seen), None)
            if nxt is None:
                break
            chain.append(nxt)
            seen.add(nxt)
        chains.append(chain)
    chains.extend([t.local] for t in frag.tasks if t.local not in seen)
    return chains


def is_potential_edge(htype: HoleType, hole: Hole) -> bool:
    """A hole that can only become the edge between its two tasks, or nothing."""
    if htype.open or len(hole.args) != 2 or hole.roles != (Role.AFTER, Role.BEFORE):
        return False
    a, b = htype.params
    prods = list(htype.allowed(hole.allowed))
    if not prods:
        return False
    for p in prods:
        f = p.fragment
        if f.tasks or f.holes or f.edges not in ((), ((a, b),)):
            return False
    return any(p.fragment.edges for p in prods)


# ====================================================================== DOT
@dataclass(frozen=True)
class Picture:
    """Options of a picture."""

    alternatives: bool = False  # draw each hole's productions as small dashed clusters
    collapse_above: int = 200  # collapse sibling tasks when the graph has more tasks
    legend: bool = True
    title: str | None = None


def to_dot(graph: Graph, grammar: Grammar, picture: Picture = Picture()) -> str:
    """The DOT source of the picture of ``graph`` under ``grammar``."""
    types = dict(grammar.types)
    lines = ["digraph grammarflow {",
             '  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.3, '
             'ranksep=0.45' + (f", label={quote(picture.title)}, labelloc=t" if picture.title
                              else "") + "];",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    groups = _collapse(graph, picture.collapse_above)
    node_of = {t: f"g:{key}" for key, members in groups.items() for t in members}
    for key, members in groups.items():
        lines.append(_group_node(graph, key, members))
    for tid in graph.tasks:
        if tid in node_of:
            continue
        lines.append(_task_node(graph, tid))
    edges: dict[tuple[str, str], str] = {}
    for u, v in graph.edges():
        edges[(node_of.get(u, f"t:{u}"), node_of.get(v, f"t:{v}"))] = _edge_style(graph, v)
    lines.extend(f"  {quote(u)} -> {quote(v)}{style};" for (u, v), style in sorted(edges.items()))
    for hole in graph.holes.values():
        lines.extend(_hole(hole, types, node_of, picture))
    if picture.legend:
        lines.extend(_legend())
    lines.append("}")
    return "\n".join(lines) + "\n"


def _edge_style(graph: Graph, target: str) -> str:
    """Edges have no attributes (they are order only); a task may style the edges that
    end at it: ``edge_color`` (a name or #rrggbb) and ``edge_label``."""
    attrs = graph.tasks[target].attrs
    parts = []
    color = attrs.get("edge_color")
    if isinstance(color, str) and _COLOR.match(color):
        parts.append(f"color={quote(color)}")
    label = attrs.get("edge_label")
    if isinstance(label, str) and label:
        parts.append(f"label={quote(label[:MAX_LABEL])}")
    return f" [{', '.join(parts)}]" if parts else ""


def _task_node(graph: Graph, tid: str) -> str:
    task = graph.tasks[tid]
    state = "ready" if graph.is_ready(tid) else graph.state[tid].value
    label = tid if task.kind == tid.rsplit("/", 1)[-1] else f"{tid}\n({task.kind})"
    custom = task.attrs.get("label")
    if isinstance(custom, str) and custom:
        label = f"{custom[:MAX_LABEL]}\n[{tid}]"
    shape = task.attrs.get("shape")
    shape = shape if isinstance(shape, str) and shape in SAFE_SHAPES else "box"
    color = task.attrs.get("color")
    pen = f', color={quote(color)}, penwidth=2' \
        if isinstance(color, str) and _COLOR.match(color) else ""
    return (f"  {quote('t:' + tid)} [label={quote(label)}, shape={shape}, "
            f'style="rounded,filled", fillcolor="{STATE_FILL[state]}", '
            f"tooltip={quote(state)}{pen}];")


def _hole(hole: Hole, types: dict[str, HoleType], node_of: dict[str, str],
          picture: Picture) -> list[str]:
    htype = types[hole.type]
    hid = f"h:{hole.id}"
    if hole.everywhere:
        text = f"∗  {hole.id}: anything may be added,\nbefore tasks not yet started"
        return [f"  {quote(hid)} [label={quote(text)}, shape={HOLE_SHAPE}, style=\"dashed\", "
                'color="#6b7280", fontcolor="#374151"];']
    if is_potential_edge(htype, hole):
        a, b = hole.args
        return [f"  {quote(node_of.get(a, 't:' + a))} -> {quote(node_of.get(b, 't:' + b))} "
                f"[style=dashed, color=\"#6b7280\", label={quote(hole.type + '?')}, "
                f"tooltip={quote(hole.id + ': this edge may appear')}];"]
    label = f"{hole.id}: {hole.type}\n{short(htype, hole, types)}"
    out = [f"  {quote(hid)} [label={quote(label)}, shape={HOLE_SHAPE}, style=\"dashed\", "
           f'color="#6b7280", fontcolor="#374151"];']
    for arg, role in zip(hole.args, hole.roles, strict=True):
        node = quote(node_of.get(arg, f"t:{arg}"))
        if role is Role.AFTER:
            out.append(f'  {node} -> {quote(hid)} [style=dashed, color="#6b7280"];')
        else:
            out.append(f'  {quote(hid)} -> {node} [style=dashed, color="#6b7280"];')
    if picture.alternatives:
        out.extend(_alternatives(hole, htype, types))
    return out


def _alternatives(hole: Hole, htype: HoleType, types: dict[str, HoleType]) -> list[str]:
    """Each production of the hole as a small dashed cluster beside it."""
    out = []
    for i, prod in enumerate(htype.allowed(hole.allowed)):
        cid = f"cluster_{hole.id}_{i}"
        pre = f"a:{hole.id}:{i}:"
        out.append(f"  subgraph {quote(cid)} {{")
        out.append(f'    style=dashed; color="#9ca3af"; fontsize=9; '
                   f"label={quote(f'{hole.id} may become ({prod.name})')};")
        frag = prod.fragment
        for p in prod.params:
            out.append(f"    {quote(pre + p)} [label={quote(p)}, shape=plaintext, "
                       f"fontcolor=\"#6b7280\"];")
        for t in frag.tasks:
            out.append(f"    {quote(pre + t.local)} [label={quote(t.kind)}, shape=box, "
                       f'style="rounded", fontsize=9];')
        for j, h in enumerate(frag.holes):
            child = types.get(h.type)
            text = h.type if child is None else f"{h.type}\n{short(child, None, types)}"
            out.append(f"    {quote(pre + f'#{j}')} [label={quote(text)}, shape={HOLE_SHAPE}, "
                       f'style=dashed, fontsize=8];')
            if child is not None and not child.everywhere:
                for arg, role in zip(h.args, child.roles, strict=False):
                    a, b = (pre + arg, pre + f"#{j}") if role is Role.AFTER else \
                        (pre + f"#{j}", pre + arg)
                    out.append(f"    {quote(a)} -> {quote(b)} [style=dashed];")
        for u, v in frag.edges:
            out.append(f"    {quote(pre + u)} -> {quote(pre + v)};")
        if not prod.params and not frag.tasks:
            out.append(f"    {quote(pre + 'nothing')} [label=\"∅ nothing\", shape=plaintext];")
        out.append("  }")
        first = prod.params[0] if prod.params else (frag.tasks[0].local if frag.tasks
                                                     else "nothing")
        out.append(f"  {quote('h:' + hole.id)} -> {quote(pre + first)} "
                   f'[style=dotted, arrowhead=none, color="#d1d5db"];')
    return out


def _collapse(graph: Graph, above: int) -> dict[str, list[str]]:
    """Groups of sibling tasks (same kind, predecessors and successors) to draw as one."""
    if len(graph.tasks) <= above:
        return {}
    by_key: dict[tuple[str, frozenset[str], frozenset[str]], list[str]] = {}
    for tid, task in graph.tasks.items():
        key = (task.kind, frozenset(graph.pred[tid]), frozenset(graph.succ[tid]))
        by_key.setdefault(key, []).append(tid)
    groups = {}
    for (kind, _, _), members in by_key.items():
        if len(members) >= 3:
            groups[f"{kind}#{members[0]}"] = members
    grouped = {t for members in groups.values() for t in members}
    for run in _runs(graph, grouped):
        groups[f"{graph.tasks[run[0]].kind}~{run[0]}"] = run
    return groups


def _runs(graph: Graph, taken: set[str]) -> list[list[str]]:
    """Maximal runs a -> b -> c ... of 3+ same-kind tasks, each with one predecessor and
    one successor inside the run and no hole attached: drawn as one node."""
    def linear(t: str) -> bool:
        return (t not in taken and not graph.holes_at(t)
                and len(graph.pred[t]) <= 1 and len(graph.succ[t]) <= 1)

    runs = []
    seen: set[str] = set()
    for t in graph.tasks:
        if t in seen or not linear(t):
            continue
        kind = graph.tasks[t].kind
        # walk back to the start of the run, then forward to its end
        start = t
        while True:
            p = next(iter(graph.pred[start]), None)
            if p is None or p in seen or not linear(p) or graph.tasks[p].kind != kind:
                break
            start = p
        run = [start]
        seen.add(start)
        while True:
            nxt = next(iter(graph.succ[run[-1]]), None)
            if nxt is None or nxt in seen or not linear(nxt) or graph.tasks[nxt].kind != kind:
                break
            run.append(nxt)
            seen.add(nxt)
        if len(run) >= 3:
            runs.append(run)
    return runs


def _group_node(graph: Graph, key: str, members: Sequence[str]) -> str:
    states = Counter("ready" if graph.is_ready(t) else graph.state[t].value for t in members)
    kind = graph.tasks[members[0]].kind
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    main = max(states, key=lambda s: states[s])
    row = " in a row" if "~" in key else ""
    label = f"{kind} ×{len(members)}{row}\n({counts})"
    return (f"  {quote('g:' + key)} [label={quote(label)}, shape=box3d, "
            f'style="filled", fillcolor="{STATE_FILL[main]}"];')


def _legend() -> list[str]:
    out = ['  subgraph "cluster_legend" {',
           '    label="legend"; style="rounded"; color="#d1d5db"; fontsize=9;']
    for state, fill in STATE_FILL.items():
        out.append(f'    "legend:{state}" [label="{state}", shape=box, style="rounded,filled", '
                   f'fillcolor="{fill}", fontsize=8];')
    out.append(f'    "legend:hole" [label="hole: what may\\nstill appear", shape={HOLE_SHAPE}, '
               'style=dashed, fontsize=8];')
    out.append('    "legend:a" [label="", shape=point]; "legend:b" [label="", shape=point];')
    out.append('    "legend:a" -> "legend:b" [style=dashed, label="may appear", fontsize=8];')
    # one row: in a left-to-right layout, each invisible edge is one step to the right
    out.append('    "legend:pending" -> "legend:ready" -> "legend:running" -> "legend:done" '
               '-> "legend:failed" -> "legend:hole" -> "legend:a" [style=invis];')
    out.append("  }")
    return out


def render(dot: str, fmt: str) -> bytes:
    """Lay out and render DOT with the real ``dot`` binary (svg, png, pdf, ...)."""
    if fmt == "dot":
        return dot.encode()
    import graphviz

    data: bytes = graphviz.Source(dot).pipe(format=fmt)
    return data

