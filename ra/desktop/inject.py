"""Inject a helper's input into an X display through XTEST.

Why XTEST: ``XSendEvent`` (what pynput's ``type()``/``tap()`` of characters
uses) sets the ``send_event`` flag, and xterm and many other clients ignore
such events.  XTEST events are indistinguishable from the real keyboard and
mouse, which is exactly why Escape is never injected (see
:mod:`ra.desktop.keys`) and why :meth:`Injector.release_all` exists: when
control is revoked, every key and button the helper still holds is released,
so nothing stays stuck for the person at the machine.

Every event is followed by a ``sync`` (a round trip), so when :meth:`inject`
returns, the X server has processed the event, and a failure is reported for
the event that caused it.

Typing a character:

* the keymap has it unshifted or shifted (``a``, ``A``, ``!``, ``>``): press
  its keycode, with Shift pressed around it when needed, or with the
  helper's held Shift lifted around it when it must be typed unshifted;
* the keymap does not have it (``é`` on a US keymap, ``ж``): bind its keysym
  to a spare keycode (one with no keysym at all) with ``ChangeKeyboardMapping``,
  the trick xdotool uses, and press that.  Bindings are kept (least recently
  used first to go) while the injector lives and removed by :meth:`close`.

A character is the one the helper's browser produced, so a held AltGr
(``AltGraph``, ``ISO_Level3_Shift``) or ``Mode_switch`` is lifted around it
too: ``@`` typed with the helper's AltGr down is ``@``, never the third level
of the person's key that types ``@`` without it.

Named keys (``Enter``, ``Tab``, ``ArrowLeft``, ``AltGraph`` ...) are pressed as
they are: the helper's held modifiers apply (``Shift`` + ``Tab`` stays
Shift+Tab).

The keycodes that typed Escape when the injector opened (or the ones it is
given: the person's Esc keys of the session's start) are never pressed, even
after the keymap binds them to something else: the Esc watcher still takes
them for Esc (:mod:`ra.desktop.esc`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from Xlib import X, error  # type: ignore[import-untyped]
from Xlib import display as xdisplay

from ra.desktop.held import HeldKey, Holder
from ra.desktop.keys import (
    ButtonEvent,
    DisplayError,
    InputEvent,
    KeyEvent,
    Keymap,
    PointerEvent,
    RefusedInput,
    ScrollEvent,
    Stroke,
    parse_event,
)
from ra.vocabulary import ESCAPE_REFUSED

#: X core buttons for the wheel: (negative direction, positive direction).
_WHEEL_Y = (4, 5)  # up, down
_WHEEL_X = (6, 7)  # left, right

LatencyHook = Callable[[InputEvent, float], None]


@dataclass
class InjectStats:
    """A cheap running tally, for benchmarks: events injected and time spent."""

    events: int = 0
    seconds: float = 0.0
    last: float = 0.0

    @property
    def mean(self) -> float:
        return self.seconds / self.events if self.events else 0.0


class Injector(Holder[int]):
    """Inject validated input events into ``display`` (``":57"``) with XTEST.

    Thread-safe: :meth:`inject`, :meth:`release_all` and :meth:`close` may be
    called from different threads (an Esc watcher's callback calls
    :meth:`release_all` while the network thread injects).
    """

    def __init__(
        self, display: str = ":57", *, max_spare: int = 8,
        escape_keycodes: Iterable[int] | None = None,
    ) -> None:
        super().__init__()
        self.display_name = display
        try:
            self._d: Any = xdisplay.Display(display)
        except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
            raise DisplayError(f"cannot open X display {display}: {exc}") from None
        self._x_failures: list[str] = []
        self._d.set_error_handler(self._on_x_error)
        if not self._d.has_extension("XTEST"):
            self._d.close()
            raise DisplayError(f"X display {display} has no XTEST extension")
        screen = self._d.screen()
        self.width = int(screen.width_in_pixels)
        self.height = int(screen.height_in_pixels)
        #: Keycodes never pressed: the ones that typed Escape when it opened, or those given.
        self.escape_keycodes: frozenset[int] = (
            Keymap.from_display(self._d).escape_keycodes() if escape_keycodes is None
            else frozenset(escape_keycodes)
        )
        self._keymap = Keymap.from_display(self._d, self.escape_keycodes)
        self._bound: OrderedDict[int, int] = OrderedDict()  # keysym -> spare keycode
        self._max_spare = max_spare
        self.stats = InjectStats()
        #: Called after each injected event with (event, seconds it took).
        self.latency_hook: LatencyHook | None = None

    # -- public API ----------------------------------------------------------

    def inject(self, event: object) -> None:
        """Validate ``event`` (dict, JSON text or typed event) and inject it.

        Raises :class:`RefusedInput` if the event is refused (Escape included:
        ``RefusedInput("esc is never injected")``), :class:`DisplayError` if the
        display failed.  A refused event changes nothing.
        """
        parsed = parse_event(event)
        started = time.perf_counter()
        with self._lock:
            if self._closed:
                raise DisplayError("the injector is closed")
            with self._x_errors():
                if isinstance(parsed, PointerEvent):
                    self._pointer(parsed)
                elif isinstance(parsed, ButtonEvent):
                    self._button(parsed)
                elif isinstance(parsed, ScrollEvent):
                    self._scroll(parsed)
                else:
                    self._key(parsed)
                self._sync()
        elapsed = time.perf_counter() - started
        self.stats.events += 1
        self.stats.seconds += elapsed
        self.stats.last = elapsed
        hook = self.latency_hook
        if hook is not None:
            hook(parsed, elapsed)

    def release_all(self) -> None:
        """Release every key and button this injector pressed.  Never raises for X errors
        of a display that is already gone (there is nothing left to release then)."""
        with self._lock:
            keys, buttons = self._held.take_all()
            if self._closed:
                return
            try:
                for key in keys:
                    self._fake(X.KeyRelease, key.key)
                    for mod in reversed(key.pressed_mods):
                        self._fake(X.KeyRelease, mod)
                for button in buttons:
                    self._fake(X.ButtonRelease, button)
                self._d.sync()
            except (error.XError, error.ConnectionClosedError, OSError):
                pass

    def pointer(self) -> tuple[int, int] | None:
        """Where the pointer is now, in root-window pixels (None if the display failed)."""
        with self._lock:
            if self._closed:
                return None
            try:
                reply = self._d.screen().root.query_pointer()
            except (error.XError, error.ConnectionClosedError, OSError):
                return None
            return int(reply.root_x), int(reply.root_y)

    @property
    def client_id(self) -> int:
        """The resource-id base of this injector's X connection (what XRecord reports)."""
        return int(self._d.display.info.resource_id_base)

    @property
    def held_keycodes(self) -> list[int]:
        """Keycodes currently pressed by this injector (for tests and diagnostics)."""
        with self._lock:
            codes: list[int] = []
            for key in self._held.keys.values():
                codes.extend(key.pressed_mods)
                codes.append(key.key)
            return codes

    @property
    def held_buttons(self) -> list[int]:
        with self._lock:
            return list(self._held.buttons)

    def close(self) -> None:
        """Release everything, remove spare-keycode bindings, close the connection."""
        with self._lock:
            if not self._let_go_and_close():
                return
            try:
                self._drain_events()
                for keysym, keycode in self._bound.items():
                    if self._keymap.keysyms(keycode)[:1] == (keysym,):
                        self._d.change_keyboard_mapping(keycode, [(0, 0)])
                self._bound.clear()
                self._d.sync()
                self._d.close()
            except (error.XError, error.ConnectionClosedError, OSError):
                pass

    def __enter__(self) -> Injector:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- events --------------------------------------------------------------

    def _pointer(self, event: PointerEvent) -> None:
        x = min(max(event.x, 0), self.width - 1)
        y = min(max(event.y, 0), self.height - 1)
        self._d.xtest_fake_input(X.MotionNotify, 0, x=x, y=y)

    def _button(self, event: ButtonEvent) -> None:
        buttons = self._held.buttons
        if event.down and event.button not in buttons:
            self._fake(X.ButtonPress, event.button)
            buttons.append(event.button)
        elif not event.down and event.button in buttons:
            self._fake(X.ButtonRelease, event.button)
            buttons.remove(event.button)

    def _scroll(self, event: ScrollEvent) -> None:
        steps_x, steps_y = self._held.scroll(event)
        for steps, (negative, positive) in ((steps_y, _WHEEL_Y), (steps_x, _WHEEL_X)):
            button = positive if steps > 0 else negative
            for _ in range(abs(steps)):
                self._fake(X.ButtonPress, button)
                self._fake(X.ButtonRelease, button)

    def _key(self, event: KeyEvent) -> None:
        self._drain_events()
        ident = event.ident
        keys = self._held.keys
        if not event.down:
            release, press = self._held.key_up(ident)
            for keycode in release:
                self._fake(X.KeyRelease, keycode)
            for keycode in press:
                self._fake(X.KeyPress, keycode)
            return
        if ident in keys:  # auto-repeat of a key already down
            self._fake(X.KeyPress, keys[ident].key)
            return
        keysym, stroke = self._keymap.lookup_key(event)
        if stroke is None:
            if not event.is_char:
                raise RefusedInput(f"key {event.key!r} is not on this display's keyboard")
            stroke = Stroke(self._bind_spare(keysym), shift=False)
            adjust_shift = False
        else:
            adjust_shift = event.is_char
        if self._keymap.produces_escape(stroke.keycode):
            raise RefusedInput(ESCAPE_REFUSED)
        held = HeldKey(stroke.keycode)
        if adjust_shift:
            shifts = set(self._keymap.shift_keycodes)
            ours = [k.key for k in keys.values() if k.key in shifts]
            if stroke.shift and not ours and self._keymap.shift_keycodes:
                held.pressed_mods.append(self._keymap.shift_keycodes[0])
            elif not stroke.shift and ours:
                held.lifted_mods.extend(ours)
        if event.is_char:
            switches = self._keymap.level_switch_keycodes
            held.lifted_mods.extend(k.key for k in keys.values() if k.key in switches)
        for mod in held.lifted_mods:
            self._fake(X.KeyRelease, mod)
        for mod in held.pressed_mods:
            self._fake(X.KeyPress, mod)
        self._fake(X.KeyPress, held.key)
        keys[ident] = held

    # -- keymap --------------------------------------------------------------

    def _bind_spare(self, keysym: int) -> int:
        """Bind ``keysym`` to a spare keycode (reusing an existing binding)."""
        if keysym in self._bound:
            self._bound.move_to_end(keysym)
            return self._bound[keysym]
        held = {key.key for key in self._held.keys.values()}
        in_use = set(self._bound.values())
        free = [k for k in self._keymap.spare_keycodes() if k not in in_use]
        if len(self._bound) >= self._max_spare or not free:
            victim = next((s for s, k in self._bound.items() if k not in held), None)
            if victim is None:
                raise RefusedInput("no spare keycode left to type this character")
            keycode = self._bound.pop(victim)
        else:
            keycode = free[0]
        self._d.change_keyboard_mapping(keycode, [(keysym, keysym)])
        self._sync()
        self._bound[keysym] = keycode
        self._reload_keymap()
        return keycode

    def _drain_events(self) -> None:
        """Read pending events (MappingNotify, mostly) so they neither pile up nor go stale."""
        changed = False
        while self._d.pending_events():
            event = self._d.next_event()
            if event.type == X.MappingNotify:
                changed = True
        if changed:
            self._reload_keymap()

    def _reload_keymap(self) -> None:
        self._keymap = Keymap.from_display(self._d, self.escape_keycodes)
        for keysym, keycode in list(self._bound.items()):
            if self._keymap.keysyms(keycode)[:1] != (keysym,):
                del self._bound[keysym]  # someone remapped it: not ours any more

    # -- X plumbing ----------------------------------------------------------

    def _on_x_error(self, err: Any, request: Any = None) -> None:
        self._x_failures.append(str(err))

    def _sync(self) -> None:
        """Round trip to the server; raise for any X error since the last sync."""
        self._d.sync()
        if self._x_failures:
            failures, self._x_failures = self._x_failures, []
            raise DisplayError(f"X display {self.display_name} refused: {failures[0]}")

    def _fake(self, event_type: int, detail: int) -> None:
        self._d.xtest_fake_input(event_type, detail)

    def _x_errors(self) -> _XErrors:
        return _XErrors(self.display_name)


class _XErrors:
    """Turn python-xlib failures into :class:`DisplayError` (RefusedInput passes through)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, RefusedInput):
            return
        if isinstance(exc, error.XError | error.ConnectionClosedError | OSError):
            raise DisplayError(f"X display {self.name} failed: {exc}") from exc
