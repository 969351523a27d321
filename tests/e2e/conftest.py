"""End-to-end helpers: a workflow directory in tmp_path, run through the real CLI."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grammarflow.journal.status import fold, run_view
from grammarflow.journal.store import Store


@dataclass
class Result:
    code: int
    view: dict[str, Any]
    stderr: str
    db: Path

    def journal(self, kind: str | None = None) -> list[dict[str, Any]]:
        store = Store(self.db, readonly=True)
        return [e.data for e in store.entries(self.view["run"], [kind] if kind else None)]


class Project:
    """A workflow file and task scripts in a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "state" / "gf.db"

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def cli(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "grammarflow", *args,
                               "--db", str(self.db)],
                              cwd=self.root, capture_output=True, text=True, timeout=timeout,
                              env=env)

    def run(self, workflow: str = "wf.py", *args: str, env: dict[str, str] | None = None
            ) -> Result:
        proc = self.cli("run", workflow, "--json", *args, env=env)
        return self._result(proc)

    def resume(self, run_id: int, *args: str, env: dict[str, str] | None = None) -> Result:
        return self._result(self.cli("resume", str(run_id), "--json", *args, env=env))

    def _result(self, proc: subprocess.CompletedProcess[str]) -> Result:
        try:
            view = json.loads(proc.stdout)
        except ValueError:
            view = {}
        return Result(proc.returncode, view, proc.stderr, self.db)

    def run_journal(self, run_id: int, kind: str | None = None) -> list[dict[str, Any]]:
        store = Store(self.db, readonly=True)
        return [e.data for e in store.entries(run_id, [kind] if kind else None)]

    def check_consistent(self, run_id: int) -> None:
        """The database is intact and the journal folds to what status reports."""
        db = sqlite3.connect(self.db)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        seqs = [r[0] for r in db.execute("SELECT seq FROM journal WHERE run=? ORDER BY seq",
                                         (run_id,))]
        assert seqs == list(range(1, len(seqs) + 1)), "the journal has gaps"
        db.close()
        store = Store(self.db, readonly=True)
        _, d = fold(store, run_id)
        view = run_view(store, run_id)
        folded = {t: s.value for t, s in d.graph.state.items()}
        # a task that waits for an answer is started in the graph, and says it waits
        assert folded == {t["id"]: "running" if t["state"] == "waiting" else t["state"]
                          for t in view["tasks"]}
        assert sorted([u, v] for u, v in d.graph.edges()) == view["edges"]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def run_on_a_terminal(project: Project, *args: str, columns: int = 120,
                      timeout: float = 60) -> tuple[int, str]:
    """Run ``grammarflow ARGS --db ...`` with a pseudo-terminal as its stdio; its exit
    status and everything it wrote there."""
    import os
    import pty
    import select

    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "grammarflow", *args,
                             "--db", str(project.db)], cwd=project.root,
                            stdin=terminal, stdout=terminal, stderr=terminal,
                            env={**os.environ, "COLUMNS": str(columns), "TERM": "xterm"})
    os.close(terminal)
    seen = b""
    while True:
        ready, _, _ = select.select([controller], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=timeout)
    os.close(controller)
    return proc.returncode, seen.decode("utf-8", "replace")


def final_graph(view: dict[str, Any]) -> tuple[list[tuple[str, str]], list[list[str]]]:
    return sorted((t["id"], t["kind"]) for t in view["tasks"]), view["edges"]


__all__ = ["Project", "Result", "final_graph", "run_on_a_terminal"]
