"""Tasks in real containers (issue 26): podman, and the image `bash dev.sh test` builds.

A container task speaks the protocol through `podman run -i` and is held to the same
promises; a timeout, a broken promise, Ctrl-C stop its container (not just the client);
`resume` removes what a dead orchestrator left before the task runs again; no engine, or
no image, fails the attempt saying so. Each test looks at the engine's own list of
containers (by the run's label) for leftovers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grammarflow.journal.lease import Holder
from grammarflow.runtime.container import LABEL, Engine, remove_orphans

from .conftest import Project
from .processes import Leftovers, finish, reaped, start, wait_until

ROOT = Path(__file__).resolve().parents[2]
#: Built by `bash dev.sh test` (need_image): a minimal Debian root with python3.
IMAGE = "localhost/grammarflow/python3:test"


@pytest.fixture(autouse=True)
def podman(monkeypatch: pytest.MonkeyPatch) -> None:
    """podman with the project's settings (dev.sh exports them), and the image."""
    conf = ROOT / ".venv" / "containers.conf"
    if "CONTAINERS_CONF" not in os.environ and conf.exists():
        monkeypatch.setenv("CONTAINERS_CONF", str(conf))
    if shutil.which("podman") is None or subprocess.run(
            ["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        pytest.fail(f"these tests run containers of {IMAGE} through podman: `bash dev.sh "
                    "test` installs podman and builds the image")


def containers(db: Path) -> list[dict[str, Any]]:
    """The containers (running or not) of the runs in ``db``, as podman lists them."""
    listed = subprocess.run(["podman", "ps", "-a", "--format", "json"], capture_output=True,
                            text=True, check=True).stdout
    return [c for c in json.loads(listed or "[]")
            if (c.get("Labels") or {}).get(f"{LABEL}.run", "").endswith(f"@{db.resolve()}")]


@pytest.fixture
def cleaned(project: Project) -> Iterator[Project]:
    """The project; at the end (a failing test too), its containers removed."""
    try:
        yield project
    finally:
        names = [c["Names"][0] for c in containers(project.db)]
        if names:
            subprocess.run(["podman", "rm", "-f", "-t", "0", *names], capture_output=True,
                           check=False)


def workflow(project: Project, kind: str, tasks: dict[str, str] | None = None) -> None:
    """``start -> work -> end``: start and end local, work as ``kind`` says (a
    ``Kind(...)`` expression); ``tasks`` are files to write (tasks/NAME.py)."""
    project.write("wf.py", f"""
        from grammarflow import Kind, define
        IMAGE = {IMAGE!r}
        grammar = define("start -> work -> end, Then(work, end)",
                         "Then(a, b) ::= a -> left -> b | a -> right -> b")
        kinds = {{"work": {kind}}}
        def start(): pass
        def end(): pass
        def left(): pass
        def right(): pass
    """)
    for name, text in (tasks or {}).items():
        project.write(f"tasks/{name}.py", text)
    (project.root / "signals").mkdir()


def attempt_ends(project: Project, run_id: int = 1) -> list[dict[str, Any]]:
    """The ends of task work's attempts, journaled."""
    return [e for e in project.run_journal(run_id, "attempt")
            if e["event"] == "end" and e["task"] == "work"]


# A container task that beats (appends the time to /signals/beat-ATTEMPT) until it is
# stopped; ATTEMPT 2 and later expand the hole after it and finish. The beating part
# drops the task's marker from its environment: only the container's labels still tell
# whose it is.
BEATS = """
import os, sys, time
from grammarflow import task
ctx = task.context()
open(f"/signals/started-{ctx.attempt}", "w").close()
if ctx.attempt > 1:
    task.expand(ctx.hole("Then"), "1")
    sys.exit(0)
env = {k: v for k, v in os.environ.items() if k != "GRAMMARFLOW_TASK"}
os.execve(sys.executable, [sys.executable, "-c", '''
import sys, time
while True:
    with open(sys.argv[1], "a") as f:
        f.write(f"{time.time()}\\\\n")
    time.sleep(0.05)
''', f"/signals/beat-{ctx.attempt}"], env)
"""


def beats(project: Project, attempt: int) -> list[float]:
    path = project.root / "signals" / f"beat-{attempt}"
    return [float(t) for t in path.read_text().split()] if path.exists() else []


def test_a_container_task_expands_a_hole_as_a_local_one_would(cleaned: Project) -> None:
    project = cleaned
    workflow(project, 'Kind(image=IMAGE, command=["python3", "tasks/work.py"], '
                      'mounts=["signals:/signals"], env={"SIDE": "right"}, cpus=1, '
                      'memory="64m", network="none")', {"work": """
        import os
        from grammarflow import task
        ctx = task.context()
        made = task.expand(ctx.hole("Then"), "2" if os.environ["SIDE"] == "right" else "1")
        with open("/signals/seen", "w") as f:
            f.write(f"{os.getcwd()} {os.path.exists('/run/.containerenv')} "
                    f"{sorted(made['tasks'])}")
        task.output({"where": os.getcwd()})
    """})
    result = project.run()
    assert result.code == 0, result.stderr
    assert {t["id"]: t["state"] for t in result.view["tasks"]} == {
        "start": "done", "work": "done", "Then.1/right": "done", "end": "done"}
    assert ["work", "Then.1/right"] in result.view["edges"]
    assert (project.root / "signals" / "seen").read_text() == "/workflow True ['right']"
    assert containers(project.db) == []  # --rm: gone with its attempt


def test_a_refused_change_from_a_container_breaks_the_run_and_the_container_is_gone(
        cleaned: Project) -> None:
    project = cleaned
    workflow(project, 'Kind(image=IMAGE, command=["python3", "tasks/work.py"], '
                      'mounts=["signals:/signals"])', {"work": """
        import time
        from grammarflow import task
        try:
            task.add(tasks={"x": "x"}, edges=[(task.context().task, "x")])  # no production
        except task.Refused:
            open("/signals/refused", "w").close()
            time.sleep(60)  # it would outlive the run if only its client were killed
            open("/signals/survived", "w").close()
    """})
    began = time.monotonic()
    result = project.run()
    took = time.monotonic() - began
    assert result.code == 3 and result.view["status"] == "broken", result.stderr
    assert "no hole of the graph can ever make a task of kind x" in result.view["reason"]
    assert (project.root / "signals" / "refused").exists()
    assert took < 30, f"the run waited {took:.0f} s for its container"
    assert containers(project.db) == []
    assert not (project.root / "signals" / "survived").exists()


def test_a_timeout_stops_the_container_and_its_retry_never_runs_beside_it(
        cleaned: Project) -> None:
    project = cleaned
    workflow(project, 'Kind(image=IMAGE, command=["python3", "tasks/work.py"], '
                      'mounts=["signals:/signals"], timeout=2, retries=1)',
             {"work": BEATS.replace("if ctx.attempt > 1:", "if ctx.attempt > 2:")})
    began = time.monotonic()
    result = project.run()
    took = time.monotonic() - began
    assert result.code == 1 and result.view["status"] == "failed", result.stderr
    ends = attempt_ends(project)
    assert [(e["attempt"], e["reason"]) for e in ends] == [
        (n, "timed out after 2 s (kind work's timeout)") for n in (1, 2)]
    assert took < 2 * 2 + 20, f"two attempts of 2 s took {took:.0f} s"
    first, second = beats(project, 1), beats(project, 2)
    assert first and second, "an attempt never beat"
    assert first[-1] < second[0], "the retry ran while the first container still beat"
    assert containers(project.db) == []


def beating(project: Project, leftovers: Leftovers, task: str = BEATS
            ) -> subprocess.Popen[str]:
    """`grammarflow run` of a workflow whose container task beats, once it beats."""
    workflow(project, 'Kind(image=IMAGE, command=["python3", "tasks/work.py"], '
                      'mounts=["signals:/signals"])', {"work": task})
    proc = start(project, "run", "wf.py", "--json")
    leftovers.add(proc.pid)
    wait_until(lambda: bool(beats(project, 1)), "the container task to beat")
    return proc


def test_ctrl_c_stops_the_container_not_only_its_client(cleaned: Project) -> None:
    project = cleaned
    with reaped(project) as leftovers:
        proc = beating(project, leftovers)
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc, 30, "Ctrl-C did not stop the run")
    assert proc.returncode == 130, err
    assert json.loads(out)["status"] == "interrupted"
    assert containers(project.db) == []


@pytest.mark.parametrize("marker", ["dropped", "kept"])
def test_kill_9_of_the_orchestrator_then_resume_leaves_no_orphaned_container(
        cleaned: Project, marker: str) -> None:
    """Dropped: only the labels tell whose the container is. Kept: its processes are
    killed as marked ones, and the engine removes it while resume looks for it."""
    project = cleaned
    task = BEATS if marker == "dropped" else BEATS.replace(' if k != "GRAMMARFLOW_TASK"', "")
    with reaped(project) as leftovers:
        proc = beating(project, leftovers, task)
        proc.kill()
        proc.communicate()
        [orphan] = containers(project.db)  # the orchestrator is gone; its container is not
        assert orphan["State"] == "running"
        assert orphan["Labels"].items() >= {
            f"{LABEL}.run": f"1@{project.db.resolve()}", f"{LABEL}.task": "work",
            f"{LABEL}.kind": "work", f"{LABEL}.attempt": "1"}.items()
        seen = len(beats(project, 1))
        wait_until(lambda: len(beats(project, 1)) > seen, "the orphan to beat on")
        result = project.resume(1)
    assert result.code == 0, result.view.get("reason")
    assert (project.root / "signals" / "started-2").exists()
    second_start = (project.root / "signals" / "started-2").stat().st_mtime
    assert beats(project, 1)[-1] < second_start, "attempt 2 ran beside the orphan"
    assert containers(project.db) == []
    ends = attempt_ends(project)
    assert [(e["attempt"], e["outcome"]) for e in ends] == [(2, "succeeded")]


def test_a_missing_image_fails_the_attempt_saying_so_and_is_retried(cleaned: Project) -> None:
    project = cleaned
    absent = "localhost/grammarflow/absent:none"
    workflow(project, f'Kind(image={absent!r}, command=["true"], retries=1)')
    result = project.run()
    assert result.code == 1 and result.view["status"] == "failed", result.stderr
    said = (f"could not start: podman has no image {absent!r} (podman images lists those it "
            "has; a run pulls none): build, load or pull it first")
    assert [(e["attempt"], e["reason"]) for e in attempt_ends(project)] == [(1, said),
                                                                           (2, said)]
    assert said in result.view["reason"]


def test_with_no_engine_the_container_task_fails_saying_so_and_local_ones_run(
        cleaned: Project, tmp_path: Path) -> None:
    project = cleaned
    workflow(project, 'Kind(image=IMAGE, command=["true"])')
    empty = tmp_path / "no-engine"
    empty.mkdir()
    result = project.run(env={**os.environ, "PATH": str(empty)})
    assert result.code == 1, result.stderr
    states = {t["id"]: t["state"] for t in result.view["tasks"]}
    assert states["start"] == "done" and states["work"] == "failed"
    [end] = attempt_ends(project)
    assert end["reason"].startswith("could not start: a task of a container kind "
                                    "(Kind(image=...)) runs through podman or docker, and "
                                    "neither is installed (on PATH)")


def test_resume_removes_a_dead_orchestrators_containers_of_its_run_only(
        cleaned: Project) -> None:
    """remove_orphans alone: by the run's label and a dead owner's."""
    project = cleaned
    me = Holder.this_process()
    dead = {"token": "x", "pid": me.pid, "started": "not this process"}
    alive = {"token": me.token, "pid": me.pid, "started": me.started}
    run_label = f"1@{project.db.resolve()}"

    def container(name: str, task: str, owner: dict[str, Any], run: str = run_label) -> None:
        subprocess.run(["podman", "run", "-d", "--name", name, "--label", f"{LABEL}.run={run}",
                        "--label", f"{LABEL}.task={task}", "--label",
                        f"{LABEL}.owner={json.dumps(owner)}", IMAGE, "sleep", "60"],
                       check=True, capture_output=True)

    stamp = str(os.getpid())
    container(f"gf-test-lost-{stamp}", "lost", dead)
    container(f"gf-test-other-{stamp}", "other", dead)  # another task of the run
    container(f"gf-test-live-{stamp}", "lost", alive)  # its orchestrator lives
    container(f"gf-test-run2-{stamp}", "lost", dead, f"2@{project.db.resolve()}")
    try:
        removed = remove_orphans(Engine.find("podman"), str(project.db.resolve()), 1)
        assert sorted(removed) == [f"gf-test-lost-{stamp}", f"gf-test-other-{stamp}"]
        assert sorted(c["Names"][0] for c in containers(project.db)) == sorted(
            f"gf-test-{n}-{stamp}" for n in ("live", "run2"))
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0",
                        *(f"gf-test-{n}-{stamp}" for n in ("lost", "other", "live", "run2"))],
                       capture_output=True, check=False)


def test_the_example_mixes_local_and_container_tasks_and_keeps_its_promise(
        tmp_path: Path) -> None:
    db = tmp_path / "examples.db"

    def example(seed: int, **env: str) -> tuple[int, dict[str, Any]]:
        proc = subprocess.run(
            [sys.executable, "-m", "grammarflow", "run", "examples/containers.py", "--json",
             "--db", str(db)], cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "EXAMPLE_SEED": str(seed), **env})
        return proc.returncode, json.loads(proc.stdout)

    chosen = set()
    for seed in (0, 3):  # 47 rows, then 60: both productions
        code, view = example(seed)
        assert code == 0, view
        tasks = {t["id"]: t for t in view["tasks"]}
        measured = tasks["measure"]["output"]
        assert measured["where"] == "a container"
        [(local, made)] = measured["chose"].items()
        chosen.add(local)
        assert tasks[made]["state"] == "done" and tasks["publish"]["state"] == "done"
        if local == "large":
            assert tasks[made]["output"] == {"rows": measured["rows"], "where": "a container"}
    assert chosen == {"small", "large"}
    code, view = example(0, EXAMPLE_MUTATE="1")
    assert code == 3 and "edge measure -> publish" in view["reason"]
    assert containers(db) == []
