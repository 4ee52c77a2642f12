"""The helper's screen viewer: a one-page web app served on 127.0.0.1.

`ViewerServer` serves one page at ``http://127.0.0.1:PORT/v/<token>`` and
accepts one WebSocket at ``ws://127.0.0.1:PORT/ws/<token>``. The token is
random (``secrets.token_urlsafe(32)``) and single-use: the first WebSocket
that gets through consumes it, and from then on every request, with any
token, gets a bare 404. Every request must also name this server in its
``Host`` header (and, if it has one, its ``Origin``), which defeats DNS
rebinding: a page on another site never gets a response it could read.

The wire format (JSON text messages both ways, binary screen frames from the
server) is described in ``docs/viewer.md``; `encode_frame` / `decode_frame`
implement the binary one, `jpeg_tile` / `rgba_tile` / `frame_from_image`
build frames from numpy images.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hmac
import http
import inspect
import json
import secrets
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping
from importlib import resources
from typing import Any

import numpy as np
import simplejpeg  # type: ignore[import-untyped]
from numpy.typing import NDArray
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ra.logs import get_logger, register_secret

_log = get_logger("ra.viewer")

OnMessage = Callable[[dict[str, Any]], Awaitable[None] | None]

# -- the binary screen format --------------------------------------------------------

#: First four bytes of every screen message (format version 1).
FRAME_MAGIC = b"RAF1"
#: magic, screen width, screen height, tile count, flags (reserved, 0); big-endian.
FRAME_HEADER = struct.Struct(">4sHHHH")
#: x, y, w, h, codec, payload length; big-endian, followed by the payload.
TILE_HEADER = struct.Struct(">HHHHBI")
CODEC_JPEG = 1
CODEC_RGBA = 2
CODECS = frozenset({CODEC_JPEG, CODEC_RGBA})
MAX_TILES = 0xFFFF
MAX_SIDE = 0xFFFF


@dataclasses.dataclass(frozen=True)
class Tile:
    """One rectangle of a screen frame: its place, its codec and the encoded bytes."""

    x: int
    y: int
    w: int
    h: int
    codec: int
    data: bytes

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


def _check_tile(tile: Tile, width: int, height: int) -> None:
    if tile.codec not in CODECS:
        raise ValueError(f"unknown tile codec {tile.codec}")
    if tile.w < 1 or tile.h < 1:
        raise ValueError(f"empty tile {tile.rect}")
    if tile.x < 0 or tile.y < 0 or tile.x + tile.w > width or tile.y + tile.h > height:
        raise ValueError(f"tile {tile.rect} is outside the {width}x{height} screen")
    if tile.codec == CODEC_RGBA and len(tile.data) != tile.w * tile.h * 4:
        raise ValueError(f"raw RGBA tile {tile.rect} has {len(tile.data)} bytes")


def encode_frame(width: int, height: int, tiles: Iterable[Tile]) -> bytes:
    """One binary screen message: a `width` x `height` screen, `tiles` drawn in order."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"bad screen size {width}x{height}")
    parts: list[bytes] = []
    count = 0
    for tile in tiles:
        _check_tile(tile, width, height)
        parts.append(TILE_HEADER.pack(tile.x, tile.y, tile.w, tile.h, tile.codec, len(tile.data)))
        parts.append(tile.data)
        count += 1
    if count > MAX_TILES:
        raise ValueError(f"too many tiles ({count}) for one frame")
    return FRAME_HEADER.pack(FRAME_MAGIC, width, height, count, 0) + b"".join(parts)


def decode_frame(data: bytes) -> tuple[int, int, list[Tile]]:
    """(width, height, tiles) of a binary screen message; ValueError if malformed."""
    view = memoryview(data)
    if len(view) < FRAME_HEADER.size:
        raise ValueError("screen message shorter than its header")
    magic, width, height, count, _flags = FRAME_HEADER.unpack_from(view, 0)
    if magic != FRAME_MAGIC:
        raise ValueError("not a screen message (bad magic)")
    if width < 1 or height < 1:
        raise ValueError(f"bad screen size {width}x{height}")
    offset = FRAME_HEADER.size
    tiles: list[Tile] = []
    for _ in range(count):
        if offset + TILE_HEADER.size > len(view):
            raise ValueError("screen message truncated in a tile header")
        x, y, w, h, codec, length = TILE_HEADER.unpack_from(view, offset)
        offset += TILE_HEADER.size
        if offset + length > len(view):
            raise ValueError("screen message truncated in a tile")
        tile = Tile(x, y, w, h, codec, bytes(view[offset:offset + length]))
        _check_tile(tile, width, height)
        tiles.append(tile)
        offset += length
    if offset != len(view):
        raise ValueError("trailing bytes after the last tile")
    return width, height, tiles


