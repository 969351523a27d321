"""Bad input never crashes the orchestrator and loses nothing (issue 3, point 6).

Each case is a first task that misbehaves, run for real through `grammarflow run`.
Every case must end with a clear reason recorded, an intact database (integrity check,
a journal without gaps) whose fold is what `status` reports, and nothing of a refused
change in the graph.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest

from .conftest import Project, run_on_a_terminal

WORKFLOW = """
from grammarflow import Kind, define
grammar = define("start, end, X(start, end)",
                 "X(a, b) ::= a -> A -> b | [default] a -> B -> b")
kinds = {{"start": Kind("tasks/start.py", timeout={timeout}, retries={retries}),
          "A": "tasks/ok.py", "B": "tasks/ok.py", "end": "tasks/ok.py"}}
"""

PRE = "import os, sys, time\nfrom grammarflow import task, wire\n"


@dataclass
class Case:
    name: str
    body: str
    code: int  # expected exit code of `grammarflow run`
    reason: str  # expected in the run's reason (or the refused entry)
    timeout: float | None = None
    retries: int = 0
    log_has: tuple[bytes, int] | None = None  # (bytes, count) the attempt's log must hold


def raw(line: str) -> str:
    """A body that writes one protocol line by hand (bypassing the SDK's checks)."""
    return f"task._chan().out.write(wire.PREFIX_BYTES + {line!r}.encode() + b'\\n')\n" \
           "time.sleep(0.5)\n"


CASES = [
    Case("malformed JSON", raw('{"op": "expand", "id": 1, "hole": '), 3, "not JSON"),
    Case("unknown operation", raw('{"op": "teleport", "id": 1}'), 3, "unknown op 'teleport'"),
    Case("a JSON array", raw("[1, 2, 3]"), 3, "expected a JSON object, got list"),
    Case("a field of the wrong type", raw('{"op": "expand", "id": 1, "hole": 7, '
                                          '"production": "1"}'),
         3, "'hole' must be a non-empty string"),
    Case("binary garbage with the prefix",
         "task._chan().out.write(wire.PREFIX_BYTES + bytes(range(256)) + b'\\n')\n"
         "time.sleep(0.5)\n", 3, "malformed message"),
    Case("binary garbage as ordinary output",
         "os.write(1, bytes(range(256)) * 1000)\n", 0, "", log_has=(bytes(range(256)), 1000)),
    Case("a single line of 64 MiB",
         "out = task._chan().out\nout.write(wire.PREFIX_BYTES + b'{\"op\": \"log\", \"msg\": \"')\n"
         "out.write(b'x' * (64 * 1024 * 1024))\nout.write(b'\"}\\n')\ntime.sleep(0.5)\n",
         3, "more than 8388608 bytes"),
    Case("64 MiB of ordinary output on one line",
         "sys.stdout.buffer.write(b'y' * (64 * 1024 * 1024) + b'\\n')\n", 0, "",
         log_has=(b"y" * 1024, 64 * 1024)),
    Case("100,000 messages in a burst",
         "for i in range(100_000):\n    task.log(f'line {i}')\n"
         "task.expand('X.1', '1')\n", 0, "", log_has=(b"[log] line ", 100_000)),
    Case("an edge ending at a started task",
         "task.add(tasks={'x': 'A'}, edges=[('x', 'start')])\n", 3, "already started"),
    Case("a hole that does not exist (or is another run's)",
         "task.expand('X.99', '1')\n", 3, "no hole 'X.99'"),
    Case("a production that does not exist", "task.expand('X.1', '7')\n", 3,
         "no production named '7'"),
    Case("a find whose kind is not a string", raw('{"op": "find", "id": 1, "kind": 7}'), 3,
         "malformed message: find: 'kind' must be a non-empty string"),
    Case("a find naming a task that does not exist",
         "task.find(after='nobody')\n", 3, "find: no task 'nobody' in the graph this task sees"),
    Case("a kind misspelt in a raw change",
         "task.add(tasks={'c': 'Strat'}, edges=[('start', 'c'), ('c', 'end')])\n", 3,
         "no hole of the graph can ever make a task of kind Strat; did you mean kind start, "
         "not Strat?"),
    Case("a find of a kind misspelt",
         "task.find(kind='strat')\n", 3, "find: no task is of kind 'strat', and no hole can "
         "make one (the kinds: A, B, end, start); did you mean start?"),
    Case("a node the grammar does not allow",
         "task.add(tasks={'c': 'C'}, edges=[('start', 'c'), ('c', 'end')])\n", 3,
         "no sequence of allowed productions"),
    Case("an id with path characters",
         "task.add(tasks={'../../etc/passwd': 'A'}, edges=[])\n", 3, "not a valid name"),
    Case("an id with markup characters",
         "task.add(tasks={'<script>alert(1)</script>': 'A'}, edges=[])\n", 3,
         "not a valid name"),
    Case("a task that exits in the middle of a message",
         "task._chan().out.write(wire.PREFIX_BYTES + b'{\"op\": \"exp')\nos._exit(0)\n",
         1, "exited in the middle of a message"),
    Case("a task that hangs", "time.sleep(60)\n", 1, "timed out after 1", timeout=1),
    Case("a task that exits non-zero", "sys.exit(5)\n", 1, "exited with status 5"),
    Case("a task that crashes", "raise RuntimeError('boom')\n", 1, "exited with status 1"),
    # hostile values (issue "Nothing runs twice, nothing hangs, nothing is lost", point 6)
    Case("a log line with lone surrogates",
         "task.log('bad \\ud800 line \\udfff')\ntask.expand('X.1', '1')\n", 0, "",
         log_has=(b"[log] bad \\ud800 line \\udfff", 1)),
    Case("attrs of 200 KiB (more than the environment takes)",
         "task.expand('X.1', '1', attrs={'A': {'data': 'x' * 200 * 1024}})\n", 3,
         "attrs of task 'A' are 200 KiB of JSON; the limit is 64 KiB: pass large data"),
    Case("attrs of 200 KiB in a raw diff",
         "task.add(tasks={'a': 'A'}, edges=[('start', 'a'), ('a', 'end')],\n"
         "         attrs={'a': {'data': 'x' * 200 * 1024}})\n", 3,
         "attrs of task 'a' are 200 KiB of JSON; the limit is 64 KiB"),
    Case("JSON nested 100,000 deep",
         raw('{"op": "log", "msg": "x", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"),
         3, "nested too deeply"),
    Case("progress of 10**400", raw('{"op": "progress", "done": 1' + "0" * 400 + "}"), 3,
         "progress: 'done' must be a finite number >= 0"),
    Case("a refinement whose notation holds a lone surrogate",
         raw('{"op": "refine", "id": 1, "hole": "X.1", "types": ["\\ud800(a) ::= nothing"]}'),
         3, "the new types do not parse"),
    Case("progress of NaN", raw('{"op": "progress", "done": 1, "total": NaN}'), 3,
         "progress: 'total' must be a finite number >= 0"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_a_clear_recorded_error_and_loses_nothing(
        project: Project, case: Case) -> None:
    project.write("wf.py", WORKFLOW.format(timeout=case.timeout, retries=case.retries))
    project.write("tasks/start.py", PRE + case.body)
    project.write("tasks/ok.py", "pass\n")
    result = project.run()
    assert result.code == case.code, (result.view.get("reason"), result.stderr[-2000:])
    view = result.view
    run = view["run"]
    project.check_consistent(run)
    if case.code == 0:
        assert view["status"] == "succeeded"
        if case.log_has is not None:
            start = next(a for a in result.journal("attempt")
                         if a["event"] == "start" and a["task"] == "start")
            log = (project.root / start["log"]).read_bytes()
            needle, count = case.log_has
            assert log.count(needle) >= count, "output was lost"
        return
    texts = [view["reason"] or ""] + [r["reason"] for r in view["refused"]]
    assert any(case.reason in t for t in texts), texts
    if case.code == 3:
        assert view["status"] == "broken"
        refused = result.journal("refused")
        assert len(refused) == 1 and refused[0]["task"] == "start"
        assert refused[0]["message"] is not None  # the message is kept (truncated if huge)
        assert len(refused[0]["message"]) <= 64 * 1024 + 2
        # nothing of the refused change is in the graph
        assert sorted(t["id"] for t in view["tasks"]) == ["end", "start"]
    else:
        assert view["status"] == "failed"
        attempts = [a for a in result.journal("attempt") if a["event"] == "end"]
        assert attempts and attempts[-1]["outcome"] == "failed"


def test_a_retried_task_succeeds_and_its_failed_attempt_left_nothing(project: Project) -> None:
    project.write("wf.py", WORKFLOW.format(timeout=None, retries=1))
    project.write("tasks/start.py", PRE + """
        ctx = task.context()
        task.expand("X.1", "1")          # accepted, but this attempt then fails
        if ctx.attempt == 1:
            sys.exit(9)
    """.replace("\n        ", "\n"))
    project.write("tasks/ok.py", "pass\n")
    result = project.run()
    assert result.code == 0, result.view
    start = next(t for t in result.view["tasks"] if t["id"] == "start")
    assert start["attempts"] == 2
    expansions = [s for s in result.journal("step") if s["op"] == "expand"]
    assert expansions == [{"op": "expand", "hole": "X.1", "production": "1", "attrs": {},
                           "by": "start"}]
    project.check_consistent(result.view["run"])


def test_a_due_hole_without_default_breaks_the_promise_naming_it(project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import define
        grammar = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")
        kinds = {"start": "tasks/ok.py", "A": "tasks/ok.py", "B": "tasks/ok.py",
                 "end": "tasks/ok.py"}
    """)
    project.write("tasks/ok.py", "pass\n")
    result = project.run()
    assert result.code == 3
    assert "hole X.1 (X) is due" in result.view["reason"]
    assert result.view["refused"][0]["hole"] == "X.1"


def test_resuming_a_failed_run_gives_the_failed_task_another_attempt(project: Project) -> None:
    project.write("wf.py", WORKFLOW.format(timeout=None, retries=0))
    project.write("tasks/start.py", PRE + """
        if not os.path.exists("fixed"):
            sys.exit(4)
        task.expand("X.1", "2")
    """.replace("\n        ", "\n"))
    project.write("tasks/ok.py", "pass\n")
    failed = project.run()
    assert failed.code == 1 and "exited with status 4" in failed.view["reason"]
    (project.root / "fixed").write_text("now it works")
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.view
    assert sorted(t["id"] for t in resumed.view["tasks"]) == ["X.1/B", "end", "start"]
    retries = [a for a in project.run_journal(1, "attempt") if a["event"] == "retry"]
    assert len(retries) == 1 and retries[0]["task"] == "start"
    project.check_consistent(1)


def test_progress_of_10_to_the_400_on_a_terminal_is_refused_not_a_crash(
        project: Project) -> None:
    """The live display formats progress as floats: 10**400 must never reach it."""
    project.write("wf.py", WORKFLOW.format(timeout=None, retries=0))
    project.write("tasks/start.py", PRE + "task.progress(10**400, None)\ntime.sleep(0.5)\n")
    project.write("tasks/ok.py", "pass\n")
    code, text = run_on_a_terminal(project, "run", "wf.py", columns=200)
    assert "Traceback" not in text, text[-3000:]
    assert code == 3, text[-3000:]
    view = json.loads(project.cli("status", "1", "--json").stdout)
    assert "progress: 'done' must be a finite number >= 0" in view["reason"]
    project.check_consistent(1)


HOSTILE_LABEL = "\ufffe\uffff \ud800 &#1; &#xFFFE; \x01\x7f </script><b> <!--<script>"

NAMED = """
from grammarflow import Fragment, Role, TaskSpec, define, hole_type

def one(kind):
    return Fragment(tasks=(TaskSpec(kind, kind, {}),), edges=(("a", kind), (kind, "b")))

grammar = define("start, end, X(start, end)", [hole_type(
    "X", ["a", "b"], [Role.AFTER, Role.BEFORE], [one("A"), one("B")],
    names=[{names}], default="right")])
kinds = {"start": "tasks/start.py", "A": "tasks/ok.py", "B": "tasks/ok.py",
         "end": "tasks/ok.py"}
"""


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "script":
            self.inside = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.scripts[-1] += data


def test_hostile_production_names_are_refused_at_registration(project: Project) -> None:
    project.write("wf.py", NAMED.replace("{names}", '"</script><b>", "right"'))
    result = project.run()
    assert result.code == 2
    assert "production name '</script><b>' is not valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_hostile_labels_keep_the_picture_and_the_page_well_formed(project: Project) -> None:
    project.write("wf.py", NAMED.replace("{names}", '"left", "right"'))
    project.write("tasks/start.py", PRE + f"""
task.expand("X.1", "left", attrs={{"A": {{"label": {HOSTILE_LABEL!r}}}}})
task.style(edge=("start", "X.1/A"), label={HOSTILE_LABEL!r})
""")
    project.write("tasks/ok.py", "pass\n")
    result = project.run()
    assert result.code == 0, result.stderr[-3000:]
    shown = project.cli("status", "1")  # lone surrogates print as escapes
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    picture = project.cli("render", "1", "-o", "pic.svg")
    assert picture.returncode == 0, picture.stderr
    svg = ET.parse(project.root / "pic.svg").getroot()  # well-formed XML
    texts = ["".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert any("</script><b>" in t and "&#1;" in t for t in texts), texts
    page = project.cli("history", "1", "--html", "page.html")
    assert page.returncode == 0, page.stderr
    html = (project.root / "page.html").read_text(encoding="utf-8")
    scripts = _Scripts()
    scripts.feed(html)
    assert len(scripts.scripts) == 1 and "const captions" in scripts.scripts[0]
    assert "<" not in scripts.scripts[0], "a caption's '<' is raw inside the script"
    steps = html.split('<div class="step">')[1:]
    assert len(steps) == int(page.stdout.split(": ")[1].split(" ")[0])
    for step in steps:
        ET.fromstring(step[:step.index("</svg>") + len("</svg>")])  # each picture parses


def test_attrs_too_large_for_the_environment_from_the_workflow_fail_naming_the_limit(
        project: Project) -> None:
    """Attrs written into a production reach the task's environment, where one variable
    holds at most 128 KiB: exec would fail with "Argument list too long"."""
    project.write("wf.py", """
        from grammarflow import Fragment, Role, TaskSpec, define, hole_type
        big = Fragment(tasks=(TaskSpec("A", "A", {"data": "x" * 200 * 1024}),),
                       edges=(("a", "A"), ("A", "b")))
        grammar = define("start, end, X(start, end)", [hole_type(
            "X", ["a", "b"], [Role.AFTER, Role.BEFORE], [big], default="1")])
        kinds = {"start": "tasks/ok.py", "A": "tasks/ok.py", "end": "tasks/ok.py"}
    """)
    project.write("tasks/ok.py", "pass\n")
    result = project.run()
    assert result.code == 1, result.stderr[-3000:]
    assert result.view["reason"] == (
        "task X.1/A failed after 1 attempt(s): could not start: attrs of task 'X.1/A' are "
        "200 KiB of JSON; the limit is 64 KiB: pass large data another way (e.g. a file "
        "path in attrs)")
    project.check_consistent(1)


def test_a_refinement_with_a_hole_attached_to_a_number_is_malformed_not_a_bug(
        project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import define
        grammar = define("start, end, Any(*)", "Any(*) ::= *")
        kinds = {"start": "tasks/start.py", "end": "tasks/ok.py"}
    """)
    project.write("tasks/start.py", PRE + raw(
        '{"op": "refine", "id": 1, "hole": "Any.1", "types": ["Q(a) ::= [default] nothing"], '
        '"holes": [{"type": "Q", "args": [1]}]}'))
    project.write("tasks/ok.py", "pass\n")
    result = project.run()
    assert result.code == 3, result.stderr[-3000:]
    assert result.view["reason"] == (
        "broken promise: task start sent a malformed message: refine: each hole must be "
        "{'type': str, 'args': [str]}, got dict")
    project.check_consistent(1)


def test_a_refusal_quoting_a_lone_surrogate_is_recorded_and_printed_as_an_escape(
        project: Project) -> None:
    project.write("wf.py", WORKFLOW.format(timeout=None, retries=0))
    project.write("tasks/start.py", PRE + raw(
        '{"op": "refine", "id": 1, "hole": "X.1", "types": ["\\ud800(a) ::= nothing"]}'))
    project.write("tasks/ok.py", "pass\n")
    result = project.run()
    assert result.code == 3, result.stderr[-3000:]
    assert "\\ud800(a) ::= nothing" in result.view["reason"]  # recorded, as an escape
    for command in (["status", "1"], ["history", "1"], ["runs"]):
        shown = project.cli(*command)
        assert shown.returncode == 0, shown.stderr[-3000:]
        assert "\\ud800(a) ::= nothing" in shown.stdout
    project.check_consistent(1)
