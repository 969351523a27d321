"""Journal entries: each kind is one class, and its encoding reads back as the same
entry (docs/architecture.md, "The journal and the store")."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from grammarflow.core.graph import TaskState
from grammarflow.core.steps import Expand, Output, SetState
from grammarflow.errors import Attempt, Refusal, Why
from grammarflow.journal.entries import (
    AttemptEnded,
    AttemptLost,
    AttemptRetried,
    AttemptStarted,
    AttemptWaits,
    ChangeRefused,
    ControlTaken,
    InternalError,
    JournalEntry,
    Other,
    RestartTaken,
    StatusChanged,
    StepTaken,
    UpgradeTaken,
    decode,
    encode,
)

names = st.text("abcXY/.1", min_size=1, max_size=8)
texts = st.text(max_size=20)
maybe_texts = st.none() | texts
numbers = st.integers(0, 10**6)
askers = st.none() | st.fixed_dictionaries({"pid": numbers, "host": names})
steps = st.one_of(
    st.builds(SetState, names, st.sampled_from(list(TaskState))),
    st.builds(Expand, names, names),
    st.builds(Output, names, st.none() | numbers | texts | st.lists(numbers, max_size=3)),
)
refusals = st.builds(Refusal, texts, st.none() | names, st.none() | names,
                     st.lists(st.builds(Attempt, names, texts), max_size=2).map(tuple),
                     maybe_texts, st.none(), st.none() | names,
                     st.none() | st.sampled_from(list(Why)), st.none() | names,
                     st.none() | st.tuples(names, names), maybe_texts)
ranges = st.lists(st.tuples(numbers, numbers), max_size=3).map(tuple)
entries: st.SearchStrategy[JournalEntry] = st.one_of(
    st.builds(StepTaken, steps, st.none() | names),
    st.builds(AttemptStarted, names, numbers, maybe_texts),
    st.builds(AttemptWaits, names, numbers, texts),
    st.builds(AttemptEnded, names, numbers, st.sampled_from(["succeeded", "failed",
                                                             "abandoned"]),
              maybe_texts, texts, maybe_texts, st.none() | numbers, maybe_texts,
              st.none() | st.floats(0, 1e9), st.none(), st.none() | numbers),
    st.builds(AttemptEnded, names, numbers, st.just("answered"), st.none(),
              at=st.none() | st.floats(0, 1e9), by=askers),
    st.builds(AttemptLost, names, numbers, texts),
    st.builds(AttemptRetried, names, numbers, texts),
    st.builds(ChangeRefused, refusals),
    st.builds(InternalError, texts, texts, st.none() | texts, texts),
    st.builds(ControlTaken, st.sampled_from(["pause", "unpause"]), askers),
    st.builds(ControlTaken, st.just("ignored"), askers, names),
    st.builds(RestartTaken, names, st.lists(names, max_size=3).map(tuple),
              st.lists(names, max_size=3).map(tuple), st.lists(names, max_size=3).map(tuple),
              st.dictionaries(names, texts, max_size=2), ranges, numbers, askers),
    st.builds(UpgradeTaken, st.fixed_dictionaries({"path": names, "kinds": st.just({})}),
              st.dictionaries(names, names, max_size=2), names, names, askers),
    st.builds(StatusChanged, names, maybe_texts),
    st.builds(Other, st.sampled_from(["log", "note"]),
              st.dictionaries(names, numbers | texts, max_size=3)),
)


@given(entries, numbers)
def test_every_entry_reads_back_as_itself(entry: JournalEntry, seq: int) -> None:
    kind, data = encode(entry)
    stored: dict[str, Any] = json.loads(json.dumps(data))  # as the journal keeps it
    read = decode(kind, stored, seq)
    if isinstance(entry, ChangeRefused):  # a refusal is known by its entry's number
        assert read == ChangeRefused(Refusal(**{**_fields(entry.refusal), "seq": seq}))
    else:
        assert read == entry


def _fields(refusal: Refusal) -> dict[str, Any]:
    return {f: getattr(refusal, f) for f in Refusal.__dataclass_fields__}


def test_an_attempt_of_an_event_not_known_is_kept_not_misread() -> None:
    data = {"event": "teleported", "task": "A", "attempt": 1}
    assert decode("attempt", data) == Other("attempt", data)
    assert encode(decode("attempt", data)) == ("attempt", data)


def test_who_broke_a_run_is_data_and_a_journal_of_before_reads_the_same() -> None:
    # The task whose start a constraint refused is the refusal's `starting` (issue 27.3:
    # nothing parses it out of the message); a journal written before kept it only in
    # the orchestrator's message, which the codec reads once, when it decodes.
    new = ChangeRefused(Refusal("too few P before it", message='{"event": "start", '
                                '"task": "W/x"}', starting="W/x"))
    kind, data = encode(new)
    assert data["starting"] == "W/x"
    old = {k: v for k, v in data.items() if k != "starting"}
    for stored in (data, old):
        read = decode(kind, stored, 9)
        assert isinstance(read, ChangeRefused) and read.refusal.starting == "W/x"
        assert read.refusal.headline() == ("the orchestrator could not start task W/x: its "
                                           "predecessors break a constraint")
    asked = decode(kind, {**old, "task": "A"}, 9)  # a task's own change: no start refused
    assert isinstance(asked, ChangeRefused) and asked.refusal.starting is None
