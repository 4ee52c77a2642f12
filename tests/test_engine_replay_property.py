"""A session engine's state is its events: after every prefix of what it records, replay.

A real `SessionEngine`, on either side, is driven with random inputs in
random order and at random times: every kind of message the peer may send
(well-formed, of the other role's kinds, malformed, not JSON objects at all),
consent answers, Esc, key map changes, a lost screen, timeouts, disconnects,
protocol errors, commands and chat. For every event it records, the test
looks at the engine's state just before and just after the engine applies it
(the engine's `_apply`, the one step by which its state may change) and
checks that:

- the events the engine applies are exactly the events it hands out in
  `Record` outputs, in the same order (nothing applied unrecorded, nothing
  recorded unapplied);
- the state before the k-th event is ``replay(events[:k])`` and the state
  after it is ``replay(events[:k + 1])``, and after each input the state is
  the replay of all it has recorded (no path moves the state on its own);
- the table has a move for every event that states a trigger, from the
  state the engine was in (the engine never records a move the table does
  not allow; `replay` would pass over such an event silently);
- an input the engine refuses (`IllegalMove`, `ValueError`) applies nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ra.engine import Output, Record, SessionEngine, replay, trigger_for
from ra.engine.messages import Role
from ra.events.model import NewEvent
from ra.statemachines.base import IllegalMove
from ra.statemachines.session import TRIGGERS, SessionState, next_state
from ra.vocabulary import (
    DENIAL_REASONS,
    DISCONNECT_REASONS,
    ENDS,
    HELPER_RELEASE_VIA,
    RELEASE_VIA,
    VIEW_UNAVAILABLE_REASONS,
)

S = SessionState
KEY = "3f2a19c08b7e55d1" * 4
#: One input step: what happens, what it carries, how many seconds after the last one.
Step = tuple[str, Any, float]
Applied = tuple[SessionState, NewEvent, SessionState]


class Watched(SessionEngine):
    """A real engine that notes its state just before and just after each event it applies."""

    def __init__(self, role: Role, me: str) -> None:
        super().__init__(role, me, label="s1", recording=True if role == "person" else None)
        self.applied: list[Applied] = []

    def _apply(self, event: NewEvent) -> None:
        before = self.state
        super()._apply(event)
        self.applied.append((before, event, self.state))


# -- what may happen -------------------------------------------------------------------
# Hypothesis's one_of drops repeated branches, so weights are repeats in a sampled_from.

BAD = st.sampled_from(["bogus", "", "Declined", 7, None])
GOOD_EVENTS = st.one_of(
    st.fixed_dictionaries({"kind": st.just("key"),
                           "key": st.sampled_from(["a", "Escape", "esc", "\x1b", "Enter"]),
                           "code": st.sampled_from(["KeyA", "Escape", "", "Numpad1"]),
                           "down": st.booleans()}),
    st.fixed_dictionaries({"kind": st.just("pointer"), "x": st.integers(0, 4000),
                           "y": st.integers(0, 2000)}),
    st.fixed_dictionaries({"kind": st.just("button"), "button": st.integers(1, 3),
                           "down": st.booleans()}),
    st.fixed_dictionaries({"kind": st.just("scroll"), "dx": st.integers(-100, 100),
                           "dy": st.integers(-3, 3)}),
)
BAD_EVENTS = st.one_of(
    st.none(), st.text(max_size=3), st.fixed_dictionaries({"kind": BAD}),
    st.fixed_dictionaries({"kind": st.just("pointer"), "x": st.integers(-5, -1)}),
    st.fixed_dictionaries({"kind": st.just("key"), "key": st.just(""), "down": st.booleans()}),
)
INPUT_EVENTS = st.sampled_from([GOOD_EVENTS] * 10 + [BAD_EVENTS]).flatmap(lambda s: s)


def weighted(choices: dict[str, tuple[int, st.SearchStrategy[Any]]]) -> st.SearchStrategy[Any]:
    """One of `choices`' strategies, each drawn as often as its weight says."""
    names = [name for name, (weight, _) in choices.items() for _ in range(weight)]
    return st.sampled_from(names).flatmap(lambda name: choices[name][1])


