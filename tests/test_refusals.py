"""Refused input is counted, recorded at most once a second, and a flood ends the session.

The engine is driven with a fake clock (a float) and its records are appended
to a real SQLite log, as the driver does, so the tests count what a security
team would find on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from ra.engine import Close, Output, Record, Send, SessionEngine, replay
from ra.engine.session import CHAT_LIMIT, FLOOD_LIMIT, FLOOD_WINDOW_S, RACE_GRACE_S
from ra.events import EventStore, RecordedEvent
from ra.events.tally import Tally, Window
from ra.statemachines.session import SessionState

S = SessionState
KEY_A = {"kind": "key", "key": "a", "code": "KeyA", "down": True}
POINTER = {"kind": "pointer", "x": 10, "y": 20}
STREAM = "session:flood"


class Logged:
    """A person's engine whose records go to a real log, batch by batch."""

    def __init__(self, store: EventStore, **options: Any) -> None:
        self.store = store
        self.engine = SessionEngine("person", "alice", **options)
        self.version = 0
        self.outputs: list[Output] = []

    def __call__(self, outputs: list[Output]) -> list[Output]:
        events = [out.event for out in outputs if isinstance(out, Record)]
        if events:
            self.version = self.store.append(STREAM, self.version, events)[-1].stream_version
        self.outputs += outputs
        return outputs

    def awaiting_view_consent(self) -> None:
        self(self.engine.connected("mallory", 0.0))
        self(self.engine.authenticated(0.0))
        assert self.engine.state is S.AWAITING_VIEW_CONSENT

    def events(self) -> list[RecordedEvent]:
        return list(self.store.read_stream(STREAM))

    def rejected(self) -> list[RecordedEvent]:
        return [e for e in self.events() if e.type == "input.rejected"]


def inp(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "input", "event": event}


def total(events: Iterable[RecordedEvent]) -> int:
    return sum(int(e.payload["count"]) for e in events)


def test_ten_thousand_inputs_before_consent_are_a_handful_of_events(store: EventStore) -> None:
    log = Logged(store, flood_limit=1_000_000)  # the flood rule is tested below
    log.awaiting_view_consent()
    now = 0.0
    for n in range(10_000):  # 2,000 a second for 5 s, ticked as the driver does
        now = 0.1 + n * 0.0005
        log(log.engine.received(inp(KEY_A if n % 2 else POINTER), now))
        if n % 1000 == 999:
            log(log.engine.tick(now))
            log(log.engine.received({"type": "heartbeat"}, now))
    deadline = log.engine.next_deadline()
    assert deadline is not None and deadline <= now + 1.0  # the driver ticks then
    log(log.engine.tick(now + 1.0))
    rejected = log.rejected()
    assert 2 <= len(rejected) <= 7  # one at once, then at most one a second
    assert total(rejected) == 10_000 == log.engine.refused
    assert sum(e.payload["kinds"].get("key", 0) for e in rejected) == 5_000
    assert sum(e.payload["kinds"].get("pointer", 0) for e in rejected) == 5_000
    assert all(e.payload["reasons"] == {"not in control": e.payload["count"]}
               and e.payload["states"] == {"awaiting_view_consent": e.payload["count"]}
               and e.outcome == "failure" and e.actor.kind == "helper" for e in rejected)
    assert rejected[0].payload["count"] == 1  # the first is recorded when it comes
    assert log.engine.state is S.AWAITING_VIEW_CONSENT
    # No key is ever written down, only its kind.
    assert '"a"' not in str([e.payload for e in log.events()])


def test_a_flood_ends_the_session_with_its_reason_and_every_count(store: EventStore) -> None:
    log = Logged(store)
    log.awaiting_view_consent()
    closed: list[Output] = []
    for n in range(10_000):
        out = log(log.engine.received(inp(KEY_A), 0.1 + n * 0.0001))
        closed += [o for o in out if isinstance(o, Close)]
    assert closed == [Close("flood")]
    assert log.engine.state is S.DISCONNECTED
    events = log.events()
    types = [e.type for e in events]
    assert types[-1] == "session.disconnected"
    assert events[-1].payload == {
        "by": "system", "reason": "flood",
        "detail": f"more than {FLOOD_LIMIT} refused messages within {FLOOD_WINDOW_S:g} s"}
    assert events[-1].outcome == "failure"
    rejected = log.rejected()
    # Counted up to the one that ended it, recorded before the end: nothing lost.
    assert total(rejected) == FLOOD_LIMIT + 1 == log.engine.refused
    assert len(rejected) <= 3
    assert types.index("session.disconnected") > types.index("input.rejected")
    sends = [o.message for o in log.outputs if isinstance(o, Send)]
    assert sends[-1] == {"type": "disconnect", "reason": "flood"}
    assert replay(events) is S.DISCONNECTED


def test_a_steady_trickle_under_the_limit_is_recorded_but_not_cut_off(
        store: EventStore) -> None:
    log = Logged(store)
    log.awaiting_view_consent()
    per_second = int(FLOOD_LIMIT / FLOOD_WINDOW_S) - 1
    now = 0.0
    for second in range(30):
        for n in range(per_second):
            now = second + n / per_second
            log(log.engine.received(inp(POINTER), now))
        log(log.engine.tick(now))
    log(log.engine.local_command("/disconnect", now + 0.5))
    assert log.engine.state is S.DISCONNECTED
    rejected = log.rejected()
    assert total(rejected) == 30 * per_second
    assert 28 <= len(rejected) <= 31
    assert log.events()[-1].payload == {"by": "person", "reason": "user"}


