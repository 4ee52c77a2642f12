"""The input vocabulary a helper's viewer sends, validated, and its mapping to X.

Events are small JSON objects shaped like the browser's own events::

    {"kind": "key", "key": "a", "code": "KeyA", "down": true}
    {"kind": "key", "key": "Enter", "down": false}
    {"kind": "pointer", "x": 640, "y": 400}          # screen pixels
    {"kind": "button", "button": 1, "down": true}    # 1 left, 2 middle, 3 right
    {"kind": "scroll", "dx": 0, "dy": 3}             # wheel steps, +dy = down

:func:`parse_event` is strict: an unknown ``kind``, a missing or extra field, a
wrong type (``true`` is not a number here), a non-finite or impossible
coordinate, an unknown key name: every one of them is an :class:`RefusedInput`
that says why, and nothing else escapes it (it is fed untrusted input).

Keys are named by the browser's ``KeyboardEvent.key``: a single printable
character (``"a"``, ``"A"``, ``"!"``, ``"é"``, ``"ж"``) or a name from
:data:`NAMED_KEYS` (``"Enter"``, ``"Shift"``, ``"ArrowLeft"``, ``"F5"`` ...).
``code`` (``KeyboardEvent.code``, the physical key) is optional; it picks the
right-hand modifier (``"ShiftRight"``) and identifies the key between its down
and its up (the ``key`` of the up can differ: Shift released in between).
``"AltGraph"`` is the key that selects the third level (``ISO_Level3_Shift``),
which keyboards of many languages need.

The limits (key and code names, coordinates, wheel steps, buttons) and the
Escape rule are those of :mod:`ra.vocabulary`, which the engine and the viewer
server check too; this module also takes fractional numbers (local callers
move by fractions; the wire carries whole ones) and negative coordinates.

Escape is never injected: ``Escape`` anywhere means "give control back" to the
person at the machine, and their Esc watcher cannot tell an injected Esc from
theirs.  :func:`parse_event` refuses it (:func:`ra.vocabulary.is_escape`: ``key``
``"Escape"``/``"Esc"``/``"\\x1b"`` in any case, or ``code`` ``"Escape"``), and the
injector checks again on the keycode it is about to press.

:class:`Keymap` is a snapshot of a display's keyboard mapping (the core
``GetKeyboardMapping`` table plus the Shift modifier keys) that turns a keysym
into the keycode to press and whether Shift must be down for it.  Keycodes it
is told to reserve (the person's Esc keys of the session's start) are never
used for typing, whatever they are bound to now.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from Xlib import XK  # type: ignore[import-untyped]

from ra.errors import InputError, RaError
from ra.vocabulary import (
    BUTTONS,
    COORD_MAX,
    ESCAPE_REFUSED,
    MAX_KEY_NAME,
    MAX_SCROLL,
    is_escape,
    is_key_code,
)

XK.load_keysym_group("xkb")  # ISO_Level3_Shift and the other ISO_ names


class RefusedInput(InputError):
    """An input event was refused: malformed, out of range, unknown, or Esc."""


class DisplayError(RaError):
    """The X display cannot be used for injection or watching (gone, no XTEST/RECORD)."""

    exit_code = 3


#: X protocol coordinates are 16-bit signed; anything outside is garbage, not "off screen".
#: Values inside this range but off the screen are clamped by the injector.
COORD_MIN: Final = -COORD_MAX - 1
#: Largest JSON text accepted by :func:`parse_event`.
JSON_MAX: Final = 4096

XK_ESCAPE: Final[int] = XK.string_to_keysym("Escape")
NO_SYMBOL: Final = 0
#: Keysyms of the keys that switch the level or group characters are typed on.
LEVEL_SWITCHES: Final[frozenset[int]] = frozenset(
    int(XK.string_to_keysym(name)) for name in ("ISO_Level3_Shift", "Mode_switch")
)

#: Browser ``KeyboardEvent.key`` names -> X keysym names.
NAMED_KEYS: Final[Mapping[str, str]] = {
    "Enter": "Return",
    "Tab": "Tab",
    "Backspace": "BackSpace",
    "Delete": "Delete",
    "Insert": "Insert",
    "Home": "Home",
    "End": "End",
    "PageUp": "Prior",
    "PageDown": "Next",
    "ArrowLeft": "Left",
    "ArrowRight": "Right",
    "ArrowUp": "Up",
    "ArrowDown": "Down",
    "Shift": "Shift_L",
    "Control": "Control_L",
    "Alt": "Alt_L",
    "AltGraph": "ISO_Level3_Shift",
    "Meta": "Super_L",
    "OS": "Super_L",
    "Super": "Super_L",
    "CapsLock": "Caps_Lock",
    "NumLock": "Num_Lock",
    "ScrollLock": "Scroll_Lock",
    "Pause": "Pause",
    "PrintScreen": "Print",
    "ContextMenu": "Menu",
    "Help": "Help",
    "Clear": "Clear",
    **{f"F{n}": f"F{n}" for n in range(1, 25)},
}

#: ``code`` values that select the right-hand variant of a modifier.
_RIGHT_HAND: Final[Mapping[tuple[str, str], str]] = {
    ("Shift", "ShiftRight"): "Shift_R",
    ("Control", "ControlRight"): "Control_R",
    ("Alt", "AltRight"): "Alt_R",
    ("Meta", "MetaRight"): "Super_R",
    ("Meta", "OSRight"): "Super_R",
    ("OS", "OSRight"): "Super_R",
    ("Super", "MetaRight"): "Super_R",
}

@dataclass(frozen=True)
class KeyEvent:
    key: str
    down: bool
    code: str | None = None
    repeat: bool = False

    @property
    def ident(self) -> str:
        """What pairs this key's down with its up: the physical ``code`` when given."""
        return f"code:{self.code}" if self.code else f"key:{self.key}"

    @property
    def is_char(self) -> bool:
        """A printable character (as opposed to a named key such as ``Enter``)."""
        return self.key not in NAMED_KEYS


