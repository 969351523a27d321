"""Cosmetics: how tasks and edges are drawn, registered and set at run time, under a
cosmetic promise — never what runs or when.

    grammarflow run examples/cosmetics.py && grammarflow render 1

At registration every `report` task is drawn as a note and every edge from a `fetch`
to a `clean` task is dashed and labelled. At run time `fetch` colours and relabels
itself with what it fetched, and `clean` labels the edge to `report` with how many
rows survived. The grammar promises colours from a palette: EXAMPLE_OFF_PALETTE=1
makes `clean` colour itself purple, and the run is broken by that promise (exit 3).
"""

import os

from grammarflow import define

PALETTE = ["#16a34a", "#dc2626", "orange"]

grammar = define("fetch -> clean -> report",
                 cosmetics=[f"colors from {', '.join(PALETTE)}"],
                 styles={"report": {"shape": "note"},
                         "fetch -> clean": {"label": "raw rows", "style": "dashed"}})


def fetch() -> list[int]:
    from grammarflow import task

    rows = [3, -1, 4, 1, -5, 9]
    task.style(color="#16a34a", label=f"fetched {len(rows)} rows")
    return rows


def clean(fetch: list[int]) -> list[int]:
    from grammarflow import task

    kept = [r for r in fetch if r >= 0]
    task.style(edge=(task.context().task, "report"), label=f"{len(kept)} clean rows",
               color="orange")
    if os.environ.get("EXAMPLE_OFF_PALETTE") == "1":
        task.style(color="purple")  # not in the promised palette: the run breaks
    return kept


def report(clean: list[int]) -> int:
    return sum(clean)
