"""Version 2 of examples/upgrade/v1.py: the same map, and after it a branch — a total
over 20 is reviewed before it is published. A run of version 1 upgrades to it while it
runs (`grammarflow upgrade RUN examples/upgrade/v2.py`): every step it took is a step of
this version too, and its After hole, not yet expanded, gains an alternative.
"""

import os
import time

from grammarflow import All, Item, define, map_over

grammar = define("split, total, Each(split, total), After(total)", [
    *map_over("Each", "measure"),
    """After(t) ::= [review, when t > 20] t -> review -> publish
                 | [plain, else] t -> publish""",
])


def split() -> list[str]:
    return [f"item{i}" for i in range(int(os.environ.get("EXAMPLE_ITEMS", "4")))]


def measure(split: Item[str]) -> int:
    time.sleep(float(os.environ.get("EXAMPLE_DELAY", "0")))
    if split == os.environ.get("EXAMPLE_FAIL"):
        raise SystemExit(f"measure of {split} failed (EXAMPLE_FAIL)")
    return len(split) * 3


def total(measure: All[int]) -> int:
    return sum(measure)


def review(total: int) -> int:
    return total


def publish(total: int = 0, review: int = 0) -> str:
    return f"published: {review or total}"
