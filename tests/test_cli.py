import json
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from grammarflow.cli import main
from grammarflow.core.grammar import Grammar
from grammarflow.errors import GrammarflowError, NotationError, WorkflowFileError
from grammarflow.workflow.checking import load_workflow
from grammarflow.workflow.reading import load_grammar, read_workflow

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_check_prints_the_grammar_in_notation() -> None:
    result = CliRunner().invoke(main, ["check", str(EXAMPLES / "random_branch.py")])
    assert result.exit_code == 0, result.output
    assert "X(a, b) ::= [left] a -> A -> b | [right] a -> B -> b" in result.output


def test_check_json_round_trips() -> None:
    result = CliRunner().invoke(main, ["check", str(EXAMPLES / "subgraph.py"), "--json"])
    data = json.loads(result.stdout)
    assert [t["name"] for t in data["grammar"]["types"]] == ["X"]
    assert Grammar.from_json(data["grammar"]) == load_grammar(EXAMPLES / "subgraph.py")
    assert (data["warnings"], data["notes"], result.exit_code) == ([], [], 0)


def test_simulate_is_deterministic_per_seed_and_stays_in_the_language() -> None:
    args = ["simulate", str(EXAMPLES / "random_map.py"), "--runs", "5", "--json"]
    first = CliRunner().invoke(main, [*args, "--seed", "7"])
    again = CliRunner().invoke(main, [*args, "--seed", "7"])
    assert first.exit_code == 0 and first.output == again.output
    for run in json.loads(first.output):
        kinds = sorted(t["kind"] for t in run["graph"]["tasks"])
        assert kinds[0] == "A" and kinds[1] == "B" and set(kinds[2:]) <= {"M"}
        assert all(t["state"] == "done" for t in run["graph"]["tasks"])


def test_simulate_prints_productions_in_notation() -> None:
    result = CliRunner().invoke(main, ["simulate", str(EXAMPLES / "random_branch.py")])
    assert "expand   X.1: X(a, b) ::= a -> " in result.output


def test_a_missing_or_wrong_workflow_file_is_a_clear_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "nope.py")])
    assert result.exit_code == 2 and "does not exist" in result.output
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    result = CliRunner().invoke(main, ["check", str(bad)])
    assert result.exit_code == 2 and "must define 'grammar = define(...)'" in result.output


def test_simulate_refuses_a_count_of_runs_that_is_not_positive() -> None:
    result = CliRunner().invoke(main, ["simulate", str(EXAMPLES / "random_map.py"), "--runs", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--runs': 0 is not in the range x>=1" in result.output


def test_build_output_and_pictures_rendered_next_to_the_examples_are_ignored_by_git() -> None:
    import subprocess

    root = EXAMPLES.parent
    paths = ["build/lib/x.py", "examples/random_map.svg", "examples/random_map.png",
             "examples/random_map.dot", ".grammarflow/run-1.svg"]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=root,
                             capture_output=True, text=True, check=False)
    assert sorted(ignored.stdout.split()) == sorted(paths), ignored.stderr
    kept = subprocess.run(["git", "check-ignore", "--no-index", "docs/pictures/static-before.svg"],
                          cwd=root, capture_output=True, text=True, check=False)
    assert kept.stdout == ""  # the docs' pictures stay tracked


# ============================================ check finds what run would refuse
def _workflow(root: Path, text: str, name: str = "flows/wf.py") -> str:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return name


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="grammarflow")


KINDS_WITHOUT_COMMANDS = '''\
    from grammarflow import Kind, define
    grammar = define("start -> A -> B -> C -> D -> E", [])
    kinds = {"A": "tasks/a.py", "B": "nosuchpkg.job", "C": "lib.py:go",
             "D": Kind(":helper", retries=2)}
    def start(): pass
'''
KINDS_ERRORS = [
    "error: kind 'A' runs 'tasks/a.py', which does not exist beside wf.py (looked for "
    "{root}/flows/tasks/a.py)",
    "error: kind 'B' runs module 'nosuchpkg.job' (python -m), which is found neither "
    "beside {root}/flows nor on the interpreter's path",
    "error: kind 'C' runs 'lib.py:go', but lib.py defines no 'go'",
    "error: kind 'D' runs ':helper', but wf.py defines no 'helper'",
    "error: kind 'E' has no command: add it to 'kinds' in wf.py (e.g. kinds = {{'E': "
    "'tasks/e.py'}}) or define a function E() in the workflow file",
]


