"""The helper's viewer: a real ViewerServer and a real (headless) Chromium.

Each browser test runs in its own event loop (`asyncio.run`) with Playwright's
async API, so the server and the page share one loop and nothing is mocked.
Debian's /usr/bin/chromium is used (`make setup` installs it); without it the browser
tests fail rather than skip, so a missing browser cannot pass unseen.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import simplejpeg  # type: ignore[import-untyped]
from desktop_support import CANVAS_JS, canvas_rgba
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from ra.desktop.codec import MAX_SCREENS, MAX_TILES, Codec, Tile, TileDecoder, TileEncoder, Update
from ra.viewer import ViewerServer, parse_page_message

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT = 10.0
#: FILL and RAW tiles are lossless: the canvas must equal the source exactly.
#: JPEG tiles: the canvas must equal libjpeg-turbo's decoding of the same bytes (simplejpeg,
#: what the Python client shows) within this, per channel, by chroma subsampling. The page
#: decodes with WebCodecs' ImageDecoder (libjpeg-turbo too) to YUV and converts to RGB as it
#: draws: text (4:4:4) measured 0-1, 2 leaves room for another build's IDCT; photo cells
#: (4:2:0) have their colour upsampled otherwise than libjpeg's smoothing, measured 8 on
#: noise (the worst case), which the encoder's own loss there (JPEG_LOSS) dwarfs.
JPEG_DECODE_TOLERANCE = {"444": 2, "420": 12}
#: JPEG tiles versus the source frame: the encoder's loss, (max, mean) per channel.
#: Measured on mixed_screen over seeds 0-4: text-like cells at q90 4:4:4 lose at most
#: 23-31 (on 1-pixel glyph edges, dark on light) and 3.9 on average; the noisy block at
#: q70 4:2:0 at most 51-58 and 9.0-9.1 on average.
JPEG_LOSS = {"444": (40, 5.0), "420": (70, 12.0)}

from playwright.async_api import Browser, Page, Worker, async_playwright  # noqa: E402


def needs_chromium(test: Any) -> Any:
    """Mark a browser test: it fails at once, with the reason, if Chromium is missing."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
            pytest.fail(f"{CHROMIUM} is missing: run `make setup` (it installs chromium)")
        return test(*args, **kwargs)

    return wrapper


# -- helpers -------------------------------------------------------------------------


@dataclass
class Received:
    """Messages in arrival order, with a way to wait for one.

    Used twice: for what the server hands to on_message, and for what the page
    put on the wire (every JSON frame it sent, seen through Chromium), so a
    test can tell "the page sent nothing" from "the server dropped it".
    """

    messages: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    async def wait_for(
        self, check: Callable[[dict[str, Any]], bool], start: int = 0
    ) -> tuple[int, dict[str, Any]]:
        """The first message from index `start` on that passes `check`, and its index."""
        async with asyncio.timeout(WAIT):
            while True:
                for index in range(start, len(self.messages)):
                    if check(self.messages[index]):
                        return index, self.messages[index]
                await asyncio.sleep(0.01)

    def inputs(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        return [m["event"] for m in self.messages[start:end] if m["type"] == "input"]


def of_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message["type"] == kind


@dataclass
class Session:
    server: ViewerServer
    received: Received
    browser: Browser
    page: Page
    url: str
    wire: Received  # every JSON message the page sent, acks left out
    acks: list[int] = field(default_factory=lambda: [0])  # screen.ack messages the page sent

    async def status(self, state: str, text: str | None = None) -> None:
        message: dict[str, Any] = {"type": "status", "state": state}
        if text is not None:
            message["text"] = text
        await self.server.send_json(message)
        await self.page.wait_for_function(
            "s => document.getElementById('status').dataset.state === s", arg=state,
            timeout=WAIT * 1000,
        )

    async def frames_drawn(self, count: int) -> None:
        await self.page.wait_for_function(
            "n => Number(document.getElementById('screen').dataset.frames || 0) >= n",
            arg=count, timeout=WAIT * 1000,
        )

    async def canvas_pixels(self) -> np.ndarray:
        return canvas_rgba(await self.page.evaluate(CANVAS_JS))

    async def cursor_at(self, x: int, y: int) -> None:
        """The pointer marker is shown over remote pixel (x, y) of the scaled canvas."""
        await self.page.wait_for_function(
            "() => !document.getElementById('cursor').hidden", timeout=WAIT * 1000)
        marker = await self.page.locator("#cursor").bounding_box()
        box = await self.page.locator("#screen").bounding_box()
        width, height = await self.page.evaluate(
            "() => [document.getElementById('screen').width,"
            " document.getElementById('screen').height]")
        assert marker is not None and box is not None
        centre_x = marker["x"] + marker["width"] / 2
        centre_y = marker["y"] + marker["height"] / 2
        assert abs(centre_x - (box["x"] + (x + 0.5) * box["width"] / width)) <= 1, (marker, box)
        assert abs(centre_y - (box["y"] + (y + 0.5) * box["height"] / height)) <= 1, (marker, box)

    async def barrier(self) -> tuple[int, int]:
        """Send a chat line from the page and wait until both the server and the
        wire log have it: every earlier message is in. Its index in each."""
        marker = f"barrier {len(self.received.messages)}"
        await self.page.fill("#chat-input", marker)
        await self.page.click("#chat-send")

        def is_marker(message: dict[str, Any]) -> bool:
            return bool(message["type"] == "chat" and message["text"] == marker)

        index, _ = await self.received.wait_for(is_marker)
        wire_index, _ = await self.wire.wait_for(is_marker)
        return index, wire_index


async def launch(playwright: Any) -> Browser:
    browser: Browser = await playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    return browser


@asynccontextmanager
async def viewer_session(
    viewport: tuple[int, int] = (1280, 800), *, name: str = "Alice Example",
    message: str = "Please look at my printer settings", max_frames_in_flight: int = 2,
) -> AsyncIterator[Session]:
    received = Received()
    server = ViewerServer(received, max_frames_in_flight=max_frames_in_flight)
    url = await server.start()
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page(
                viewport={"width": viewport[0], "height": viewport[1]}
            )
            wire = Received()
            acks = [0]

            def on_frame(payload: str | bytes) -> None:
                if isinstance(payload, str):
                    message = json.loads(payload)
                    if message.get("type") != "screen.ack":
                        wire(message)
                    else:
                        acks[0] += 1

            page.on("websocket", lambda socket: socket.on("framesent", on_frame))
            response = await page.goto(url)
            assert response is not None and response.status == 200
            async with asyncio.timeout(WAIT):
                await server.connected.wait()
            await server.send_json({"type": "info", "name": name, "message": message})
            session = Session(server, received, browser, page, url, wire, acks)
            await session.status("awaiting_view_consent")
            yield session
        finally:
            await browser.close()
            await server.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=60))


