"""The nodes of the sentential form: tasks (terminals), holes (nonterminals), how a
hole is glued to its arguments (:class:`Role`) and a task's run state
(:class:`TaskState`), with the rule for names. :mod:`grammarflow.core.graph` keeps
them in a :class:`~grammarflow.core.graph.Graph` and re-exports every public name here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from grammarflow.errors import GrammarflowError

__all__ = ["JSON", "NAME_PATTERN", "NO_ATTRS", "STARTED", "Hole", "Role", "Task", "TaskState",
           "check_name"]

#: Local names, kinds and hole type names: a conservative identifier, safe in
#: file names, DOT, HTML and shell arguments.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")

JSON = Any  # a JSON-serialisable value; attrs are checked at the wire, not here

class _Empty(Mapping[str, Any]):
    """An immutable, hashable empty mapping: a safe shared default for attributes."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


#: The attributes of a task that has none: one shared, read-only empty mapping.
NO_ATTRS: Mapping[str, Any] = _Empty()


class Role(enum.Enum):
    """How a hole is glued to one of its arguments."""

    AFTER = "after"  # the hole (and whatever replaces it) comes after this task
    BEFORE = "before"  # the hole (and whatever replaces it) comes before this task

    def __repr__(self) -> str:  # as code: TaskState.DONE
        return f"{type(self).__name__}.{self.name}"


class TaskState(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    def __repr__(self) -> str:  # as code: TaskState.DONE
        return f"{type(self).__name__}.{self.name}"


STARTED = frozenset({TaskState.RUNNING, TaskState.DONE, TaskState.FAILED})
# Hot-path constants: an Enum member's hash is a Python-level call, so the graph's
# bookkeeping compares members by identity ("started" is exactly "not pending").
_PENDING, _DONE = TaskState.PENDING, TaskState.DONE
_AFTER, _BEFORE = Role.AFTER, Role.BEFORE


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it is a valid identifier, else raise with what was expected."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise GrammarflowError(
            f"{what} {name!r} is not a valid name: expected a letter or '_' followed by "
            "up to 63 letters, digits or '_'"
        )
    return name


@dataclass(frozen=True, slots=True)
class Task:
    """A terminal node: what runs (``kind``), with attributes (inputs, cosmetics)."""

    id: str
    kind: str
    attrs: Mapping[str, JSON] = NO_ATTRS


@dataclass(frozen=True, slots=True)
class Hole:
    """A nonterminal: a hyperedge of ``type`` glued to ``args`` in ``roles``.

    ``everywhere`` marks an open hole attached to every task (it never blocks a task
    and becomes due only when every task is done). ``allowed`` narrows this one hole
    to a subset of its type's productions (``None``: all of them).
    """

    id: str
    type: str
    args: tuple[str, ...] = ()
    roles: tuple[Role, ...] = ()
    everywhere: bool = False
    allowed: frozenset[str] | None = None

    @property
    def after(self) -> tuple[str, ...]:
        return tuple(a for a, r in zip(self.args, self.roles, strict=True) if r is Role.AFTER)

    @property
    def before(self) -> tuple[str, ...]:
        return tuple(a for a, r in zip(self.args, self.roles, strict=True) if r is Role.BEFORE)
