"""Map over a list: one task per element of split's output, then total receives their
outputs in the list's order. The map is ordinary productions (map_over) whose guards
count the copies, so the count is a promise: exactly len(list) copies, 0 included.

    grammarflow run examples/map_list.py

EXAMPLE_ITEMS sets the list's length (default 5; 0 and 1,000 work too).
EXAMPLE_EXTRA=1 makes split expand the map hole itself once more than its list
allows, and the run is broken by the guard that counts.
"""

import os

from grammarflow import All, Item, define, map_over

grammar = define("split, total, Each(split, total)", map_over("Each", "measure"))


def split() -> list[str]:
    n = int(os.environ.get("EXAMPLE_ITEMS", "5"))
    words = [f"w{i}" + "x" * (i % 7) for i in range(n)]
    if os.environ.get("EXAMPLE_EXTRA") == "1":
        from grammarflow import task

        task.output(words)
        hole = task.context().hole("Each")
        for _ in range(n + 1):  # one copy more than there are words
            hole = task.expand(hole, "1")["holes"][0]
        return None  # type: ignore[return-value]  # the output is given above
    return words


def measure(split: Item[str]) -> int:
    return len(split)


def total(measure: All[int]) -> list[int]:
    return measure
