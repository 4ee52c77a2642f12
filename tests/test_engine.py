"""The session engine, driven without sockets: a fake clock is a plain float.

Outputs are compared by their exact kinds and order (`describe`), then the
payloads that matter are checked one by one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ra.engine import (
    Close,
    DisableInput,
    Dismiss,
    EnableInput,
    Inject,
    Output,
    Prompt,
    Record,
    Send,
    SessionEngine,
    Show,
    StartStreaming,
    fold,
    replay,
)
from ra.engine.messages import is_escape, parse
from ra.events.model import SYSTEM, Actor, NewEvent
from ra.statemachines.base import IllegalMove
from ra.statemachines.session import SessionState

S = SessionState
WARNING = "Only allow someone you contacted yourself."
POINTER = {"kind": "pointer", "x": 10, "y": 20}
KEY_A = {"kind": "key", "key": "a", "code": "KeyA", "down": True}
ESCAPE = {"kind": "key", "key": "Escape", "code": "Escape", "down": True}
HEARTBEAT = {"type": "heartbeat"}
ALICE = Actor("person", "alice")
BOB = Actor("helper", "bob")


def describe(outputs: Iterable[Output]) -> list[str]:
    """Each output as a short word: its kind and what tells it apart."""
    words = []
    for out in outputs:
        if isinstance(out, Record):
            words.append(f"Record {out.event.type}")
        elif isinstance(out, Send):
            words.append(f"Send {out.message['type']}")
        elif isinstance(out, Prompt | Dismiss):
            words.append(f"{type(out).__name__} {out.kind}")
        elif isinstance(out, Close):
            words.append(f"Close {out.reason}")
        else:
            words.append(type(out).__name__)
    return words


def state_of(engine: SessionEngine) -> SessionState:
    """The engine's state, read afresh (so the type checker does not narrow it)."""
    return engine.state


def records(outputs: Iterable[Output]) -> list[NewEvent]:
    return [out.event for out in outputs if isinstance(out, Record)]


def record(outputs: Sequence[Output], event_type: str) -> NewEvent:
    found = [event for event in records(outputs) if event.type == event_type]
    assert len(found) == 1, f"expected one {event_type} in {describe(outputs)}"
    return found[0]


def sent(outputs: Iterable[Output]) -> list[dict[str, Any]]:
    return [out.message for out in outputs if isinstance(out, Send)]


def inp(event: object) -> dict[str, Any]:
    return {"type": "input", "event": event}


def refused(kind: str, state: str, reason: str = "not in control",
            count: int = 1) -> dict[str, Any]:
    """The payload of an ``input.rejected`` that counts `count` refusals of one sort."""
    return {"count": count, "kinds": {kind: count}, "reasons": {reason: count},
            "states": {state: count}}


class Pair:
    """A person's and a helper's engine; `deliver` carries one side's Sends to the other."""

    def __init__(self) -> None:
        self.person = SessionEngine("person", "alice")
        self.helper = SessionEngine("helper", "bob")
        self.log: dict[str, list[NewEvent]] = {"person": [], "helper": []}

    def on(self, side: str, outputs: list[Output]) -> list[Output]:
        self.log[side].extend(records(outputs))
        return outputs

    def to_helper(self, outputs: Sequence[Output], now: float) -> list[Output]:
        got: list[Output] = []
        for message in sent(outputs):
            got += self.on("helper", self.helper.received(message, now))
        return got

    def to_person(self, outputs: Sequence[Output], now: float) -> list[Output]:
        got: list[Output] = []
        for message in sent(outputs):
            got += self.on("person", self.person.received(message, now))
        return got

    def check_replay(self) -> None:
        assert replay(self.log["person"]) is self.person.state
        assert replay(self.log["helper"]) is self.helper.state


def viewing_pair() -> Pair:
    pair = Pair()
    pair.on("person", pair.person.connected("bob", 0.0))
    pair.on("helper", pair.helper.connected("alice", 0.0))
    pair.on("helper", pair.helper.authenticated(0.0))
    asked = pair.on("person", pair.person.authenticated(0.0))
    pair.to_helper(asked, 0.0)
    granted = pair.on("person", pair.person.consent_answered("view", True, 1.0))
    pair.to_helper(granted, 1.0)
    assert state_of(pair.person) is state_of(pair.helper) is S.VIEWING
    return pair


def controlling_pair() -> Pair:
    pair = viewing_pair()
    asked = pair.to_person(pair.on("helper", pair.helper.local_command("/control", 2.0)), 2.0)
    pair.to_helper(asked, 2.0)
    granted = pair.on("person", pair.person.consent_answered("control", True, 3.0))
    pair.to_helper(granted, 3.0)
    assert state_of(pair.person) is state_of(pair.helper) is S.CONTROLLING
    return pair


def person_at(state: SessionState) -> SessionEngine:
    """A person's engine walked to `state` at t=3 (the helper last heard at t=3)."""
    engine = SessionEngine("person", "alice")
    steps: list[Callable[[], object]] = [
        lambda: engine.connected("bob", 0.0),
        lambda: engine.authenticated(0.0),
        lambda: engine.consent_answered("view", True, 1.0),
        lambda: engine.received({"type": "control.request"}, 2.0),
        lambda: engine.consent_answered("control", True, 3.0),
        lambda: engine.esc_pressed(3.0),
    ]
    order = [S.CONNECTING, S.AWAITING_VIEW_CONSENT, S.VIEWING, S.AWAITING_CONTROL_CONSENT,
             S.CONTROLLING, S.RELEASED]
    for step in steps[: order.index(state) + 1]:
        step()
    engine.received(HEARTBEAT, 3.0)
    assert state_of(engine) is state
    return engine


# -- the whole story ----------------------------------------------------------------


