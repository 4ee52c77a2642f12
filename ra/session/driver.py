"""The asyncio driver of one `SessionEngine`: it does the I/O the engine asks for.

Theory of operation
-------------------
Every engine input goes through `SessionDriver.feed`, under one lock, so
inputs are handled one at a time and their outputs are performed in order.
For each output list the driver first appends every `Record` to the log, as
one batch on the stream ``session:<session_id>`` with the expected version
tracked (persist, then act), and only then performs the other outputs in
order. If that append fails, nothing of the list is performed: the
connection is dropped and the session ends with the error. Chat text is
sealed with the session's key as it is appended (`ra.sealed_chat`): the log
holds it sealed, while what is shown comes from the outputs in memory.

Four tasks feed the engine: the channel reader (``received``; a broken
connection is ``transport_lost``, bytes that break the wire protocol are
``protocol_error``), the timer (``tick`` at ``next_deadline()``, at least
every 0.5 s), the terminal (a line answers an open consent prompt,
otherwise it is a ``local_command``; a window hands `ra.session.face` actions
instead, each fed as the engine input it means) and the inbox the sides of
the screen were given (`ra.session.inbox`, below). The `Terminal` prints every
line inert, marks the lines of a consent question as ra's own, and prints the
question again after anything else shown while it waits; the driver tells it
when the engine's question is no longer open. Callers may add watchers (the
person's side follows the invitation) with `SessionDriver.run`'s ``extra``
argument.

No task dies silently: an exception that escapes one (a bug, or a peer's
message nobody foresaw) is logged and fed to the engine as a
``protocol_error`` naming its type, which records the ending and closes the
session; if even that fails, the channel is dropped and `run` raises
`SessionFailed`.

The two sides of the screen are wired once, when the driver is made, each
behind a small interface, and neither is given the driver: what they have
for it goes through the `Inbox` they were made with.

- The person's side is a `Desktop`: the driver calls it for StartStreaming,
  StopStreaming, EnableInput, DisableInput and Inject, and hands it the
  helper's screen messages (``screen.ack``, ``screen.refresh``,
  ``screen.monitor``). The real one is `ra.session.desktop.X11Desktop`; the
  default `StatusDesktop` only prints a status line.
- The helper's side is a `Viewer` (`ra.session.helper.ViewerBridge`): it is
  shown the person's screen updates and ``screen.monitors``, and every list
  of outputs once performed; what its page asks comes back through the
  inbox. Each update is acknowledged to the person (``screen.ack``, which
  paces the stream) once the page has taken it, not as it arrives: a page
  slower than the link slows the person's capture, instead of the helper
  merging away frames the person took the trouble to encode and send.

The face (terminal or window) is also handed every list of outputs once
performed (`Face.performed`). Screen messages (docs/session.md, "Screen
messages") never reach the engine, and flow only while the engine is
streaming (an ack, at any time, both ways); anything else of the kind is ignored.
`send_screen_message` sends this side's to the peer.

The recorded screen (person's side, `ra.recording`): the recorder puts each
chunk it has written in the inbox, and the driver records it through the
engine (``recording_chunk``), in order, under the same lock as every input.
When the session closes, the driver closes the `Recording` (the last chunk
is written) and records the chunks still waiting, before the receipts are
signed: the receipts cover the whole recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ra.desktop.codec import peek_seq
from ra.engine import SessionEngine, outputs
from ra.engine.outputs import Output
from ra.errors import RaError
from ra.events import EventStore, NewEvent
from ra.events.receipts import RECEIPT_TYPE, Receipt, sign_receipt
from ra.home import Home
from ra.inert import inert
from ra.logs import get_logger
from ra.net import Channel, Kind, NetError, ProtocolError
from ra.sealed_chat import ChatSealer
from ra.session.face import Action, Face, engine_input
from ra.session.inbox import Chunk, Feed, Inbox, Input, Item, ScreenMessage, finish
from ra.session_keys import SessionKeys
from ra.statemachines.session import STREAMING

RECEIPT_MESSAGE = "session.receipt"
SCREEN_ACK = "screen.ack"
SCREEN_REFRESH = "screen.refresh"
SCREEN_MONITOR = "screen.monitor"
SCREEN_MONITORS = "screen.monitors"
#: Screen messages each role may send; the driver, not the engine, handles them.
SCREEN_MESSAGES = {
    "helper": frozenset({SCREEN_ACK, SCREEN_REFRESH, SCREEN_MONITOR}),
    "person": frozenset({SCREEN_MONITORS}),
}
_ALL_SCREEN_MESSAGES = SCREEN_MESSAGES["helper"] | SCREEN_MESSAGES["person"]
RECEIPT_WAIT_S = 3.0
TICK_S = 0.5
YES = frozenset({"y", "yes"})
#: The start of every line of ra's consent question; chat and status lines never have it.
QUESTION_MARK = ">> ra asks:"
#: What a yes to each question grants, said on the answer line.
GRANTS = {
    "view": "Yes lets the helper SEE your screen.",
    "control": "Yes lets the helper CONTROL your mouse and keyboard.",
}
#: The longest line the terminal prints (a chat line of the longest message fits).
LINE_SHOWN = 8000

_log = get_logger("ra.session")


def _received(engine: SessionEngine, message: Mapping[str, Any], now: float) -> list[Output]:
    return engine.received(message, now)


def _protocol_error(engine: SessionEngine, detail: str, now: float) -> list[Output]:
    return engine.protocol_error(detail, now)


def _local_command(engine: SessionEngine, line: str, now: float) -> list[Output]:
    return engine.local_command(line, now)


class SessionLogError(RaError):
    """The session's events could not be written to the log, so the session was ended."""


