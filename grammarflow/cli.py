"""The command line: parse, call the library, print. Every command has ``--json``."""

from __future__ import annotations

import json
import random
import sys
from typing import Any

import click

from grammarflow.errors import BrokenPromise, GrammarflowError
from grammarflow.grammar import Derivation, Expand, Grow, Refine, SetState, step_to_json
from grammarflow.simulate import Limits, RandomChooser, run
from grammarflow.workflow_file import load_grammar

EXIT_OK = 0
EXIT_BROKEN_PROMISE = 3
EXIT_USAGE = 2


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.group()
@click.version_option(package_name="grammarflow")
def main() -> None:
    """grammarflow: workflows whose shape is a graph grammar."""


@main.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the grammar as JSON.")
def check(workflow: str, as_json: bool) -> None:
    """Register WORKFLOW.py: check its grammar and print it in the short notation."""
    grammar = _load(workflow)
    if as_json:
        _emit(grammar.to_json())
        return
    click.echo(repr(grammar))
    click.echo(f"ok: {len(grammar.types)} hole type(s), every one productive, "
               "every production well formed")


@main.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random choices (the same seed, the same run).")
@click.option("--runs", type=int, default=1, show_default=True, help="How many runs.")
@click.option("--max-tasks", type=int, default=40, show_default=True,
              help="Past this many tasks, holes take the shortest way to finish.")
@click.option("--json", "as_json", is_flag=True, help="Print each run's steps and graph.")
def simulate(workflow: str, seed: int, runs: int, max_tasks: int, as_json: bool) -> None:
    """Run WORKFLOW.py through the grammar core with random choices (no processes).

    Each task, while it runs, chooses productions for the holes it is attached to;
    due holes take their defaults. Prints each accepted step and the final graph.
    """
    grammar = _load(workflow)
    results = []
    for i in range(runs):
        try:
            d = run(grammar, RandomChooser(random.Random(seed + i)), Limits(max_tasks=max_tasks))
        except BrokenPromise as e:
            click.echo(f"run {i} (seed {seed + i}): broken promise: {e}", err=True)
            sys.exit(EXIT_BROKEN_PROMISE)
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


def _load(workflow: str) -> Any:
    try:
        return load_grammar(workflow)
    except GrammarflowError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)
