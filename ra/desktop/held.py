"""What the helper holds down through one injector, kept the same way by both backends.

Control can end at any moment (the person's Esc, a release, a dropped link), and
then everything the helper pressed must be let go, last pressed first, once.
`Held` is that account (sans-IO; the backend presses and releases): the keys
down, each with the modifiers pressed for it and the helper's own modifiers
lifted for it, by the browser's id of the key (``KeyEvent.ident``); the mouse
buttons down; and the part of a scroll smaller than one wheel step, carried
over to the next. It is generic in the backend's keys (X keycodes, pynput keys).
`Holder` is what both backends build around it: one lock, and a close that
lets go of everything before the backend is marked closed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ra.desktop.keys import ScrollEvent

K = TypeVar("K")


@dataclass
class HeldKey(Generic[K]):
    """A key the helper holds down, and what was done around it."""

    key: K
    pressed_mods: list[K] = field(default_factory=list)  # pressed for it; released with it
    lifted_mods: list[K] = field(default_factory=list)  # the helper's, lifted for it


class Held(Generic[K]):
    """The keys and buttons the helper holds down, and the scroll carried over."""

    def __init__(self) -> None:
        self.keys: OrderedDict[str, HeldKey[K]] = OrderedDict()
        self.buttons: list[int] = []
        self._scroll_rest = [0.0, 0.0]

    def take_all(self) -> tuple[list[HeldKey[K]], list[int]]:
        """Forget everything; returns the keys and the buttons to release, last pressed first."""
        keys, buttons = list(self.keys.values()), list(self.buttons)
        self.keys.clear()
        self.buttons.clear()
        self._scroll_rest = [0.0, 0.0]
        return keys[::-1], buttons[::-1]

    def key_up(self, ident: str) -> tuple[list[K], list[K]]:
        """Forget the key `ident`: what to release (the key, then the modifiers pressed for
        it), then what to press again (the modifiers lifted for it that the helper still
        holds). Nothing for a key never pressed (refused, or let go by `take_all`)."""
        held = self.keys.pop(ident, None)
        if held is None:
            return [], []
        still_held = [key.key for key in self.keys.values()]
        return ([held.key, *reversed(held.pressed_mods)],
                [mod for mod in held.lifted_mods if mod in still_held])

    def scroll(self, event: ScrollEvent) -> tuple[int, int]:
        """The whole wheel steps (dx, dy) of `event` and what was carried over; the rest
        (toward zero) carries over to the next scroll."""
        steps = []
        for axis, delta in ((0, event.dx), (1, event.dy)):
            self._scroll_rest[axis] += delta
            whole = int(self._scroll_rest[axis])
            self._scroll_rest[axis] -= whole
            steps.append(whole)
        return steps[0], steps[1]


class Holder(Generic[K]):
    """A backend that holds keys: its lock (it is called from several threads), its
    `Held` account, and whether it is closed; `release_all` is the backend's own."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._held: Held[K] = Held()
        self._closed = False

    def release_all(self) -> None:
        raise NotImplementedError

    def _let_go_and_close(self) -> bool:
        """Release everything held and mark the backend closed (the caller holds `_lock`);
        False when it already was, and there is nothing more to close."""
        if self._closed:
            return False
        self.release_all()
        self._closed = True
        return True
