"""The desktop behind one small interface, and the two backends that offer it.

A session needs four things of the person's desktop: its monitors, their
pixels, a way to inject the helper's input, and a watch for Esc. That is
`DesktopBackend`. Two backends implement it:

* ``x11`` (`X11Backend`, the default on Linux): python-xlib and mss on one
  named X display. XTEST injection (:mod:`ra.desktop.inject`), the Esc
  watcher over RECORD (:mod:`ra.desktop.esc`), which also ends control when
  anything but the injector changes the keyboard mapping.
* ``pynput`` (`ra.desktop.portable.PortableBackend`, the default elsewhere):
  mss and pynput, for desktops where python-xlib does not apply (macOS,
  Windows). On Linux it can be chosen (``ra ask --backend pynput``) and runs
  through pynput's own X backend; there it knows Esc by keysym only, and a
  change of the keyboard mapping does not end control (only X11 watches it).

Rules every backend keeps, whatever the platform (a contract test runs the
same checks against both):

* Escape is never injected: `inject` refuses it (:class:`RefusedInput`), since
  no watcher can tell an injected Esc from the person's.
* Nothing opens before it is needed: constructing a backend touches no
  display; `monitors`/`grab` open the screen, `inject`/`watch_esc` the input.
* `watch_esc` returns once Esc is being watched; ``on_esc`` runs on the
  watcher's thread, once per press; if watching fails, ``on_esc`` is called
  (fail-safe: no Esc, no control).
* `release_all` lets go of every key and button the helper holds; `close`
  releases everything and is safe to call twice.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

from ra.desktop.capture import MonitorInfo, Screen
from ra.desktop.codec import ScreenImage
from ra.desktop.esc import EscWatcher
from ra.desktop.inject import Injector
from ra.errors import InputError
from ra.logs import get_logger

_log = get_logger(__name__)

X11: Final = "x11"
PYNPUT: Final = "pynput"
BACKENDS: Final = (X11, PYNPUT)
PYNPUT_MISSING: Final = (
    "the pynput backend needs pynput: pip install 'pynput>=1.7' (or use --backend x11)")


class BackendUnavailable(InputError):
    """The desktop backend asked for cannot run here (its library is not installed)."""


@runtime_checkable
class EscWatch(Protocol):
    """A running watch for Esc."""

    @property
    def running(self) -> bool:
        """Whether Esc is still being watched."""
        ...

    def stop(self) -> None:
        """Stop watching (idempotent; may be called from ``on_esc``)."""
        ...


@runtime_checkable
class DesktopBackend(Protocol):
    """The person's desktop: screen out, the helper's input in, Esc watched."""

    name: str

    def monitors(self) -> list[MonitorInfo]:
        """All monitors; entry 0 is the bounding box of the whole desktop."""
        ...

    def grab(self, monitor: int = 0) -> ScreenImage:
        """Pixels of one monitor (0 = whole desktop) as (h, w, 4) BGRA uint8: a fresh
        array each call, which the backend never changes afterwards (the encoder may
        keep it as its last frame)."""
        ...

    def cursor_position(self) -> tuple[int, int]:
        """The pointer position in desktop coordinates."""
        ...

    def inject(self, event: object) -> None:
        """Validate and inject one input event; :class:`RefusedInput` if refused (Esc always)."""
        ...

    def release_all(self) -> None:
        """Release every key and button `inject` pressed."""
        ...

    def watch_esc(
        self, on_esc: Callable[[], None], *,
        on_keymap_change: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> EscWatch:
        """Watch for Esc (and, where the backend can, keyboard mapping changes);
        ``on_error``: the watch died and can no longer hear Esc (where the backend
        can tell; else it calls ``on_esc``, which ends control all the same)."""
        ...

    def close(self) -> None:
        """Release everything and close every connection; safe to call twice."""
        ...


def default_backend() -> str:
    """``x11`` on Linux, ``pynput`` on the desktops python-xlib does not drive."""
    return X11 if sys.platform.startswith("linux") else PYNPUT


def require_backend(name: str) -> None:
    """Raise `BackendUnavailable` (one line) if backend ``name`` cannot be loaded here."""
    if name not in BACKENDS:
        raise BackendUnavailable(f"no desktop backend {name!r} (choose {' or '.join(BACKENDS)})")
    if name == PYNPUT and importlib.util.find_spec("pynput") is None:
        raise BackendUnavailable(PYNPUT_MISSING)


def open_backend(name: str, display: str | None) -> DesktopBackend:
    """The backend ``name`` for ``display`` (nothing is opened yet)."""
    require_backend(name)
    backend: DesktopBackend
    if name == PYNPUT:
        from ra.desktop.portable import PortableBackend

        backend = PortableBackend(display)
    elif not display:
        raise BackendUnavailable("the x11 backend needs an X display (--display or $DISPLAY)")
    else:
        backend = X11Backend(display)
    _log.info("desktop.backend", backend=name, display=display)
    return backend


class X11Backend:
    """`DesktopBackend` for one X display: `Screen`, `Injector` and `EscWatcher`.

    The injector opens with the first `inject` or `watch_esc` and reads the
    keycodes that type Escape then; they are kept while the backend lives:
    the injector never presses them and every watcher takes them for Esc.
    Watchers trust the injector's own keymap changes (spare keycodes bound for
    characters the keymap lacks) and call ``on_keymap_change`` for any other.
    """

    name = X11

    def __init__(self, display: str) -> None:
        self.display = display
        self._screen: Screen | None = None
        self._injector: Injector | None = None

    @property
    def injector(self) -> Injector:
        """The XTEST injector (opened on first use)."""
        if self._injector is None:
            self._injector = Injector(self.display)
        return self._injector

    @property
    def screen(self) -> Screen:
        """The capture connection (opened on first use)."""
        if self._screen is None:
            self._screen = Screen(self.display)
        return self._screen

    def monitors(self) -> list[MonitorInfo]:
        return self.screen.monitors()

    def grab(self, monitor: int = 0) -> ScreenImage:
        return self.screen.grab(monitor)

    def cursor_position(self) -> tuple[int, int]:
        return self.screen.cursor_position()

    def inject(self, event: object) -> None:
        self.injector.inject(event)

    def release_all(self) -> None:
        if self._injector is not None:
            self._injector.release_all()

    def watch_esc(
        self, on_esc: Callable[[], None], *,
        on_keymap_change: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> EscWatch:
        injector = self.injector
        watcher = EscWatcher(
            injector.display_name, on_esc, on_keymap_change=on_keymap_change,
            escape_keycodes=injector.escape_keycodes, trusted_clients=(injector.client_id,),
            on_error=on_error,
        )
        watcher.start()
        return watcher

    def close(self) -> None:
        injector, self._injector = self._injector, None
        screen, self._screen = self._screen, None
        try:
            if injector is not None:
                injector.close()
        finally:
            if screen is not None:
                screen.close()
