"""The helper's viewer: a real ViewerServer and a real (headless) Chromium.

Each browser test runs in its own event loop (`asyncio.run`) with Playwright's
async API, so the server and the page share one loop and nothing is mocked.
Debian's /usr/bin/chromium is used; the tests are skipped without it.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import simplejpeg  # type: ignore[import-untyped]
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from ra.viewer import (
    CODEC_JPEG,
    CODEC_RGBA,
    Tile,
    ViewerServer,
    decode_frame,
    encode_frame,
    frame_from_image,
    jpeg_tile,
    parse_page_message,
    rgba_tile,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT = 10.0
#: Largest per-channel difference allowed between a flat-colour JPEG tile (quality 90,
#: 4:4:4) and what the canvas shows.
JPEG_TOLERANCE = 8

needs_chromium = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)), reason="needs /usr/bin/chromium"
)

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="needs playwright")


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
        width, height, data = await self.page.evaluate(
            """() => {
                const c = document.getElementById('screen');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let text = '';
                for (let i = 0; i < d.length; i += 8192) {
                    text += String.fromCharCode.apply(null, d.subarray(i, i + 8192));
                }
                return [c.width, c.height, btoa(text)];
            }"""
        )
        pixels = np.frombuffer(base64.b64decode(data), dtype=np.uint8)
        return pixels.reshape(height, width, 4)

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
    message: str = "Please look at my printer settings",
) -> AsyncIterator[Session]:
    received = Received()
    server = ViewerServer(received)
    url = await server.start()
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page(
                viewport={"width": viewport[0], "height": viewport[1]}
            )
            wire = Received()

            def on_frame(payload: str | bytes) -> None:
                if isinstance(payload, str):
                    message = json.loads(payload)
                    if message.get("type") != "screen.ack":
                        wire(message)

            page.on("websocket", lambda socket: socket.on("framesent", on_frame))
            response = await page.goto(url)
            assert response is not None and response.status == 200
            async with asyncio.timeout(WAIT):
                await server.connected.wait()
            await server.send_json({"type": "info", "name": name, "message": message})
            session = Session(server, received, browser, page, url, wire)
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


# -- the binary format and page messages (no browser) ---------------------------------


def test_frame_round_trip_and_rejects_malformed() -> None:
    image = colour_blocks(100, 70, 32)
    frame = frame_from_image(image, tile_size=32, codec=CODEC_RGBA)
    width, height, tiles = decode_frame(frame)
    assert (width, height, len(tiles)) == (100, 70, 4 * 3)
    assert tiles[-1].rect == (96, 64, 4, 6) and tiles[-1].codec == CODEC_RGBA
    assert tiles[-1].data == np.dstack([image[64:70, 96:100],
                                        np.full((6, 4), 255, np.uint8)]).tobytes()
    jpeg = jpeg_tile(0, 0, image[:32, :32])
    assert jpeg.codec == CODEC_JPEG and simplejpeg.decode_jpeg(jpeg.data).shape == (32, 32, 3)
    assert frame[:4] == b"RAF1" and decode_frame(encode_frame(5, 5, [])) == (5, 5, [])
    with pytest.raises(ValueError):
        decode_frame(frame[:-1])  # truncated
    with pytest.raises(ValueError):
        decode_frame(frame + b"x")  # trailing bytes
    with pytest.raises(ValueError):
        decode_frame(b"XXXX" + frame[4:])  # bad magic
    with pytest.raises(ValueError):
        encode_frame(10, 10, [rgba_tile(8, 0, image[:4, :4])])  # off the screen
    with pytest.raises(ValueError):
        encode_frame(10, 10, [Tile(0, 0, 2, 2, CODEC_RGBA, b"\0" * 15)])  # wrong length
    with pytest.raises(ValueError):
        encode_frame(10, 10, [Tile(0, 0, 2, 2, 7, b"")])  # unknown codec


def test_page_messages_are_checked_and_rebuilt() -> None:
    assert parse_page_message('{"type":"control.request","extra":1}') == {
        "type": "control.request"}
    assert parse_page_message('{"type":"chat","text":"hi"}') == {"type": "chat", "text": "hi"}
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
    """A client that does not ack: at most 2 frames in flight, the rest merged, latest wins."""

    async def body() -> None:
        received = Received()
        server = ViewerServer(received)
        url = await server.start()
        origin = f"http://127.0.0.1:{server.port}"
        try:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/ws/{token_of(url)}", origin=Origin(origin)
            ) as ws:
                await server.connected.wait()

                def frame(value: int, x: int = 0) -> bytes:
                    pixels = np.full((4, 4, 4), value, dtype=np.uint8)
                    return encode_frame(16, 8, [rgba_tile(x, 0, pixels)])

                first = []
                for value in (1, 2):
                    await server.send_screen(frame(value))
                    first.append(decode_frame(await ws.recv(decode=False)))
                for value in range(3, 11):  # two unacked frames: these wait, merged
                    await server.send_screen(frame(value))
                    await asyncio.sleep(0.01)
                await server.send_screen(frame(99, x=8))
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.3):
                        await ws.recv()  # nothing more until the page acks
                await ws.send(json.dumps({"type": "screen.ack"}))
                _, _, merged = decode_frame(await ws.recv(decode=False))
                assert [t.data[0] for t in first[0][2] + first[1][2]] == [1, 2]
                assert [(t.x, t.data[0]) for t in merged] == [(0, 10), (8, 99)]
                assert server.frames_sent == 3

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
                    assert response.headers["referrer-policy"] == "no-referrer"
                    async with asyncio.timeout(WAIT):
                        await server.connected.wait()
                finally:
                    await browser.close()
            assert received.messages == []
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
            await session.status("released")
            assert await page.text_content("#status") == "Released: viewing"
            await session.server.close()
            await page.wait_for_function(
                "() => document.getElementById('status').dataset.state === 'disconnected'"
            )
            assert await page.is_disabled("#disconnect")

    run(body)


@needs_chromium
def test_jpeg_and_raw_frames_are_drawn(tmp_path: Path) -> None:
    async def body() -> None:
        async with viewer_session() as session:
            await session.status("viewing")
            width, height = 320, 192
            image = colour_blocks(width, height, 64)
            await session.server.send_json({"type": "screen", "width": width, "height": height})
            await session.server.send_screen(frame_from_image(image, tile_size=64, quality=90))
            await session.frames_drawn(1)
            shown = await session.canvas_pixels()
            assert shown.shape == (height, width, 4)
            difference = np.abs(shown[:, :, :3].astype(int) - image.astype(int))
            assert difference.max() <= JPEG_TOLERANCE, difference.max()
            assert (shown[:, :, 3] == 255).all()

            rng = np.random.default_rng(7)
            noise = rng.integers(0, 256, size=(24, 40, 4), dtype=np.uint8)
            noise[:, :, 3] = 255
            await session.server.send_screen(
                encode_frame(width, height, [rgba_tile(100, 50, noise)]))
            await session.frames_drawn(2)
            shown = await session.canvas_pixels()
            assert np.array_equal(shown[50:74, 100:140], noise)
            # Only that tile changed; the JPEG picture around it is still there.
            outside = np.abs(shown[:50, :, :3].astype(int) - image[:50].astype(int))
            assert outside.max() <= JPEG_TOLERANCE

            await session.page.screenshot(path=str(tmp_path / "viewer-frame.png"))

    run(body)


@needs_chromium
def test_input_only_in_control_scaled_to_remote_pixels(tmp_path: Path) -> None:
    remote_w, remote_h = 1600, 1000

    async def body() -> None:
        async with viewer_session(viewport=(remote_w // 2, remote_h // 2)) as session:
            page, received, wire = session.page, session.received, session.wire
            await session.status("viewing")
            image = colour_blocks(remote_w, remote_h, 200)
            await session.server.send_screen(frame_from_image(image, tile_size=200))
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
            await received.wait_for(of_type("control.release"))
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
            await session.server.send_screen(frame_from_image(colour_blocks(640, 400, 80)))
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
