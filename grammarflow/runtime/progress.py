"""Progress of a run on the terminal: a live line (rich) on a TTY, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from grammarflow.runtime import Event, Orchestrator


def said(event: Event) -> str:
    """What an event says in one line: a failed attempt's detail with the last line of its
    stderr (a Python exception's message) and its log."""
    text = event.detail
    stderr = event.data.get("stderr") if event.kind in ("failed", "retry") else None
    if stderr:
        text += f" — {stderr[-1].strip()}"
    if event.kind in ("failed", "retry") and event.data.get("log"):
        text += f" (log: {event.data['log']})"
    if event.kind == "retry" and event.data.get("retry_in"):
        text += f"; retried in {event.data['retry_in']:g} s"
    return text


def counts(o: Orchestrator) -> tuple[int, int, int]:
    g = o.d.graph
    return g.done_count(), len(g.tasks), len(g.holes)


class PlainProgress:
    """One line per event, for logs and pipes."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out

    def __call__(self, o: Orchestrator, event: Event) -> None:
        if event.kind in ("progress", "log"):
            return
        done, known, holes = counts(o)
        task = f" {event.task}" if event.task else ""
        text = said(event)
        detail = f": {text}" if text else ""
        print(f"[run {o.run_id}] {done}/{known} done, {holes} hole(s) open | "
              f"{event.kind}{task}{detail}", file=self.out, flush=True)


class LiveProgress:
    """A live status line: tasks done of known, holes open, what runs (with progress)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=8, transient=True)
        self.live.start()

    def __call__(self, o: Orchestrator, event: Event) -> None:
        from rich.text import Text

        if event.kind in ("done", "failed", "retry", "broken", "paused", "unpaused"):
            style = {"done": "green", "failed": "red", "retry": "yellow", "broken": "bold red",
                     "paused": "bold yellow", "unpaused": "yellow"}
            self.console.print(Text(f"{event.kind:>6} {event.task or ''} {said(event)}",
                                    style=style[event.kind]))
        if event.kind == "finished":
            self.live.stop()
            return
        done, known, holes = counts(o)
        running = []
        for a in o.running.values():
            if a.progress is not None:
                d, total = a.progress
                running.append(f"{a.task} {d:g}/{total:g}" if total else f"{a.task} {d:g}")
            else:
                running.append(a.task)
        paused = (" · PAUSED (`grammarflow unpause " f"{o.run_id}`)", "bold yellow") \
            if o.state.paused else ("", "")
        line = Text.assemble((f"{done}/{known} tasks done", "bold"), paused,
                             f" · {holes} hole(s) open · running: ",
                             (", ".join(running) or "-", "cyan"))
        self.live.update(line)


def reporter_for(stream: TextIO = sys.stderr) -> PlainProgress | LiveProgress:
    return LiveProgress() if stream.isatty() else PlainProgress(stream)


__all__ = [
    "LiveProgress",
    "PlainProgress",
    "counts",
    "reporter_for",
    "said",
]