def colour_blocks(width: int, height: int, block: int) -> np.ndarray:
    """An RGB image of flat colour blocks, each `block` pixels square, all different."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    palette = [
        (220, 40, 40), (40, 200, 60), (30, 60, 220), (240, 220, 30), (200, 40, 200),
        (20, 200, 210), (250, 250, 250), (10, 10, 10), (128, 128, 128), (250, 140, 20),
        (90, 40, 10), (100, 160, 255),
    ]
    index = 0
    for y in range(0, height, block):
        for x in range(0, width, block):
            image[y:y + block, x:x + block] = palette[index % len(palette)]
            index += 1
    return image


def to_bgra(rgb: np.ndarray) -> np.ndarray:
    """The screen as the person's side grabs it: BGRA, padding byte 255."""
    alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb[:, :, ::-1], alpha], axis=2))


def keyframe(rgb: np.ndarray) -> bytes:
    """A browser-safe keyframe of an RGB image, as the person's side sends it."""
    height, width = rgb.shape[:2]
    return TileEncoder(width, height, browser_safe=True).encode(to_bgra(rgb)).to_bytes()


def text_like(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Dark "glyphs" with a grey anti-aliased edge on a light background: few colours."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = (250, 250, 245)
    for y in range(1, height - 9, 12):
        for x in range(1, width - 5, 7):
            glyph = rng.random((9, 5)) < 0.35
            edge = np.zeros_like(glyph)
            edge[:, 1:] = glyph[:, :-1]
            edge &= ~glyph
            cell = image[y:y + 9, x:x + 5]
            cell[edge] = (140, 140, 150)
            cell[glyph] = (20, 30, 40)
    return image


def mixed_screen(rng: np.random.Generator) -> np.ndarray:
    """A 325x200 RGB screen whose browser-safe keyframe holds every browser codec.

    The 64-pixel grid has a 5-pixel column on the right and an 8-pixel row at the
    bottom. Flat cells become FILL tiles, text-like cells JPEG q90 4:4:4 (RAW where
    the rectangle is under 342 pixels: the narrow edge cells), the noisy block (a
    gradient with Gaussian noise, thousands of colours) JPEG q70 4:2:0.
    """
    image = np.empty((200, 325, 3), dtype=np.uint8)
    image[:] = (60, 90, 200)
    image[0:64, 0:64] = (220, 40, 40)
    image[0:64, 64:128] = (40, 200, 60)
    image[0:64, 128:192] = (240, 220, 30)
    image[0:64, 192:320] = text_like(64, 128, rng)
    y, x = np.mgrid[0:64, 0:128]
    gradient = np.stack([x * 2, y * 3, 255 - x], axis=2).astype(float)
    noisy = gradient + rng.normal(0, 12, size=gradient.shape)
    image[64:128, 0:128] = np.clip(noisy, 0, 255).astype(np.uint8)
    image[64:128, 320:325] = rng.choice(np.array([0, 255], dtype=np.uint8), size=(64, 5, 1))
    image[128:192] = text_like(64, 325, rng)
    image[192:200, 320:325] = (0, 0, 0)
    image[194:197, 321:324] = (255, 255, 255)
    return image


@dataclass
class TileCheck:
    """How far the canvas is from the source frame in one tile."""

    tile: Tile
    max_error: int
    mean_error: float
    max_vs_decoder: int  # for JPEG: versus libjpeg-turbo's decoding of the same bytes


def check_tiles(shown: np.ndarray, source: np.ndarray, update: Update) -> list[TileCheck]:
    """Compare the canvas (RGBA) with the source (RGB) tile by tile, by codec.

    FILL and RAW are lossless and must be exact. JPEG must match libjpeg-turbo's
    decoding of the same bytes within JPEG_DECODE_TOLERANCE, and the source within
    JPEG_LOSS for its chroma subsampling.
    """
    checks = []
    for tile in update.tiles:
        rows, cols = slice(tile.y, tile.y + tile.h), slice(tile.x, tile.x + tile.w)
        got = shown[rows, cols, :3].astype(int)
        error = np.abs(got - source[rows, cols].astype(int))
        vs_decoder = 0
        if tile.codec == Codec.JPEG:
            reference = simplejpeg.decode_jpeg(tile.data, colorspace="RGB").astype(int)
            vs_decoder = int(np.abs(got - reference).max())
        checks.append(TileCheck(tile, int(error.max()), float(error.mean()), vs_decoder))
    for check in checks:
        tile = check.tile
        where = (tile.x, tile.y, tile.w, tile.h, tile.codec.name)
        if tile.codec in (Codec.FILL, Codec.RAW):
            assert check.max_error == 0, (where, check)
            continue
        assert tile.codec == Codec.JPEG, where
        chroma = simplejpeg.decode_jpeg_header(tile.data)[3]
        assert check.max_vs_decoder <= JPEG_DECODE_TOLERANCE[chroma], (where, check)
        most, mean = JPEG_LOSS[chroma]
        assert check.max_error <= most and check.mean_error <= mean, (where, check)
    return checks


def raw_http(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        connection.putrequest("GET", path, skip_host=True)
        sent = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        for key, value in sent.items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


# -- screen updates and page messages (no browser) ---------------------------------


def test_send_screen_takes_codec_updates_only() -> None:
    async def body() -> None:
        server = ViewerServer(lambda message: None)
        good = keyframe(colour_blocks(70, 40, 32))
        await server.send_screen(good)
        await server.send_screen(bytearray(good))
        raf1 = b"RAF1" + bytes([0, 5, 0, 5, 0, 0, 0, 0])  # the old viewer format
        for bad in [b"", b"RAF1", raf1, good[:-1], good + b"x", b"\x02" + good[1:],
                    good[:1] + b"\x80" + good[2:]]:
            with pytest.raises(ValueError):
                await server.send_screen(bad)
        await server.close()

    run(body)


def whole_screen_jpeg(width: int, height: int) -> bytes:
    """About a kilobyte of JPEG that decodes to a whole screen of one colour."""
    return bytes(simplejpeg.encode_jpeg(np.full((height, width, 3), 77, np.uint8), 50, "RGB"))


def test_one_whole_screen_tile_many_times_is_refused_quickly() -> None:
    """A hostile person's update of one whole-screen JPEG (57 KB) 280 times over (280
    screens to decode from 16 MB), or of more tiles than an update may hold: `ra connect`
    refuses it on its structure, at once, and the page never gets it."""
    async def body() -> None:
        server = ViewerServer(lambda message: None)
        width, height = 1920, 1080
        jpeg = whole_screen_jpeg(width, height)
        twice = Update(1, width, height, 0, 0, (Tile(0, 0, width, height, Codec.JPEG, jpeg),) * 2)
        await server.send_screen(twice.to_bytes())  # what a merge may hold
        flood = Update(2, width, height, 0, 0, twice.tiles[:1] * 280).to_bytes()
        assert len(flood) < 16 * 1024 * 1024
        dots = Update(3, width, height, 0, 0, (Tile(0, 0, 1, 1, Codec.FILL, b"abc"),)
                      * (MAX_TILES + 1)).to_bytes()
        started = asyncio.get_running_loop().time()
        with pytest.raises(ValueError, match="more than 2 times the 1920x1080 screen"):
            await server.send_screen(flood)
        with pytest.raises(ValueError, match=f"{MAX_TILES + 1} tiles, more than {MAX_TILES}"):
            await server.send_screen(dots)
        assert asyncio.get_running_loop().time() - started < 1.0
        await server.close()

    run(body)


def test_updates_that_cannot_be_merged_within_the_bounds_ask_for_a_full_frame() -> None:
    """While the page is slow, a change that paints over part of the merged updates waiting
    would make them cover more than two screens: it is not merged; what waits goes out as
    it was, and a full frame is asked for (as the page's Refresh button does)."""
    async def body() -> None:
        received = Received()
        server = ViewerServer(received)
        url = await server.start()
        origin = f"http://127.0.0.1:{server.port}"

        def fill(seq: int, x: int, w: int, value: int, key: bool = False) -> Update:
            return Update(seq, 192, 64, 0, 0, (Tile(x, 0, w, 64, Codec.FILL, bytes([value] * 3)),),
                          key)

        try:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/ws/{token_of(url)}", origin=Origin(origin)
            ) as ws:
                await server.connected.wait()
                for seq in (1, 2):  # two unacked updates: the page is busy
                    await server.send_screen(fill(seq, 0, 192, seq, key=True).to_bytes())
                    await ws.recv(decode=False)
                await server.send_screen(fill(3, 0, 192, 3, key=True).to_bytes())
                await server.send_screen(fill(4, 0, 64, 4).to_bytes())  # 1 1/3 screens: merged
                assert received.messages == []
                await server.send_screen(fill(5, 32, 130, 5).to_bytes())  # over 2: not merged
                assert received.messages == [{"type": "screen.refresh"}]
                await ws.send(json.dumps({"type": "screen.ack"}))
                waiting = Update.from_bytes(await ws.recv(decode=False))
                assert [(t.x, t.w, t.data[0]) for t in waiting.tiles] == [(0, 192, 3), (0, 64, 4)]
                assert waiting.seq == 4 and waiting.keyframe
                assert (server.frames_sent, server.frames_merged) == (3, 2)
        finally:
            await server.close()

    run(body)


def test_the_pages_bounds_of_an_update_are_the_codecs() -> None:
    script = (Path(__file__).parents[1] / "ra/viewer/static/screen.js").read_text()
    constants = dict(re.findall(r"const (MAX_TILES|MAX_SCREENS) = (\d+);", script))
    assert constants == {"MAX_TILES": str(MAX_TILES), "MAX_SCREENS": str(MAX_SCREENS)}


def test_page_messages_are_checked_and_rebuilt() -> None:
    assert parse_page_message('{"type":"control.request","extra":1}') == {
        "type": "control.request"}
    assert parse_page_message('{"type":"chat","text":"hi"}') == {"type": "chat", "text": "hi"}
    assert parse_page_message('{"type":"control.release","via":"esc"}') == {
        "type": "control.release", "via": "esc"}
    assert parse_page_message('{"type":"control.release"}') == {
        "type": "control.release", "via": "button"}
    key = {"kind": "key", "key": "a", "code": "KeyA", "down": True, "evil": "x"}
    assert parse_page_message(json.dumps({"type": "input", "event": key})) == {
        "type": "input", "event": {"kind": "key", "key": "a", "code": "KeyA", "down": True}}
    for bad in [
        "not json", "[]", '{"type":"consent"}', '{"type":"chat","text":5}',
        '{"type":"chat","text":"' + "x" * 4001 + '"}',
        '{"type":"input","event":{"kind":"pointer","x":-1,"y":0}}',
        '{"type":"input","event":{"kind":"pointer","x":true,"y":0}}',
        '{"type":"input","event":{"kind":"button","button":4,"down":true}}',
        '{"type":"input","event":{"kind":"key","key":"","code":"","down":true}}',
        '{"type":"input","event":{"kind":"scroll","dx":1.5,"dy":0}}',
        '{"type":"input","event":{"kind":"exec","cmd":"rm"}}',
        '{"type":"control.release","via":"keymap-changed"}',
        '{"type":"control.release","via":["esc"]}',
    ]:
        assert parse_page_message(bad) is None, bad


def test_send_json_refuses_unknown_messages() -> None:
    async def body() -> None:
        server = ViewerServer(lambda message: None)
        with pytest.raises(ValueError):
            await server.send_json({"type": "status", "state": "bogus"})
        with pytest.raises(ValueError):
            await server.send_json({"type": "eval", "code": "alert(1)"})
        with pytest.raises(ValueError):
            await server.send_screen(b"RAF1")

    run(body)


def test_slow_page_gets_latest_tiles_merged_and_unsafe_input_dropped() -> None:
    """A client that does not ack: at most 2 updates in flight, the rest merged, latest wins."""

    async def body() -> None:
        received = Received()
        server = ViewerServer(received)
        url = await server.start()
        origin = f"http://127.0.0.1:{server.port}"
        encoder = TileEncoder(192, 64, browser_safe=True)  # three 64x64 cells
        screen = np.full((64, 192, 4), 255, dtype=np.uint8)
        decoder = TileDecoder(192, 64)  # what the page ends up showing

        def update(value: int, cells: tuple[int, ...] = (0,), full: bool = False) -> bytes:
            for cell in cells:
                screen[:, cell * 64:(cell + 1) * 64, :3] = value
            return encoder.encode(screen, force_full=full).to_bytes()

        try:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/ws/{token_of(url)}", origin=Origin(origin)
            ) as ws:
                await server.connected.wait()

                async def receive() -> bytes:
                    data = await ws.recv(decode=False)
                    assert isinstance(data, bytes)
                    decoder.feed(data)
                    return data

                for sent in (update(1, (0, 1, 2)), update(2)):
                    await server.send_screen(sent)
                    assert await receive() == sent  # passed on byte for byte
                for value in range(3, 11):  # two unacked updates: these wait, merged
                    await server.send_screen(update(value))
                    await asyncio.sleep(0.01)
                await server.send_screen(update(99, (2,)))
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.3):
                        await ws.recv()  # nothing more until the page acks
                await ws.send(json.dumps({"type": "screen.ack"}))
                merged = Update.from_bytes(await receive())
                assert [(t.x, t.codec, t.data) for t in merged.tiles] == [
                    (0, Codec.FILL, bytes([10] * 3)), (128, Codec.FILL, bytes([99] * 3))]
                assert merged.seq == encoder.seq and not merged.keyframe
                assert np.array_equal(decoder.framebuffer, screen)
                assert (server.frames_sent, server.frames_merged) == (3, 8)

                # A keyframe replaces everything pending; it goes out as it came.
                await server.send_screen(update(5, (1,)))
                full = update(7, (0,), full=True)
                await server.send_screen(full)
                await ws.send(json.dumps({"type": "screen.ack"}))
                assert await receive() == full
                assert np.array_equal(decoder.framebuffer, screen)
                assert (server.frames_sent, server.frames_merged) == (4, 9)

                # Input outside control is never handed on; junk is dropped.
                key = {"kind": "key", "key": "a", "code": "KeyA", "down": True}
                await ws.send(json.dumps({"type": "input", "event": key}))
                await ws.send("{not json")
                await ws.send(json.dumps({"type": "control.request"}))
                await received.wait_for(of_type("control.request"))
                await server.send_json({"type": "status", "state": "controlling"})
                await ws.send(json.dumps({"type": "input", "event": key}))
                await received.wait_for(of_type("input"))
                assert [m["type"] for m in received.messages] == ["control.request", "input"]
        finally:
            await server.close()

    run(body)


