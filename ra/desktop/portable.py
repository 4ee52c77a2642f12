"""The portable desktop backend: mss for the screen, pynput for input and Esc.

For desktops python-xlib does not drive (macOS, Windows); on Linux it can be
chosen with ``ra ask --backend pynput`` and then runs through pynput's own X
backend. mss and pynput are imported when first used, never at import time:
pynput is installed only where it is needed (it pulls in evdev on Linux,
which needs a C compiler), and `require_backend` says so in one line.

Input. Every event is validated by :func:`ra.desktop.keys.parse_event`, the
same vocabulary as the X11 injector, and Escape is refused twice: by name
there, and here on the pynput key about to be pressed (``Key.esc``). pynput's
listener cannot tell injected keys from the person's, so an injected Esc
would be one the person never pressed.

* Named keys (``Enter``, ``ArrowLeft``, ``Shift`` ...) are pynput's ``Key``
  members; a key the platform lacks (``F24``, ``Help``) is refused.
* Characters: on X, pynput types a character with ``XSendEvent``, which
  xterm and many other clients ignore. So there a character is pressed as
  its keysym (``KeyCode.from_vk``: pynput sends it with XTEST), on the
  keycode pynput's keyboard mapping gives, with Shift pressed around it when
  it needs Shift, or the helper's held Shift lifted around it when it must be
  typed unshifted. A character the keymap lacks, or that needs AltGr, is
  refused (the X11 backend binds a spare keycode for those). Elsewhere pynput
  types the character itself.
* Every key and button pressed is remembered until released, so
  `release_all` lets go of what the helper still holds when control ends.

Esc. `watch_esc` runs a pynput keyboard listener and calls ``on_esc`` once per
press of a key that pynput reports as ``Key.esc``: Esc is known by keysym
only. The X11 backend also knows the person's physical Esc keys by keycode
and ends control when anything but its injector changes the keyboard mapping
(``xmodmap``, ``setxkbmap``); this backend does neither: a keymap that no
longer maps any key to Escape leaves the person without Esc until the helper
is disconnected (``/release`` and ``/disconnect`` in the terminal still work).
On X, pynput's listener says it is ready before the server records; here the
watch returns only once the server has confirmed recording (its StartOfData
reply), so an Esc pressed right after `watch_esc` is never missed. If the
listener stops on its own (the desktop went away), ``on_esc`` is called:
without Esc, no control.

The display. pynput's X backend opens ``$DISPLAY``; it cannot be told
another one. On Linux this backend therefore requires ``display`` to be
``$DISPLAY`` (``ra ask`` sets it before anything starts).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final

from ra.desktop.backend import PYNPUT, PYNPUT_MISSING, BackendUnavailable, EscWatch
from ra.desktop.capture import CaptureError, MonitorInfo, mss_grab, mss_monitors
from ra.desktop.codec import ScreenImage
from ra.desktop.held import HeldKey, Holder
from ra.desktop.keys import (
    ButtonEvent,
    DisplayError,
    KeyEvent,
    PointerEvent,
    RefusedInput,
    ScrollEvent,
    char_keysyms,
    parse_event,
)
from ra.logs import get_logger
from ra.vocabulary import ESCAPE_REFUSED

log = get_logger(__name__)

_ON_X: Final = sys.platform.startswith("linux")
_SHIFT_MASK: Final = 1  # X's ShiftMask, as pynput's keyboard mapping reports it
_START_OF_DATA: Final = 4  # the RECORD reply category that says recording is live

#: Browser ``KeyboardEvent.key`` names -> pynput ``Key`` member names.
_KEYS: Final[dict[str, str]] = {
    "Enter": "enter", "Tab": "tab", "Backspace": "backspace", "Delete": "delete",
    "Insert": "insert", "Home": "home", "End": "end", "PageUp": "page_up",
    "PageDown": "page_down", "ArrowLeft": "left", "ArrowRight": "right", "ArrowUp": "up",
    "ArrowDown": "down", "Shift": "shift", "Control": "ctrl", "Alt": "alt",
    "AltGraph": "alt_gr", "Meta": "cmd", "OS": "cmd", "Super": "cmd",
    "CapsLock": "caps_lock", "NumLock": "num_lock", "ScrollLock": "scroll_lock",
    "Pause": "pause", "PrintScreen": "print_screen", "ContextMenu": "menu",
    **{f"F{n}": f"f{n}" for n in range(1, 25)},
}
#: (``key``, ``code``) -> the right-hand member, for modifiers.
_RIGHT_KEYS: Final[dict[tuple[str, str], str]] = {
    ("Shift", "ShiftRight"): "shift_r", ("Control", "ControlRight"): "ctrl_r",
    ("Alt", "AltRight"): "alt_r", ("Meta", "MetaRight"): "cmd_r", ("Meta", "OSRight"): "cmd_r",
    ("OS", "OSRight"): "cmd_r", ("Super", "MetaRight"): "cmd_r",
}
_BUTTONS: Final = {1: "left", 2: "middle", 3: "right"}


def _load() -> tuple[ModuleType, ModuleType]:
    """pynput's keyboard and mouse modules, or a one-line error saying why not."""
    try:
        from pynput import keyboard, mouse  # type: ignore[import-untyped]
    except ModuleNotFoundError as exc:
        if exc.name == "pynput":
            raise BackendUnavailable(PYNPUT_MISSING) from None
        raise DisplayError(f"pynput cannot drive this desktop: {exc}") from None
    except ImportError as exc:  # pynput found no platform backend that works here
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        raise DisplayError(f"pynput cannot drive this desktop: {first}") from None
    if _ON_X and not keyboard.Controller.__module__.endswith("_xorg"):
        raise DisplayError("pynput is not using X here (is $DISPLAY set?)")
    return keyboard, mouse


