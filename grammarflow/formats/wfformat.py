"""Real workflows in: a WfCommons/WfFormat instance (the JSON of Pegasus, Nextflow and
Makeflow traces) as a static workflow file — its tasks and edges the start graph, a
function per kind that sleeps each task's recorded runtime, scaled (docs/formats.md)."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grammarflow.errors import GrammarflowError

__all__ = ["Instance", "WfFormatError", "import_wfformat", "name_of", "read_instance",
           "workflow_text"]

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
