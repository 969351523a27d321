"""Branch on an input: the orchestrator picks the production whose guard holds, on the
output of the task the hole comes after, with no task process of its own.

    grammarflow run examples/branch_on_data.py

measure gives a size (EXAMPLE_SIZE, default 25); the hole after it becomes
``measure -> big -> report`` when the size is over 10, else ``measure -> small ->
report``. report takes whichever ran (both of its inputs are optional: exactly one is
fed). A task may not expand the hole against its guard: with EXAMPLE_DISOBEY=1,
measure itself asks for the other branch, and the run is broken with the guard that
refused it.
"""

import os

from grammarflow import define

grammar = define("measure, report, Size(measure, report)", """
    Size(a, b) ::= [big, when a > 10] a -> big -> b
                 | [small, else] a -> small -> b
""")


def measure() -> int:
    size = int(os.environ.get("EXAMPLE_SIZE", "25"))
    if os.environ.get("EXAMPLE_DISOBEY") == "1":
        from grammarflow import task

        task.output(size)
        task.expand(task.context().hole("Size"), "small" if size > 10 else "big")
        return None  # type: ignore[return-value]  # the output is given above
    return size


def big(measure: int) -> str:
    return f"{measure} is big: split it in {measure // 10} parts"


def small(measure: int) -> str:
    return f"{measure} is small: keep it whole"


def report(big: str = "", small: str = "") -> str:
    return big or small
