"""A typed pipeline: each task's return value is its output, and each input is the
output of the task it runs after whose name (or kind) the parameter has.

    grammarflow run examples/typed_pipeline.py

fetch's text feeds parse (its parameter is named fetch), parse's rows feed summarize.
The types are checked before anything runs (a parse that took list[int] would be
refused at registration) and every output is validated when it is given: with
EXAMPLE_BAD_ROW=1, parse returns a row whose size is a string, and the run is broken
with the path to that field.
"""

import os
from dataclasses import dataclass

from grammarflow import define

grammar = define("fetch -> parse -> summarize")


@dataclass
class Row:
    name: str
    size: int


@dataclass
class Summary:
    rows: int
    total: int
    largest: str


def fetch() -> str:
    return "alpha 3\nbeta 12\ngamma 7"


def parse(fetch: str) -> list[Row]:
    rows = [Row(name, int(size)) for name, size in (line.split() for line in fetch.splitlines())]
    if os.environ.get("EXAMPLE_BAD_ROW") == "1":
        rows[1] = Row("beta", "twelve")  # type: ignore[arg-type]  # the promise it breaks
    return rows


def summarize(parse: list[Row]) -> Summary:
    largest = max(parse, key=lambda row: row.size)
    return Summary(rows=len(parse), total=sum(row.size for row in parse), largest=largest.name)
