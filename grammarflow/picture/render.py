"""The picture: the graph as it stands, every hole drawn as a wildcard for its futures.

What is drawn: docs/picture.md; why it is sound and complete: proofs/08-picture.md.
Everything the graph or a task supplies is quoted (:func:`quote`, :func:`quote_html`):
no id or attribute can break the DOT, inject markup or make the SVG ill-formed.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from grammarflow.core.cosmetics import COLOR as _COLOR
from grammarflow.core.cosmetics import EDGE_STYLES, SAFE_SHAPES, edge_key
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph, Hole, Role, TaskState
from grammarflow.core.graph_views import install_drawer
from grammarflow.core.productions import Fragment, HoleType, Production
from grammarflow.core.scopes import ConstraintState
from grammarflow.errors import Refusal
from grammarflow.picture.words import (
    ANYWHERE_LATER,
    Limits,
    alternative_in_words,
    explained,
    hole_limits,
    in_words,
    is_potential_edge,
    map_known,
    may_open_everywhere,
    where_lines,
)

STATE_FILL = {"pending": "#ffffff", "ready": "#dbeafe", "running": "#fde68a",
              "done": "#bbf7d0", "failed": "#fecaca", "refused": "#fff1f2",
              "waiting": "#e9d5ff"}
RUN_STATES = ("pending", "ready", "running", "done", "failed")
REFUSED = "#dc2626"  # a broken run: its title, the task whose change was refused
HOLE_SHAPE = "doubleoctagon"  # no task may take it: the wildcard's own shape
MAX_LABEL = 200
OUTPUT_WIDTH = 24  # an output's summary on a done task


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
    # \\x01 in DOT shows as \x01
    out = _UNSHOWABLE.sub(lambda m: "\\" + _escape(m), out)
    return f'"{out}"'


def _escape(m: re.Match[str]) -> str:
    """A character nobody can see (or XML forbids) as an escape: ``\\x01``, ``\\ufffe``."""
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# ====================================================================== the refusal
def caption(refusal: Refusal, width: int = 90, tried: int = 5) -> list[str]:
    """The refusal's first line, wrapped, then the productions tried (the first few)."""
    lines = textwrap.wrap(refusal.reason, width, max_lines=4, placeholder=" …")
    for attempt in refusal.attempts[:tried]:
        lines.extend(textwrap.wrap(f"tried {attempt}", width, max_lines=2,
                                   placeholder=" …", subsequent_indent="    "))
    if len(refusal.attempts) > tried:
        lines.append(f"… and {len(refusal.attempts) - tried} more production(s) tried")
    return lines


# ====================================================================== DOT
@dataclass(frozen=True)
class Picture:
    """Options of a picture."""

    alternatives: bool = False  # draw each hole's productions as small dashed clusters
    collapse_above: int = 200  # collapse sibling tasks when the graph has more tasks
    #: and when still more nodes than this are left to draw, tasks alike (one kind, after
    #: and before the same kinds) too: what dot lays out in well under a second
    summarize_above: int = 400
    legend: bool = True
    title: str | None = None
    refusal: Refusal | None = None  # the run broke: say so, mark who, caption why
    waiting: Mapping[str, str] = field(default_factory=dict)  # task -> what it asks
    unroll: bool = False  # draw a loop's iterations one by one, not folded
    #: groups drawn task by task though collapsed by default: their node names without
    #: the prefix (``g:step#b/1`` is ``step#b/1``, a loop's ``l:L.1/step`` is ``L.1/step``)
    expand: frozenset[str] = frozenset()
    #: an upgrade's difference of futures: per hole, the productions it gains or that
    #: change (by name) and those it loses (drawn too); tasks the new version adds
    changes: Mapping[str, tuple[frozenset[str], frozenset[str], tuple[Production, ...]]] = \
        field(default_factory=dict)
    added: frozenset[str] = frozenset()


#: An upgrade's marks: what the new version adds, changes, takes away.
ADDED, CHANGED, REMOVED = "#15803d", "#b45309", "#b91c1c"