def message(kind: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"type": st.just(kind), **fields})


CONSENTS = st.fixed_dictionaries(
    {"type": st.just("consent"), "scope": st.sampled_from(["view", "control"]),
     "status": st.sampled_from(["requested", "granted", "denied"])},
    optional={"reason": st.sampled_from(sorted(DENIAL_REASONS))})
#: What the peer says, by sender: the message kinds it may send, then the other side's
#: kinds, malformed fields and what is no message at all (these end the session).
SAYS: dict[Role, st.SearchStrategy[Any]] = {
    "helper": weighted({
        "heartbeat": (10, message("heartbeat")),
        "chat": (10, message("chat", text=st.text(min_size=1, max_size=12))),
        "control.request": (20, message("control.request")),
        "control.release": (10, message("control.release", via=st.sampled_from(
            sorted(HELPER_RELEASE_VIA)))),
        "input": (30, message("input", event=INPUT_EVENTS)),
        "disconnect": (1, message("disconnect", reason=st.sampled_from(sorted(
            ENDS["helper"])))),
        "the other side's": (1, st.one_of(CONSENTS, message("view.unavailable"),
                                          message("control.released"))),
        "malformed": (1, st.one_of(
            message("chat", text=st.one_of(st.just("x" * 4001), st.just(" "), BAD)),
            message("control.release", via=st.one_of(st.sampled_from(["timeout"]), BAD)),
            message("disconnect", reason=st.one_of(st.sampled_from(sorted(
                DISCONNECT_REASONS)), BAD)))),
        "no message": (1, st.one_of(st.none(), st.integers(), st.lists(st.integers()),
                                    st.fixed_dictionaries({"type": BAD}))),
    }),
    "person": weighted({
        "heartbeat": (10, message("heartbeat")),
        "chat": (10, message("chat", text=st.text(min_size=1, max_size=12))),
        "consent": (2, CONSENTS),
        "control.released": (10, message("control.released", by=st.just("person"),
                                        via=st.sampled_from(sorted(RELEASE_VIA)))),
        "view.unavailable": (3, message("view.unavailable", reason=st.sampled_from(
            sorted(VIEW_UNAVAILABLE_REASONS)))),
        "disconnect": (1, message("disconnect", reason=st.sampled_from(sorted(
            ENDS["person"])))),
        "the other side's": (1, st.one_of(message("control.request"), message("input"),
                                          message("control.released", by=st.just("helper"),
                                                  via=st.just("esc")))),
        "malformed": (1, st.one_of(
            message("consent", scope=BAD, status=st.just("granted")),
            message("consent", scope=st.just("control"), status=st.just("denied"),
                    reason=BAD),
            message("view.unavailable", reason=BAD))),
        "no message": (1, st.one_of(st.none(), st.lists(st.integers()),
                                    st.fixed_dictionaries({"type": BAD}))),
    }),
}
#: Seconds between inputs: mostly a human's pace, now and then past a heartbeat, the
#: peer's silence limit or the consent prompt's time-out.
GAPS = st.sampled_from([0.0, 0.1, 0.5, 1.0] * 10 + [2.0, 5.0, 10.0, 61.0])
#: Mostly yes: the person agrees, the helper wants control (see `cooperate`).
CHOICE = st.integers(0, 11)
LINES = st.sampled_from(["/release", "/control", "/control", "hello", "/what", "  ",
                         "/RELEASE now"])


