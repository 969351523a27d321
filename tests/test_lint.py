from pathlib import Path

import pytest

from grammarflow import define, repeat_parallel, repeat_series
from grammarflow.core.lint import open_types, typos
from grammarflow.workflow.reading import load_grammar

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_a_misspelt_parameter_that_makes_a_new_task_is_named() -> None:
    grammar = define("start, end, X(start, end)", "X(a, b) ::= a -> M -> B")
    assert typos(grammar) == [
        "production 1 of X makes a new task 'B' but X has a parameter 'b': did you mean b?"]


def test_a_task_named_like_a_parameter_the_production_uses_is_no_typo() -> None:
    grammar = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")
    assert typos(grammar) == []


def test_an_explicit_kind_says_a_task_is_meant() -> None:
    grammar = define("start, end, X(start, end)", "X(a, b) ::= a -> B:Worker")
    assert typos(grammar) == [
        "X(a, b): parameter 'b' is used by no production (a misspelt parameter makes a new "
        "task instead); unused, it only makes X's holes wait for it"]


def test_a_new_task_named_like_another_types_parameter_is_named() -> None:
    grammar = define("s, e, X(s, e), Y(s, e)", ["X(a, b) ::= a -> M -> b",
                                               "Y(u, v) ::= u -> b -> v"])
    assert typos(grammar) == [
        "production 1 of Y makes a new task 'b', a parameter of X but not of Y(u, v): a "
        "parameter of Y meant?"]


def test_an_unused_parameter_the_hole_comes_before_says_what_it_still_does() -> None:
    assert typos(define("s, e, X(s, e)", "X(a; b) ::= a -> A")) == [
        "X(a; b): parameter 'b' is used by no production (a misspelt parameter makes a new "
        "task instead); unused, it only waits for X's holes"]


def test_tasks_whose_names_differ_only_in_case_are_named() -> None:
    grammar = define("end, End, X(end, End)", "X(a, b) ::= a -> b")
    assert typos(grammar) == [
        "the start graph makes tasks 'end' and 'End', which differ only in case or "
        "underscores: one task meant?"]


@pytest.mark.parametrize("grammar", [
    define("A, B, Ms(A, B)", repeat_parallel("Ms", "M")),
    define("A, B, Ss(A, B)", repeat_series("Ss", "S")),
    *(load_grammar(p) for p in sorted(EXAMPLES.glob("*.py")) if not p.name.startswith("test_")),
], ids=lambda g: repr(g).splitlines()[0])
def test_the_shapes_and_the_examples_look_like_no_typo(grammar: object) -> None:
    assert typos(grammar) == []  # type: ignore[arg-type]


def test_open_types_are_listed() -> None:
    grammar = define("start, end, Dyn(start, end), Any(*)", ["Dyn(a; b) ::= *",
                                                            "Any(*) ::= *"])
    assert open_types(grammar) == ["Dyn", "Any"]


def test_check_knows_the_kinds_an_open_hole_promises(tmp_path: Path) -> None:
    from grammarflow.workflow.checking import check_workflow

    flow = tmp_path / "dyn.py"
    flow.write_text('from grammarflow import define\n'
                    'grammar = define("plan, report, Work(plan, report)",\n'
                    '                 ["Work(plan; report) ::= * where only step"])\n'
                    'kinds = {"step": "tasks/step.py"}\n'
                    'def plan(): ...\ndef report(): ...\n')
    found = check_workflow(flow)
    assert found.notes == ()  # `only step` names every kind it may make
    assert [w for w in found.warnings if "may make 'step' tasks" in w and "step.py" in w]
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "step.py").write_text("print('a step')\n")
    assert not [w for w in check_workflow(flow).warnings if "may make" in w]
    flow.write_text(flow.read_text().replace(" where only step", ""))
    assert "cannot be checked before a run" in check_workflow(flow).notes[0]
