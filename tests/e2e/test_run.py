"""grammarflow run / status / history / runs, with real task processes."""

from __future__ import annotations

import json

from grammarflow.journal.status import fold
from grammarflow.journal.store import Store

from .conftest import Project

MAP = """
from grammarflow import define, repeat_parallel
grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
kinds = {"A": "tasks/a.py", "M": "tasks/m.py", "B": "tasks/b.py"}
"""

FAN_OUT = """
import os
from grammarflow import task
n = int(os.environ.get("FAN", "3"))
print("this print goes to the log, never to the protocol")
ids = task.add(tasks={f"m{i}": "M" for i in range(n)},
               edges=[e for i in range(n) for e in (("A", f"m{i}"), (f"m{i}", "B"))])
task.log(f"made {len(ids)}")
"""


def map_project(project: Project) -> None:
    project.write("wf.py", MAP)
    project.write("tasks/a.py", FAN_OUT)
    project.write("tasks/m.py", "from grammarflow import task\ntask.progress(1, 1)\n")
    project.write("tasks/b.py", "print('B')\n")


def test_a_map_runs_to_the_end_and_the_journal_folds_to_it(project: Project) -> None:
    map_project(project)
    result = project.run()
    assert result.code == 0, result.stderr
    view = result.view
    assert view["status"] == "succeeded"
    kinds = sorted(t["kind"] for t in view["tasks"])
    assert kinds == ["A", "B", "M", "M", "M"]
    assert all(t["state"] == "done" for t in view["tasks"])
    assert view["holes"] == []
    project.check_consistent(view["run"])
    store = Store(project.db, readonly=True)
    _, d = fold(store, view["run"])
    assert d.is_finished()


def test_tasks_run_one_at_a_time_in_creation_order(project: Project) -> None:
    map_project(project)
    result = project.run()
    order = [s["task"] for s in result.journal("step")
             if s["op"] == "state" and s["state"] == "running"]
    assert order == ["A", "Ms.1/M", "Ms.1/Ms_more.1/M", "Ms.1/Ms_more.1.2/M", "B"]


def test_print_goes_to_the_attempt_log(project: Project) -> None:
    map_project(project)
    result = project.run()
    starts = [a for a in result.journal("attempt") if a["event"] == "start" and a["task"] == "A"]
    log = (project.root / starts[0]["log"]).read_text()
    assert "this print goes to the log" in log and "[log] made 3" in log


def test_status_history_and_runs_commands(project: Project) -> None:
    map_project(project)
    run_id = project.run().view["run"]
    status = json.loads(project.cli("status", str(run_id), "--json").stdout)
    assert status["status"] == "succeeded"
    history = project.cli("history", str(run_id)).stdout
    assert "hole Ms.1 expanded with production 2" in history
    assert "run succeeded" in history
    runs = json.loads(project.cli("runs", "--json").stdout)
    assert [r["run"] for r in runs] == [run_id]
    missing = project.cli("status", "99")
    assert missing.returncode == 2 and "no run 99" in missing.stderr


def test_parallel_runs_reach_the_same_graph(project: Project) -> None:
    map_project(project)
    one = project.run().view
    many = project.run("wf.py", "--max-parallel", "3").view
    assert many["status"] == "succeeded"
    assert sorted(t["id"] for t in one["tasks"]) == sorted(t["id"] for t in many["tasks"])
    assert one["edges"] == many["edges"]


def test_function_tasks_in_the_workflow_file(project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import define
        grammar = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")

        def start():
            from grammarflow import task
            task.expand("X.1", "2")

        def B():
            print("B ran")

        def end():
            pass
        A = B
    """)
    result = project.run()
    assert result.code == 0, result.stderr
    assert sorted(t["id"] for t in result.view["tasks"]) == ["X.1/B", "end", "start"]


def test_a_kind_without_a_command_is_a_clear_usage_error(project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import define
        grammar = define("start", "")
    """)
    proc = project.cli("run", "wf.py")
    assert proc.returncode == 2
    assert "kind 'start' has no command" in proc.stderr


def test_a_broken_workflow_file_gets_one_line_from_a_real_process(project: Project) -> None:
    project.write("flows/wf.py", """
        from grammarflow import define
        grammar = define("start", "")
        def start(:
            pass
    """)
    proc = project.cli("run", "flows/wf.py")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "error: flows/wf.py, line 4: invalid syntax\n"
    usage = project.cli("run", "flows/wf.py", "--max-parallel", "0", "--json")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    assert json.loads(usage.stdout)["error"] == ("Invalid value for '--max-parallel': 0 is not "
                                                 "in the range x>=1.")


