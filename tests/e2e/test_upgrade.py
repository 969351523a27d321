"""`grammarflow upgrade RUN NEW.py` through the CLI (docs/operations.md, "Upgrading a run";
proofs/14-upgrade.md): a stopped run upgraded then resumed, a running one upgraded by its
orchestrator between two steps, a running task's kind kept, `--dry-run` leaving the
database byte for byte, a repeated upgrade, kill -9 at every journal commit, `--all`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grammarflow.journal.operations import STOP_BEFORE_ACTING_ENV
from grammarflow.journal.state import fold_from_start, fold_run, journaled_steps
from grammarflow.journal.store import Store
from grammarflow.journal.transactions import CRASH_ENV, FAIL_WRITES_ENV
from grammarflow.workflow.reading import read_workflow

from .conftest import Project
from .processes import Leftovers, reaped
from .test_finality import stopped
from .test_operations import start, status, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "upgrade"

#: Version 1: a map of measures, then publish; a measure of element ITEM waits for the
#: file ITEM-go (and says it started in ITEM-started).
GATED_V1 = """
    import time
    from pathlib import Path
    from grammarflow import All, Item, define, map_over

    grammar = define("split, total, Each(split, total), After(total)", [
        *map_over("Each", "measure"),
        "After(t) ::= [plain, default] t -> publish",
    ])

    def split() -> list[str]:
        return ["a", "b", "c"]

    def measure(split: Item[str]) -> int:
        Path(f"{split}-started").write_text("")
        while not Path(f"{split}-go").exists():
            time.sleep(0.02)
        return 10

    def total(measure: All[int]) -> int:
        return sum(measure)

    def publish(total: int) -> str:
        return f"published {total}"
    """

#: Version 2: the same map, and a review of a total over 20 before it is published.
GATED_V2 = GATED_V1.replace(
    '"After(t) ::= [plain, default] t -> publish",',
    '"After(t) ::= [review, when t > 20] t -> review -> publish | [plain, else] t -> publish",'
).replace('''    def publish(total: int) -> str:
        return f"published {total}"''', '''    def review(total: int) -> int:
        return total

    def publish(total: int = 0, review: int = 0) -> str:
        return f"published {review or total}"''')

#: Version 2, and measure retried: its kind changes under a running measure.
GATED_V2_RETRIED = GATED_V2 + """
    from grammarflow import Kind
    kinds = {"measure": Kind(":measure", retries=2)}
    """


@pytest.fixture
def mine(project: Project) -> Iterator[Leftovers]:
    """What a test starts in the background, ended with it, passed or not (a run that
    waits for a gate file would outlive a failed test)."""
    with reaped(project) as leftovers:
        yield leftovers


def background(project: Project, mine: Leftovers, *args: str) -> subprocess.Popen[str]:
    proc = start(project, *args)
    mine.add(proc.pid)
    return proc


def gated_run(project: Project, mine: Leftovers, v2: str, *args: str
              ) -> subprocess.Popen[str]:
    """Run 1 of GATED_V1 (``v2`` beside it as v2.py), once its first measure runs."""
    project.write("v1.py", GATED_V1)
    project.write("v2.py", v2)
    run = background(project, mine, "run", "v1.py", *args)
    wait_for(lambda: (project.root / "a-started").exists(), "a measure to start")
    return run


def upgrade(project: Project, *args: str, env: dict[str, str] | None = None
            ) -> Any:
    return project.cli("upgrade", *args, env=env)


def digest(db: Path) -> str:
    """The database's bytes, its write-ahead log's too."""
    h = hashlib.sha256()
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def upgrades(project: Project, run: int = 1) -> list[dict[str, Any]]:
    with reading(project) as store:
        return [e.data for e in store.upgrades(run)]


def last_seq(project: Project, run: int = 1) -> int:
    with reading(project) as store:
        return store.last_seq(run)


@contextlib.contextmanager
def reading(project: Project) -> Iterator[Store]:
    """The store, read only, closed after. A connection left open here must not meet
    :func:`digest`: reading the file closes a descriptor of it, which drops every POSIX
    lock this process holds on it — SQLite's too — so a command that writes next takes
    itself for the last connection and removes the write-ahead log under ours (seen:
    "database disk image is malformed")."""
    store = Store(project.db, readonly=True)
    try:
        yield store
    finally:
        store.close()


def failed_v1_run(project: Project) -> None:
    """examples/upgrade/v1.py stopped by a measure that failed: a run nobody runs."""
    shutil.copytree(EXAMPLES, project.root / "upgrade")
    done = project.run("upgrade/v1.py", env={**os.environ, "EXAMPLE_FAIL": "item2"})
    assert done.code == 1, done.stderr[-800:]


def test_a_stopped_run_is_upgraded_and_resumed_under_the_new_version(project: Project) -> None:
    failed_v1_run(project)
    before = digest(project.db)
    seq = last_seq(project)
    # --dry-run: decided, printed, nothing written — the database byte for byte
    refused = upgrade(project, "1", "upgrade/v3_no_map.py", "--dry-run")
    assert refused.returncode == 3
    assert "UNSAFE" in refused.stdout and "hole type Each has no production named '1'" in \
        refused.stdout
    safe = upgrade(project, "1", "upgrade/v2.py", "--dry-run", "--json", "--picture",
                   "up.svg")
    assert safe.returncode == 0, safe.stderr
    # the picture: the run under v2, what After.1 gains and what changed marked
    svg = (project.root / "up.svg").read_text()
    assert "new: After.1 may become (review)" in svg
    assert "changed: After.1 may become (plain)" in svg and "no longer:" not in svg
    said = json.loads(safe.stdout)
    assert said["verdict"] == "safe" and said["dry_run"] is True
    assert said["futures"]["holes"] == [{"hole": "After.1", "type": "After",
                                         "added": ["review"], "removed": [],
                                         "changed": ["plain"]}]
    assert said["futures"]["kinds_gained"] == ["review"]
    assert digest(project.db) == before
    gone = upgrade(project, "1", "upgrade/v2.py", "--dry-run", "--picture", "up.dot")
    assert gone.returncode == 0
    assert "After.1 (After) becomes" in (project.root / "up.dot").read_text()
    # refused for real: nothing journaled either
    assert upgrade(project, "1", "upgrade/v3_no_map.py").returncode == 3
    assert last_seq(project) == seq and upgrades(project) == []
    # safe: journaled under the lease; resume goes on under it
    done = upgrade(project, "1", "upgrade/v2.py")
    assert done.returncode == 0, done.stderr
    assert f"upgraded: journal entry {seq + 1}; `grammarflow resume 1` goes on under it" in \
        done.stdout
    [entry] = upgrades(project)
    assert entry["was"] == said["was"] and entry["version"] == said["version"]
    shown = status(project)
    assert shown["workflow"].endswith("upgrade/v2.py") and len(shown["upgrades"]) == 1
    listed = json.loads(project.cli("runs", "--json").stdout)
    assert listed[0]["workflow"].endswith("upgrade/v2.py")
    # again: nothing to do, nothing written
    again = upgrade(project, "1", "upgrade/v2.py")
    assert again.returncode == 0 and "already: nothing to do" in again.stdout
    assert last_seq(project) == seq + 1
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-800:]
    ran = {t["id"]: t["state"] for t in resumed.view["tasks"]}
    assert ran["After.1/review"] == "done" and ran["After.1/publish"] == "done"
    with reading(project) as store:
        assert fold_from_start(store, 1).d.graph == fold_run(store, 1).d.graph
    history = project.cli("history", "1").stdout
    assert f"UPGRADE to version {entry['version']}" in history
    project.check_consistent(1)
    # a restart after it plans on the new version: the branch it added runs again
    again = project.cli("restart", "1", "total")
    assert again.returncode == 0, again.stderr
    rerun = project.resume(1)
    assert rerun.code == 0, rerun.stderr[-800:]
    attempts = {t["id"]: t["attempts"] for t in rerun.view["tasks"]}
    assert attempts["total"] == 2 and attempts["After.1/review"] == 2
    project.check_consistent(1)


def test_a_running_run_is_upgraded_by_its_orchestrator_between_two_steps(
        project: Project, mine: Leftovers) -> None:
    run = gated_run(project, mine, GATED_V2, "--max-parallel", "2")
    done = upgrade(project, "1", "v2.py")
    assert done.returncode == 0, done.stderr
    assert "SAFE" in done.stdout and "taken by its orchestrator (pid " in done.stdout
    for item in "abc":
        (project.root / f"{item}-go").write_text("")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-1000:]
    view = json.loads(out)
    states = {t["id"]: t["state"] for t in view["tasks"]}
    assert states["After.1/review"] == "done"  # the branch version 2 added, taken
    assert len(upgrades(project)) == 1
    project.check_consistent(1)


def test_a_running_task_keeps_its_kind_the_upgrade_waits_until_it_ends(
        project: Project, mine: Leftovers) -> None:
    run = gated_run(project, mine, GATED_V2_RETRIED)
    refused = upgrade(project, "1", "v2.py")
    assert refused.returncode == 3, refused.stderr
    assert ("task Each.1/measure is running as kind measure, which the new version changes"
            in refused.stdout), refused.stdout
    assert upgrades(project) == []
    # pause, let it end, upgrade, unpause: the next measures run under version 2
    assert project.cli("pause", "1").returncode == 0
    (project.root / "a-go").write_text("")
    wait_for(lambda: status(project)["tasks"] and {t["id"]: t["state"] for t in status(
        project)["tasks"]}["Each.1/measure"] == "done", "the running measure to end")
    done = upgrade(project, "1", "v2.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert project.cli("unpause", "1").returncode == 0
    for item in "bc":
        (project.root / f"{item}-go").write_text("")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-1000:]
    assert {t["id"]: t["state"] for t in json.loads(out)["tasks"]}["After.1/review"] == "done"


def test_kill_9_at_every_commit_of_an_upgrade_leaves_the_old_version_or_the_new(
        project: Project) -> None:
    failed_v1_run(project)
    with reading(project) as store:
        seq, was = store.last_seq(1), fold_run(store, 1).workflow.version
    new = read_workflow(project.root / "upgrade" / "v2.py").version
    failed = upgrade(project, "1", "upgrade/v2.py", env={**os.environ, FAIL_WRITES_ENV: "1+"})
    assert failed.returncode == 2 and "could not be journaled, so nothing changed" in \
        failed.stderr
    assert upgrades(project) == []
    # killed once it has planned the upgrade, before it writes: nothing of it is there
    asker = subprocess.Popen([sys.executable, "-m", "grammarflow", "upgrade", "1",
                              "upgrade/v2.py", "--db", str(project.db)], cwd=project.root,
                             env={**os.environ, STOP_BEFORE_ACTING_ENV: "1"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: stopped(asker.pid), "the upgrade to stop before acting")
    finally:
        asker.kill()
        asker.wait()
    assert upgrades(project) == [] and last_seq(project) == seq
    k = 1
    while True:  # killed after its k-th journal commit, for every k until it completes
        # each k on its own copy of the stopped run (never a file copied under a reader)
        copy = Project(project.root)
        copy.db = project.root / f"after-{k}" / "gf.db"
        copy.db.parent.mkdir()
        copy_db(project.db, copy.db)
        killed = upgrade(copy, "1", "upgrade/v2.py", env={**os.environ, CRASH_ENV: str(k)})
        if killed.returncode != -signal.SIGKILL:
            assert killed.returncode == 0, killed.stderr
            break
        with reading(copy) as store:
            state = fold_run(store, 1)
            under = state.workflow.version
            assert under in (was, new)  # never between
            assert store.last_seq(1) == (seq if under == was else seq + 1)
            assert fold_from_start(store, 1).d.graph == state.d.graph
        assert len(upgrades(copy)) == (0 if under == was else 1)
        resumed = copy.resume(1)  # whichever version it is under, it goes on
        assert resumed.code == 0, resumed.stderr[-800:]
        ran = {t["id"] for t in resumed.view["tasks"]}
        assert ("After.1/review" in ran) == (under == new)
        k += 1
    assert k >= 2  # the upgrade's own commit was among those killed after
    assert len(upgrades(copy)) == 1 and copy.resume(1).code == 0


def copy_db(source: Path, target: Path) -> None:
    """The database at ``source`` copied whole to ``target`` (its write-ahead log too:
    what the last transactions wrote may be only there)."""
    for extra in ("", "-wal", "-shm"):
        there = source.with_name(source.name + extra)
        here = target.with_name(target.name + extra)
        if there.exists():
            shutil.copy(there, here)
        else:
            here.unlink(missing_ok=True)


def test_kill_9_of_the_orchestrator_right_after_it_took_an_upgrade(
        project: Project, mine: Leftovers) -> None:
    run = gated_run(project, mine, GATED_V2)
    assert upgrade(project, "1", "v2.py").returncode == 0
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    for item in "abc":
        (project.root / f"{item}-go").write_text("")
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-800:]
    assert {t["id"]: t["state"] for t in resumed.view["tasks"]}["After.1/review"] == "done"
    with reading(project) as store:
        steps = journaled_steps(store, 1)
    assert sum(1 for j in steps if getattr(j.step, "task", None) == "Each.1/measure"
               and j.step.__class__.__name__ == "SetState") >= 2


def test_upgrade_all_moves_every_unfinished_run_and_says_when_a_version_can_go(
        project: Project) -> None:
    failed_v1_run(project)  # run 1: failed
    assert project.run("upgrade/v1.py", env={**os.environ, "EXAMPLE_FAIL": "item0"}).code == 1
    assert project.run("upgrade/v1.py").code == 0  # run 3: succeeded, nothing left to run
    dry = project.cli("upgrade", "--all", "upgrade/v1.py", "upgrade/v2.py", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1] == ("left on the version of upgrade/v1.py: run(s) "
                                           "1, 2")
    done = project.cli("upgrade", "--all", "upgrade/v1.py", "upgrade/v2.py", "--json")
    assert done.returncode == 0, done.stderr
    said = {r["run"]: r["verdict"] for r in json.loads(done.stdout)}
    assert said == {1: "safe", 2: "safe", 3: "finished"}
    after = project.cli("upgrade", "--all", "upgrade/v1.py", "upgrade/v2.py")
    assert after.stdout.endswith("no unfinished run is left on the version of upgrade/v1.py"
                                 " (all on upgrade/v2.py): it can be retired\n"), after.stdout
    assert [r["verdict"] for r in json.loads(project.cli(
        "upgrade", "--all", "upgrade/v2.py", "upgrade/v2.py", "--json").stdout)] == [
        "safe", "safe"]  # on v2 now: already


def test_upgrade_says_what_it_cannot_do(project: Project) -> None:
    failed_v1_run(project)
    assert upgrade(project, "x", "upgrade/v2.py").returncode == 2
    missing = upgrade(project, "1", "upgrade/nope.py")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad = upgrade(project, "1", "upgrade/v2.py", "--rename", "Each")
    assert bad.returncode == 2 and "expected OLD=NEW" in bad.stderr
    unknown = upgrade(project, "1", "upgrade/v2.py", "--rename", "Nope=Each")
    assert unknown.returncode == 2 and "has no hole type 'Nope'" in unknown.stderr
    assert project.run("upgrade/v1.py").code == 0
    finished = upgrade(project, "2", "upgrade/v2.py")
    assert (finished.returncode, finished.stderr) == (
        2, "error: run 2 succeeded: there is nothing to upgrade\n")


RENAMED_V1 = """
    import os
    from grammarflow import define, repeat_parallel

    grammar = define("A -> B, Ms(A, B)", repeat_parallel("Ms", "M"))

    def A() -> None:
        from grammarflow import task
        hole = task.context().hole("Ms")
        more = task.expand(hole, "2")["holes"][0]
        task.expand(more, "2")

    def M() -> None:
        if os.environ.get("FAIL_M"):
            raise SystemExit(1)

    def B() -> None: ...
    """


def test_a_renamed_hole_type_re_maps_the_run_s_ids_in_every_fold(project: Project) -> None:
    project.write("v1.py", RENAMED_V1)
    project.write("v2.py", RENAMED_V1.replace("Ms", "Items"))
    failed = project.run("v1.py", env={**os.environ, "FAIL_M": "1"})
    assert failed.code == 1, failed.stderr[-800:]
    done = upgrade(project, "1", "v2.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ids re-mapped: Ms -> Items, Ms_more -> Items_more" in done.stdout
    with reading(project) as store:
        state = fold_run(store, 1)
        assert fold_from_start(store, 1).d.graph == state.d.graph
        ids = set(state.d.graph.tasks)
        assert {"Items.1/M", "Items.1/Items_more.1/M"} <= ids and not any("Ms" in i for i in ids)
        assert state.failures and all(t.startswith("Items.1/") for t in state.failures)
        steps = journaled_steps(store, 1)
        assert not any("Ms." in repr(j.step) for j in steps)  # the old ids re-mapped
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-800:]
    attempts = {t["id"]: t["attempts"] for t in resumed.view["tasks"]}
    assert attempts["Items.1/M"] == 2  # its failed attempt counted, under its new id
    project.check_consistent(1)