def test_a_whole_session_step_by_step() -> None:
    pair = Pair()
    person, helper = pair.person, pair.helper

    out = pair.on("person", person.connected("bob", 0.0))
    assert describe(out) == ["Record session.connected", "Show"]
    assert record(out, "session.connected").payload == {"peer": "bob"}
    assert record(out, "session.connected").actor == BOB
    assert state_of(person) is S.CONNECTING
    pair.on("helper", helper.connected("alice", 0.0))

    out = pair.on("helper", helper.authenticated(0.0))
    assert describe(out) == ["Record session.authenticated", "Show"]
    assert state_of(helper) is S.AUTHENTICATED

    # the person's side asks for view consent as soon as the password is proved
    out = pair.on("person", person.authenticated(0.0))
    assert describe(out) == ["Record session.authenticated", "Record consent.requested",
                             "Send consent", "Prompt view"]
    assert record(out, "consent.requested").payload == {"scope": "view"}
    assert sent(out) == [{"type": "consent", "scope": "view", "status": "requested"}]
    prompt = out[-1]
    assert isinstance(prompt, Prompt)
    assert prompt.timeout_s == 60
    assert "bob" in prompt.text and "see your screen" in prompt.text
    assert prompt.text.count(WARNING) == 1
    assert state_of(person) is S.AWAITING_VIEW_CONSENT
    out = pair.to_helper(out, 0.0)
    assert describe(out) == ["Record consent.requested", "Show"]
    assert state_of(helper) is S.AWAITING_VIEW_CONSENT

    # view granted: recorded before the screen is streamed
    out = pair.on("person", person.consent_answered("view", True, 1.0))
    assert describe(out) == ["Record consent.granted", "Record view.started", "Send consent",
                             "StartStreaming", "Show"]
    granted = record(out, "consent.granted")
    assert (granted.payload, granted.actor, granted.outcome) == ({"scope": "view"}, ALICE,
                                                                 "success")
    assert state_of(person) is S.VIEWING
    out = pair.to_helper(out, 1.0)
    assert describe(out) == ["Record consent.granted", "Record view.started", "Show"]
    assert record(out, "consent.granted").actor == ALICE  # the helper records the person
    assert state_of(helper) is S.VIEWING

    # the helper asks for control; the person is prompted
    out = pair.on("helper", helper.local_command("/control", 2.0))
    assert describe(out) == ["Record control.requested", "Send control.request", "Show"]
    assert state_of(helper) is S.CONTROL_REQUESTED
    out = pair.to_person(out, 2.0)
    assert describe(out) == ["Record control.requested", "Record consent.requested",
                             "Send consent", "Prompt control"]
    assert record(out, "control.requested").actor == BOB
    assert record(out, "consent.requested").payload == {"scope": "control"}
    prompt = out[-1]
    assert isinstance(prompt, Prompt)
    assert "bob" in prompt.text and "control your mouse and keyboard" in prompt.text
    assert WARNING in prompt.text and "Esc" in prompt.text
    assert state_of(person) is S.AWAITING_CONTROL_CONSENT
    pair.to_helper(out, 2.0)
    assert state_of(helper) is S.AWAITING_CONTROL_CONSENT

    # control granted: recorded before input is enabled
    out = pair.on("person", person.consent_answered("control", True, 3.0))
    assert describe(out) == ["Record consent.granted", "Record control.granted", "EnableInput",
                             "Send consent", "Show"]
    assert record(out, "control.granted").actor == ALICE
    assert state_of(person) is S.CONTROLLING
    out = pair.to_helper(out, 3.0)
    assert describe(out) == ["Record consent.granted", "Record control.granted", "Show"]
    assert state_of(helper) is S.CONTROLLING

    # the helper's input is injected on the person's desktop
    out = pair.on("helper", helper.local_input(POINTER, 3.5))
    assert out == [Send({"type": "input", "event": POINTER})]
    assert pair.to_person(out, 3.5) == [Inject(POINTER)]

    # Esc: the release is recorded and input revoked before anything else
    out = pair.on("person", person.esc_pressed(4.0))
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Send control.released", "Show"]
    released = record(out, "control.released")
    assert (released.payload, released.actor) == ({"by": "person", "via": "esc",
                                                "inputs_injected": 1}, ALICE)
    assert state_of(person) is S.RELEASED
    # an input the helper sent before it heard of the release is rejected and recorded
    out = pair.on("person", person.received(inp(KEY_A), 4.1))
    assert describe(out) == ["Record input.rejected"]
    rejected = record(out, "input.rejected")
    assert rejected.payload == refused("key", "released")
    assert (rejected.outcome, rejected.actor) == ("failure", BOB)
    out = pair.to_helper([Send({"type": "control.released", "by": "person", "via": "esc"})],
                         4.2)
    assert describe(out) == ["Record control.released", "Show"]
    assert state_of(helper) is S.RELEASED
    assert helper.local_input(KEY_A, 4.3) == []  # not forwarded out of control

    # control again, then the helper gives it back
    asked = pair.to_person(pair.on("helper", helper.local_command("/control", 5.0)), 5.0)
    pair.to_helper(asked, 5.0)
    pair.to_helper(pair.on("person", person.consent_answered("control", True, 6.0)), 6.0)
    assert state_of(person) is state_of(helper) is S.CONTROLLING
    out = pair.on("helper", helper.local_command("/release", 7.0))
    assert describe(out) == ["Record control.released", "Send control.release", "Show"]
    assert record(out, "control.released").payload == {"by": "helper", "via": "command"}
    assert state_of(helper) is S.RELEASED
    out = pair.to_person(out, 7.0)
    assert describe(out) == ["Record control.released", "DisableInput", "Show"]
    assert record(out, "control.released").payload == {"by": "helper", "via": "command",
                                                         "inputs_injected": 0}
    assert record(out, "control.released").actor == BOB
    assert state_of(person) is S.RELEASED

    # chat both ways
    out = pair.on("person", person.local_command("what do you see?", 8.0))
    assert describe(out) == ["Record chat.message", "Send chat"]
    assert record(out, "chat.message").payload == {"from": "person", "text": "what do you see?"}
    out = pair.to_helper(out, 8.0)
    assert describe(out) == ["Record chat.message", "Show"]
    assert record(out, "chat.message").actor == ALICE
    assert out[-1] == Show("[chat] person alice: what do you see?")
    out = pair.on("helper", helper.local_command("your settings", 9.0))
    out = pair.to_person(out, 9.0)
    assert describe(out) == ["Record chat.message", "Show"]
    assert record(out, "chat.message").payload == {"from": "helper", "text": "your settings"}
    assert out[-1] == Show("[chat] helper bob: your settings")

    # the person disconnects
    out = pair.on("person", person.local_command("/disconnect", 10.0))
    assert describe(out) == ["Record session.disconnected", "StopStreaming", "Send disconnect",
                             "Show", "Close user"]
    assert record(out, "session.disconnected").payload == {"by": "person", "reason": "user"}
    out = pair.to_helper(out, 10.0)
    assert describe(out) == ["Record session.disconnected", "Show", "Close user"]
    assert record(out, "session.disconnected").payload == {"by": "person", "reason": "user"}
    assert state_of(person) is state_of(helper) is S.DISCONNECTED
    pair.check_replay()


