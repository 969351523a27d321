"""WfCommons/WfFormat (the JSON of Pegasus, Nextflow and Makeflow traces): an instance
in, as a static workflow file (its tasks and edges the start graph, a function per kind
sleeping each task's recorded runtime, scaled), and a finished run out (docs/formats.md)."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grammarflow.errors import GrammarflowError

__all__ = ["EXPORT_VERSION", "Instance", "WfFormatError", "export_run", "import_wfformat",
           "name_of", "read_instance", "wf_id", "workflow_text"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


class WfFormatError(GrammarflowError):
    """A file that is no WfFormat instance grammarflow can read: what was expected, what
    came."""


@dataclass(frozen=True)
class Instance:
    """A WfFormat instance as a graph: tasks (name, kind, attributes) and edges."""

    name: str
    tasks: list[tuple[str, str, dict[str, Any]]]
    edges: list[tuple[str, str]]
    schema_version: str


def name_of(text: str, taken: set[str]) -> str:
    """``text`` as a name of the notation, not one of ``taken`` (which it joins).

    >>> taken = set()
    >>> name_of("mProject-1", taken), name_of("1st", taken), name_of("mProject_1", taken)
    ('mProject_1', '_1st', 'mProject_1_2')
    """
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)[:60] or "_"
    if not (name[0].isalpha() or name[0] == "_"):
        name = "_" + name[:59]
    base, n = name, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _load(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise WfFormatError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        return json.loads(raw)
    except ValueError as e:
        raise WfFormatError(f"{path.name} is not JSON: {e}") from None


def _expect(ok: bool, path: Path, what: str) -> None:
    if not ok:
        raise WfFormatError(f"{path.name} is not a WfFormat instance: {what}")


def read_instance(path: Path) -> Instance:
    """The instance in ``path`` (JSON, or gzipped JSON), checked as far as the import
    needs: every task with an id and a name, every parent and child a task of it."""
    data = _load(path)
    _expect(isinstance(data, dict) and isinstance(data.get("workflow"), dict), path,
            "expected an object with a 'workflow' object")
    wf = data["workflow"]
    spec = wf.get("specification")
    listed = spec.get("tasks") if isinstance(spec, dict) else wf.get("tasks")
    _expect(isinstance(listed, list), path,
            "expected a list of tasks in 'workflow.specification.tasks'")
    tasks: list[Any] = list(listed or [])
    runtimes = _runtimes(wf)
    names: dict[str, str] = {}
    kinds_taken: dict[str, str] = {}
    kind_names: set[str] = set()
    taken: set[str] = set()
    out: list[tuple[str, str, dict[str, Any]]] = []
    for i, t in enumerate(tasks):
        _expect(isinstance(t, dict) and isinstance(t.get("id", t.get("name")), str), path,
                f"task {i} has no 'id'")
        wf_id = t.get("id") or t["name"]
        _expect(wf_id not in names, path, f"task id {wf_id!r} appears twice")
        kind = t.get("name") if "id" in t else t.get("category") or t.get("type")
        _expect(isinstance(kind, str) and bool(kind), path, f"task {wf_id!r} has no 'name'")
        if kind not in kinds_taken:
            kinds_taken[kind] = name_of(kind, kind_names)
        names[wf_id] = name_of(wf_id, taken)
        attrs: dict[str, Any] = {"wf_id": wf_id}
        if wf_id in runtimes:
            attrs["runtime"] = runtimes[wf_id]
        out.append((names[wf_id], kinds_taken[kind], attrs))
    edges: dict[tuple[str, str], None] = {}
    for t in tasks:
        me = t.get("id") or t["name"]
        for key, forward in (("parents", False), ("children", True)):
            others = t.get(key, [])
            _expect(isinstance(others, list), path, f"task {me!r}: '{key}' is no list")
            for other in others:
                _expect(other in names, path, f"task {me!r} names {key[:-1]} {other!r}, "
                        "which is no task of the instance")
                u, v = (me, other) if forward else (other, me)
                edges[(names[u], names[v])] = None
    return Instance(str(data.get("name", path.stem)), out, list(edges),
                    str(data.get("schemaVersion", "")))


def _runtimes(wf: dict[str, Any]) -> dict[str, float]:
    execution = wf.get("execution")
    rows = execution.get("tasks", []) if isinstance(execution, dict) else wf.get("tasks", [])
    times: dict[str, float] = {}
    for row in rows if isinstance(rows, list) else []:
        took = row.get("runtimeInSeconds", row.get("runtime")) if isinstance(row, dict) else None
        if isinstance(took, int | float):
            times[str(row.get("id") or row.get("name"))] = float(took)
    return times


_FILE = '''"""{title}

