"""What a workflow file gets from ``grammarflow`` inside a task process: stand-ins.

A function task runs its workflow file's function, so the file is imported in the task
process (once per run in the zygote, or once per attempt when spawned fresh), and its
top level runs: ``grammar = define(...)``, ``kinds = {...: Kind(...)}``, shapes. None
of that is read there — the orchestrator holds the grammar — so, once
:data:`grammarflow.TASK_PROCESS` is set (by :mod:`grammarflow.workflow.call` and the zygote,
before they import the file), those names are :class:`StandIn` values: calling one,
or anything on it, costs nothing and builds nothing. A task process imports the task
SDK and the file, not the grammar core, whatever the size of the workflow.
``All`` and ``Item`` stay real (a function's inputs are converted by them), and so do
the exceptions. A task that really needs the core at run time imports it from its
module (``from grammarflow.core.notation import define``).
"""

from __future__ import annotations


class StandIn:
    """A grammarflow value not built in a task process: any call, attribute, item or
    operator on it gives another stand-in."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __call__(self, *args: object, **kwargs: object) -> StandIn:
        return StandIn(f"{self.what}(...)")

    def __getattr__(self, name: str) -> StandIn:
        if name.startswith("__"):
            raise AttributeError(name)
        return StandIn(f"{self.what}.{name}")

    def __getitem__(self, key: object) -> StandIn:
        return StandIn(f"{self.what}[...]")

    def __or__(self, other: object) -> StandIn:
        return self

    __ror__ = __or__

    def __iter__(self) -> object:
        return iter(())

    def __repr__(self) -> str:
        return f"<{self.what}: not built in a task process (grammarflow.workflow.standin)>"


__all__ = ["StandIn"]