def test_the_helper_disconnects_while_in_control() -> None:
    pair = controlling_pair()
    out = pair.on("helper", pair.helper.local_command("/disconnect", 5.0))
    assert describe(out) == ["Record control.released", "Record session.disconnected",
                             "Send disconnect", "Show", "Close helper"]
    assert record(out, "control.released").payload == {"by": "helper", "via": "disconnect"}
    out = pair.to_person(out, 5.0)
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Record session.disconnected", "StopStreaming", "Show",
                             "Close helper"]
    assert record(out, "session.disconnected").payload == {"by": "helper", "reason": "helper"}
    assert record(out, "session.disconnected").actor == BOB
    assert pair.person.received(inp(POINTER), 5.1) == []
    pair.check_replay()


def test_the_person_disconnects_while_the_helper_is_in_control() -> None:
    person = person_at(S.CONTROLLING)
    out = person.local_command("/disconnect", 4.0)
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Record session.disconnected", "StopStreaming", "Send disconnect",
                             "Show", "Close user"]
    assert record(out, "control.released").payload == {"by": "person", "via": "disconnect",
                                                         "inputs_injected": 0}


def test_the_person_releases_with_a_command_and_the_helper_with_a_button() -> None:
    person = person_at(S.CONTROLLING)
    out = person.local_command("/release", 4.0)
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Send control.released", "Show"]
    assert record(out, "control.released").payload == {"by": "person", "via": "command",
                                                         "inputs_injected": 0}
    pair = controlling_pair()
    out = pair.helper.release_clicked(4.0)
    assert sent(out) == [{"type": "control.release", "via": "button"}]
    out = pair.to_person(out, 4.0)
    assert record(out, "control.released").payload == {"by": "helper", "via": "button",
                                                         "inputs_injected": 0}
    assert describe(out)[:2] == ["Record control.released", "DisableInput"]


def test_the_helpers_escape_gives_control_back_and_is_never_forwarded() -> None:
    pair = controlling_pair()
    out = pair.helper.local_input(ESCAPE, 4.0)
    assert describe(out) == ["Record control.released", "Send control.release", "Show"]
    assert record(out, "control.released").payload == {"by": "helper", "via": "esc"}
    assert {"type": "input", "event": ESCAPE} not in sent(out)
    assert state_of(pair.helper) is S.RELEASED


def test_a_keymap_change_in_control_gives_control_back_with_that_reason() -> None:
    pair = controlling_pair()
    out = pair.on("person", pair.person.keymap_changed(4.0))
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Send control.released", "Show", "Show"]
    released = record(out, "control.released")
    assert (released.payload, released.actor) == ({"by": "person", "via": "keymap-changed",
                                                 "inputs_injected": 0},
                                                  ALICE)
    assert "keyboard mapping changed" in str(out[-1])
    out = pair.to_helper(out, 4.0)  # the helper's side takes the reason as it is
    assert record(out, "control.released").payload == {"by": "person", "via": "keymap-changed"}
    assert state_of(pair.person) is state_of(pair.helper) is S.RELEASED
    pair.check_replay()
    assert pair.person.keymap_changed(5.0) == []  # outside control: nothing
    assert person_at(S.VIEWING).keymap_changed(5.0) == []
    with pytest.raises(IllegalMove):
        pair.helper.keymap_changed(5.0)


def test_a_release_counts_the_input_injected_in_its_grant_only() -> None:
    person = person_at(S.CONTROLLING)
    for at in (3.1, 3.2, 3.3):
        assert person.received({"type": "input", "event": POINTER}, at) == [Inject(POINTER)]
    person.received({"type": "input", "event": {"kind": "key", "key": "Escape",
                                                 "code": "Escape", "down": True}}, 3.4)
    person.input_refused(POINTER, "over the person's window", 3.5)  # not injected after all
    released = record(person.local_command("/release", 4.0), "control.released")
    assert released.payload == {"by": "person", "via": "command", "inputs_injected": 2}
    person.received({"type": "input", "event": POINTER}, 4.5)  # refused: not in control
    person.received({"type": "control.request"}, 5.0)
    person.consent_answered("control", True, 5.5)
    assert person.received({"type": "input", "event": POINTER}, 6.0) == [Inject(POINTER)]
    out = person.local_command("/disconnect", 7.0)
    assert record(out, "control.released").payload["inputs_injected"] == 1