Imported by `grammarflow import wfformat` from {source} (WfFormat {version}):
{tasks} tasks of {kinds} kinds, {edges} edges; the shape is in {shape}. Each task sleeps
its recorded runtime times $GRAMMARFLOW_WFFORMAT_SCALE (default 0).
"""

import json
import os
import pathlib
import time

from grammarflow import Fragment, Grammar, TaskSpec

_SHAPE = json.loads(pathlib.Path(__file__).with_name({shape!r}).read_text())
grammar = Grammar(Fragment(
    tasks=tuple(TaskSpec(name, kind, attrs) for name, kind, attrs in _SHAPE["tasks"]),
    edges=tuple((u, v) for u, v in _SHAPE["edges"])), {{}})


def _work() -> None:
    from grammarflow import task

    scale = float(os.environ.get("GRAMMARFLOW_WFFORMAT_SCALE", "0") or 0)
    runtime = task.context().attrs.get("runtime") or 0
    if scale > 0 and runtime:
        time.sleep(runtime * scale)
'''


def workflow_text(instance: Instance, source: str, shape: str) -> str:
    """The workflow file of ``instance`` whose shape is in the file named ``shape``."""
    kinds = sorted({k for _, k, _ in instance.tasks})
    head = _FILE.format(title=f"{instance.name}: a WfFormat instance as a workflow".replace(
        '"""', "'''"), source=source.replace('"""', "'''"), version=instance.schema_version
        or "?", tasks=len(instance.tasks), kinds=len(kinds), edges=len(instance.edges),
        shape=shape)
    return head + "".join(f"\n\ndef {k}() -> None:\n    _work()\n" for k in kinds)


@dataclass(frozen=True)
class Imported:
    workflow: Path
    shape: Path
    tasks: int
    edges: int
    kinds: int


def import_wfformat(source: Path, out: Path) -> Imported:
    """Write ``out`` (a workflow file) and its shape beside it (``out`` as .shape.json);
    never over the instance itself."""
    instance = read_instance(source)
    shape = out.with_suffix(".shape.json")
    for written in (out, shape):
        if written.resolve() == source.resolve():
            raise WfFormatError(f"{written} is the instance being imported: give another "
                                "name with -o (the import would overwrite it)")
    shape.write_text(json.dumps({"source": str(source), "name": instance.name,
                                 "tasks": instance.tasks, "edges": instance.edges},
                                separators=(",", ":")))
    out.write_text(workflow_text(instance, source.name, shape.name))
    return Imported(out, shape, len(instance.tasks), len(instance.edges),
                    len({k for _, k, _ in instance.tasks}))


#: The WfFormat version the export writes.
EXPORT_VERSION = "1.5"


def export_run(store: Any, run_id: int) -> dict[str, Any]:
    """A finished run of ``store`` as a WfFormat instance: its tasks (kind as ``name``)
    with parents and children, and each task's last attempt (start, end, runtime) in
    ``execution``. Refused (GrammarflowError) for a run that has not succeeded."""
    import datetime

    from grammarflow.journal.entries import AttemptEnded, AttemptStarted
    from grammarflow.journal.state import fold_run

    row = store.run(run_id, start=False)
    if row.status != "succeeded":
        raise GrammarflowError(f"run {run_id} is {row.status}: only a finished run (one "
                               "that succeeded) is a WfFormat instance; `grammarflow "
                               f"status {run_id}` says why it is not")
    graph = fold_run(store, run_id).d.graph
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    for e in store.entries(run_id, ["attempt"]):
        record = e.record
        if isinstance(record, AttemptStarted):
            started[record.task] = e.at
        elif isinstance(record, AttemptEnded) and record.outcome in ("succeeded", "answered"):
            ended[record.task] = e.at

    def when(at: float) -> str:
        return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()

    tasks = [{"name": task.kind, "id": wf_id(tid),
              "parents": sorted(map(wf_id, graph.pred[tid])),
              "children": sorted(map(wf_id, graph.succ[tid])),
              "inputFiles": [], "outputFiles": []}
             for tid, task in graph.tasks.items()]
    execution = []
    for tid, task in graph.tasks.items():
        row_: dict[str, Any] = {"id": wf_id(tid), "command": {"program": task.kind},
                                "coreCount": 1}
        if tid in started and tid in ended:
            row_["runtimeInSeconds"] = round(max(0.0, ended[tid] - started[tid]), 6)
            row_["executedAt"] = when(started[tid])
        else:  # answered by a person, or no attempt: no time of its own
            row_["runtimeInSeconds"] = 0.0
        execution.append(row_)
    return {
        "name": f"grammarflow run {run_id}: {Path(row.workflow['path']).name}",
        "description": f"run {run_id} of {row.workflow['path']}, written by grammarflow",
        "createdAt": when(row.created),
        "schemaVersion": EXPORT_VERSION,
        "runtimeSystem": {"name": "grammarflow", "version": _version(),
                          "url": "https://github.com/grammarflow/grammarflow"},
        "workflow": {
            "specification": {"tasks": tasks, "files": []},
            "execution": {"makespanInSeconds": round(row.updated - row.created, 6),
                          "executedAt": when(row.created), "tasks": execution},
        },
    }


def wf_id(task_id: str) -> str:
    """A task id as WfFormat spells ids (letters, digits, ``-``, ``_``, ``.``): each
    ``/`` of a made task's id (``Ms.1/M``) as ``-``, which no id of ours holds.

    >>> wf_id("Ms.1/Ms_more.1/M")
    'Ms.1-Ms_more.1-M'
    """
    return task_id.replace("/", "-")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("grammarflow")
    except PackageNotFoundError:
        return "unknown"
