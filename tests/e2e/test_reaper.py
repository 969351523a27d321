"""grammarflow/runtime/reaper.py on real process trees: a subreaper's sweep and kill_trees from
outside leave nothing of a tree running — not what left its group and session, not a
double fork, not what cleared its environment — and spare what they are told to keep.
Both ways of reading a process's children: the kernel's children files, and a look at
every process's parent (where the kernel has no children files).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grammarflow.runtime import reaper

from .processes import alive

# Starts three processes that try to get away (each a sleeper; the last one with a
# child of its own), prints their pids (the one below the last too), then sleeps or,
# with "exit", exits: what it started is then left behind.
LEAVER = """
import json, os, subprocess, sys, time
from grammarflow.runtime import reaper
reaper.become_subreaper()  # what the zygote makes every attempt's main process
quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
setsid = subprocess.Popen(["sleep", "60"], start_new_session=True, **quiet)
noenv = subprocess.Popen(["/bin/sleep", "60"], env={}, **quiet)
r, w = os.pipe()
middle = os.fork()
if middle == 0:
    os.setsid()
    daemon = os.fork()
    if daemon == 0:
        os.set_inheritable(w, True)
        os.execv("/bin/sh", ["sh", "-c", "sleep 60 & echo $! >&%d; wait" % w])
    os._exit(0)
os.waitpid(middle, 0)
below = int(os.read(r, 64))
daemon = int(open(f"/proc/{below}/stat").read().rsplit(")", 1)[1].split()[1])
print(json.dumps([setsid.pid, noenv.pid, daemon, below]), flush=True)
if sys.argv[1:] != ["exit"]:
    time.sleep(60)
"""

# A subreaper whose child runs LEAVER and exits; it keeps one sleeper, sweeps, and
# prints what it saw.
SWEEPER = """
import json, os, subprocess, sys
from grammarflow.runtime import reaper
reaper._HAS_CHILDREN_FILES = sys.argv[1] == "files"
reaper.become_subreaper()
kept = subprocess.Popen(["sleep", "60"])
main = subprocess.Popen([sys.executable, "-c", sys.argv[2], "exit"], stdout=subprocess.PIPE)
left = json.loads(main.stdout.readline())
main.wait()
before = sorted(reaper._family()(os.getpid()))
killed = reaper.sweep({kept.pid})
after = reaper._family()(os.getpid())
print(json.dumps({"left": left, "kept": kept.pid, "before": before, "killed": killed,
                  "after": after}))
kept.kill()
kept.wait()
"""


@pytest.fixture(params=["files", "scan"])
def children_from(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the reaper reads children from (here and in the processes it starts)."""
    if request.param == "files" and not reaper._HAS_CHILDREN_FILES:
        pytest.skip("this kernel has no /proc/<pid>/task/<tid>/children")
    monkeypatch.setattr(reaper, "_HAS_CHILDREN_FILES", request.param == "files")
    return str(request.param)


def test_a_sweep_kills_every_leftover_below_a_subreaper_and_spares_what_it_keeps(
        children_from: str) -> None:
    done = subprocess.run([sys.executable, "-c", SWEEPER, children_from, LEAVER],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    setsid, noenv, daemon, below = seen["left"]
    # the main process gone, all but the one below the daemon came to the subreaper
    assert seen["before"] == sorted([seen["kept"], setsid, noenv, daemon])
    assert below not in seen["before"]
    assert sorted(seen["killed"]) == sorted(seen["left"])  # with the one below the daemon
    assert seen["after"] == [seen["kept"]]  # kept, and nothing else left
    assert not any(alive(p) for p in seen["left"])


def test_kill_trees_leaves_nothing_of_a_tree_running(children_from: str) -> None:
    root = subprocess.Popen([sys.executable, "-c", LEAVER], stdout=subprocess.PIPE, text=True)
    try:
        assert root.stdout is not None
        tree = json.loads(root.stdout.readline())
        assert all(alive(p) for p in [root.pid, *tree])
        killed = reaper.kill_trees([root.pid])
        assert sorted(killed) == sorted([root.pid, *tree])
        assert root.wait(timeout=10) == -9
        assert not any(alive(p) for p in tree)
    finally:
        root.kill()
        root.wait()


def test_a_sweep_without_children_costs_one_system_call() -> None:
    """With nothing to keep and no child at all, a sweep reads no /proc: `_childless`."""
    done = subprocess.run([sys.executable, "-c",
                           "from grammarflow.runtime import reaper\n"
                           "reaper._family = None\n"  # would fail if called
                           "print(reaper.sweep(()))"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
