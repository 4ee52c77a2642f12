"""A full frame on request, and the choice of monitor, with real parts.

The person's display is an Xvfb 2560x800 split into two RandR 1.5 monitors
side by side (client-defined monitors, `RRSetMonitor`): what mss, and so
`Screen.monitors()`, then reports is exactly what a two-monitor desktop
reports. The first tests drive `X11Desktop` on it directly; the last one runs
`ra ask`, `ra connect` and the viewer in headless Chromium, as
tests/test_desktop_e2e.py does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pexpect
import pytest
from desktop_support import CANVAS_JS, Display, canvas_rgba, xvfb
from playwright.sync_api import Page, sync_playwright
from support import stop
from test_desktop_e2e import (
    SCREEN_TOLERANCE,
    T,
    _disconnect,
    _grab,
    _invite,
    _launch,
    _pointer,
    _start_pair,
    _take_control,
    _wait_state,
)
from Xlib import X  # type: ignore[import-untyped]
from Xlib import display as xdisplay
from Xlib.ext import randr  # type: ignore[import-untyped]
from Xlib.protocol import rq  # type: ignore[import-untyped]

from ra.desktop.codec import TileDecoder, Update
from ra.events import EventStore, verify_log
from ra.home import Home
from ra.session.desktop import X11Desktop
from ra.viewer.server import clean_monitors, parse_page_message

WIDTH, HEIGHT, HALF = 2560, 800, 1280
RED, BLUE = 0xD02020, 0x2040D0  # the two monitors' colours (X TrueColor pixels)


# -- two monitors on one Xvfb ----------------------------------------------------------


class _SetMonitor(rq.Request):  # type: ignore[misc]
    """RRSetMonitor with the MonitorInfo packed by hand (python-xlib's own cannot pack it)."""

    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(43), rq.RequestLength(),
                         rq.Window("window"), rq.String8("info"))


@contextmanager
def two_monitors(display: Display) -> Iterator[Any]:
    """Split `display` into monitor 1 (left half) and 2 (right half); paint them RED / BLUE.

    Yields the Xlib connection; it stays open meanwhile (Xvfb resets, forgetting
    the monitors, when its last client goes).
    """
    x = xdisplay.Display(display.name)
    try:
        root = x.screen().root
        outputs = list(root.xrandr_get_screen_resources().outputs)
        for index, (name, left) in enumerate([("RA-LEFT", 0), ("RA-RIGHT", HALF)]):
            # The first takes the output over, so the automatic whole-screen monitor goes.
            info = randr.MonitorInfo.to_binary(
                name=x.intern_atom(name), primary=index == 0, automatic=False, x=left, y=0,
                width_in_pixels=HALF, height_in_pixels=HEIGHT, width_in_millimeters=340,
                height_in_millimeters=210, crtcs=outputs if index == 0 else [])
            _SetMonitor(display=x.display, opcode=x.display.get_extension_major(randr.extname),
                        window=root, info=info)
        for left, colour in ((0, RED), (HALF, BLUE)):
            window = root.create_window(left, 0, HALF, HEIGHT, 0, x.screen().root_depth,
                                        X.InputOutput, X.CopyFromParent,
                                        background_pixel=colour, override_redirect=True)
            window.map()
        x.sync()
        yield x
    finally:
        x.close()


def paint(x: Any, left: int, top: int, colour: int) -> Any:
    """A 100x100 window of `colour` at (left, top), shown."""
    root = x.screen().root
    window = root.create_window(left, top, 100, 100, 0, x.screen().root_depth, X.InputOutput,
                                X.CopyFromParent, background_pixel=colour,
                                override_redirect=True)
    window.map()
    x.sync()
    return window


def _rgb(pixel: int) -> tuple[int, int, int]:
    return (pixel >> 16) & 0xFF, (pixel >> 8) & 0xFF, pixel & 0xFF


# -- the page's and the wire's checks --------------------------------------------------


