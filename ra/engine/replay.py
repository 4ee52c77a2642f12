"""A session's state as a fold over its recorded events (no machine is built).

`trigger_for` is the one map from an event to the machine trigger it states,
and `fold` the one step from a state and an event to the next state, read
from the machine's own table (`TableMachine.next_state`). `replay` folds a
log; the live engine applies each event it records with the same `fold`
(`SessionEngine._apply`). So the state the live engine is in is always the
state its log, or any prefix of it, replays to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ra.statemachines.session import SessionState, next_state

#: Events whose trigger does not depend on the payload.
_PLAIN: dict[str, str] = {
    "session.authenticated": "authenticated",
    "control.requested": "control_requested",
    "control.granted": "control_granted",
    "control.denied": "control_denied",
    "control.released": "control_released",
    "view.unavailable": "view_unavailable",
    "session.disconnected": "disconnected",
}
#: consent.* events by scope; the control scope's answer is stated by control.granted
#: and control.denied, recorded right after it.
_CONSENT: dict[tuple[str, str], str] = {
    ("consent.requested", "view"): "view_consent_requested",
    ("consent.granted", "view"): "view_consent_granted",
    ("consent.denied", "view"): "view_consent_denied",
    ("consent.requested", "control"): "control_consent_requested",
}


class EventLike(Protocol):
    """Anything with a type and a payload: a `NewEvent` or a `RecordedEvent`."""

    @property
    def type(self) -> str: ...

    @property
    def payload(self) -> Mapping[str, Any]: ...


def trigger_for(event_type: str, payload: Mapping[str, Any]) -> str | None:
    """The machine trigger an event states, or None if it does not move the state."""
    plain = _PLAIN.get(event_type)
    if plain is not None:
        return plain
    return _CONSENT.get((event_type, str(payload.get("scope", ""))))


def fold(state: SessionState, event: EventLike) -> SessionState:
    """One step: the state after `event`. The log holds it, so it happened: an
    event the table has no move for leaves the state as it was."""
    trigger = trigger_for(event.type, event.payload)
    if trigger is None:
        return state
    moved = next_state(state, trigger)
    return state if moved is None else moved


def replay(events: Iterable[EventLike]) -> SessionState:
    """The state a session's events fold to, from ``connecting``."""
    state = SessionState.CONNECTING
    for event in events:
        state = fold(state, event)
    return state


__all__ = ["EventLike", "fold", "replay", "trigger_for"]
