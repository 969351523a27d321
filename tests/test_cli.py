import json
from pathlib import Path

from click.testing import CliRunner

from grammarflow.cli import main
from grammarflow.grammar import Grammar
from grammarflow.workflow import load_grammar

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
    assert kept.stdout == ""  # the README's pictures stay tracked