def test_screen_messages_are_checked() -> None:
    assert parse_page_message('{"type":"screen.refresh","x":1}') == {"type": "screen.refresh"}
    assert parse_page_message('{"type":"screen.monitor","monitor":2}') == {
        "type": "screen.monitor", "monitor": 2}
    assert parse_page_message('{"type":"screen.monitor","monitor":0}') == {
        "type": "screen.monitor", "monitor": 0}
    for bad in ['{"type":"screen.monitor"}', '{"type":"screen.monitor","monitor":-1}',
                '{"type":"screen.monitor","monitor":true}',
                '{"type":"screen.monitor","monitor":1.0}',
                '{"type":"screen.monitor","monitor":"1"}',
                '{"type":"screen.monitor","monitor":33}']:
        assert parse_page_message(bad) is None, bad

    good: dict[str, Any] = {"type": "screen.monitors", "current": 2, "monitors": [
        {"number": 1, "x": 0, "y": 0, "width": 1280, "height": 800, "extra": "x"},
        {"number": 2, "x": 1280, "y": 0, "width": 1280, "height": 800}]}
    cleaned = clean_monitors(good)
    assert cleaned is not None and "extra" not in cleaned["monitors"][0]
    assert clean_monitors({**good, "monitors": [], "current": 0}) is not None
    for bad_monitors in [
        {**good, "current": 3},  # not listed
        {**good, "current": True},
        {**good, "monitors": "all"},
        {**good, "monitors": [{**good["monitors"][0], "width": 0}]},
        {**good, "monitors": [good["monitors"][1], good["monitors"][1]]},  # twice
        {**good, "monitors": [{**good["monitors"][0], "number": 0}], "current": 0},
        {**good, "monitors": [{**good["monitors"][0], "x": "0"}], "current": 1},
        {**good, "type": "screen"},
    ]:
        assert clean_monitors(bad_monitors) is None, bad_monitors


# -- X11Desktop on a real two-monitor display -------------------------------------------


@pytest.fixture
def desktop_display() -> Iterator[tuple[Display, Any]]:
    with xvfb(WIDTH, HEIGHT) as display, two_monitors(display) as x:
        yield display, x


class Stream:
    """An X11Desktop's output: updates decoded as they come, acked like a helper."""

    def __init__(self, display: Display) -> None:
        self.updates: list[Update] = []
        self.corners: list[tuple[int, int, int]] = []  # the picture's (10, 10) after each
        self.messages: list[dict[str, Any]] = []
        self.decoder: TileDecoder | None = None
        self.desktop = X11Desktop(display.name, self._screen, lambda: None,
                                  send_json=self._json)

    async def _screen(self, data: bytes) -> None:
        update = Update.from_bytes(data)
        if self.decoder is None or (self.decoder.width, self.decoder.height) != (
                update.width, update.height):
            assert update.keyframe, "a new size starts with a keyframe"
            self.decoder = TileDecoder(update.width, update.height)
        self.decoder.feed(data)
        self.corners.append(self.colour_at(10, 10))
        self.updates.append(update)
        self.desktop.on_ack(update.seq)

    async def _json(self, message: dict[str, Any]) -> None:
        self.messages.append(json.loads(json.dumps(message)))  # as it goes on the wire

    async def next_update(self, after: int, keyframe: bool | None = None) -> Update:
        async with asyncio.timeout(10):
            while True:
                for update in self.updates[after:]:
                    if keyframe is None or update.keyframe == keyframe:
                        return update
                await asyncio.sleep(0.01)

    async def turned(self, after: int, colour: int) -> Update:
        """The first update from `after` on that made pixel (10, 10) `colour`.

        A capture already under way when the choice changed may still bring the
        old area first; the switch itself must come as a keyframe.
        """
        async with asyncio.timeout(10):
            while True:
                for index in range(after, len(self.updates)):
                    if self.corners[index] == _rgb(colour):
                        return self.updates[index]
                await asyncio.sleep(0.01)

    async def message(self, index: int) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while len(self.messages) <= index:
                await asyncio.sleep(0.01)
        return self.messages[index]

    def colour_at(self, x: int, y: int) -> tuple[int, int, int]:
        assert self.decoder is not None
        blue, green, red = (int(v) for v in self.decoder.framebuffer[y, x, :3])
        return red, green, blue


