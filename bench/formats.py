"""Real workflows in: importing and drawing generated 2,000-task WfCommons instances.

    .venv/bin/python bench/formats.py            # Montage, Epigenomics, Seismology

Each instance is made by the `wfcommons` generator (seeded; a test dependency), then:
`grammarflow import wfformat` (a fresh process, start to end; target < 1 s), and
`grammarflow render` of the imported workflow (its 2,000 tasks drawn: tasks alike as
`kind ×N alike`; before, `dot` alone took 10.7 s on a 1,983-task Montage). The floors,
measured in the same run: `grammarflow --version` (a process's start) and `json.load`
of the instance.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable


def timed(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    import numpy
    from wfcommons import WorkflowGenerator
    from wfcommons.wfchef import recipes

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = min(timed([PY, "-m", "grammarflow", "--version"], root) for _ in range(3))
        print(f"floor: `grammarflow --version` {start:.3f} s")
        for recipe in ("Montage", "Epigenomics", "Seismology"):
            random.seed(1)
            numpy.random.seed(1)
            made = WorkflowGenerator(getattr(recipes, f"{recipe}Recipe").from_num_tasks(2000))
            source = root / f"{recipe}.json"
            made.build_workflow().write_json(source)
            t0 = time.perf_counter()
            tasks = len(json.loads(source.read_text())["workflow"]["specification"]["tasks"])
            load = time.perf_counter() - t0
            imported = min(timed([PY, "-m", "grammarflow", "import", "wfformat", str(source),
                                  "-o", f"{recipe}.py"], root) for _ in range(3))
            drawn = timed([PY, "-m", "grammarflow", "render", f"{recipe}.py", "-o",
                           f"{recipe}.svg"], root)
            size = (root / f"{recipe}.svg").stat().st_size
            print(f"{recipe:<12} {tasks:>5} tasks: import {imported:.3f} s "
                  f"({imported / start:.1f}x the floor; json.load alone {load:.3f} s); "
                  f"render {drawn:.2f} s ({size // 1024} KiB of SVG)")


if __name__ == "__main__":
    main()
