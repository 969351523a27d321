"""Run a workflow from Python — a script, a test, a notebook: :func:`run` starts a run
and waits for its end, :func:`run_async` is the same inside a running event loop (a
notebook's), :func:`open_run` reads a run that exists. A :class:`Run` is what the
journal says of it, and Jupyter shows it as its picture (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grammarflow.core.graph import Graph
from grammarflow.journal.database import default_db
from grammarflow.journal.state import fold_run
from grammarflow.journal.status import describe, run_view
from grammarflow.journal.store import Store
from grammarflow.picture.of_run import run_dot
from grammarflow.picture.render import Picture, render
from grammarflow.runtime import Options, Orchestrator, no_report
from grammarflow.runtime.progress import PlainProgress
from grammarflow.workflow.checking import load_workflow
from grammarflow.workflow.definition import Workflow

__all__ = ["Run", "open_run", "run", "run_async"]


@dataclass(frozen=True)
class Run:
    """A run as its journal tells it (read when made: :meth:`refresh` reads it again).

    ``status`` is how it stands (``succeeded``, ``failed``, ``broken``, ``waiting``,
    ``running``...), ``reason`` why, ``graph`` its graph, ``outputs`` each task's output,
    ``view`` all that ``grammarflow status --json`` says.
    """

    id: int
    db: str
    status: str
    reason: str | None
    graph: Graph = field(repr=False)
    outputs: dict[str, Any] = field(repr=False)
    view: dict[str, Any] = field(repr=False)

    @property
    def ok(self) -> bool:
        """Did it succeed?"""
        return self.status == "succeeded"

    def refresh(self) -> Run:
        """The run as its journal tells it now."""
        return open_run(self.id, db=self.db)

    def history(self) -> list[str]:
        """Its journal, one entry a line (``grammarflow history``)."""
        store = Store(self.db, readonly=True)
        return [f"{x.seq:>5}  {describe(x)}" for x in store.entries(self.id)]

    def picture(self, fmt: str = "svg", *, at: int | None = None,
                alternatives: bool = False) -> bytes:
        """Its picture (svg, png, pdf or dot), as ``grammarflow render RUN`` draws it."""
        dot, _ = run_dot(Store(self.db, readonly=True), self.id,
                         Picture(alternatives=alternatives), at)
        return render(dot, fmt)

    def _repr_svg_(self) -> str:
        return self.picture("svg").decode()

    def __repr__(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return (f"<Run {self.id} {self.status}{why} — {len(self.graph.tasks)} task(s), "
                f"{len(self.graph.holes)} hole(s); journal {self.db}>")


def open_run(run_id: int, *, db: str | os.PathLike[str] | None = None) -> Run:
    """Run ``run_id`` of the journal ``db`` (default: :func:`default_db`)."""
    where = str(db) if db is not None else default_db()
    store = Store(where, readonly=True)
    view = run_view(store, run_id)
    graph = fold_run(store, run_id).d.graph
    row = store.run(run_id, start=False)
    return Run(run_id, where, row.status, row.reason, graph, dict(graph.outputs), view)


def run(workflow: str | os.PathLike[str] | Workflow, *, db: str | os.PathLike[str] | None = None,
        params: Mapping[str, Any] | None = None, max_parallel: int | None = None,
        durable: bool = False, zygote: bool = True, engine: str | None = None,
        dask: str | None = None, progress: bool = False) -> Run:
    """Run ``workflow`` (a workflow file, or one loaded from it) to its end, as
    ``grammarflow run`` does, and return the :class:`Run` (``params``: values of the
    run parameters the workflow declares; ``max_parallel``: how many
    tasks at once; None: the workflow file's ``max_parallel``, else 1; ``dask``: a
    Dask scheduler's address, or ``local:N``, to run the tasks there). Inside a running event loop
    (a notebook's), ``await run_async(...)`` instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("grammarflow.run() was called inside a running event loop (a "
                           "notebook's?): use `await grammarflow.run_async(...)` there")
    return asyncio.run(run_async(workflow, db=db, params=params, max_parallel=max_parallel,
                                 durable=durable, zygote=zygote, engine=engine,
                                 dask=dask, progress=progress))


async def run_async(workflow: str | os.PathLike[str] | Workflow, *,
                    db: str | os.PathLike[str] | None = None,
                    params: Mapping[str, Any] | None = None, max_parallel: int | None = None,
                    durable: bool = False, zygote: bool = True, engine: str | None = None,
                    dask: str | None = None, progress: bool = False) -> Run:
    """:func:`run`, awaited in a running event loop (a notebook's cell, an async app)."""
    wf = workflow if isinstance(workflow, Workflow) else load_workflow(str(workflow))
    if params:
        wf = wf.with_params(params)
    where = str(db) if db is not None else default_db()
    store = Store(where, durable=durable)
    options = Options(max_parallel=max_parallel, logs=Path(where).parent / "logs",
                      python=sys.executable, engine=engine, dask=dask)
    if not zygote:
        options.zygote = False
    orchestrator = Orchestrator.start(store, wf, options,
                                      PlainProgress(sys.stderr) if progress else no_report)
    await orchestrator.run()
    return open_run(orchestrator.run_id, db=where)
