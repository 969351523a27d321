"""The task SDK stays light: a task process pays for nothing but the channel."""

import subprocess
import sys

HEAVY = ["networkx", "sqlite3", "aiosqlite", "hypothesis", "click", "rich", "pydantic",
         "grammarflow.grammar", "grammarflow.graph", "asyncio", "typing", "dataclasses"]


def test_importing_the_sdk_loads_none_of_the_orchestrator() -> None:
    code = ("import sys\nfrom grammarflow import task\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"the task SDK imported {out}"


def test_outside_grammarflow_the_sdk_says_so() -> None:
    code = "from grammarflow import task\ntask.expand('X.1', '1')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": ""})
    assert proc.returncode != 0 and "not running under grammarflow" in proc.stderr
