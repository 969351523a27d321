"""dev.sh, the one entry point for set-up: it waits for a busy system package manager.

A real apt-get and a real lock: another process holds apt's lists lock (as
unattended-upgrades does while it updates) on lists kept in a temporary directory, with
no sources and a cache of its own, so nothing of the system's apt state is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)
fcntl.lockf(fd, fcntl.LOCK_EX)  # apt's own lock: a POSIX record lock on the file
print("locked", flush=True)
sys.stdin.read()  # held until the test closes our stdin
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="dev.sh runs apt-get as root (else through "
                                              "sudo, which may ask for a password)")
def test_dev_sh_waits_for_another_package_manager_to_let_go_of_apt(tmp_path: Path) -> None:
    assert shutil.which("apt-get"), "dev.sh installs with apt-get: this test needs Debian"
    lists, cache, parts = tmp_path / "lists", tmp_path / "cache", tmp_path / "sources.d"
    for d in (lists / "partial", cache / "archives" / "partial", parts):
        d.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lists / "lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        options = [f"-o Dir::State::Lists={lists}", f"-o Dir::Cache={cache}",
                   "-o Dir::Etc::sourcelist=/dev/null", f"-o Dir::Etc::sourceparts={parts}",
                   "-o APT::Sandbox::User=root"]
        update = subprocess.Popen(
            ["bash", "-c", f"source {ROOT / 'dev.sh'} && apt_get {' '.join(options)} update"],
            stderr=subprocess.PIPE, text=True)
        assert update.stderr is not None
        said = update.stderr.readline()  # it says that it waits, and why, then waits
        assert said.startswith("dev.sh: another package manager holds apt's lock; waiting"), said
        assert f"Could not get lock {lists}/lock" in said
        assert update.poll() is None, "apt-get gave up while the lock was held"
    finally:
        holder.communicate("")  # let go of the lock
    rest = update.communicate(timeout=120)[1]
    assert update.returncode == 0, rest
