"""Find the production application(s) behind a raw diff, or refuse it.

:func:`add` accepts a :class:`Diff` only if a sequence of production applications yields
exactly it (or an open hole admits it), and applies them; :func:`plan` finds them
without applying. How the search works and what it costs: docs/architecture.md,
"Matching a raw change"; proofs/03-completeness.md.
"""

from grammarflow.core.match.diff import Diff, diff_of
from grammarflow.core.match.planning import (
    DEFAULT_BUDGET,
    DEFAULT_DEADLINE,
    Added,
    Plan,
    add,
    plan,
)

__all__ = ["DEFAULT_BUDGET", "DEFAULT_DEADLINE", "Added", "Diff", "Plan", "add", "diff_of",
           "plan"]