def test_input_racing_a_release_is_recorded_but_not_held_against_the_helper(
        store: EventStore) -> None:
    log = Logged(store)
    engine = log.engine
    log.awaiting_view_consent()
    log(engine.consent_answered("view", True, 0.5))
    log(engine.received({"type": "control.request"}, 1.0))
    log(engine.consent_answered("control", True, 1.5))
    log(engine.tick(2.0))
    log(engine.esc_pressed(2.0))
    # The helper's pointer moves were on their way: 1,000 of them in 2 s.
    for n in range(1000):
        log(engine.received(inp(POINTER), 2.0 + n * 0.002))
    assert engine.state is S.RELEASED
    log(engine.tick(2.0 + RACE_GRACE_S))
    assert total(log.rejected()) == 1000
    # After the grace, the flood rule holds again.
    start = 2.0 + RACE_GRACE_S
    for n in range(FLOOD_LIMIT + 1):
        log(engine.received(inp(POINTER), start + n * 0.001))
    assert log.engine.state is S.DISCONNECTED
    assert log.events()[-1].payload["reason"] == "flood"
    assert total(log.rejected()) == 1000 + FLOOD_LIMIT + 1


def test_a_pending_count_is_recorded_before_a_view_denial_ends_the_session(
        store: EventStore) -> None:
    log = Logged(store)
    log.awaiting_view_consent()
    for n in range(5):
        log(log.engine.received(inp(KEY_A), 0.1 + n * 0.01))
    log(log.engine.consent_answered("view", False, 0.3))
    events = log.events()
    assert [e.type for e in events][-3:] == ["input.rejected", "input.rejected",
                                             "consent.denied"]
    assert total(log.rejected()) == 5
    assert log.engine.next_deadline() is None


@pytest.mark.parametrize("end", ["transport_lost", "disconnect", "tick_timeout"])
def test_every_ending_records_what_is_still_counted(store: EventStore, end: str) -> None:
    log = Logged(store)
    log.awaiting_view_consent()
    for n in range(7):
        log(log.engine.received(inp(KEY_A), 1.0 + n * 0.01))
    if end == "transport_lost":
        log(log.engine.transport_lost(1.2))
    elif end == "disconnect":
        log(log.engine.received({"type": "disconnect"}, 1.2))
    else:
        log(log.engine.tick(1.1 + 10.0))  # 10 s after the last message
    events = log.events()
    assert events[-1].type == "session.disconnected"
    assert total(log.rejected()) == 7


@pytest.mark.parametrize("role", ["person", "helper"])
def test_a_flood_of_chat_ends_the_session(store: EventStore, role: str) -> None:
    engine = SessionEngine(role, "me")  # type: ignore[arg-type]
    engine.connected("peer", 0.0)
    engine.authenticated(0.0)
    peer = "helper" if role == "person" else "person"
    chats = 0
    for n in range(10_000):
        out = engine.received({"type": "chat", "text": "x" * 4000}, 0.1 + n * 0.01)
        chats += sum(1 for o in out if isinstance(o, Record)
                     and o.event.type == "chat.message")
        if engine.state is S.DISCONNECTED:
            ending = [o.event for o in out if isinstance(o, Record)][-1]
            assert (ending.type, ending.payload["reason"]) == ("session.disconnected", "flood")
            assert [o for o in out if isinstance(o, Send)][-1].message == {
                "type": "disconnect", "reason": "flood"}
            break
    assert engine.state is S.DISCONNECTED and chats == CHAT_LIMIT, peer


def test_people_chatting_are_never_cut_off(store: EventStore) -> None:
    log = Logged(store)
    log.awaiting_view_consent()
    log(log.engine.consent_answered("view", True, 0.05))
    for n in range(600):  # one line every 0.25 s for 150 s: faster than anyone types
        log(log.engine.received({"type": "chat", "text": f"line {n}"}, 0.1 + n * 0.25))
        log(log.engine.tick(0.1 + n * 0.25))
    assert log.engine.state is S.VIEWING
    assert [e.type for e in log.events()].count("chat.message") == 600


def test_tally_hands_out_at_most_once_an_interval_and_loses_nothing() -> None:
    tally = Tally(1.0)
    assert tally.note(0.0, kinds="key") is not None  # the first, at once
    assert tally.note(0.5, kinds="key") is None
    assert tally.note(0.6, kinds="pointer") is None
    assert tally.due() == 1.0
    assert tally.flush(0.9) is None
    counted = tally.flush(1.0)
    assert counted is not None and counted.payload() == {
        "count": 2, "kinds": {"key": 1, "pointer": 1}}
    assert tally.due() is None and tally.drain() is None
    assert tally.note(1.5, kinds="key") is None
    last = tally.drain()
    assert last is not None and last.count == 1 and tally.total == 4


def test_window_keeps_only_what_the_limit_needs() -> None:
    window = Window(3, 10.0)
    assert [window.add(t) for t in (0.0, 1.0, 2.0)] == [False, False, False]
    assert window.add(11.0) is False  # 0.0 has left the window
    assert window.add(11.5) is False  # 1.0 too
    assert window.add(11.8) is True  # 2.0, 11.0, 11.5, 11.8
    assert len(window._times) == 4
