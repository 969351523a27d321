"""`analyze`: what a workflow (or a run, from where it stands) allows, before it runs."""

from __future__ import annotations

import click

from grammarflow.cli.app import (
    _emit,
    _errors_reported,
    db_option,
    is_workflow_file,
    json_option,
    main,
)

__all__ = ["analyze_cmd", "said"]


@main.command("analyze")
@click.argument("target")
@db_option
@json_option
def analyze_cmd(target: str, db: str, as_json: bool) -> None:
    """What TARGET allows, derived from its grammar, no sampling: the fewest and most
    tasks of a finished run (or unbounded, and which recursive hole types make it so),
    the longest chain of tasks each after the one before, the kinds that can ever run
    and how many of each, those that never can, productions
    no run can use, and holes that can fall due with no default (the run breaks there).
    TARGET: a workflow file, or a run id (what is still possible from where it stands)."""
    from grammarflow.core.analysis import analyze, analyze_graph

    is_workflow = is_workflow_file(target, as_json)
    with _errors_reported(as_json):
        if is_workflow:
            from grammarflow.workflow.reading import load_grammar

            a = analyze(load_grammar(target))
            where = f"{target}: every finished run"
        else:
            from grammarflow.journal.state import fold_run
            from grammarflow.journal.store import Store

            state = fold_run(Store(db, readonly=True), int(target))
            a = analyze_graph(state.d.grammar, state.d.graph)
            where = f"run {target}: every way it can still finish"
    if as_json:
        _emit({"target": target, **a.to_json()})
        return
    for line in said(where, a):
        click.echo(line)


def said(where: str, a: object) -> list[str]:
    """The analysis in lines, as `analyze` prints it."""
    from grammarflow.core.analysis import ANY_KIND, Analysis

    assert isinstance(a, Analysis)
    lines = [where]
    if not a.finishable:
        lines.append("  it cannot finish: some hole can never be closed")
    grow = f" (unbounded, through {', '.join(a.unbounded_by)})" if a.unbounded_by else ""
    lines.append(f"  tasks:    {a.tasks}{grow}")
    chain = "unbounded" if a.chain is None else f"{a.chain} task(s)"
    lines.append(f"  longest chain: {chain} (each after the one before)")
    width = max((len(k) for k in a.kinds), default=0)
    for kind, bounds in sorted(a.kinds.items(), key=lambda kb: (kb[0] == ANY_KIND, kb[0])):
        name = "any kind" if kind == ANY_KIND else kind
        lines.append(f"  kind      {name:<{max(width, 8)}} {bounds}")
    if a.never:
        lines.append(f"  never:    {', '.join(a.never)} (named, but no run can have one)")
    for type_name, production in a.unused:
        lines.append(f"  unused:   production {production} of {type_name} (no run can "
                     "take it)")
    for type_name in a.stuck:
        lines.append(f"  may stick: a hole of {type_name} can fall due with no default "
                     "(unless a task expands it, the run breaks there)")
    return lines