class SessionFailed(RaError):
    """Something went wrong inside ra during the session, so the session was ended.

    Please report it, with the log line ``session.task_failed`` if there is one.
    """


class Desktop(Protocol):
    """The person's side of the screen: what the engine's outputs and the helper's
    screen messages ask of the person's screen and input."""

    def start_streaming(self) -> None: ...

    def stop_streaming(self) -> None: ...

    def enable_input(self) -> None: ...

    def disable_input(self) -> None: ...

    def inject(self, event: dict[str, Any]) -> None: ...

    def on_ack(self, seq: int, shown: bool) -> None:
        """The helper has taken screen update `seq` (``screen.ack``); `shown`: and its page
        was given it to paint (False: a later one painted over all of it first)."""

    def request_keyframe(self) -> None:
        """The helper asks for a full frame (``screen.refresh``)."""

    def select_monitor(self, number: int) -> object:
        """The helper picks the monitor to see (``screen.monitor``; 0 = all)."""


class Viewer(Protocol):
    """The helper's side of the screen: where the person's screen and the session are shown."""

    async def show_screen(self, update: bytes, taken: Callable[[bool], None]) -> None:
        """One screen update from the person (``Update.to_bytes()``); call `taken` once
        it is drawn or dropped, in the order they came: the person is told then. Its
        argument: False if the page was never given the update's pixels to paint (a
        later one painted over all of it first)."""

    async def show_monitors(self, message: dict[str, Any]) -> None:
        """The person's ``screen.monitors``, as received (to be checked)."""

    async def performed(self, outputs: Sequence[Output], by_viewer: bool) -> None:
        """The driver performed `outputs`; `by_viewer`: of an input the viewer asked for."""


class Recording(Protocol):
    """The screen recorder, as the driver sees it: closed once the session is over."""

    async def close(self) -> None: ...


