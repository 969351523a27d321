"""A version of examples/upgrade/v1.py that removes the map's production that makes a
copy: Each may only become ``split -> total``. A run of version 1 that has made its
measures already used the production this version removes: `grammarflow upgrade`
refuses it, naming the journal entry that expanded the map and why this version cannot
explain it."""

from grammarflow import define

grammar = define("split, total, Each(split, total), After(total)", [
    "Each(a, b) ::= [empty] a -> b",
    "After(t) ::= [plain, default] t -> publish",
])


def split() -> list[str]:
    return ["item0"]


def total() -> int:
    return 0


def publish(total: int) -> str:
    return f"published: {total}"
