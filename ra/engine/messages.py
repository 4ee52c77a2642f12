"""The session protocol's messages: what each side may send, parsed into facts.

Messages are JSON objects with a ``type``. The peer is not trusted: `parse`
checks the shape, the sender's role and every field, and turns a raw message
into a small frozen fact; anything else raises `ProtocolError`. Input events
are checked separately (`parse_input`): a bad one is rejected and recorded,
never injected. The vocabulary is documented in docs/session.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from ra.errors import RaError

Role = Literal["person", "helper"]
Scope = Literal["view", "control"]
ConsentStatus = Literal["requested", "granted", "denied"]

#: Why a session ended (the ``reason`` of ``session.disconnected``).
DISCONNECT_REASONS = frozenset({"user", "helper", "network", "invitation ended", "error"})
#: How control ended (the ``via`` of ``control.released``).
RELEASE_VIA = frozenset({"esc", "button", "command", "timeout", "disconnect",
                         "keymap-changed", "view-unavailable"})
#: Why consent was refused (the ``reason`` of ``consent.denied`` and ``control.denied``);
#: ``screen unavailable``: control was asked in a session whose screen cannot be shown.
DENIAL_REASONS = frozenset({"declined", "timed out", "screen unavailable"})
#: Why the person's screen cannot be shown (the ``reason`` of ``view.unavailable``):
#: the person chose not to share it, there is no display, or the display failed.
VIEW_UNAVAILABLE_REASONS = frozenset({"not shared", "no display", "display failed"})
#: The kinds of input event a helper may send.
INPUT_KINDS = frozenset({"key", "pointer", "button", "scroll"})

MAX_TEXT = 4000


class ProtocolError(RaError):
    """The other side sent something this version of ra does not understand.

    The session was ended to be safe; if both sides run the same version of
    ra, please report it.
    """


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class Chat:
    text: str


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason: str


@dataclass(frozen=True, slots=True)
class ControlRequest:
    pass


@dataclass(frozen=True, slots=True)
class ControlRelease:
    via: str


@dataclass(frozen=True, slots=True)
class InputEvent:
    """An ``input`` message; `event` is the raw event, checked by `parse_input`."""

    event: object


@dataclass(frozen=True, slots=True)
class Consent:
    scope: Scope
    status: ConsentStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ControlReleased:
    by: Role
    via: str


@dataclass(frozen=True, slots=True)
class ViewUnavailable:
    """The person's screen cannot be shown in this session (any more)."""

    reason: str


Message = (
    Heartbeat | Chat | Disconnect | ControlRequest | ControlRelease | InputEvent | Consent
    | ControlReleased | ViewUnavailable
)

#: Which message types each role may send.
SENDS: dict[Role, frozenset[str]] = {
    "helper": frozenset(
        {"heartbeat", "chat", "disconnect", "control.request", "control.release", "input"}
    ),
    "person": frozenset({"heartbeat", "chat", "disconnect", "consent", "control.released",
                         "view.unavailable"}),
}


def parse(message: object, sender: Role) -> Message:
    """The fact a message from `sender` states, or `ProtocolError`."""
    if not isinstance(message, Mapping):
        raise ProtocolError("a message is not a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("a message has no type")
    if kind not in SENDS[sender]:
        raise ProtocolError(f"the {sender} may not send {kind!r} messages")
    if kind == "heartbeat":
        return Heartbeat()
    if kind == "chat":
        return Chat(_text(message, "text"))
    if kind == "disconnect":
        reason = message.get("reason", "user" if sender == "person" else "helper")
        return Disconnect(_one_of(reason, DISCONNECT_REASONS, "reason"))
    if kind == "control.request":
        return ControlRequest()
    if kind == "control.release":
        return ControlRelease(_one_of(message.get("via", "command"), RELEASE_VIA, "via"))
    if kind == "input":
        return InputEvent(message.get("event"))
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
    """(kind, the event rebuilt from its known fields) or (kind, None) if malformed.

    Only known fields of the right JSON type pass, so the input adapter never
    sees anything else. The kind is what `input.rejected` records; key names
    are never recorded (they could spell a password).
    """
    if not isinstance(event, Mapping):
        return "unknown", None
    kind = event.get("kind")
    if kind not in INPUT_KINDS:
        return "unknown", None
    assert isinstance(kind, str)
    try:
        if kind == "key":  # named as the browser names it: KeyboardEvent.key and .code
            key = event.get("key")
            code = event.get("code", "")
            if not (isinstance(key, str) and 0 < len(key) <= 32) or not (
                isinstance(code, str) and len(code) <= 32
            ):
                return kind, None
            rebuilt: dict[str, Any] = {"kind": kind, "key": key, "down": _bool(event, "down")}
            if code:
                rebuilt["code"] = code
            return kind, rebuilt
        if kind == "pointer":
            return kind, {"kind": kind, "x": _int(event, "x"), "y": _int(event, "y")}
        if kind == "button":
            return kind, {"kind": kind, "button": _int(event, "button"),
                          "down": _bool(event, "down")}
        return kind, {"kind": kind, "dx": _int(event, "dx"), "dy": _int(event, "dy")}
    except ValueError:
        return kind, None


def is_escape(event: Mapping[str, Any]) -> bool:
    """Whether an input event is the Escape key (by its key or its physical code)."""
    if event.get("kind") != "key":
        return False
    key = event.get("key")
    if isinstance(key, str) and key.strip().lower() in {"escape", "esc", "\x1b"}:
        return True
    return event.get("code") == "Escape"


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


def _text(message: Mapping[str, Any], key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ProtocolError(f"{key!r} must be text of 1 to {MAX_TEXT} characters")
    return value


def _one_of(value: object, allowed: frozenset[str], key: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ProtocolError(f"{key!r} must be one of {sorted(allowed)}")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(event: Mapping[str, Any], key: str) -> int:
    value = event.get(key)
    if not _is_int(value):
        raise ValueError(key)
    assert isinstance(value, int)
    return value


def _bool(event: Mapping[str, Any], key: str) -> bool:
    value = event.get(key)
    if not isinstance(value, bool):
        raise ValueError(key)
    return value


__all__ = [
    "DENIAL_REASONS",
    "DISCONNECT_REASONS",
    "INPUT_KINDS",
    "RELEASE_VIA",
    "SENDS",
    "VIEW_UNAVAILABLE_REASONS",
    "Chat",
    "Consent",
    "ControlRelease",
    "ControlReleased",
    "ControlRequest",
    "Disconnect",
    "Heartbeat",
    "InputEvent",
    "Message",
    "ProtocolError",
    "Role",
    "Scope",
    "ViewUnavailable",
    "is_escape",
    "parse",
    "parse_input",
]
