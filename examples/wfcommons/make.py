"""Write real workflow shapes made by the WfCommons generator (run by hand, then commit).

    .venv/bin/python -m pip install wfcommons     # not a dependency: its output is stored
    .venv/bin/python examples/wfcommons/make.py

Writes ``epigenomics-<n>.json.gz`` for each size below: an Epigenomics instance made by
``WorkflowGenerator(EpigenomicsRecipe.from_num_tasks(n))`` with Python's and NumPy's
random generators seeded, as ``{"source", "tasks": {id: kind}, "edges": [[u, v], ...]}``
(tasks and edges in the order of the WfFormat file). Epigenomics is lanes of
``fastqSplit -> (filterContams -> sol2sanger -> fast2bfq -> map)* -> mapMerge``, every
lane's mapMerge into one mapMerge, then ``chr21 -> pileup``: a map of maps. The
generator, replicating chains to reach ``n`` tasks, gives a few chains the split and the
merge of several lanes at once; each of those is kept in the lane of its first split
(its other lanes' edges dropped), so that the instance is that shape exactly.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SIZES = {2000: 1, 300: 1}  # tasks asked of the generator: seed
CHAIN = ("filterContams", "sol2sanger", "fast2bfq", "map")


def kind(task_id: str) -> str:
    return task_id.rsplit("_", 1)[0]


def lanes_kept_apart(tasks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The instance's edges, each chain in the lane of its first split only."""
    by_id = {t["id"]: t for t in tasks}

    def chain(first: dict[str, Any]) -> list[dict[str, Any]]:
        out = [first]
        while kind(out[-1]["id"]) != "map":
            out.append(by_id[out[-1]["children"][0]])
        return out

    merge_of: dict[str, str] = {}  # a lane's split -> its merge, from chains of one lane
    for t in tasks:
        if kind(t["id"]) == "filterContams" and len(t["parents"]) == 1:
            last = chain(t)[-1]
            if len(last["children"]) == 1:
                merge_of[t["parents"][0]] = last["children"][0]
    parents = {t["id"]: list(t["parents"]) for t in tasks}
    for t in tasks:
        if kind(t["id"]) == "filterContams":
            split, last = t["parents"][0], chain(t)[-1]
            parents[t["id"]] = [split]
            for merge in last["children"]:
                if merge != merge_of[split]:
                    parents[merge].remove(last["id"])
    return [(p, t["id"]) for t in tasks for p in parents[t["id"]]]


def main() -> None:
    import numpy as np
    from wfcommons import WorkflowGenerator
    from wfcommons.wfchef.recipes import EpigenomicsRecipe

    for n, seed in SIZES.items():
        random.seed(seed)
        np.random.seed(seed)
        workflow = WorkflowGenerator(EpigenomicsRecipe.from_num_tasks(n)).build_workflow()
        path = HERE / f"epigenomics-{n}.wfformat.json"
        workflow.write_json(path)
        tasks = json.loads(path.read_text())["workflow"]["specification"]["tasks"]
        path.unlink()
        out = {"source": f"wfcommons EpigenomicsRecipe.from_num_tasks({n}), seed {seed}; "
                         "chains shared by lanes kept in their first lane",
               "tasks": {t["id"]: kind(t["id"]) for t in tasks},
               "edges": lanes_kept_apart(tasks)}
        target = HERE / f"epigenomics-{n}.json.gz"
        target.write_bytes(gzip.compress(json.dumps(out).encode(), mtime=0))
        print(f"{target.name}: {len(out['tasks'])} tasks, {len(out['edges'])} edges")


if __name__ == "__main__":
    main()
