"""Fully dynamic: only the first task is known; tasks create nodes and edges as they run.

The grammar promises nothing beyond "anything may be added, before tasks that have not
started": one open hole attached everywhere, drawn as a floating ∗.

    start ─┬─> fetch_a ──> parse_a ──> report
           └─> fetch_b ──> parse_b ──┘    (report, made by parse_b, also waits on parse_a)

No task spells or splits an id: each names itself by its context (`ctx.task`), finds
a task that another task made with `task.find`, and hands the ids it learnt to the
task it makes, in that task's attrs. `find` sees the tasks of finished tasks only: with
`--max-parallel`, fetch_a may not have finished when parse_b looks, and the report then
waits on parse_b alone.

    grammarflow run examples/dynamic.py
"""

from grammarflow import define

grammar = define("start, Any(*)", "Any(*) ::= *")


def start() -> None:  # level 1: two fetches
    from grammarflow import task

    me = task.context().task
    task.add(tasks={"fetch_a": "fetch_a", "fetch_b": "fetch_b"},
             edges=[(me, "fetch_a"), (me, "fetch_b")])


def fetch_a() -> None:  # level 2: each fetch makes its parse, right after itself
    _parse_after_me("parse_a")


def fetch_b() -> None:
    _parse_after_me("parse_b")


def _parse_after_me(kind: str) -> None:
    from grammarflow import task

    me = task.context().task
    task.add(tasks={kind: kind}, edges=[(me, kind)], attrs={kind: {"source": me}})


def parse_a() -> None:
    _parse()


def parse_b() -> None:  # level 3: an edge from a task another task made
    from grammarflow import task

    _parse()
    inputs = [*task.find(kind="parse_a"), task.context().task]  # parse_a: fetch_a's
    task.add(tasks={"report": "report"}, edges=[(i, "report") for i in inputs],
             attrs={"report": {"inputs": inputs}})


def _parse() -> None:
    from grammarflow import task

    ctx = task.context()
    print(f"{ctx.task}: parsing what {ctx.attrs['source']} fetched")


def report() -> None:
    from grammarflow import task

    ctx = task.context()
    assert set(ctx.after) == set(ctx.attrs["inputs"])  # the tasks it runs right after
    print(f"report on {', '.join(ctx.after)}")
