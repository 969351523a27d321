"""Random branch: the final DAG is always start -> A -> end or start -> B -> end."""

from grammarflow import define

grammar = define(
    "start, end, X(start, end)",
    "X(a, b) ::= a -> A -> b | a -> B -> b",
)
