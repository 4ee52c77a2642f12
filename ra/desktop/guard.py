"""Keep the helper's input off the person's own window.

The person's window (its consent dialogs, Stop control, Disconnect) is the
one place on the desktop the helper must never operate, even in control: a
helper who could click Yes on a consent dialog, or Stop, would make the
person's answers theirs. So the window publishes where it is and whether it
has the keyboard focus (`WindowGuard.publish`), and the injector asks
`WindowGuard.refusal` before every event it would inject:

- a pointer move whose target is inside one of the window's rectangles,
- a button press or a wheel step while the pointer is inside one of them, or
  while the helper's pointer is there: after a refused move the real pointer
  stayed where it was, and a click there is not what the helper aimed at,
- a key press while the window has the focus, or while the pointer is inside
  one of its rectangles (with no window manager, or focus-follows-mouse, the
  keyboard goes to the window under the pointer)

are refused, with a reason the engine records (``input.rejected``). Releases
always pass: a key or button can only be let go of, and X sends a button's
release to the window that got its press, which was never this one; letting
go keeps nothing stuck for the person.

A rectangle is the window's area on the root window, widened by
`DECORATION` on every side and `TITLE_BAR` above, so a window manager's
frame (its close button among it) is covered too. The guard is thread-safe:
the window publishes on its thread, the injector asks on another.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Pixels added around the window's area for a window manager's frame.
DECORATION = 8
#: Pixels added above it for a title bar.
TITLE_BAR = 40
#: The reason recorded for input the guard refused.
REASON = "the person's window"


@dataclass(frozen=True, slots=True)
class Rect:
    """An area of the screen, in root-window pixels."""

    x: int
    y: int
    width: int
    height: int

    def widened(self) -> Rect:
        """The area with room for a window manager's frame around it."""
        return Rect(self.x - DECORATION, self.y - DECORATION - TITLE_BAR,
                    self.width + 2 * DECORATION, self.height + 2 * DECORATION + TITLE_BAR)

    def holds(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height


class WindowGuard:
    """Where the person's window is and whether it has the focus; what it refuses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rects: tuple[Rect, ...] = ()
        self._focused = False
        self._helper_inside = False  # the helper's last pointer move was refused

    def publish(self, rects: Iterable[Rect], focused: bool) -> None:
        """The window's areas now (the main window and each open dialog) and its focus."""
        widened = tuple(rect.widened() for rect in rects if rect.width > 0 and rect.height > 0)
        with self._lock:
            self._rects = widened
            self._focused = focused

    def set_focused(self, focused: bool) -> None:
        with self._lock:
            self._focused = focused

    @property
    def rects(self) -> tuple[Rect, ...]:
        with self._lock:
            return self._rects

    @property
    def focused(self) -> bool:
        with self._lock:
            return self._focused

    def covers(self, x: int, y: int) -> bool:
        """Is the point (root-window pixels) on the window?"""
        return any(rect.holds(x, y) for rect in self.rects)

    def refusal(self, event: Mapping[str, Any], pointer: tuple[int, int] | None) -> str | None:
        """Why `event` must not be injected (None: it may be).

        `event` is a clean input event in screen pixels; `pointer` is where the
        pointer is now (None if unknown: then only what the event itself says
        is judged, and a press is refused to be safe).
        """
        kind = event.get("kind")
        if kind == "pointer":
            x, y = event.get("x"), event.get("y")
            inside = isinstance(x, int) and isinstance(y, int) and self.covers(x, y)
            with self._lock:
                self._helper_inside = inside
            return REASON if inside else None
        if kind in ("button", "key") and not event.get("down"):
            return None  # a release: see the module's docstring
        under = pointer is None or self.covers(*pointer)
        if kind == "key":
            return REASON if (self.focused or (under and self.rects)) else None
        with self._lock:
            aimed = self._helper_inside
        if aimed or (under and self.rects):
            return REASON  # a button press or a wheel step
        return None


__all__ = ["DECORATION", "REASON", "TITLE_BAR", "Rect", "WindowGuard"]
