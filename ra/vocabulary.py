"""The session protocol's vocabulary: its words, their sizes and the Escape rule.

One module says what may be said in a session, and every part that checks
it imports it from here: the engine (`ra.engine.messages`, which parses a
peer's messages into facts), the helper's viewer server (`ra.viewer.server`,
which takes the page's messages) and the desktop's injector
(`ra.desktop.keys`, which takes the input events). So what the page passes,
the engine takes, and what the engine hands on, the injector accepts as
well-formed: no event is valid at one layer and malformed at the next.

What it holds:

* the message kinds each role may send (`SENDS`) and, beside them, the
  reasons a message may give (`DISCONNECT_REASONS`, `RELEASE_VIA`,
  `DENIAL_REASONS`, `VIEW_UNAVAILABLE_REASONS`);
* size limits: a chat message (`MAX_CHAT`), a name (`MAX_NAME_CHARS`), a
  key's name and code (`MAX_KEY_NAME`), coordinates (`COORD_MAX`) and wheel
  steps (`MAX_SCROLL`);
* input events (`INPUT_KINDS`, `BUTTONS`): `check_input` rebuilds one from
  its known fields, or raises `MessageError` naming the field at fault;
* the Escape rule (`is_escape`): a key event is Escape if its key is
  ``Escape``, ``Esc`` or ESC itself (any case, spaces around ignored) or its
  code is ``Escape`` (any case). Escape is never injected: it is how the
  person takes control back, and the Esc watcher cannot tell an injected Esc
  from theirs.

Checks never quote a key name: it could spell a password.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, TypeGuard

from ra.errors import RaError

Role = Literal["person", "helper"]


class MessageError(RaError):
    """The other side sent something this version of ra does not understand.

    The session was ended to be safe; if both sides run the same version of
    ra, please report it.
    """


# -- messages --------------------------------------------------------------------

#: Which message types each role may send.
SENDS: Final[dict[Role, frozenset[str]]] = {
    "helper": frozenset(
        {"heartbeat", "chat", "disconnect", "control.request", "control.release", "input"}
    ),
    "person": frozenset({"heartbeat", "chat", "disconnect", "consent", "control.released",
                         "view.unavailable"}),
}
#: Why a session ended (the ``reason`` of ``session.disconnected``). ``flood``: the
#: helper kept sending what its state does not allow (see `ra.engine.session`).
DISCONNECT_REASONS: Final = frozenset({"user", "helper", "network", "invitation ended",
                                       "error", "flood"})
#: The reasons nobody chose: ra ended the session. Both logs record them ``by``
#: ``system``, whichever side noticed first and told the other; ``user`` and
#: ``helper`` are the decision of the person, or the helper, who sent them.
SYSTEM_REASONS: Final = frozenset({"network", "invitation ended", "error", "flood"})
#: The reasons each side may give in a ``disconnect``: its own decision, or what its
#: side can notice (only the person's side follows the invitation).
ENDS: Final[dict[Role, frozenset[str]]] = {
    "person": frozenset({"user", "network", "invitation ended", "error", "flood"}),
    "helper": frozenset({"helper", "network", "error", "flood"}),
}
#: How control ended (the ``via`` of ``control.released``).
RELEASE_VIA: Final = frozenset({"esc", "button", "command", "timeout", "disconnect",
                                "keymap-changed", "view-unavailable"})
#: How the helper may give control back (``control.release``'s ``via``).
HELPER_RELEASE_VIA: Final = frozenset({"esc", "button", "command"})
#: Why consent was refused (the ``reason`` of ``consent.denied`` and ``control.denied``);
#: ``screen unavailable``: control was asked in a session whose screen cannot be shown.
DENIAL_REASONS: Final = frozenset({"declined", "timed out", "screen unavailable"})
#: Why the person's screen cannot be shown (the ``reason`` of ``view.unavailable``):
#: the person chose not to share it, there is no display, or the display failed.
VIEW_UNAVAILABLE_REASONS: Final = frozenset({"not shared", "no display", "display failed"})

# -- sizes -----------------------------------------------------------------------

#: Longest chat message, in characters.
MAX_CHAT: Final = 4000
#: Longest name a side gives itself (the helper's name in the handshake).
MAX_NAME_CHARS: Final = 64
#: Longest ``key`` and ``code`` of a key event (browser names are at most ~25 characters).
MAX_KEY_NAME: Final = 32
#: Largest coordinate of a pointer event: X coordinates are 16-bit signed, so no
#: screen is wider; the page sends pixels of the picture shown, from 0.
COORD_MAX: Final = 32767
#: Largest wheel movement of one scroll event, in steps (notches), either way.
MAX_SCROLL: Final = 100

# -- input events ----------------------------------------------------------------

#: The kinds of input event a helper may send.
INPUT_KINDS: Final = frozenset({"key", "pointer", "button", "scroll"})
#: Mouse buttons: 1 left, 2 middle, 3 right.
BUTTONS: Final = (1, 2, 3)
#: Why an Escape key was not injected (the engine's ``input.rejected`` reason too).
ESCAPE_REFUSED: Final = "esc is never injected"
#: What a key event's key is, lower-cased and stripped, when it is Escape.
_ESCAPE_KEYS: Final = frozenset({"escape", "esc", "\x1b"})


def is_text(value: object) -> TypeGuard[str]:
    """Text that can be written as UTF-8 (no lone surrogates from a JSON ``\\ud800``)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_chat_text(value: object) -> TypeGuard[str]:
    """A chat message: text of 1 to `MAX_CHAT` characters, not blank."""
    return is_text(value) and bool(value.strip()) and len(value) <= MAX_CHAT