def to_dot(graph: Graph, grammar: Grammar, picture: Picture = Picture(),
           limits: ConstraintState | None = None) -> str:
    """The DOT source of the picture of ``graph`` under ``grammar``. ``limits`` (a
    derivation's ``limits``) says what constrains each hole, also constraints added at
    run time and those a hole keeps from the hole it grew from; without it, a hole
    shows its type's own constraints."""
    types = dict(grammar.types)
    heading = _heading(picture)
    lines = ["digraph grammarflow {",
             # newrank: one ranking pass for the whole graph, clusters included — a wide
             # rank of 2,000 siblings lays out in 1.5 s instead of 2.8 (bench/render.py)
             '  graph [rankdir=LR, newrank=true, ordering=out, fontname="Helvetica", fontsize=11, '
             'nodesep=0.3, ranksep=0.45' + (f", label={heading}, labelloc=t, labeljust=l" if heading
                              else "") + "];",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    refused = picture.refusal.task if picture.refusal else None
    keep = {t for t in (refused, *picture.waiting) if t is not None}
    folded = {} if picture.unroll else loops(graph, keep)
    folded = {k: m for k, m in folded.items() if k not in picture.expand}
    in_loops = {t for members in folded.values() for t in members}
    groups = _collapse(graph, picture.collapse_above, keep | in_loops)
    groups = {k: m for k, m in groups.items() if k not in picture.expand}
    if groups or len(graph.tasks) > picture.collapse_above:
        taken = keep | in_loops | {t for members in groups.values() for t in members}
        if len(graph.tasks) - len(taken) + len(groups) + len(folded) > picture.summarize_above:
            groups.update((k, m) for k, m in _alike(graph, taken).items()
                          if k not in picture.expand)
    node_of = {t: f"g:{key}" for key, members in groups.items() for t in members}
    node_of.update((t, f"l:{key}") for key, members in folded.items() for t in members)
    for key, members in groups.items():
        lines.append(_group_node(graph, key, members))
    for key, members in folded.items():
        lines.extend(_loop_node(graph, key, members))
    for tid in graph.tasks:
        if tid in node_of:
            continue
        state = ("refused" if tid == refused else "waiting" if tid in picture.waiting
                 else _state(graph, tid))
        lines.append(_task_node(graph, grammar, tid, state, picture.waiting.get(tid),
                                tid in picture.added))
    edges: dict[tuple[str, str], str] = {}
    # in the order the tasks were made, as the tasks are: with ordering=out, dot keeps a
    # task's successors in that order, so that tasks already drawn keep their places
    # when a hole expands (a stable layout; bench/serve.py measures it)
    made = {t: i for i, t in enumerate(graph.tasks)}
    for u, v in sorted(graph.edges(), key=lambda e: (made[e[0]], made[e[1]])):
        if u in node_of and node_of[u] == node_of.get(v):
            continue  # within a group: a loop's own edge says it, a row is a row
        pair = (node_of.get(u, f"t:{u}"), node_of.get(v, f"t:{v}"))
        if pair not in edges:  # a group's edges: drawn once, styled as the first
            edges[pair] = _edge_style(graph, grammar, u, v)
    lines.extend(f"  {quote(u)} -> {quote(v)}{style};" for (u, v), style in edges.items())
    kept = {(node_of.get(a, f"t:{a}"), node_of.get(b, f"t:{b}")) for a, b in graph.order}
    lines.extend(f"  {quote(u)} -> {quote(v)} [style=dotted, color=gray45, tooltip="
                 f"{quote(ORDER_KEPT)}];" for u, v in sorted(kept - set(edges)) if u != v)
    for hole in graph.holes.values():
        where = hole_limits(hole, types[hole.type], limits)
        lines.extend(_hole(hole, types, node_of, picture, where,
                           map_known(graph, hole, types[hole.type])))
    lines.append("}")
    return "\n".join(lines) + "\n"


#: What a dotted gray edge says: the order an open hole kept when it closed as nothing.
ORDER_KEPT = "ran after: an open hole stood between them, and closed as nothing"


def _state(graph: Graph, tid: str) -> str:
    return "ready" if graph.is_ready(tid) else graph.state[tid].value


def _edge_style(graph: Graph, grammar: Grammar, source: str, target: str) -> str:
    """An edge's own cosmetics (label, color, style): those registered for edges
    between its ends' kinds, overridden by its ``Style`` steps."""
    kinds = edge_key(graph.tasks[source].kind, graph.tasks[target].kind)
    own = {**grammar.styles.get(kinds, {}), **graph.edge_attrs.get((source, target), {})}
    parts = []
    color = own.get("color")
    if isinstance(color, str) and _COLOR.match(color):
        parts.append(f"color={quote(color)}")
    label = own.get("label")
    if isinstance(label, str) and label:
        parts.append(f"label={quote(label[:MAX_LABEL])}")
    style = own.get("style")
    if isinstance(style, str) and style in EDGE_STYLES:
        parts.append(f"style={style}")
    return f" [{', '.join(parts)}]" if parts else ""


def _task_node(graph: Graph, grammar: Grammar, tid: str, state: str,
               asks: str | None = None, added: bool = False) -> str:
    task = graph.tasks[tid]
    attrs = {**grammar.styles.get(task.kind, {}), **task.attrs}
    label = tid if task.kind == tid.rsplit("/", 1)[-1] else f"{tid}\n({task.kind})"
    custom = attrs.get("label")
    if isinstance(custom, str) and custom:
        label = f"{custom[:MAX_LABEL]}\n[{tid}]"
    if tid in graph.outputs and graph.state[tid] is TaskState.DONE:  # given, not tentative
        label += f"\n→ {summary(graph.outputs[tid])}"
    if asks is not None:
        shown = asks if len(asks) <= 40 else asks[:39] + "…"
        label += f"\nwaits for a person:\n{shown}"
    shape = attrs.get("shape")
    shape = shape if isinstance(shape, str) and shape in SAFE_SHAPES else "box"
    color = attrs.get("color")
    pen = f', color={quote(color)}, penwidth=2' \
        if isinstance(color, str) and _COLOR.match(color) else ""
    tip = attrs.get("tooltip")
    tooltip = tip[:MAX_LABEL] if isinstance(tip, str) and tip else state
    if state == "refused":
        label += "\nits change was refused"
        pen = f', color="{REFUSED}", fontcolor="{REFUSED}", penwidth=3'
    if added:
        label += "\nnew in this version"
        pen = f', color="{ADDED}", fontcolor="{ADDED}", penwidth=2'
    return (f"  {quote('t:' + tid)} [label={quote(label)}, shape={shape}, "
            f'style="rounded,filled", fillcolor="{STATE_FILL[state]}", '
            f"tooltip={quote(tooltip)}{pen}];")


def summary(value: object, limit: int = OUTPUT_WIDTH) -> str:
    """An output in short, for a done task's label: ``[3 items]``, ``{rows, total}``,
    ``22``, ``"alpha…"``."""
    if isinstance(value, list):
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    if isinstance(value, dict):
        keys = ", ".join(list(value)[:4]) + (", …" if len(value) > 4 else "")
        text = "{" + keys + "}"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 2] + "…" + text[-1]


