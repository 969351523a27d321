"""The command line: parse, call the library, print. Every command has ``--json``.

The commands and their exit codes: docs/operations.md. Every error is one line
``error: ...`` on stderr; with ``--json`` also ``{"error": ...}`` on stdout, usage errors
included (click raises those before a command runs: ``_Commands.main`` catches them).
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import click

from grammarflow.core.derivation import Derivation
from grammarflow.core.simulate import Limits, RandomChooser
from grammarflow.core.simulate import run as simulate_run
from grammarflow.core.steps import Expand, Grow, Refine, SetState, step_to_json
from grammarflow.errors import BrokenPromise, GrammarflowError, KindError
from grammarflow.workflow.definition import load_grammar

EXIT_OK = 0
EXIT_BROKEN_PROMISE = 3
EXIT_USAGE = 2
EXIT_OUTPUT = 1  # the picture or page could not be made or written
DEFAULT_DB = ".grammarflow/grammarflow.db"

db_option = click.option("--db", default=DEFAULT_DB, show_default=True,
                         type=click.Path(dir_okay=False),
                         help="The SQLite file holding runs and their journals.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
zygote_option = click.option(
    "--zygote/--no-zygote", default=True, show_default=True,
    help="Fork function tasks from a warm zygote that imported the workflow file once "
         "(~2 ms a task instead of a fresh interpreter's start and imports); "
         "--no-zygote spawns every task fresh (for code that is not fork-safe; "
         "Kind(zygote=False) does it for one kind).")

engine_option = click.option(
    "--engine", type=click.Choice(["podman", "docker"]), default=None,
    help="The container engine that runs container kinds (Kind(image=...)); "
         "default: podman, else docker, whichever is installed.")

#: The largest run id: SQLite's largest integer (2^63 - 1).
MAX_RUN_ID = 2 ** 63 - 1


def _run_id(text: str) -> int | None:
    """``text`` as a run id (digits only, 1 to MAX_RUN_ID), or None.

    >>> _run_id("12"), _run_id("0"), _run_id("-1"), _run_id(str(2 ** 63)), _run_id("x")
    (12, None, None, None, None)
    """
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_RUN_ID else None


class _RunId(click.IntRange):
    """A run id argument: anything else (a number SQLite cannot hold, a negative one, a
    word) is a usage error saying what was given, never a traceback."""

    name = "run id"


RUN_ID = _RunId(min=1, max=MAX_RUN_ID)


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


#: What `render` writes; without --format, the extension of its -o says which.
PICTURE_FORMATS = ("svg", "png", "pdf", "dot")

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


class _Commands(click.Group):
    """The command group. With ``--json`` a usage error (an unknown option, a missing
    argument, a bad value) is also JSON on stdout: click raises it before any
    command runs, so it is caught here."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or "--json" not in argv:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except click.UsageError as e:
            usage = e.ctx.get_usage() if e.ctx is not None else None
            _error(e.format_message(), e.exit_code, True, usage=usage)
        except click.ClickException as e:
            _error(e.format_message(), e.exit_code, True)
        except click.Abort:
            _error("aborted", 1, True)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


@click.group(cls=_Commands)
@click.version_option(package_name="grammarflow")
def main() -> None:
    """grammarflow: workflows whose shape is a graph grammar."""
    # Text from tasks may hold lone surrogates (valid JSON escapes, not encodable):
    # print them as escapes rather than die in the middle of a listing.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


@main.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="Print the grammar, warnings and notes as JSON.")
def check(workflow: str, as_json: bool) -> None:
    """Check WORKFLOW.py as `run` would and print its grammar in the short notation.

    Registers the grammar and resolves every kind it can create to a command (exit 2,
    one `error:` line a kind, with the words `run` uses, if one has none); names that
    look like typos are `warning:` lines, what only a run can tell `note:` lines, on
    stderr with exit 0.
    """
    from grammarflow.workflow.definition import check_workflow

    with _errors_reported(as_json):
        found = check_workflow(workflow)
    grammar = found.workflow.grammar
    if not as_json:
        click.echo(repr(grammar))
        for kind, sig in sorted(grammar.data.items()):
            click.echo(f"types: {sig.shown(kind)}")
    for warning in found.warnings:
        click.echo(f"warning: {warning}", err=True)
    for note in found.notes:
        click.echo(f"note: {note}", err=True)
    report = {"grammar": grammar.to_json(), "warnings": list(found.warnings),
              "notes": list(found.notes)}
    if found.errors:
        _errors(found.errors, EXIT_USAGE, as_json, **report)
    if as_json:
        _emit(report)
        return
    warned = f"; {len(found.warnings)} warning(s)" if found.warnings else ""
    typed = ", every edge well typed" if grammar.data else ""
    click.echo(f"ok: {len(grammar.types)} hole type(s), every one productive, "
               f"every production well formed, every kind with a command{typed}{warned}")


