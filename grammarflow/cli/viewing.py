"""`status` and `history`: a run read back, as it stands or entry by entry.

Also how a run's view prints (``_print_status``, ``_emit_view``), which `run` and
`resume` use when their run stops.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import click

from grammarflow.cli.app import (
    RUN_ID,
    _emit,
    _errors_reported,
    _write_output,
    db_option,
    json_option,
    main,
)

__all__ = [
    "LIST_UP_TO",
    "_emit_view",
    "_print_status",
    "history_cmd",
    "short_text",
    "status_cmd",
]


#: `status` lists every task of a run up to this size; beyond, the done ones are counted.
LIST_UP_TO = 200


def _emit_view(view: dict[str, Any]) -> None:
    """A run's view in its own order (the verdict first), a key a line and each task,
    edge and hole on a line of its own: readable, and written by the C encoder (with
    ``indent`` json is pure Python: 1 s for 100k tasks, this 0.1 s)."""
    def field(key: str, value: Any) -> str:
        if isinstance(value, list) and value:
            return f"  {json.dumps(key)}: [\n    " + ",\n    ".join(map(json.dumps, value)) + \
                "\n  ]"
        return f"  {json.dumps(key)}: {json.dumps(value)}"

    click.echo("{\n" + ",\n".join(field(k, v) for k, v in view.items()) + "\n}")


@main.command("status")
@click.argument("run_id", type=RUN_ID)
@db_option
@click.option("--all", "list_all", is_flag=True,
              help=f"List every task. By default a run of more than {LIST_UP_TO} tasks "
                   "lists those that are not done (failed, running, waiting, ready, "
                   "pending) and counts the done ones by kind; --json always has all.")
@json_option
def status_cmd(run_id: int, db: str, list_all: bool, as_json: bool) -> None:
    """The graph of RUN_ID as it stands: tasks with states, holes with productions."""
    from grammarflow.journal.status import run_view
    from grammarflow.journal.store import Store

    with _errors_reported(as_json):
        view = run_view(Store(db, readonly=True), run_id)
    if as_json:
        _emit_view(view)
    else:
        _print_status(view, list_all)


def _print_status(view: dict[str, Any], list_all: bool = False) -> None:
    """The verdict first (a broken run: who, why, what was tried), then the graph —
    written at once (100k tasks: one write, not 100k)."""
    click.echo("\n".join(_status_lines(view, list_all)))


def _status_lines(view: dict[str, Any], list_all: bool) -> Iterator[str]:
    from grammarflow.journal.state import Failure
    from grammarflow.journal.status import failure_lines, short

    yield view["verdict"]["line"]
    if view["refusal"] is not None:
        yield from _refusal_lines(view["refusal"])
    owner = view.get("orchestrator")
    if owner is not None:
        beat = f"heartbeat {owner['heartbeat_age']:.1f} s ago"
        yield (f"  orchestrator pid {owner['pid']} on {owner['host']}"
               + (f", {beat}" if owner["alive"] else
                  f" is gone ({beat}): `grammarflow resume {view['run']}` continues the run"))
    tasks = view["tasks"]
    if not list_all and len(tasks) > LIST_UP_TO:
        yield from _task_counts(view["run"], tasks)
        tasks = [t for t in tasks if t["state"] != "done" or t["refused"]]
    for t in tasks:
        yield _task_line(t)
        if t["state"] == "failed" and t["failure"]:
            for line in failure_lines(Failure.from_json(t["failure"])):
                yield f"             {line}"
        if t.get("inputs"):
            shown = ", ".join(f"{k} = {short(v, 40)}" for k, v in t["inputs"].items())
            yield f"             inputs: {short_text(shown, 90)}"
        if "output" in t:
            yield f"             output: {short(t['output'], 90)}"
    for h in view["holes"]:
        shown = " | ".join(p.split(" ::= ", 1)[1] for p in h["productions"]) or "*"
        yield f"  hole     {h['id']} {h['type']}({', '.join(h['args']) or '*'}) ::= {shown}"
        yield from _promise_lines(h)
    for a, b in view.get("ran_after", ())[:LIST_UP_TO]:
        yield f"  order    {b} ran after {a} (an open hole between them closed as nothing)"


def _promise_lines(hole: dict[str, Any]) -> Iterator[str]:
    """The run-time promises on a hole: each production a narrowing took from it, and
    the constraints it keeps (its own, then those kept from a hole it grew in), with
    what an ``at most`` counted so far."""
    for n in hole["narrowed"]:
        by = f"type {hole['type']}" if n["by"] == "type" else "this hole"
        yield (f"             narrowed: production {n['production']} "
               f"({n['shown'].split(' ::= ', 1)[1]}) taken from {by}")
    kept: dict[str, list[str]] = {}
    for c in hole["constraints"]:
        kept.setdefault(c["of"], []).append(
            c["shown"] + (f" ({c['made']} made)" if "made" in c else ""))
    for of, said in kept.items():
        whose = "" if of == hole["id"] else f" (kept from {of})"
        yield f"             where{whose}: {'; '.join(said)}"


def short_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _task_line(t: dict[str, Any]) -> str:
    """A task's state, and why its last attempt failed (a refused task says so instead)."""
    state = "refused" if t["refused"] else "ready" if t["ready"] else t["state"]
    line = f"  {state:<8} {t['id']} ({t['kind']})"
    if "asks" in t:
        return line + f"  asks: {t['asks']}"
    if t["attempts"] > 1:
        line += f"  attempts: {t['attempts']}"
    failure = t["failure"]
    if t["refused"]:
        return line + "  its change was refused: nothing of it is in the graph"
    if failure is None or t["state"] == "done":
        return line
    if t["state"] == "failed":
        return line + f"  attempt {failure['attempt']}: {failure['reason']}"
    return line + f"  last error: {failure['reason']}"