def test_the_helpers_esc_in_the_viewer_is_recorded_as_esc_on_both_sides() -> None:
    pair = controlling_pair()
    out = pair.on("helper", pair.helper.release_clicked(4.0, via="esc"))
    assert describe(out) == ["Record control.released", "Send control.release", "Show"]
    released = record(out, "control.released")
    assert (released.payload, released.actor) == ({"by": "helper", "via": "esc"}, BOB)
    assert sent(out) == [{"type": "control.release", "via": "esc"}]
    out = pair.to_person(out, 4.0)
    released = record(out, "control.released")
    assert (released.payload, released.actor) == ({"by": "helper", "via": "esc",
                                                "inputs_injected": 0}, BOB)
    pair.check_replay()
    with pytest.raises(ValueError):
        pair.helper.release_clicked(5.0, via="keymap-changed")
    with pytest.raises(ValueError):
        pair.person.release_clicked(5.0, via="esc")  # the person's Esc is esc_pressed


# -- no screen: chat only -----------------------------------------------------------------


def no_screen_pair(reason: str = "not shared") -> tuple[Pair, list[Output], list[Output]]:
    """A pair whose person's screen cannot be shown; the person's and the helper's
    outputs of the authentication."""
    pair = Pair()
    pair.person = SessionEngine("person", "alice", screen_unavailable=reason)
    pair.on("person", pair.person.connected("bob", 0.0))
    pair.on("helper", pair.helper.connected("alice", 0.0))
    pair.on("helper", pair.helper.authenticated(0.0))
    person_out = pair.on("person", pair.person.authenticated(0.0))
    helper_out = pair.to_helper(person_out, 0.0)
    return pair, person_out, helper_out


def test_no_screen_asks_nothing_records_why_and_offers_chat() -> None:
    pair, out, helper_out = no_screen_pair()
    assert describe(out) == ["Record session.authenticated", "Record view.unavailable",
                             "Send view.unavailable", "Show"]
    unavailable = record(out, "view.unavailable")
    assert (unavailable.payload, unavailable.actor) == ({"reason": "not shared"}, SYSTEM)
    shown = str(out[-1])
    assert "cannot be shown" in shown and "chat" in shown and "can now see" not in shown
    assert describe(helper_out) == ["Record view.unavailable", "Show"]
    assert record(helper_out, "view.unavailable").payload == {"reason": "not shared"}
    assert state_of(pair.person) is state_of(pair.helper) is S.CHAT_ONLY
    # Chat works both ways.
    said = pair.on("helper", pair.helper.local_command("hello?", 1.0))
    assert record(pair.to_person(said, 1.0), "chat.message").payload == {
        "from": "helper", "text": "hello?"}
    # The helper's own side refuses to ask for control; nothing is recorded or sent.
    out = pair.helper.local_command("/control", 2.0)
    assert describe(out) == ["Show"] and "not available" in str(out[0])
    assert pair.helper.control_clicked(2.0) == out
    # A helper that asks anyway is refused, recorded on both sides; no prompt, no input.
    out = pair.on("person", pair.person.received({"type": "control.request"}, 3.0))
    assert describe(out) == ["Record control.denied", "Send consent", "Show"]
    denied = record(out, "control.denied")
    assert (denied.payload, denied.actor, denied.outcome) == (
        {"reason": "screen unavailable"}, SYSTEM, "denied")
    got = pair.to_helper(out, 3.0)
    assert record(got, "control.denied").payload == {"reason": "screen unavailable"}
    # Input is rejected, recorded; the person can still end the session.
    out = pair.on("person", pair.person.received(inp(KEY_A), 4.0))
    assert record(out, "input.rejected").payload["states"] == {"chat_only": 1}
    assert pair.person.consent_answered("view", True, 4.0) == [
        Show("that question is no longer open")]
    ended = pair.on("person", pair.person.local_command("/disconnect", 5.0))
    pair.to_helper(ended, 5.0)
    assert state_of(pair.person) is state_of(pair.helper) is S.DISCONNECTED
    pair.check_replay()
    for side in ("person", "helper"):
        types = [e.type for e in pair.log[side]]
        assert "view.started" not in types and "control.granted" not in types
        assert "consent.requested" not in types and "consent.granted" not in types


@pytest.mark.parametrize("reason", ["no display", "display failed"])
def test_a_missing_display_is_a_failure_with_its_reason(reason: str) -> None:
    pair, out, _ = no_screen_pair(reason)
    event = record(out, "view.unavailable")
    assert (event.payload, event.outcome) == ({"reason": reason}, "failure")
    with pytest.raises(ValueError):
        SessionEngine("person", "alice", screen_unavailable="bored")
    with pytest.raises(ValueError):
        SessionEngine("helper", "bob", screen_unavailable="no display")


def test_a_display_lost_in_control_releases_first_then_chat_only() -> None:
    pair = controlling_pair()
    out = pair.on("person", pair.person.screen_lost("display failed", 4.0))
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Record view.unavailable", "StopStreaming",
                             "Send view.unavailable", "Show"]
    assert record(out, "control.released").payload == {"by": "system",
                                                       "via": "view-unavailable",
                                                       "inputs_injected": 0}
    got = pair.to_helper(out, 4.0)
    assert describe(got) == ["Record control.released", "Record view.unavailable", "Show"]
    assert state_of(pair.person) is state_of(pair.helper) is S.CHAT_ONLY
    assert pair.person.received(inp(KEY_A), 4.5)[0].event.type == "input.rejected"  # type: ignore[union-attr]
    assert pair.person.screen_lost("display failed", 5.0) == []  # once is enough
    pair.check_replay()


