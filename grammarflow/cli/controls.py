"""`pause`, `unpause`, `answer` and `restart`: requests to a run.

Taken by the run's orchestrator if it runs, else journaled at once.
"""

from __future__ import annotations

import click

from grammarflow.cli.app import RUN_ID, _emit, _errors_reported, db_option, json_option, main

__all__ = ["answer_cmd", "pause_cmd", "restart_cmd", "unpause_cmd"]


@main.command("pause")
@click.argument("run_id", type=RUN_ID)
@db_option
@json_option
def pause_cmd(run_id: int, db: str, as_json: bool) -> None:
    """Start no new task of RUN_ID until `unpause` (running ones finish and commit).

    Works while `grammarflow run` runs it (its orchestrator takes the request within a
    fraction of a second) and on a run nobody runs (journaled now; `resume` starts no
    task until unpaused)."""
    _set_paused(run_id, db, as_json, paused=True)


@main.command("unpause")
@click.argument("run_id", type=RUN_ID)
@db_option
@json_option
def unpause_cmd(run_id: int, db: str, as_json: bool) -> None:
    """Let RUN_ID start tasks again after `pause`."""
    _set_paused(run_id, db, as_json, paused=False)


@main.command("answer")
@click.argument("run_id", type=RUN_ID)
@click.argument("task")
@click.argument("value")
@click.option("--expand", metavar="[HOLE=]PRODUCTION",
              help="Also choose a production for a hole after the task (the one hole "
              "after it, or HOLE).")
@db_option
@json_option
def answer_cmd(run_id: int, task: str, value: str, expand: str | None, db: str,
               as_json: bool) -> None:
    """Answer TASK of RUN_ID, which waits for a person: VALUE (JSON: 3, true, "text",
    [1, 2]; anything else is taken as a string) is its output, checked against its
    kind's declared type. Taken by the run's orchestrator if it runs, else journaled
    now (then `grammarflow resume RUN_ID` continues the run)."""
    import json

    from grammarflow.journal.operations import answer
    from grammarflow.journal.store import Store

    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value  # a bare word: a string
    with _errors_reported(as_json):
        done = answer(Store.existing(db), run_id, task, parsed, expand)
    if done.by_orchestrator is not None:
        said = (f"task {task} of run {run_id} answered: {json.dumps(parsed)}; its "
                f"orchestrator (pid {done.by_orchestrator}) goes on")
    else:
        said = (f"task {task} of run {run_id} answered: {json.dumps(parsed)} (journal entry "
                f"{done.seq}); nobody runs it now: `grammarflow resume {run_id}` continues it")
    if as_json:
        _emit({"run": run_id, "task": task, "value": parsed, "seq": done.seq,
               "orchestrator": done.by_orchestrator, "said": said})
    else:
        click.echo(said)


@main.command("restart")
@click.argument("run_id", type=RUN_ID)
@click.argument("task")
@db_option
@json_option
def restart_cmd(run_id: int, task: str, db: str, as_json: bool) -> None:
    """Run TASK of RUN_ID again, and every task after it: what they did is rolled back
    first — their outputs, the holes they expanded (open again, with their
    productions), the tasks those expansions made — so the re-run may choose
    differently. Refused while one of them runs. Taken by the run's orchestrator if it
    runs, else journaled now (then `grammarflow resume RUN_ID` runs them)."""
    from grammarflow.journal.operations import restart
    from grammarflow.journal.store import Store

    with _errors_reported(as_json):
        done = restart(Store.existing(db), run_id, task)
    e = done.entry
    parts = [f"task {task} of run {run_id} restarted: {len(e.restarted)} task(s) back to "
             f"pending, {e.steps} step(s) rolled back"]
    if e.vanished:
        parts.append(f"{len(e.vanished)} task(s) they made are gone")
    if e.reopened:
        parts.append(f"hole(s) open again: {', '.join(e.reopened[:5])}"
                     + (" ..." if len(e.reopened) > 5 else ""))
    for joined, why in e.joined.items():
        parts.append(f"task {joined} restarts too: {why}")
    said = "; ".join(parts)
    said += (f"; its orchestrator (pid {done.by_orchestrator}) runs them again"
             if done.by_orchestrator is not None else
             f" (journal entry {done.seq}); nobody runs it now: `grammarflow resume "
             f"{run_id}` runs them again")
    if as_json:
        _emit({"run": run_id, "task": task, "seq": done.seq,
               "orchestrator": done.by_orchestrator, "restarted": list(e.restarted),
               "vanished": list(e.vanished), "reopened": list(e.reopened),
               "joined": dict(e.joined), "steps": e.steps, "said": said})
    else:
        click.echo(said)


def _set_paused(run_id: int, db: str, as_json: bool, paused: bool) -> None:
    from grammarflow.journal.operations import set_paused
    from grammarflow.journal.store import Store

    with _errors_reported(as_json):
        done = set_paused(Store.existing(db), run_id, paused)
    word = "paused" if paused else "unpaused"
    if done.already:
        said = f"run {run_id} is {word} already" if paused else f"run {run_id} is not paused"
        if done.cancelled:
            said += (f" (the {'unpause' if paused else 'pause'} asked before it, which its "
                     "orchestrator had not taken, is cancelled)")
    elif done.by_orchestrator is not None:
        said = (f"run {run_id} {word} by its orchestrator (pid {done.by_orchestrator}): "
                + ("running tasks finish, no new one starts" if paused
                   else "tasks start again"))
    else:
        said = (f"run {run_id} {word} (journal entry {done.seq}); nobody runs it now: "
                + (f"`grammarflow resume {run_id}` starts no task until `grammarflow "
                   f"unpause {run_id}`" if paused
                   else f"`grammarflow resume {run_id}` continues it"))
    if as_json:
        _emit({"run": run_id, "paused": paused, "seq": done.seq, "already": done.already,
               "orchestrator": done.by_orchestrator, "said": said})
    else:
        click.echo(said)
