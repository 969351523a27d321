"""`check` and `simulate`: a workflow file read, checked and tried, with no run."""

from __future__ import annotations

import random
from typing import Any

import click

from grammarflow.cli.app import (
    EXIT_BROKEN_PROMISE,
    EXIT_USAGE,
    _emit,
    _error,
    _errors,
    _errors_reported,
    main,
)
from grammarflow.core.derivation import Derivation
from grammarflow.core.simulate import Limits, RandomChooser
from grammarflow.core.simulate import run as simulate_run
from grammarflow.core.steps import Expand, Grow, Refine, SetState, step_to_json
from grammarflow.errors import BrokenPromise
from grammarflow.workflow.reading import load_grammar

__all__ = ["check", "simulate"]


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
    from grammarflow.workflow.checking import check_workflow

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