def test_module_kinds_and_arguments(project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import Kind, define
        grammar = define("a -> b")
        kinds = {"a": Kind("mymod.job", args=("hello", "world")), "b": Kind("tasks/b.py",
                 args=("--flag",))}
    """)
    project.write("mymod/__init__.py", "")
    project.write("mymod/job.py", """
        import sys
        open("a-args", "w").write(" ".join(sys.argv[1:]))
    """)
    project.write("tasks/b.py", """
        import sys
        open("b-args", "w").write(" ".join(sys.argv[1:]))
    """)
    result = project.run()
    assert result.code == 0, result.stderr
    assert (project.root / "a-args").read_text() == "hello world"
    assert (project.root / "b-args").read_text() == "--flag"


def test_a_task_narrows_the_promise_and_a_later_task_that_breaks_it_is_stopped(
        project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import define, repeat_parallel
        grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
        def A():
            from grammarflow import task
            task.narrow(type="Ms_more", remove=["2"])   # from here on: at most one M
            task.expand("Ms.1", "2")
            task.expand("Ms.1/Ms_more.1", "2")         # a second M: refused
        def M(): pass
        def B(): pass
    """)
    result = project.run()
    assert result.code == 3
    assert "narrowed away" in result.view["reason"]
    refused = result.journal("refused")[0]
    assert refused["hole"] == "Ms.1/Ms_more.1"
    assert "removed by a narrowing promise" in refused["attempts"][0]["reason"]
    assert sorted(t["id"] for t in result.view["tasks"]) == ["A", "B"]


def test_a_task_refines_an_open_hole_into_fresh_productions(project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import define
        grammar = define("start, end, Dyn(start, end)", "Dyn(a; b) ::= *")
        def start():
            from grammarflow import task
            made = task.refine("Dyn.1", tasks={"W": "W"}, edges=[("start", "W")],
                               holes=[("Only", ["W", "end"])],
                               types=["Only(a, b) ::= a -> M -> b | [default] nothing"])
            print(made)
        def W():
            from grammarflow import task
            task.expand(task.context().hole("Only"), "1")
        def M(): pass
        def end(): pass
    """)
    result = project.run()
    assert result.code == 0, (result.view, result.stderr)
    ids = sorted(t["id"] for t in result.view["tasks"])
    assert ids == ["Dyn.1/Only.1/M", "Dyn.1/W", "end", "start"]
    assert ["Dyn.1/Only.1/M", "end"] in result.view["edges"]


def test_a_kind_made_in_an_open_hole_without_a_command_fails_its_task(project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import define
        grammar = define("start, Any(*)", "Any(*) ::= *")
        def start():
            from grammarflow import task
            task.add(tasks={"w": "W"}, edges=[("start", "w")])
    """)
    result = project.run()
    assert result.code == 1
    assert result.view["reason"] == (
        "task Any.1/w: kind 'W' has no command: add it to 'kinds' in wf.py (e.g. kinds = "
        "{'W': 'tasks/w.py'}) or define a function W() in the workflow file")


FINDER = '''
from grammarflow import define
grammar = define("start, X(start)", [
    "X(a) ::= a -> maker, a -> finder, Y(maker), Z(finder)",
    "Y(a) ::= [default] nothing | a -> made",
    "Z(a) ::= [default] nothing | a -> user",
])

def start():
    from grammarflow import task
    task.expand(task.context().hole("X"), "1")

def maker():  # makes a task that another task will find
    from grammarflow import task
    task.expand(task.context().hole("Y"), "2")

def finder():
    from grammarflow import task
    ctx = task.context()
    made = task.find(kind="made")
    makers = task.find(before=made[0])  # the task that runs right before it
    task.expand(ctx.hole("Z"), "2", attrs={"user": {"input": made, "by": makers}})
    print(f"found {made}, made after {makers}; I run after {list(ctx.after)}")

def user():
    from grammarflow import task
    ctx = task.context()
    print(f"using {ctx.attrs['input']}; I run after {ctx.after}")

def made():
    pass
'''


def test_a_task_finds_a_task_another_made_and_the_hole_after_itself_by_no_id(
        project: Project) -> None:
    assert "/" not in FINDER and ".1" not in FINDER  # no task or hole id in the workflow
    project.write("wf.py", FINDER)
    result = project.run()
    assert result.code == 0, result.stderr
    attrs = {t["id"]: t["attrs"] for t in result.view["tasks"]}
    assert attrs["X.1/Z.1/user"] == {"input": ["X.1/Y.1/made"], "by": ["X.1/maker"]}
    logs = {a["task"]: (project.root / a["log"]).read_text()
            for a in result.journal("attempt")
            if a["event"] == "start" and a["task"] in ("X.1/finder", "X.1/Z.1/user")}
    assert logs["X.1/finder"] == ("found ['X.1/Y.1/made'], made after ['X.1/maker']; "
                                  "I run after ['start']\n")
    assert logs["X.1/Z.1/user"] == ("using ['X.1/Y.1/made']; I run after "
                                "{'X.1/finder': 'finder'}\n")