@main.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random choices (the same seed, the same run).")
@click.option("--runs", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many runs.")
@click.option("--max-tasks", type=click.IntRange(min=0), default=40, show_default=True,
              help="Past this many tasks, holes take the shortest way to finish.")
@click.option("--json", "as_json", is_flag=True, help="Print each run's steps and graph.")
def simulate(workflow: str, seed: int, runs: int, max_tasks: int, as_json: bool) -> None:
    """Run WORKFLOW.py through the grammar core with random choices (no processes).

    Each task, while it runs, chooses productions for the holes it is attached to;
    due holes take their defaults. Prints each accepted step and the final graph.
    """
    grammar = _load(workflow, as_json)
    results = []
    for i in range(runs):
        try:
            d = simulate_run(grammar, RandomChooser(random.Random(seed + i)),
                             Limits(max_tasks=max_tasks))
        except BrokenPromise as e:
            _error(f"run {i} (seed {seed + i}): broken promise: {e}", EXIT_BROKEN_PROMISE,
                   as_json, seed=seed + i)
        if as_json:
            results.append({"seed": seed + i, "steps": [step_to_json(s) for s in d.history],
                            "graph": d.graph.to_json()})
        else:
            _print_run(d, seed + i)
    if as_json:
        _emit(results)


def _print_run(d: Derivation, seed: int) -> None:
    click.echo(f"run with seed {seed}:")
    for step in d.history:
        match step:
            case SetState(task, state):
                click.echo(f"  {state.value:<8} {task}")
            case Expand(hole, production):
                htype = d.grammar.types[hole.split(".")[0]] if "." in hole else None
                shown = repr(htype.production(production)) if htype else production
                click.echo(f"  expand   {hole}: {shown}")
            case Grow(hole, fragment):
                click.echo(f"  grow     {hole} by {[t.local for t in fragment.tasks]}")
            case Refine(hole, fragment):
                click.echo(f"  refine   {hole}" + (" to nothing" if fragment.is_empty() else ""))
            case _:
                click.echo(f"  {step}")
    g = d.graph
    edges = ", ".join(f"{u} -> {v}" for u, v in sorted(g.edges())) or "none"
    click.echo(f"  final graph: {len(g.tasks)} task(s): {', '.join(sorted(g.tasks))}")
    click.echo(f"  edges: {edges}")


def _load(workflow: str, as_json: bool) -> Any:
    with _errors_reported(as_json):
        return load_grammar(workflow)


@contextlib.contextmanager
def _errors_reported(as_json: bool) -> Iterator[None]:
    """A GrammarflowError (a bad workflow file, a database that cannot be read, no such
    run) ends the command with its message and exit status 2, never a traceback."""
    try:
        yield
    except KindError as e:
        _errors(e.problems, EXIT_USAGE, as_json)
    except GrammarflowError as e:
        _error(str(e), EXIT_USAGE, as_json)


def _error(message: str, code: int, as_json: bool, **extra: Any) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    if as_json:
        _emit({"error": message, **extra})
    sys.exit(code)


def _errors(messages: tuple[str, ...], code: int, as_json: bool, **extra: Any) -> NoReturn:
    """Several errors found at once: one ``error:`` line each; with ``--json`` one
    object whose ``error`` holds them all and ``errors`` each one."""
    for message in messages:
        click.echo(f"error: {message}", err=True)
    if as_json:
        _emit({"error": "\n".join(messages), "errors": list(messages), **extra})
    sys.exit(code)


# ==================================================================== runs
@main.command("run")
@click.argument("workflow", type=click.Path(dir_okay=False))
@db_option
@click.option("--max-parallel", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many tasks may run at once.")
@click.option("--durable", is_flag=True,
              help="fsync every journal commit (survives power loss, ~0.35 ms a commit).")
@zygote_option
@engine_option
@json_option
def run_cmd(workflow: str, db: str, max_parallel: int, durable: bool, zygote: bool,
            engine: str | None, as_json: bool) -> None:
    """Run WORKFLOW.py to the end, enforcing its grammar; journal everything in --db."""
    from grammarflow.journal.store import Store
    from grammarflow.runtime import Orchestrator
    from grammarflow.workflow.definition import load_workflow

    with _errors_reported(as_json):
        wf = load_workflow(workflow)
        store = Store(db, durable=durable)
        options = _options(db, max_parallel, zygote, engine)
        orchestrator = Orchestrator.start(store, wf, options, _reporter(as_json))
    if not as_json:
        click.echo(f"run {orchestrator.run_id} of {workflow} (journal: {db})", err=True)
    _finish(store, orchestrator, as_json)


@main.command("resume")
@click.argument("run_id", type=RUN_ID)
@db_option
@click.option("--max-parallel", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--durable", is_flag=True, help="fsync every journal commit.")
@zygote_option
@engine_option
@json_option
def resume_cmd(run_id: int, db: str, max_parallel: int, durable: bool, zygote: bool,
               engine: str | None, as_json: bool) -> None:
    """Continue RUN_ID from its journal (after a crash, kill or interruption).

    Tasks that were running when the orchestrator stopped run again (at least once).
    """
    from grammarflow.journal.store import Store
    from grammarflow.runtime import Orchestrator

    with _errors_reported(as_json):
        store = Store.existing(db, durable=durable)
        options = _options(db, max_parallel, zygote, engine)
        orchestrator = Orchestrator.resume(store, run_id, options, _reporter(as_json))
    _finish(store, orchestrator, as_json)


def _options(db: str, max_parallel: int, zygote: bool, engine: str | None) -> Any:
    from grammarflow.runtime import Options

    options = Options(max_parallel=max_parallel, logs=Path(db).parent / "logs",
                      python=sys.executable, engine=engine)
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
    from grammarflow.journal.store import Store

    with _errors_reported(as_json):
        rows = Store(db, readonly=True).runs()
    if as_json:
        _emit([{"run": r.id, "status": r.status, "reason": r.reason,
                "workflow": r.workflow["path"], "created": r.created, "updated": r.updated}
               for r in rows])
        return
    if not rows:
        click.echo("no runs yet")
    for r in rows:
        reason = f"  ({r.reason})" if r.reason else ""
        click.echo(f"{r.id:>4}  {r.status:<11} {r.workflow['path']}{reason}")


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


@main.command("render")
@click.argument("target")
@db_option
@click.option("--format", "fmt", type=click.Choice(PICTURE_FORMATS),
              help="The picture's format; default: the extension of -o (.svg, .png, .pdf "
              "or .dot; another is refused), else svg.")
@click.option("-o", "--output", help="The file to write ('-' for stdout); default: next to "
              "the workflow file (<workflow>.<format>), or for a run next to the database "
              "(run-<id>.<format>).")
@click.option("--alternatives", is_flag=True,
              help="Draw each hole's productions as small dashed clusters beside it.")
@click.option("--at", "at", type=click.IntRange(min=0),
              help="A run's graph as it stood after journal step AT (0: its start; the "
              "steps are numbered in `grammarflow history`).")
@click.option("--collapse-above", type=click.IntRange(min=1), default=200, show_default=True,
              help="Collapse sibling tasks into one 'M ×N' node (and long runs of a kind "
                   "into 't ×N in a row') once the picture has more than this many tasks. "
                   "Each task drawn costs Graphviz time: up to 2,000 uncollapsed take "
                   "about 1.5 s, more grow faster than linearly; collapsed, 10,000 take "
                   "0.02 s, but you see counts, not each task's state.")
@click.option("--unroll", is_flag=True,
              help="Draw each iteration of a loop (by default a loop is one node with an "
              "edge back to itself and its count).")
@json_option
def render_cmd(target: str, db: str, fmt: str | None, output: str | None,
               alternatives: bool, at: int | None, collapse_above: int, unroll: bool,
               as_json: bool) -> None:
    """Draw TARGET: a workflow file (its start graph) or a run id (as it stands now,
    read-only, also while it runs), every hole as a wildcard for its futures."""
    from grammarflow.picture.render import Picture, render, to_dot

    fmt = fmt or _format_of(output, as_json)
    picture = Picture(alternatives=alternatives, collapse_above=collapse_above,
                      unroll=unroll)
    refusal = None
    is_workflow = target.endswith(".py") or Path(target).is_file()
    if not is_workflow and _run_id(target) is None:
        _error(f"{target!r} is neither a workflow file nor a run id (a whole number from 1 "
               f"to {MAX_RUN_ID})", EXIT_USAGE, as_json)
    if is_workflow and at is not None:
        _error(f"--at {at}: a workflow file has no journal; give a run id to draw a run as "
               "it stood after a step", EXIT_USAGE, as_json)
    with _errors_reported(as_json):
        if is_workflow:
            grammar = load_grammar(target)
            d = grammar.derivation()
            graph = d.graph
            default_out = Path(target).with_suffix(f".{fmt}")
            title = f"{target}: before any run"
        else:
            from grammarflow.journal.state import fold_run, paused_at
            from grammarflow.journal.status import refusal_at
            from grammarflow.journal.store import FINAL, Store

            run_id = int(target)
            store = Store(db, readonly=True)
            if at is not None:
                _check_step(store, run_id, at, as_json)
            state = fold_run(store, run_id, upto=at)
            d = state.d
            grammar, graph = d.grammar, d.graph
            picture = replace(picture, waiting=state.waiting)
            refusal = refusal_at(store, run_id, upto=at)
            default_out = Path(db).parent / f"run-{run_id}.{fmt}"
            title = f"run {run_id}" + (f" after step {at}" if at is not None else "")
            if paused_at(store, run_id, at) and (at is not None or store.run(
                    run_id, start=False).status not in FINAL):  # a pause ends with its run
                title += f" — PAUSED (`grammarflow unpause {run_id}`)"
            restarts = store.restarts(run_id, at)
            if restarts and (at is not None or store.run(run_id).status == "restarted"):
                last = restarts[-1]
                title += (f" — task {last.data['task']} restarted at step {last.seq}"
                          if at is not None and at > last.seq else
                          f" — task {last.data['task']} restarted: `grammarflow resume "
                          f"{run_id}` runs it and what follows")
    dot = to_dot(graph, grammar, replace(picture, title=title, refusal=refusal), d.limits)
    try:
        data = render(dot, fmt)
    except Exception as e:  # the dot binary failing or missing: say so plainly
        _error(f"rendering with Graphviz's dot failed: {e}", EXIT_OUTPUT, as_json)
    out = output or str(default_out)
    if out == "-":
        sys.stdout.buffer.write(data)
        return
    _write_output(out, data, as_json)
    if as_json:
        _emit({"output": out, "format": fmt, "tasks": len(graph.tasks),
               "holes": len(graph.holes)})
    else:
        click.echo(f"wrote {out} ({len(graph.tasks)} task(s), {len(graph.holes)} hole(s))")


def _format_of(output: str | None, as_json: bool) -> str:
    """The picture's format from the extension of the file it goes to (svg for stdout or
    the default file); an extension that names no format is refused, never guessed."""
    if output is None or output == "-":
        return "svg"
    extension = Path(output).suffix.lower().removeprefix(".")
    if extension in PICTURE_FORMATS:
        return extension
    known = ", ".join(f".{f}" for f in PICTURE_FORMATS)
    said = (f".{extension} is not a picture format render writes ({known})" if extension
            else f"the name has no extension to tell the picture's format by ({known})")
    _error(f"-o {output}: {said}; name the file so, or give --format "
           f"{', '.join(PICTURE_FORMATS[:-1])} or {PICTURE_FORMATS[-1]}", EXIT_USAGE, as_json)


def _check_step(store: Any, run_id: int, at: int, as_json: bool) -> None:
    """Refuse ``--at`` past the end of the run's journal (0 is its start)."""
    store.run(run_id)  # no such run: the store says so
    last = store.last_seq(run_id)
    if at > last:
        _error(f"--at {at}: run {run_id}'s journal has steps 0 to {last} (see "
               f"`grammarflow history {run_id}`)", EXIT_USAGE, as_json)


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


def _write_output(path: str, data: bytes, as_json: bool) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as e:
        _error(f"cannot write {path!r}: {e.strerror or e}", EXIT_OUTPUT, as_json)
