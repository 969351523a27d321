"""What a run tells the progress display as it goes (:mod:`.progress`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grammarflow.runtime.orchestrator import Orchestrator


@dataclass
class Event:
    """What the progress display hears about."""

    kind: str  # started | done | failed | retry | broken | progress | log | warning |
    #            paused | unpaused | waiting | answered | finished
    task: str | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


Reporter = Callable[["Orchestrator", Event], None]


def no_report(orchestrator: Orchestrator, event: Event) -> None:
    return None


__all__ = ["Event", "Reporter", "no_report"]
