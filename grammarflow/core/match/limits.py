"""When the search for a raw change's productions gives up: out of steps, out of
time, or cancelled; and the exceptions that say so."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["USE_EXPAND", "Cancelled", "Limits", "Stop", "TooCostly"]


#: What a refusal the search gave up on suggests.
USE_EXPAND = "name the productions with 'expand' instead of sending a raw change"


class Stop(Exception):
    """The search gave up before it could decide; the message says why."""


class TooCostly(Stop):
    """Out of steps or time: an open hole may still take the diff whole."""


class Cancelled(Stop):
    """The caller's ``cancelled`` hook said stop."""


class Limits:
    """When the search must give up: after ``budget`` steps, ``deadline`` seconds from
    ``started`` (``time.monotonic()``), or when ``cancelled()`` says so."""

    __slots__ = ("budget", "cancelled", "deadline", "started")

    def __init__(self, budget: int, deadline: float | None,
                 cancelled: Callable[[], bool] | None, started: float) -> None:
        self.budget = budget
        self.deadline = deadline
        self.cancelled = cancelled
        self.started = started

    def check(self, tries: int) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(
                f"the search for the productions behind the change was cancelled after "
                f"{tries} step(s); nothing was applied (a change this costly to explain "
                "should name its productions with 'expand')")
        if self.deadline is not None and time.monotonic() - self.started > self.deadline:
            raise TooCostly(
                f"the change could not be explained within {self.deadline:g} s of search "
                f"({tries} step(s) tried); {USE_EXPAND}")