def test_a_display_lost_while_the_control_prompt_is_open_takes_it_down() -> None:
    person = person_at(S.AWAITING_CONTROL_CONSENT)
    out = person.screen_lost("display failed", 4.0)
    assert describe(out) == ["Dismiss control", "Record view.unavailable", "StopStreaming",
                             "Send view.unavailable", "Show"]
    assert person.consent_answered("control", True, 4.5) == [
        Show("that question is no longer open")]
    assert state_of(person) is S.CHAT_ONLY
    with pytest.raises(IllegalMove):
        SessionEngine("helper", "bob").screen_lost("display failed", 0.0)


def test_view_unavailable_from_the_person_out_of_place_ends_the_helpers_session() -> None:
    pair = Pair()
    pair.helper.connected("alice", 0.0)
    pair.helper.authenticated(0.0)
    out = pair.helper.received({"type": "view.unavailable", "reason": "bored"}, 1.0)
    assert record(out, "session.disconnected").payload["reason"] == "error"
    pair = controlling_pair()
    out = pair.person.received({"type": "view.unavailable", "reason": "no display"}, 5.0)
    assert record(out, "session.disconnected").payload["reason"] == "error"  # not the helper's


# -- consent refused ----------------------------------------------------------------------


def test_view_declined_ends_the_session_on_both_sides() -> None:
    pair = Pair()
    pair.on("person", pair.person.connected("bob", 0.0))
    pair.on("helper", pair.helper.connected("alice", 0.0))
    pair.on("helper", pair.helper.authenticated(0.0))
    pair.to_helper(pair.on("person", pair.person.authenticated(0.0)), 0.0)
    out = pair.on("person", pair.person.consent_answered("view", False, 5.0))
    assert describe(out) == ["Record consent.denied", "Send consent", "Show", "Close declined"]
    denied = record(out, "consent.denied")
    assert (denied.payload, denied.outcome, denied.actor) == (
        {"scope": "view", "reason": "declined"}, "denied", ALICE)
    assert StartStreaming() not in out
    assert state_of(pair.person) is S.DISCONNECTED
    out = pair.to_helper(out, 5.0)
    assert describe(out) == ["Record consent.denied", "Show", "Close declined"]
    assert record(out, "consent.denied").actor == ALICE
    assert state_of(pair.helper) is S.DISCONNECTED
    assert pair.person.tick(100.0) == [] and pair.person.next_deadline() is None
    pair.check_replay()


def test_view_prompt_unanswered_for_60_s_is_a_denial() -> None:
    person = person_at(S.AWAITING_VIEW_CONSENT)  # asked at t=0
    for now in range(4, 60, 3):
        person.received(HEARTBEAT, float(now))
        assert records(person.tick(float(now))) == []
    person.received(HEARTBEAT, 59.9)
    assert records(person.tick(59.9)) == []
    assert state_of(person) is S.AWAITING_VIEW_CONSENT
    out = person.tick(60.0)
    assert describe(out) == ["Record consent.denied", "Dismiss view", "Send consent", "Show",
                             "Close timed out"]
    denied = record(out, "consent.denied")
    assert (denied.payload, denied.actor, denied.outcome) == (
        {"scope": "view", "reason": "timed out"}, SYSTEM, "denied")
    assert sent(out) == [{"type": "consent", "scope": "view", "status": "denied",
                          "reason": "timed out"}]
    assert state_of(person) is S.DISCONNECTED
    # the person's late answer changes nothing
    assert person.consent_answered("view", True, 61.0) == []


def test_control_declined_goes_back_to_viewing() -> None:
    pair = viewing_pair()
    asked = pair.to_person(pair.on("helper", pair.helper.local_command("/control", 2.0)), 2.0)
    pair.to_helper(asked, 2.0)
    out = pair.on("person", pair.person.consent_answered("control", False, 3.0))
    assert describe(out) == ["Record consent.denied", "Record control.denied", "Send consent",
                             "Show"]
    assert record(out, "control.denied").payload == {"reason": "declined"}
    assert record(out, "control.denied").outcome == "denied"
    assert EnableInput() not in out
    assert state_of(pair.person) is S.VIEWING
    out = pair.to_helper(out, 3.0)
    assert describe(out) == ["Record consent.denied", "Record control.denied", "Show"]
    assert state_of(pair.helper) is S.VIEWING
    assert pair.helper.local_input(KEY_A, 3.1) == []
    assert describe(pair.person.received(inp(KEY_A), 3.2)) == ["Record input.rejected"]
    pair.check_replay()


def test_control_prompt_unanswered_for_60_s_is_a_denial() -> None:
    person = person_at(S.AWAITING_CONTROL_CONSENT)  # asked at t=2
    for now in range(5, 62, 3):
        person.received(HEARTBEAT, float(now))
        assert records(person.tick(float(now))) == []
    person.received(HEARTBEAT, 61.9)
    assert records(person.tick(61.9)) == []
    out = person.tick(62.0)
    assert describe(out) == ["Record consent.denied", "Record control.denied", "Dismiss control",
                             "Send consent", "Show"]
    assert record(out, "control.denied").payload == {"reason": "timed out"}
    assert record(out, "control.denied").actor == SYSTEM
    assert state_of(person) is S.VIEWING
    assert person.consent_answered("control", True, 62.5) == [
        Show("that question is no longer open")]
    assert state_of(person) is S.VIEWING


# -- time and the network ------------------------------------------------------------------


def test_heartbeats_go_out_every_two_seconds() -> None:
    person = person_at(S.AWAITING_VIEW_CONSENT)  # authenticated at t=0
    assert person.next_deadline() == 2.0
    assert person.tick(1.9) == []
    assert person.tick(2.0) == [Send(HEARTBEAT)]
    assert person.tick(3.9) == []
    assert person.tick(4.0) == [Send(HEARTBEAT)]


