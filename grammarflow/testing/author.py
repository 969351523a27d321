"""Which message a running task writes next: a menu of the kinds of message the graph
allows, weighted, each written by the function of its family."""

from __future__ import annotations

from collections.abc import Callable

from grammarflow.testing.cycles import cycle_back, cycle_in_message, into_started
from grammarflow.testing.diffs import (
    diff_extra_edge,
    diff_missing_edge,
    diff_nowhere,
    diff_steps,
    diff_wrong_kind,
)
from grammarflow.testing.expansions import batch, batch_bad, expand, expand_wrong
from grammarflow.testing.growth import diff_open, grow, open_step_on_closed
from grammarflow.testing.narrowings import narrow_hole, narrow_type, needs_removed
from grammarflow.testing.refinements import refine, wrong_arity
from grammarflow.testing.writer import Draft, Writer

__all__ = ["MESSAGES", "write"]

#: Each kind of message on the menu, by name, and the function that writes it.
MESSAGES: dict[str, Callable[[Writer], Draft]] = {f.__name__: f for f in (
    expand, expand_wrong, batch, batch_bad,
    diff_steps, diff_extra_edge, diff_missing_edge, diff_wrong_kind, diff_nowhere,
    narrow_type, narrow_hole, needs_removed,
    grow, diff_open, open_step_on_closed, refine, wrong_arity,
    cycle_back, cycle_in_message, into_started,
)}


def write(w: Writer) -> Draft:
    """One message, legal or not by design, with tags saying what it exercises."""
    # Right after a narrowing: a change that needs what it removed.
    levels = sorted({level for _, _, level in w.removed()})
    urgent = [lv for lv in levels if ("needs removed", lv) not in w.memory.used]
    if urgent and not w.coin(4):
        return needs_removed(w, w.pick(urgent))
    return MESSAGES[w.vary("message", _menu(w))](w)


def _menu(w: Writer) -> list[str]:
    """The kinds of message the graph allows, each as often as it is to be chosen."""
    # Hypothesis leans to the first options (and shrinks towards them): legal
    # changes first, the rarest cases weighted up, the always-possible ones last.
    # (Names, not functions: Hypothesis labels a choice by the options' repr, and a
    # function's repr holds its address, which changes between processes.)
    options: list[str] = []
    if w.closed:
        options += ["expand", "diff_steps", "batch", "diff_steps", "batch_bad",
                    "diff_extra_edge", "diff_missing_edge", "diff_wrong_kind",
                    "diff_wrong_kind", "narrow_type", "narrow_hole", "diff_steps",
                    "narrow_hole", "narrow_type", "diff_wrong_kind", "diff_missing_edge",
                    "narrow_type", "diff_extra_edge"]
    if w.open:
        options += ["refine", "grow", "refine", "refine", "grow", "refine", "refine",
                    "refine", "diff_open", "wrong_arity"]
    if w.closed and w.open:
        options += ["open_step_on_closed"] * 2
    if w.removed():
        options += ["needs_removed"] * 8
    cycles = w.cycles_back() if w.everywhere else []
    if cycles:
        options += ["cycle_back"] * (6 if any(wide for _, _, wide in cycles) else 2)
    options += ["expand_wrong", "diff_nowhere", "cycle_in_message"]
    if w.started:
        options.append("into_started")
    return options