def test_each_update_is_taken_only_once_the_page_has_it() -> None:
    """The person hears of an update (its `taken`) when the page acknowledges the frame
    that holds it, in order, merged ones with it, and whether the page was given its
    pixels (not when a later one painted over all of it); what the page never gets is
    let go, unseen, when it goes, and so is all that comes after."""

    async def body() -> None:
        server = ViewerServer(Received())
        url = await server.start()
        encoder = TileEncoder(192, 64, browser_safe=True)
        screen = np.full((64, 192, 4), 255, dtype=np.uint8)
        taken: list[tuple[int, bool]] = []

        async def send(value: int, cell: int = 0) -> None:
            screen[:, cell * 64:(cell + 1) * 64, :3] = value
            await server.send_screen(encoder.encode(screen).to_bytes(),
                                     lambda shown: taken.append((value, shown)))

        async def until(count: int) -> None:
            async with asyncio.timeout(WAIT):
                while len(taken) < count:
                    await asyncio.sleep(0.01)

        try:
            async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/{token_of(url)}",
                                  origin=Origin(f"http://127.0.0.1:{server.port}")) as ws:
                await server.connected.wait()
                for value in (1, 2):  # two go out
                    await send(value)
                    await ws.recv(decode=False)
                await send(3)  # these wait for an ack, merged: 4 paints over all of 3,
                await send(4)  # 5 (another cell) over none of 4
                await send(5, cell=1)
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await ws.recv()
                assert taken == []  # arrived is not taken
                await ws.send(json.dumps({"type": "screen.ack"}))
                assert Update.from_bytes(await ws.recv(decode=False)).seq == encoder.seq
                assert taken == [(1, True)]
                await ws.send(json.dumps({"type": "screen.ack"}))
                await ws.send(json.dumps({"type": "screen.ack"}))
                await until(5)
                assert taken == [(1, True), (2, True), (3, False), (4, True), (5, True)]
                await send(6)
                await ws.recv(decode=False)
                await send(7)
                await ws.recv(decode=False)
                await send(8)
                assert len(taken) == 5
            async with asyncio.timeout(WAIT):
                await server.disconnected.wait()
            # The page went: nothing waits for it, and it showed none of them.
            assert taken[5:] == [(6, False), (7, False), (8, False)]
            await send(9)
            assert taken[-1] == (9, False)
        finally:
            await server.close()

    run(body)