class Terminal:
    """The local terminal: status lines out, typed lines in (a reader thread).

    Every line is printed inert (`ra.inert`): whatever the peer put in it, it
    stays one line and cannot move the cursor. ra's consent question is the
    only text whose lines start with `QUESTION_MARK`; a chat line starts with
    ``[chat]``, and a status line that would start with the mark is indented.
    While a question waits for its answer, anything else printed (chat, a
    status line) is followed by the whole question again, so the last thing
    on the screen is always the real question.
    """

    def __init__(self, out: TextIO | None = None, inp: TextIO | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._in = inp if inp is not None else sys.stdin
        self._lines: asyncio.Queue[str | Action | None] | None = None
        self._question: tuple[str, str] | None = None

    def show(self, text: str, typed: str = "") -> None:
        line = inert(f"{text}; {typed}" if typed else text, LINE_SHOWN)
        if line.startswith(QUESTION_MARK):
            line = " " + line  # only ra's question starts with the mark
        self._write(line + "\n")
        if self._question is not None:
            self._write_question()

    def ask(self, text: str, grants: str = "") -> None:
        """Ask a yes/no question: `text`, then what a yes `grants` and the answer line."""
        self._question = (inert(text, LINE_SHOWN), inert(grants, LINE_SHOWN))
        self._write_question()

    def close_question(self) -> None:
        """The question was answered or taken down: printing no longer repeats it."""
        self._question = None

    async def performed(self, outputs: Sequence[Output]) -> None:
        """Nothing more to show: every line was shown as it was performed."""

    def _write_question(self) -> None:
        assert self._question is not None
        text, grants = self._question
        answer = f"{grants} Answer y (yes) or n (no): " if grants else (
            "Answer y (yes) or n (no): ")
        self._write(f"{QUESTION_MARK} {text}\n{QUESTION_MARK} {answer}")

    def _write(self, text: str) -> None:
        encoding = getattr(self._out, "encoding", None) or "utf-8"
        try:  # a terminal that cannot show a character gets its escape instead
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        except LookupError:
            text = text.encode("ascii", "backslashreplace").decode("ascii")
        self._out.write(text)
        self._out.flush()

    def start_reading(
        self, loop: asyncio.AbstractEventLoop,
    ) -> asyncio.Queue[str | Action | None]:
        """Read lines in a daemon thread (stdin may be a tty, a pipe or a file)."""
        if self._lines is None:
            queue: asyncio.Queue[str | Action | None] = asyncio.Queue()
            self._lines = queue

            def read() -> None:
                while True:
                    try:
                        line = self._in.readline()
                    except (OSError, ValueError):
                        line = ""
                    with contextlib.suppress(RuntimeError):  # the loop is closed
                        loop.call_soon_threadsafe(queue.put_nowait, line or None)
                    if not line:
                        return

            threading.Thread(target=read, name="ra-terminal", daemon=True).start()
        return self._lines


class StatusDesktop:
    """A session without a screen (chat only, or a test): say what would happen, do
    nothing else."""

    def __init__(self, terminal: Face) -> None:
        self._terminal = terminal

    def start_streaming(self) -> None:
        self._terminal.show("[viewing started]")

    def stop_streaming(self) -> None:
        self._terminal.show("[viewing stopped]")

    def enable_input(self) -> None:
        self._terminal.show("[control enabled]")

    def disable_input(self) -> None:
        self._terminal.show("[control disabled]")

    def inject(self, event: dict[str, Any]) -> None:
        pass  # never print input: it could spell a password

    def on_ack(self, seq: int, shown: bool) -> None:
        pass

    def request_keyframe(self) -> None:
        pass

    def select_monitor(self, number: int) -> object:
        return False


class SessionDriver:
    """Runs one engine over one authenticated channel until the session closes."""

    def __init__(
        self,
        engine: SessionEngine,
        channel: Channel,
        store: EventStore,
        session_id: str,
        terminal: Face,
        desktop: Desktop | None = None,
        *,
        viewer: Viewer | None = None,
        inbox: Inbox | None = None,
        clock: Callable[[], float] = time.monotonic,
        receipt_key: Ed25519PrivateKey | None = None,
        peer_origin: str | None = None,
        recording: Recording | None = None,
        keys: SessionKeys | None = None,
    ) -> None:
        """`desktop`: the person's side of the screen; `viewer`: the helper's; `inbox`:
        what they were given to reach the driver. `keys`: where the session's chat
        key is kept (default: the home that holds `store`'s database, as
        `EventStore.open` places it)."""
        self.recording = recording
        """Person side: the screen recorder, closed before the receipts are signed."""
        self.peer_origin = peer_origin
        """The peer's network address: the origin of events the peer caused."""
        self.engine = engine
        self.viewer = viewer
        self.inbox = inbox if inbox is not None else Inbox()
        self.channel = channel
        self.store = store
        self.stream = f"session:{session_id}"
        self.version = store.stream_version(self.stream)
        self.sealer = ChatSealer(keys if keys is not None else SessionKeys(Home(store.path.parent)),
                                 self.stream)
        self.terminal = terminal
        self.desktop: Desktop = desktop if desktop is not None else StatusDesktop(terminal)
        self.clock = clock
        self.reason: str | None = None
        """Why the session closed (the engine's `Close.reason`), once it has."""
        self.error: RaError | None = None
        self.receipt_key = receipt_key
        self._peer_receipt: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._lock = asyncio.Lock()
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # -- the one way into the engine -------------------------------------------

    async def feed(self, call: Input, *, by_viewer: bool = False) -> None:
        """Call one engine input with ``now`` and perform its outputs, one at a time;
        the face and the viewer are handed them once performed."""
        async with self._lock:
            if self._done.is_set():
                return
            produced = call(self.clock())
            await self._perform(produced)
            if produced:
                await self.terminal.performed(produced)
                if self.viewer is not None:
                    await self.viewer.performed(produced, by_viewer)

    def feed_soon(self, call: Input) -> None:
        """Feed from a plain callback (a signal handler)."""
        task = asyncio.get_running_loop().create_task(self.feed(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def disconnect_soon(self) -> None:
        """End the session as ``/disconnect`` typed here does (Ctrl-C); nothing once over."""
        if not self.done:
            self.feed_soon(functools.partial(_local_command, self.engine, "/disconnect"))

    async def _record_chunk(self, chunk: Mapping[str, Any]) -> None:
        """Record one chunk (after the session's end too: before the receipt)."""
        if self.error is None:
            await self._perform(self.engine.recording_chunk(chunk, self.clock()))

    async def _record_waiting_chunks(self) -> None:
        """Record the chunks still in the inbox; what else waits there is dropped."""
        async with self._lock:
            for item in self.inbox.take_all():
                if isinstance(item, Chunk):
                    await self._record_chunk(item.payload)
                finish(item)

    async def _perform(self, produced: Sequence[Output]) -> None:
        if self.engine.open_prompt is None:
            self.terminal.close_question()  # answered, timed out or ended: not asked again
        events = [out.event for out in produced if isinstance(out, outputs.Record)]
        if events and not self._append(events):
            return
        for out in produced:
            match out:
                case outputs.Record():
                    pass
                case outputs.Send(message=message):
                    await self._send(message)
                case outputs.Prompt(kind=kind, text=text):
                    self.terminal.ask(text, GRANTS[kind])
                case outputs.Dismiss(kind=kind):
                    self.terminal.close_question()
                    self.terminal.show(f"(the {kind} question is closed)")
                case outputs.Show(text=text, typed=typed):
                    self.terminal.show(text, typed)
                case outputs.StartStreaming():
                    self.desktop.start_streaming()
                case outputs.StopStreaming():
                    self.desktop.stop_streaming()
                case outputs.EnableInput():
                    self.desktop.enable_input()
                case outputs.DisableInput():
                    self.desktop.disable_input()
                case outputs.Inject(event=event):
                    self.desktop.inject(event)
                case outputs.Close(reason=reason):
                    self.reason = reason
                    self._done.set()  # `run` exchanges receipts, then closes the channel

    def _append(self, events: list[NewEvent]) -> bool:
        if self.peer_origin is not None:
            peer = "helper" if self.engine.role == "person" else "person"
            events = [dataclasses.replace(e, origin=self.peer_origin)
                      if e.actor.kind == peer and e.origin is None else e for e in events]
        try:
            events = self.sealer.seal(events, self.version + 1)  # chat text never in the clear
            recorded = self.store.append(self.stream, self.version, events)
        except Exception as exc:  # the log is the truth: without it, no session
            _log.error("session.append_failed", error_type=type(exc).__name__)
            self.error = SessionLogError(
                f"the session's events could not be written to the log ({exc}); "
                "the session was ended"
            )
            self.channel.abort()
            self._done.set()
            return False
        self.version = recorded[-1].stream_version
        return True

    async def _send(self, message: dict[str, Any]) -> None:
        await self.channel.send_if_open(message)  # a broken link: the reader reports it

    # -- the tasks -----------------------------------------------------------------

    async def _read_channel(self) -> None:
        """Feed the peer's messages to the engine; after the close, wait for its receipt."""
        engine = self.engine
        while True:
            try:
                frame = await self.channel.recv()
            except ProtocolError as exc:  # the channel told the peer (BYE) and dropped it
                self._no_peer_receipt()
                await self.feed(functools.partial(_protocol_error, engine, str(exc)))
                return
            except (NetError, OSError):
                self._no_peer_receipt()
                await self.feed(engine.transport_lost)
                return
            message = frame.message if frame.kind is Kind.JSON else None
            if message is not None and message.get("type") == RECEIPT_MESSAGE:
                if not self._peer_receipt.done():
                    self._peer_receipt.set_result(message.get("receipt"))
                continue
            if frame.kind is Kind.SCREEN:
                await self._screen(frame.body)
                continue
            if message is not None and message.get("type") in _ALL_SCREEN_MESSAGES:
                await self._screen_message(message)
                continue
            if frame.kind is Kind.BYE:
                # A peer that ends cleanly sends its disconnect first; a bare BYE
                # means the connection is going away.
                self._no_peer_receipt()
                await self.feed(engine.transport_lost)
                return
            if self._done.is_set():
                continue  # the session is over: only the receipt matters now
            if message is not None:
                await self.feed(functools.partial(_received, engine, message))
            elif frame.kind is Kind.HEARTBEAT:
                await self.feed(functools.partial(_received, engine, {"type": "heartbeat"}))

    async def _screen(self, update: bytes) -> None:
        """A screen update from the person: only while viewing is allowed, by the log."""
        if (self._done.is_set() or self.viewer is None
                or self.engine.state not in STREAMING):
            return
        try:
            seq = peek_seq(update)
        except ProtocolError:
            return
        # Acknowledged once the page has it, not as it arrives: the person's pacer
        # then sends as fast as the helper's screen takes updates, and no faster.
        await self.viewer.show_screen(update, functools.partial(self._taken, seq))

    def _taken(self, seq: int, shown: bool) -> None:
        """Acknowledge update `seq`; one the page never painted is said to be superseded,
        so the person's pacer does not count it as delivered."""
        self.inbox.tell({"type": SCREEN_ACK, "seq": seq} if shown
                        else {"type": SCREEN_ACK, "seq": seq, "superseded": True})

    async def _screen_message(self, message: Mapping[str, Any]) -> None:
        """A screen message from the peer: for the desktop or the viewer, never the engine."""
        kind = message.get("type")
        peer = "helper" if self.engine.role == "person" else "person"
        if kind not in SCREEN_MESSAGES[peer]:
            _log.info("session.screen_message.ignored", message_type=kind, reason="wrong side")
            return
        if kind == SCREEN_ACK:
            seq = message.get("seq")
            if isinstance(seq, int):
                self.desktop.on_ack(seq, message.get("superseded") is not True)
            return
        if self._done.is_set() or self.engine.state not in STREAMING:
            return  # only while the screen is being sent
        if kind == SCREEN_REFRESH:
            self.desktop.request_keyframe()
        elif kind == SCREEN_MONITOR:
            number = message.get("monitor")
            if not isinstance(number, int) or isinstance(number, bool):
                _log.info("session.screen_message.ignored", message_type=kind,
                          reason="malformed")
            else:
                self.desktop.select_monitor(number)
        elif self.viewer is not None:
            await self.viewer.show_monitors(dict(message))

    async def send_screen_message(self, message: dict[str, Any]) -> None:
        """Send a screen message of this side's (``screen.refresh``, ...) while streaming."""
        if message.get("type") not in SCREEN_MESSAGES[self.engine.role]:
            raise ValueError(f"not a {self.engine.role}'s screen message: {message.get('type')!r}")
        if self._done.is_set() or (self.engine.state not in STREAMING
                                   and message.get("type") != SCREEN_ACK):
            return  # an ack goes at any time: the person's pacer counts on every one
        await self._send(message)

    async def _read_inbox(self) -> None:
        """Do what the sides of the screen put in the inbox, in order."""
        while True:
            item = await self.inbox.get()
            try:
                await self._do(item)
            finally:
                finish(item)

    async def _do(self, item: Item) -> None:
        match item:
            case Feed(call=call, by_viewer=by_viewer):
                await self.feed(call, by_viewer=by_viewer)
            case Chunk(payload=payload):
                async with self._lock:
                    await self._record_chunk(payload)
            case ScreenMessage(message=message):
                await self.send_screen_message(message)

    def _no_peer_receipt(self) -> None:
        if not self._peer_receipt.done():
            self._peer_receipt.set_result(None)

    async def _run_timer(self) -> None:
        while not self._done.is_set():
            deadline = self.engine.next_deadline()
            wait = TICK_S if deadline is None else min(TICK_S, deadline - self.clock())
            await asyncio.sleep(max(0.0, wait))
            await self.feed(self.engine.tick)

    async def _read_terminal(self) -> None:
        lines = self.terminal.start_reading(asyncio.get_running_loop())
        while not self._done.is_set():
            line = await lines.get()
            if line is None:
                return  # no more input: the session goes on until it is ended otherwise
            if isinstance(line, str):
                await self.feed(functools.partial(self._typed, line))
            else:
                await self.feed(engine_input(self.engine, line))

    def _typed(self, line: str, now: float) -> list[Output]:
        kind = self.engine.open_prompt
        if kind is not None and not line.strip().startswith("/"):
            granted = line.strip().lower() in YES
            return self.engine.consent_answered(kind, granted, now)
        return self.engine.local_command(line, now)

    async def _guard(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Run one task; an exception that escapes it ends the session, recorded."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._task_failed(name, exc)

    async def _task_failed(self, name: str, exc: Exception) -> None:
        # Only the type is logged and recorded: the text may quote what the peer sent.
        _log.error("session.task_failed", task=name, error_type=type(exc).__name__)
        if name == "reader":
            self._no_peer_receipt()  # nobody reads the channel any more
        detail = f"the {name} of this session failed ({type(exc).__name__})"
        try:
            await self.feed(functools.partial(_protocol_error, self.engine, detail))
        except Exception as again:
            _log.error("session.end_failed", error_type=type(again).__name__)
            if self.error is None:
                self.error = SessionFailed(f"the session failed ({type(exc).__name__}) and "
                                           "was closed")
            self.channel.abort()
            self._done.set()
            return
        if not self._done.is_set():  # nothing was left to end: close all the same
            self.channel.abort()
            self._done.set()

    # -- the receipt ---------------------------------------------------------------

    async def _exchange_receipts(self) -> None:
        """Sign this side's receipt, swap it with the peer's, record both."""
        assert self.receipt_key is not None
        session_id = self.stream.split(":", 1)[1]
        mine = sign_receipt(self.store, session_id, self.engine.role, self.receipt_key)
        peer: Receipt | None = None
        if not self.channel.closed:
            await self._send({"type": RECEIPT_MESSAGE, "receipt": mine.to_json()})
            try:
                raw = await asyncio.wait_for(asyncio.shield(self._peer_receipt), RECEIPT_WAIT_S)
                if raw is not None:
                    candidate = Receipt.from_json(raw)
                    if (candidate.session_id == session_id and candidate.role != mine.role
                            and candidate.signature_holds()):
                        peer = candidate
            except (TimeoutError, ValueError):
                peer = None
        self._append([NewEvent(RECEIPT_TYPE, {
            "mine": mine.to_json(),
            "peer": None if peer is None else peer.to_json(),
        }, self.engine.person if self.engine.role == "person" else self.engine.helper)])
        self.terminal.show("session receipt: " + (
            "signed by both sides" if peer is not None else "signed by this side only"))

    # -- the whole session ---------------------------------------------------------

    async def run(
        self,
        start: Sequence[Input],
        extra: Sequence[Callable[[SessionDriver], Coroutine[Any, Any, None]]] = (),
    ) -> str:
        """Feed `start` (``connected``, ``authenticated``), then run until Close.

        Returns the reason the session closed; raises SessionLogError if the
        log could not be written.
        """
        for call in start:
            await self.feed(call)
        tasks = [
            asyncio.create_task(self._guard("reader", self._read_channel())),
            asyncio.create_task(self._guard("timer", self._run_timer())),
            asyncio.create_task(self._guard("terminal", self._read_terminal())),
            asyncio.create_task(self._guard("inbox", self._read_inbox())),
            *(asyncio.create_task(self._guard("watcher", watch(self))) for watch in extra),
        ]
        try:
            await self._done.wait()
            if self.recording is not None:
                await self.recording.close()
            await self._record_waiting_chunks()
            if self.error is None and self.receipt_key is not None:
                await self._exchange_receipts()
        finally:
            for task in [*tasks, *self._tasks]:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.inbox.close()
            if not self.channel.closed:
                await self.channel.close(self.reason or "")
        if self.error is not None:
            raise self.error
        return self.reason or ""


__all__ = [
    "GRANTS",
    "QUESTION_MARK",
    "Recording",
    "SCREEN_MESSAGES",
    "Desktop",
    "SessionDriver",
    "SessionFailed",
    "SessionLogError",
    "StatusDesktop",
    "Terminal",
    "Viewer",
]
