"""Container kinds (grammarflow/workflow/containers.py) and the command line that runs one
(grammarflow/runtime/container.py); the containers themselves run in
tests/e2e/test_containers.py."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest

import grammarflow
from grammarflow import Kind
from grammarflow.errors import GrammarflowError, WorkflowFileError
from grammarflow.runtime.container import (
    SDK_PATH,
    WORKFLOW_PATH,
    ContainerExecutor,
    Engine,
    EngineMissing,
    with_containers,
)
from grammarflow.runtime.inprocess import InProcessExecutor
from grammarflow.runtime.local import LocalExecutor
from grammarflow.workflow.checking import check_workflow, load_workflow

IMAGE = "localhost/grammarflow/python3:test"


def test_a_container_kind_is_a_value_that_round_trips_through_the_journal() -> None:
    kind = Kind(image=IMAGE, command=["python3", "t.py"], mounts=["out:/out", "/ref:/ref:ro"],
                env={"N": "1"}, cpus=0.5, memory="256m", network="none", timeout=3, retries=2)
    assert kind.command == ("python3", "t.py") and kind.mounts == ("out:/out", "/ref:/ref:ro")
    again = Kind.from_json(kind.to_json())
    assert again == kind and hash(again) == hash(kind)
    assert again.container == kind.container
    assert Kind("t.py").to_json() == {"run": "t.py", "args": [], "timeout": None, "retries": 0}


@pytest.mark.parametrize("settings,said", [
    ({}, "command=[...] (what runs in the container, e.g. [\"python3\", \"task.py\"]) is "
         "missing"),
    ({"command": "python3 t.py"}, "is not a list of strings: 'python3 t.py'"),
    ({"command": ["python3"], "mounts": ["out"]}, "mount 'out' is not SOURCE:TARGET"),
    ({"command": ["python3"], "mounts": ["out:rel"]}, "the target 'rel' must be an absolute"),
    ({"command": ["python3"], "mounts": ["out:/out:rx"]}, "ends in 'rx'; expected ro or rw"),
    ({"command": ["python3"], "mounts": "out:/out"}, "must be a list of SOURCE:TARGET"),
    ({"command": ["python3"], "env": {"A-B": "1"}}, "'A-B': '1' is not NAME"),
    ({"command": ["python3"], "env": {"N": 1}}, "'N': 1 is not NAME (letters, digits, _) -> "
                                                "a string"),
    ({"command": ["python3"], "cpus": 0}, "cpus=0 is not a positive number"),
    ({"command": ["python3"], "memory": "lots"}, "memory='lots' is not bytes or a number "
                                                  "with a unit"),
    ({"command": ["python3"], "network": ""}, "network='' is not a network's name"),
])
def test_each_wrong_container_setting_is_refused_saying_what_it_should_be(
        settings: dict[str, object], said: str) -> None:
    with pytest.raises(GrammarflowError) as e:
        Kind(image=IMAGE, **settings)  # type: ignore[arg-type]
    assert str(e.value).startswith(f"Kind(image={IMAGE!r}): ")
    assert said in str(e.value)


def test_container_settings_without_an_image_are_refused() -> None:
    with pytest.raises(GrammarflowError, match=r"Kind\('t.py', mounts=..., cpus=...\): these "
                                               r"apply to a task run in a container: give "
                                               "image= too"):
        Kind("t.py", mounts=["a:/a"], cpus=1)


@pytest.mark.parametrize("given", [{"run": "t.py"}, {"ask": "ok?"}])
def test_a_kind_is_run_asked_or_run_in_a_container_never_two(given: dict[str, str]) -> None:
    with pytest.raises(GrammarflowError, match="a task is run, asked or run in a container: "
                                               "one of them"):
        Kind(**given, image=IMAGE, command=["true"])  # type: ignore[arg-type]


def test_a_container_kind_needs_no_file_to_pass_check_and_a_wrong_one_fails_at_its_line(
        tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(textwrap.dedent(f"""\
        from grammarflow import Kind, define
        grammar = define("A -> B")
        kinds = {{"A": Kind(image={IMAGE!r}, command=["python3", "nowhere.py"]),
                  "B": "b.py"}}
    """))
    (tmp_path / "b.py").write_text("pass\n")
    assert check_workflow(wf).errors == ()
    assert load_workflow(wf).kinds["A"].image == IMAGE
    wf.write_text(wf.read_text().replace('"nowhere.py"])', '"nowhere.py"], mounts=["out:out"])'))
    with pytest.raises(WorkflowFileError) as e:
        load_workflow(wf)
    assert "line 3" in str(e.value) and "the target 'out' must be an absolute" in str(e.value)


def test_the_engine_command_line_carries_the_sdk_the_labels_mounts_and_limits(
        tmp_path: Path) -> None:
    kind = Kind(image=IMAGE, command=["python3", "t.py"], mounts=["out:/out", "/ref:/ref:ro"],
                env={"PYTHONPATH": "/lib", "N": "1"}, cpus=0.5, memory="256m",
                network="none")
    assert kind.container is not None
    argv = Engine("podman", "/usr/bin/podman").run(kind.container, "gf-1-A-1-abc",
                                                   {"io.grammarflow.task": "A"}, tmp_path)
    sdk = Path(grammarflow.__file__).parent
    assert argv[:8] == ["/usr/bin/podman", "run", "-i", "--rm", "--name", "gf-1-A-1-abc",
                        "--pull", "never"]
    assert argv[-3:] == [IMAGE, "python3", "t.py"]
    pairs = list(itertools.pairwise(argv))
    for pair in [("--log-driver", "passthrough"), ("--label", "io.grammarflow.task=A"),
                 ("--env", "GRAMMARFLOW_TASK"), ("--env", f"PYTHONPATH={SDK_PATH}:/lib"),
                 ("--env", "N=1"), ("--volume", f"{sdk}:{SDK_PATH}/grammarflow:ro"),
                 ("--volume", f"{tmp_path}:{WORKFLOW_PATH}:ro"), ("--workdir", WORKFLOW_PATH),
                 ("--volume", f"{tmp_path}/out:/out"), ("--volume", "/ref:/ref:ro"),
                 ("--cpus", "0.5"), ("--memory", "256m"), ("--network", "none")]:
        assert pair in pairs, pair
    assert "GRAMMARFLOW_TASK=" not in " ".join(argv)  # the context stays out of argv
    docker = Engine("docker", "/usr/bin/docker")
    assert "--log-driver" not in docker.run(kind.container, "n", {}, tmp_path)
    assert docker.remove("a", "b") == ["rm", "-f", "a", "b"]
    assert Engine("podman", "podman").remove("a") == ["rm", "-f", "-t", "0", "a"]


def test_with_no_engine_installed_the_error_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineMissing, match=r"runs through podman or docker, and neither is "
                                            r"installed \(on PATH\): install one"):
        Engine.find()
    with pytest.raises(EngineMissing, match=r"the container engine 'docker' \(--engine\) is not "
                                            "installed"):
        Engine.find("docker")
    (tmp_path / "docker").write_text("#!/bin/sh\n")
    (tmp_path / "docker").chmod(0o755)
    assert Engine.find() == Engine("docker", str(tmp_path / "docker"))


def test_only_a_workflow_with_a_container_kind_gets_the_container_executor() -> None:
    inner = LocalExecutor()
    assert with_containers(inner, [Kind("a.py"), Kind(ask="ok?")], None) is inner
    wrapped = with_containers(inner, [Kind("a.py"), Kind(image=IMAGE, command=["true"])],
                              "podman")
    assert isinstance(wrapped, ContainerExecutor) and wrapped.inner is inner


def test_resume_refuses_when_the_engine_cannot_list_what_a_dead_orchestrator_left(
        tmp_path: Path) -> None:
    broken = tmp_path / "podman"
    broken.write_text("#!/bin/sh\necho 'Error: cannot connect to the engine' >&2\nexit 125\n")
    broken.chmod(0o755)
    executor = ContainerExecutor(InProcessExecutor(), str(broken))
    with pytest.raises(GrammarflowError) as e:
        executor.kill_orphans("/db", 3)
    assert str(e.value) == (
        "cannot remove the containers a dead orchestrator of run 3 left (podman ps failed: "
        "Error: cannot connect to the engine); resume starts no task before they are gone, "
        "lest one run twice side by side: fix the engine, or remove them by hand (label "
        "io.grammarflow.run=3@/db), then resume again")
