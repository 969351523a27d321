"""A subgraph promise: A -> X -> B where X is N -> M or J -> K."""

from grammarflow import define

grammar = define(
    "A, B, X(A, B)",
    "X(a, b) ::= a -> N -> M -> b | a -> J -> K -> b",
)