# -- security: the token, Host and Origin ---------------------------------------------


@needs_chromium
def test_requests_without_the_token_get_nothing() -> None:
    async def body() -> None:
        received = Received()
        server = ViewerServer(received)
        url = await server.start()
        port, token = server.port, token_of(url)
        wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        loop = asyncio.get_running_loop()

        async def get(path: str, **headers: str) -> tuple[int, bytes]:
            return await loop.run_in_executor(None, raw_http, port, path, headers)

        try:
            for path in ["/", "/v/", f"/v/{wrong}", f"/ws/{token}", f"/v/{token}x",
                         f"/V/{token}", "/favicon.ico", f"/static/viewer.js?{token}"]:
                status, content = await get(path)
                assert status in (403, 404), path
                assert b"<" not in content and b"canvas" not in content, path
            # A plain GET of the socket address, even with an Origin, is not a WebSocket.
            status, content = await get(f"/ws/{token}", Origin=f"http://127.0.0.1:{port}")
            assert (status, b"<" in content) == (403, False)
            # The page itself may load before its socket connects; that uses nothing up.
            status, content = await get(f"/v/{token}")
            assert status == 200 and b"<canvas" in content
            # DNS rebinding: the right token with someone else's name in Host or Origin.
            status, content = await get(f"/v/{token}", Host=f"evil.example:{port}")
            assert (status, b"<" in content) == (403, False)
            status, content = await get(f"/v/{token}", Origin="http://evil.example")
            assert (status, b"<" in content) == (403, False)
            for origin in ["http://evil.example", f"http://127.0.0.1:{port + 1}", "null"]:
                with pytest.raises(InvalidStatus) as refused:
                    async with ws_connect(f"ws://127.0.0.1:{port}/ws/{token}",
                                          origin=Origin(origin)):
                        pass
                assert refused.value.response.status_code == 403
            with pytest.raises(InvalidStatus):  # a WebSocket with the wrong token
                async with ws_connect(f"ws://127.0.0.1:{port}/ws/{wrong}",
                                      origin=Origin(f"http://127.0.0.1:{port}")):
                    pass

            async with async_playwright() as playwright:
                browser = await launch(playwright)
                try:
                    page = await browser.new_page()
                    base = f"http://127.0.0.1:{port}"
                    for bad_url in [f"{base}/", f"{base}/v/", f"{base}/v/{wrong}"]:
                        response = await page.goto(bad_url)
                        assert response is not None and response.status in (403, 404)
                        assert await page.locator("canvas").count() == 0
                    # None of that used the token up: the real page still connects.
                    response = await page.goto(url)
                    assert response is not None and response.status == 200
                    csp = response.headers["content-security-policy"]
                    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
                    assert "worker-src 'self';" in csp  # the screen decoder, nothing else
                    assert response.headers["referrer-policy"] == "no-referrer"
                    async with asyncio.timeout(WAIT):
                        await server.connected.wait()
                finally:
                    await browser.close()
            assert received.messages == []
        finally:
            await server.close()

    run(body)