def _hole(hole: Hole, types: dict[str, HoleType], node_of: dict[str, str],
          picture: Picture, where: Sequence[Limits] = (), known: str | None = None
          ) -> list[str]:
    htype = types[hole.type]
    hid = f"h:{hole.id}"
    aimed = picture.refusal is not None and picture.refusal.hole == hole.id
    color = REFUSED if aimed else "#6b7280"
    if hole.everywhere:
        text = f"∗  {hole.id}: anything may be added,\nbefore tasks not yet started"
        if where:
            text += ", where\n" + "\n".join(where_lines(where))
        out = [f"  {quote(hid)} [label={quote(text)}, shape={HOLE_SHAPE}, style=\"dashed\", "
               f'color="{color}", fontcolor="#374151"];']
        if picture.alternatives and where:
            out.extend(_explanation(hole.id, where))
        return out
    if is_potential_edge(htype, hole):
        a, b = hole.args
        return [f"  {quote(node_of.get(a, 't:' + a))} -> {quote(node_of.get(b, 't:' + b))} "
                f"[style=dashed, color=\"{color}\", label={quote(hole.id + ': maybe')}, "
                f"tooltip={quote(hole.id + ': this edge may appear')}];"]
    label = f"{hole.id} ({hole.type}) becomes\n{known or in_words(htype, hole, types)}"
    if may_open_everywhere(htype, hole, types):
        label += f"\n{ANYWHERE_LATER}"
    if where:
        label += ", where\n" + "\n".join(where_lines(where))
    out = [f"  {quote(hid)} [label={quote(label)}, shape={HOLE_SHAPE}, style=\"dashed\", "
           f'color="{color}", fontcolor="#374151"];']
    # weight: the wildcard sits between the tasks it comes after and before
    for arg, role in zip(hole.args, hole.roles, strict=True):
        node = quote(node_of.get(arg, f"t:{arg}"))
        if role is Role.AFTER:
            out.append(f'  {node} -> {quote(hid)} [style=dashed, color="#6b7280", weight=2];')
        else:
            out.append(f'  {quote(hid)} -> {node} [style=dashed, color="#6b7280", weight=2];')
    if picture.alternatives:
        out.extend(_alternatives(hole, htype, types, picture.changes.get(hole.id)))
        if where:
            out.extend(_explanation(hole.id, where))
    return out