def _pixels(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError("expected an HxWx3 (RGB) or HxWx4 (RGBA) uint8 array")
    return image


def jpeg_tile(x: int, y: int, image: NDArray[np.uint8], quality: int = 90) -> Tile:
    """A JPEG tile (codec 1) at (x, y) from an RGB or RGBA image (alpha is dropped)."""
    rgb = np.ascontiguousarray(_pixels(image)[:, :, :3])
    data = simplejpeg.encode_jpeg(rgb, quality=quality, colorspace="RGB",
                                  colorsubsampling="444")
    return Tile(x, y, rgb.shape[1], rgb.shape[0], CODEC_JPEG, bytes(data))


def rgba_tile(x: int, y: int, image: NDArray[np.uint8]) -> Tile:
    """A raw RGBA tile (codec 2) at (x, y); an RGB image gets alpha 255."""
    pixels = _pixels(image)
    if pixels.shape[2] == 3:
        alpha = np.full(pixels.shape[:2] + (1,), 255, dtype=np.uint8)
        pixels = np.concatenate([pixels, alpha], axis=2)
    rgba = np.ascontiguousarray(pixels)
    return Tile(x, y, rgba.shape[1], rgba.shape[0], CODEC_RGBA, rgba.tobytes())


def frame_from_image(
    image: NDArray[np.uint8], *, tile_size: int = 64, codec: int = CODEC_JPEG, quality: int = 90
) -> bytes:
    """A full-screen message: `image` (HxWx3/4 uint8) cut into a grid of tiles."""
    height, width = _pixels(image).shape[:2]
    if codec not in CODECS:
        raise ValueError(f"unknown tile codec {codec}")
    tiles: list[Tile] = []
    for y in range(0, height, tile_size):
        for x in range(0, width, tile_size):
            part = image[y:y + tile_size, x:x + tile_size]
            tiles.append(jpeg_tile(x, y, part, quality) if codec == CODEC_JPEG
                         else rgba_tile(x, y, part))
    return encode_frame(width, height, tiles)


class _PendingFrame:
    """Screen tiles not yet sent; a newer tile at the same rectangle replaces an older one.

    Frames may carry only the tiles that changed, so dropping a whole unsent
    frame could lose a change for good; dropping only the tiles a newer frame
    paints over again is what "latest wins" can safely mean. Order is kept:
    a replaced tile moves to the end, after everything it was newer than.
    """

    def __init__(self, width: int, height: int, tiles: list[Tile]) -> None:
        self.width, self.height = width, height
        self.tiles: dict[tuple[int, int, int, int], Tile] = {}
        self.frames = 0
        self.add(width, height, tiles)

    def add(self, width: int, height: int, tiles: list[Tile]) -> None:
        if (width, height) != (self.width, self.height):  # a new screen size: start over
            self.width, self.height = width, height
            self.tiles.clear()
        for tile in tiles:
            self.tiles.pop(tile.rect, None)
            self.tiles[tile.rect] = tile
        self.frames += 1

    def encode(self) -> bytes:
        return encode_frame(self.width, self.height, self.tiles.values())


# -- page -> server messages ---------------------------------------------------------

#: Status states the page knows (the session states of ``ra.statemachines.session``).
VIEWER_STATES = frozenset({
    "connecting", "authenticated", "awaiting_view_consent", "viewing", "control_requested",
    "awaiting_control_consent", "controlling", "released", "disconnected",
})
#: Page messages handed to ``on_message``.
PAGE_MESSAGES = frozenset({"control.request", "control.release", "disconnect", "chat", "input"})
MAX_CHAT = 4000
MAX_COORD = 0xFFFF
MAX_SCROLL = 1000
MAX_KEY_NAME = 64
#: Largest message the page may send (bytes); its messages are small.
MAX_PAGE_MESSAGE = 16 * 1024


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _clean_input(event: object) -> dict[str, Any] | None:
    """The input event rebuilt from its known, well-typed fields, or None."""
    if not isinstance(event, Mapping):
        return None
    kind = event.get("kind")
    down = event.get("down")
    if kind == "key":
        key, code = event.get("key"), event.get("code")
        if (isinstance(key, str) and 0 < len(key) <= MAX_KEY_NAME and isinstance(code, str)
                and len(code) <= MAX_KEY_NAME and isinstance(down, bool)):
            return {"kind": "key", "key": key, "code": code, "down": down}
        return None
    if kind == "pointer":
        x, y = event.get("x"), event.get("y")
        if _is_int(x, 0, MAX_COORD) and _is_int(y, 0, MAX_COORD):
            return {"kind": "pointer", "x": x, "y": y}
        return None
    if kind == "button":
        button = event.get("button")
        if _is_int(button, 1, 3) and isinstance(down, bool):
            return {"kind": "button", "button": button, "down": down}
        return None
    if kind == "scroll":
        dx, dy = event.get("dx"), event.get("dy")
        if _is_int(dx, -MAX_SCROLL, MAX_SCROLL) and _is_int(dy, -MAX_SCROLL, MAX_SCROLL):
            return {"kind": "scroll", "dx": dx, "dy": dy}
        return None
    return None


def parse_page_message(raw: str) -> dict[str, Any] | None:
    """A page message rebuilt from its known fields, or None if it is not one.

    ``screen.ack`` (the page drew a frame) is internal and returned as well.
    """
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if kind in ("control.request", "control.release", "disconnect", "screen.ack"):
        return {"type": kind}
    if kind == "chat":
        text = message.get("text")
        if isinstance(text, str) and text.strip() and len(text) <= MAX_CHAT:
            return {"type": "chat", "text": text}
        return None
    if kind == "input":
        event = _clean_input(message.get("event"))
        return None if event is None else {"type": "input", "event": event}
    return None


def _check_outgoing(message: Mapping[str, Any]) -> None:
    kind = message.get("type")
    if kind not in ("status", "chat", "info", "screen"):
        raise ValueError(f"the viewer has no {kind!r} message")
    if kind == "status" and message.get("state") not in VIEWER_STATES:
        raise ValueError(f"unknown viewer state {message.get('state')!r}")
    if kind == "screen" and not (_is_int(message.get("width"), 1, MAX_SIDE)
                                 and _is_int(message.get("height"), 1, MAX_SIDE)):
        raise ValueError("a screen message needs integer width and height")


# -- the server ----------------------------------------------------------------------

def _static(name: str) -> str:
    return resources.files("ra.viewer").joinpath("static", name).read_text(encoding="utf-8")


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


class ViewerServer:
    """Serves the viewer page and its one WebSocket on 127.0.0.1.

    `on_message` gets each page message (``control.request``, ``control.release``,
    ``disconnect``, ``chat``, ``input``), checked and rebuilt from known fields;
    it may be a plain function or a coroutine function. Input events are handed
    on only while the last status sent was ``controlling``.

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
    ) -> None:
        self._on_message = on_message
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
        self._ws: ServerConnection | None = None
        self._outbox: collections.deque[str] = collections.deque()
        self._frame: _PendingFrame | None = None
        self._in_flight = 0
        self._wake = asyncio.Event()
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
        self._page_template = (
            _static("viewer.html")
            .replace("/*VIEWER_CSS*/", _static("viewer.css"))
            .replace("/*VIEWER_JS*/", _static("viewer.js"))
        )
        self._server = await serve(
            self._handler, self._host, 0,
            process_request=self._process_request,
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

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the viewer server is not started")
        return f"http://127.0.0.1:{self._port}/v/{self._token}"

    @property
    def port(self) -> int:
        return self._port

    async def send_json(self, message: Mapping[str, Any]) -> None:
        """Queue a status/chat/info/screen message for the page (ValueError if unknown)."""
        _check_outgoing(message)
        if message.get("type") == "status":
            self._state = str(message["state"])
        if self._gone:
            return
        if message.get("type") == "screen" and self._frame is not None:
            if (self._frame.width, self._frame.height) != (message["width"], message["height"]):
                self._frame = None  # tiles for the old size: useless now
        self._outbox.append(json.dumps(dict(message), ensure_ascii=False))
        self._wake.set()

    async def send_screen(self, frame: bytes) -> None:
        """Queue a binary screen message (ValueError if malformed); latest wins.

        If earlier frames are still unsent (the page is slow), they are merged
        with this one: tiles it paints over are dropped, the rest kept.
        """
        width, height, tiles = decode_frame(frame)
        if self._gone:
            return
        if self._frame is None:
            self._frame = _PendingFrame(width, height, tiles)
        else:
            self._frame.add(width, height, tiles)
            self.frames_merged += 1
        self._wake.set()

    async def close(self) -> None:
        """Close the page's connection (if any) and stop listening."""
        self._gone = True
        self._consumed = True
        self._outbox.clear()
        self._frame = None
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
            f"connect-src {sockets}; img-src blob:; "
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
        try:
            async for raw in ws:
                if not isinstance(raw, str):
                    continue
                message = parse_page_message(raw)
                if message is None:
                    _log.info("viewer.message.dropped", reason="malformed")
                    continue
                if message["type"] == "screen.ack":
                    self._in_flight = max(0, self._in_flight - 1)
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
            self._outbox.clear()
            self._frame = None
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
                if self._frame is not None and self._in_flight < self._max_in_flight:
                    pending, self._frame = self._frame, None
                    self._in_flight += 1
                    await ws.send(pending.encode())
                    self.frames_sent += 1
                if self._outbox or (self._frame is not None
                                    and self._in_flight < self._max_in_flight):
                    self._wake.set()
        except ConnectionClosed:
            pass


__all__ = [
    "CODEC_JPEG",
    "CODEC_RGBA",
    "FRAME_MAGIC",
    "OnMessage",
    "Tile",
    "VIEWER_STATES",
    "ViewerServer",
    "decode_frame",
    "encode_frame",
    "frame_from_image",
    "jpeg_tile",
    "parse_page_message",
    "rgba_tile",
]
