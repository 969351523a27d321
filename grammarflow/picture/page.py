"""`history --html`: one self-contained page that steps through a run's pictures.

The page embeds one SVG per picture; dot numbers the elements of each the same way
(``graph0``, ``node1``, ...), so every picture's ids (and the references to them) are
prefixed with its frame (``f3-node1``): the ids of the page are unique. A broken run
ends with one more frame, its picture drawn broken and the refusal under it — the
reason, the hole, every production tried and why, the refused message — and the page
says at its top that the run broke.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

from grammarflow.errors import Refusal
from grammarflow.journal.status import describe, fold, refusal_at, snapshots
from grammarflow.journal.store import Store
from grammarflow.picture.render import Picture, render, to_dot

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
 body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em; }}
 #bar {{ position: sticky; top: 0; background: #fff; padding: .5em 0; }}
 #pic svg {{ max-width: 100%; height: auto; }}
 .step {{ display: none; }} .step.on {{ display: block; }}
 input[type=range] {{ width: 60%; vertical-align: middle; }}
 .broken {{ color: #b91c1c; }} .refusal {{ border-left: 4px solid #dc2626; padding-left: 1em; }}
 .refusal code {{ white-space: pre-wrap; word-break: break-all; }}
</style></head><body>
<h1>{title}</h1>
{banner}<div id="bar"><button id="prev">&larr;</button> <button id="next">&rarr;</button>
 <input id="slider" type="range" min="0" max="{last}" value="{last}">
 <span id="caption"></span></div>
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


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """The page, and what it holds."""

    text: str
    pictures: int  # the start, one per accepted change, and the refusal if it broke
    broken: bool


def history_page(store: Store, run_id: int) -> HistoryPage:
    """The page stepping through the run: the start graph, the graph after each
    accepted change, then, for a broken run, the refusal."""
    frames: list[str] = []
    captions: list[str] = []
    for entry, d in _with_start(store, run_id):
        captions.append("start graph" if entry is None else f"step {entry.seq}: {describe(entry)}")
        svg = render(to_dot(d.graph, d.grammar, limits=d.limits), "svg")
        frames.append(f'<div class="step">{inline(svg, f"f{len(frames)}-")}</div>')
    refusal = refusal_at(store, run_id)
    banner = ""
    if refusal is not None:
        _, d = fold(store, run_id)
        svg = render(to_dot(d.graph, d.grammar, Picture(refusal=refusal), d.limits), "svg")
        frames.append(f'<div class="step">{inline(svg, f"f{len(frames)}-")}'
                      f"{refusal_section(refusal)}</div>")
        captions.append(f"step {refusal.seq}: BROKEN: {refusal.headline()}")
        banner = (f'<p class="broken"><b>BROKEN: {html.escape(refusal.headline())}</b> '
                  "(the last picture shows why)</p>\n")
    title = html.escape(f"grammarflow run {run_id}")
    page = _PAGE.format(title=title, last=len(frames) - 1, steps="\n".join(frames),
                        banner=banner, captions=script_json(captions))
    return HistoryPage(page, len(frames), refusal is not None)


def refusal_section(refusal: Refusal) -> str:
    """The refusal in full, escaped: why, where, every production tried and why not."""
    esc = html.escape
    parts = [f'<section class="refusal"><h2 class="broken">BROKEN: '
             f"{esc(refusal.headline())}</h2>",
             f"<p>{esc(refusal.reason)}</p>"]
    if refusal.hole is not None:
        parts.append(f"<p>aimed at hole <code>{esc(refusal.hole)}</code></p>")
    if refusal.attempts:
        parts.append(f"<p>{len(refusal.attempts)} production(s) tried:</p><ul>")
        parts.extend(f"<li><code>{esc(a.production)}</code>: {esc(a.reason)}</li>"
                     for a in refusal.attempts)
        parts.append("</ul>")
    if refusal.message is not None:
        parts.append(f"<p>the refused message: <code>{esc(refusal.message)}</code></p>")
    parts.append("</section>")
    return "\n".join(parts)


def script_json(value: object) -> str:
    """JSON to embed in a ``<script>``: no ``<`` (no ``</script>``, no ``<!--``), ``>`` or
    ``&`` in it, and ASCII only (lone surrogates and U+2028 as escapes), whatever the
    captions hold.

    >>> script_json(["</script><b>"])
    '["\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e"]'
    """
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


#: An id, or a reference to one, in an SVG tag: ``id="node1"``, ``url(#clip1)``,
#: ``href="#a_node1"``.
_ID = re.compile(r'(\bid="|url\(#|href="#)([^")]*)')
_TAG = re.compile(r"<[^<>]+>")


def inline(svg: bytes, prefix: str) -> str:
    """dot's SVG to embed in a page: without its XML prologue and doctype, every id and
    reference to one in its tags prefixed with ``prefix`` (text is left alone).

    >>> inline(b'<?xml?><svg><g id="node1" clip-path="url(#c1)">id="x"</g></svg>', "f0-")
    '<svg><g id="f0-node1" clip-path="url(#f0-c1)">id="x"</g></svg>'
    """
    text = svg.decode()
    text = text[text.index("<svg"):]
    return _TAG.sub(lambda tag: _ID.sub(lambda m: m.group(1) + prefix + m.group(2),
                                        tag.group()), text)


def _with_start(store: Store, run_id: int):  # type: ignore[no-untyped-def]
    _, start = fold(store, run_id, upto=0)
    yield None, start
    yield from snapshots(store, run_id)


__all__ = [
    "HistoryPage",
    "history_page",
    "inline",
    "refusal_section",
    "script_json",
]