def test_check_names_every_kind_without_a_command_as_run_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    wf = _workflow(tmp_path, KINDS_WITHOUT_COMMANDS)
    _workflow(tmp_path, "def went(): pass\n", "flows/lib.py")
    expected = [line.format(root=tmp_path.resolve()) for line in KINDS_ERRORS]
    checked = _cli("check", wf)
    assert checked.exit_code == 2
    assert checked.stdout.startswith("start: start -> A -> B -> C -> D -> E\n")
    assert checked.stderr.splitlines() == expected
    run = _cli("run", wf, "--db", str(tmp_path / "gf.db"))
    assert (run.exit_code, run.stderr.splitlines()) == (2, expected)
    assert not (tmp_path / "gf.db").exists()  # refused before anything started


def test_every_kind_with_a_command_that_can_start_passes_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    wf = _workflow(tmp_path, '''\
        from grammarflow import define
        grammar = define("start -> A -> B -> C -> D", [])
        kinds = {"A": "tasks/a.py", "B": "mypkg", "C": "lib.py:go", "D": "json.tool"}
        def start(): pass
    ''')
    for name in ["flows/tasks/a.py", "flows/mypkg/__init__.py", "flows/mypkg/__main__.py"]:
        _workflow(tmp_path, "", name)
    _workflow(tmp_path, "if True:\n    from os import path as go\n", "flows/lib.py")
    result = _cli("check", wf)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.endswith("ok: 0 hole type(s), every one productive, every "
                                  "production well formed, every kind with a command\n")
    (tmp_path / "flows/mypkg/__main__.py").unlink()
    result = _cli("check", wf)
    assert result.stderr == ("error: kind 'B' runs package 'mypkg' (python -m), which has "
                             "no __main__.py\n")


