"""Every process a task started, found and ended: child subreapers and process trees.

The zygote and every attempt's main process are child subreapers, so nothing an attempt
starts gets away: :func:`sweep` kills an ended attempt's leftovers, :func:`kill_trees`
ends whole trees from outside (docs/architecture.md, "Executors and the zygote").
Linux only (:data:`SUPPORTED`); standard library only (the zygote imports it).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator

#: Linux's prctl option that makes orphaned descendants come to this process.
PR_SET_CHILD_SUBREAPER = 36

#: Whether a run's task processes can be kept under subreapers here (Linux, with
#: pidfds and /proc); elsewhere tasks are spawned as before, each in its process group.
SUPPORTED = (sys.platform == "linux" and hasattr(os, "pidfd_open")
             and os.path.exists("/proc/self/stat"))

#: Seconds :func:`kill_trees` waits for the processes of the trees to stop (one in
#: uninterruptible sleep stops only when it wakes; it is killed all the same).
STOP_WITHIN = 2.0

def become_subreaper() -> None:
    """Make this process a child subreaper: its orphaned descendants become its
    children (``OSError`` if the kernel refuses). Kept across ``execve``, not across
    ``fork``; cheap enough to call in a child before it execs (``preexec_fn``)."""
    if _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(errno)}")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def sweep(keep: Collection[int]) -> list[int]:
    """In a subreaper: kill every child of this process that is not in ``keep``, with
    everything below it, and reap it; again until none is left (each one that dies
    hands its children over to this process). Returns the pids it killed.

    A killed child is reaped by a blocking wait: SIGKILL ends a process at once, but
    one in uninterruptible sleep only when its system call returns."""
    me = os.getpid()
    killed: dict[int, None] = {}
    while keep or not _childless():
        children = _family()
        left = [p for p in children(me) if p not in keep]
        if not left:
            break
        for pid in _below(left, children):
            if pid not in killed:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed[pid] = None
        for pid in left:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return list(killed)


def kill_trees(roots: Iterable[int]) -> list[int]:
    """SIGKILL ``roots`` and every process below them, from a process that is not
    their subreaper: each is stopped (SIGSTOP) before its children are read, until
    every process of the trees is stopped — none can fork, exit or hand a child over
    to init any more — and then all are killed at once; it returns once they are dead
    (or STOP_WITHIN seconds later). Returns the pids killed.

    >>> kill_trees([])
    []
    """
    stopped: set[int] = set()
    frontier = set(roots)
    deadline = time.monotonic() + STOP_WITHIN
    while frontier:
        children = _family()  # also before: one that dies meanwhile hands them over
        below = {c for p in frontier for c in children(p)}
        for pid in frontier:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        for pid in frontier:
            _wait_for(pid, _STILL, deadline)
        stopped |= frontier
        children = _family()
        below |= {c for p in stopped for c in children(p)}
        # one SIGCONT let go again (a group orphaned with a stopped member gets one)
        going = {p for p in stopped if _state(p) not in _STILL} \
            if time.monotonic() < deadline else set()
        frontier = (below - stopped) | going
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + STOP_WITHIN
    for pid in stopped:
        _wait_for(pid, _DEAD, deadline)
    return sorted(stopped)


def _childless() -> bool:
    """Whether this process has no child at all (one system call, no /proc)."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return False


#: The states of a process that can fork no more: stopped, traced, dead; None: gone.
_STILL = (None, "T", "t", "Z", "X")
#: The states of a process that is no more: a zombie, dead; None: gone.
_DEAD = (None, "Z", "X")


def _wait_for(pid: int, states: tuple[str | None, ...], deadline: float) -> None:
    """Until ``pid`` is in one of ``states`` (a signal arrives asynchronously: until a
    SIGSTOP has, the process may still fork), or the ``deadline``
    (``time.monotonic()``)."""
    while _state(pid) not in states and time.monotonic() < deadline:
        time.sleep(0.0005)


def _state(pid: int) -> str | None:
    """The state letter of ``pid`` (``/proc/<pid>/stat``), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[1].split(None, 1)[0].decode()


def _below(roots: list[int], children: Callable[[int], list[int]]) -> list[int]:
    """``roots`` and everything below them, each once."""
    found = list(dict.fromkeys(roots))
    seen = set(found)
    level = found
    while level:
        level = [c for p in level for c in children(p) if c not in seen]
        seen.update(level)
        found += level
    return found


def _family() -> Callable[[int], list[int]]:
    """The children (running or zombie) of a process, as they are now: read from
    ``/proc/<pid>/task/<tid>/children`` where the kernel has it, else from one look at
    every process's parent (taken here, once)."""
    if _HAS_CHILDREN_FILES:
        return _children_file
    snapshot: dict[int, list[int]] = {}
    for pid, ppid in _parents():
        snapshot.setdefault(ppid, []).append(pid)
    return lambda pid: snapshot.get(pid, [])


def _children_file(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in threads:
        with contextlib.suppress(OSError), \
                open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
            kids += map(int, f.read().split())
    return kids


def _parents() -> Iterator[tuple[int, int]]:
    """(pid, parent pid) of every process there is."""
    for pid, stat in each_process("stat"):
        yield pid, int(stat.rsplit(b")", 1)[1].split(None, 2)[1])


def each_process(name: str) -> Iterator[tuple[int, bytes]]:
    """(pid, what ``/proc/<pid>/<name>`` holds) of every process there is (that lets
    this one read it).

    >>> any(pid == os.getpid() for pid, _ in each_process("stat"))
    True
    """
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/{name}", "rb") as f:
                yield int(entry), f.read()
        except OSError:
            continue


_HAS_CHILDREN_FILES = SUPPORTED and os.path.exists(
    f"/proc/self/task/{os.getpid()}/children")


__all__ = ["PR_SET_CHILD_SUBREAPER", "STOP_WITHIN", "SUPPORTED", "become_subreaper",
           "each_process", "kill_trees", "sweep"]
