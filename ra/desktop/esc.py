"""Watch the person's keyboard for Esc while a helper has control.

Esc, pressed by anything on the display, means "give control back".  The
injector never injects Esc (:mod:`ra.desktop.inject`), so any Esc seen here
came from the person (or from a tool they ran, such as ``xdotool key Escape``).

How: the X RECORD extension, used directly through python-xlib rather than
through pynput's ``keyboard.Listener`` (which also uses RECORD on X):

* **The display is named explicitly.**  pynput's xorg backend opens its
  connections with ``Xlib.display.Display()``, i.e. from the ``DISPLAY``
  environment variable read when the listener starts, so targeting ``:57``
  would mean mutating ``os.environ["DISPLAY"]`` for the whole process, racing
  with every other thread and library that opens a display.  Here each
  watcher opens its own connections to the display it is given.
* **Only key events are recorded** (device events KeyPress..KeyRelease).  A
  key counts as Esc if its keycode typed Escape when watching started (the
  person's physical Esc, or the ``escape_keycodes`` given: recognised by
  keycode, so remapping it does not disarm it), or if the display's
  *current* keymap says it types Escape, looked up when the key is pressed,
  so a remapped keyboard (``caps:swapescape``) is followed.
* **Changes of the keyboard mapping are recorded too**, when
  ``on_keymap_change`` is given: the requests that change it (core
  ``ChangeKeyboardMapping`` and ``SetModifierMapping``; XKB ``SetMap``,
  ``SetCompatMap``, ``SetDeviceInfo`` and ``GetKbdByName`` that loads a
  keymap, as ``setxkbmap`` does; XInput ``ChangeDeviceKeyMapping`` and
  ``SetDeviceModifierMapping``).  RECORD names the client that sent each, so
  those of ``trusted_clients`` (the injector, binding spare keycodes for
  characters the keymap lacks) are let through while they live (the server
  may give a dead client's id to the next one), and any other calls
  ``on_keymap_change`` with the request's name.  A helper who remaps Esc
  from a terminal on the desktop (``xmodmap -e 'keycode 9 = a'``) thus
  loses control at once.
* **start() returns once recording is live** (the server's StartOfData reply
  has arrived), so an Esc pressed right after ``start()`` is never missed.

``on_esc`` runs on the watcher's own thread, once per Esc press (auto-repeat
of a held Esc does not call it again), never concurrently with itself or with
``on_keymap_change`` (once per change request).  Both should be quick (revoke
control, :meth:`Injector.release_all`); exceptions they raise are logged and
do not stop the watcher.  They may call :meth:`stop`.

Fail-safe: if the watcher dies (the X connection is lost), it can no longer
hear Esc, so control must not continue: ``on_error`` is called with the
exception, and by default that means calling ``on_esc``.
"""

from __future__ import annotations

import functools
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from Xlib import X, display, error  # type: ignore[import-untyped]
from Xlib.ext import record  # type: ignore[import-untyped]
from Xlib.protocol import rq  # type: ignore[import-untyped]

from ra.desktop.keys import XK_ESCAPE, DisplayError, Keymap
from ra.logs import get_logger

log = get_logger(__name__)

#: Core requests that change the keyboard mapping.
_CORE_CHANGES: dict[int, str] = {100: "ChangeKeyboardMapping", 118: "SetModifierMapping"}
#: Extension requests that change it: extension -> {minor opcode: name}.
_EXT_CHANGES: dict[str, dict[int, str]] = {
    "XKEYBOARD": {9: "XkbSetMap", 11: "XkbSetCompatMap", 23: "XkbGetKbdByName",
                  25: "XkbSetDeviceInfo"},
    "XInputExtension": {25: "ChangeDeviceKeyMapping", 27: "SetDeviceModifierMapping"},
}
_XKB_GET_KBD_BY_NAME = 23
_XKB_LOAD_OFFSET = 10  # xkbGetKbdByNameReq.load: a GetKbdByName that only reads changes nothing


def _record_range(**fields: object) -> dict[str, object]:
    """One RECORD range: nothing but the ``fields`` given."""
    return {
        "core_requests": (0, 0), "core_replies": (0, 0), "ext_requests": (0, 0, 0, 0),
        "ext_replies": (0, 0, 0, 0), "delivered_events": (0, 0), "device_events": (0, 0),
        "errors": (0, 0), "client_started": False, "client_died": False, **fields,
    }


