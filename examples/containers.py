"""Tasks in containers beside local ones: one in a container expands a hole.

    prepare ──> measure ──> Size ──> publish        Size(a, b) ::= a -> small -> b
                                                                 | a -> large -> b

`prepare` and `publish` are local function tasks; `measure` runs in a container of
IMAGE (podman or docker, whichever is installed; `bash dev.sh example` builds the
image, a minimal Debian with python3 and nothing of grammarflow's). It is this file's
own function, run by `python3 -m grammarflow.workflow.call`: the task SDK reaches the
container mounted read-only, this directory is its working directory. It takes
prepare's output as its input, like any task, and fills the hole after it by what it
finds: `small` (local) for a few rows, `large` (another container, with a CPU and
256 MiB at most) for many. The promise holds inside a container as outside:
EXAMPLE_MUTATE=1 makes `measure` ask for an edge to `publish` no production makes, and
the run is broken, the container gone.

    grammarflow run examples/containers.py     # EXAMPLE_SEED=n: another number of rows
"""

import os
import random

from grammarflow import Kind, define

IMAGE = os.environ.get("EXAMPLE_IMAGE", "localhost/grammarflow/python3:test")

grammar = define("prepare -> measure, publish, Size(measure, publish)",
                 "Size(a, b) ::= a -> small -> b | a -> large -> b")


def _in_container(function: str, inputs: dict, **limits: object) -> Kind:
    """This file's ``function``, run in a container of IMAGE (its types are declared
    here: a container kind's command is not a function of the file to read them from)."""
    return Kind(image=IMAGE, command=["python3", "-m", "grammarflow.workflow.call", "containers.py",
                                      function],
                env={"EXAMPLE_MUTATE": os.environ.get("EXAMPLE_MUTATE", "")},
                network="none", timeout=120, inputs=inputs, output=dict, **limits)


kinds = {"measure": _in_container("measure", {"prepare": int}),
         "large": _in_container("large", {"measure": dict}, cpus=1, memory="256m")}


def prepare() -> int:
    """How many rows there are (seeded)."""
    return random.Random(os.environ.get("EXAMPLE_SEED", "0")).randint(1, 100)


def measure(prepare: int) -> dict:
    """In a container: choose how the hole after this task is filled."""
    from grammarflow import task

    ctx = task.context()
    hole = ctx.hole("Size")
    if os.environ.get("EXAMPLE_MUTATE") == "1":
        task.add(edges=[(ctx.task, *task.find(kind="publish"))])  # refused: no production
    production = task.expand(hole, "1" if prepare < 50 else "2")
    return {"rows": prepare, "chose": production["tasks"], "where": _where()}


def small() -> None:
    print("a few rows: done here")


def large(measure: dict) -> dict:
    """In a container: the heavy part, under a CPU and a memory limit."""
    return {"rows": measure["rows"], "where": _where()}


def publish() -> None:
    print("published")


def _where() -> str:
    """Where this process runs: a container has its engine's mark at its root."""
    marks = ("/run/.containerenv", "/.dockerenv")
    return "a container" if any(os.path.exists(m) for m in marks) else "this machine"