def test_screen_worker_script_is_served_with_a_policy_that_fetches_nothing() -> None:
    """The page's screen decoder is static code, served without the token (the page may
    fetch it after its socket took the token) to this server's own name only."""
    async def body() -> None:
        server = ViewerServer(Received())
        await server.start()
        port = server.port

        def get(host: str) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
            try:
                connection.putrequest("GET", "/screen-worker.js", skip_host=True)
                connection.putheader("Host", host)
                connection.endheaders()
                response = connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            finally:
                connection.close()

        loop = asyncio.get_running_loop()
        try:
            status, headers, script = await loop.run_in_executor(None, get, f"127.0.0.1:{port}")
            assert status == 200
            assert headers["Content-Type"] == "text/javascript; charset=utf-8"
            assert headers["Content-Security-Policy"] == "default-src 'none'"
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert script.index(b"self.raScreen = ") < script.index(b"const raScreen = self")
            status, _headers, script = await loop.run_in_executor(None, get, "evil.example")
            assert status == 403 and b"raScreen" not in script
        finally:
            await server.close()

    run(body)


@needs_chromium
def test_second_tab_gets_nothing_and_first_keeps_working() -> None:
    async def body() -> None:
        async with viewer_session() as session:
            port, token = session.server.port, token_of(session.url)
            second = await session.browser.new_page()
            response = await second.goto(session.url)
            assert response is not None and response.status == 404
            assert await second.locator("canvas").count() == 0
            assert "Alice" not in await second.content()
            with pytest.raises(InvalidStatus) as refused:
                async with ws_connect(f"ws://127.0.0.1:{port}/ws/{token}",
                                      origin=Origin(f"http://127.0.0.1:{port}")):
                    pass
            assert refused.value.response.status_code == 404
            # localhost is the same server, but the token is gone there too.
            response = await second.goto(session.url.replace("127.0.0.1", "localhost"))
            assert response is not None and response.status == 404

            await session.server.send_json({"type": "chat", "from": "Alice", "text": "still here"})
            await session.page.locator("#chat-log li", has_text="still here").wait_for()
            await session.barrier()

    run(body)


# -- the page -------------------------------------------------------------------------


@needs_chromium
def test_page_shows_name_message_and_status() -> None:
    async def body() -> None:
        async with viewer_session() as session:
            page = session.page
            assert await page.text_content("#name") == "Alice Example"
            assert await page.text_content("#message") == "Please look at my printer settings"
            assert await page.text_content("#status") == "Waiting for consent…"
            assert await page.is_disabled("#take-control")
            await session.status("viewing")
            assert await page.text_content("#status") == "Viewing"
            assert await page.is_enabled("#take-control")
            assert await page.is_disabled("#release")
            await session.status("control_requested", "Asking Alice…")
            assert await page.text_content("#status") == "Asking Alice…"
            await session.status("controlling")
            assert await page.text_content("#status") == "In control"
            assert await page.is_enabled("#release")
            await page.click("#release")  # the button says it was the button
            _, release = await session.received.wait_for(of_type("control.release"))
            assert release == {"type": "control.release", "via": "button"}
            await session.status("released")
            assert await page.text_content("#status") == "Released: viewing"
            await session.status("chat_only")  # no screen: chat on, control off
            assert await page.text_content("#status") == "No screen: chat only"
            assert await page.is_disabled("#take-control")
            assert await page.is_enabled("#chat-input")
            await session.server.close()
            await page.wait_for_function(
                "() => document.getElementById('status').dataset.state === 'disconnected'"
            )
            assert await page.is_disabled("#disconnect")

    run(body)


@needs_chromium
def test_codec_updates_are_drawn(tmp_path: Path) -> None:
    async def body() -> None:
        async with viewer_session() as session:
            await session.status("viewing")
            rng = np.random.default_rng(7)
            image = mixed_screen(rng)
            height, width = image.shape[:2]
            encoder = TileEncoder(width, height, browser_safe=True)
            first = encoder.encode(to_bgra(image), cursor=(200, 100))
            codecs = {t.codec for t in first.tiles}
            assert first.keyframe and codecs == {Codec.FILL, Codec.RAW, Codec.JPEG}, codecs
            chroma = {simplejpeg.decode_jpeg_header(t.data)[3]
                      for t in first.tiles if t.codec == Codec.JPEG}
            assert chroma == {"444", "420"}  # text at q90, noise at q70
            await session.server.send_screen(first.to_bytes())
            await session.frames_drawn(1)
            shown = await session.canvas_pixels()
            assert shown.shape == (height, width, 4)
            assert (shown[:, :, 3] == 255).all()
            check_tiles(shown, image, first)
            await session.cursor_at(200, 100)

            # A partial update: only the changed cells come, the rest stays as it was.
            image[0:64, 64:128] = (255, 0, 255)  # FILL
            image[64:128, 320:325] = 255 - image[64:128, 320:325]  # RAW (5x64)
            image[128:192, 128:192] = text_like(64, 64, rng)  # JPEG q90
            second = encoder.encode(to_bgra(image), cursor=(10, 190))
            assert not second.keyframe
            assert [(t.x, t.y, t.w, t.h, t.codec) for t in second.tiles] == [
                (64, 0, 64, 64, Codec.FILL), (320, 64, 5, 64, Codec.RAW),
                (128, 128, 64, 64, Codec.JPEG)]
            await session.server.send_screen(second.to_bytes())
            await session.frames_drawn(2)
            again = await session.canvas_pixels()
            check_tiles(again, image, second)
            untouched = np.ones((height, width), dtype=bool)
            for t in second.tiles:
                untouched[t.y:t.y + t.h, t.x:t.x + t.w] = False
            assert np.array_equal(again[untouched], shown[untouched])
            await session.cursor_at(10, 190)

            await session.page.screenshot(path=str(tmp_path / "viewer-frame.png"))

    run(body)


@needs_chromium
def test_zstd_tile_is_skipped_and_a_new_size_resizes() -> None:
    async def body() -> None:
        async with viewer_session() as session:
            page = session.page
            warnings: list[str] = []
            page.on("console", lambda message: warnings.append(message.text))
            await session.status("viewing")
            # Not browser-safe: the text cell goes ZSTD, which a browser cannot inflate.
            image = np.empty((64, 128, 3), dtype=np.uint8)
            image[:, :64] = (30, 140, 90)
            image[:, 64:] = text_like(64, 64, np.random.default_rng(1))
            update = TileEncoder(128, 64).encode(to_bgra(image))
            assert [t.codec for t in update.tiles] == [Codec.FILL, Codec.ZSTD]
            await session.server.send_screen(update.to_bytes())
            await session.frames_drawn(1)
            shown = await session.canvas_pixels()
            assert shown.shape == (64, 128, 4)
            assert np.array_equal(shown[:, :64, :3], image[:, :64])  # the FILL tile is drawn
            assert (shown[:, 64:, :3] == 0).all()  # the ZSTD tile is not: still cleared
            assert await page.get_attribute("#screen", "data-skipped") == "1"
            assert await page.is_visible("#screen-note")
            assert "could not be shown" in (await page.text_content("#screen-note") or "")
            assert any("ZSTD" in text for text in warnings), warnings

            # The page carries on; a keyframe for another size resizes the canvas.
            blocks = colour_blocks(200, 120, 64)
            await session.server.send_screen(keyframe(blocks))
            await session.frames_drawn(2)
            shown = await session.canvas_pixels()
            assert shown.shape == (120, 200, 4)
            assert np.array_equal(shown[:, :, :3], blocks)  # all FILL: exact

    run(body)