def test_ten_seconds_of_silence_revokes_control_at_once() -> None:
    person = person_at(S.CONTROLLING)  # last heard at t=3
    assert [out for out in person.tick(12.9) if isinstance(out, Record)] == []
    assert state_of(person) is S.CONTROLLING
    out = person.tick(13.0)
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Record session.disconnected", "StopStreaming", "Send disconnect",
                             "Show", "Close network"]
    assert record(out, "control.released").payload == {"by": "system", "via": "disconnect",
                                                         "inputs_injected": 0}
    gone = record(out, "session.disconnected")
    assert (gone.payload, gone.outcome) == ({"by": "system", "reason": "network"}, "failure")
    assert person.received(inp(KEY_A), 13.1) == []
    assert person.esc_pressed(13.2) == []


def test_any_message_keeps_the_session_alive() -> None:
    person = person_at(S.VIEWING)  # last heard at t=3
    person.received({"type": "chat", "text": "still here"}, 12.0)
    assert records(person.tick(21.9)) == []
    assert describe(person.tick(22.0))[-1] == "Close network"


def test_a_lost_transport_ends_the_session() -> None:
    person = person_at(S.CONTROLLING)
    out = person.transport_lost(4.0)
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Record session.disconnected", "StopStreaming", "Show",
                             "Close network"]


def test_an_ended_invitation_ends_the_session() -> None:
    person = person_at(S.CONTROLLING)
    out = person.invitation_ended("revoked", 4.0)
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Record session.disconnected", "StopStreaming", "Send disconnect",
                             "Show", "Close invitation ended"]
    assert record(out, "session.disconnected").payload == {
        "by": "system", "reason": "invitation ended", "invitation": "revoked"}
    assert sent(out) == [{"type": "disconnect", "reason": "invitation ended"}]
    assert state_of(person) is S.DISCONNECTED


def test_an_ended_invitation_takes_an_open_prompt_down() -> None:
    person = person_at(S.AWAITING_VIEW_CONSENT)
    out = person.invitation_ended("expired", 4.0)
    assert describe(out) == ["Record session.disconnected", "Dismiss view", "Send disconnect",
                             "Show", "Close invitation ended"]


# -- input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [S.CONNECTING, S.AWAITING_VIEW_CONSENT, S.VIEWING,
                                   S.AWAITING_CONTROL_CONSENT, S.RELEASED])
def test_input_before_a_grant_is_rejected_and_recorded(state: SessionState) -> None:
    person = person_at(state)
    out = person.received(inp(KEY_A), 4.0)
    assert describe(out) == ["Record input.rejected"]
    assert record(out, "input.rejected").payload == refused("key", state.value)
    assert state_of(person) is state


@pytest.mark.parametrize("fields", [{"key": "Escape"}, {"key": "Esc"}, {"key": "\x1b"},
                                    {"key": "Unidentified", "code": "Escape"}])
def test_the_escape_key_is_never_injected(fields: dict[str, object]) -> None:
    person = person_at(S.CONTROLLING)
    out = person.received(inp({"kind": "key", **fields, "down": True}), 4.0)
    assert describe(out) == ["Record input.rejected"]
    assert record(out, "input.rejected").payload == refused("key", "controlling",
                                                            "esc is never injected")
    assert state_of(person) is S.CONTROLLING
    assert person.received(inp(KEY_A), 4.1) == [Inject(KEY_A)]


@pytest.mark.parametrize("event", [
    {"kind": "pointer", "x": 1.5, "y": 2},
    {"kind": "pointer", "x": True, "y": 2},
    {"kind": "key", "key": "", "down": True},
    {"kind": "button", "button": 1},
    "a",
    None,
])
def test_malformed_input_is_a_protocol_error_never_injected(event: object) -> None:
    person = person_at(S.CONTROLLING)
    out = person.received(inp(event), 4.0)
    assert describe(out) == ["Record control.released", "DisableInput",
                             "Record session.disconnected", "StopStreaming", "Send disconnect",
                             "Show", "Close error"]
    ending = record(out, "session.disconnected").payload
    assert (ending["by"], ending["reason"]) == ("system", "error")
    assert " event" in ending["detail"]


def test_only_known_input_fields_reach_the_desktop() -> None:
    person = person_at(S.CONTROLLING)
    out = person.received(inp({**POINTER, "exec": "rm -rf ~"}), 4.0)
    assert out == [Inject(POINTER)]


# -- an untrusted peer ------------------------------------------------------------------------


@pytest.mark.parametrize("message", [
    {"type": "consent", "scope": "control", "status": "granted"},  # only the person consents
    {"type": "control.released", "by": "person", "via": "esc"},
    {"type": "teleport"},
    {"type": "chat", "text": ""},
    {"type": "control.release", "via": "disconnect"},
    {"no": "type"},
    {"type": "input", "event": {"kind": [1]}},  # once a TypeError that killed the reader
    {"type": "input", "event": {"kind": "key", "key": "a", "down": "yes"}},
])
def test_a_message_the_helper_may_not_send_ends_the_session(message: dict[str, Any]) -> None:
    person = person_at(S.AWAITING_CONTROL_CONSENT)
    out = person.received(message, 4.0)
    assert describe(out) == ["Record session.disconnected", "StopStreaming", "Dismiss control",
                             "Send disconnect", "Show", "Close error"]
    ending = record(out, "session.disconnected").payload
    assert (ending["by"], ending["reason"]) == ("system", "error")
    assert isinstance(ending["detail"], str) and 0 < len(ending["detail"]) <= 200
    assert EnableInput() not in out and state_of(person) is S.DISCONNECTED


def test_the_helper_cannot_skip_the_prompt() -> None:
    person = person_at(S.VIEWING)
    out = person.received({"type": "control.request"}, 4.0)
    out += person.received({"type": "control.request"}, 4.1)  # a duplicate is ignored
    assert describe(out) == ["Record control.requested", "Record consent.requested",
                             "Send consent", "Prompt control"]
    assert describe(person.received(inp(KEY_A), 4.2)) == ["Record input.rejected"]
    assert state_of(person) is S.AWAITING_CONTROL_CONSENT