def is_key_name(value: object) -> TypeGuard[str]:
    """A key event's ``key``: text of 1 to `MAX_KEY_NAME` characters."""
    return is_text(value) and 0 < len(value) <= MAX_KEY_NAME


def is_key_code(value: object) -> TypeGuard[str]:
    """A key event's ``code`` (the physical key, ``KeyA``, ``ShiftRight``): ASCII
    letters and digits, at most `MAX_KEY_NAME` of them; empty when unknown."""
    return (isinstance(value, str) and len(value) <= MAX_KEY_NAME
            and (not value or (value.isascii() and value.isalnum())))


def is_escape(event: Mapping[str, Any]) -> bool:
    """Whether an input event is the Escape key, by its key or its physical code."""
    if event.get("kind") != "key":
        return False
    key, code = event.get("key"), event.get("code")
    if isinstance(key, str) and key.strip().lower() in _ESCAPE_KEYS:
        return True
    return isinstance(code, str) and code.lower() == "escape"


def check_input(event: object) -> dict[str, Any]:
    """The input event rebuilt from its known fields, or `MessageError` saying why.

    Only known fields of the right JSON type and size pass, so nothing else
    ever reaches the desktop. The error names the field, never its value.
    Whether a well-formed event may be injected (Escape never is) is decided
    by whoever injects.
    """
    if not isinstance(event, Mapping):
        raise MessageError("an input event is not a JSON object")
    kind = event.get("kind")
    if not isinstance(kind, str) or kind not in INPUT_KINDS:
        raise MessageError(f"an input event's 'kind' must be one of {sorted(INPUT_KINDS)}")
    if kind == "key":  # named as the browser names it: KeyboardEvent.key and .code
        key = event.get("key")
        code = event.get("code", "")
        if not is_key_name(key):
            raise MessageError(f"a key event's 'key' must be text of 1 to {MAX_KEY_NAME} "
                               "characters")
        if not is_key_code(code):
            raise MessageError(f"a key event's 'code' must be at most {MAX_KEY_NAME} "
                               "ASCII letters and digits")
        rebuilt: dict[str, Any] = {"kind": kind, "key": key, "down": _bool(event, kind, "down")}
        if code:
            rebuilt["code"] = code
        return rebuilt
    if kind == "pointer":
        return {"kind": kind, "x": _int(event, kind, "x", 0, COORD_MAX),
                "y": _int(event, kind, "y", 0, COORD_MAX)}
    if kind == "button":
        return {"kind": kind, "button": _int(event, kind, "button", BUTTONS[0], BUTTONS[-1]),
                "down": _bool(event, kind, "down")}
    return {"kind": kind, "dx": _int(event, kind, "dx", -MAX_SCROLL, MAX_SCROLL),
            "dy": _int(event, kind, "dy", -MAX_SCROLL, MAX_SCROLL)}


def _int(event: Mapping[str, Any], kind: str, key: str, low: int, high: int) -> int:
    value = event.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise MessageError(f"a {kind} event's {key!r} must be a whole number from {low} "
                           f"to {high}")
    return value


def _bool(event: Mapping[str, Any], kind: str, key: str) -> bool:
    value = event.get(key)
    if not isinstance(value, bool):
        raise MessageError(f"a {kind} event's {key!r} must be true or false")
    return value


__all__ = [
    "BUTTONS",
    "COORD_MAX",
    "DENIAL_REASONS",
    "DISCONNECT_REASONS",
    "ENDS",
    "ESCAPE_REFUSED",
    "HELPER_RELEASE_VIA",
    "INPUT_KINDS",
    "MAX_CHAT",
    "MAX_KEY_NAME",
    "MAX_NAME_CHARS",
    "MAX_SCROLL",
    "RELEASE_VIA",
    "SENDS",
    "SYSTEM_REASONS",
    "VIEW_UNAVAILABLE_REASONS",
    "MessageError",
    "Role",
    "check_input",
    "is_chat_text",
    "is_escape",
    "is_key_code",
    "is_key_name",
    "is_text",
]
