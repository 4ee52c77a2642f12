"""The parsers of what a peer or a page sends are total: fuzzed with JSON values of every shape.

Values are drawn from a recursive strategy (None, booleans, ints past 64 bits,
floats with NaN and infinities, text with lone surrogates and control
characters, lists, dicts with keys of any type), on their own and inside the
shapes the parsers expect (a message with a known ``type``, an input event
with a known ``kind``), so every branch meets every type. Each parser must
give a clean value or its own typed error, never another exception; the
engine must stay in the state its records replay to and hand out only
typed outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ra.desktop.keys import RefusedInput, parse_event
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
    StopStreaming,
    fold,
)
from ra.engine import messages as msg
from ra.events import canonical
from ra.statemachines.session import SessionState
from ra.viewer.server import _clean_input, clean_monitors, parse_page_message

S = SessionState
OUTPUT_TYPES = (Close, DisableInput, Dismiss, EnableInput, Inject, Prompt, Record, Send, Show,
                StartStreaming, StopStreaming)
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ENGINE_FUZZ = settings(FUZZ, max_examples=120)  # each example walks an engine

TYPES = sorted(msg.SENDS["helper"] | msg.SENDS["person"]
               | {"screen.ack", "screen.refresh", "screen.monitor", "screen.monitors",
                  "session.receipt"})
FIELDS = ["type", "text", "reason", "via", "event", "scope", "status", "by", "kind", "key",
          "code", "down", "x", "y", "button", "dx", "dy", "monitor", "monitors", "current",
          "number", "width", "height", "seq", "superseded"]

text = st.text(st.characters(exclude_categories=()), max_size=40)  # lone surrogates too
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.sampled_from([2**31, -(2**31) - 1, 2**64, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    text, st.sampled_from(TYPES + FIELDS + ["", "Escape", "key", "pointer", "button",
                                            "scroll", "view", "control", "granted"]),
)
keys = st.one_of(st.sampled_from(FIELDS), text, st.integers(), st.none(), st.booleans(),
                 st.floats(allow_nan=True))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(keys, children, max_size=6)),
    max_leaves=30,
)


@st.composite
def shaped(draw: st.DrawFn, kind_field: str, kinds: list[str]) -> dict[Any, Any]:
    """A dict with a known `kind_field` value and fuzzed known and unknown fields."""
    value: dict[Any, Any] = draw(st.dictionaries(st.sampled_from(FIELDS), json_values,
                                                 max_size=6))
    value.update(draw(st.dictionaries(keys, json_values, max_size=2)))
    value[kind_field] = draw(st.one_of(st.sampled_from(kinds), json_values))
    return value


input_events = st.one_of(json_values,
                         shaped("kind", sorted(msg.INPUT_KINDS) + ["unknown", "Escape"]))


@st.composite
def messages(draw: st.DrawFn) -> object:
    """Anything, or a dict with a known type, maybe holding a fuzzed input event."""
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return draw(json_values)
    message = draw(shaped("type", TYPES))
    if shape >= 2:
        message["type"] = "input"
        message["event"] = draw(input_events)
    return message


# -- the session messages -----------------------------------------------------------------


@FUZZ
@given(messages(), st.sampled_from(["person", "helper"]))
@example({"type": "input", "event": {"kind": [1]}}, "helper")
@example({"type": "input", "event": {"kind": {"a": 1}}}, "helper")
@example({"type": "chat", "text": "\ud800"}, "helper")
def test_parse_gives_a_fact_or_a_protocol_error(message: object, sender: msg.Role) -> None:
    try:
        fact = msg.parse(message, sender)
    except msg.MessageError as exc:
        assert str(exc)
        return
    assert isinstance(fact, msg.Heartbeat | msg.Chat | msg.Disconnect | msg.ControlRequest
                      | msg.ControlRelease | msg.Input | msg.Consent
                      | msg.ControlReleased)
    if isinstance(fact, msg.Input):
        assert fact.event == msg.check_input(fact.event)  # clean, and stays clean
    if isinstance(fact, msg.Chat):
        fact.text.encode("utf-8")


#: The fields of an input event, which an error names quoted.
INPUT_FIELDS = frozenset({"kind", "key", "code", "down", "x", "y", "button", "dx", "dy"})


@FUZZ
@given(input_events)
@example({"kind": [1]})
@example({"key": "button"})
@example({"kind": "pointer", "x": 10**400, "y": 0})
@example({"kind": "key", "key": "\udfff", "down": True})
def test_input_events_are_checked_totally(event: object) -> None:
    kind, clean = msg.parse_input(event)
    assert kind in msg.INPUT_KINDS | {"unknown"}
    try:
        checked = msg.check_input(event)
    except msg.MessageError as exc:
        assert clean is None
        # The error names the field, never the key the helper typed (quoted, as a
        # message would hold it: the key may also be a word of the message itself,
        # and a key spelt like a field the message names quoted is that field).
        if isinstance(event, dict) and isinstance(event.get("key"), str) and len(
                event["key"]) > 3 and event["key"] not in INPUT_FIELDS:
            key = event["key"]
            assert repr(key) not in str(exc) and f'"{key}"' not in str(exc)
        return
    assert clean == checked and checked["kind"] == kind
    assert set(checked) <= INPUT_FIELDS
    canonical.check(checked)
    canonical.encode(checked)
    assert msg.is_escape(checked) in (True, False)


@FUZZ
@given(input_events)
def test_the_injectors_validation_refuses_with_input_error_only(event: object) -> None:
    try:
        parse_event(event)
    except RefusedInput:
        pass


# -- the engine ---------------------------------------------------------------------------


def person_at(step: int) -> SessionEngine:
    """A person's engine walked `step` moves along a session (0: connecting)."""
    engine = SessionEngine("person", "alice", flood_limit=20)
    moves: list[Callable[[], object]] = [
        lambda: engine.connected("mallory", 0.0),
        lambda: engine.authenticated(0.0),
        lambda: engine.consent_answered("view", True, 0.1),
        lambda: engine.received({"type": "control.request"}, 0.2),
        lambda: engine.consent_answered("control", True, 0.3),
        lambda: engine.esc_pressed(0.4),
    ]
    for move in moves[:step]:
        move()
    return engine


