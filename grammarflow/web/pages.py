"""The pages' HTML: two shells that the page's script (``static/app.js``) fills from
the JSON the server gives, with ``textContent`` only (nothing a task wrote is ever
parsed as markup), and the page that says a run or step does not exist."""

from __future__ import annotations

import html
from importlib import resources

__all__ = ["STATIC", "not_found_page", "run_page", "runs_page"]

_SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf" content="{csrf}">
<title>{title}</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head><body data-page="{page}" data-run="{run}" data-read-only="{read_only}">
<header><a href="/" class="home">grammarflow</a> <span id="where">{title}</span>
<span id="stream" class="stream" title="the live connection to the server"></span></header>
<div id="lost" class="lost" hidden>The connection to the server was lost: what this page
shows may be stale. Trying again…</div>
<main id="main">{body}</main>
</body></html>
"""

_RUNS = """<h1>Runs</h1>
<p class="where">{db}</p>
<table id="runs"><thead><tr><th>run</th><th>status</th><th>workflow</th><th>started</th>
<th>took</th><th>tasks</th><th>holes</th><th>at a glance</th></tr></thead>
<tbody></tbody></table>
<p id="none" hidden>No runs yet: <code>grammarflow run WORKFLOW.py</code> starts one.</p>
"""

_RUN = """<section id="verdict"></section>
<section id="refusal" hidden></section>
<section id="steer" hidden><h2>Steer</h2><span id="buttons"></span>
<span id="said" class="said"></span></section>
<div id="layout">
<div id="left">
<div id="timeline"><button id="back" title="one step back">&larr;</button>
<input id="slider" type="range" min="0" max="0" value="0" aria-label="journal step">
<button id="fwd" title="one step on">&rarr;</button>
<button id="live" title="follow the run as it goes">live</button>
<label><input type="checkbox" id="alternatives" checked> alternatives</label>
<button id="fit" title="fit the picture to the window">fit</button>
<span id="caption"></span></div>
<div id="picture" tabindex="0"><div id="canvas"></div></div>
</div>
<aside id="side">
<section id="task" hidden></section>
<section><h2>Running</h2><ul id="running"></ul></section>
<section><h2>Waiting for a person</h2><ul id="waiting"></ul></section>
<section><h2>Holes and their promises</h2><div id="holes"></div></section>
</aside>
</div>
"""


def _shell(page: str, title: str, body: str, csrf: str, run: int | None,
           read_only: bool) -> str:
    return _SHELL.format(page=page, title=html.escape(title), body=body,
                         csrf=html.escape(csrf), run="" if run is None else run,
                         read_only="1" if read_only else "")


def runs_page(db: str, csrf: str, read_only: bool) -> str:
    return _shell("runs", "runs", _RUNS.format(db=html.escape(db)), csrf, None, read_only)


def run_page(run_id: int, csrf: str, read_only: bool) -> str:
    return _shell("run", f"run {run_id}", _RUN, csrf, run_id, read_only)


def not_found_page(words: str) -> str:
    return _SHELL.format(page="missing", title="not found", csrf="", run="", read_only="1",
                         body=f'<h1>Not found</h1><p class="missing">{html.escape(words)}</p>'
                              '<p><a href="/">all runs</a></p>')


def _static(name: str) -> bytes:
    return resources.files("grammarflow.web").joinpath("static", name).read_bytes()


#: The only files the server sends: its scripts and its style, read once.
STATIC = {"app.js": ("text/javascript; charset=utf-8", _static("app.js")),
          "stream.js": ("text/javascript; charset=utf-8", _static("stream.js")),
          "app.css": ("text/css; charset=utf-8", _static("app.css"))}
