"""What a workflow file gets from ``grammarflow`` inside a task process: stand-ins.

Once :data:`grammarflow.TASK_PROCESS` is set, ``define``, ``Kind`` and the shapes are
:class:`StandIn` values that build nothing (the orchestrator holds the grammar), so a
task process imports the task SDK and its file, never the core (docs/containers.md).
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
