"""Fully dynamic: only the first task is known; tasks create nodes and edges as they run.

The grammar promises nothing beyond "anything may be added, before tasks that have not
started": one open hole attached everywhere, drawn as a floating ∗.

    start ─┬─> fetch_a ──> parse_a ──> report
           └─> fetch_b ──> parse_b ──┘    (report, made by parse_b, also waits on parse_a)

    grammarflow run examples/dynamic.py
"""

from grammarflow import define

grammar = define("start, Any(*)", "Any(*) ::= *")


def _add(tasks: dict[str, str], edges: list[tuple[str, str]]) -> dict[str, str]:
    from grammarflow import task

    return task.add(tasks=tasks, edges=edges)


def start() -> None:  # level 1: two fetches
    _add({"fetch_a": "fetch_a", "fetch_b": "fetch_b"},
         [("start", "fetch_a"), ("start", "fetch_b")])


def fetch_a() -> None:  # level 2
    _add({"parse_a": "parse_a"}, [("Any.1/fetch_a", "parse_a")])


def fetch_b() -> None:
    _add({"parse_b": "parse_b"}, [("Any.1/fetch_b", "parse_b")])


def parse_a() -> None:
    print("parsed a")


def parse_b() -> None:  # level 3: an edge from a node another task created
    _add({"report": "report"}, [("Any.1/parse_b", "report"), ("Any.1/parse_a", "report")])


def report() -> None:
    print("report on a and b")