def test_x11desktop_monitors_refresh_and_switch(desktop_display: tuple[Display, Any]) -> None:
    display, x = desktop_display

    async def body() -> None:
        stream = Stream(display)
        desktop = stream.desktop
        desktop.start_streaming()
        try:
            # Streaming starts: the monitors go out, and a keyframe of the whole desktop.
            assert await stream.message(0) == {
                "type": "screen.monitors", "current": 0, "monitors": [
                    {"number": 1, "x": 0, "y": 0, "width": HALF, "height": HEIGHT},
                    {"number": 2, "x": HALF, "y": 0, "width": HALF, "height": HEIGHT}]}
            first = await stream.next_update(0)
            assert first.keyframe and (first.width, first.height) == (WIDTH, HEIGHT)
            assert stream.colour_at(10, 10) == _rgb(RED)
            assert stream.colour_at(HALF + 10, 10) == _rgb(BLUE)

            # A change goes as a change; a refresh as a keyframe.
            count = len(stream.updates)
            paint(x, 300, 300, 0x20C020)
            change = await stream.next_update(count)
            assert not change.keyframe and len(change.tiles) < 10
            await asyncio.sleep(0.3)
            count = len(stream.updates)
            desktop.request_keyframe()
            full = await stream.next_update(count)
            assert full.keyframe and (full.width, full.height) == (WIDTH, HEIGHT)
            assert stream.colour_at(350, 350) == _rgb(0x20C020)

            # A merge the pacer could not make within an update's bounds: a keyframe next.
            count = len(stream.updates)
            desktop.pacer.keyframe_due = True
            again = await stream.next_update(count)
            assert again.keyframe and not desktop.pacer.keyframe_due

            # Monitor 2 only: a keyframe of the right half, and the new choice goes out.
            count = len(stream.updates)
            assert desktop.select_monitor(2)
            assert (await stream.message(1))["current"] == 2
            right = await stream.turned(count, BLUE)
            assert right.keyframe and (right.width, right.height) == (HALF, HEIGHT)

            # An unknown monitor is ignored: nothing sent, nothing switched.
            assert not desktop.select_monitor(3)
            assert not desktop.select_monitor(-1)
            await asyncio.sleep(0.3)
            assert len(stream.messages) == 2 and desktop.monitor == 2

            # Monitor 1 has the same size: still a keyframe, of the other pixels.
            count = len(stream.updates)
            assert desktop.select_monitor(1)
            left = await stream.turned(count, RED)
            assert left.keyframe and (left.width, left.height) == (HALF, HEIGHT)
            assert (await stream.message(2))["current"] == 1

            # Pointer input is relative to the monitor shown.
            desktop.enable_input()
            try:
                desktop.select_monitor(2)
                desktop.inject({"kind": "pointer", "x": 100, "y": 50})
                assert _pointer(display) == (HALF + 100, 50)
                # The update's cursor is relative to the monitor too (a keyframe
                # requested while a capture is under way may carry the old position).
                for _attempt in range(5):
                    count = len(stream.updates)
                    desktop.request_keyframe()
                    shown = await stream.next_update(count, keyframe=True)
                    if (shown.cursor_x, shown.cursor_y) == (100, 50):
                        break
                assert (shown.cursor_x, shown.cursor_y) == (100, 50)
                desktop.inject({"kind": "pointer", "x": 5000, "y": 5000})  # clamped to it
                assert _pointer(display) == (WIDTH - 1, HEIGHT - 1)
                desktop.select_monitor(1)
                desktop.inject({"kind": "pointer", "x": 100, "y": 50})
                assert _pointer(display) == (100, 50)
                desktop.select_monitor(0)
                desktop.inject({"kind": "pointer", "x": HALF + 200, "y": 70})
                assert _pointer(display) == (HALF + 200, 70)
            finally:
                desktop.disable_input()
            assert desktop.keyframes_sent >= 5
        finally:
            desktop.close()

    asyncio.run(asyncio.wait_for(body(), 60))


# -- the whole thing: ra ask, ra connect, the viewer ------------------------------------


def _last_update(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("() => window.raLastUpdate || {}"))


def _frames(page: Page) -> int:
    return int(page.evaluate("() => Number(document.getElementById('screen').dataset.frames"
                             " || 0)"))


def _canvas(page: Page) -> np.ndarray:
    """The canvas as RGB int16."""
    return canvas_rgba(page.evaluate(CANVAS_JS))[:, :, :3].astype(np.int16)


def _wait_canvas(page: Page, expected: np.ndarray) -> float:
    deadline = time.monotonic() + T
    while True:
        canvas = _canvas(page)
        if canvas.shape == expected.shape:
            error = float(np.abs(canvas - expected).mean())
            if error < SCREEN_TOLERANCE:
                return error
        if time.monotonic() > deadline:
            raise AssertionError(f"canvas {canvas.shape} vs screen {expected.shape}")
        time.sleep(0.2)


