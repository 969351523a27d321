"""``All[T]`` and ``Item[T]``: how a function task's input gathers its feeders' outputs.

Workflow files import them in every task process, so this module imports nothing
(:mod:`grammarflow.workflow.annotations` reads them on the orchestrator's side)::

    def Count(Split: Item[str]) -> int: ...     # element i of Split's list
    def Total(Count: All[int]) -> int: ...      # the outputs of every Count
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: imported in every task process
if TYPE_CHECKING:
    from typing import Annotated, Any, TypeVar


class Gathered:
    """``All[int]`` / ``Item[str]`` at run time: how an input gathers (``"all"`` or
    ``"item"``), and the type of one value."""

    __slots__ = ("gather", "item")

    def __init__(self, gather: str, item: Any) -> None:
        self.gather, self.item = gather, item

    def __repr__(self) -> str:
        return f"{self.gather.title()}[{type_text(self.item)}]"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Gathered) and (self.gather, self.item) == (
            other.gather, other.item)

    def __hash__(self) -> int:
        return hash((self.gather, repr(self.item)))


def type_text(hint: Any) -> str:
    """A type as a person writes it: ``list[str]``, ``Point``, ``int | None``."""
    import re
    from typing import Any

    if hint is Any:
        return "Any"
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and not getattr(hint, "__args__", None):
        return hint.__name__
    # typing.Optional[mod.Point] -> Optional[Point]
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*)", "", repr(hint))


if TYPE_CHECKING:  # type checkers read All[int] as list[int] and Item[str] as str
    T = TypeVar("T")
    All = Annotated[list[T], "all"]
    Item = Annotated[T, "item"]
else:
    class All:
        """``All[int]``: the outputs of every task that feeds the input, oldest first
        (a list; empty if none does)."""

        def __class_getitem__(cls, item):
            return Gathered("all", item)

    class Item:
        """``Item[str]``: element *i* of the list that the one feeding task gives, where
        *i* is this task's place among the tasks of its kind after that task."""

        def __class_getitem__(cls, item):
            return Gathered("item", item)


__all__ = ["All", "Gathered", "Item", "type_text"]