def _explanation(hole: str, where: Sequence[Limits]) -> list[str]:
    """The constraints of a hole in words, one a line, as a small dashed cluster."""
    cid = f"cluster_{hole}_where"
    text = "\n".join(explained(where, hole))
    return [f"  subgraph {quote(cid)} {{",
            f'    style=dashed; color="#9ca3af"; fontsize=9; '
            f"label={quote(f'{hole} grows only what keeps')};",
            f"    {quote(f'w:{hole}')} [label={quote(text)}, shape=note, fontsize=9, "
            f'color="#9ca3af"];',
            "  }",
            f"  {quote('h:' + hole)} -> {quote(f'w:{hole}')} "
            f'[style=dotted, arrowhead=none, color="#d1d5db"];']


def _alternatives(hole: Hole, htype: HoleType, types: dict[str, HoleType],
                  change: tuple[frozenset[str], frozenset[str], tuple[Production, ...]]
                  | None = None) -> list[str]:
    """Each production of the hole as a small dashed cluster beside it, its parameters
    named as the tasks they are bound to (not the formal ``a``/``b``); ``change``: an
    upgrade's, the productions it adds marked, those it removes drawn struck."""
    out = []
    bound = dict(zip(htype.params, hole.args, strict=False))
    added, changed, removed = change or (frozenset(), frozenset(), ())
    shown = [*htype.allowed(hole.allowed), *removed]
    for i, prod in enumerate(shown):
        cid = f"cluster_{hole.id}_{i}"
        pre = f"a:{hole.id}:{i}:"
        gone = i >= len(shown) - len(removed)
        mark, color = (("no longer: ", REMOVED) if gone else
                       ("new: ", ADDED) if prod.name in added else
                       ("changed: ", CHANGED) if prod.name in changed else ("", "#9ca3af"))
        out.append(f"  subgraph {quote(cid)} {{")
        out.append(f'    style=dashed; color="{color}"; fontcolor="{color}"; fontsize=9; '
                   f"label={quote(f'{mark}{hole.id} may become ({prod.name})')};")
        frag = prod.fragment
        for p in prod.params:
            out.append(f"    {quote(pre + p)} [label={quote(bound.get(p, p))}, shape=plaintext, "
                       f"fontcolor=\"#6b7280\"];")
        for t in frag.tasks:
            out.append(f"    {quote(pre + t.local)} [label={quote(t.kind)}, shape=box, "
                       f'style="rounded", fontsize=9];')
        for j, h in enumerate(frag.holes):
            child = types.get(h.type)
            text = h.type if child is None else f"{h.type}\n{in_words(child, None, types)}"
            out.append(f"    {quote(pre + f'#{j}')} [label={quote(text)}, shape={HOLE_SHAPE}, "
                       f'style=dashed, fontsize=8];')
            if child is not None and not child.everywhere:
                for arg, role in zip(h.args, child.roles, strict=False):
                    a, b = (pre + arg, pre + f"#{j}") if role is Role.AFTER else \
                        (pre + f"#{j}", pre + arg)
                    out.append(f"    {quote(a)} -> {quote(b)} [style=dashed];")
        for u, v in frag.edges:
            out.append(f"    {quote(pre + u)} -> {quote(pre + v)};")
        if not frag.tasks and not frag.holes:
            out.append(f"    {quote(pre + 'nothing')} "
                       f"[label={quote(alternative_in_words(prod, types))}, shape=plaintext];")
        out.append("  }")
        first = (frag.tasks[0].local if frag.tasks else
                 "nothing" if not frag.holes else prod.params[0] if prod.params else "#0")
        out.append(f"  {quote('h:' + hole.id)} -> {quote(pre + first)} "
                   f'[style=dotted, arrowhead=none, color="#d1d5db"];')
    return out