class PortableBackend(Holder[Any]):
    """`DesktopBackend` over mss and pynput (thread-safe like the X11 one)."""

    name = PYNPUT

    def __init__(self, display: str | None = None) -> None:
        if _ON_X and display and display != os.environ.get("DISPLAY"):
            raise DisplayError(
                f"the pynput backend uses $DISPLAY ({os.environ.get('DISPLAY') or 'unset'}), "
                f"not {display}: set DISPLAY={display}")
        super().__init__()
        self.display = display
        self._mss: Any = None
        self._keyboard: Any = None  # pynput.keyboard.Controller
        self._mouse: Any = None  # pynput.mouse.Controller
        self._modules: tuple[ModuleType, ModuleType] | None = None

    # -- screen ------------------------------------------------------------------

    def _screen(self) -> Any:
        with self._lock:
            if self._closed:
                raise CaptureError("the desktop is closed")
            if self._mss is None:
                import mss
                from mss.exception import ScreenShotError

                try:
                    self._mss = (mss.MSS(display=self.display) if _ON_X and self.display
                                 else mss.MSS())
                except ScreenShotError as exc:
                    raise CaptureError(f"cannot open the screen: {exc}") from None
            return self._mss

    def monitors(self) -> list[MonitorInfo]:
        return mss_monitors(self._screen())

    def grab(self, monitor: int = 0) -> ScreenImage:
        return mss_grab(self._screen(), monitor, "desktop")

    def cursor_position(self) -> tuple[int, int]:
        with self._lock:  # the mouse controller's connection is the injector's too
            x, y = self._controllers()[1].position
        return int(x), int(y)

    # -- input -------------------------------------------------------------------

    def _controllers(self) -> tuple[Any, Any]:
        with self._lock:
            if self._closed:
                raise DisplayError("the desktop is closed")
            if self._keyboard is None:
                keyboard, mouse = self._modules = self._modules or _load()
                try:
                    self._keyboard = keyboard.Controller()
                    self._mouse = mouse.Controller()
                except Exception as exc:  # noqa: BLE001 - pynput's errors vary by platform
                    raise DisplayError(f"pynput cannot open this desktop: {exc}") from None
            return self._keyboard, self._mouse

    def inject(self, event: object) -> None:
        """Validate ``event`` and inject it; :class:`RefusedInput` if refused (Esc always)."""
        parsed = parse_event(event)
        with self._lock:
            keyboard, mouse = self._controllers()
            try:
                if isinstance(parsed, PointerEvent):
                    mouse.position = self._clamped(parsed.x, parsed.y)
                elif isinstance(parsed, ButtonEvent):
                    self._button(mouse, parsed)
                elif isinstance(parsed, ScrollEvent):
                    self._scroll(mouse, parsed)
                else:
                    self._key(keyboard, parsed)
            except (RefusedInput, DisplayError):
                raise
            except Exception as exc:  # noqa: BLE001 - pynput raises its own, per platform
                if type(exc).__name__ == "InvalidKeyException":
                    raise RefusedInput(
                        f"key {parsed!r} is not on this desktop's keyboard") from None
                raise DisplayError(f"the desktop refused input: {exc!r}") from exc

    def release_all(self) -> None:
        """Release every key and button pressed; errors of a desktop already gone are ignored."""
        with self._lock:
            keys, buttons = self._held.take_all()
            if self._keyboard is None or self._mouse is None:
                return
            buttons_of = self._modules[1].Button if self._modules else None
            for key in keys:
                for one in (key.key, *reversed(key.pressed_mods)):
                    try:
                        self._keyboard.release(one)
                    except Exception:  # noqa: BLE001, S112 - release what still can be
                        continue
            for button in buttons:
                try:
                    self._mouse.release(getattr(buttons_of, _BUTTONS[button]))
                except Exception:  # noqa: BLE001, S112
                    continue

    @property
    def held_keys(self) -> list[Any]:
        """The pynput keys pressed and not yet released (for tests and diagnostics)."""
        with self._lock:
            return [k for held in self._held.keys.values()
                    for k in (*held.pressed_mods, held.key)]

    def _clamped(self, x: int, y: int) -> tuple[int, int]:
        whole = self.monitors()[0]
        return (min(max(x, whole.x), whole.x + whole.width - 1),
                min(max(y, whole.y), whole.y + whole.height - 1))

    def _button(self, mouse: Any, event: ButtonEvent) -> None:
        assert self._modules is not None
        button = getattr(self._modules[1].Button, _BUTTONS[event.button])
        buttons = self._held.buttons
        if event.down and event.button not in buttons:
            mouse.press(button)
            buttons.append(event.button)
        elif not event.down and event.button in buttons:
            mouse.release(button)
            buttons.remove(event.button)

    def _scroll(self, mouse: Any, event: ScrollEvent) -> None:
        steps_x, steps_y = self._held.scroll(event)
        if steps_x or steps_y:
            mouse.scroll(steps_x, -steps_y)  # pynput: +dy is up; ours: +dy is down

    def _key(self, keyboard: Any, event: KeyEvent) -> None:
        ident, keys = event.ident, self._held.keys
        if not event.down:
            release, press = self._held.key_up(ident)
            for key in release:
                keyboard.release(key)
            for key in press:
                keyboard.press(key)
            return
        if ident in keys:  # auto-repeat of a key already down
            keyboard.press(keys[ident].key)
            return
        key, shifted = self._resolve(keyboard, event)
        assert self._modules is not None
        Key = self._modules[0].Key  # noqa: N806 - pynput's name
        if key == Key.esc:
            raise RefusedInput(ESCAPE_REFUSED)
        held = HeldKey(key)
        if shifted is not None:
            shifts = (Key.shift, Key.shift_r)
            ours = [k.key for k in keys.values() if k.key in shifts]
            if shifted and not ours:
                held.pressed_mods.append(Key.shift)
            elif not shifted and ours:
                held.lifted_mods.extend(ours)
        for mod in held.lifted_mods:
            keyboard.release(mod)
        for mod in held.pressed_mods:
            keyboard.press(mod)
        keyboard.press(key)
        keys[ident] = held

    def _resolve(self, keyboard: Any, event: KeyEvent) -> tuple[Any, bool | None]:
        """The pynput key to press for ``event``, and whether it needs Shift (None: pynput
        decides)."""
        assert self._modules is not None
        module = self._modules[0]
        if not event.is_char:
            name = _RIGHT_KEYS.get((event.key, event.code or "")) or _KEYS.get(event.key)
            member = getattr(module.Key, name, None) if name else None
            if member is None:
                raise RefusedInput(f"key {event.key!r} is not on this desktop's keyboard")
            return member, None
        if not _ON_X:
            return module.KeyCode.from_char(event.key), None
        mapping = keyboard.keyboard_mapping  # keysym -> (keycode, shift state)
        for keysym in char_keysyms(event.key):
            found = mapping.get(keysym)
            if found is None:
                continue
            state = int(found[1])
            if state & ~_SHIFT_MASK:
                raise RefusedInput(f"character {event.key!r} needs AltGr: the pynput backend "
                                 "types only what Shift reaches")
            return module.KeyCode.from_vk(keysym), bool(state & _SHIFT_MASK)
        raise RefusedInput(f"character {event.key!r} is not on this desktop's keyboard")

    # -- Esc ---------------------------------------------------------------------

    def watch_esc(
        self, on_esc: Callable[[], None], *,
        on_keymap_change: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> EscWatch:
        """Call ``on_esc`` per Esc press, and once if the listener dies
        (``on_keymap_change`` and ``on_error`` are X11's only: unused)."""
        with self._lock:
            if self._closed:
                raise DisplayError("the desktop is closed")
            self._modules = self._modules or _load()
            keyboard = self._modules[0]
        watch = _EscListener(keyboard, on_esc)
        watch.start()
        return watch

    def close(self) -> None:
        with self._lock:
            if not self._let_go_and_close():
                return
            keyboard, mouse, screen = self._keyboard, self._mouse, self._mss
            self._keyboard = self._mouse = self._mss = None
        for controller in (keyboard, mouse):
            # pynput's X controllers close their connection only when collected, and
            # complain on stderr if the display is gone by then: close it now, once.
            conn = getattr(controller, "_display", None)
            if conn is not None:
                del controller._display
                try:
                    conn.close()
                except Exception:  # noqa: BLE001, S110 - already gone
                    pass
        if screen is not None:
            screen.close()


class _EscListener:
    """A pynput keyboard listener that calls ``on_esc`` once per Esc press."""

    def __init__(self, keyboard: ModuleType, on_esc: Callable[[], None]) -> None:
        self._on_esc = on_esc
        self._key_esc = keyboard.Key.esc
        self._down = False
        self._stopping = False
        self._live = threading.Event()
        self._ended = threading.Event()
        #: How many Esc presses were seen (each one called ``on_esc``).
        self.presses = 0
        self._listener = _listener_class(keyboard)(
            on_press=self._pressed, on_release=self._released)
        self._listener.watch = self

    def start(self, timeout: float = 5.0) -> None:
        """Start listening; return once keys are being watched."""
        self._listener.start()
        if not _ON_X:  # pynput's own ready; its wait has no time limit, and a listener
            # thread that dies first never makes it ready: wait for it aside, bounded.
            ready = threading.Thread(target=self._listener.wait, daemon=True)
            ready.start()
            ready.join(timeout)
            if not ready.is_alive():
                self._live.set()
        # On X, live once the server records (after pynput's ready), or never if it died.
        if not self._live.wait(timeout) or self._ended.is_set():
            self.stop()
            raise DisplayError("pynput's listener did not start watching the keyboard")

    @property
    def running(self) -> bool:
        return bool(self._listener.is_alive())

    def stop(self, timeout: float = 5.0) -> None:
        if self._stopping:
            return
        self._stopping = True
        if not self._ended.is_set():
            try:
                self._listener.stop()
            except Exception:  # noqa: BLE001, S110 - the desktop went away: nothing to stop
                pass
            if _ON_X:
                _end_recording(self._listener)
        if self._listener is not threading.current_thread():
            self._listener.join(timeout)

    def _pressed(self, key: Any, injected: bool = False) -> None:
        # `injected` says nothing on X (XTEST events are the person's to pynput): ignored.
        if not self._is_esc(key) or self._stopping:
            return
        if self._down:
            return  # auto-repeat of a held Esc
        self._down = True
        self.presses += 1
        self._call_safely()

    def _released(self, key: Any, injected: bool = False) -> None:
        if self._is_esc(key):
            self._down = False

    def _is_esc(self, key: Any) -> bool:
        return bool(key == self._key_esc or getattr(key, "char", None) == "\x1b")

    def _call_safely(self) -> None:
        try:
            self._on_esc()
        except Exception as exc:  # noqa: BLE001 - a bad callback must not stop the listener
            log.error("esc_callback_failed", backend=PYNPUT, error=repr(exc))

    def _finished(self) -> None:
        """On the listener's thread, as it ends: if nobody stopped it, that is a failure."""
        was_live = self._live.is_set()
        self._ended.set()
        self._live.set()
        if was_live and not self._stopping:
            log.error("esc_watcher_failed", backend=PYNPUT)
            self._call_safely()


def _end_recording(listener: Any) -> None:
    """Disable the RECORD context of pynput's X listener, from a connection of our own.

    pynput's `stop` queues the request on the connection its thread is blocked
    reading, where it waits unsent until the next key event wakes that thread;
    until then the listener would run on. (A RECORD context is the server's:
    any client may disable it, as :mod:`ra.desktop.esc` does.)
    """
    context = getattr(listener, "_context", None)
    if context is None:
        return
    from Xlib import display as xdisplay  # type: ignore[import-untyped]
    from Xlib import error as xerror

    try:
        conn = xdisplay.Display()
    except (xerror.DisplayError, xerror.ConnectionClosedError, OSError):
        return  # the display is gone: so is the recording
    try:
        conn.record_disable_context(context)
        conn.sync()
    except (xerror.XError, xerror.ConnectionClosedError, OSError):
        pass
    finally:
        conn.close()


_CLASSES: dict[int, type] = {}


def _listener_class(keyboard: ModuleType) -> Any:
    """pynput's keyboard listener, told when recording is live and when it ends."""
    found = _CLASSES.get(id(keyboard))
    if found is not None:
        return found

    class Listener(keyboard.Listener):  # type: ignore[name-defined,misc]
        watch: _EscListener

        def _handler(self, events: Any) -> Any:  # pynput's X backend: the RECORD callback
            if getattr(events, "category", None) == _START_OF_DATA:
                self.watch._live.set()
            return super()._handler(events)

        def run(self) -> None:
            try:
                super().run()
            except Exception as exc:  # noqa: BLE001 - the desktop went away; on_esc says so
                log.info("esc_listener_ended", backend=PYNPUT, error=repr(exc))
            finally:
                self.watch._finished()

    _CLASSES[id(keyboard)] = Listener
    return Listener
