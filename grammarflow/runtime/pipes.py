"""An attempt's pipes read and written straight from the event loop's selector.

About half the orchestrator's CPU of asyncio's subprocess transports (``bench/spawn.py``),
keeping asyncio's flow control: a task that writes faster than the orchestrator reads is
held back by the pipe, not buffered without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable


class _Reading:
    """One pipe fed into a StreamReader; the 'transport' it pauses and resumes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, limit: int) -> None:
        self.loop, self.fd = loop, fd
        self.stream = asyncio.StreamReader(limit=limit, loop=loop)
        self.stream.set_transport(self)  # type: ignore[arg-type]
        self.paused = False
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.stream.set_exception(e)
            self.close()
            return
        if data:
            self.stream.feed_data(data)
        else:
            self.stream.feed_eof()
            self.close()

    # what StreamReader calls on its transport
    def pause_reading(self) -> None:
        if not self.paused and self.fd >= 0:
            self.paused = True
            self.loop.remove_reader(self.fd)

    def resume_reading(self) -> None:
        if self.paused and self.fd >= 0:
            self.paused = False
            self.loop.add_reader(self.fd, self._readable)

    def close(self) -> None:
        if self.fd < 0:
            return
        self.loop.remove_reader(self.fd)
        os.close(self.fd)
        self.fd = -1


class Pipes:
    """Our ends of an attempt's stdin, stdout and stderr (file descriptors we own)."""

    def __init__(self, stdin: int, stdout: int, stderr: int, limit: int = 2 ** 16) -> None:
        self.loop = asyncio.get_running_loop()
        self.out = _Reading(self.loop, stdout, limit)
        self.err = _Reading(self.loop, stderr, limit)
        self.stdin = stdin
        os.set_blocking(stdin, False)
        self.pending = bytearray()  # reply bytes the full pipe did not take yet

    @property
    def stdout(self) -> asyncio.StreamReader:
        return self.out.stream

    @property
    def stderr(self) -> asyncio.StreamReader:
        return self.err.stream

    def write(self, data: bytes) -> None:
        """Send ``data`` to the task's stdin; a no-op once it is closed or gone."""
        if self.stdin < 0:
            return
        if self.pending:
            self.pending += data
            return
        self.pending += data
        self._writable()

    def _writable(self) -> None:
        while self.pending and self.stdin >= 0:
            try:
                n = os.write(self.stdin, self.pending)
            except (BlockingIOError, InterruptedError):
                self.loop.add_writer(self.stdin, self._writable)
                return
            except OSError:  # the task closed its stdin or is gone: nobody reads
                self._close_stdin()
                return
            del self.pending[:n]
        if self.stdin >= 0:
            self.loop.remove_writer(self.stdin)

    def close_stdin(self) -> None:
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin < 0:
            return
        self.loop.remove_writer(self.stdin)
        with contextlib.suppress(OSError):
            os.close(self.stdin)
        self.stdin = -1
        self.pending.clear()

    def close(self) -> None:
        """Give up all three (the orchestrator stopped reading them)."""
        self._close_stdin()
        self.out.close()
        self.err.close()


def exit_of(pid: int, reap: Callable[[], int]) -> asyncio.Future[int]:
    """A child's exit status (negative: killed by that signal), learned from its pidfd
    on the event loop and then reaped with ``reap`` (which no longer blocks by then)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    pidfd = os.pidfd_open(pid)

    def exited() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not done.done():
            done.set_result(reap())

    loop.add_reader(pidfd, exited)
    return done


__all__ = ["Pipes", "exit_of"]
