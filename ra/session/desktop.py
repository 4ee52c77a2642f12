"""The person's real desktop under a session: the screen out, the helper's input in.

`X11Desktop` is the `Desktop` the driver calls (ARCHITECTURE: adapters at the
edge, the engine decides):

- `start_streaming` starts a capture loop: grab (mss, MIT-SHM), 64x64 tile
  change detection and browser-safe encoding (`ra.desktop.codec`), paced by
  `ra.desktop.pacing.Pacer` so that frames never queue behind a slow helper:
  the newest screen wins. Each update is one SCREEN frame; the helper's
  ``screen.ack`` messages give the pacer its model of the link (bandwidth,
  round trip), from which it times captures and picks JPEG quality. When
  the pacer could not merge a frame into what waited within the bounds of an
  update (`Pacer.keyframe_due`), the next capture is a keyframe.
- The helper may ask for a full frame (``screen.refresh``: `request_keyframe`)
  and pick what is shown (``screen.monitor``: `select_monitor`), one monitor
  or all of them (0). When streaming starts and after every switch, the
  monitors and the current choice go to the helper (``screen.monitors``).
  While one monitor is shown, pointer positions from the helper are relative
  to it and are moved by its origin before they are injected.
- `enable_input` arms the Esc watcher and the injector; `inject`
  forwards what the engine hands it (only ever in controlling);
  `disable_input` releases every held key and button and disarms.
- The screen, the injector and the Esc watch come from a `DesktopBackend`
  (`ra.desktop.backend`): ``x11`` (XTEST, RECORD, mss) unless another is given.
- Esc on the person's display closes the gate at once (no further input is
  injected, even before the engine has recorded the release), then asks the
  engine to record ``control.released`` (by the person, via esc).  The Esc
  keys are the keycodes that typed Escape when control was first granted,
  kept for the whole session: the injector never presses them and the
  watcher takes them for Esc whatever they are bound to later.
- A change of the keyboard mapping by anything but the injector while input
  is enabled (``xmodmap``, ``setxkbmap`` run from a terminal on the desktop)
  closes the gate the same way and asks the engine to record
  ``control.released`` (by the person, via keymap-changed). Only the ``x11``
  backend watches the keymap; the portable one knows Esc by keysym only.

- A display that cannot be captured (it went away, or cannot be opened for
  input, or the Esc watcher lost it) closes the gate, stops the stream and is
  reported once through ``on_lost`` (from any thread): the engine then
  records that the screen is unavailable, releasing control first, rather
  than a stall or an Esc nobody pressed.
- With a `WindowGuard` (the person's window is on this display), every event
  is first judged by it: input that would land on the person's window is
  not injected, and `on_refused` hands it to the engine, which records it
  (``input.rejected``).

- With a `ScreenRecorder` (``recorder``: the person records the session,
  `ra.recording`), each update goes to it exactly as it was sent, and when
  the recorder's chunk is due (`ScreenRecorder.due`, asked before every
  capture) the next update is a keyframe: every chunk starts with one.

Capture and encoding run in a worker thread so the session's loop stays free.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ra.desktop.backend import DesktopBackend, EscWatch, X11Backend
from ra.desktop.capture import MonitorInfo
from ra.desktop.codec import TileEncoder, Update
from ra.desktop.guard import WindowGuard
from ra.desktop.keys import RefusedInput
from ra.desktop.pacing import Pacer, PacerSettings
from ra.logs import get_logger

_log = get_logger(__name__)

SendScreen = Callable[[bytes], Awaitable[None]]
SendJson = Callable[[dict[str, Any]], Awaitable[None]]
MONITORS_MESSAGE = "screen.monitors"


class Recorder(Protocol):
    """Where sent updates are kept (`ra.recording.recorder.ScreenRecorder`)."""

    def add(self, data: bytes, keyframe: bool) -> None: ...

    def due(self) -> bool: ...


def monitors_message(monitors: list[MonitorInfo], current: int) -> dict[str, Any]:
    """``screen.monitors``: each real monitor (1..n) and the one shown (0 = all)."""
    return {
        "type": MONITORS_MESSAGE,
        "monitors": [{"number": m.number, "x": m.x, "y": m.y, "width": m.width,
                      "height": m.height} for m in monitors if m.number > 0],
        "current": current,
    }


class X11Desktop:
    """The person's X11 display, streamed and (with consent) controlled."""

    def __init__(
        self,
        display: str,
        send_screen: SendScreen,
        on_esc: Callable[[], None],
        *,
        max_fps: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        send_json: SendJson | None = None,
        on_keymap_change: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
        backend: DesktopBackend | None = None,
        guard: WindowGuard | None = None,
        on_refused: Callable[[dict[str, Any], str], None] | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.display = display
        self.recorder = recorder
        self.backend: DesktopBackend = backend or X11Backend(display)
        self._on_lost = on_lost
        self._lost = False
        self._lost_lock = threading.Lock()
        self._guard = guard
        self._on_refused = on_refused
        self._send_screen = send_screen
        self._send_json = send_json
        self._on_esc = on_esc
        self._on_keymap_change = on_keymap_change or on_esc  # either way, control ends
        self._clock = clock
        self.pacer = Pacer(PacerSettings(min_interval=1 / max_fps, max_quality=75))
        self._encoder: TileEncoder | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._watcher: EscWatch | None = None
        self._gate = threading.Event()  # set: input may be injected
        self._want_keyframe = True
        self._acked = asyncio.Event()
        self._wake = asyncio.Event()  # an update is pending, or the link freed up
        self.monitors: list[MonitorInfo] = []
        """The display's monitors (entry 0: all of them), read when streaming starts."""
        self.monitor = 0
        """The monitor shown: 0 for all, else an entry of `monitors`."""
        self._encoded_monitor = 0  # the monitor the encoder's last frame came from
        self._send_tasks: set[asyncio.Task[None]] = set()
        self.frames_sent = 0
        self.keyframes_sent = 0
        self.bytes_sent = 0

    # -- screen ---------------------------------------------------------------------

    def start_streaming(self) -> None:
        if self._stream_task is None or self._stream_task.done():
            self._want_keyframe = True
            self._stream_task = asyncio.get_running_loop().create_task(self._stream())

    def stop_streaming(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            self._stream_task = None

    def request_keyframe(self) -> None:
        self._want_keyframe = True

    def select_monitor(self, number: int) -> bool:
        """Show monitor `number` (0: all); an unknown one is ignored and logged.

        The next update is a keyframe of the new area, and the helper is told
        the new choice (``screen.monitors``). False if `number` was refused.
        """
        if not any(m.number == number for m in self.monitors):
            _log.info("desktop.monitor_refused", monitor=number, known=len(self.monitors) - 1)
            return False
        self.monitor = number
        self._want_keyframe = True
        self._announce()
        return True

    def _announce(self) -> None:
        """Send ``screen.monitors`` to the helper (in the background)."""
        if self._send_json is None or not self.monitors:
            return
        send, message = self._send_json, monitors_message(self.monitors, self.monitor)

        async def announce() -> None:
            await send(message)

        task = asyncio.get_running_loop().create_task(announce())
        self._send_tasks.add(task)
        task.add_done_callback(self._send_tasks.discard)

    def on_ack(self, seq: int, shown: bool = True) -> None:
        self.pacer.on_ack(seq, self._clock(), shown=shown)
        self._acked.set()
        self._wake.set()

    async def _stream(self) -> None:
        """Capture on the pacer's clock; a separate sender keeps the link busy.

        Capturing the next frame overlaps sending the last one. The interval is
        counted from the start of each capture, so the encode time does not add
        to it; when the link is behind, frames merge into one pending update.
        """
        loop = asyncio.get_running_loop()
        sender = loop.create_task(self._sender())
        try:
            self.monitors = await loop.run_in_executor(None, self.backend.monitors)
            if not any(m.number == self.monitor for m in self.monitors):
                self.monitor = 0
            self._announce()
            while True:
                now = self._clock()
                wait = self.pacer.next_capture_at(now) - now
                if wait > 0:
                    await asyncio.sleep(wait)
                if self.pacer.busy and self.pacer.pending is not None:
                    # The link is behind and a frame already waits: wait for it to move
                    # (or a short while) instead of capturing what would only be merged.
                    self._acked.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._acked.wait(), 0.25)
                if self.recorder is not None and self.recorder.due():
                    self._want_keyframe = True  # the recorder's next chunk starts here
                if self.pacer.keyframe_due:
                    self._want_keyframe = True  # a merge out of bounds dropped an update
                started = self._clock()
                update = await loop.run_in_executor(None, self._capture)
                if update.tiles or update.keyframe:
                    self.pacer.offer(update, started, capture_time=self._clock() - started)
                    self._wake.set()
                else:
                    self.pacer.idle(started)
                if sender.done():
                    sender.result()  # a send failed: stop streaming with its error
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the screen or the link is gone: say so once
            _log.warning("desktop.capture_failed", error=str(exc) or type(exc).__name__)
            link_failed = (sender.done() and not sender.cancelled()
                           and sender.exception() is not None)
            if not link_failed:  # a broken link is the reader's to report
                self._report_lost()
        finally:
            sender.cancel()

    def _report_lost(self) -> None:
        """The display cannot be captured or controlled: tell the session, once."""
        self._gate.clear()
        with self._lost_lock:
            if self._lost:
                return
            self._lost = True
        if self._on_lost is not None:
            self._on_lost()
        else:  # nobody to tell: at least control ends as with Esc
            self._on_esc()

    async def _sender(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while (ready := self.pacer.poll(self._clock())) is not None:
                data = ready.to_bytes()
                await self._send_screen(data)
                if self.recorder is not None:
                    self.recorder.add(data, ready.keyframe)
                self.pacer.on_sent(len(data), self._clock())
                self.frames_sent += 1
                self.keyframes_sent += int(ready.keyframe)
                self.bytes_sent += len(data)
                self._acked.set()

    def _capture(self) -> Update:
        number = self.monitor
        frame = self.backend.grab(number)
        if self.monitor != number:  # switched during the grab: show the new choice at once
            number = self.monitor
            frame = self.backend.grab(number)
        height, width = frame.shape[:2]
        if self._encoder is None or (self._encoder.width, self._encoder.height) != (width, height):
            self._encoder = TileEncoder(width, height, browser_safe=True)
            self._want_keyframe = True
        if number != self._encoded_monitor:
            self._encoded_monitor = number
            self._want_keyframe = True  # another area: a change list would mean nothing
        keyframe, self._want_keyframe = self._want_keyframe, False
        x, y = self.backend.cursor_position()
        origin = self._origin(number)
        cursor = (x - origin.x, y - origin.y) if origin is not None else (x, y)
        return self._encoder.encode(frame, force_full=keyframe, quality=self.pacer.quality,
                                    cursor=cursor, keep=True)

    def _origin(self, number: int) -> MonitorInfo | None:
        """The monitor whose origin shown coordinates are relative to (None: all)."""
        if number == 0:
            return None
        return next((m for m in self.monitors if m.number == number), None)

    # -- input ----------------------------------------------------------------------

    def enable_input(self) -> None:
        if self._lost:
            return
        try:
            if self._watcher is None:  # the Esc keycodes are read once, kept for the session
                self._watcher = self.backend.watch_esc(
                    self._esc, on_keymap_change=self._keymap_changed,
                    on_error=self._watcher_failed)
        except Exception as exc:  # the display cannot take input: no control
            _log.warning("desktop.input_unavailable", error=str(exc) or type(exc).__name__)
            self.disable_input()
            self._report_lost()
            return
        self._gate.set()

    def disable_input(self) -> None:
        self._gate.clear()
        with contextlib.suppress(Exception):
            self.backend.release_all()
        if self._watcher is not None:
            watcher, self._watcher = self._watcher, None
            with contextlib.suppress(Exception):
                watcher.stop()

    def inject(self, event: dict[str, Any]) -> None:
        if not self._gate.is_set() or self._watcher is None:
            return
        shown = self._origin(self.monitor)
        if shown is not None and event.get("kind") == "pointer":
            x, y = event.get("x"), event.get("y")
            if isinstance(x, int) and isinstance(y, int):
                # The helper sees this monitor only: its (0, 0) is the monitor's origin.
                event = {**event,
                         "x": shown.x + min(max(x, 0), shown.width - 1),
                         "y": shown.y + min(max(y, 0), shown.height - 1)}
        if self._guard is not None:
            reason = self._guard.refusal(event, self._pointer())
            if reason is not None:
                if self._on_refused is not None:
                    self._on_refused(event, reason)
                return
        try:
            self.backend.inject(event)
        except RefusedInput as exc:
            _log.info("desktop.input_refused", reason=str(exc))

    def _pointer(self) -> tuple[int, int] | None:
        """Where the pointer is now (None if the display cannot say)."""
        try:
            return self.backend.cursor_position()
        except Exception:  # the display failed: the guard then refuses what it cannot place
            return None

    def _esc(self) -> None:
        """On the watcher's thread: shut the gate first, then tell the engine."""
        if self._gate.is_set():
            self._gate.clear()
            self._on_esc()

    def _watcher_failed(self, error: BaseException) -> None:
        """On the watcher's thread: it can no longer hear Esc (the display went away)."""
        _log.warning("desktop.esc_watcher_lost", error=str(error) or type(error).__name__)
        self._report_lost()

    def _keymap_changed(self, what: str) -> None:
        """On the watcher's thread: the keyboard mapping changed; like Esc, gate first."""
        if self._gate.is_set():
            self._gate.clear()
            _log.info("desktop.keymap_changed", request=what)
            self._on_keymap_change()

    def close(self) -> None:
        self.stop_streaming()
        for task in list(self._send_tasks):
            task.cancel()
        self.disable_input()
        with contextlib.suppress(Exception):
            self.backend.close()