@dataclass(frozen=True)
class PointerEvent:
    x: int
    y: int


@dataclass(frozen=True)
class ButtonEvent:
    button: int
    down: bool


@dataclass(frozen=True)
class ScrollEvent:
    dx: float
    dy: float


InputEvent = KeyEvent | PointerEvent | ButtonEvent | ScrollEvent
EVENT_TYPES: Final = (KeyEvent, PointerEvent, ButtonEvent, ScrollEvent)

_FIELDS: Final[Mapping[str, tuple[frozenset[str], frozenset[str]]]] = {
    # kind: (required, optional)
    "key": (frozenset({"key", "down"}), frozenset({"code", "repeat"})),
    "pointer": (frozenset({"x", "y"}), frozenset()),
    "button": (frozenset({"button", "down"}), frozenset()),
    "scroll": (frozenset({"dx", "dy"}), frozenset()),
}


def parse_event(raw: object) -> InputEvent:
    """Validate one event (a dict, or its JSON text) and return it typed.

    Raises :class:`RefusedInput` for anything that is not exactly a valid event,
    including an Escape key (:data:`ESCAPE_REFUSED`).
    """
    if isinstance(raw, EVENT_TYPES):
        return _check_typed(raw)
    if isinstance(raw, str | bytes | bytearray):
        if len(raw) > JSON_MAX:
            raise RefusedInput(f"event is too long ({len(raw)} > {JSON_MAX} bytes)")
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise RefusedInput(f"event is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise RefusedInput(f"event must be a JSON object, not {type(raw).__name__}")
    obj: dict[Any, Any] = raw
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise RefusedInput(f"unknown event kind {_short(kind)}; expected one of {sorted(_FIELDS)}")
    required, optional = _FIELDS[kind]
    names = set(obj) - {"kind"}
    if missing := required - names:
        raise RefusedInput(f"{kind} event is missing {sorted(missing)}")
    if extra := names - required - optional:
        raise RefusedInput(f"{kind} event has unknown fields {sorted(map(_short, extra))}")
    if kind == "key":
        return _key_event(obj)
    if kind == "pointer":
        return PointerEvent(_coord(obj["x"], "x"), _coord(obj["y"], "y"))
    if kind == "button":
        button = obj["button"]
        if type(button) is not int or button not in BUTTONS:
            raise RefusedInput(f"button must be 1, 2 or 3, not {_short(button)}")
        return ButtonEvent(button, _bool(obj["down"], "down"))
    return ScrollEvent(_scroll(obj["dx"], "dx"), _scroll(obj["dy"], "dy"))


def _check_typed(event: InputEvent) -> InputEvent:
    """Re-validate an already typed event (they can be built by hand)."""
    if isinstance(event, KeyEvent):
        fields: dict[str, object] = {"key": event.key, "down": event.down, "repeat": event.repeat}
        if event.code is not None:
            fields["code"] = event.code
        return parse_event({"kind": "key", **fields})
    if isinstance(event, PointerEvent):
        return parse_event({"kind": "pointer", "x": event.x, "y": event.y})
    if isinstance(event, ButtonEvent):
        return parse_event({"kind": "button", "button": event.button, "down": event.down})
    return parse_event({"kind": "scroll", "dx": event.dx, "dy": event.dy})


def _key_event(obj: Mapping[str, Any]) -> KeyEvent:
    key = obj["key"]
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_NAME:
        raise RefusedInput(f"key must be a string of 1 to {MAX_KEY_NAME} characters, "
                         f"not {_short(key)}")
    code = obj.get("code") or None  # "": the physical key is not known
    if code is not None and not is_key_code(code):
        raise RefusedInput(f"code must be a short alphanumeric string, not {_short(code)}")
    if is_escape({"kind": "key", "key": key, "code": code}):
        raise RefusedInput(ESCAPE_REFUSED)
    if key not in NAMED_KEYS and not is_printable_char(key):
        raise RefusedInput(f"unknown key {_short(key)}")
    return KeyEvent(
        key=key, down=_bool(obj["down"], "down"), code=code,
        repeat=_bool(obj.get("repeat", False), "repeat"),
    )


def is_printable_char(key: str) -> bool:
    """One printable character: a letter, digit, punctuation, symbol or space."""
    if len(key) != 1:
        return False
    category = unicodedata.category(key)
    return not category.startswith(("C", "Z")) or key == " "


def _bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise RefusedInput(f"{name} must be true or false, not {_short(value)}")
    return value


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RefusedInput(f"{name} must be a number, not {_short(value)}")
    number = float(value) if isinstance(value, float) else value
    if isinstance(number, float) and not math.isfinite(number):
        raise RefusedInput(f"{name} must be finite, not {value}")
    return number


def _coord(value: object, name: str) -> int:
    number = _number(value, name)
    if not COORD_MIN <= number <= COORD_MAX:
        raise RefusedInput(f"{name}={_short(value)} is out of range [{COORD_MIN}, {COORD_MAX}]")
    return round(number)


def _scroll(value: object, name: str) -> float:
    number = _number(value, name)
    if abs(number) > MAX_SCROLL:
        raise RefusedInput(f"{name}={_short(value)} is out of range (at most {MAX_SCROLL} steps)")
    return float(number)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- keys to keysyms ---------------------------------------------------------


def keysym_for(event: KeyEvent) -> int:
    """The X keysym the event's key stands for; :class:`RefusedInput` if none."""
    key = event.key
    if is_escape({"kind": "key", "key": key, "code": event.code}):
        raise RefusedInput(ESCAPE_REFUSED)
    name = _RIGHT_HAND.get((key, event.code or "")) or NAMED_KEYS.get(key)
    if name is not None:
        keysym = int(XK.string_to_keysym(name))
        if keysym == NO_SYMBOL:  # pragma: no cover - the table holds standard names only
            raise RefusedInput(f"unknown key {_short(key)}")
        return keysym
    if not is_printable_char(key):
        raise RefusedInput(f"unknown key {_short(key)}")
    return char_keysym(key)


def char_keysym(char: str) -> int:
    """The keysym of one character: Latin-1 keysyms are the code point, others are Unicode."""
    point = ord(char)
    if 0x20 <= point <= 0x7E or 0xA0 <= point <= 0xFF:
        return point
    return 0x01000000 | point


def char_keysyms(char: str) -> tuple[int, ...]:
    """Every keysym a keymap might use for ``char`` (the Latin-1 and the Unicode form)."""
    point = ord(char)
    main = char_keysym(char)
    return (main,) if main != point else (main, 0x01000000 | point)


# -- keysyms to keycodes -----------------------------------------------------


@dataclass(frozen=True)
class Stroke:
    """How to type a keysym: press ``keycode``, with Shift down if ``shift``."""

    keycode: int
    shift: bool


class Keymap:
    """A snapshot of a display's core keyboard mapping.

    ``rows[i]`` holds the keysyms of keycode ``min_keycode + i`` (index 0 is
    unshifted, 1 shifted; higher indices are other groups/levels and are not
    used for typing, a character only reachable there gets a spare keycode).
    ``reserved`` keycodes are never looked up, spare or typed with: they type
    Escape (:meth:`produces_escape`) whatever they are bound to.
    """

    def __init__(
        self, min_keycode: int, rows: Sequence[Sequence[int]], shift_keycodes: Sequence[int],
        reserved: Iterable[int] = (),
    ) -> None:
        self.min_keycode = min_keycode
        self.rows: list[tuple[int, ...]] = [tuple(int(s) for s in row) for row in rows]
        self.shift_keycodes: tuple[int, ...] = tuple(k for k in shift_keycodes if k)
        self.reserved: frozenset[int] = frozenset(reserved)
        self._index: dict[int, Stroke] = {}
        for level in (0, 1):
            for offset, row in enumerate(self.rows):
                keycode = min_keycode + offset
                if len(row) > level and row[level] != NO_SYMBOL and keycode not in self.reserved:
                    self._index.setdefault(row[level], Stroke(keycode, level == 1))
        #: Keycodes of AltGr-like keys (``ISO_Level3_Shift``, ``Mode_switch``).
        self.level_switch_keycodes: frozenset[int] = frozenset(
            min_keycode + offset for offset, row in enumerate(self.rows)
            if LEVEL_SWITCHES.intersection(row[:2])
        )

    @classmethod
    def from_display(cls, display: Any, reserved: Iterable[int] = ()) -> Keymap:
        """Read the current mapping of an open python-xlib ``Display``."""
        info = display.display.info
        first, last = int(info.min_keycode), int(info.max_keycode)
        rows = display.get_keyboard_mapping(first, last - first + 1)
        shift_index = 0  # X.ShiftMapIndex
        shift = [int(k) for k in display.get_modifier_mapping()[shift_index]]
        return cls(first, rows, shift, reserved)

    @property
    def max_keycode(self) -> int:
        return self.min_keycode + len(self.rows) - 1

    def keysyms(self, keycode: int) -> tuple[int, ...]:
        """The keysyms bound to ``keycode`` (empty if it is out of range)."""
        offset = keycode - self.min_keycode
        return self.rows[offset] if 0 <= offset < len(self.rows) else ()

    def lookup(self, keysym: int) -> Stroke | None:
        """The keycode (lowest, unshifted first) that types ``keysym``, or None."""
        return self._index.get(keysym)

    def lookup_key(self, event: KeyEvent) -> tuple[int, Stroke | None]:
        """The keysym of ``event`` and, if the keymap has it, how to type it."""
        keysym = keysym_for(event)
        if event.is_char:
            for candidate in char_keysyms(event.key):
                stroke = self.lookup(candidate)
                if stroke is not None:
                    return candidate, stroke
            return keysym, None
        return keysym, self.lookup(keysym)

    def produces_escape(self, keycode: int) -> bool:
        """Whether pressing ``keycode`` (shifted or not) would type Escape, or it is reserved."""
        return keycode in self.reserved or XK_ESCAPE in self.keysyms(keycode)[:2]

    def escape_keycodes(self) -> frozenset[int]:
        """Every keycode that types Escape (shifted or not) in this mapping."""
        return frozenset(
            self.min_keycode + offset
            for offset, row in enumerate(self.rows)
            if XK_ESCAPE in row[:2]
        )

    def spare_keycodes(self) -> list[int]:
        """Keycodes with no keysym at all: free to bind a missing character to."""
        return [
            self.min_keycode + offset
            for offset, row in enumerate(self.rows)
            if not any(row) and self.min_keycode + offset not in self.reserved
        ]
