"""The task SDK stays light: a task process pays for nothing but the channel."""

import json
import os
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from grammarflow import wire

HEAVY = ["networkx", "sqlite3", "aiosqlite", "hypothesis", "click", "rich", "pydantic",
         "grammarflow.core.grammar", "grammarflow.core.graph", "asyncio", "typing", "dataclasses"]


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


# ---------------------------------------------------------------- talking to a fake orchestrator
class FakeOrchestrator:
    """A real task process whose other end is this test: it reads the task's protocol
    lines and writes the replies it is given, as the orchestrator would."""

    def __init__(self, body: str, **context: Any) -> None:
        env = {**os.environ, wire.ENV_TASK: json.dumps(
            {"run": "1", "task": "Any.1/me", "kind": "me", "attrs": {}, "attempt": 1,
             **context})}
        code = ("import functools, sys\nfrom grammarflow import task\nctx = task.context()\n"
                "say = functools.partial(print, file=sys.stderr)\n" + textwrap.dedent(body))
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def request(self) -> dict[str, Any]:
        """The next message the task sent, validated as the orchestrator does."""
        assert self.proc.stdout is not None
        return wire.decode_message(self.proc.stdout.readline())

    def reply(self, msg_id: int, result: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(wire.encode_reply({"id": msg_id, "ok": True, "result": result}))
        self.proc.stdin.flush()

    def finish(self) -> tuple[bytes, str]:
        """What else the task sent on its stdout, and what it said (on stderr)."""
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return out, err.decode()


def test_find_sends_only_what_was_asked_and_returns_the_ids_in_the_order_given() -> None:
    fake = FakeOrchestrator("""
        say(task.find(kind="parse_a", after=ctx.task))
        say(task.find())
    """)
    first = fake.request()
    assert first == {"op": "find", "kind": "parse_a", "after": "Any.1/me", "id": 1}
    fake.reply(1, {"tasks": {"Any.1/parse_a": "parse_a", "Any.1/x/parse_a": "parse_a"}})
    assert fake.request() == {"op": "find", "id": 2}
    fake.reply(2, {"tasks": {}})
    out, said = fake.finish()
    assert out == b""
    assert said.splitlines() == ["['Any.1/parse_a', 'Any.1/x/parse_a']", "[]"]


def test_the_context_names_the_tasks_next_to_it_without_asking() -> None:
    fake = FakeOrchestrator("""
        say(ctx.after, ctx.before, ctx.holes, ctx.hole("Next"))
        say(repr(ctx))
    """, after={"start": "start", "Any.1/fetch": "fetch"}, before={"Any.1/report": "report"},
        holes={"Any.1/Next.1": "Next"})
    out, said = fake.finish()
    assert out == b""  # no request: all of it came in the environment
    lines = said.splitlines()
    assert lines[0] == ("{'start': 'start', 'Any.1/fetch': 'fetch'} "
                        "{'Any.1/report': 'report'} {'Any.1/Next.1': 'Next'} Any.1/Next.1")
    assert "after={'start': 'start', 'Any.1/fetch': 'fetch'}" in lines[1]


def test_neighbours_left_out_of_the_environment_are_asked_for_once() -> None:
    fake = FakeOrchestrator("""
        say(ctx.after); say(ctx.after); say(ctx.before)
    """, before={"b": "B"})  # `after` did not fit the environment
    assert fake.request() == {"op": "find", "before": "Any.1/me", "id": 1}
    fake.reply(1, {"tasks": {"m0": "M", "m1": "M"}})
    out, said = fake.finish()
    assert out == b""  # asked once; `before` came with the context
    assert said.splitlines() == ["{'m0': 'M', 'm1': 'M'}"] * 2 + ["{'b': 'B'}"]


@pytest.mark.parametrize(("message", "error"), [
    ({"op": "find", "id": 1, "kind": 7}, "find: 'kind' must be a non-empty string"),
    ({"op": "find", "id": 1, "after": ""}, "find: 'after' must be a non-empty string"),
    ({"op": "find", "id": 1, "before": ["a"]}, "find: 'before' must be a non-empty string"),
    ({"op": "find", "kind": "M"}, "op 'find' needs an integer 'id' to reply to"),
])
def test_a_malformed_find_is_refused_like_any_malformed_message(
        message: dict[str, Any], error: str) -> None:
    with pytest.raises(wire.WireError, match=re.escape(error)):
        wire.decode_message(wire.encode_message(message))
