"""The README's table of what each example allows is what `grammarflow analyze` says."""

from __future__ import annotations

import re
from pathlib import Path

from grammarflow.core.analysis import ANY_KIND, Bounds, analyze
from grammarflow.workflow.reading import load_grammar

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("test_"))


def shown(b: Bounds) -> str:
    most = "∞" if b.max is None else str(b.max)
    return str(b.min) if b.max == b.min else f"{b.min}–{most}"


def analysis_rows() -> list[str]:
    """One table row an example: its tasks, longest chain and kinds, as analyze says."""
    rows = []
    for path in EXAMPLES:
        a = analyze(load_grammar(path))
        kinds = ", ".join(f"{'any' if k == ANY_KIND else k} {shown(b)}"
                          for k, b in sorted(a.kinds.items(), key=lambda kb: (
                              kb[0] == ANY_KIND, kb[0])))
        chain = "∞" if a.chain is None else str(a.chain)
        rows.append(f"| [{path.stem}](examples/{path.name}) | {shown(a.tasks)} | {chain} "
                    f"| {kinds} |")
    return rows


def test_the_readme_table_is_what_analyze_says() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = [line for line in readme.splitlines()
             if re.match(r"^\| \[\w+\]\(examples/\w+\.py\) \|", line)]
    assert table == analysis_rows()
