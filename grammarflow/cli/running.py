"""`run`, `resume` and `runs`: runs started and continued by an orchestrator, listed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from grammarflow.cli.app import (
    EXIT_USAGE,
    RUN_ID,
    _emit,
    _error,
    _errors_reported,
    dask_option,
    db_option,
    engine_option,
    json_option,
    main,
    zygote_option,
)
from grammarflow.cli.viewing import _emit_view, _print_status

__all__ = ["resume_cmd", "run_cmd", "runs_cmd"]


@main.command("run")
@click.argument("workflow", type=click.Path(dir_okay=False))
@db_option
@click.option("--max-parallel", type=click.IntRange(min=1), default=None,
              help="How many tasks may run at once [default: the workflow file's "
                   "max_parallel, else 1].")
@click.option("--durable", is_flag=True,
              help="fsync every journal commit (survives power loss, ~0.35 ms a commit).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A run parameter the workflow file declares (params = {...}), read as "
                   "its default's type; repeat for more.")
@zygote_option
@engine_option
@dask_option
@json_option
def run_cmd(workflow: str, db: str, max_parallel: int | None, durable: bool,
            params: tuple[str, ...], zygote: bool, engine: str | None, dask: str | None,
            as_json: bool) -> None:
    """Run WORKFLOW.py to the end, enforcing its grammar; journal everything in --db."""
    from grammarflow.journal.store import Store
    from grammarflow.runtime import Orchestrator
    from grammarflow.workflow.checking import load_workflow
    from grammarflow.workflow.parameters import parse_assignment

    with _errors_reported(as_json):
        wf = load_workflow(workflow)
        if params:
            wf = wf.with_params(dict(parse_assignment(p) for p in params))
        store = Store(db, durable=durable)
        options = _options(db, max_parallel, zygote, engine, dask)
        orchestrator = Orchestrator.start(store, wf, options, _reporter(as_json))
    if not as_json:
        click.echo(f"run {orchestrator.run_id} of {workflow} (journal: {db})", err=True)
    _finish(store, orchestrator, as_json)


@main.command("resume")
@click.argument("run_id", type=RUN_ID)
@db_option
@click.option("--max-parallel", type=click.IntRange(min=1), default=None,
              help="How many tasks may run at once [default: the workflow file's "
                   "max_parallel, else 1].")
@click.option("--durable", is_flag=True, help="fsync every journal commit.")
@zygote_option
@engine_option
@dask_option
@json_option
def resume_cmd(run_id: int, db: str, max_parallel: int | None, durable: bool, zygote: bool,
               engine: str | None, dask: str | None, as_json: bool) -> None:
    """Continue RUN_ID from its journal (after a crash, kill or interruption).

    Tasks that were running when the orchestrator stopped run again (at least once).
    """
    from grammarflow.journal.store import Store
    from grammarflow.runtime import Orchestrator

    with _errors_reported(as_json):
        store = Store.existing(db, durable=durable)
        options = _options(db, max_parallel, zygote, engine, dask)
        orchestrator = Orchestrator.resume(store, run_id, options, _reporter(as_json))
    _finish(store, orchestrator, as_json)


def _options(db: str, max_parallel: int | None, zygote: bool, engine: str | None,
             dask: str | None = None) -> Any:
    from grammarflow.runtime import Options

    options = Options(max_parallel=max_parallel, logs=Path(db).parent / "logs",
                      python=sys.executable, engine=engine, dask=dask)
    if not zygote:
        options.zygote = False
    return options


def _reporter(as_json: bool) -> Any:
    from grammarflow.runtime import no_report
    from grammarflow.runtime.progress import PlainProgress, reporter_for

    if as_json:
        return no_report
    return reporter_for(sys.stderr) if sys.stderr.isatty() else PlainProgress(sys.stderr)


def _finish(store: Any, orchestrator: Any, as_json: bool) -> None:
    import asyncio  # here, not at the top: `status`, `pause` and the rest need none of it

    from grammarflow.journal.lease import LeaseLost
    from grammarflow.journal.status import run_view
    from grammarflow.runtime import EXIT_JOURNAL_LOST, STATUS_EXIT, JournalLost

    try:
        status = asyncio.run(orchestrator.run())
    except JournalLost as e:
        _error(str(e), EXIT_JOURNAL_LOST, as_json, run=orchestrator.run_id)
    except LeaseLost as e:
        _error(f"{e}. This orchestrator killed its tasks and stopped.", EXIT_USAGE, as_json,
               run=orchestrator.run_id)
    with _errors_reported(as_json):
        view = run_view(store, orchestrator.run_id)
    if as_json:
        _emit_view(view)
    else:
        _print_status(view)
    sys.exit(STATUS_EXIT[status])


@main.command("runs")
@db_option
@json_option
def runs_cmd(db: str, as_json: bool) -> None:
    """List the runs in --db."""
    from grammarflow.journal.state import workflow_json_at
    from grammarflow.journal.store import Store

    with _errors_reported(as_json):
        store = Store(db, readonly=True)
        rows = store.runs()
        # the file each run is under now: the one it began with, or its newest upgrade's
        now = {r.id: workflow_json_at(store, r.id, r)["path"] for r in rows}
    if as_json:
        _emit([{"run": r.id, "status": r.status, "reason": r.reason,
                "workflow": now[r.id], "created": r.created, "updated": r.updated}
               for r in rows])
        return
    if not rows:
        click.echo("no runs yet")
    for r in rows:
        reason = f"  ({r.reason})" if r.reason else ""
        click.echo(f"{r.id:>4}  {r.status:<11} {now[r.id]}{reason}")
