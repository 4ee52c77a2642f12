"""The helper's screen viewer: a one-page web app served on 127.0.0.1.

`ViewerServer` serves one page at ``http://127.0.0.1:PORT/v/<token>`` and
accepts one WebSocket at ``ws://127.0.0.1:PORT/ws/<token>``. The token is
random (``secrets.token_urlsafe(32)``) and single-use: the first WebSocket
that gets through consumes it, and from then on every request, with any
token, gets a bare 404 (but ``/screen-worker.js``, the page's screen
decoder: static code, the same for everyone, which the page may fetch after
its WebSocket took the token). Every request must also name this server in
its ``Host`` header (and, if it has one, its ``Origin``), which defeats DNS
rebinding: a page on another site never gets a response it could read.

127.0.0.1 is open to every local account, so the token is never put where
another account could read it (``ra.viewer.opener`` hands it to the browser
in a file only the user can read), and each accepted connection's owner is
looked up (``ra.viewer.peer``): one made by another account is closed before
any byte of it is read or answered.

The wire format (JSON text messages both ways) is described in
``docs/viewer.md``. Screen updates go to the page as binary messages in the
person's own format, ``ra.desktop.codec.Update.to_bytes()``
(``docs/screen-protocol.md``): the page decodes them itself, in a Worker
(``static/screen-worker.js`` after ``static/screen.js``), nothing is re-encoded
on the way. The page's Content-Security-Policy allows that one same-origin
worker script (``worker-src 'self'``) and nothing else to load; the worker's
own policy (``default-src 'none'``) lets it fetch nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import http
import inspect
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ra.logs import get_logger, register_secret
from ra.statemachines.session import SessionState
from ra.viewer.peer import refusal
from ra.vocabulary import MessageError, check_input, is_chat_text

if TYPE_CHECKING:  # the codec (numpy, JPEG) loads with the first screen update
    from ra.desktop.codec import Update

_log = get_logger("ra.viewer")

OnMessage = Callable[[dict[str, Any]], Awaitable[None] | None]

MAX_SIDE = 0xFFFF
WORKER_PATH = "/screen-worker.js"


# -- screen updates ------------------------------------------------------------------


def check_update(data: bytes | bytearray | memoryview) -> Update:
    """The parsed screen update (docs/screen-protocol.md); ValueError if malformed."""
    from ra.desktop.codec import Update, UpdateFormatError

    try:
        return Update.from_bytes(data)
    except UpdateFormatError as exc:
        raise ValueError(f"not a screen update: {exc}") from None


Taken = Callable[[bool], None]
"""Called once the page has taken a screen update (`ViewerServer.send_screen`): True if
the page was given what it painted, False if it never will be (merged away under a
later update that painted over all of it, or dropped)."""


def _done(taken: list[tuple[Taken, bool]], shown: bool = True) -> None:
    for call, painted_over in taken:
        call(shown and not painted_over)


class _Pending:
    """The screen update not yet sent: later ones merge into it, latest wins.

    Updates carry only the tiles that changed, so dropping a whole unsent one
    could lose a change for good. ``merge_updates`` (the person's pacer uses it
    too) drops only the older tiles a newer update paints over completely and
    keeps the rest before the new tiles; a keyframe replaces everything. While
    nothing was merged, the bytes go out exactly as they came. A merge that
    would break the bounds of an update (docs/screen-protocol.md) is not
    made: the older update stays (a screen as it was, never a mix), and `add`
    says a keyframe is needed to show what the newer one held.
    """

    def __init__(self, update: Update, data: bytes, taken: Taken) -> None:
        self.update = update
        self._data: bytes | None = data
        #: What to call once the page has taken it, one for each update merged into
        #: it, and whether a later one painted over all of that update's pixels.
        self.taken: list[tuple[Taken, bool]] = [(taken, False)]

    def add(self, update: Update, data: bytes, taken: Taken) -> bool:
        """Merge `update` in; False if it could not be (a keyframe is needed)."""
        if update.keyframe or (update.width, update.height) != self.size:
            self.update, self._data = update, data
            self._painted_over(taken)
            return True
        from ra.desktop.pacing import merge_updates

        merged = merge_updates(self.update, update)
        if merged is None:
            self.taken.append((taken, True))  # dropped: a keyframe will show its change
            return False
        if len(merged.tiles) == len(update.tiles):  # no tile of what waited is left
            self._painted_over(taken)
        else:
            self.taken.append((taken, False))
        self.update, self._data = merged, None
        return True

    def _painted_over(self, taken: Taken) -> None:
        self.taken = [(call, True) for call, _ in self.taken] + [(taken, False)]

    @property
    def size(self) -> tuple[int, int]:
        return (self.update.width, self.update.height)

    def encode(self) -> bytes:
        return self._data if self._data is not None else self.update.to_bytes()


# -- page -> server messages ---------------------------------------------------------

#: Status states the page knows: the session's states (``ra.statemachines.session``).
VIEWER_STATES = frozenset(state.value for state in SessionState)
#: How the page gives control back (``control.release``'s ``via``): its button, or Esc.
PAGE_RELEASE_VIA = frozenset({"button", "esc"})
#: Page messages handed to ``on_message``.
PAGE_MESSAGES = frozenset({"control.request", "control.release", "disconnect", "chat", "input",
                           "screen.refresh", "screen.monitor"})
#: Most monitors a ``screen.monitors`` message may list (numbers 1..MAX_MONITORS).
MAX_MONITORS = 32
#: Largest offset of a monitor's origin, either way.
MAX_MONITOR_OFFSET = 0xFFFF
#: Largest message the page may send (bytes); its messages are small.
MAX_PAGE_MESSAGE = 16 * 1024


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _clean_input(event: object) -> dict[str, Any] | None:
    """The input event rebuilt from its known, well-typed fields (`ra.vocabulary`), or None.

    The engine checks the same way, so what the page passes, the engine takes.
    """
    try:
        return check_input(event)
    except MessageError:
        return None


def clean_monitors(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """A ``screen.monitors`` message rebuilt from its known, well-typed fields, or None.

    ``monitors``: up to `MAX_MONITORS` of ``{number, x, y, width, height}``, numbers
    1.. distinct; ``current``: 0 (all) or one of the numbers.
    """
    if message.get("type") != "screen.monitors":
        return None
    listed, current = message.get("monitors"), message.get("current")
    if not isinstance(listed, list) or len(listed) > MAX_MONITORS:
        return None
    monitors: list[dict[str, Any]] = []
    for entry in listed:
        if not isinstance(entry, Mapping):
            return None
        number, x, y = entry.get("number"), entry.get("x"), entry.get("y")
        width, height = entry.get("width"), entry.get("height")
        offset = MAX_MONITOR_OFFSET
        if not (_is_int(number, 1, MAX_MONITORS) and _is_int(x, -offset, offset)
                and _is_int(y, -offset, offset) and _is_int(width, 1, MAX_SIDE)
                and _is_int(height, 1, MAX_SIDE)):
            return None
        monitors.append({"number": number, "x": x, "y": y, "width": width, "height": height})
    numbers = [m["number"] for m in monitors]
    if len(set(numbers)) != len(numbers):
        return None
    if not (current == 0 or (_is_int(current, 1, MAX_MONITORS) and current in numbers)):
        return None
    return {"type": "screen.monitors", "monitors": monitors, "current": current}


def parse_page_message(raw: str) -> dict[str, Any] | None:
    """A page message rebuilt from its known fields, or None if it is not one.

    ``screen.ack`` (the page drew a frame) is internal and returned as well.
    Total: any text at all gives a message or None, never an exception (deep
    nesting, numbers too long to read, lone surrogates are all None).
    """
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if kind == "control.release":  # how control was given back; a button if not said
        via = message.get("via", "button")
        ok = isinstance(via, str) and via in PAGE_RELEASE_VIA
        return {"type": kind, "via": via} if ok else None
    if kind in ("control.request", "disconnect", "screen.ack", "screen.refresh"):
        return {"type": kind}
    if kind == "screen.monitor":
        number = message.get("monitor")
        if _is_int(number, 0, MAX_MONITORS):
            return {"type": kind, "monitor": number}
        return None
    if kind == "chat":
        text = message.get("text")
        if is_chat_text(text):
            return {"type": "chat", "text": text}
        return None
    if kind == "input":
        event = _clean_input(message.get("event"))
        return None if event is None else {"type": "input", "event": event}
    return None


def _check_outgoing(message: Mapping[str, Any]) -> None:
    kind = message.get("type")
    if kind not in ("status", "chat", "info", "screen", "screen.monitors"):
        raise ValueError(f"the viewer has no {kind!r} message")
    if kind == "screen.monitors" and clean_monitors(message) is None:
        raise ValueError("a screen.monitors message needs valid monitors and current")
    if kind == "status" and message.get("state") not in VIEWER_STATES:
        raise ValueError(f"unknown viewer state {message.get('state')!r}")
    if kind == "screen" and not (_is_int(message.get("width"), 1, MAX_SIDE)
                                 and _is_int(message.get("height"), 1, MAX_SIDE)):
        raise ValueError("a screen message needs integer width and height")


# -- the server ----------------------------------------------------------------------

def _static(name: str) -> str:
    return resources.files("ra.viewer").joinpath("static", name).read_text(encoding="utf-8")


def _fill(template: str, slots: Mapping[str, str]) -> str:
    """`template` with each ``/*NAME*/`` of `slots` replaced, in one pass (nothing put in
    is read again as a slot)."""
    return re.sub(r"/\*([A-Z]+)\*/", lambda slot: slots.get(slot[1], slot[0]), template)


def build_page(title: str, body: str, styles: Sequence[str], scripts: Sequence[str]) -> str:
    """A page of ``static/``: the shell ``page.html`` with `title`, the body fragment
    `body` with the screen (``stage.html``) where it says ``/*STAGE*/``, and the style
    sheets and scripts named inlined in order. ``{{NONCE}}`` is left for each response."""
    return _fill(_static("page.html"), {
        "TITLE": title,
        "BODY": _fill(_static(body), {"STAGE": _static("stage.html")}).rstrip("\n"),
        "STYLE": "\n".join(_static(name) for name in styles),
        "SCRIPT": "\n".join(_static(name) for name in scripts),
    })


def _response(status: int, body: bytes, content_type: str, extra: Mapping[str, str]) -> Response:
    headers = Headers([
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Connection", "close"),
        *extra.items(),
    ])
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def _denied(status: int) -> Response:
    body = f"{status} {http.HTTPStatus(status).phrase}\n".encode()
    return _response(status, body, "text/plain; charset=utf-8", {})


class _SameUserConnection(ServerConnection):
    """A connection that is closed unanswered if another account made it.

    Nothing is read from it until its owner is known: reading is paused as it
    is accepted, the kernel's tables are read on a worker thread (they take
    milliseconds to produce, which the event loop must not wait for), and then
    the connection is either let through or aborted, its request unread and
    nothing sent.
    """

    _owner_check: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        stream = cast(asyncio.Transport, transport)
        local, remote = stream.get_extra_info("sockname"), stream.get_extra_info("peername")
        if not (local and remote):
            _log.warning("viewer.refused", reason="no address")
            stream.abort()
            return
        stream.pause_reading()
        self._owner_check = self.loop.create_task(self._check_owner(stream, local, remote))

    async def _check_owner(self, stream: asyncio.Transport, local: Any, remote: Any) -> None:
        try:
            reason = await asyncio.to_thread(refusal, local, remote)
        except Exception:  # an address the tables cannot be searched for: nobody to vouch for
            reason = "owner unknown"
        if stream.is_closing():
            return
        if reason is not None:
            _log.warning("viewer.refused", reason=reason)
            stream.abort()
        else:
            stream.resume_reading()


class ViewerServer:
    """Serves the viewer page and its one WebSocket on 127.0.0.1.

    `on_message` gets each page message (``control.request``, ``control.release``,
    ``disconnect``, ``chat``, ``input``, ``screen.refresh``, ``screen.monitor``),
    checked and rebuilt from known fields; it may be a plain function or a
    coroutine function. Input events are handed on only while the last status
    sent was ``controlling``. `on_connect` (optional, plain or coroutine) is
    called each time the page's WebSocket comes up: the page starts blank.

    `connected` is set when the page's WebSocket is up, `disconnected` when it
    is gone (the tab closed, or `close`). Messages sent before the page
    connects are kept and delivered when it does; after it is gone, sends are
    dropped.
    """

    def __init__(
        self,
        on_message: OnMessage,
        *,
        host: str = "127.0.0.1",
        max_frames_in_flight: int = 2,
        on_connect: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        self._on_message = on_message
        self._on_connect = on_connect
        self._host = host
        self._max_in_flight = max(1, max_frames_in_flight)
        self._token = secrets.token_urlsafe(32)
        register_secret(self._token)
        self._consumed = False
        self._server: Server | None = None
        self._port = 0
        self._hosts: frozenset[str] = frozenset()
        self._origins: frozenset[str] = frozenset()
        self._page_template = ""
        self._worker_script = b""
        self._ws: ServerConnection | None = None
        self._outbox: collections.deque[str] = collections.deque()
        self._pending: _Pending | None = None
        #: Of each screen message sent and not yet acknowledged by the page: its `Taken`s.
        self._sent: collections.deque[list[tuple[Taken, bool]]] = collections.deque()
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()  # set: no message waits to go to the page
        self._flushed.set()
        self._state = "connecting"
        self._gone = False
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        #: Screen messages that went out, and ones merged into a later one unsent.
        self.frames_sent = 0
        self.frames_merged = 0

    # -- the driver's API --------------------------------------------------------------

    async def start(self) -> str:
        """Listen on a random port; the page's address (with the one-time token)."""
        if self._server is not None:
            raise RuntimeError("the viewer server is already started")
        self._page_template = self._build_page()
        self._worker_script = "\n".join(
            _static(name) for name in ("screen.js", "screen-worker.js")).encode()
        self._server = await serve(
            self._handler, self._host, 0,
            process_request=self._process_request,
            create_connection=_SameUserConnection,
            server_header=None,
            max_size=MAX_PAGE_MESSAGE,
            compression=None,
            ping_interval=20,
            ping_timeout=20,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._hosts = frozenset({f"127.0.0.1:{self._port}", f"localhost:{self._port}"})
        self._origins = frozenset(f"http://{host}" for host in self._hosts)
        _log.info("viewer.listening", port=self._port)
        return self.url

    def _build_page(self) -> str:
        """The page, its style and scripts inlined (the screen decoder first)."""
        return build_page("ra viewer", "viewer.html", ["viewer.css"],
                          ["screen.js", "page.js", "viewer.js"])

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the viewer server is not started")
        return f"http://127.0.0.1:{self._port}/v/{self._token}"

    @property
    def port(self) -> int:
        return self._port

    async def send_json(self, message: Mapping[str, Any]) -> None:
        """Queue a status/chat/info/screen/screen.monitors message (ValueError if unknown)."""
        _check_outgoing(message)
        if message.get("type") == "status":
            self._state = str(message["state"])
        if self._gone:
            return
        if message.get("type") == "screen" and self._pending is not None:
            if self._pending.size != (message["width"], message["height"]):
                _done(self._pending.taken, shown=False)  # tiles for the old size: useless
                self._pending = None
        self._outbox.append(json.dumps(dict(message), ensure_ascii=False))
        self._flushed.clear()
        self._wake.set()

    async def send_screen(self, update: bytes | bytearray | memoryview,
                          taken: Taken = lambda shown: None) -> None:
        """Queue one screen update, ``Update.to_bytes()`` (ValueError if malformed);
        `taken` is called once the page has taken it (or it was dropped: the page
        is gone, or the screen changed size), in the order the updates came, with
        False if the page was never given its pixels (see `Taken`).

        The bytes go to the page as they are. If earlier updates are still
        unsent (the page is slow), they are merged with this one
        (``ra.desktop.pacing.merge_updates``): older tiles it paints over are
        dropped, the rest kept; a keyframe or a new screen size replaces them.
        When they cannot be merged within the bounds of an update, this one is
        dropped and a full frame is asked for (``screen.refresh`` to
        ``on_message``, as the page's Refresh button does).
        """
        data = bytes(update)
        parsed = check_update(data)
        if self._gone:
            taken(False)
            return
        if self._pending is None:
            self._pending = _Pending(parsed, data, taken)
        else:
            merged = self._pending.add(parsed, data, taken)
            self.frames_merged += 1
            if not merged:
                _log.info("viewer.screen.unmerged", reason="out of bounds")
                await self._deliver({"type": "screen.refresh"})
        self._wake.set()

    async def flush(self, timeout: float) -> None:
        """Wait until every message queued has gone to the page's socket, the page is
        gone, or `timeout` seconds; at once if no page is connected."""
        if self._ws is None or self._gone:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flushed.wait(), timeout)

    async def close(self) -> None:
        """Close the page's connection (if any) and stop listening."""
        self._gone = True
        self._consumed = True
        self._outbox.clear()
        self._drop_screens()
        if self._ws is not None:
            await self._ws.close(1001, "session ended")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.disconnected.set()

    @property
    def state(self) -> str:
        """The last status state sent to the page."""
        return self._state

    def _drop_screens(self) -> None:
        """The page is gone: what it had not taken never will be."""
        while self._sent:
            _done(self._sent.popleft(), shown=False)
        if self._pending is not None:
            _done(self._pending.taken, shown=False)
            self._pending = None

    # -- HTTP: the page, and the gate in front of the WebSocket --------------------------

    def _token_ok(self, given: str) -> bool:
        return not self._consumed and hmac.compare_digest(given.encode(), self._token.encode())

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        hosts = request.headers.get_all("Host")
        if len(hosts) != 1 or hosts[0].lower() not in self._hosts:
            _log.warning("viewer.refused", reason="host")
            return _denied(403)
        origins = request.headers.get_all("Origin")
        if len(origins) > 1 or (origins and origins[0].lower() not in self._origins):
            _log.warning("viewer.refused", reason="origin")
            return _denied(403)
        if request.method != "GET":
            return _denied(405)
        path = request.path.split("?", 1)[0]
        if path == WORKER_PATH:
            return _response(200, self._worker_script, "text/javascript; charset=utf-8", {
                "Content-Security-Policy": "default-src 'none'",
                "Cross-Origin-Resource-Policy": "same-origin",
            })
        if path.startswith("/v/") and self._token_ok(path[3:]):
            return self._page()
        if path.startswith("/ws/") and self._token_ok(path[4:]):
            upgrade = request.headers.get_all("Upgrade")
            if not origins or [value.lower() for value in upgrade] != ["websocket"]:
                _log.warning("viewer.refused", reason="not a browser websocket")
                return _denied(403)
            self._consumed = True  # before any await: a second socket cannot slip in
            _log.info("viewer.token.consumed")
            return None
        if path not in ("/favicon.ico",):
            _log.info("viewer.refused", reason="no such page or token")
        return _denied(404)

    def _page(self) -> Response:
        nonce = secrets.token_urlsafe(16)
        body = self._page_template.replace("{{NONCE}}", nonce).encode()
        sockets = " ".join(f"ws://{host}" for host in sorted(self._hosts))
        policy = (
            "default-src 'none'; "
            f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            f"connect-src {sockets}; img-src blob:; worker-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        return _response(200, body, "text/html; charset=utf-8", {
            "Content-Security-Policy": policy,
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cross-Origin-Resource-Policy": "same-origin",
        })

    # -- the WebSocket -------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        if self._ws is not None or self._gone:  # cannot happen: the token is single-use
            await ws.close(1008, "already connected")
            return
        self._ws = ws
        self.connected.set()
        _log.info("viewer.connected")
        sender = asyncio.create_task(self._send_loop(ws))
        if self._on_connect is not None:
            try:
                result = self._on_connect()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _log.exception("viewer.on_connect.failed")
        try:
            async for raw in ws:
                if not isinstance(raw, str):
                    continue
                message = parse_page_message(raw)
                if message is None:
                    _log.info("viewer.message.dropped", reason="malformed")
                    continue
                if message["type"] == "screen.ack":
                    if self._sent:
                        _done(self._sent.popleft())
                    self._wake.set()
                    continue
                if message["type"] == "input" and self._state != "controlling":
                    continue  # the page should not send it; never hand it on
                await self._deliver(message)
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            self._gone = True
            self._flushed.set()
            self._outbox.clear()
            self._drop_screens()
            self.disconnected.set()
            _log.info("viewer.disconnected")

    async def _deliver(self, message: dict[str, Any]) -> None:
        try:
            result = self._on_message(message)
            if inspect.isawaitable(result):
                await result
        except Exception:
            _log.exception("viewer.on_message.failed", message_type=message["type"])

    async def _send_loop(self, ws: ServerConnection) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._outbox:
                    await ws.send(self._outbox.popleft())
                self._flushed.set()
                if self._pending is not None and len(self._sent) < self._max_in_flight:
                    pending, self._pending = self._pending, None
                    self._sent.append(pending.taken)
                    await ws.send(pending.encode())
                    self.frames_sent += 1
                if self._outbox or (self._pending is not None
                                    and len(self._sent) < self._max_in_flight):
                    self._wake.set()
        except ConnectionClosed:
            pass


__all__ = [
    "VIEWER_STATES",
    "OnMessage",
    "ViewerServer",
    "check_update",
    "clean_monitors",
    "parse_page_message",
]
