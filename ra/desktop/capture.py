"""Screen capture: a small adapter interface and its X11 implementation over mss.

`DesktopCapture` is what the rest of `ra` uses; `Screen` implements it for one
X display (MIT-SHM through mss, pointer position through python-xlib). Windows
and macOS adapters will implement the same protocol later.

Frames are numpy arrays of shape (height, width, 4), dtype uint8, in BGRA
byte order as the X server stores 32-bit pixels. The fourth byte is X padding:
its value is whatever the server leaves there (Xvfb: 0 or 255) and carries no
transparency. `grab` returns a view over the buffer mss filled (no copy of our
own); each call returns a fresh buffer, so a frame stays valid after later grabs.

A `Screen` grabs from one thread. Its pointer position may be read from any
thread: the capture reads it with each frame, and the injector's window guard
before each event it would inject. python-xlib's Display is not thread-safe
(two requests in flight at once lose a reply and hang both), so the
connection behind `cursor_position` is used under a lock.
"""

from __future__ import annotations

import threading
from typing import NamedTuple, Protocol, runtime_checkable

import mss
import numpy as np
from mss.exception import ScreenShotError
from Xlib import display as xdisplay  # type: ignore[import-untyped]
from Xlib.error import DisplayError  # type: ignore[import-untyped]

from ra.desktop.codec import ScreenImage
from ra.errors import RaError


class CaptureError(RaError):
    """The screen could not be opened or read."""


class MonitorInfo(NamedTuple):
    """One monitor, in desktop coordinates. Number 0 is the whole desktop."""

    number: int
    x: int
    y: int
    width: int
    height: int


@runtime_checkable
class DesktopCapture(Protocol):
    """What a platform capture adapter offers (X11 today; Windows, macOS later)."""

    def monitors(self) -> list[MonitorInfo]:
        """All monitors; entry 0 is the bounding box of the whole desktop."""
        ...

    def grab(self, monitor: int = 0) -> ScreenImage:
        """Pixels of one monitor (0 = whole desktop) as (h, w, 4) BGRA uint8."""
        ...

    def cursor_position(self) -> tuple[int, int]:
        """The pointer position in desktop coordinates."""
        ...

    def close(self) -> None:
        """Release the connection to the display; safe to call twice."""
        ...


def mss_monitors(screen: mss.base.MSSBase) -> list[MonitorInfo]:
    """mss's monitors (0: all of them together); CaptureError when they cannot be listed."""
    try:
        found = screen.monitors
    except ScreenShotError as exc:
        raise CaptureError(f"cannot list monitors: {exc}") from exc
    return [
        MonitorInfo(i, int(m["left"]), int(m["top"]), int(m["width"]), int(m["height"]))
        for i, m in enumerate(found)
    ]


def mss_grab(screen: mss.base.MSSBase, monitor: int, place: str) -> ScreenImage:
    """Monitor `monitor` (0: all) through mss, as BGRA; `place` names it in errors."""
    try:
        found = screen.monitors
        if not 0 <= monitor < len(found):
            raise CaptureError(f"no monitor {monitor} (this {place} has {len(found) - 1})")
        shot = screen.grab(found[monitor])
    except ScreenShotError as exc:
        raise CaptureError(f"cannot read the screen: {exc}") from exc
    width, height = shot.size
    # A view over mss's fresh bytearray: no copy here.
    return np.frombuffer(shot.raw, dtype=np.uint8).reshape(height, width, 4)


class Screen:
    """`DesktopCapture` for one X11 display.

    ``Screen(display=":57")`` opens that display; ``Screen()`` uses ``$DISPLAY``.
    The environment is not changed. Use as a context manager or call `close`.
    """

    def __init__(self, display: str | None = None) -> None:
        self.display_name = display
        try:
            self._mss = mss.MSS(display=display)
        except ScreenShotError as exc:
            raise CaptureError(f"cannot open X display {display or '$DISPLAY'}: {exc}") from exc
        try:
            self._x = xdisplay.Display(display)
        except (DisplayError, OSError, ValueError) as exc:
            self._mss.close()
            raise CaptureError(f"cannot open X display {display or '$DISPLAY'}: {exc}") from exc
        self._root = self._x.screen().root
        self._x_lock = threading.Lock()  # one request at a time on the Xlib connection
        self._closed = False

    def __enter__(self) -> Screen:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._mss.close()
        with self._x_lock:
            self._x.close()

    def monitors(self) -> list[MonitorInfo]:
        return mss_monitors(self._mss)

    def grab(self, monitor: int = 0) -> ScreenImage:
        return mss_grab(self._mss, monitor, "display")

    def cursor_position(self) -> tuple[int, int]:
        with self._x_lock:
            reply = self._root.query_pointer()
        return int(reply.root_x), int(reply.root_y)
