"""The runtime: the orchestrator and the executors that run a workflow's tasks.

* :mod:`.orchestrator` — one run of one workflow: its loop, start, resume, journal; its
  jobs: :mod:`.scheduling` (attempts), :mod:`.protocol` (tasks' messages),
  :mod:`.controls` (other processes' requests), :mod:`.outcome` (how a run stops);
* :mod:`.tentative` — running tasks' changes checked against the grammar;
* :mod:`.attempt` — one attempt's record, log and output framing;
* :mod:`.executor` — the seam: what an executor must do;
* :mod:`.zygote` — every task started by the run's zygote, under child subreapers;
* :mod:`.local` — tasks as Python subprocesses in their own process groups (not Linux);
* :mod:`.container` — tasks in containers (podman or docker), same protocol;
* :mod:`.inprocess` — tasks as coroutines, same protocol (for tests).
"""

from grammarflow.runtime.attempt import Attempt
from grammarflow.runtime.events import Event, Reporter, no_report
from grammarflow.runtime.executor import Executor, Launch, TaskProcess
from grammarflow.runtime.local import LocalExecutor, use_pidfd_child_watcher
from grammarflow.runtime.orchestrator import (
    EXIT_BROKEN_PROMISE,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_JOURNAL_LOST,
    EXIT_SUCCEEDED,
    EXIT_TASK_FAILED,
    EXIT_USAGE,
    STATUS_EXIT,
    STOP_SIGNALS,
    JournalLost,
    Options,
    Orchestrator,
)
from grammarflow.runtime.outcome import MESSAGE_KEEP
from grammarflow.runtime.protocol import INTERNAL_ERROR_ENV
from grammarflow.runtime.scheduling import CRASH_BEFORE_COMMIT_ENV, PIPE_GRACE

__all__ = [
    "CRASH_BEFORE_COMMIT_ENV",
    "EXIT_BROKEN_PROMISE",
    "EXIT_INTERNAL_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_JOURNAL_LOST",
    "EXIT_SUCCEEDED",
    "EXIT_TASK_FAILED",
    "EXIT_USAGE",
    "INTERNAL_ERROR_ENV",
    "MESSAGE_KEEP",
    "PIPE_GRACE",
    "STATUS_EXIT",
    "STOP_SIGNALS",
    "Attempt",
    "Event",
    "Executor",
    "JournalLost",
    "Launch",
    "LocalExecutor",
    "Options",
    "Orchestrator",
    "Reporter",
    "TaskProcess",
    "no_report",
    "use_pidfd_child_watcher",
]
