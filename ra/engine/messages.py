"""The session protocol's messages: what each side may send, parsed into facts.

Messages are JSON objects with a ``type``. The peer is not trusted: `parse`
checks the shape, the sender's role and every field, and turns a raw message
into a small frozen fact; anything else raises `MessageError`, whose text
names the field at fault and never quotes a value that could be a secret
(a key name could spell a password). An ``input`` message must carry a
well-formed input event (`check_input`), else it too is a `MessageError`;
whether a well-formed event may be injected is the engine's decision.
The words, their sizes, the input-event rules and the Escape rule are
`ra.vocabulary`'s, shared with the viewer server and the injector.

The parsers are total: any value at all, of any JSON shape or none (a list
where text was expected, a huge number, NaN, text that is not valid Unicode,
a dict with keys that are not text), gives either a fact or a
`MessageError`, never another exception. The fuzz tests hold them to it.
The vocabulary is documented in docs/session.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from ra.engine.frozen import Frozen
from ra.vocabulary import (
    DENIAL_REASONS,
    DISCONNECT_REASONS,
    ENDS,
    INPUT_KINDS,
    MAX_CHAT,
    RELEASE_VIA,
    SENDS,
    SYSTEM_REASONS,
    VIEW_UNAVAILABLE_REASONS,
    MessageError,
    Role,
    check_input,
    is_chat_text,
    is_escape,
)

Scope = Literal["view", "control"]
ConsentStatus = Literal["requested", "granted", "denied"]



class Heartbeat(Frozen):
    pass


class Chat(Frozen):
    text: str


class Disconnect(Frozen):
    reason: str


class ControlRequest(Frozen):
    pass


class ControlRelease(Frozen):
    via: str


class Input(Frozen):
    """An ``input`` message; `event` is rebuilt from its known fields by `check_input`."""

    event: dict[str, Any]


class Consent(Frozen):
    scope: Scope
    status: ConsentStatus
    reason: str = ""


class ControlReleased(Frozen):
    by: Role
    via: str


class ViewUnavailable(Frozen):
    """The person's screen cannot be shown in this session (any more)."""

    reason: str


Message = (
    Heartbeat | Chat | Disconnect | ControlRequest | ControlRelease | Input | Consent
    | ControlReleased | ViewUnavailable
)


def parse(message: object, sender: Role) -> Message:
    """The fact a message from `sender` states, or `MessageError`."""
    if not isinstance(message, Mapping):
        raise MessageError("a message is not a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise MessageError("a message has no type")
    if kind not in SENDS[sender]:
        raise MessageError(f"the {sender} may not send {_short(kind)} messages")
    if kind == "heartbeat":
        return Heartbeat()
    if kind == "chat":
        return Chat(_text(message, "text"))
    if kind == "disconnect":
        reason = message.get("reason", "user" if sender == "person" else "helper")
        return Disconnect(_one_of(reason, ENDS[sender], "reason"))
    if kind == "control.request":
        return ControlRequest()
    if kind == "control.release":
        return ControlRelease(_one_of(message.get("via", "command"), RELEASE_VIA, "via"))
    if kind == "input":
        return Input(check_input(message.get("event")))
    if kind == "consent":
        scope = _one_of(message.get("scope"), frozenset({"view", "control"}), "scope")
        status = _one_of(message.get("status"), frozenset({"requested", "granted", "denied"}),
                         "status")
        reason = ""
        if status == "denied":
            reason = _one_of(message.get("reason", "declined"), DENIAL_REASONS, "reason")
        return Consent(cast(Scope, scope), cast(ConsentStatus, status), reason)
    if kind == "view.unavailable":
        return ViewUnavailable(_one_of(message.get("reason"), VIEW_UNAVAILABLE_REASONS,
                                       "reason"))
    by = _one_of(message.get("by"), frozenset({"person", "helper"}), "by")
    return ControlReleased(cast(Role, by), _one_of(message.get("via"), RELEASE_VIA, "via"))


def parse_input(event: object) -> tuple[str, dict[str, Any] | None]:
    """(kind, the event rebuilt by `check_input`) or (kind, None) if malformed.

    The kind is one of `INPUT_KINDS`, or ``"unknown"`` when the event has none.
    For the helper's own viewer events, which are dropped, not fatal, when bad.
    """
    kind = event.get("kind") if isinstance(event, Mapping) else None
    known = kind if isinstance(kind, str) and kind in INPUT_KINDS else "unknown"
    try:
        return known, check_input(event)
    except MessageError:
        return known, None


# -- what each side sends -------------------------------------------------------


def heartbeat() -> dict[str, Any]:
    return {"type": "heartbeat"}


def chat(text: str) -> dict[str, Any]:
    return {"type": "chat", "text": text}


def disconnect(reason: str) -> dict[str, Any]:
    return {"type": "disconnect", "reason": reason}


def control_request() -> dict[str, Any]:
    return {"type": "control.request"}


def control_release(via: str) -> dict[str, Any]:
    return {"type": "control.release", "via": via}


def input_event(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "input", "event": dict(event)}


def consent(scope: Scope, status: str, reason: str = "") -> dict[str, Any]:
    message: dict[str, Any] = {"type": "consent", "scope": scope, "status": status}
    if reason:
        message["reason"] = reason
    return message


def control_released(by: Role, via: str) -> dict[str, Any]:
    return {"type": "control.released", "by": by, "via": via}


def view_unavailable(reason: str) -> dict[str, Any]:
    return {"type": "view.unavailable", "reason": reason}


# -- field checks -----------------------------------------------------------------


def _short(value: object, limit: int = 40) -> str:
    """A value of the peer's quoted safely in an error: its repr, cut to `limit`."""
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(message: Mapping[str, Any], key: str) -> str:
    value = message.get(key)
    if not is_chat_text(value):
        raise MessageError(f"{key!r} must be text of 1 to {MAX_CHAT} characters")
    return value


def _one_of(value: object, allowed: frozenset[str], key: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise MessageError(f"{key!r} must be one of {sorted(allowed)}")
    return value


__all__ = [
    "DENIAL_REASONS",
    "DISCONNECT_REASONS",
    "ENDS",
    "INPUT_KINDS",
    "MAX_CHAT",
    "RELEASE_VIA",
    "SENDS",
    "SYSTEM_REASONS",
    "VIEW_UNAVAILABLE_REASONS",
    "Chat",
    "Consent",
    "ControlRelease",
    "ControlReleased",
    "ControlRequest",
    "Disconnect",
    "Heartbeat",
    "Input",
    "Message",
    "MessageError",
    "Role",
    "Scope",
    "ViewUnavailable",
    "check_input",
    "is_escape",
    "parse",
    "parse_input",
]
