"""The README, the pages of docs/ and the code agree: every snippet they show runs.

Every page (README.md and docs/*.md) is executed the same way: its ``>>>`` blocks run as
doctests (``--doctest-glob`` in pyproject.toml), its ``console`` blocks run for real
(``test_the_console_blocks_are_real``), and every other fenced block is claimed by one
test below — a block no test claims fails ``test_every_block_is_executed_somewhere``.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest

from grammarflow.cli import main
from grammarflow.core.guards import parse_guard
from grammarflow.core.notation import parse_types
from grammarflow.errors import NotationError

ROOT = Path(__file__).resolve().parent.parent
#: Every page the suite executes: the README and each page of docs/.
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)

LAYOUT = "grammarflow/     the public API (__init__: every name loaded lazily), running"
NOTATION = "production  := TYPE '(' params ')' '::=' body ('|' body)*"
GUARDS = "guard   := 'when' expr | 'if' expr | 'else'"
TASK_SDK = "from grammarflow import task        # stdlib only"
# For each page, the first line of each non-doctest, non-console block, and the test
# that executes or checks it.
OPEN_HOLES = "from hypothesis import given\nfrom grammarflow import define"
FROM_PYTHON = "import grammarflow\n\ndone = grammarflow.run("
CLAIMED: dict[str, dict[str, str]] = {
    "README.md": {
        "bash dev.sh example   # install everything": "test_the_two_commands_are_what_ci_runs",
        "from grammarflow import define, repeat_parallel": "test_the_readme_workflow_runs",
    },
    "docs/tutorial.md": {
        "from grammarflow import Kind, define, repeat_parallel": "test_the_workflow_file_runs",
        TASK_SDK: "test_the_task_snippet_runs",
    },
    "docs/testing.md": {"from hypothesis import given\nfrom grammarflow.testing import":
                        "test_the_shape_tests_run",
                        OPEN_HOLES: "test_the_open_hole_tests_run"},
    "docs/notation.md": {NOTATION: "test_the_notation_grammar_is_the_parser_s"},
    "docs/data.md": {
        "from dataclasses import dataclass": "test_the_data_workflow_runs",
        GUARDS: "test_the_guard_grammar_is_the_parser_s",
    },
    "docs/architecture.md": {LAYOUT: "test_the_layout_names_every_module"},
    "docs/operations.md": {
        "warning: production 1 of X makes a new task 'B'": "test_check_warns_as_the_docs_show",
        FROM_PYTHON: "test_running_from_python_works_as_the_page_says",
    },
}


def text(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def blocks(page: str) -> list[tuple[str, str]]:
    return [(lang, body) for lang, body in FENCE.findall(text(page))]


def block(page: str, first_line: str) -> str:
    found = [body for _, body in blocks(page) if body.startswith(first_line)]
    assert len(found) == 1, f"{page} has {len(found)} blocks starting {first_line!r}"
    return found[0]


@pytest.mark.parametrize("page", PAGES)
def test_every_block_is_executed_somewhere(page: str) -> None:
    claimed = CLAIMED.get(page, {})
    unclaimed = [body.splitlines()[0] for lang, body in blocks(page)
                 if not body.lstrip().startswith(">>>") and lang != "console"
                 and not any(body.startswith(first) for first in claimed)]
    assert unclaimed == [], f"{page}: blocks no test executes: {unclaimed}"
    for first, test in claimed.items():
        block(page, first)
        assert test in globals(), test


def test_every_claimed_page_exists() -> None:
    assert set(CLAIMED) <= set(PAGES), sorted(set(CLAIMED) - set(PAGES))


def _ini() -> dict[str, Any]:
    pyproject = tomllib.loads(text("pyproject.toml"))
    ini: dict[str, Any] = pyproject["tool"]["pytest"]["ini_options"]
    return ini


def test_every_page_runs_as_a_doctest() -> None:
    """pytest collects each page (a test path names it) and runs its ``>>>`` blocks
    (a ``--doctest-glob`` matches it)."""
    ini = _ini()
    globs = re.findall(r"--doctest-glob=(\S+)", ini["addopts"])
    for page in PAGES:
        assert any(fnmatch.fnmatch(page, pattern) for pattern in ini["testpaths"]), (
            f"no test path of pyproject.toml collects {page}")
        assert any(fnmatch.fnmatch(page, g) if "/" in g else fnmatch.fnmatch(Path(page).name, g)
                   for g in globs), f"no --doctest-glob of pyproject.toml matches {page}"


def test_the_readme_reads_in_ten_minutes() -> None:
    """What it is, the two commands, three shapes with a picture each, an upgrade with
    its picture, the browser in the screenshots the browser tests take, where to go
    next: at most 2,500 words, code included; everything else lives in docs/."""
    words = len(text("README.md").split())
    assert words <= 2500, f"README.md has {words} words"
    pictures = re.findall(r"!\[[^\]]*\]\((docs/pictures/[^)]+)\)", text("README.md"))
    assert len([p for p in pictures if p.endswith(".svg")]) == 4, pictures
    assert "docs/pictures/upgrade.svg" in pictures
    screenshots = [p for p in pictures if p.endswith(".png")]
    assert screenshots, "the README shows the browser"
    taker = text("tests/e2e/test_browser.py")
    for shot in screenshots:  # taken by the suite (GRAMMARFLOW_SCREENSHOTS=docs/pictures)
        assert f'"{Path(shot).name}"' in taker, f"no browser test takes {shot}"
    for page in PAGES[1:]:
        assert f"({page})" in text("README.md"), f"README.md does not link {page}"


# -- links -------------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces
    as dashes."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES)
def test_every_link_leads_somewhere_in_the_repository(page: str) -> None:
    """Relative links name a file of the repository (nothing outside it is cited), and
    an anchor a heading of the page it links to."""
    source = ROOT / page
    for target in LINK.findall(text(page)):
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        assert linked.is_relative_to(ROOT), f"{page} links outside the repository: {target}"
        assert linked.exists(), f"{page} links to {target}, which does not exist"
        if anchor:
            assert anchor in _anchors(linked), f"{page}: {target}: no such heading"


# -- the modules point to the pages ---------------------------------------------------

#: A page of docs/ or proofs/ that the code cites, with the section it names, if any.
CITE = re.compile(r'((?:docs|proofs)/[\w.-]+\.md)(?:,\s+"([^"]+)")?')
MODULES = sorted((ROOT / "grammarflow").rglob("*.py"))


def _headings(page: Path) -> set[str]:
    return {h.strip() for h in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"),
                                          re.M)}


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_module_docstring_is_a_few_lines(module: Path) -> None:
    """What the module is for, and where its long story lives (docs/, proofs/)."""
    doc = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8"))) or ""
    assert len(doc.splitlines()) <= 12, f"{module.name}: {len(doc.splitlines())} lines"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_code_cites_pages_of_the_repository(module: Path) -> None:
    """A page the code names exists, and so does the section it names; no design file
    outside the repository is cited."""
    source = module.read_text(encoding="utf-8")
    assert not re.search(r"\bDESIGN\b|REFERENCES\.md|README", source), module
    for page, section in CITE.findall(source):
        assert (ROOT / page).is_file(), f"{module.name} cites {page}, which does not exist"
        if section:
            title = " ".join(section.split())
            assert title in _headings(ROOT / page), f"{module.name}: {page} has no {title!r}"


def test_the_two_commands_are_what_ci_runs() -> None:
    commands = [line.split("#")[0].strip() for line in
                block("README.md", "bash dev.sh example   # install everything").splitlines()]
    assert commands == ["bash dev.sh example", "bash dev.sh test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec bash dev.sh test\n" in ci
    usage = subprocess.run(["bash", str(ROOT / "dev.sh"), "nonsense"],
                           capture_output=True, text=True, check=False)
    assert usage.returncode == 2
    assert "bash dev.sh example" in usage.stderr and "bash dev.sh test" in usage.stderr


def _terminals(grammar: str) -> set[str]:
    """The quoted terminals of a grammar block: ``'::='``, ``'when'``, ``'('``..."""
    return set(re.findall(r"'([^'\s]+)'", grammar))


#: The notation, one example for each rule; together they use every terminal.
NOTATION_EXAMPLES = [
    "X(a, b) ::= a -> A -> b | a -> B -> b",
    "X(a; b) ::= *",
    "Any(*) ::= *",
    "T() ::= nothing",
    "Dyn(a; b) ::= * where only M, N; at most 100 M",
    "Y(a, b) ::= [default] a -> b | [two] a -> m:M -> b, Y(m, b)",
    "S(a, b) ::= [big, when a > 10] a -> Big -> b | [small, else] a -> Small -> b",
    "L(a, b) ::= [default] a -> b | [if depth <= 3] a -> s, L(s, b)",
]
#: Guards, one example for each rule; together they use every terminal.
GUARD_EXAMPLES = [
    "when a > 1", "if depth <= 3", "else", "when not a or b and c",
    "when a in [1, 2] and a not in []", "when len(a) != 2",
    "when count(a -> K) < count(K -> b)", "when -a.x[0] + 1 - 2 >= -1",
    "when true == false or null == (1)", "when 'x' < \"y\"",
]


def test_the_notation_grammar_is_the_parser_s() -> None:
    """The parser reads an example of every rule of docs/notation.md's grammar, and
    prints each back as written."""
    grammar = block("docs/notation.md", NOTATION)
    missing = {t for t in _terminals(grammar) if not any(t in e for e in NOTATION_EXAMPLES)}
    assert missing == set(), f"no example uses {sorted(missing)}"
    for example in NOTATION_EXAMPLES:
        (parsed,) = parse_types([example]).values()
        assert repr(parsed) == example


def test_the_guard_grammar_is_the_parser_s() -> None:
    """The parser reads an example of every rule of docs/data.md's guard grammar."""
    grammar = block("docs/data.md", GUARDS)
    missing = {t for t in _terminals(grammar) if not any(t in e for e in GUARD_EXAMPLES)}
    assert missing == set(), f"no example uses {sorted(missing)}"
    for example in GUARD_EXAMPLES:
        parse_guard(example)
    with pytest.raises(NotationError):
        parse_guard("when len(a) == 2 != 3")  # comparisons do not chain: compare := sum [op sum]


