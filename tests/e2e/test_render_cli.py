"""`grammarflow render` and `history --html`, with the real dot, on real runs."""

from __future__ import annotations

import html
import json
import re
from collections import Counter

from grammarflow.journal.store import Store

from .conftest import Project

WF = """
from grammarflow import define
grammar = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")
def start():
    from grammarflow import task
    task.expand("X.1", "2")
def A(): pass
def B(): pass
def end(): pass
"""


def test_render_a_workflow_before_any_run(project: Project) -> None:
    project.write("wf.py", WF)
    dot = project.cli("render", "wf.py", "--format", "dot", "-o", "-")
    assert dot.returncode == 0, dot.stderr
    assert '"h:X.1" [label="X.1 (X) becomes\\nA\\nor B"' in dot.stdout
    svg = project.cli("render", "wf.py", "--json")
    info = json.loads(svg.stdout)
    assert info == {"output": "wf.svg", "format": "svg", "tasks": 2, "holes": 1}
    assert (project.root / "wf.svg").read_text().lstrip().startswith("<?xml")


def test_render_a_run_now_and_as_it_stood(project: Project) -> None:
    project.write("wf.py", WF)
    assert project.run().code == 0
    now = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert "h:X.1" not in now and '"t:X.1/B"' in now and "#bbf7d0" in now  # all done
    start = project.cli("render", "1", "--at", "0", "--format", "dot", "-o", "-").stdout
    assert "h:X.1" in start and "X.1/B" not in start
    png = project.cli("render", "1", "--format", "png", "-o", "run.png")
    assert png.returncode == 0
    assert (project.root / "run.png").read_bytes().startswith(b"\x89PNG")


def test_history_html_steps_through_every_accepted_change(project: Project) -> None:
    project.write("wf.py", WF)
    result = project.run()
    steps = len(result.journal("step"))
    out = project.cli("history", "1", "--html", "h.html", "--json")
    assert json.loads(out.stdout) == {"output": "h.html", "pictures": steps + 1,
                                      "broken": False}
    page = (project.root / "h.html").read_text()
    assert page.count('<div class="step">') == steps + 1
    assert page.count("<svg") == steps + 1
    assert "hole X.1 expanded with production 2" in page
    assert "<script src" not in page  # self-contained
    assert "BROKEN" not in page
    assert_ids_unique(page)


def assert_ids_unique(page: str) -> None:
    """Every element id of the page is unique, and every reference finds its element."""
    ids = re.findall(r'\bid="([^"]*)"', page)
    assert len(ids) > 20
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    refs = re.findall(r'url\(#([^)]*)\)|href="#([^"]*)"', page)
    assert {a or b for a, b in refs} <= set(ids)


BROKEN = """
from grammarflow import define
grammar = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")
def start():
    from grammarflow import task
    task.add(tasks={"rogue": "Rogue"}, edges=[("start", "rogue"), ("rogue", "end")],
             attrs={"rogue": {"label": "<script>alert(1)</script>"}})
def A(): pass
def B(): pass
def end(): pass
"""


def test_a_broken_run_is_drawn_broken_and_its_page_shows_the_refusal(project: Project
                                                                       ) -> None:
    project.write("wf.py", BROKEN)
    assert project.run().code == 3
    (refused,) = project.run_journal(1, "refused")
    dot = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert "BROKEN: task start asked for a change the grammar does not allow (run 1)" in dot
    start = next(x for x in dot.splitlines() if x.startswith('  "t:start" ['))
    assert 'tooltip="refused"' in start and "ready" not in start
    before = project.cli("render", "1", "--at", "1", "--format", "dot", "-o", "-").stdout
    assert "BROKEN" not in before and "refused" not in before  # not yet broken then
    out = project.cli("history", "1", "--html", "h.html")
    assert out.returncode == 0, out.stderr
    assert "then the refusal" in out.stdout
    page = (project.root / "h.html").read_text()
    headline = "BROKEN: task start asked for a change the grammar does not allow"
    assert f"<b>{headline}</b>" in page  # at the top
    last = page.split('<div class="step">')[-1]
    assert "BROKEN: task start" in last and html.escape(refused["reason"]) in last
    assert len(refused["attempts"]) == 2
    for tried in refused["attempts"]:
        assert f"<li><code>{html.escape(tried['production'])}</code>: " \
               f"{html.escape(tried['reason'])}</li>" in last
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in last  # the message, escaped
    assert "<script>alert" not in page
    assert_ids_unique(page)


