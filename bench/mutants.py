"""Plant checker bugs one at a time and see which the property tests alone catch.

    .venv/bin/python bench/mutants.py                 # every mutant, 2 at a time
    .venv/bin/python bench/mutants.py --only M07 M12  # some of them
    .venv/bin/python bench/mutants.py --report bench/mutants-report.md
    .venv/bin/python bench/mutants.py --log /tmp/mutants.jsonl ...  # resumable

Each mutant is one plausible one-line bug in the checker (the grammar core, the raw-diff
matcher, the picture): a snippet of the source and what it becomes. For each, the
package is copied to a scratch directory, the snippet replaced (it must occur exactly
once), and only the Hypothesis properties of tests/ are run against the copy
(``GRAMMARFLOW_PROPERTIES_ONLY=1``, the ``mutants`` profile: the CI example budget,
derandomized, without shrinking).
A mutant is *killed* if a property fails. Unit tests written by hand are left out on
purpose: the point is whether the random runs find the bug without being told where.

A mutant that survives is either a gap in the properties or an *equivalent* mutant (one
that no run can tell apart from the real code); the latter carry the reason in
``equivalent``, and the report prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Seconds one property may take under a mutant before the mutant counts as caught (a
#: hang); the slowest property takes about 15 s at the CI budget.
HUNG_AFTER = 240


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # relative to grammarflow/
    original: str
    mutated: str
    what: str  # the bug, in words
    category: str
    equivalent: str | None = None  # why no property can catch it, if so


M = Mutant
MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- cycle checks
    M("M01", "core/wellformed.py", "    if cycle:\n        raise GrammarError(f\"{where}: the fragment has a cycle",
      "    if False:\n        raise GrammarError(f\"{where}: the fragment has a cycle",
      "a fragment with a cycle among its tasks and holes is accepted", "cycles"),
    M("M02", "core/wellformed.py", "        if u == v:\n            raise GrammarError(f\"{where}: edge {u} -> {v} is a cycle\", why=Why.CYCLE)",
      "        if False:\n            raise GrammarError(f\"{where}: edge {u} -> {v} is a cycle\", why=Why.CYCLE)",
      "a self-loop in a fragment is accepted", "cycles",
      equivalent="the self-loop is still refused, in other words: on a task of the fragment "
      "by the cycle check (graphlib sees a self-loop as a cycle), on a parameter by the "
      "role check (an edge both leaves and enters it, and one of the two is against its role)"),
    M("M03", "core/wellformed.py", "        if role_of(name, use) is Role.BEFORE:",
      "        if role_of(name, use) is Role.BEFORE and False:",
      "an edge may leave a parameter the hole comes before", "cycles"),
    M("M04", "core/wellformed.py", "        if role_of(name, use) is Role.AFTER:",
      "        if role_of(name, use) is Role.AFTER and False:",
      "an edge may enter a parameter the hole comes after", "cycles"),
    M("M05", "core/wellformed.py", "    check_fragment(start, {}, grammar.types, where=\"start graph\")",
      "    check_fragment(start, {}, grammar.types, where=\"start graph\") "
      "if not fragment_cycle(start, grammar.types) else None",
      "a start graph with a cycle is accepted", "cycles"),
    M("M06", "core/open_holes.py", "        if g.reaches(v, src):",
      "    if False:",
      "an edge grown through an everywhere hole may close a cycle", "cycles"),
    M("M07", "core/open_holes.py", "                if g.reaches(b, a):",
      "                if False:",
      "a refinement of an everywhere hole may add a hole that closes a cycle", "cycles"),
    M("M08", "core/reachability.py", "            if x in hole.after:\n                nexts.extend(hole.before)",
      "            if False:\n                nexts.extend(hole.before)",
      "the cycle search does not go through holes", "cycles"),
    # ---------------------------------------------------------------- started tasks
    M("M09", "core/graph.py", "        if state[v] is not _PENDING:\n            raise BrokenPromise(\n"
      "                f\"edge {u} -> {v} ends at task",
      "        if False:\n            raise BrokenPromise(\n                f\"edge {u} -> {v} ends at task",
      "an edge may end at a task that has started", "started tasks"),
    M("M10", "core/graph.py", "            if role is _BEFORE and state[a] is not _PENDING:",
      "        if False:",
      "a hole may come before a task that has started", "started tasks"),
    M("M11", "core/match/diff.py", "                if g.is_started(v):",
      "                if False:",
      "the matcher does not refuse an edge into a started task itself", "started tasks",
      equivalent="Graph.add_edge refuses the same edge when the plan is applied, with the "
                 "same words; the matcher's own check only saves the search"),
    # ---------------------------------------------------------------- kinds
    M("M12", "core/match/search.py", "        slots = pattern.slots_of_kind[self.el.kind[element]]",
      "        slots = tuple(i for v in pattern.slots_of_kind.values() for i in v)",
      "a new task may take the place of a production task of another kind", "kinds"),
    M("M13", "core/match/search.py", "                if (el.kind.get(value) == kind and value not in produced",
      "                if (value not in produced",
      "the matcher ignores kinds when it extends a partial match", "kinds"),
    M("M14", "core/match/search.py", "            elif (self.el.kind.get(value) != pattern.kinds[s] or value in self.produced",
      "            elif (value in self.produced",
      "the matcher ignores the kind of a task met along an edge", "kinds"),
    M("M15", "core/plans.py", "        graph.add_task(Task(tid, kind, {**task_attrs, **extra} if extra else task_attrs))",
      "        graph.add_task(Task(tid, plan.tasks[0][1], {**task_attrs, **extra} if extra else task_attrs))",
      "every new task of a production takes the kind of its first task", "kinds"),
    M("M16", "core/open_holes.py", "    outside = fragment.outside_names()\n    return d.instantiate_plan(",
      "    outside = fragment.outside_names()\n    fragment = type(fragment)(tuple(type(t)(t.local, fragment.tasks[0].kind, t.attrs) for t in fragment.tasks), fragment.holes, fragment.edges)\n    return d.instantiate_plan(",
      "a raw fragment through an open hole: every task takes the first task's kind", "kinds"),
    # ---------------------------------------------------------------- edges
    M("M17", "core/match/search.py", "            elif not self.present(e):\n                return None",
      "            elif False:\n                return None",
      "the matcher does not require a production's edges to be in the change", "edges"),
    M("M18", "core/match/search.py", "        ei = self.el.edge_index.get(e)\n        return ei is not None and ei not in self.uncovered",
      "        return True",
      "the matcher believes every edge it needs is there", "edges"),
    M("M19", "core/plans.py", "    for u, v in plan.edges:\n        graph.add_edge(nodes[u], nodes[v])",
      "    for u, v in plan.edges[1:]:\n        graph.add_edge(nodes[u], nodes[v])",
      "instantiation drops a production's first edge", "edges"),
    M("M20", "core/match/growth.py", "    return all((u in el.kind or u in after) and (v in el.kind or v in before)",
      "    return all(True",
      "an open hole takes a raw change with edges outside its attachment", "edges"),
    M("M21", "core/open_holes.py", "        outside = dict(zip(hole.args, hole.roles, strict=True))\n        outside_any = False",
      "        outside = dict(zip(hole.args, hole.roles, strict=True))\n        outside_any = True",
      "a change to a bounded open hole may name any task", "edges"),
    # ---------------------------------------------------------------- refused steps
    M("M22", "core/derivation.py", "        except BaseException:\n            g.undo_to(mark)\n            self.grammar = saved\n            raise\n        g.close(mark)\n        if self._pending",
      "        except BaseException:\n            g.undo_to(mark)\n            raise\n        g.close(mark)\n        if self._pending",
      "a refused step keeps the grammar changes it made (fresh types)", "refused steps"),
    M("M23", "core/graph.py", "    def _drop_edge(self, u: str, v: str) -> None:\n        self.succ[u].discard(v)",
      "    def _drop_edge(self, u: str, v: str) -> None:\n        return\n        self.succ[u].discard(v)",
      "rolling back a refused step leaves its edges", "refused steps"),
    M("M24", "core/graph.py", "    def _drop_task(self, task_id: str) -> None:\n",
      "    def _drop_task(self, task_id: str) -> None:\n        return\n",
      "rolling back a refused step leaves its tasks", "refused steps"),
    M("M25", "core/open_holes.py", "    d.grammar = grammar\n    d.graph.remove_hole(hole.id)\n    created, holes = open_instantiate(d, hole, step.fragment, grammar.types,\n                                            replaced=True)",
      "    d.grammar = grammar\n    d.graph.remove_hole(hole.id)\n    created, holes = open_instantiate(d, hole, step.fragment, grammar.types,\n                                            replaced=True)\n    d.history.append(step)",
      "a refinement is recorded in the history twice", "refused steps"),
    # ---------------------------------------------------------------- narrowing
    M("M26", "core/productions.py", "        return name not in self.removed and (only is None or name in only)",
      "        return True",
      "an expansion ignores every narrowing", "narrowing"),
    M("M27", "core/narrowing.py", "    removed = htype.removed | frozenset(step.remove)",
      "    removed = htype.removed",
      "narrowing a type removes nothing", "narrowing"),
    M("M28", "core/narrowing.py", "    d.graph.replace_hole(replace(hole, allowed=left))",
      "    pass",
      "narrowing one hole removes nothing", "narrowing"),
    M("M29", "core/productions.py", "            if only is not None and p.name not in only:\n                continue",
      "            if False:\n                continue",
      "a hole's own narrowing is ignored when listing what it may become", "narrowing"),
    M("M30", "core/derivation.py", "        if htype.default is None or htype.default not in allowed:",
      "        if htype.default is None:",
      "a due hole takes a default that was narrowed away", "narrowing"),
    M("M31", "core/wellformed.py", "            if any(all(h.type in productive for h in p.fragment.holes) for p in t.allowed()):",
      "            if any(True for p in t.productions):",
      "narrowing may leave a type with no way to finish", "narrowing"),
    M("M32", "core/narrowing.py", "    if not _can_finish(htype, left, productive_types(d.grammar.types)):",
      "        if False:",
      "narrowing a hole may leave it no way to finish", "narrowing"),
    M("M43", "core/narrowing.py", "        if hole.allowed is not None and not _can_finish(narrowed, hole.allowed, productive):",
      "            if False:",
      "narrowing a type may strand a hole that was narrowed before", "narrowing"),
    # ---------------------------------------------------------------- widening
    M("M33", "core/open_holes.py", "    if not hole.everywhere:\n        check_not_widened(d, hole, step, grammar)",
      "    if False:\n        check_not_widened(d, hole, step, grammar)",
      "a bounded open hole may be refined into an everywhere hole", "widening"),
    M("M34", "core/open_holes.py", "    grown = hole if hole.everywhere else replace(\n        hole, args=hole.args + new_ids, roles=hole.roles + (Role.AFTER,) * len(new_ids))",
      "    grown = hole if hole.everywhere else replace(\n        hole, args=hole.args + new_ids, roles=hole.roles + (Role.BEFORE,) * len(new_ids))",
      "tasks grown in an open hole join its before role (later growth may run before them)",
      "widening"),
    # ---------------------------------------------------------------- the picture
    M("M35", "picture/words.py", "            for p in htype.allowed(hole.allowed if hole else None)]",
      "            for p in htype.productions]",
      "the picture lists productions that were narrowed away", "picture"),
    M("M36", "picture/words.py", "    prods = list(htype.allowed())\n    if len(prods) != 2:",
      "    prods = list(htype.productions)\n    if len(prods) != 2:",
      "the picture calls a narrowed repetition a repetition", "picture"),
    M("M37", "picture/render.py", "        if role is Role.AFTER:\n            out.append(f'  {node} -> {quote(hid)} [style=dashed, color=\"#6b7280\", weight=2];')",
      "        if role is Role.AFTER:\n            pass",
      "the picture does not show which tasks a wildcard comes after", "picture"),
    M("M38", "picture/words.py", "    return any(p.fragment.edges for p in prods)",
      "    return True",
      "a hole that can only become nothing is drawn as a potential edge", "picture"),
    M("M39", "picture/words.py", "    if rep is not None and (hole is None or hole.allowed is None):",
      "    if rep is not None:",
      "a narrowed hole of a repetition type is still drawn as a repetition", "picture"),
    # ---------------------------------------------------------------- ids, due holes
    M("M40", "core/plans.py", "    if htype == parent.type and count == 1:",
      "    if htype == parent.type:",
      "two holes of the parent's type in one fragment get the same id", "ids"),
    M("M41", "core/graph.py", "            if role is _AFTER:\n                if state[a] is not _DONE:\n                    undone += 1",
      "            if role is _AFTER:\n                if False:\n                    undone += 1",
      "a hole is due before the tasks it comes after are done", "due holes"),
    M("M42", "core/graph.py", "        if new is TaskState.RUNNING and task_id not in self._ready:",
      "        if False:",
      "a task may start before its predecessors are done", "due holes"),
    # ---------------------------------------------------------------- raw-diff search
    M("M44", "core/match/explain.py", "        if not any((a, b) in shapes for a in left for b in right):",
      "        if not any((a, b) in shapes for a in left[:1] for b in right[:1]):",
      "the quick refusal takes every edge to need a production edge between parameters",
      "raw diffs"),
    M("M45", "core/match/patterns.py", "    return hole.type, hole.args, hole.allowed",
      "    return hole.type, (), hole.allowed",
      "holes of one type attached to different tasks are taken as interchangeable",
      "raw diffs"),
    M("M46", "core/match/exhaustive.py", "            if z not in self._path:  # a state seen before on this plan: a detour",
      "            if z not in self._path and not idle:  # a state seen before on this plan: a detour",
      "the hole-by-hole search prunes every plan that makes holes only", "raw diffs"),
    # ---------------------------------------------------------------- constraints
    M("M47", "core/scopes.py", "                    if kind not in kinds:",
      "                    if kind not in kinds and False:",
      "'only M, N' lets any kind through", "constraints"),
    M("M48", "core/scopes.py", "                        if made > n:",
      "                        if made > n + 1:",
      "'at most n K' allows one more", "constraints"),
    M("M49", "core/scopes.py", "                if d.side != \"before\":\n                    continue\n                count = self.degree",
      "                if d.side != \"after\":\n                    continue\n                count = self.degree",
      "a task's start decides the successor counts instead of the predecessor counts",
      "constraints"),
    M("M50", "core/derivation.py", "                     if e not in before]",
      "                     if True]",
      "an edge sent again is counted again as a neighbour", "constraints"),
    M("M51", "core/scopes.py", "            if self._add(self.live, sid, -1) == 0:",
      "            if self._add(self.live, sid, -1) == -1:",
      "a scope never closes: successor counts are never decided", "constraints"),
    M("M52", "core/scopes.py", "(target is None or scope.matches(target, v, kind_of(v)))",
      "(target is None or scope.matches(target, u, kind_of(u)))",
      "'no edges into X' looks at the edge's source", "constraints"),
    # ---------------------------------------------------------------- data
    M("M53", "core/derivation.py", "        if prod.guard is not None:\n            choosing.check_guard(self, hole, htype, prod)",
      "        if False:\n            choosing.check_guard(self, hole, htype, prod)",
      "a task may expand a guarded hole against its guard", "data"),
    M("M54", "core/choosing.py", "        true = [p for p in htype.productions if held.get(p.name)]\n        if not true:\n            return",
      "        true = [p for p in htype.allowed(hole.allowed) if held.get(p.name)]\n        if not true:\n            return",
      "[else] holds when the production whose guard holds was narrowed away", "data"),
    M("M55", "core/schema.py", "and not (st == \"integer\" and tt == \"number\"):",
      "and not (st in (\"integer\", \"number\") and tt in (\"integer\", \"number\")):",
      "a float output may feed an int input", "data"),
    M("M56", "core/schema.py", "        for key in t.get(\"required\", ()):",
      "        for key in ():",
      "an object output may lack a field its input requires", "data"),
    M("M57", "core/dataflow.py", "        why = output_problem(source_kind, inp, data)",
      "        why = None",
      "an edge's output and input types are never compared", "data"),
    M("M58", "workflow/definition.py", "        validator = self.validator(kind)\n        if validator is None:",
      "        validator = None\n        if validator is None:",
      "outputs are journaled without validation", "data"),
    M("M59", "core/dataflow.py", "    return bisect.bisect_left(graph.next_of_kind(source, graph.tasks[task].kind),",
      "    return bisect.bisect_right(graph.next_of_kind(source, graph.tasks[task].kind),",
      "a map's copy is given the element after its own", "data"),
    M("M60", "core/dataflow.py", "    found.sort(key=graph.rank.__getitem__)\n    return found",
      "    return found",
      "gathered outputs come in set order, not the list's", "data"),
    # ---------------------------------------------------------------- restart (rollback)
    M("M61", "core/rollback.py", "        return owner in restart or owner not in d.graph.tasks",
      "        return owner in restart",
      "a task made by a rolled-back step keeps its steps (it never vanishes)", "restart"),
    M("M62", "core/rollback.py", "        return not d.graph.is_due(j.step.hole)",
      "        return False",
      "the orchestrator's close of a hole after a restarted task is kept", "restart"),
    # M63 (the restart's walk past holes) is M08 now: one traversal, Graph._onward_from
    M("M64", "journal/state.py", "    if e.seq in skip:\n        state.seq = e.seq\n        return state",
      "    if False:\n        state.seq = e.seq\n        return state",
      "the fold replays the steps a restart removed", "restart"),
    M("M65", "journal/state.py", "    if cached is not None and (not restarts or cached[0] >= restarts[-1].seq):",
      "    if cached is not None:",
      "a snapshot taken before a restart is used after it", "restart"),
    M("M66", "journal/state.py", "        if out and out[-1][1] == seq - 1:",
      "        if out and out[-1][1] >= seq - 2:",
      "a restart entry's ranges swallow a kept step next to removed ones", "restart"),
    M("M67", "core/rollback.py", "                return d, removed, (j.by, f\"its step at entry {j.seq} built on what the \"",
      "                removed.append(j.seq)\n                continue\n                return d, removed, (j.by, f\"its step at entry {j.seq} built on what the \"",
      "a task's step that no longer applies is dropped alone; the task stays done", "restart"),
    # ---------------------------------------------------------------- this session
    M("M68", "core/finishing.py", "    if ways is None or root in _finishing(ways):",
      "    if True:",
      "a hole that could never finish inside its scope's constraints is accepted",
      "constraints"),
    M("M69", "journal/state.py", "    if next(store.entries(run_id, STATE_KINDS, after=seq), None) is not None:",
      "    if False:",
      "status reads a run from a snapshot older than the newest entry of its state",
      "snapshots"),
    M("M70", "picture/words.py",
      "    return any(types[t].everywhere for t in reachable_types(types, roots))",
      "    return False",
      "the picture hides that a wildcard may make a hole attached everywhere", "picture"),
    # ---------------------------------------------------------------- issue 24.5: data
    M("M71", "core/schema.py", "        if t_max is not None and (s_max is None or s_max > t_max):",
      "        if t_max is not None and s_max is not None and s_max > t_max:",
      "an unbounded list fits an input bounded in length", "data"),
    M("M72", "core/schema.py", "        if t_max is not None and (s_max is None or s_max > t_max):",
      "        if t_max is not None and (s_max is None or s_max >= t_max):",
      "a list bounded as the input is refused (off by one)", "data"),
    M("M73", "core/schema.py", "        if s_min < t_min:",
      "        if s_min > t_min:",
      "a list that may be shorter than the input's least fits it", "data"),
    M("M74", "core/schema.py", "        s_required = set(s.get(\"required\", ())) | {",
      "        s_required = set(s_props) | {",
      "an optional field of the output counts as always there", "data"),
    M("M75", "core/dataflow.py", "        if inp.gather is Gather.ALL or not feeds(lu, ku, inp.name):",
      "        if inp.gather is not Gather.ONE or not feeds(lu, ku, inp.name):",
      "an Item[...] input takes a second feeder when a step adds its edge", "data"),
    M("M76", "core/dataflow.py", "                        if inp.gather is not Gather.ALL and feeds(lu, ku, inp.name):",
      "                        if inp.gather is Gather.ONE and feeds(lu, ku, inp.name):",
      "registration lets two tasks feed an Item[...] input", "data"),
    # ---------------------------------------------------------------- issue 24.5: snapshots
    M("M77", "journal/state.py", "bool(data.get(\"paused\")), dict(",
      "False, dict(",
      "a run read from a snapshot taken while it was paused is not paused", "snapshots"),
    M("M78", "journal/state.py", "dict(data.get(\"waiting\", {})))",
      "{})",
      "a run read from a snapshot forgets which tasks wait for an answer", "snapshots"),
    M("M79", "core/scopes.py", "        self.made = {(s, k): n for s, k, n in data[\"made\"]}",
      "        self.made = {}",
      "'at most n K' counts from zero again after a snapshot", "snapshots"),
    M("M80", "core/scopes.py", "        self.degree = {(t, s, k): n for t, s, k, n in data[\"degree\"]}",
      "        self.degree = {}",
      "a constrained task's neighbour counts start from zero after a snapshot", "snapshots"),
    M("M81", "core/scopes.py", "        self.closing = {s: list(ts) for s, ts in data[\"closing\"].items()}",
      "        self.closing = {s: [] for s in data[\"closing\"]}",
      "a scope read from a snapshot forgets the tasks to check when it closes",
      "snapshots"),
    M("M82", "core/graph_codec.py", "                   h.everywhere, None if h.allowed is None else sorted(h.allowed)]",
      "                   h.everywhere, None]",
      "a snapshot loses each hole's narrowing", "snapshots"),
    M("M83", "core/scopes.py", "        self.hole_scopes = {h: tuple(c) for h, c in data[\"holes\"].items()}",
      "        self.hole_scopes = {h: tuple(c)[-1:] for h, c in data[\"holes\"].items()}",
      "a hole read from a snapshot keeps only its innermost scope's constraints",
      "snapshots"),
    # ---------------------------------------------------------------- issue 24.5: controls
    M("M84", "core/rollback.py", "    busy = sorted(set(rb.restarted + rb.vanished) & running)",
      "    busy = sorted(set(rb.restarted) & running)",
      "a restart is taken although a running task would vanish", "controls"),
    M("M85", "core/rollback.py", "    rb = rollback(grammar, journal, g, [task])",
      "    rb = rollback(grammar, journal, g, [task])\n    running = running - {task}",
      "a restart of a running task itself is taken (only those after it count)",
      "controls"),
    # ---------------------------------------------------------------- issue 24.5: notation
    M("M86", "core/guards.py", "            text = f\"{_format(a, mine)} {op} {_format(b, mine + 1)}\"\n        case _:",
      "            text = f\"{_format(a, mine)} {op} {_format(b, mine)}\"\n        case _:",
      "a guard's canonical text drops the parentheses of a - (b - c)", "notation"),
    M("M87", "core/guards.py", "            text = f\"-{_format(inner, mine)}\"",
      "            text = f\"-{_format(inner)}\"",
      "a guard's canonical text writes -(a + b) as -a + b", "notation"),
    M("M88", "core/guards.py", "        return \"'\" + value.replace(\"\\\\\", \"\\\\\\\\\").replace(\"'\", \"\\\\'\") + \"'\"",
      "        return \"'\" + value.replace(\"'\", \"\\\\'\") + \"'\"",
      "a guard's string is written without escaping its backslashes", "notation"),
    M("M89", "core/guards.py", "            text = f\"{_format(inner, 9)}.{name}\"",
      "            text = f\"{_format(inner)}.{name}\"",
      "a guard's canonical text writes (a + b).f as a + b.f", "notation"),
    M("M90", "core/formatting.py", "        return name if kind is None or kind == name else f\"{name}:{kind}\"",
      "        return name",
      "a fragment's text leaves out the kinds of its tasks", "notation"),
    M("M91", "core/constraints.py", "        bound = \"\" if self.bound == \"exactly\" else f\"{self.bound} \"",
      "        bound = \"\"",
      "'each D has at most 2 P before' is written 'each D has 2 P before'", "notation"),
    M("M92", "core/formatting.py", "            and (htype.open or not _roles_inferred(htype)):",
      "            and htype.open:",
      "a closed type whose roles its edges do not say is written without ';'", "notation"),
    M("M93", "core/notation.py", "        code = raw[:_comment_at(raw)]",
      "        code = raw.split(\"#\", 1)[0]",
      "a '#' in a guard's string starts a comment", "notation"),
    M("M94", "core/formatting.py", "        if p.name == htype.default:\n            marks.append(\"default\")",
      "        if False:\n            marks.append(\"default\")",
      "a type's text does not mark its default production", "notation"),
    M("M95", "core/constraints.py", "            return f\"no edges from {self.source}\"",
      "            return f\"no edges into {self.source}\"",
      "'no edges from X' is written 'no edges into X'", "notation"),
    # ---------------------------------------------------------------- issue 24.5: the picture
    M("M96", "picture/render.py", "    shown = [*htype.allowed(hole.allowed), *removed]",
      "    shown = [*htype.productions, *removed]",
      "the picture draws a production narrowed away as an alternative", "picture"),
    M("M97", "picture/words.py", "    for i, p in enumerate(htype.allowed(hole.allowed if hole else None)):",
      "    for i, p in enumerate(htype.allowed()):",
      "a guarded hole's label lists a production narrowed away for the hole", "picture"),
    M("M98", "picture/words.py", "    roots = [h.type for p in htype.allowed(hole.allowed if hole else None)",
      "    roots = [h.type for p in htype.allowed()",
      "'anything anywhere' is drawn through a production narrowed away for the hole",
      "picture"),
    M("M99", "picture/words.py",
      "    return any(types[t].everywhere for t in reachable_types(types, roots))",
      "    return any(types[t].everywhere for t in roots)",
      "'anything anywhere' is drawn only for a hole attached everywhere one step away",
      "picture"),
    M("M100", "core/wellformed.py", "        for p in types[name].allowed():\n            stack.extend(",
      "        for p in types[name].productions:\n            stack.extend(",
      "the types a hole can reach go through productions narrowed away", "picture"),
    # ---------------------------------------------------------------- issue 24.5: found only by
    # a hand-written example before (the random runs reach each case now)
    M("M101", "core/narrowing.py", "    left = frozenset(p.name for p in htype.allowed(hole.allowed)) - frozenset(step.remove)",
      "    left = frozenset(p.name for p in htype.allowed()) - frozenset(step.remove)",
      "a hole narrowed a second time gets back what the first narrowing took", "narrowing"),
    M("M102", "core/narrowing.py", "    if not _can_finish(htype, left, productive_types(d.grammar.types)):",
      "    if not _can_finish(htype, frozenset(p.name for p in htype.productions) - frozenset(step.remove), productive_types(d.grammar.types)):",
      "whether a hole narrowed again can finish is judged without what it lost before",
      "narrowing"),
    M("M103", "core/derivation.py", "        if htype.default is None or htype.default not in allowed:",
      "        if htype.default is not None and htype.default not in allowed:",
      "a due hole with no default is expanded with none (and broken for another reason)",
      "due holes"),
    M("M104", "core/derivation.py", "        allowed = {p.name for p in htype.allowed(hole.allowed)}\n        if htype.default",
      "        allowed = {p.name for p in htype.allowed()}\n        if htype.default",
      "a due hole is given its default although the hole was narrowed to others",
      "due holes"),
    M("M105", "core/choosing.py", "        return sum(1 for w in g.pred[bound[right]] if g.tasks[w].kind == left)",
      "        return sum(1 for w in g.succ[bound[right]] if g.tasks[w].kind == left)",
      "count(K -> b) counts the tasks b runs right before, not after", "data"),
    M("M106", "core/choosing.py", "            return len(g.next_of_kind(bound[left], right))",
      "            return len(g.succ[bound[left]])",
      "count(a -> K) counts every task a runs right before, of any kind", "data"),
    M("M107", "core/graph.py", "        if hit is not None and hit[0] == changes:",
      "        if hit is not None:",
      "the tasks of a kind after a task are read from a cache an edge made stale", "data"),
    M("M108", "core/match/explain.py", "        out.append(child_hole_id(parent, h.type, seen[h.type], counts[h.type]))",
      "        out.append(child_hole_id(parent, h.type, 1, counts[h.type]))",
      "a refusal names a hole the change would make by the id of its first sibling",
      "raw diffs"),
    M("M109", "journal/store.py", "                    and current.alive():",
      "                    and not current.alive():",
      "a live owner's lease is taken over (and a dead one's kept)", "lease"),
    M("M110", "journal/transactions.py", "        batch.begun = True\n        self._fence(batch.run)",
      "        batch.begun = True",
      "a group-commit batch is not fenced: a deposed orchestrator's batch is written",
      "lease"),
    M("M111", "journal/transactions.py", "            with translated(self.path, JournalWriteError), self.own():\n                self._fence(run_id)",
      "            with translated(self.path, JournalWriteError), self.own():\n                pass",
      "a single write is not fenced: a deposed orchestrator writes on", "lease"),
    M("M112", "journal/lease.py", "        return now is not None and (not self.started or now == self.started)",
      "        return now is not None",
      "an owner whose pid another process took counts as alive", "lease"),
    M("M113", "journal/lease.py", "            \"UPDATE leases SET heartbeat=? WHERE run=? AND owner=?\",\n            (time.time(), run_id, holder.token)).rowcount",
      "            \"UPDATE leases SET heartbeat=? WHERE run=?\",\n            (time.time(), run_id)).rowcount",
      "a deposed orchestrator's heartbeat refreshes its successor's lease", "lease"),
    M("M114", "core/match/search.py", "                todo.extend(h for h in move.new_holes if task in h.args)",
      "                pass",
      "the forward check forgets what the holes a move makes could make: a state on the way "
      "to a plan is judged doomed", "raw diffs"),
    M("M115", "core/match/agenda.py", "        woken = {i for i in blocked if self._of_kinds(i, free)} if free else set()",
      "        woken: set[int] = set()",
      "a task no edge joins to its hole's arguments is never woken by a new hole that may "
      "make it anywhere", "raw diffs"),
    M("M116", "core/upgrade.py", "            went, refused = len(journal), _kind_changed(now, outcome.graph, mapping)",
      "            went, refused = len(journal), None",
      "an upgrade lets a task that ran change kind", "upgrade"),
    M("M117", "core/upgrade.py", "    return _due_unclosable(d)",
      "    return None",
      "an upgrade leaves a hole due with nothing to close it, and calls it safe", "upgrade"),
    M("M118", "core/upgrade.py", "            applied = d.apply(step)",
      "            applied = d.apply(step) if type(step).__name__ != 'SetState' else None",
      "an upgrade re-derives the productions but not the order tasks ran in", "upgrade"),
    M("M119", "core/upgrade.py", "    if (was.fragment, was.guard, was.condition) == (now.fragment, now.guard, now.condition):\n        return None",
      "    return None",
      "a production changed under the run is not named (words only: a property cannot "
      "tell)", "upgrade", equivalent="it changes only the words of a refusal, which no "
      "property compares; tests/test_upgrade.py checks them by hand"),
]


def apply(mutant: Mutant, package: Path) -> None:
    path = package / mutant.file
    text = path.read_text()
    count = text.count(mutant.original)
    if count != 1:
        raise ValueError(f"{mutant.id}: the snippet occurs {count} times in {mutant.file}")
    path.write_text(text.replace(mutant.original, mutant.mutated))


def check_snippets() -> list[str]:
    """Mutants whose snippet is no longer in the source exactly once."""
    problems = []
    for m in MUTANTS:
        count = (ROOT / "grammarflow" / m.file).read_text().count(m.original)
        if count != 1:
            problems.append(f"{m.id} ({m.file}): snippet found {count} time(s)")
    return problems


@dataclass
class Result:
    mutant: Mutant
    killed: bool
    by: str
    seconds: float


#: The control: no bug planted. Every property must pass on it, or a "kill" would be the
#: properties failing on their own (each mutant's first failure counts).
CONTROL = Mutant("M00", "", "", "", "no bug planted (the control)", "control")


def run_one(mutant: Mutant, profile: str) -> Result:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.id}-") as tmp:
        package = Path(tmp) / "grammarflow"
        shutil.copytree(ROOT / "grammarflow", package,
                        ignore=shutil.ignore_patterns("__pycache__"))
        if mutant is not CONTROL:
            apply(mutant, package)
        env = {**os.environ, "PYTHONPATH": tmp, "GRAMMARFLOW_PROPERTIES_ONLY": "1",
               "HYPOTHESIS_PROFILE": profile, "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONHASHSEED": "0"}  # set iteration order, so a run is repeatable
        # cwd: the scratch directory, so Hypothesis's example database (.hypothesis/)
        # starts empty for every mutant and no failure found for one replays in another.
        # A mutant can make a property loop forever (say, finishing a hole whose type
        # has no way to finish). pytest-timeout's thread method then ends the whole
        # run (Hypothesis would catch the signal method's exception and shrink, hanging
        # again), and a hung run counts as caught.
        try:
            proc = subprocess.run(
                [sys.executable, "-P", "-m", "pytest", str(ROOT / "tests"), "--rootdir",
                 str(ROOT), "-c", str(ROOT / "pyproject.toml"), "-x", "-p", "no:cacheprovider",
                 "-rfE", "--tb=no", "-o", "addopts=", "-o", f"timeout={HUNG_AFTER}",
                 "-o", "timeout_method=thread"],
                cwd=tmp, env=env, capture_output=True, text=True, timeout=HUNG_AFTER * 6)
        except subprocess.TimeoutExpired:
            return Result(mutant, True, "(a property hung)", time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    if proc.returncode == 1 and "+ Timeout +" in proc.stdout + proc.stderr:
        frames = re.findall(r'tests/(test_\w+\.py)", line \d+, in (test_\w+)',
                            proc.stdout + proc.stderr)
        where = "::".join(frames[0]) if frames else "a property"
        return Result(mutant, True, f"{where} (hung; stopped after {HUNG_AFTER} s)", seconds)
    collected = re.search(r"^ERROR \S*tests/(test_\w+\.py)", proc.stdout, re.M)
    if proc.returncode == 2 and "error during collection" in proc.stdout and collected:
        # an @example a module builds at import (a run replayed there) failed under the
        # mutant: that property caught it before it could even run
        return Result(mutant, True, f"{collected.group(1)} (collecting its @example)", seconds)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{mutant.id}: pytest could not run the properties "
                           f"(exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    if f"grammarflow from {package}" not in proc.stdout:
        raise RuntimeError(f"{mutant.id}: the properties did not run against the mutated copy")
    failed = [f.split("tests/", 1)[-1] for f in re.findall(r"^FAILED (\S+)", proc.stdout, re.M)]
    return Result(mutant, proc.returncode == 1, failed[0] if failed else "", seconds)


def report(results: list[Result], profile: str) -> str:
    killed = [r for r in results if r.killed]
    survivors = [r for r in results if not r.killed]
    equivalent = [r for r in survivors if r.mutant.equivalent]
    real = len(results) - len(equivalent)
    lines = [
        "# Mutation report: which planted checker bugs the properties alone catch",
        "",
        f"Profile `{profile}`; only the Hypothesis properties of tests/ run "
        "(`GRAMMARFLOW_PROPERTIES_ONLY=1`); made by `bench/mutants.py`.",
        "",
        f"**{len(killed)} of {len(results)} killed** ({100 * len(killed) / len(results):.0f}%); "
        f"{len(equivalent)} equivalent (cannot be caught, reason below); "
        f"{len(killed)} of {real} non-equivalent killed "
        f"({100 * len(killed) / max(real, 1):.0f}%).",
        "",
        "| mutant | where | the bug | category | caught by | s |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r.mutant
        by = r.by.split("::")[-1] if r.killed else ("equivalent" if m.equivalent else "**SURVIVED**")
        lines.append(f"| {m.id} | {m.file} | {m.what} | {m.category} | {by} | {r.seconds:.0f} |")
    if survivors:
        lines += ["", "## Survivors", ""]
        for r in survivors:
            why = r.mutant.equivalent or "not caught: a gap in the properties"
            lines.append(f"- {r.mutant.id} ({r.mutant.what}): {why}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="mutant ids to run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--profile", default="mutants",
                        help="Hypothesis profile (tests/conftest.py); 'mutants' is the CI "
                        "budget without shrinking")
    parser.add_argument("--report", type=Path, help="write the report (markdown) here")
    parser.add_argument("--log", type=Path, help="append each result here as a JSON line; "
                        "mutants it already holds are not run again (a long run resumes)")
    args = parser.parse_args()
    problems = check_snippets()
    if problems:
        sys.exit("mutants out of date with the source:\n  " + "\n  ".join(problems))
    chosen = [m for m in MUTANTS if not args.only or m.id in args.only]
    done = read_log(args.log, chosen) if args.log else {}
    t0 = time.perf_counter()
    if any(m.id not in done for m in chosen):
        control = run_one(CONTROL, args.profile)
        if control.killed:
            sys.exit(f"the properties fail with no bug planted ({control.by}): fix that "
                     "first, or every mutant would count as caught by it")
        print(f"control: every property passes with no bug planted ({control.seconds:.0f} s)",
              flush=True)
    results = [done[m.id] for m in chosen if m.id in done]
    with ThreadPoolExecutor(args.jobs) as pool:
        for r in pool.map(lambda m: run_one(m, args.profile),
                          [m for m in chosen if m.id not in done]):
            mark = "killed  " if r.killed else "SURVIVED"
            print(f"{r.mutant.id} {mark} {r.seconds:5.1f}s  {r.mutant.what}  {r.by}", flush=True)
            results.append(r)
            if args.log:
                with args.log.open("a") as log:
                    log.write(json.dumps({"id": r.mutant.id, "killed": r.killed, "by": r.by,
                                          "seconds": round(r.seconds, 1)}) + "\n")
    results.sort(key=lambda r: chosen.index(r.mutant))
    text = report(results, args.profile)
    print(f"\n{text.splitlines()[4]}\n({time.perf_counter() - t0:.0f} s in all)")
    if args.report:
        args.report.write_text(text)


def read_log(path: Path, chosen: list[Mutant]) -> dict[str, Result]:
    """Results already logged, for the mutants chosen."""
    by_id = {m.id: m for m in chosen}
    found: dict[str, Result] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["id"] in by_id:
                found[row["id"]] = Result(by_id[row["id"]], row["killed"], row["by"],
                                          row["seconds"])
    return found


if __name__ == "__main__":
    main()