def steps_for(role: Role) -> st.SearchStrategy[Step]:
    """One input of any kind for the side `role`; the other side's inputs too, which the
    engine must refuse without moving. ``peer`` is a well-behaved peer's next move."""
    peer: Role = "helper" if role == "person" else "person"
    kinds: dict[str, tuple[int, st.SearchStrategy[Any]]] = {
        "peer": (96, CHOICE),
        "message": (80, SAYS[peer]),
        "answer": (16, st.tuples(st.sampled_from(["view", "control", None]), st.booleans())),
        "tick": (24, st.none()),
        "line": (12, LINES),
        "chat": (6, st.text(max_size=6)),
        "esc": (6, st.none()),
        "keymap": (6, st.none()),
        "release": (6, st.sampled_from(["button", "esc", "wave"])),
        "refused": (4, GOOD_EVENTS),
        "chunk": (4, st.integers(0, 3)),
        "local_input": (12, INPUT_EVENTS),
        "connect": (2, st.none()),
        "authenticate": (2, st.none()),
        # what ends the session or takes its screen
        "screen": (6, st.sampled_from([*sorted(VIEW_UNAVAILABLE_REASONS), "gone"])),
        "lost": (1, st.none()),
        "ended": (1, st.sampled_from(["revoked", "expired", ""])),
        "error": (1, st.text(max_size=8)),
        "disconnect": (1, st.none()),
    }
    assert kinds.keys() == INPUTS.keys()
    names = [name for name, (weight, _) in kinds.items() for _ in range(weight)]
    return st.sampled_from(names).flatmap(
        lambda name: st.tuples(st.just(name), kinds[name][1], GAPS))


# -- the driver and the checks --------------------------------------------------------


#: How a driver hands each kind of input to the engine: (engine, what it carries, now).
INPUTS: dict[str, Callable[[Watched, Any, float], list[Output]]] = {
    "connect": lambda e, _, now: e.connected("bob" if e.role == "person" else "alice", now,
                                             key=KEY, address="203.0.113.5"),
    "authenticate": lambda e, _, now: e.authenticated(now),
    "message": lambda e, message, now: e.received(message, now),
    "peer": lambda e, choice, now: cooperate(e, choice, now),
    "disconnect": lambda e, _, now: e.disconnect_clicked(now),
    "answer": lambda e, answer, now: e.consent_answered(answer[0] or e.open_prompt or "view",
                                                        answer[1], now),
    "esc": lambda e, _, now: e.esc_pressed(now),
    "keymap": lambda e, _, now: e.keymap_changed(now),
    "screen": lambda e, reason, now: e.screen_lost(reason, now),
    "tick": lambda e, _, now: e.tick(now),
    "lost": lambda e, _, now: e.transport_lost(now),
    "ended": lambda e, reason, now: e.invitation_ended(reason, now),
    "error": lambda e, detail, now: e.protocol_error(detail, now),
    "line": lambda e, line, now: e.local_command(line, now),
    "chat": lambda e, text, now: e.chat(text, now),
    "release": lambda e, via, now: e.release_clicked(now, via),
    "refused": lambda e, event, now: e.input_refused(event, "outside the person's window", now),
    "chunk": lambda e, index, now: e.recording_chunk(
        {"index": index, "sha256": "0" * 64, "bytes": 10}, now),
    "local_input": lambda e, event, now: e.local_input(event, now),
}


def cooperate(engine: Watched, choice: int, now: float) -> list[Output]:
    """What a well-behaved peer (or, on the helper's side, the helper) does next in the
    engine's state. `choice` 0 is a no (or a release), 1 the odd move (while a question
    is open: the screen goes), others a yes."""
    state, yes = engine.state, choice != 0
    asking = state in (S.AWAITING_VIEW_CONSENT, S.CONTROL_REQUESTED, S.AWAITING_CONTROL_CONSENT)
    if asking and choice == 1:
        return (engine.screen_lost("display failed", now) if engine.role == "person" else
                engine.received({"type": "view.unavailable", "reason": "display failed"}, now))
    pointer: dict[str, Any] = {"kind": "pointer", "x": 1, "y": 2}
    escape: dict[str, Any] = {"kind": "key", "key": "Escape", "code": "Escape", "down": True}
    if engine.role == "person":
        if state in (S.AWAITING_VIEW_CONSENT, S.AWAITING_CONTROL_CONSENT):
            return engine.consent_answered(engine.open_prompt or "view", yes, now)
        if state in (S.VIEWING, S.RELEASED, S.CHAT_ONLY):
            return engine.received({"type": "control.request"}, now)
        if state is S.CONTROLLING:
            said: list[dict[str, Any]] = [{"type": "control.release", "via": "command"},
                                          {"type": "input", "event": escape},
                                          {"type": "input", "event": pointer}]
            return engine.received(said[min(choice, 2)], now)
        return engine.received({"type": "heartbeat"}, now)
    if state in (S.VIEWING, S.RELEASED):
        return engine.control_clicked(now) if yes else engine.local_input(pointer, now)
    if state is S.CONTROLLING:
        if choice == 0:
            return engine.received({"type": "control.released", "by": "person", "via": "esc"},
                                   now)
        return engine.local_input(escape if choice == 1 else pointer, now)
    answer = "granted" if yes else "denied"
    told: dict[SessionState, dict[str, Any]] = {
        S.AUTHENTICATED: {"type": "consent", "scope": "view", "status": "requested"},
        S.AWAITING_VIEW_CONSENT: {"type": "consent", "scope": "view", "status": answer},
        S.CONTROL_REQUESTED: {"type": "consent", "scope": "control", "status": "requested"}
        if yes else {"type": "disconnect", "reason": "user"},
        S.AWAITING_CONTROL_CONSENT: {"type": "consent", "scope": "control", "status": answer},
        S.CHAT_ONLY: {"type": "consent", "scope": "control", "status": "denied",
                      "reason": "screen unavailable"},
    }
    return engine.received(told.get(state, {"type": "heartbeat"}), now)