def helper_at(step: int) -> SessionEngine:
    engine = SessionEngine("helper", "bob")
    moves: list[Callable[[], object]] = [
        lambda: engine.connected("alice", 0.0),
        lambda: engine.authenticated(0.0),
        lambda: engine.received(msg.consent("view", "requested"), 0.1),
        lambda: engine.received(msg.consent("view", "granted"), 0.2),
    ]
    for move in moves[:step]:
        move()
    return engine


@ENGINE_FUZZ
@given(st.integers(0, 6), st.lists(messages(), max_size=8))
@example(2, [{"type": "input", "event": {"kind": [1]}}])
@example(5, [{"type": "input", "event": {"kind": "key", "key": "Escape", "down": True}}])
def test_the_persons_engine_stays_consistent_whatever_the_helper_sends(
        step: int, batch: list[object]) -> None:
    engine = person_at(step)
    _walk_from(engine, engine.state, [], batch)


@ENGINE_FUZZ
@given(st.integers(0, 4), st.lists(messages(), max_size=8))
def test_the_helpers_engine_stays_consistent_whatever_the_person_sends(
        step: int, batch: list[object]) -> None:
    engine = helper_at(step)
    _walk_from(engine, engine.state, [], batch)


def _walk_from(engine: SessionEngine, start: SessionState, history: list[Any],
               batch: list[object]) -> None:
    """Feed `batch`; after each message the records fold from `start` to the engine's state.

    Only typed outputs; no Inject outside controlling, nor of Escape, nor of an
    unchecked event; every record can be written as canonical JSON.
    """
    state = start
    for index, message in enumerate(batch):
        now = 0.5 + index * 0.05
        out: list[Output] = engine.received(message, now)  # type: ignore[arg-type]
        out += engine.tick(now)
        for item in out:
            assert isinstance(item, OUTPUT_TYPES)
            if isinstance(item, Inject):
                assert engine.state is S.CONTROLLING
                assert item.event == msg.check_input(item.event)
                assert not msg.is_escape(item.event)
            if isinstance(item, Record):
                canonical.check(item.event.payload)
                canonical.encode(item.event.payload)
                history.append(item.event)
                state = fold(state, item.event)
        assert state is engine.state


# -- the viewer page ----------------------------------------------------------------------


def _dumps(value: object) -> str | None:
    try:
        return json.dumps(value)  # NaN and Infinity as JavaScript writes them
    except (TypeError, ValueError):
        return None  # keys no JSON text can hold


@FUZZ
@given(messages())
@example({"type": "chat", "text": "\ud800"})
@example({"type": "input", "event": {"kind": "key", "key": "\udc00", "code": "", "down": True}})
def test_page_messages_parse_to_a_clean_message_or_none(message: object) -> None:
    raw = _dumps(message)
    if raw is None:
        return
    parsed = parse_page_message(raw)
    if parsed is not None:
        assert isinstance(parsed, dict) and parsed["type"] in {
            "control.request", "control.release", "disconnect", "screen.ack",
            "screen.refresh", "screen.monitor", "chat", "input"}
        canonical.check(parsed)
        canonical.encode(parsed)  # it can be sent on and recorded


@FUZZ
@given(st.text(st.characters(exclude_categories=()), max_size=200))
@example("[" * 100_000)
@example('{"type": "chat", "text": ' * 5000)
@example("1" * 5000)
@example('{"type": "input", "event": {"kind": "pointer", "x": 1e999, "y": NaN}}')
def test_page_text_of_any_kind_parses_to_a_message_or_none(raw: str) -> None:
    parsed = parse_page_message(raw)
    assert parsed is None or isinstance(parsed, dict)


@FUZZ
@given(input_events)
@example({"kind": "key", "key": "k" * 40, "code": "KeyK", "down": True})
def test_page_input_events_are_rebuilt_or_refused(event: object) -> None:
    clean = _clean_input(event)
    if clean is not None:
        canonical.encode(clean)
        assert msg.parse_input(clean)[1] is not None  # what the page passes, the engine takes


@FUZZ
@given(shaped("type", ["screen.monitors"]))
def test_monitor_lists_are_rebuilt_or_refused(message: dict[Any, Any]) -> None:
    cleaned = clean_monitors(message)
    if cleaned is not None:
        canonical.encode(cleaned)


@pytest.mark.parametrize("raw", ["[" * 100_000, "{" * 100_000, '{"a":' * 100_000])
def test_deep_nesting_from_the_page_is_refused(raw: str) -> None:
    assert parse_page_message(raw) is None