def _task_counts(run_id: int, tasks: list[dict[str, Any]]) -> Iterator[str]:
    """A large run's tasks counted by state, and its done ones by kind (not listed)."""
    states = Counter(t["state"] for t in tasks)
    yield f"  tasks    {len(tasks):,}: " + ", ".join(f"{n:,} {state}"
                                                    for state, n in states.most_common())
    done = Counter(t["kind"] for t in tasks if t["state"] == "done" and not t["refused"])
    if done:
        kinds = ", ".join(f"{kind} ×{n:,}" for kind, n in done.most_common(5))
        more = f" and {len(done) - 5} more kinds" if len(done) > 5 else ""
        yield (f"  done     {done.total():,} not listed: {kinds}{more} "
               f"(`grammarflow status {run_id} --all` lists every task)")


def _refusal_lines(refusal: dict[str, Any]) -> Iterator[str]:
    """The refused change, said once: why, the hole, each production tried, the message."""
    yield f"  why:     {refusal['reason']}"
    if refusal["hole"]:
        yield f"  hole:    {refusal['hole']}"
    for a in refusal["attempts"]:
        yield f"  tried    {a['production']}: {a['reason']}"
    if refusal["message"]:
        message = refusal["message"]
        yield f"  message: {message[:300]}" + (" ..." if len(message) > 300 else "")


@main.command("history")
@click.argument("run_id", type=RUN_ID)
@db_option
@click.option("--html", "html", type=click.Path(dir_okay=False),
              help="Write a self-contained page that steps through the run's pictures.")
@json_option
def history_cmd(run_id: int, db: str, html: str | None, as_json: bool) -> None:
    """The journal of RUN_ID, one entry a line (or, with --html, as pictures)."""
    from grammarflow.journal.status import describe, when
    from grammarflow.journal.store import Store

    with _errors_reported(as_json):
        store = Store(db, readonly=True)
        store.run(run_id)
        if html is None:
            entries = list(store.entries(run_id))
        else:
            from grammarflow.picture.page import history_page

            page = history_page(store, run_id)
    if html is not None:
        _write_output(html, page.text.encode(), as_json)
        if as_json:
            _emit({"output": html, "pictures": page.pictures, "broken": page.broken})
        else:
            click.echo(f"wrote {html}: {page.pictures} picture(s), one per accepted change"
                       + (", then the refusal" if page.broken else ""))
        return
    if as_json:
        _emit([{"seq": x.seq, "at": x.at, "kind": x.kind, "data": x.data} for x in entries])
        return
    for x in entries:
        click.echo(f"{x.seq:>5} {when(x.at)}  {describe(x)}")
