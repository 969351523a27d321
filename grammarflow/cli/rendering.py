"""`render`: a workflow file's start graph or a run's graph drawn with Graphviz."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from grammarflow.cli.app import (
    EXIT_OUTPUT,
    EXIT_USAGE,
    _emit,
    _error,
    _errors_reported,
    _write_output,
    db_option,
    is_workflow_file,
    json_option,
    main,
)
from grammarflow.workflow.reading import load_grammar

__all__ = ["PICTURE_FORMATS", "render_cmd"]


#: What `render` writes; without --format, the extension of its -o says which.
PICTURE_FORMATS = ("svg", "png", "pdf", "dot")


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
    is_workflow = is_workflow_file(target, as_json)
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
            dot = to_dot(graph, grammar, replace(picture, title=title), d.limits)
        else:
            from grammarflow.journal.store import Store
            from grammarflow.picture.of_run import run_dot

            run_id = int(target)
            store = Store(db, readonly=True)
            if at is not None:
                _check_step(store, run_id, at, as_json)
            dot, graph = run_dot(store, run_id, picture, at)
            default_out = Path(db).parent / f"run-{run_id}.{fmt}"
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
