"""`upgrade`: a run goes on under a new version of its workflow, when that is safe.

The verdict and what it rests on: docs/operations.md, "Upgrading a run";
proofs/14-upgrade.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from grammarflow.cli.app import (
    EXIT_BROKEN_PROMISE,
    _emit,
    _error,
    _errors_reported,
    _write_output,
    db_option,
    json_option,
    main,
)
from grammarflow.core.upgrade import BUDGET

if TYPE_CHECKING:
    from grammarflow.journal.store import Store
    from grammarflow.journal.upgrading import UpgradePlan
    from grammarflow.workflow.definition import Workflow

__all__ = ["upgrade_cmd"]

#: The exit status of a refused upgrade (unsafe, stuck or undecided).
EXIT_REFUSED = EXIT_BROKEN_PROMISE


@main.command("upgrade")
@click.argument("target")
@click.argument("new_workflow", metavar="NEW_WORKFLOW.py")
@click.option("--dry-run", is_flag=True,
              help="Decide and show the difference, journal nothing.")
@click.option("--all", "every", is_flag=True,
              help="TARGET is the old workflow file: upgrade every unfinished run still on "
              "its version, and list the runs left on it.")
@click.option("--rename", "renames", multiple=True, metavar="OLD=NEW",
              help="Hole type OLD of the run is NEW in the new version (the rest is found "
              "by trying types of the same signature).")
@click.option("--picture", "picture", metavar="FILE",
              help="Draw the run under the new version, alternatives gained and lost marked "
              "(svg, png, pdf or dot, by the suffix).")
@click.option("--budget", type=click.IntRange(1), default=BUDGET, show_default=True,
              help="Renamings of hole types tried at most; past it the verdict is "
              "'undecided' (refused).")
@db_option
@json_option
def upgrade_cmd(target: str, new_workflow: str, dry_run: bool, every: bool,
                renames: tuple[str, ...], picture: str | None, budget: int, db: str,
                as_json: bool) -> None:
    """Let run TARGET go on under NEW_WORKFLOW.py, exactly when that is safe: every step
    it journaled is re-derived under the new productions (ids re-mapped where a hole type
    was renamed), every task that started is still of its kind, every output given is of
    the type its kind now declares, and every hole can still finish. Four verdicts:
    safe (journaled; the run's orchestrator, if it runs, takes it between two steps,
    else `grammarflow resume` goes on under it), unsafe (the first step, task or output
    the new version cannot explain, and why), stuck (a hole can no longer finish),
    undecided (refused). Prints the difference of possible futures. Exit 0 if safe,
    3 if refused."""
    from grammarflow.journal.store import Store
    from grammarflow.workflow.checking import load_workflow

    with _errors_reported(as_json):
        new = load_workflow(new_workflow)
        given = _renames(renames)
        store = Store(db, readonly=True) if dry_run else Store.existing(db)
        if every:
            results = _every(store, load_workflow(target), new, given, dry_run, budget)
        else:
            run_id = _run_id(target, as_json)
            results = [_one(store, run_id, new, given, dry_run, budget, picture, as_json)]
    if as_json:
        _emit(results if every else results[0])
    elif every:
        _say_every(results, target, new_workflow, dry_run)
    refused = [r for r in results if r["verdict"] != "safe"]
    if refused and not every:
        raise SystemExit(EXIT_REFUSED)


def _run_id(text: str, as_json: bool) -> int:
    if not text.isdigit() or int(text) < 1:
        _error(f"not a run id: {text!r} (a run id is a number; with --all, TARGET is the "
               "old workflow file)", 2, as_json)
    return int(text)


def _renames(given: tuple[str, ...]) -> dict[str, str]:
    from grammarflow.errors import GrammarflowError

    out = {}
    for item in given:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise GrammarflowError(f"--rename {item!r}: expected OLD=NEW, two hole types")
        out[old.strip()] = new.strip()
    return out


def _one(store: Store, run_id: int, new: Workflow, renames: dict[str, str], dry_run: bool,
         budget: int, picture: str | None, as_json: bool) -> dict[str, Any]:
    """Decide (and unless ``dry_run`` do) one run's upgrade; say it as it goes."""
    from grammarflow.journal.operations import UpgradeRefused, upgrade, upgrade_plan

    plan = upgrade_plan(store, run_id, new, renames=renames, budget=budget)
    result = _result(run_id, plan, dry_run)
    if picture is not None:
        _draw(run_id, plan, picture, as_json)
    if not as_json:
        _say(result, plan)
    if dry_run or not plan.accepted or plan.already:
        return result
    try:
        done = upgrade(store, run_id, new, renames=renames, budget=budget)
    except UpgradeRefused as e:  # the run changed since it was planned: decided again
        result = _result(run_id, e.plan, dry_run)
        if not as_json:
            click.echo(f"  but as it was journaled: {e}")
        return result
    result.update(seq=done.seq, by_orchestrator=done.by_orchestrator)
    if not as_json:
        who = (f"taken by its orchestrator (pid {done.by_orchestrator}), which goes on "
               "under it" if done.by_orchestrator else
               f"`grammarflow resume {run_id}` goes on under it")
        click.echo(f"  upgraded: journal entry {done.seq}; {who}")
    return result


