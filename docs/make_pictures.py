"""Regenerate the pictures of the README and docs/ with grammarflow's own renderer.

    .venv/bin/python docs/make_pictures.py

For each example: the picture before any run (the start graph and its wildcards),
during a run (after its first task committed its changes) and after it; promises.py
with its default promise (only_kinds), montage.py with the layout of seed 3, the data
examples with their defaults (containers.py needs podman and the image `bash dev.sh`
builds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "pictures"
EXAMPLES = ["static", "random_branch", "random_map", "dynamic", "narrowed", "subgraph",
            "broken_promise", "promises", "montage", "typed_pipeline", "branch_on_data",
            "map_list", "approval", "loop", "cosmetics", "containers"]


def gf(*args: str, db: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grammarflow", *args, "--db", str(db)],
                          cwd=ROOT, capture_output=True, text=True, check=check,
                          env={**os.environ, "EXAMPLE_SEED": "3"})


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "pictures.db"
        for i, name in enumerate(EXAMPLES, start=1):
            wf = f"examples/{name}.py"
            gf("render", wf, "-o", str(OUT / f"{name}-before.svg"), db=db)
            gf("run", wf, "--json", db=db, check=False)  # broken_promise 3, approval 4
            history = json.loads(gf("history", str(i), "--json", db=db).stdout)
            first_done = next((e["seq"] for e in history if e["kind"] == "step"
                               and e["data"].get("op") == "state"
                               and e["data"].get("state") == "done"), len(history))
            gf("render", str(i), "--at", str(first_done),
               "-o", str(OUT / f"{name}-during.svg"), db=db)
            gf("render", str(i), "-o", str(OUT / f"{name}-after.svg"), db=db)
            print(f"{name}: before, during (after step {first_done}), after")
        restart_pictures(db, len(EXAMPLES) + 1)
        upgrade_picture(db, len(EXAMPLES) + 2)


def restart_pictures(db: Path, run: int) -> None:
    """random_map run to the end, then `restart RUN A`: the map's tasks gone, its hole
    open again with its productions, A and B pending."""
    gf("run", "examples/random_map.py", "--json", db=db)
    gf("render", str(run), "-o", str(OUT / "restart-before.svg"), db=db)
    gf("restart", str(run), "A", db=db)
    gf("render", str(run), "-o", str(OUT / "restart-after.svg"), db=db)
    print("restart: before and after `restart RUN A`")


def upgrade_picture(db: Path, run: int) -> None:
    """examples/upgrade/v1.py stopped by a failed measure, upgraded to v2.py: the
    branch after the map is new, the production it had changed."""
    subprocess.run([sys.executable, "-m", "grammarflow", "run", "examples/upgrade/v1.py",
                    "--db", str(db)], cwd=ROOT, capture_output=True, text=True,
                   env={**os.environ, "EXAMPLE_FAIL": "item2"}, check=False)
    gf("upgrade", str(run), "examples/upgrade/v2.py", "--dry-run", "--picture",
       str(OUT / "upgrade.svg"), db=db)
    print("upgrade: v1 -> v2 of examples/upgrade")


if __name__ == "__main__":
    main()