def test_render_of_a_missing_run_is_a_usage_error(project: Project) -> None:
    project.write("wf.py", WF)
    project.run()
    missing = project.cli("render", "7")
    assert missing.returncode == 2 and "no run 7" in missing.stderr


def test_render_a_run_while_it_runs(project: Project) -> None:
    import subprocess
    import sys
    import time

    project.write("wf.py", """
        from grammarflow import define
        grammar = define("slow -> after")
        def slow():
            import os, time
            open("started", "w").write("x")
            time.sleep(3)
        def after(): pass
    """)
    proc = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py",
                             "--db", str(project.db)], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (project.root / "started").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        live = project.cli("render", "1", "--format", "dot", "-o", "-")
        assert live.returncode == 0, live.stderr
        assert 'fillcolor="#fde68a"' in live.stdout  # slow is drawn running
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == 0


def test_render_writes_next_to_the_workflow_or_the_database(project: Project) -> None:
    project.write("flows/wf.py", WF)
    drawn = project.cli("render", "flows/wf.py")
    assert drawn.returncode == 0, drawn.stderr
    assert "wrote flows/wf.svg" in drawn.stdout
    assert (project.root / "flows" / "wf.svg").exists()
    assert not (project.root / "wf.svg").exists()  # not the current directory by surprise
    assert project.run("flows/wf.py").code == 0
    run = project.cli("render", "1", "--format", "dot")
    assert run.returncode == 0, run.stderr
    assert (project.db.parent / "run-1.dot").read_text().startswith("digraph")
    assert not (project.root / "run-1.dot").exists()


def test_render_refuses_a_step_outside_the_journal_or_on_a_workflow(project: Project) -> None:
    project.write("wf.py", WF)
    assert project.run().code == 0
    last = Store(project.db, readonly=True).last_seq(1)
    assert project.cli("render", "1", "--at", str(last), "-o", "-").returncode == 0
    past = project.cli("render", "1", "--at", str(last + 1), "-o", "-")
    assert past.returncode == 2 and past.stdout == ""
    assert f"--at {last + 1}: run 1's journal has steps 0 to {last} (see " \
           "`grammarflow history 1`)" in past.stderr
    negative = project.cli("render", "1", "--at", "-1", "-o", "-")
    assert negative.returncode == 2 and "-1 is not in the range x>=0" in negative.stderr
    workflow = project.cli("render", "wf.py", "--at", "3", "-o", "-")
    assert workflow.returncode == 2 and "a workflow file has no journal" in workflow.stderr
    collapse = project.cli("render", "1", "--collapse-above", "0", "-o", "-")
    assert collapse.returncode == 2 and "--collapse-above" in collapse.stderr


def test_render_writes_the_format_its_output_file_names(project: Project) -> None:
    """``-o x.png`` is a PNG, ``-o x.pdf`` a PDF: the extension says the format unless
    --format says otherwise; one that names no format is refused, nothing written."""
    project.write("wf.py", WF)
    magic = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml", "dot": b"digraph"}
    for fmt, start in magic.items():
        out = project.cli("render", "wf.py", "-o", f"pic.{fmt.upper()}", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["format"] == fmt
        assert (project.root / f"pic.{fmt.upper()}").read_bytes().startswith(start), fmt
    told = project.cli("render", "wf.py", "-o", "told.png", "--format", "svg")
    assert told.returncode == 0, told.stderr
    assert (project.root / "told.png").read_bytes().startswith(b"<?xml")
    for name, says in [("pic.jpg", ".jpg is not a picture format render writes"),
                       ("pic", "the name has no extension to tell the picture's format by")]:
        refused = project.cli("render", "wf.py", "-o", name)
        assert refused.returncode == 2
        assert refused.stderr == (f"error: -o {name}: {says} (.svg, .png, .pdf, .dot); name "
                                  "the file so, or give --format svg, png, pdf or dot\n")
        assert not (project.root / name).exists()