def test_refresh_and_monitor_choice_from_the_viewer(tmp_path: Path) -> None:
    person_home, helper_home = tmp_path / "person", tmp_path / "helper"
    file = tmp_path / "help.rainv"
    children: list[pexpect.spawn] = []
    with xvfb(WIDTH, HEIGHT) as person_display, xvfb(1024, 768) as helper_display, \
            two_monitors(person_display) as x, sync_playwright() as playwright:
        _invite(person_home, person_display, file)
        try:
            person, helper, url = _start_pair(person_home, person_display, helper_home,
                                              helper_display, file, children)

            browser = _launch(playwright, helper_display)
            # The page opens late, on a still screen: the first keyframe waits for it
            # in the helper's viewer server, and its connecting asks for a fresh one.
            person.expect("asks to see your screen")
            person.expect("Answer y")
            person.sendline("y")
            helper.expect("lets you see the screen")
            time.sleep(1.0)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            _wait_state(page, "viewing")
            page.wait_for_function(
                "() => Number(document.getElementById('screen').dataset.frames) >= 2",
                timeout=T * 1000)
            assert _last_update(page)["keyframe"] is True

            # The select lists the person's monitors, "All monitors" chosen.
            page.wait_for_function(
                "() => document.getElementById('monitor').options.length === 3",
                timeout=T * 1000)
            options = page.eval_on_selector_all(
                "#monitor option", "els => els.map(e => [e.value, e.textContent])")
            assert options == [["0", "All monitors"], ["1", "Monitor 1 (1280x800)"],
                               ["2", "Monitor 2 (1280x800)"]]
            assert page.input_value("#monitor") == "0"
            assert page.locator("#monitor").is_enabled()
            print(f"whole desktop: {_wait_canvas(page, _grab(person_display)):.2f}")

            # A change arrives as a change; Refresh brings a keyframe.
            paint(x, 400, 300, 0x20C020)
            page.wait_for_function("() => window.raLastUpdate && !window.raLastUpdate.keyframe",
                                   timeout=T * 1000)
            assert _last_update(page)["tiles"] < 10
            _wait_canvas(page, _grab(person_display))
            time.sleep(0.5)  # the screen is still: nothing more comes
            frames = _frames(page)
            started = time.monotonic()
            page.click("#refresh")
            page.wait_for_function(
                "n => Number(document.getElementById('screen').dataset.frames) > n",
                arg=frames, timeout=T * 1000)
            print(f"refresh -> keyframe drawn in {time.monotonic() - started:.3f} s")
            last = _last_update(page)
            assert last["keyframe"] is True, last

            # Monitor 2: the canvas shows the right half, and the select says so.
            page.select_option("#monitor", "2")
            page.wait_for_function(
                "() => document.getElementById('screen').width === 1280", timeout=T * 1000)
            assert _last_update(page)["keyframe"] is True
            page.wait_for_function("() => document.getElementById('monitor').value === '2'",
                                   timeout=T * 1000)
            print(f"monitor 2: {_wait_canvas(page, _grab(person_display)[:, HALF:]):.2f}")

            # In control, a click at 25%/50% of the canvas lands on monitor 2.
            box = _take_control(page, person)
            page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.50)
            deadline = time.monotonic() + 5
            while True:
                px, py = _pointer(person_display)
                if abs(px - (HALF + 0.25 * HALF)) <= 3 and abs(py - 0.5 * HEIGHT) <= 3:
                    break
                assert time.monotonic() < deadline, (px, py)
                time.sleep(0.1)

            # Back to all monitors.
            page.select_option("#monitor", "0")
            page.wait_for_function(
                "() => document.getElementById('screen').width === 2560", timeout=T * 1000)
            _wait_canvas(page, _grab(person_display))

            _disconnect(page, person, helper)
            browser.close()
        finally:
            stop(children)

    # Screen messages are not events: the logs hold the session as before.
    for home in (person_home, helper_home):
        with EventStore.open(Home.at(home)) as store:
            assert verify_log(store).ok
            types = [e.type for e in store.iter_events(stream_prefix="session:")]
            assert "input.rejected" not in types, types
            assert types[-1] == "session.receipt" and "control.granted" in types, types
