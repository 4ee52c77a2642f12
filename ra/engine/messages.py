"""The session protocol's messages: what each side may send, parsed into facts.

Messages are JSON objects with a ``type``. The peer is not trusted: `parse`
checks the shape, the sender's role and every field, and turns a raw message
into a small frozen fact; anything else raises `ProtocolError`, whose text
names the field at fault and never quotes a value that could be a secret
(a key name could spell a password). An ``input`` message must carry a
well-formed input event (`check_input`), else it too is a `ProtocolError`;
whether a well-formed event may be injected is the engine's decision.

The parsers are total: any value at all, of any JSON shape or none (a list
where text was expected, a huge number, NaN, text that is not valid Unicode,
a dict with keys that are not text), gives either a fact or a
`ProtocolError`, never another exception. The fuzz tests hold them to it.
The vocabulary is documented in docs/session.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard, cast

from ra.errors import RaError

Role = Literal["person", "helper"]
Scope = Literal["view", "control"]
ConsentStatus = Literal["requested", "granted", "denied"]

#: Why a session ended (the ``reason`` of ``session.disconnected``). ``flood``: the
#: helper kept sending what its state does not allow (see `ra.engine.session`).
DISCONNECT_REASONS = frozenset({"user", "helper", "network", "invitation ended", "error",
                                "flood"})
#: The reasons nobody chose: ra ended the session. Both logs record them ``by``
#: ``system``, whichever side noticed first and told the other; ``user`` and
#: ``helper`` are the decision of the person, or the helper, who sent them.
SYSTEM_REASONS = frozenset({"network", "invitation ended", "error", "flood"})
#: The reasons each side may give in a ``disconnect``: its own decision, or what its
#: side can notice (only the person's side follows the invitation).
ENDS: dict[Role, frozenset[str]] = {
    "person": frozenset({"user", "network", "invitation ended", "error", "flood"}),
    "helper": frozenset({"helper", "network", "error", "flood"}),
}
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
#: Longest ``key`` and ``code`` of a key event (browser names are at most ~25 characters).
MAX_KEY_NAME = 32
#: Largest magnitude of a number in an input event (coordinates, buttons, wheel steps).
MAX_INPUT_NUMBER = 2**31 - 1


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
    """An ``input`` message; `event` is rebuilt from its known fields by `check_input`."""

    event: dict[str, Any]


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
        raise ProtocolError(f"the {sender} may not send {_short(kind)} messages")
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
        return InputEvent(check_input(message.get("event")))
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


def check_input(event: object) -> dict[str, Any]:
    """The input event rebuilt from its known fields, or `ProtocolError` saying why.

    Only known fields of the right JSON type and size pass, so the input
    adapter never sees anything else. The error names the field, never its
    value: key names are never written down (they could spell a password).
    """
    if not isinstance(event, Mapping):
        raise ProtocolError("an input event is not a JSON object")
    kind = event.get("kind")
    if not isinstance(kind, str) or kind not in INPUT_KINDS:
        raise ProtocolError(f"an input event's 'kind' must be one of {sorted(INPUT_KINDS)}")
    if kind == "key":  # named as the browser names it: KeyboardEvent.key and .code
        key = event.get("key")
        code = event.get("code", "")
        if not (_is_text(key) and 0 < len(key) <= MAX_KEY_NAME):
            raise ProtocolError(f"a key event's 'key' must be text of 1 to {MAX_KEY_NAME} "
                                "characters")
        if not (_is_text(code) and len(code) <= MAX_KEY_NAME):
            raise ProtocolError(f"a key event's 'code' must be text of at most {MAX_KEY_NAME} "
                                "characters")
        rebuilt: dict[str, Any] = {"kind": kind, "key": key, "down": _bool(event, kind, "down")}
        if code:
            rebuilt["code"] = code
        return rebuilt
    if kind == "pointer":
        return {"kind": kind, "x": _int(event, kind, "x"), "y": _int(event, kind, "y")}
    if kind == "button":
        return {"kind": kind, "button": _int(event, kind, "button"),
                "down": _bool(event, kind, "down")}
    return {"kind": kind, "dx": _int(event, kind, "dx"), "dy": _int(event, kind, "dy")}


def parse_input(event: object) -> tuple[str, dict[str, Any] | None]:
    """(kind, the event rebuilt by `check_input`) or (kind, None) if malformed.

    The kind is one of `INPUT_KINDS`, or ``"unknown"`` when the event has none.
    For the helper's own viewer events, which are dropped, not fatal, when bad.
    """
    kind = event.get("kind") if isinstance(event, Mapping) else None
    known = kind if isinstance(kind, str) and kind in INPUT_KINDS else "unknown"
    try:
        return known, check_input(event)
    except ProtocolError:
        return known, None


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


def _is_text(value: object) -> TypeGuard[str]:
    """Text that can be written as UTF-8 (no lone surrogates from a JSON ``\\ud800``)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(value: object, limit: int = 40) -> str:
    """A value of the peer's quoted safely in an error: its repr, cut to `limit`."""
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(message: Mapping[str, Any], key: str) -> str:
    value = message.get(key)
    if not _is_text(value) or not value.strip() or len(value) > MAX_TEXT:
        raise ProtocolError(f"{key!r} must be text of 1 to {MAX_TEXT} characters")
    return value


def _one_of(value: object, allowed: frozenset[str], key: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ProtocolError(f"{key!r} must be one of {sorted(allowed)}")
    return value


def _int(event: Mapping[str, Any], kind: str, key: str) -> int:
    value = event.get(key)
    if (not isinstance(value, int) or isinstance(value, bool)
            or abs(value) > MAX_INPUT_NUMBER):
        raise ProtocolError(f"a {kind} event's {key!r} must be a whole number of at most "
                            f"{MAX_INPUT_NUMBER} either way")
    return value


def _bool(event: Mapping[str, Any], kind: str, key: str) -> bool:
    value = event.get(key)
    if not isinstance(value, bool):
        raise ProtocolError(f"a {kind} event's {key!r} must be true or false")
    return value


__all__ = [
    "DENIAL_REASONS",
    "DISCONNECT_REASONS",
    "ENDS",
    "INPUT_KINDS",
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
    "InputEvent",
    "Message",
    "ProtocolError",
    "Role",
    "Scope",
    "check_input",
    "ViewUnavailable",
    "is_escape",
    "parse",
    "parse_input",
]