@needs_chromium
def test_input_only_in_control_scaled_to_remote_pixels(tmp_path: Path) -> None:
    remote_w, remote_h = 1600, 1000

    async def body() -> None:
        async with viewer_session(viewport=(remote_w // 2, remote_h // 2)) as session:
            page, received, wire = session.page, session.received, session.wire
            await session.status("viewing")
            image = colour_blocks(remote_w, remote_h, 200)
            await session.server.send_screen(keyframe(image))
            await session.frames_drawn(1)

            # Viewing: keys, clicks, moves and the wheel on the canvas send nothing.
            await page.click("#screen", button="right")
            await page.click("#screen")
            await page.keyboard.type("secret")
            await page.keyboard.press("Tab")
            await page.mouse.move(20, 200)
            await page.mouse.wheel(0, 300)
            await page.click("#take-control")
            await received.wait_for(of_type("control.request"))
            await wire.wait_for(of_type("control.request"))
            assert wire.inputs() == [] and received.inputs() == []

            await session.status("controlling")
            assert await page.evaluate("document.activeElement.id") == "screen"
            start = len(received.messages)
            await page.keyboard.type("ab")
            await page.keyboard.press("Tab")
            await received.wait_for(
                lambda m: m["type"] == "input" and m["event"].get("code") == "Tab"
                and m["event"]["down"] is False, start)
            keys = [(e["key"], e["code"], e["down"]) for e in received.inputs(start)]
            assert keys == [("a", "KeyA", True), ("a", "KeyA", False),
                            ("b", "KeyB", True), ("b", "KeyB", False),
                            ("Tab", "Tab", True), ("Tab", "Tab", False)]
            assert await page.evaluate("document.activeElement.id") == "screen"  # Tab stayed

            # Scaled: the canvas keeps the remote aspect and is smaller than the remote.
            box = await page.locator("#screen").bounding_box()
            assert box is not None
            scale = box["width"] / remote_w
            assert 0.2 < scale <= 0.5
            assert abs(box["height"] - remote_h * scale) <= 1
            clicks: list[tuple[float, float, int, Literal["left", "middle", "right"]]] = [
                (0.5, 0.5, 1, "left"), (0.25, 0.75, 3, "right"), (0.9, 0.1, 2, "middle")]
            for fx, fy, button, page_button in clicks:
                start = len(received.messages)
                await page.mouse.click(box["x"] + fx * box["width"],
                                       box["y"] + fy * box["height"], button=page_button)
                await received.wait_for(
                    lambda m: m["type"] == "input" and m["event"]["kind"] == "button"
                    and m["event"]["down"] is False, start)
                events = received.inputs(start)
                pointer = [e for e in events if e["kind"] == "pointer"][-1]
                assert abs(pointer["x"] - fx * remote_w) <= 1 / scale + 1, (pointer, fx)
                assert abs(pointer["y"] - fy * remote_h) <= 1 / scale + 1, (pointer, fy)
                assert [e for e in events if e["kind"] == "button"] == [
                    {"kind": "button", "button": button, "down": True},
                    {"kind": "button", "button": button, "down": False}]

            start = len(received.messages)
            await page.mouse.move(box["x"] + 10, box["y"] + 10)
            await page.mouse.wheel(0, 300)
            await received.wait_for(
                lambda m: m["type"] == "input" and m["event"]["kind"] == "scroll", start)
            await page.mouse.wheel(0, -100)
            await received.wait_for(
                lambda m: m["type"] == "input" and m["event"]["kind"] == "scroll"
                and m["event"]["dy"] < 0, start)
            scrolls = [e for e in received.inputs(start) if e["kind"] == "scroll"]
            assert sum(e["dy"] for e in scrolls if e["dy"] > 0) == 3
            assert sum(e["dy"] for e in scrolls if e["dy"] < 0) == -1

            await page.screenshot(path=str(tmp_path / "viewer-in-control.png"))

            # Esc releases control and is never sent as a key; the page sends no
            # input after it, even before the server's new status arrives.
            await page.focus("#screen")
            await page.keyboard.down("Shift")
            await wire.wait_for(lambda m: m["type"] == "input"
                                and m["event"].get("key") == "Shift")
            start = len(wire.messages)
            await page.keyboard.press("Escape")
            await page.keyboard.type("zz")
            await page.mouse.click(box["x"] + 50, box["y"] + 50)
            await page.keyboard.up("Shift")
            release_at, _ = await wire.wait_for(of_type("control.release"), start)
            _, release = await received.wait_for(of_type("control.release"))
            assert release == {"type": "control.release", "via": "esc"}  # what it was
            # The held Shift went up on the remote side before control was given back.
            assert wire.inputs(start, release_at) == [
                {"kind": "key", "key": "Shift", "code": "ShiftLeft", "down": False}]
            assert await page.text_content("#status") == "Releasing…"
            assert await page.is_disabled("#release")

            await session.status("released")
            await page.click("#screen")
            await page.keyboard.type("after")
            await page.keyboard.press("Escape")
            _, end = await session.barrier()
            assert wire.inputs(release_at, end) == []
            assert all(e.get("key") != "Escape" for e in wire.inputs())
            assert [m["type"] for m in wire.messages].count("control.release") == 1

    run(body)


@needs_chromium
def test_chat_both_ways_and_disconnect_button(tmp_path: Path) -> None:
    async def body() -> None:
        async with viewer_session() as session:
            page, received = session.page, session.received
            await session.status("viewing")
            await session.server.send_screen(keyframe(colour_blocks(640, 400, 80)))
            await session.frames_drawn(1)
            hostile = '<img src=x id="pwn"> & <b>bold</b>'
            await session.server.send_json({"type": "chat", "from": "Alice", "text": "Hi there"})
            await session.server.send_json({"type": "chat", "from": "Alice <b>", "text": hostile})
            await page.locator("#chat-log li", has_text="bold").wait_for()
            items = await page.locator("#chat-log li").all_text_contents()
            assert items == ["Alice:Hi there", f"Alice <b>:{hostile}"]
            assert await page.locator("#pwn, #chat-log b").count() == 0

            await page.fill("#chat-input", "Hello Alice, I see your screen")
            await page.press("#chat-input", "Enter")
            _, chat = await received.wait_for(of_type("chat"))
            assert chat == {"type": "chat", "text": "Hello Alice, I see your screen"}
            assert await page.input_value("#chat-input") == ""
            await page.locator("#chat-log li.mine", has_text="I see your screen").wait_for()
            assert received.inputs() == []  # chat typing is not remote input

            await page.screenshot(path=str(tmp_path / "viewer-chat.png"))
            await page.click("#disconnect")
            await received.wait_for(of_type("disconnect"))
            await session.status("disconnected", "Disconnected by you")
            assert await page.is_disabled("#take-control")
            assert await page.is_disabled("#chat-input")

    run(body)


# In the page's screen worker: holds every JPEG decode (WebCodecs' ImageDecoder) until the
# test lets it go (self.raRelease()); counts decodes and the updates that reached the worker.
HOLD_DECODES_JS = """
() => {
  const Real = self.ImageDecoder;
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  self.raDecodes = 0;
  self.raArrived = 0;
  self.raRelease = () => release();
  self.addEventListener("message", (event) => {
    if (event.data.type === "update") self.raArrived += 1;
  });
  self.ImageDecoder = class {
    constructor(init) { self.raDecodes += 1; this.real = new Real(init); }
    decode() { return gate.then(() => this.real.decode()); }
    close() { this.real.close(); }
  };
}
"""

# In the page (the main thread): counts any JPEG decode started there.
COUNT_MAIN_DECODES_JS = """
() => {
  window.raMainDecodes = 0;
  const count = (real) => function (...args) {
    window.raMainDecodes += 1;
    return real.apply(this, args);
  };
  window.createImageBitmap = count(window.createImageBitmap);
  const Real = window.ImageDecoder;
  window.ImageDecoder = function (init) {
    window.raMainDecodes += 1;
    return new Real(init);
  };
}
"""


async def screen_worker(page: Page) -> Worker:
    """The page's screen decoder (its one Worker), once it runs."""
    async with asyncio.timeout(WAIT):
        while not page.workers:
            await asyncio.sleep(0.01)
    assert len(page.workers) == 1 and page.workers[0].url.endswith("/screen-worker.js")
    return page.workers[0]


async def worker_until(worker: Worker, condition: str) -> None:
    """Wait until `condition` (a JS expression) holds in `worker`."""
    async with asyncio.timeout(WAIT):
        while not await worker.evaluate(f"() => Boolean({condition})"):
            await asyncio.sleep(0.01)


@dataclass
class HeldScreen:
    """A 192x128 screen on the page, whose worker holds every JPEG decode (HOLD_DECODES_JS)."""

    session: Session
    worker: Worker
    image: np.ndarray
    encoder: TileEncoder

    def change(self, cell: tuple[int, int], pixels: np.ndarray) -> Update:
        """The update for the 64x64 `cell` (row, column) painted with `pixels`."""
        y, x = cell
        self.image[y:y + 64, x:x + 64] = pixels
        return self.encoder.encode(to_bgra(self.image))

    async def send(self, update: Update) -> None:
        """Send `update` and wait until it went to the page on its own, unmerged."""
        sent = self.session.server.frames_sent + 1
        await self.session.server.send_screen(update.to_bytes())
        async with asyncio.timeout(WAIT):
            while self.session.server.frames_sent < sent:
                await asyncio.sleep(0.01)


async def held_screen(session: Session, colour: tuple[int, int, int]) -> HeldScreen:
    await session.status("viewing")
    image = np.zeros((128, 192, 3), dtype=np.uint8)
    image[:, :] = colour
    encoder = TileEncoder(192, 128, browser_safe=True)
    await session.server.send_screen(encoder.encode(to_bgra(image)).to_bytes())
    await session.frames_drawn(1)
    worker = await screen_worker(session.page)
    await worker.evaluate(HOLD_DECODES_JS)
    return HeldScreen(session, worker, image, encoder)


@needs_chromium
def test_updates_painted_over_while_the_page_is_busy_are_never_drawn() -> None:
    async def body() -> None:
        async with viewer_session() as session:
            page = session.page
            rng = np.random.default_rng(3)
            held = await held_screen(session, (40, 80, 120))
            # The page is busy decoding a photo cell ...
            await held.send(held.change((0, 0), rng.integers(0, 256, (64, 64, 3))))
            await worker_until(held.worker, "self.raDecodes === 1")
            # ... while another photo cell comes, then a flat colour over it.
            for pixels in (rng.integers(0, 256, (64, 64, 3)), np.full((64, 64, 3), 200)):
                await held.send(held.change((64, 64), pixels))
            await page.wait_for_function(  # both reached the page; none drawn yet
                "() => document.getElementById('screen').dataset.received === '4'",
                timeout=WAIT * 1000)
            assert await page.get_attribute("#screen", "data-frames") == "1"
            await held.worker.evaluate("() => self.raRelease()")
            await session.frames_drawn(4)
            shown = await session.canvas_pixels()
            assert await held.worker.evaluate("() => self.raDecodes") == 1  # never decoded
            assert await page.get_attribute("#screen", "data-superseded") == "1"
            assert (shown[64:128, 64:128, :3] == 200).all()
            assert np.array_equal(shown[64:, :64, :3], held.image[64:, :64])

    run(body)


@needs_chromium
def test_screen_is_decoded_in_a_worker_and_superseded_updates_are_dropped() -> None:
    """JPEG decoding happens in the page's worker, never on its main thread; updates that
    come while it is busy, one cell over and over, are all acknowledged, but only the last
    is decoded and drawn, and it is what the page shows."""
    async def body() -> None:
        async with viewer_session(max_frames_in_flight=64) as session:
            page = session.page
            rng = np.random.default_rng(11)
            held = await held_screen(session, (30, 90, 60))
            await page.evaluate(COUNT_MAIN_DECODES_JS)
            # The worker is busy with a text cell ...
            await held.send(held.change((0, 0), text_like(64, 64, rng)))
            await worker_until(held.worker, "self.raDecodes === 1")
            # ... while the same cell changes 20 times: each goes to the page, unmerged.
            repeats = 20
            for _ in range(repeats):
                last = held.change((64, 64), text_like(64, 64, rng))
                assert [t.codec for t in last.tiles] == [Codec.JPEG]
                await held.send(last)
            await worker_until(held.worker, f"self.raArrived === {repeats + 1}")
            assert session.server.frames_merged == 0
            assert await page.get_attribute("#screen", "data-frames") == "1"
            await held.worker.evaluate("() => self.raRelease()")
            await session.frames_drawn(repeats + 2)
            async with asyncio.timeout(WAIT):  # every update acknowledged
                while session.acks[0] < repeats + 2:
                    await asyncio.sleep(0.01)
            assert await held.worker.evaluate("() => self.raDecodes") == 2  # first and last
            assert await page.evaluate("() => window.raMainDecodes") == 0
            assert await page.get_attribute("#screen", "data-superseded") == str(repeats - 1)
            shown = await session.canvas_pixels()
            drawn = simplejpeg.decode_jpeg(last.tiles[0].data, colorspace="RGB").astype(int)
            assert np.abs(shown[64:128, 64:128, :3].astype(int) - drawn).max() <= (
                JPEG_DECODE_TOLERANCE["444"])
            assert await page.evaluate("() => window.raLastUpdate.seq") == last.seq

    run(body)


@needs_chromium
def test_jpeg_of_another_size_than_its_tile_is_never_decoded() -> None:
    """A JPEG whose header claims a huge picture (a few bytes can) in a small tile is
    skipped on its header, before any decoder sees it; the rest of the update is drawn."""
    async def body() -> None:
        async with viewer_session() as session:
            page = session.page
            held = await held_screen(session, (10, 20, 30))
            await held.worker.evaluate("() => self.raRelease()")  # decodes go through
            small = simplejpeg.encode_jpeg(np.full((32, 32, 3), 90, np.uint8), 90, "RGB", "444")
            sof = small.index(b"\xff\xc0")
            bomb = small[:sof + 5] + (60000).to_bytes(2, "big") * 2 + small[sof + 9:]
            update = Update(2, 192, 128, 0, 0, (
                Tile(0, 0, 32, 32, Codec.JPEG, bomb),
                Tile(64, 64, 32, 32, Codec.JPEG, small),
            ), False)
            await session.server.send_screen(update.to_bytes())
            await session.frames_drawn(2)
            assert await held.worker.evaluate("() => self.raDecodes") == 1  # the good one
            assert await page.get_attribute("#screen", "data-skipped") == "1"
            shown = await session.canvas_pixels()
            assert (shown[0:32, 0:32, :3] == (10, 20, 30)).all()  # left as it was
            assert (np.abs(shown[64:96, 64:96, :3].astype(int) - 90) <= 2).all()

    run(body)


@needs_chromium
def test_many_tiny_tiles_cannot_hold_the_screen_worker() -> None:
    """A hostile person's updates of thousands of one-pixel tiles over two full-screen ones:
    the worker's search for covered tiles gives up early instead of cutting each big
    tile into thousands of pieces, and everything is drawn at once."""
    async def body() -> None:
        async with viewer_session(max_frames_in_flight=64) as session:
            page = session.page
            rng = np.random.default_rng(5)
            held = await held_screen(session, (10, 20, 30))
            # The worker is busy with a photo cell, so what follows makes one batch.
            await held.send(held.change((0, 0), rng.integers(0, 256, (64, 64, 3))))
            await worker_until(held.worker, "self.raDecodes === 1")
            whole = Tile(0, 0, 192, 128, Codec.FILL, bytes((70, 60, 50)))  # BGR
            await held.send(Update(2, 192, 128, 0, 0, (whole,) * 2, False))
            dots = tuple(Tile(x, y, 1, 1, Codec.FILL, bytes((200, 200, 200)))
                         for y in range(128) for x in range(y % 2, 192, 2))
            await held.send(Update(3, 192, 128, 0, 0, dots, False))
            await worker_until(held.worker, "self.raArrived === 3")
            await held.worker.evaluate("() => self.raRelease()")
            await session.frames_drawn(4)
            shown = await session.canvas_pixels()
            assert (shown[0, 0, :3] == 200).all() and (shown[0, 1, :3] == (50, 60, 70)).all()
            assert (shown[127, 191, :3] == 200).all()
            assert await page.evaluate("() => window.raLastUpdate.seq") == 3

    run(body)


# In the page's screen worker: builds an update of `count` copies of one tile, parses it
# with raScreen.parseUpdate, and hands it to the worker as the page would; the verdict.
BOUNDS_JS = """
([width, height, count, rect, codec, payload, deliver]) => {
  const size = 18 + count * (13 + payload.length);
  const buffer = new ArrayBuffer(size);
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  view.setUint8(0, 1);
  view.setUint32(2, 9);
  view.setUint16(6, width);
  view.setUint16(8, height);
  view.setUint32(14, count);
  for (let i = 0, o = 18; i < count; i++, o += 13 + payload.length) {
    rect.forEach((value, k) => view.setUint16(o + 2 * k, value));
    view.setUint8(o + 8, codec);
    view.setUint32(o + 9, payload.length);
    bytes.set(payload, o + 13);
  }
  let verdict = "ok";
  try {
    self.raScreen.parseUpdate(buffer);
  } catch (error) {
    verdict = error.message;
  }
  if (deliver) self.dispatchEvent(new MessageEvent("message", {data: {type: "update", buffer}}));
  return verdict;
}
"""


@needs_chromium
def test_the_page_refuses_an_update_beyond_the_bounds_before_any_decode() -> None:
    """What `ra connect` refuses, the page's decoder refuses too (the replay page shares
    it): one small whole-screen JPEG 4,000 times over, or more than MAX_TILES tiles, is
    reported bad on its structure and nothing of it is decoded; two screens' worth is
    drawn."""
    async def body() -> None:
        async with viewer_session() as session:
            page = session.page
            warnings: list[str] = []
            page.on("console", lambda message: warnings.append(message.text))
            held = await held_screen(session, (10, 20, 30))
            await held.worker.evaluate("() => self.raRelease()")  # decodes go through
            jpeg = list(whole_screen_jpeg(192, 128))
            whole = [0, 0, 192, 128]
            dot = ([0, 0, 1, 1], Codec.FILL, [1, 2, 3])

            async def verdict(size: tuple[int, int], count: int, tile: tuple[list[int], int,
                              list[int]], deliver: bool = False) -> str:
                return str(await held.worker.evaluate(
                    BOUNDS_JS, [*size, count, tile[0], int(tile[1]), tile[2], deliver]))

            assert await verdict((192, 128), 4000, (whole, Codec.JPEG, jpeg), True) == (
                "tiles cover more than 2 screens")
            assert await verdict((1024, 1024), MAX_TILES + 1, dot, True) == (
                f"screen update of {MAX_TILES + 1} tiles")
            assert await verdict((1024, 1024), MAX_TILES, dot) == "ok"
            assert await verdict((192, 128), 3, (whole, Codec.JPEG, jpeg)) == (
                "tiles cover more than 2 screens")
            assert await verdict((192, 128), 2, (whole, Codec.JPEG, jpeg), True) == "ok"
            await session.frames_drawn(2)
            assert await held.worker.evaluate("() => self.raDecodes") == 2  # the two drawn
            dropped = [w for w in warnings if "screen update dropped" in w]
            assert [w.split(": ", 2)[2] for w in dropped] == [
                "tiles cover more than 2 screens", f"screen update of {MAX_TILES + 1} tiles"]
            shown = await session.canvas_pixels()
            assert (np.abs(shown[:, :, :3].astype(int) - 77) <= 2).all()

    run(body)
