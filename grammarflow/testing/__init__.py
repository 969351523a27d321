"""Hypothesis strategies over a workflow's grammar: property-test your workflow's shape.

:func:`finished_graphs`, :func:`derivations`, :func:`runs`, :func:`partial_runs`,
:func:`message_runs`, and the pieces of random grammars (:func:`fragments`,
:func:`closed_types`): docs/testing.md.
"""

from grammarflow.testing.language import (
    derivations,
    finished_graphs,
    partial_runs,
    replay,
    runs,
)
from grammarflow.testing.messages import (
    TAGS,
    Batch,
    Message,
    MessageRun,
    Outcome,
    apply_message,
    production_diff,
)
from grammarflow.testing.messaging import message_runs
from grammarflow.testing.pieces import KINDS, Signature, closed_types, fragments

__all__ = [
    "KINDS",
    "TAGS",
    "Batch",
    "Message",
    "MessageRun",
    "Outcome",
    "Signature",
    "apply_message",
    "closed_types",
    "derivations",
    "finished_graphs",
    "fragments",
    "message_runs",
    "partial_runs",
    "production_diff",
    "replay",
    "runs",
]
