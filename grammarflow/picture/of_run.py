"""A run's picture as its journal tells it (also while it runs, read-only): the graph as
it stands (or as it stood after a journal step), titled with how the run stands —
paused, restarted, broken — and the refusal that broke it marked."""

from __future__ import annotations

from dataclasses import replace

from grammarflow.core.graph import Graph
from grammarflow.journal.state import RunState, fold_run
from grammarflow.journal.status import refusal_at
from grammarflow.journal.store import FINAL, Store
from grammarflow.picture.render import Picture, to_dot

__all__ = ["run_dot"]


def run_dot(store: Store, run_id: int, picture: Picture | None = None,
            at: int | None = None, state: RunState | None = None) -> tuple[str, Graph]:
    """The DOT of run ``run_id`` (after journal step ``at``; None: now), and its graph;
    ``state``: the run's state as of ``at``, if the caller has folded it."""
    state = state or fold_run(store, run_id, upto=at)
    d = state.d
    picture = replace(picture or Picture(), waiting=state.waiting)
    title = f"run {run_id}" + (f" after step {at}" if at is not None else "")
    if state.paused and (at is not None or store.run(
            run_id, start=False).status not in FINAL):  # a pause ends with its run
        title += f" — PAUSED (`grammarflow unpause {run_id}`)"
    restarts = store.restarts(run_id, at)
    if restarts and (at is not None or store.run(run_id).status == "restarted"):
        last = restarts[-1]
        title += (f" — task {last.data['task']} restarted at step {last.seq}"
                  if at is not None and at > last.seq else
                  f" — task {last.data['task']} restarted: `grammarflow resume "
                  f"{run_id}` runs it and what follows")
    refusal = refusal_at(store, run_id, upto=at)
    dot = to_dot(d.graph, d.grammar, replace(picture, title=title, refusal=refusal), d.limits)
    return dot, d.graph