def _collapse(graph: Graph, above: int, keep: set[str]) -> dict[str, list[str]]:
    """Groups of sibling tasks (same kind, predecessors and successors) to draw as one;
    the tasks in ``keep`` are drawn alone."""
    if len(graph.tasks) <= above:
        return {}
    by_key: dict[tuple[str, frozenset[str], frozenset[str]], list[str]] = {}
    for tid, task in graph.tasks.items():
        if tid in keep:
            continue
        key = (task.kind, frozenset(graph.pred[tid]), frozenset(graph.succ[tid]))
        by_key.setdefault(key, []).append(tid)
    groups = {}
    for (kind, _, _), members in by_key.items():
        if len(members) >= 3:
            groups[f"{kind}#{members[0]}"] = members
    grouped = {t for members in groups.values() for t in members}
    for run in _runs(graph, grouped | keep):
        groups[f"{graph.tasks[run[0]].kind}~{run[0]}"] = run
    return groups


def _alike(graph: Graph, taken: set[str]) -> dict[str, list[str]]:
    """Tasks alike, to draw as one when even collapsed siblings leave too many to lay
    out: of one kind, after tasks of the same kinds and before tasks of the same kinds
    (a Montage's 500 mProject, each after survey and before its own mDiffFit and
    mBackground), no hole attached; 3 or more. An edge to or from the group stands for
    an edge to or from some of its members."""
    kinds = graph.tasks
    by_key: dict[tuple[str, frozenset[str], frozenset[str]], list[str]] = {}
    for tid, task in kinds.items():
        if tid in taken or graph.holes_at(tid):
            continue
        key = (task.kind, frozenset(kinds[p].kind for p in graph.pred[tid]),
               frozenset(kinds[q].kind for q in graph.succ[tid]))
        by_key.setdefault(key, []).append(tid)
    return {f"{kind}≈{members[0]}": members
            for (kind, _, _), members in by_key.items() if len(members) >= 3}


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


def loops(graph: Graph, keep: Set[str] = frozenset()) -> dict[str, list[str]]:
    """Loops unrolled at run time, to draw folded: two or more tasks of one local name
    made by one chain of holes (a hole of type L made by expanding an L hole continues
    its chain: ``L.1/step``, ``L.1.2/step``, ...), each running right after the one
    before. Keyed by the chain's first hole and the local name, in iteration order."""
    chains: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for tid in graph.tasks:
        if tid in keep:
            continue
        hole_id, slash, local = tid.rpartition("/")
        prefix, sep, segment = hole_id.rpartition("/")
        parts = segment.split(".")
        if not slash or len(parts) not in (2, 3) or not all(p.isdigit() for p in parts[1:]):
            continue
        depth = int(parts[2]) if len(parts) == 3 else 1
        chains.setdefault((f"{prefix}{sep}{parts[0]}.{parts[1]}", local), []).append(
            (depth, tid))
    found = {}
    for (root, local), members in chains.items():
        if len(members) < 2:
            continue
        ids = [t for _, t in sorted(members)]
        if all(b in graph.succ[a] for a, b in itertools.pairwise(ids)):
            found[f"{root}/{local}"] = ids
    return found


def _loop_node(graph: Graph, key: str, members: Sequence[str]) -> list[str]:
    """A loop folded: one node for its iterations, and an edge back to itself."""
    states = Counter(_state(graph, t) for t in members)
    last = _state(graph, members[-1])
    kind = graph.tasks[members[0]].kind
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    label = f"{kind} (loop {key.rsplit('/', 1)[0]})\n{len(members)} iterations ({counts})"
    if members[-1] in graph.outputs and graph.state[members[-1]] is TaskState.DONE:
        label += f"\n→ {summary(graph.outputs[members[-1]])}"
    node = quote("l:" + key)
    return [f"  {node} [label={quote(label)}, shape=box, style=\"rounded,filled,bold\", "
            f'fillcolor="{STATE_FILL[last]}", tooltip={quote(", ".join(members[:50]))}];',
            f"  {node} -> {node} [label={quote(f'×{len(members)}')}, style=bold, "
            'color="#6b7280", dir=back, headport=n, tailport=n];']


def _group_node(graph: Graph, key: str, members: Sequence[str]) -> str:
    states = Counter(_state(graph, t) for t in members)
    kind = graph.tasks[members[0]].kind
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    main = max(states, key=lambda s: states[s])
    row = " in a row" if "~" in key else " alike" if "≈" in key else ""
    label = f"{kind} ×{len(members)}{row}\n({counts})"
    return (f"  {quote('g:' + key)} [label={quote(label)}, shape=box3d, "
            f'style="filled", fillcolor="{STATE_FILL[main]}"];')