def drive(role: Role, steps: Sequence[Step]) -> Watched:
    """Run `steps` on a fresh engine of `role`, checking the stream after each input."""
    engine = Watched(role, "alice" if role == "person" else "bob")
    recorded: list[NewEvent] = []
    now = 0.0
    for step in steps:
        now += step[2]
        applied = len(engine.applied)
        state = engine.state
        try:
            outputs = INPUTS[step[0]](engine, step[1], now)
        except (IllegalMove, ValueError):
            assert len(engine.applied) == applied, f"{step[0]} was refused after applying"
            assert engine.state is state
            continue
        events = [out.event for out in outputs if isinstance(out, Record)]
        fresh = engine.applied[applied:]
        assert [event for _, event, _ in fresh] == events, "applied is not what was recorded"
        assert all(a is b for (_, a, _), b in zip(fresh, events, strict=True))
        for before, event, after in fresh:
            assert before is replay(recorded), (event.type, before, recorded)
            trigger = trigger_for(event.type, event.payload)
            if trigger is not None:
                assert next_state(before, trigger) is not None, (
                    f"{event.type} ({trigger}) recorded in {before.value}")
            recorded.append(event)
            assert after is replay(recorded), (event.type, after)
        assert engine.state is replay(recorded), step[0]
    return engine


START: list[Step] = [("connect", None, 0.0), ("authenticate", None, 0.0)]
#: How a drawn session begins: set up, set up with no screen to share, or not at all.
STARTS = st.sampled_from([START, START, START,
                          [START[0], ("screen", "not shared", 0.0), START[1]], []])


@settings(max_examples=250, deadline=None)
@given(STARTS, st.lists(steps_for("person"), max_size=60))
def test_person_state_is_replay_of_every_prefix(start: list[Step], steps: list[Step]) -> None:
    drive("person", [*start, *steps])


@settings(max_examples=250, deadline=None)
@given(STARTS, st.lists(steps_for("helper"), max_size=60))
def test_helper_state_is_replay_of_every_prefix(start: list[Step], steps: list[Step]) -> None:
    drive("helper", [*start, *steps])


# -- the random sessions are not vacuous ------------------------------------------------------


@pytest.mark.parametrize("role", ["person", "helper"])
def test_random_sessions_reach_every_state_and_trigger(role: Role) -> None:
    """The property is checked across the whole machine: sessions drawn from the same
    inputs (the same way every run) visit every state and fire every trigger."""
    states: set[SessionState] = set()
    triggers: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(STARTS, st.lists(steps_for(role), min_size=20, max_size=80))
    def run(start: list[Step], steps: list[Step]) -> None:
        for before, event, after in drive(role, [*start, *steps]).applied:
            states.update((before, after))
            triggers.add(trigger_for(event.type, event.payload) or "")

    run()
    assert states == set(SessionState)
    assert triggers - {""} == TRIGGERS