def test_an_out_of_turn_consent_from_the_person_ends_the_helpers_session() -> None:
    pair = viewing_pair()
    out = pair.helper.received({"type": "consent", "scope": "control", "status": "granted"},
                               4.0)
    assert describe(out) == ["Record session.disconnected", "Send disconnect", "Show",
                             "Close error"]
    assert pair.helper.local_input(KEY_A, 4.1) == []


def test_nothing_from_an_unauthenticated_peer_is_acted_on() -> None:
    person = SessionEngine("person", "alice")
    person.connected("mallory", 0.0)
    assert person.received({"type": "chat", "text": "hi"}, 0.1) == []
    assert person.received({"type": "teleport"}, 0.2) == []
    assert describe(person.received(inp(KEY_A), 0.3)) == ["Record input.rejected"]
    assert state_of(person) is S.CONNECTING


# -- the terminal, and driver mistakes ------------------------------------------------------


def test_commands_out_of_place_only_explain() -> None:
    person = person_at(S.VIEWING)
    assert person.local_command("/release", 4.0) == [
        Show("nothing to release: bob is not in control")]
    assert describe(person.local_command("/control", 4.0)) == ["Show"]
    assert describe(person.local_command("/frobnicate", 4.0)) == ["Show"]
    assert person.local_command("   ", 4.0) == []
    assert person.esc_pressed(4.0) == []
    assert state_of(person) is S.VIEWING


def test_after_disconnected_every_input_returns_nothing() -> None:
    person = person_at(S.CONTROLLING)
    person.local_command("/disconnect", 4.0)
    calls: list[Callable[[], list[Output]]] = [
        lambda: person.connected("bob", 5.0),
        lambda: person.authenticated(5.0),
        lambda: person.received(inp(KEY_A), 5.0),
        lambda: person.received({"type": "control.request"}, 5.0),
        lambda: person.consent_answered("control", True, 5.0),
        lambda: person.local_command("/release", 5.0),
        lambda: person.local_command("hello?", 5.0),
        lambda: person.esc_pressed(5.0),
        lambda: person.release_clicked(5.0),
        lambda: person.tick(500.0),
        lambda: person.invitation_ended("revoked", 5.0),
        lambda: person.transport_lost(5.0),
    ]
    assert [call() for call in calls] == [[] for _ in calls]


def test_driver_mistakes_raise() -> None:
    helper = SessionEngine("helper", "bob")
    with pytest.raises(IllegalMove):
        helper.authenticated(0.0)  # not connected
    helper.connected("alice", 0.0)
    with pytest.raises(IllegalMove):
        helper.connected("alice", 0.0)
    with pytest.raises(IllegalMove):
        helper.consent_answered("view", True, 0.0)  # only the person is asked
    with pytest.raises(IllegalMove):
        helper.esc_pressed(0.0)
    with pytest.raises(IllegalMove):
        SessionEngine("person", "alice").local_input(KEY_A, 0.0)
    with pytest.raises(ValueError):
        SessionEngine("operator", "eve")  # type: ignore[arg-type]
    assert state_of(helper) is S.CONNECTING


# -- invariants over random sequences ---------------------------------------------------------


class Auditor:
    """Folds one side's outputs as the driver would append them and checks each action."""

    def __init__(self, engine: SessionEngine) -> None:
        self.engine = engine
        self.state = S.CONNECTING
        self.events: list[NewEvent] = []
        self.grant_live = False
        self.view_granted = False
        self.injected = 0
        self.ended = False
        self.no_screen = False
        self.visited = {S.CONNECTING}

    def check(self, outputs: list[Output]) -> None:
        if self.ended:
            assert outputs == []
        for out in outputs:
            if isinstance(out, Record):
                out.event.validate()  # a storable event: dotted type, canonical JSON payload
                self.events.append(out.event)
                self.state = fold(self.state, out.event)
                self.visited.add(self.state)
                kind = out.event.type
                if self.no_screen:  # no view and no control once the screen is gone
                    assert kind not in ("view.started", "control.granted"), kind
                    assert out.event.payload.get("scope") is None, kind
                if kind == "view.unavailable":
                    self.no_screen = True
                if kind == "control.granted":
                    self.grant_live = True
                elif kind in ("control.released", "control.denied"):
                    self.grant_live = False
                elif (kind, out.event.payload.get("scope")) == ("consent.granted", "view"):
                    self.view_granted = True
            elif isinstance(out, Send):
                assert parse(out.message, self.engine.role) is not None  # the peer accepts it
            elif isinstance(out, Inject):
                assert self.engine.role == "person"
                assert self.state is S.CONTROLLING and self.grant_live
                assert not is_escape(out.event)
                self.injected += 1
            elif isinstance(out, EnableInput):
                assert self.state is S.CONTROLLING and self.grant_live
                assert not self.no_screen
            elif isinstance(out, StartStreaming):
                assert self.state is S.VIEWING and self.view_granted
                assert not self.no_screen
            elif isinstance(out, Prompt):
                assert self.engine.role == "person" and WARNING in out.text
        for before, after in zip(outputs, outputs[1:], strict=False):
            if isinstance(before, Record) and before.event.type == "control.released":
                if self.engine.role == "person":
                    assert isinstance(after, DisableInput)
        if any(isinstance(out, DisableInput) for out in outputs):
            first = next(i for i, out in enumerate(outputs) if isinstance(out, DisableInput))
            assert describe(outputs[:first]) == ["Record control.released"]
        assert self.state is self.engine.state
        assert replay(self.events) is self.engine.state
        if self.state is S.DISCONNECTED:
            self.ended = True


