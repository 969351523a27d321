"""`import wfformat` and `conform`: other tools' workflows in, and checked against ours."""

from __future__ import annotations

import time
from pathlib import Path

import click

from grammarflow.cli.app import (
    EXIT_BROKEN_PROMISE,
    _emit,
    _errors_reported,
    json_option,
    main,
)

__all__ = ["conform_cmd", "import_group", "wfformat_cmd"]


@main.group("import")
def import_group() -> None:
    """Another tool's workflow as a grammarflow workflow file."""


@import_group.command("wfformat")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="The workflow file to write (default: SOURCE's name, as .py, here); "
                   "its shape goes beside it as .shape.json.")
@json_option
def wfformat_cmd(source: str, output: str | None, as_json: bool) -> None:
    """Write SOURCE, a WfCommons/WfFormat instance (JSON, or gzipped), as a static
    workflow file: its tasks and edges as the start graph, a function per kind that
    sleeps each task's recorded runtime times $GRAMMARFLOW_WFFORMAT_SCALE (default 0).
    Then `grammarflow run OUT.py` runs it."""
    from grammarflow.formats.wfformat import import_wfformat

    name = Path(source).name.removesuffix(".gz").removesuffix(".json")
    out = Path(output) if output else Path(f"{name.replace('-', '_').replace('.', '_')}.py")
    t0 = time.perf_counter()
    with _errors_reported(as_json):
        done = import_wfformat(Path(source), out)
    took = time.perf_counter() - t0
    if as_json:
        _emit({"workflow": str(done.workflow), "shape": str(done.shape), "tasks": done.tasks,
               "edges": done.edges, "kinds": done.kinds, "seconds": took})
    else:
        click.echo(f"wrote {done.workflow} ({done.tasks} tasks of {done.kinds} kinds, "
                   f"{done.edges} edges; the shape in {done.shape}) in {took:.2f} s; "
                   f"`grammarflow run {done.workflow}` runs it")


@main.command("conform")
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.argument("trace", type=click.Path(dir_okay=False))
@json_option
def conform_cmd(workflow: str, trace: str, as_json: bool) -> None:
    """Does TRACE keep WORKFLOW's promises? TRACE, a recorded WfCommons/WfFormat
    instance, is checked whole against WORKFLOW's grammar: is its graph one of the
    finished graphs the grammar allows, whatever the order of its tasks in the file?
    Exit 0 if it is; 3 if not, naming what no production explains and the productions
    tried."""
    import sys

    from grammarflow.formats.conform import conform
    from grammarflow.formats.wfformat import read_instance
    from grammarflow.workflow.reading import load_grammar

    with _errors_reported(as_json):
        verdict = conform(load_grammar(workflow), read_instance(Path(trace)))
    if as_json:
        _emit({"workflow": workflow, "trace": trace, **verdict.to_json()})
    elif verdict.conforms:
        click.echo(f"{trace} conforms to {workflow}: its graph is one the grammar allows "
                   f"(decided in {verdict.seconds:.2f} s)")
    else:
        click.echo(f"{trace} does not conform to {workflow}: {verdict.reason}")
        for tried in verdict.tried[:10]:
            click.echo(f"  tried {tried}")
        if len(verdict.tried) > 10:
            click.echo(f"  ... and {len(verdict.tried) - 10} more production(s) tried")
    sys.exit(0 if verdict.conforms else EXIT_BROKEN_PROMISE)