# ====================================================================== heading and legend
def quote_html(text: str) -> str:
    """Text for an HTML-like label that shows ``text`` literally, whatever it holds
    (markup escaped, characters XML forbids shown as escapes, lines broken).

    >>> quote_html('<b>&#1;\\x01\\nnext')
    '&lt;b&gt;&amp;#1;\\\\x01<BR ALIGN="LEFT"/>next'
    """
    text = _UNSHOWABLE.sub(_escape, text[:MAX_LABEL * 4])
    text = html.escape(text.replace("\r\n", "\n").replace("\r", "\n"), quote=True)
    return text.replace("\n", '<BR ALIGN="LEFT"/>')


def _heading(picture: Picture) -> str | None:
    """The one HTML-like label: the title (BROKEN and why, for a broken run) and the
    legend, one row each above the picture, outside its layout."""
    rows = []
    refusal = picture.refusal
    if refusal is not None:
        title = f"BROKEN: {refusal.headline()}" + \
            (f" ({picture.title})" if picture.title else "")
        rows.append(f'<FONT COLOR="{REFUSED}" POINT-SIZE="13"><B>{quote_html(title)}</B></FONT>')
        why = '<BR ALIGN="LEFT"/>'.join(quote_html(line) for line in caption(refusal))
        rows.append(f'<FONT COLOR="{REFUSED}" POINT-SIZE="9">{why}</FONT>')
    elif picture.title:
        rows.append(f'<FONT POINT-SIZE="12">{quote_html(picture.title)}</FONT>')
    if picture.legend:
        extra = (("refused",) if refusal is not None else ()) + \
            (("waiting",) if picture.waiting else ())
        rows.append(legend((*RUN_STATES, *extra)))
    if not rows:
        return None
    cells = "".join(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{row}</TD></TR>' for row in rows)
    return f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2">{cells}</TABLE>>'


def legend(states: Sequence[str] = RUN_STATES) -> str:
    """The legend, one small row: a cell per task state, a hole, a potential edge."""
    cells = []
    for state in states:
        pen = f' COLOR="{REFUSED}" BORDER="2"' if state == "refused" else ' BORDER="1"'

        cells.append(f'<TD STYLE="rounded" BGCOLOR="{STATE_FILL[state]}"{pen}>'
                     f'<FONT POINT-SIZE="8">{state}</FONT></TD>')
    cells.append('<TD BORDER="1" STYLE="dashed" COLOR="#6b7280"><FONT POINT-SIZE="8">'
                 "hole: what may still appear</FONT></TD>")
    cells.append('<TD><FONT POINT-SIZE="8" COLOR="#6b7280">⇢ edge that may appear</FONT></TD>')
    return (f'<TABLE BORDER="0" CELLSPACING="3" CELLPADDING="2"><TR>{"".join(cells)}'
            "</TR></TABLE>")


def render(dot: str, fmt: str) -> bytes:
    """Lay out and render DOT with the real ``dot`` binary (svg, png, pdf, ...)."""
    if fmt == "dot":
        return dot.encode()
    import graphviz

    data: bytes = graphviz.Source(dot).pipe(format=fmt)
    return data


def draw_svg(graph: Graph, grammar: Grammar | None, limits: Any = None) -> str:
    """A graph as SVG, its holes the wildcards ``grammar`` says (none: a graph without
    holes): the core's ``_repr_svg_`` for Jupyter (:mod:`grammarflow.core.graph_views`)."""
    if grammar is None:
        grammar = Grammar(Fragment(), {})
    return render(to_dot(graph, grammar, Picture(), limits), "svg").decode()


install_drawer(draw_svg)


__all__ = [
    "ADDED",
    "CHANGED",
    "HOLE_SHAPE",
    "MAX_LABEL",
    "ORDER_KEPT",
    "OUTPUT_WIDTH",
    "REFUSED",
    "REMOVED",
    "RUN_STATES",
    "STATE_FILL",
    "Picture",
    "caption",
    "draw_svg",
    "legend",
    "loops",
    "quote",
    "quote_html",
    "render",
    "summary",
    "to_dot",
]