PEER_MESSAGES: list[object] = [
    HEARTBEAT, {"type": "chat", "text": "hi"}, {"type": "control.request"},
    {"type": "control.release", "via": "command"}, inp(KEY_A), inp(POINTER), inp(ESCAPE),
    inp({"kind": "key", "key": "Escape", "down": False}), inp("junk"),
    {"type": "disconnect", "reason": "helper"},
    {"type": "consent", "scope": "view", "status": "granted"}, {"type": "bogus"},
]
LINES = ["/release", "/disconnect", "/control", "hello", "/what", ""]
Step = tuple[str, int, float]


def run_person(steps: Sequence[Step]) -> Auditor:
    """Drive a person's engine with (action, choice, seconds later) steps."""
    engine = SessionEngine("person", "alice")
    audit = Auditor(engine)
    now = 0.0
    audit.check(engine.connected("bob", now))
    for action, choice, dt in steps:
        now += dt
        if action == "auth":
            if engine.state not in (S.CONNECTING, S.DISCONNECTED):
                with pytest.raises(IllegalMove):
                    engine.authenticated(now)
                continue
            out = engine.authenticated(now)
        elif action == "msg":
            out = engine.received(PEER_MESSAGES[choice % len(PEER_MESSAGES)], now)  # type: ignore[arg-type]
        elif action == "answer":
            kind = engine.open_prompt or ("view", "control")[choice % 2]
            out = engine.consent_answered(kind, choice % 3 != 0, now)
        elif action == "line":
            out = engine.local_command(LINES[choice % len(LINES)], now)
        elif action == "esc":
            out = engine.esc_pressed(now)
        elif action == "button":
            out = engine.release_clicked(now)
        elif action == "tick":
            out = engine.tick(now)
        elif action == "screen":
            out = engine.screen_lost("display failed", now)
        elif action == "ended":
            out = engine.invitation_ended("revoked", now)
        else:
            out = engine.transport_lost(now)
        audit.check(out)
    return audit


ACTIONS = ["auth", "msg", "msg", "msg", "msg", "answer", "answer", "line", "esc", "button",
           "tick", "tick", "screen", "ended", "lost"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 100),
                          st.sampled_from([0.0, 0.5, 1.9, 2.0, 9.99, 10.0, 30.0, 60.0])),
                max_size=40))
def test_random_inputs_keep_the_invariants(steps: list[Step]) -> None:
    run_person([("auth", 0, 0.0), *steps])


def test_random_runs_reach_control_and_injection() -> None:
    """The invariants above are not vacuous: seeded runs do inject, release and time out."""
    rng = random.Random(20240501)
    injected = 0
    seen: set[SessionState] = set()
    for _ in range(400):
        steps = [(rng.choice(ACTIONS[1:-2]), rng.randrange(100), rng.choice([0.0, 1.0, 3.0]))
                 for _ in range(40)]
        audit = run_person([("auth", 0, 0.0), *steps])
        injected += audit.injected
        seen |= audit.visited
    assert injected > 0
    assert seen == set(SessionState)


def run_pair(rng: random.Random) -> tuple[Auditor, Auditor]:
    """Both sides, joined by in-order queues delivered at random; all in flight at the end
    is delivered at once. Returns the person's and the helper's auditors."""
    pair = Pair()
    engines = {"person": pair.person, "helper": pair.helper}
    audits = {side: Auditor(engine) for side, engine in engines.items()}
    queues: dict[str, list[dict[str, Any]]] = {"person": [], "helper": []}

    def act(side: str, outputs: list[Output]) -> None:
        audits[side].check(outputs)
        queues["helper" if side == "person" else "person"].extend(sent(outputs))

    act("person", pair.person.connected("bob", 0.0))
    act("helper", pair.helper.connected("alice", 0.0))
    act("helper", pair.helper.authenticated(0.0))
    act("person", pair.person.authenticated(0.0))
    now = 0.0
    for _ in range(60):
        now += rng.choice([0.0, 0.5, 2.0, 11.0]) if rng.random() < 0.1 else 0.1
        side = rng.choice(["person", "helper"])
        engine = engines[side]
        roll = rng.random()
        if roll < 0.45 and queues[side]:
            act(side, engine.received(queues[side].pop(0), now))
        elif roll < 0.6:
            act(side, engine.tick(now))
        elif side == "person":
            prompt = engine.open_prompt
            if prompt is not None and rng.random() < 0.6:
                act(side, engine.consent_answered(prompt, rng.random() < 0.8, now))
            elif rng.random() < 0.03:
                act(side, engine.screen_lost("display failed", now))
            elif rng.random() < 0.5:
                act(side, engine.esc_pressed(now))
            else:
                line = rng.choice(["/release", "hi"] * 5 + ["/disconnect"])
                act(side, engine.local_command(line, now))
        elif rng.random() < 0.4:
            act(side, engine.local_input(rng.choice([KEY_A, POINTER, ESCAPE]), now))
        else:
            line = rng.choice(["/control"] * 6 + ["/release", "/release", "hello", "/disconnect"])
            act(side, engine.local_command(line, now))
    while queues["person"] or queues["helper"]:
        for side in ("person", "helper"):
            if queues[side]:
                act(side, engines[side].received(queues[side].pop(0), now))
    return audits["person"], audits["helper"]


def test_two_engines_on_a_random_network_agree() -> None:
    """Once nothing is in flight, both sides are in the same state and each replays."""
    rng = random.Random(7)
    injected = 0
    seen: set[SessionState] = set()
    for _ in range(300):
        person, helper = run_pair(rng)
        assert state_of(person.engine) is state_of(helper.engine)
        assert replay(person.events) is state_of(person.engine)
        assert replay(helper.events) is state_of(helper.engine)
        injected += person.injected
        seen |= helper.visited
    assert injected > 0 and seen == set(SessionState)