def _result(run_id: int, plan: UpgradePlan, dry_run: bool) -> dict[str, Any]:
    v = plan.verdict
    return {"run": run_id, **v.to_json(), "version": plan.new.version,
            "was": plan.old.version, "workflow": str(plan.new.path), "dry_run": dry_run,
            "already": plan.already,
            "futures": plan.futures.to_json() if plan.futures is not None else None}


def _say(result: dict[str, Any], plan: UpgradePlan) -> None:
    click.echo(f"run {result['run']}: version {result['was']} -> {result['version']} "
               f"({plan.new.path.name}): {result['verdict'].upper()}")
    click.echo(f"  {result['reason']}")
    if plan.futures is not None and not plan.already:
        click.echo("  the difference of possible futures:")
        for line in plan.futures.lines():
            click.echo(f"    {line}")
    if result["dry_run"] and plan.accepted and not plan.already:
        click.echo("  dry run: nothing journaled")


def _draw(run_id: int, plan: UpgradePlan, path: str, as_json: bool) -> None:
    from grammarflow.picture.render import render
    from grammarflow.picture.upgrade import upgrade_dot

    fmt = Path(path).suffix.lstrip(".").lower() or "svg"
    if fmt not in ("svg", "png", "pdf", "dot"):
        _error(f"--picture {path!r}: expected a .svg, .png, .pdf or .dot file", 2, as_json)
    _write_output(path, render(upgrade_dot(run_id, plan), fmt), as_json)
    if not as_json:
        click.echo(f"  picture: {path}")


def _every(store: Store, old: Workflow, new: Workflow, renames: dict[str, str],
           dry_run: bool, budget: int) -> list[dict[str, Any]]:
    """Every run whose workflow is now ``old``'s version: the unfinished ones upgraded
    (or decided), the finished ones listed."""
    from grammarflow.journal.state import workflow_at
    from grammarflow.journal.store import FINAL

    out = []
    for row in store.runs():
        if workflow_at(store, row.id, store.run(row.id)).version != old.version:
            continue
        if row.status in FINAL:
            out.append({"run": row.id, "verdict": "finished", "status": row.status,
                        "reason": f"{row.status}: nothing left to run",
                        "version": old.version})
            continue
        out.append(_one(store, row.id, new, renames, dry_run, budget, None, True))
    return out


def _say_every(results: list[dict[str, Any]], old: str, new: str, dry_run: bool) -> None:
    for r in results:
        done = "would be upgraded" if dry_run else "upgraded"
        said = (f"{done} to {r['version']}" if r["verdict"] == "safe" and not r.get("already")
                else r["reason"])
        click.echo(f"run {r['run']}: {r['verdict']} — {said}")
    left = [r["run"] for r in results
            if r["verdict"] != "finished" and (r["verdict"] != "safe" or dry_run)]
    if left:
        click.echo(f"left on the version of {old}: run(s) {', '.join(map(str, left))}")
    else:
        click.echo(f"no unfinished run is left on the version of {old}"
                   + (f" (all on {new})" if results else "") + ": it can be retired")
