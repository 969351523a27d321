"""`history --html`: one self-contained page that steps through a run's pictures."""

from __future__ import annotations

import html
import json

from grammarflow.render import Picture, render, to_dot
from grammarflow.status import describe, snapshots
from grammarflow.store import Store

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
 body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em; }}
 #bar {{ position: sticky; top: 0; background: #fff; padding: .5em 0; }}
 #pic svg {{ max-width: 100%; height: auto; }}
 .step {{ display: none; }} .step.on {{ display: block; }}
 input[type=range] {{ width: 60%; vertical-align: middle; }}
</style></head><body>
<h1>{title}</h1>
<div id="bar"><button id="prev">&larr;</button> <button id="next">&rarr;</button>
 <input id="slider" type="range" min="0" max="{last}" value="{last}">
 <span id="caption"></span></div>
<details><summary>legend</summary>{legend}</details>
<div id="pic">{steps}</div>
<script>
 const captions = {captions};
 const steps = document.querySelectorAll('.step');
 const slider = document.getElementById('slider');
 function show(i) {{
   i = Math.max(0, Math.min(steps.length - 1, i));
   steps.forEach((s, j) => s.classList.toggle('on', j === i));
   slider.value = i;
   document.getElementById('caption').textContent = captions[i];
 }}
 slider.addEventListener('input', () => show(+slider.value));
 document.getElementById('prev').onclick = () => show(+slider.value - 1);
 document.getElementById('next').onclick = () => show(+slider.value + 1);
 document.addEventListener('keydown', e => {{
   if (e.key === 'ArrowLeft') show(+slider.value - 1);
   if (e.key === 'ArrowRight') show(+slider.value + 1);
 }});
 show({last});
</script></body></html>
"""


def history_page(store: Store, run_id: int) -> tuple[str, int]:
    """The page and the number of pictures (the start, then one per accepted change)."""
    pictures: list[str] = []
    captions: list[str] = []
    legend = ""
    for entry, d in _with_start(store, run_id):
        caption = "start graph" if entry is None else f"step {entry.seq}: {describe(entry)}"
        if not legend:
            legend = _inline(render(_legend_dot(), "svg"))
        svg = _inline(render(to_dot(d.graph, d.grammar, Picture(legend=False)), "svg"))
        pictures.append(f'<div class="step">{svg}</div>')
        captions.append(caption)
    title = html.escape(f"grammarflow run {run_id}")
    page = _PAGE.format(title=title, last=len(pictures) - 1, steps="\n".join(pictures),
                        legend=legend, captions=script_json(captions))
    return page, len(pictures)


def script_json(value: object) -> str:
    """JSON to embed in a ``<script>``: no ``<`` (no ``</script>``, no ``<!--``), ``>`` or
    ``&`` in it, and ASCII only (lone surrogates and U+2028 as escapes), whatever the
    captions hold.

    >>> script_json(["</script><b>"])
    '["\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e"]'
    """
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _inline(svg: bytes) -> str:
    text = svg.decode()
    return text[text.index("<svg"):]  # drop the XML prologue and doctype


def _legend_dot() -> str:
    from grammarflow.render import _legend

    return "digraph legend {\n" + "\n".join(_legend()) + "\n}\n"


def _with_start(store: Store, run_id: int):  # type: ignore[no-untyped-def]
    from grammarflow.status import fold

    _, start = fold(store, run_id, upto=0)
    yield None, start
    yield from snapshots(store, run_id)