class EscWatcher:
    """Call ``on_esc`` whenever Escape is pressed on ``display`` (``":57"``)."""

    def __init__(
        self,
        display: str,
        on_esc: Callable[[], None],
        *,
        on_error: Callable[[BaseException], None] | None = None,
        on_keymap_change: Callable[[str], None] | None = None,
        escape_keycodes: Iterable[int] | None = None,
        trusted_clients: Iterable[int] = (),
    ) -> None:
        self.display_name = display
        self._on_esc = on_esc
        self._on_error = on_error
        self._on_keymap_change = on_keymap_change
        self._trusted = set(trusted_clients)
        #: The physical Esc keys: given, else those that type Escape when watching starts.
        self.escape_keycodes: frozenset[int] = frozenset(escape_keycodes or ())
        self._read_escape_keycodes = escape_keycodes is None
        self._ext_changes: dict[int, dict[int, str]] = {}  # major opcode -> minor -> name
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self._control: Any = None
        self._data: Any = None
        self._lookup: Any = None
        self._context: int | None = None
        self._stopping = False
        self._esc_down: set[int] = set()
        self._escape_codes: dict[int, bool] = {}
        #: How many Esc presses were seen (each one called ``on_esc``).
        self.presses = 0
        #: How many keyboard mapping changes were seen (each one called ``on_keymap_change``).
        self.keymap_changes = 0
        #: Why the watcher stopped on its own, if it did.
        self.failure: BaseException | None = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self, timeout: float = 5.0) -> None:
        """Start watching; return once the X server is recording key events."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("EscWatcher.start() called twice")
            try:
                self._control = display.Display(self.display_name)
                self._data = display.Display(self.display_name)
                self._lookup = display.Display(self.display_name)
            except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
                self._close_connections()
                raise DisplayError(f"cannot open X display {self.display_name}: {exc}") from None
            if not self._control.has_extension("RECORD"):
                self._close_connections()
                raise DisplayError(f"X display {self.display_name} has no RECORD extension")
            if self._read_escape_keycodes:
                self.escape_keycodes = Keymap.from_display(self._lookup).escape_keycodes()
            self._context = self._control.record_create_context(
                0, [record.AllClients], self._ranges()
            )
            self._control.sync()
            self._thread = threading.Thread(
                target=self._run, name=f"esc-watcher{self.display_name}", daemon=True
            )
            self._thread.start()
        if not self._started.wait(timeout):
            self.stop()
            raise DisplayError(f"X display {self.display_name} did not start recording keys")
        if self.failure is not None:
            self.stop()
            raise DisplayError(f"watching Esc on {self.display_name} failed: {self.failure}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching (idempotent; may be called from ``on_esc``)."""
        with self._lock:
            thread = self._thread
            if thread is None or self._stopping:
                return
            self._stopping = True
            if self._control is not None and self._context is not None:
                try:
                    self._control.record_disable_context(self._context)
                    self._control.sync()
                except (error.XError, error.ConnectionClosedError, OSError):
                    pass
        if thread is not threading.current_thread():
            thread.join(timeout)
            with self._lock:
                self._close_connections()

    def __enter__(self) -> EscWatcher:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _ranges(self) -> list[dict[str, object]]:
        """What to record: key presses, and (if watched) the keymap-changing requests."""
        ranges = [_record_range(device_events=(X.KeyPress, X.KeyRelease))]
        if self._on_keymap_change is None:
            return ranges
        ranges += [_record_range(core_requests=(op, op)) for op in _CORE_CHANGES]
        ranges.append(_record_range(client_died=True))  # a trusted client's id is not reused
        for name, minors in _EXT_CHANGES.items():
            found = self._control.query_extension(name)
            if found is None:
                continue
            major = int(found.major_opcode)
            self._ext_changes[major] = minors
            ranges += [_record_range(ext_requests=(major, major, minor, minor))
                       for minor in minors]
        return ranges

    # -- the watcher thread ---------------------------------------------------

    def _run(self) -> None:
        try:
            self._data.record_enable_context(self._context, self._on_record)
            if not self._stopping:  # the server ended recording on its own (it went away)
                raise DisplayError(f"X display {self.display_name} stopped recording keys")
        except BaseException as exc:  # noqa: BLE001 - reported, then the thread ends
            if not self._stopping:
                self.failure = exc
        finally:
            self._started.set()
            with self._lock:
                self._close_connections()
        if self.failure is not None and not self._stopping:
            log.error("esc_watcher_failed", display=self.display_name, error=str(self.failure))
            self._call_safely(self._fail)

    def _fail(self) -> None:
        failure = self.failure
        assert failure is not None
        if self._on_error is not None:
            self._on_error(failure)
        else:
            self._on_esc()

    def _on_record(self, reply: Any) -> None:
        if reply.category == record.StartOfData:
            self._started.set()
            return
        if self._stopping:
            return
        if reply.category == record.ClientDied:
            self._trusted.discard(int(reply.id_base))
            return
        if reply.category == record.FromClient:
            if int(reply.id_base) not in self._trusted:
                for what in self._changes(bytes(reply.data), bool(reply.client_swapped)):
                    self.keymap_changes += 1
                    log.info("keymap_changed", display=self.display_name, request=what,
                             client=hex(int(reply.id_base)))
                    self._call_safely(functools.partial(self._keymap_changed, what))
            return
        if reply.category != record.FromServer:
            return
        data = reply.data
        while data:
            event, data = rq.EventField(None).parse_binary_value(
                data, self._data.display, None, None
            )
            keycode = int(event.detail)
            if event.type == X.KeyRelease:
                self._esc_down.discard(keycode)
            elif event.type == X.KeyPress and self._is_escape(keycode):
                if keycode in self._esc_down:
                    continue  # auto-repeat of a held Esc
                self._esc_down.add(keycode)
                self.presses += 1
                self._call_safely(self._on_esc)

    def _keymap_changed(self, what: str) -> None:
        if self._on_keymap_change is not None:
            self._on_keymap_change(what)

    def _changes(self, data: bytes, swapped: bool) -> list[str]:
        """The keymap-changing requests in recorded request ``data`` (one or more requests,
        in the client's byte order).  What cannot be read counts as a change."""
        order = "<" if (sys.byteorder == "little") != swapped else ">"
        found: list[str] = []
        while len(data) >= 4:
            major, minor = data[0], data[1]
            (length,) = struct.unpack(order + "H", data[2:4])
            if length == 0 and len(data) >= 8:  # BIG-REQUESTS: a 32-bit length follows
                (length,) = struct.unpack(order + "I", data[4:8])
            size = length * 4
            if major in _CORE_CHANGES:
                found.append(_CORE_CHANGES[major])
            elif major in self._ext_changes:
                if not (minor == _XKB_GET_KBD_BY_NAME and len(data) > _XKB_LOAD_OFFSET
                        and self._ext_changes[major] is _EXT_CHANGES["XKEYBOARD"]
                        and data[_XKB_LOAD_OFFSET] == 0):
                    found.append(self._ext_changes[major].get(minor, f"request {major}.{minor}"))
            else:
                found.append(f"request {major}")
            if size < 4:
                break
            data = data[size:]
        if 0 < len(data) < 4:
            found.append("a request cut short")
        return found

    def _is_escape(self, keycode: int) -> bool:
        """Whether ``keycode`` is a physical Esc key, or types Escape in the current keymap."""
        if keycode in self.escape_keycodes:
            return True
        try:
            row = self._lookup.get_keyboard_mapping(keycode, 1)[0]
        except (error.XError, error.ConnectionClosedError, OSError, IndexError):
            # Cannot ask: fall back to the last answer, else to the usual Esc keycode.
            return self._escape_codes.get(keycode, keycode == 9)
        answer = XK_ESCAPE in tuple(row)[:2]
        self._escape_codes[keycode] = answer
        return answer

    def _call_safely(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception as exc:  # noqa: BLE001 - a bad callback must not stop the watcher
            log.error("esc_callback_failed", display=self.display_name, error=repr(exc))

    def _close_connections(self) -> None:
        for name in ("_data", "_lookup", "_control"):
            conn = getattr(self, name)
            if conn is None:
                continue
            try:
                if name == "_control" and self._context is not None:
                    conn.record_free_context(self._context)
                    self._context = None
                conn.close()
            except (error.XError, error.ConnectionClosedError, OSError):
                pass
            setattr(self, name, None)