def test_check_warns_of_a_misspelt_parameter_and_exits_0(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    wf = _workflow(tmp_path, '''\
        from grammarflow import define
        grammar = define("start, end, X(start, end)", "X(a, b) ::= a -> M -> B")
        def start(): pass
        def end(): pass
        def M(): pass
        def B(): pass
    ''')
    result = _cli("check", wf)
    assert result.exit_code == 0
    assert result.stderr == ("warning: production 1 of X makes a new task 'B' but X has a "
                             "parameter 'b': did you mean b?\n")
    assert result.stdout.endswith("every kind with a command; 1 warning(s)\n")
    data = json.loads(_cli("check", wf, "--json").stdout)
    assert data["warnings"] == [result.stderr[len("warning: "):].rstrip("\n")]


def test_check_warns_of_a_kinds_entry_no_task_has(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    wf = _workflow(tmp_path, '''\
        from grammarflow import define
        grammar = define("start", [])
        kinds = {"Start": "json.tool"}
        def start(): pass
    ''')
    result = _cli("check", wf)
    assert (result.exit_code, result.stderr) == (0, "warning: 'kinds' in wf.py names 'Start', "
                                                    "a kind no task of the grammar has: did "
                                                    "you mean 'start'?\n")


def test_a_misspelt_kind_gets_the_kind_it_may_misspell(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command given for a kind no task is, named like a kind with none: `check` and
    `run` say which one it may misspell (a `kinds` entry or a function alike), and a
    kind first made at run time is offered the kinds that have a command."""
    monkeypatch.chdir(tmp_path)
    wf = _workflow(tmp_path, '''\
        from grammarflow import Kind, define
        grammar = define("fetch -> parse -> report", [])
        kinds = {"fecth": "json.tool", "report": Kind("json.tool"), "Q": "json.tool"}
        def prase(): pass
    ''')
    expected = [
        "error: kind 'fetch' has no command: add it to 'kinds' in wf.py (e.g. kinds = "
        "{'fetch': 'tasks/fetch.py'}) or define a function fetch() in the workflow file; "
        "'kinds' in wf.py names 'fecth', which no task of the grammar is: did you mean "
        "'fetch' there?",
        "error: kind 'parse' has no command: add it to 'kinds' in wf.py (e.g. kinds = "
        "{'parse': 'tasks/parse.py'}) or define a function parse() in the workflow file; "
        "wf.py defines a function prase(), which no task of the grammar is: did you mean "
        "'parse' there?"]
    checked = _cli("check", wf)
    assert checked.exit_code == 2
    assert checked.stderr.splitlines() == [
        "warning: 'kinds' in wf.py names 'fecth', a kind no task of the grammar has: did "
        "you mean 'fetch'?",
        "warning: 'kinds' in wf.py names 'Q', a kind no task of the grammar has", *expected]
    run = _cli("run", wf, "--db", str(tmp_path / "gf.db"))
    assert (run.exit_code, run.stderr.splitlines()) == (2, expected)
    workflow = read_workflow(tmp_path / wf)
    with pytest.raises(GrammarflowError) as raised:
        workflow.kind("reprot")
    assert str(raised.value).endswith("; did you mean kind 'report', which has one?")
    with pytest.raises(GrammarflowError) as raised:
        workflow.kind("R")
    assert str(raised.value).endswith("or define a function R() in the workflow file")


def test_check_notes_that_kinds_made_in_open_holes_are_checked_only_when_they_appear() -> None:
    result = _cli("check", str(EXAMPLES / "dynamic.py"))
    assert (result.exit_code, result.stderr) == (0, (
        "note: kinds made at run time in open holes (Any) cannot be checked before a run; "
        "one with no command fails its task when it appears\n"))


# ============================================ a user's mistakes, without a traceback
MISTAKES = {
    "a syntax error": ('''\
        from grammarflow import define

        grammar = define("s, e, X(s, e)",
            "X(a, b) ::= a -> A -> b"
    ''', "flows/wf.py, line 3: '(' was never closed"),
    "a notation error": ('''\
        from grammarflow import define

        grammar = define(
            "start, end, X(start, end)",
            "X(a b) ::= a -> A -> b",
        )
    ''', "flows/wf.py, line 5: expected ',', ';' or ')' between parameters at column 5 of "
         "'X(a b) ::= a -> A -> b'"),
    "a bad production deep in a multi-line define": ('''\
        from grammarflow import define

        grammar = define(
            "start, end, X(start, end)",
            """
            X(a, b) ::= a -> A -> b   # fine
                      | Y(a, b)
            Y(a, b) ::= a -> B -> b
                      | a - > C -> b
            """,
        )
    ''', "flows/wf.py, line 9: expected a name, '->', ',', '|', '(', ')' or '::=' at column "
         "29 of 'Y(a, b) ::= a -> B -> b | a - > C -> b'"),
    "a bad production among several, split over lines": ('''\
        from grammarflow import define

        RULES = ["X(a, b) ::= a -> A -> b | Y(a, b)",
                 "Y(a, b) ::= a -> B -> b"
                 " | a -> C -> b"
                 " | [when a >> 1] nothing"]
        grammar = define("start, end, X(start, end)", RULES)
    ''', "flows/wf.py, line 6: expected a value: a parameter, a number, a string, true, "
         "false, null, len(...), count(a -> K) or '(' at column 50 of 'Y(a, b) ::= a -> B -> "
         "b | a -> C -> b | [when a >> 1] nothing'"),
    "Kind() misused": ('''\
        from grammarflow import Kind, define
        grammar = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b")
        kinds = {"A": Kind(
            timeout=3)}
    ''', "flows/wf.py, line 3: Kind(): give what it runs (a script, a module, "
         "file.py:function), ask=\"a question\" for a person, or image= and "
         "command=[...] for a container"),
    "a grammar refused at registration": ('''\
        from grammarflow import define
        grammar = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b, X(a, b)")
    ''', "flows/wf.py, line 2: hole type(s) X can never finish: no production derives a "
         "fragment without holes (add a base case, e.g. 'nothing')"),
    "define() given a number": ('''\
        from grammarflow import define
        grammar = define("s", ["X(a) ::= a -> A", 5])
    ''', "flows/wf.py, line 2: define(start, rules): each rule is a production in the "
         "notation (a string) or a hole type (from repeat_parallel, hole_type, ...); got int 5"),
    "an exception at import": ('''\
        from grammarflow import define
        grammar = define("s", [])
        weight = 1 / 0
    ''', "flows/wf.py, line 3: ZeroDivisionError: division by zero"),
    "an exception in a module of the user": ('''\
        import sys, pathlib
        sys.path.insert(0, str(pathlib.Path(__file__).parent))
        import helper
    ''', "flows/wf.py, line 3: NameError: name 'undefined_name' is not defined (in "
         "flows/helper.py, line 2)"),
    "sys.exit() at import": ('''\
        import sys
        sys.exit(3)
    ''', "flows/wf.py, line 2: the workflow file called sys.exit(3) while being imported"),
}


@pytest.mark.parametrize("command", [["check"], ["run"], ["render"], ["simulate"]])
@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_in_the_workflow_file_names_its_file_and_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mistake: str, command: list[str]
        ) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # a workflow file changes it
    text, reason = MISTAKES[mistake]
    _workflow(tmp_path, "x = 1\ny = undefined_name\n", "flows/helper.py")
    wf = _workflow(tmp_path, text)
    result = _cli(*command, wf)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {reason}\n")
    as_json = _cli(*command, wf, "--json")
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (2, {"error": reason})


@pytest.mark.parametrize("mistake", ["a bad production deep in a multi-line define",
                                     "Kind() misused"])
@pytest.mark.parametrize("where", ["in its folder", "above it", "elsewhere"])
def test_a_mistake_in_the_workflow_file_is_found_from_any_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mistake: str, where: str) -> None:
    """The file as it was named, the line of the bad text: also from the workflow's
    own folder (code made at run time, a dataclass's ``__init__``, is no file there)."""
    text, reason = MISTAKES[mistake]
    file = tmp_path / _workflow(tmp_path, text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd, named = {"in its folder": (file.parent, "wf.py"),
                  "above it": (tmp_path, "flows/wf.py"),
                  "elsewhere": (elsewhere, str(file))}[where]
    monkeypatch.chdir(cwd)
    result = _cli("check", named)
    assert (result.exit_code, result.stderr) == (
        2, "error: " + reason.replace("flows/wf.py", named, 1) + "\n")


def test_the_error_keeps_its_cause_for_a_library_caller(tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text("from grammarflow import define\n\n\ngrammar = define('s', 'X(a ::= a')\n")
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(wf)
    assert (raised.value.file, raised.value.line) == (str(wf), 4)
    assert isinstance(raised.value.__cause__, NotationError)


@pytest.mark.parametrize(("args", "error"), [
    (["simulate", str(EXAMPLES / "random_map.py"), "--runs", "0"],
     "Invalid value for '--runs': 0 is not in the range x>=1."),
    (["status"], "Missing argument 'RUN_ID'."),
    (["check", str(EXAMPLES / "random_map.py"), "--frobnicate"],
     "No such option '--frobnicate'."),
    (["frobnicate"], "No such command 'frobnicate'."),
])
def test_with_json_a_usage_error_is_json_on_stdout(args: list[str], error: str) -> None:
    result = _cli(*args, "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["error"] == error and data["usage"].startswith("Usage: grammarflow ")
    assert result.stderr == f"error: {error}\n"
    plain = _cli(*args)  # without --json: click's usage text, nothing on stdout
    assert (plain.exit_code, plain.stdout) == (2, "")
    assert f"Error: {error}" in plain.stderr


def test_status_of_a_large_run_counts_its_done_tasks_and_lists_the_rest(
        tmp_path: Path) -> None:
    """Past LIST_UP_TO tasks, `status` lists what is not done and counts the done
    tasks by kind; --all lists every task, --json always has them all."""
    import asyncio

    from grammarflow import define
    from grammarflow.cli.viewing import LIST_UP_TO
    from grammarflow.journal.store import Store
    from grammarflow.runtime import Options, Orchestrator
    from grammarflow.runtime.inprocess import InProcessExecutor
    from grammarflow.workflow.definition import Kind, Workflow

    async def fails(io: object) -> int:
        return 1

    n = LIST_UP_TO + 50
    grammar = define(", ".join(f"t{i}:T" for i in range(n)) + ", bad:B -> after:A")
    workflow = Workflow(grammar, {k: Kind(f":{k}") for k in "TBA"}, tmp_path / "wf.py")
    db = tmp_path / "gf.db"
    o = Orchestrator.start(Store(db), workflow, Options(max_parallel=8, logs=tmp_path),
                           executor=InProcessExecutor({"B": fails}))
    assert asyncio.run(o.run()) == "failed"
    lines = _cli("status", "1", "--db", str(db)).stdout.splitlines()
    assert lines[1:] == [
        f"  tasks    {n + 2}: {n} done, 1 failed, 1 pending",
        f"  done     {n} not listed: T ×{n} (`grammarflow status 1 --all` lists every task)",
        "  failed   bad (B)  attempt 1: exited with status 1",
        "             log: none (it wrote nothing)",
        "  pending  after (A)"]
    every = _cli("status", "1", "--db", str(db), "--all").stdout.splitlines()
    assert sum(line.startswith("  done     t") for line in every) == n
    assert "not listed" not in "\n".join(every)
    view = json.loads(_cli("status", "1", "--db", str(db), "--json").stdout)
    assert len(view["tasks"]) == n + 2 and view["status"] == "failed"
