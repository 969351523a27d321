"""Random grammars for the project's property tests (users get grammarflow.testing).

Every generated grammar is well formed by construction: fragments are laid out on a
line (after-parameters, new tasks, before-parameters), edges and holes only go
forward along it, and each type's first production has no holes (so it can finish).
If registration refuses one, the generator or the checker is wrong: the test fails.
"""

from __future__ import annotations

from hypothesis import strategies as st

from grammarflow import Fragment, Grammar, HoleSpec, HoleType, Role, TaskSpec, hole_type
from grammarflow.grammar import open_type

KINDS = ("A", "B", "C")


@st.composite
def fragments(draw: st.DrawFn, after: list[str], before: list[str],
              sigs: dict[str, tuple[int, int]], allow_holes: bool,
              prefix: str = "N", max_tasks: int = 3) -> Fragment:
    n = draw(st.integers(0, max_tasks))
    new = [f"{prefix}{i}" for i in range(n)]
    tasks = tuple(TaskSpec(name, draw(st.sampled_from(KINDS))) for name in new)
    line = after + new + before
    edges = []
    for i, u in enumerate(line):
        if u in before:
            continue
        for v in line[i + 1:]:
            if v not in after and draw(st.integers(0, 3)) == 0:
                edges.append((u, v))
    holes = []
    if allow_holes and sigs:
        for _ in range(draw(st.integers(0, 2))):
            htype = draw(st.sampled_from(sorted(sigs)))
            n_after, n_before = sigs[htype]
            split = draw(st.integers(len(after), len(after) + n))
            left = [x for x in line[:split] if x not in before]
            right = [x for x in line[split:] if x not in after]
            if (n_after and not left) or (n_before and not right):
                continue
            args = [draw(st.sampled_from(left)) for _ in range(n_after)]
            args += [draw(st.sampled_from(right)) for _ in range(n_before)]
            holes.append(HoleSpec(htype, tuple(args)))
    return Fragment(tasks, tuple(holes), tuple(edges))


@st.composite
def start_graphs(draw: st.DrawFn, sigs: dict[str, tuple[int, int]]) -> Fragment:
    """1-3 tasks on a line, edges forward, and 1-2 holes (each after at least one task)."""
    names = [f"s{i}" for i in range(draw(st.integers(1, 3)))]
    tasks = tuple(TaskSpec(n, draw(st.sampled_from(KINDS))) for n in names)
    edges = tuple((u, v) for i, u in enumerate(names) for v in names[i + 1:]
                  if draw(st.integers(0, 2)) == 0)
    holes = []
    for _ in range(draw(st.integers(1, 2))):
        htype = draw(st.sampled_from(sorted(sigs)))
        n_after, n_before = sigs[htype]
        split = draw(st.integers(1, len(names)))
        left, right = names[:split], names[split:]
        if n_before and not right:
            continue
        args = [draw(st.sampled_from(left)) for _ in range(n_after)]
        args += [draw(st.sampled_from(right)) for _ in range(n_before)]
        holes.append(HoleSpec(htype, tuple(args)))
    return Fragment(tasks, tuple(holes), edges)


@st.composite
def grammars(draw: st.DrawFn, allow_open: bool = True) -> Grammar:
    sigs: dict[str, tuple[int, int]] = {}
    for i in range(draw(st.integers(1, 3))):
        n_after, n_before = draw(st.integers(1 if i == 0 else 0, 2)), draw(st.integers(0, 2))
        sigs[f"T{i}"] = (max(n_after, 0 if n_before else 1), n_before)
    child_sigs = dict(sigs)
    types: dict[str, HoleType] = {}
    if allow_open and draw(st.booleans()):
        types["Dyn"] = open_type("Dyn", ("a0", "b0"), (Role.AFTER, Role.BEFORE))
        child_sigs["Dyn"] = (1, 1)
    if draw(st.booleans()):  # a potential edge: P(u, v) ::= u -> v | nothing
        types["P"] = hole_type("P", ("a0", "b0"), (Role.AFTER, Role.BEFORE),
                               [Fragment(edges=(("a0", "b0"),)), Fragment()],
                               default=draw(st.sampled_from([None, "2"])))
        child_sigs["P"] = (1, 1)
    for name, (n_after, n_before) in sigs.items():
        after = [f"a{i}" for i in range(n_after)]
        before = [f"b{i}" for i in range(n_before)]
        count = draw(st.integers(1, 3))
        frags = [draw(fragments(after, before, child_sigs, allow_holes=k > 0))
                 for k in range(count)]
        # The first production has no holes: as a default it always ends.
        default = draw(st.sampled_from([None, "1"]))
        types[name] = hole_type(name, after + before,
                                [Role.AFTER] * n_after + [Role.BEFORE] * n_before,
                                frags, default=default)
    start = draw(start_graphs({n: s for n, s in child_sigs.items() if s[0] >= 1}))
    if allow_open and start.tasks and draw(st.integers(0, 3)) == 0:
        types["Any"] = open_type("Any", everywhere=True)
        start = Fragment(start.tasks, (*start.holes, HoleSpec("Any", ("*",))), start.edges)
    return Grammar(start, types)
