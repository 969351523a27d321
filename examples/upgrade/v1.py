"""Version 1 of a map workflow, to be upgraded while it runs (README, "Change a workflow
while it runs"; docs/operations.md, "Upgrading a run").

    grammarflow run examples/upgrade/v1.py

split makes a list, one measure per element (a map: map_over), total adds them up, and
then After: in this version, always publish. EXAMPLE_DELAY (seconds, default 0) slows
each measure, so that there is time to upgrade the run while it runs; EXAMPLE_FAIL=item2
makes that element's measure fail (the run stops: upgrade it, then resume it).
"""

import os
import time

from grammarflow import All, Item, define, map_over

grammar = define("split, total, Each(split, total), After(total)", [
    *map_over("Each", "measure"),
    "After(t) ::= [plain, default] t -> publish",
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


def publish(total: int) -> str:
    return f"published: {total}"
