"""Pre-determined: a fixed DAG, start -> left | right -> end, with no holes at all.

No hole means no promise of any future change: every change a task attempts is
refused and ends the run as a broken promise (try EXAMPLE_TRY_CHANGE=1);
EXAMPLE_FAIL=1 makes `right` fail, and `grammarflow resume` then runs it again.

    grammarflow run examples/static.py
"""

import os

from grammarflow import define

grammar = define("start -> left -> end, start -> right -> end")


def start() -> None:
    print("start")


def left() -> None:
    if os.environ.get("EXAMPLE_TRY_CHANGE"):
        from grammarflow import task

        task.add(tasks={"extra": "left"}, edges=[("left", "extra")])  # refused


def right() -> None:
    if os.environ.get("EXAMPLE_FAIL"):
        rows = ["7", "seven"]
        print(f"parsing {len(rows)} rows")
        total = sum(int(r) for r in rows)  # fails: fix the data, then `grammarflow resume`
        print(total)
    print("right runs beside left: nothing orders them")


def end() -> None:
    print("end, after both")
