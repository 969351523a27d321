"""`import wfformat`, `conform` and `export`: other tools' workflows in, checked
against ours, and our runs out."""

from __future__ import annotations

import time
from pathlib import Path

import click

from grammarflow.cli.app import (
    EXIT_BROKEN_PROMISE,
    RUN_ID,
    _emit,
    _errors_reported,
    db_option,
    json_option,
    main,
)

__all__ = ["conform_cmd", "export_cmd", "import_group", "wfformat_cmd"]


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


@main.command("export")
@click.argument("run_id", type=RUN_ID)
@click.option("--wfformat", "out", required=True, type=click.Path(dir_okay=False),
              help="Write the run as a WfCommons/WfFormat instance to this file.")
@db_option
@json_option
def export_cmd(run_id: int, out: str, db: str, as_json: bool) -> None:
    """Write RUN_ID, a finished run, as a WfCommons/WfFormat instance: its tasks (kind as
    name) with parents and children, and what each attempt took — for the WfCommons
    tools (analysis, simulators) to read."""
    import json

    from grammarflow.formats.wfformat import export_run
    from grammarflow.journal.store import Store

    with _errors_reported(as_json):
        data = export_run(Store(db, readonly=True), run_id)
    Path(out).write_text(json.dumps(data, indent=1))
    tasks = len(data["workflow"]["specification"]["tasks"])
    if as_json:
        _emit({"run": run_id, "output": out, "tasks": tasks})
    else:
        click.echo(f"wrote {out}: run {run_id} as a WfFormat {data['schemaVersion']} "
                   f"instance ({tasks} tasks)")