def test_every_production_the_docs_write_is_accepted() -> None:
    spans = sorted({span for page in PAGES
                    for span in re.findall(r"`([^`\n]*::=[^`\n]*)`", text(page))})
    assert "X(a; b) ::= *" in spans and "Any(*) ::= *" in spans
    for span in spans:
        parsed = parse_types([span])
        assert len(parsed) == 1, span


def test_the_command_table_matches_the_cli() -> None:
    rows = re.findall(r"^\| `grammarflow ([^`]*)` \|", text("docs/operations.md"), re.M)
    assert len(rows) >= 9
    for row in rows:
        words = row.replace("\\|", " ").replace("[", " ").replace("]", " ").split()
        command = main.commands.get(words[0])
        assert isinstance(command, click.Command), f"operations.md names no command {words[0]!r}"
        if isinstance(command, click.Group):  # `import wfformat`: the command in the group
            command = command.commands.get(words[1])
            assert isinstance(command, click.Command), f"operations.md: no command `{row}`"
            words = words[1:]
        known = {opt for p in command.params for opt in p.opts}
        for word in words[1:]:
            if word.startswith("-"):
                assert word in known, f"operations.md: `{row}` names {word}, the CLI has {known}"


def test_the_layout_names_every_module() -> None:
    # Each package's paragraph (from its "name/" line to the next) names its modules; a
    # "name/" line indented under a package's heads a package inside it.
    paragraphs: dict[str, str] = {}
    package = ""
    heads: list[tuple[int, str]] = []  # (indent, package) of the packages around the line
    for line in block("docs/architecture.md", LAYOUT).splitlines():
        head = re.match(r"(\s*)(\w+)/ ", line)
        if head:
            indent = len(head.group(1))
            while heads and heads[-1][0] >= indent:
                heads.pop()
            name, outer = head.group(2), heads[-1][1] if heads else ""
            package = "" if name == "grammarflow" else f"{outer}/{name}".lstrip("/")
            heads.append((indent, package))
        if line.startswith(("tests/", "proofs/", "bench/", "examples/", "docs/")):
            break
        paragraphs[package] = paragraphs.get(package, "") + line + "\n"
    missing = []
    for path in sorted((ROOT / "grammarflow").rglob("*.py")):
        where = path.parent.relative_to(ROOT / "grammarflow").as_posix().strip(".")
        if path.stem not in ("__init__", "__main__") and path.stem not in set(
                re.findall(r"\w+", paragraphs.get(where, ""))):
            missing.append(f"{where}/{path.stem}".lstrip("/"))
    assert missing == [], f"architecture.md's layout does not name {missing}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_workflow_file_runs(tmp_path: Path) -> None:
    """The tutorial's workflow file, with the scripts and the module it names, runs."""
    flow = tmp_path / "flow"
    _write(flow / "wf.py",
           block("docs/tutorial.md", "from grammarflow import Kind, define, repeat_parallel"))
    done = ("import pathlib, sys\n"
            "pathlib.Path(sys.argv[0] + '.ran').write_text(' '.join(sys.argv[1:]))\n")
    _write(flow / "tasks" / "fan_out.py", done + "from grammarflow import task\n"
           "task.expand(task.context().hole('Ms'), '2')  # one M\n")
    _write(flow / "tasks" / "work.py", done)
    _write(flow / "mypkg" / "__init__.py", "")
    _write(flow / "mypkg" / "finish.py", "open('finish.ran', 'w').write('B')\n")
    db = tmp_path / "gf.db"
    ran = subprocess.run([sys.executable, "-m", "grammarflow", "run", str(flow / "wf.py"),
                          "--db", str(db)], capture_output=True, text=True, check=False,
                         cwd=tmp_path, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (flow / "tasks" / "fan_out.py.ran").is_file()  # A: the script beside the file
    assert (flow / "tasks" / "work.py.ran").read_text() == "--fast"  # M, with its args
    assert (flow / "finish.ran").read_text() == "B"  # B: python -m, in the file's directory


def test_the_data_workflow_runs(tmp_path: Path) -> None:
    """The data page's example, run for real: each output where it says it goes."""
    (tmp_path / "wf.py").write_text(block("docs/data.md", "from dataclasses import dataclass"))
    proc = subprocess.run([sys.executable, "-m", "grammarflow", "run", "wf.py", "--json",
                           "--db", str(tmp_path / "gf.db")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1000:]
    view = json.loads(proc.stdout)
    outputs = {t["id"]: t.get("output") for t in view["tasks"]}
    assert outputs == {"fetch": "alpha 3\nbeta 12",
                       "parse": [{"name": "alpha", "size": 3}, {"name": "beta", "size": 12}],
                       "Each.1/weigh": 6, "Each.1.2/weigh": 24, "total": 30}


def test_check_warns_as_the_docs_show(tmp_path: Path) -> None:
    _write(tmp_path / "wf.py", textwrap.dedent("""\
        from grammarflow import define

        grammar = define("A, C, X(A, C), Any(*)", ["X(a, b) ::= a -> M -> B", "Any(*) ::= *"])
        def A(): ...
        def B(): ...
        def C(): ...
        def M(): ...
        """))
    done = subprocess.run([sys.executable, "-m", "grammarflow", "check", "wf.py"], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == block("docs/operations.md",
                                "warning: production 1 of X makes a new task 'B'")


def test_the_readme_workflow_runs(tmp_path: Path) -> None:
    """The README's workflow file, run for real: A adds two Ms before B."""
    _write(tmp_path / "wf.py",
           block("README.md", "from grammarflow import define, repeat_parallel"))
    ran = subprocess.run([sys.executable, "-m", "grammarflow", "run", "wf.py", "--json",
                          "--db", str(tmp_path / "gf.db")], cwd=tmp_path,
                         capture_output=True, text=True, check=False, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    view = json.loads(ran.stdout)
    assert sorted(t["id"] for t in view["tasks"]) == [
        "A", "B", "Ms.1/M", "Ms.1/Ms_more.1/M"]
    assert all(t["state"] == "done" for t in view["tasks"])


TASK_WORKFLOW = """\
import importlib.util
import json
from grammarflow import define, repeat_parallel

grammar = define("T, B, end, parse, X(T), Y(T), Z(T), Ms(T, B), Dyn(T, end), Any(*)", [
    "X(a) ::= a -> X1 | a -> X2",
    "Y(a) ::= [default] nothing | a -> Y2",
    "Z(a) ::= [default] nothing | a -> Z2",
    *repeat_parallel("Ms", "M"),
    "Dyn(a; b) ::= *",
    "Any(*) ::= *",
])


def T():
{snippet}
    print(json.dumps({{"parsers": parsers, "mine": mine, "ids": ids, "made": made}}))


def _nothing():
    pass


B = end = parse = X1 = X2 = Y2 = Z2 = M = R = W = _nothing
"""


def test_the_task_snippet_runs(tmp_path: Path) -> None:
    """The tutorial's task SDK block, line for line, as the body of a real task."""
    snippet = textwrap.indent(block("docs/tutorial.md", TASK_SDK), "    ")
    _write(tmp_path / "wf.py", TASK_WORKFLOW.format(snippet=snippet))
    db = tmp_path / "gf.db"
    ran = subprocess.run([sys.executable, "-m", "grammarflow", "run", "wf.py", "--db", str(db),
                          "--json"], cwd=tmp_path, capture_output=True, text=True,
                         check=False, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    view = json.loads(ran.stdout)
    tasks = {t["id"]: t for t in view["tasks"]}
    assert {t["state"] for t in tasks.values()} == {"done"}
    log = (tmp_path / "logs" / "run-1" / "T.1.log").read_text()
    told = json.loads(log.splitlines()[-1])
    m0 = told["ids"]["m0"]
    assert {"X.1/X2", "Z.1/Z2", "Dyn.1/W", m0} <= set(tasks)
    assert told["made"] == {"tasks": {"W": "Dyn.1/W"}, "holes": ["Dyn.1/Only.1"]}
    (r,) = [t for t in tasks if t.endswith("/r")]
    assert tasks[r]["attrs"] == {"input": m0}  # the id it was told, passed on
    assert told["parsers"] == ["parse"] and told["mine"] == [m0]
    assert ["Dyn.1/W", "end"] not in view["edges"]  # Only took "nothing": no order kept
    assert "fetched 3 of 10" in log


def _shape_tests(path: Path, start: str) -> Any:
    """The testing page's shape tests as a module of their own, over ``A -> M* -> B``
    or not."""
    _write(path, "from grammarflow import define, repeat_parallel\n"
           f"grammar = define({start!r}, repeat_parallel('Ms', 'M'))\n"
           + block("docs/testing.md", "from hypothesis import given\nfrom grammarflow.testing"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shape_tests_run(tmp_path: Path) -> None:
    """The testing page's property tests over a user's grammar run, and bite."""
    module = _shape_tests(tmp_path / "shape_ok.py", "A, B, Ms(A, B)")
    module.test_b_is_always_last()
    module.test_refused_messages_change_nothing()
    wrong = _shape_tests(tmp_path / "shape_wrong.py", "A, B, Ms(B, A)")
    with pytest.raises(AssertionError):
        wrong.test_b_is_always_last()  # B -> M* -> A: B is not last, and the property says so


def test_running_from_python_works_as_the_page_says(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(block("docs/operations.md", FROM_PYTHON), "operations.md", "exec"), {})
    assert (tmp_path / ".grammarflow" / "grammarflow.db").is_file()


def test_the_open_hole_tests_run(tmp_path: Path) -> None:
    """The testing page's open-hole property passes, and fails once the promise is
    loosened (the strategies grow a sixth step, which the property refuses)."""
    text = block("docs/testing.md", OPEN_HOLES)
    scope: dict[str, Any] = {}
    exec(compile(text, "testing.md", "exec"), scope)
    scope["test_a_plan_and_at_most_five_steps"]()
    loosened: dict[str, Any] = {}
    exec(compile(text.replace("at most 5 step", "at most 6 step"), "loosened", "exec"),
         loosened)
    with pytest.raises(AssertionError):
        loosened["test_a_plan_and_at_most_five_steps"]()


# -- ```console blocks, run for real (troubleshooting.md, operations.md, ...) ---------
#
# Each `$ command` runs in a fresh copy of examples/ with its own database (one copy per
# block, so later commands see earlier runs); the lines after it are what it must print
# (stdout and stderr together), `...` alone stands for any lines and `...` within a line
# for any text; `[exit N]` ends the output of a command that exits N != 0.

def console_blocks() -> list[tuple[str, int, str]]:
    """(page, its n-th console block, the block) for every console block of every page."""
    return [(page, n, body) for page in PAGES
            for n, body in enumerate(b for lang, b in blocks(page) if lang == "console")]


def _expected_pattern(lines: list[str]) -> re.Pattern[str]:
    parts = []
    for line in lines:
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*".join(re.escape(p) for p in line.split("...")) + r"\n")
    return re.compile("".join(parts))


def _commands(body: str) -> list[tuple[str, list[str], int]]:
    """(command, expected lines, expected exit) for each `$ ` line of a block."""
    out: list[tuple[str, list[str], int]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], [], 0))
        elif (m := re.fullmatch(r"\[exit (\d+)\]", line)):
            command, expected, _ = out[-1]
            out[-1] = (command, expected, int(m.group(1)))
        else:
            out[-1][1].append(line)
    return out


def _run_console(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    words = shlex.split(command)
    env = {**os.environ, "EXAMPLE_SEED": "3", "COLUMNS": "100",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    while "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[0] == "grammarflow", f"console blocks run grammarflow, not {words[0]}"
    return subprocess.run(words, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False, timeout=60)


@pytest.mark.parametrize(("page", "n", "body"),
                         [pytest.param(*c, id=f"{c[0]}-{c[1]}") for c in console_blocks()])
def test_the_console_blocks_are_real(page: str, n: int, body: str, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for command, expected, code in _commands(body):
        done = _run_console(command, tmp_path)
        assert _expected_pattern(expected).fullmatch(done.stdout), (
            f"$ {command}\nprinted:\n{done.stdout}\n{page} says:\n" + "\n".join(expected))
        assert done.returncode == code, f"$ {command} exited {done.returncode}, {page}: {code}"


def test_every_page_with_console_blocks_is_run() -> None:
    pages = {page for page, _, _ in console_blocks()}
    assert {"docs/troubleshooting.md", "docs/operations.md"} <= pages, pages


def test_the_console_matcher_bites() -> None:
    pattern = _expected_pattern(["run 1 broken: ...", "...", "  refused  no ... X.1"])
    assert pattern.fullmatch("run 1 broken: a b\n  x\n  y\n  refused  no hole X.1\n")
    assert not pattern.fullmatch("run 1 failed: a\n  refused  no hole X.1\n")
    assert not pattern.fullmatch("run 1 broken: a\n  refused  no hole X.2\n")
