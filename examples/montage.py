"""Montage as a promise: an astronomical mosaic, shaped by constraints on an open hole.

Montage (http://montage.ipac.caltech.edu) reprojects each image (mProject), fits the
difference of every two overlapping images (mDiffFit), gathers the fits (mConcatFit),
models the background (mBgModel), corrects each image (mBackground), lists them
(mImgtbl) and adds them into the mosaic (mAdd). Which images overlap is known only
once the survey is read, and joining each mDiffFit to two overlapping mProject is a
shape no graph grammar generates (docs/constraints.md). So the grammar
promises it as constraints on one open hole after `survey`:

    survey ─> mProject ×N ─> mDiffFit per overlapping pair ─> mConcatFit ─> mBgModel
              mProject i ──────────────────────────> mBackground i <─────────┘
              mBackground ×N ─> mImgtbl ─> mAdd    (mBackground ×N ─> mAdd too)

`survey` reads a seeded layout (N images on a small grid, each a box jittered around
its place; two images overlap when their boxes do) and adds the whole graph with one
raw change. EXAMPLE_MUTATE breaks it, and the run ends broken (exit 3) with the
constraint named: `third_parent` (an mDiffFit with a third mProject before it),
`wrong_kind` (an mFitplane, a Montage kind not promised here), `bg_edge` (an edge from
an mProject into mBgModel).

    grammarflow run examples/montage.py
    EXAMPLE_MUTATE=third_parent grammarflow run examples/montage.py      # exits 3
"""

import os
import random

from grammarflow import define

KINDS = "mProject, mDiffFit, mConcatFit, mBgModel, mBackground, mImgtbl, mAdd"
EDGES = ("survey -> mProject, mProject -> mDiffFit, mDiffFit -> mConcatFit, "
         "mConcatFit -> mBgModel, mProject -> mBackground, mBgModel -> mBackground, "
         "mBackground -> mImgtbl, mBackground -> mAdd, mImgtbl -> mAdd")
MONTAGE = "; ".join([
    f"only {KINDS}",
    "no edges from mProject into mBgModel",
    "each mDiffFit has 2 mProject before, 1 mConcatFit after",
    "each mBackground has 1 mProject before, 1 mBgModel before, 1 mImgtbl after",
    "at most 1 mConcatFit", "at most 1 mBgModel", "at most 1 mImgtbl", "at most 1 mAdd",
    f"only {EDGES}",
])

grammar = define("survey, Montage(survey)", f"Montage(survey;) ::= * where {MONTAGE}")

ROWS, COLS = 2, 3
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def layout(seed: int) -> list[Box]:
    """Images on a ROWS x COLS grid, one unit apart, each a box of half-width 0.4-0.65
    jittered around its place: neighbours overlap, or not, depending on the seed."""
    rng = random.Random(seed)
    boxes = []
    for row in range(ROWS):
        for col in range(COLS):
            x, y = col + rng.uniform(-0.15, 0.15), row + rng.uniform(-0.15, 0.15)
            w, h = rng.uniform(0.4, 0.65), rng.uniform(0.4, 0.65)
            boxes.append((round(x - w, 3), round(y - h, 3), round(x + w, 3), round(y + h, 3)))
    return boxes


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def montage(boxes: list[Box], mutate: str) -> tuple[dict[str, str], list[tuple[str, str]],
                                                    dict[str, dict[str, object]]]:
    """The whole Montage graph for these images (tasks, edges, attrs), or a mutant."""
    n = len(boxes)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if overlap(boxes[i], boxes[j])]
    tasks = {f"p{i}": "mProject" for i in range(n)}
    tasks |= {f"d{i}_{j}": "mDiffFit" for i, j in pairs}
    tasks |= {"concat": "mConcatFit", "bgmodel": "mBgModel", "imgtbl": "mImgtbl",
              "add": "mAdd"}
    tasks |= {f"b{i}": "mBackground" for i in range(n)}
    edges = [("survey", f"p{i}") for i in range(n)]
    for i, j in pairs:
        edges += [(f"p{i}", f"d{i}_{j}"), (f"p{j}", f"d{i}_{j}"), (f"d{i}_{j}", "concat")]
    edges.append(("concat", "bgmodel"))
    for i in range(n):
        edges += [(f"p{i}", f"b{i}"), ("bgmodel", f"b{i}"), (f"b{i}", "imgtbl"),
                  (f"b{i}", "add")]
    edges.append(("imgtbl", "add"))
    attrs: dict[str, dict[str, object]] = {f"p{i}": {"image": i, "box": list(boxes[i])}
                                           for i in range(n)}
    attrs |= {f"d{i}_{j}": {"images": [i, j]} for i, j in pairs}
    if mutate == "third_parent":  # the first fit also after an image not in its pair
        i, j = pairs[0]
        edges.append((f"p{next(k for k in range(n) if k not in (i, j))}", f"d{i}_{j}"))
    elif mutate == "wrong_kind":
        tasks["fitplane"] = "mFitplane"
        edges.append(("p0", "fitplane"))
    elif mutate == "bg_edge":
        edges.append(("p0", "bgmodel"))
    return tasks, edges, attrs


def survey() -> None:
    from grammarflow import task

    boxes = layout(int(os.environ.get("EXAMPLE_SEED", "3")))
    tasks, edges, attrs = montage(boxes, os.environ.get("EXAMPLE_MUTATE", ""))
    task.add(tasks=tasks, edges=edges, attrs=attrs)


def mProject() -> None:
    from grammarflow import task

    ctx = task.context()
    print(f"reproject image {ctx.attrs['image']} (box {ctx.attrs['box']})")


def mDiffFit() -> None:
    from grammarflow import task

    ctx = task.context()
    assert len(ctx.after) == 2  # the promise: its two overlapping images
    print(f"fit the difference of images {ctx.attrs['images']}")


def mConcatFit() -> None: ...
def mBgModel() -> None: ...
def mBackground() -> None: ...
def mImgtbl() -> None: ...
def mAdd() -> None: ...
def mFitplane() -> None: ...
