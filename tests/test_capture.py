"""Screen capture and tile updates on a real X server (Xvfb started by each test)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from desktop_support import Display, xterm
from Xlib import display as xdisplay  # type: ignore[import-untyped]

from ra.desktop.capture import CaptureError, DesktopCapture, MonitorInfo, Screen
from ra.desktop.codec import Codec, TileDecoder, TileEncoder, Update

RED = 0xFF0000
GREEN = 0x00FF00
BLUE = 0x0000FF
GREY = 0x336699


class Painter:
    """Fills rectangles of known colours straight onto the root window."""

    def __init__(self, name: str) -> None:
        self.x = xdisplay.Display(name)
        self.root = self.x.screen().root

    def fill(self, x: int, y: int, w: int, h: int, rgb: int) -> None:
        gc = self.root.create_gc(foreground=rgb)
        self.root.fill_rectangle(gc, x, y, w, h)
        gc.free()
        self.x.sync()

    def close(self) -> None:
        self.x.close()


@pytest.fixture
def screen(display: Display) -> Iterator[Screen]:
    with Screen(display.name) as opened:
        yield opened


@pytest.fixture
def painter(display: Display) -> Iterator[Painter]:
    p = Painter(display.name)
    p.fill(0, 0, display.width, display.height, GREY)
    yield p
    p.close()


def bgr(rgb: int) -> list[int]:
    return [rgb & 0xFF, (rgb >> 8) & 0xFF, rgb >> 16]


def cells_touched(x: int, y: int, w: int, h: int, tile: int = 64) -> set[tuple[int, int]]:
    return {
        (r, c)
        for r in range(y // tile, (y + h - 1) // tile + 1)
        for c in range(x // tile, (x + w - 1) // tile + 1)
    }


def cells_of(update: Update, tile: int = 64) -> set[tuple[int, int]]:
    cells: set[tuple[int, int]] = set()
    for t in update.tiles:
        assert t.x % tile == 0 and t.y % tile == 0
        cells |= cells_touched(t.x, t.y, t.w, t.h, tile)
    return cells


def test_monitors_list_the_whole_desktop_first(screen: Screen, display: Display) -> None:
    monitors = screen.monitors()
    assert monitors[0] == MonitorInfo(0, 0, 0, display.width, display.height)
    assert len(monitors) >= 2
    assert isinstance(screen, DesktopCapture)


def test_grab_matches_what_was_drawn(screen: Screen, painter: Painter, display: Display) -> None:
    painter.fill(10, 20, 100, 50, RED)
    painter.fill(300, 200, 64, 64, GREEN)
    painter.fill(display.width - 7, display.height - 5, 7, 5, BLUE)
    frame = screen.grab()
    assert frame.shape == (display.height, display.width, 4)
    assert frame.dtype == np.uint8
    assert frame.base is not None  # a view over mss's buffer, not a copy
    assert (frame[20:70, 10:110, :3] == bgr(RED)).all()
    assert (frame[200:264, 300:364, :3] == bgr(GREEN)).all()
    assert (frame[-5:, -7:, :3] == bgr(BLUE)).all()
    assert (frame[19, 10:110, :3] == bgr(GREY)).all()  # one row above the red one
    assert (frame[20:70, 110, :3] == bgr(GREY)).all()  # one column right of it
    # Later grabs do not change an earlier frame.
    painter.fill(10, 20, 100, 50, BLUE)
    assert (frame[20:70, 10:110, :3] == bgr(RED)).all()
    assert (screen.grab(1)[20:70, 10:110, :3] == bgr(BLUE)).all()


def test_grab_of_a_missing_monitor_is_a_clear_error(screen: Screen) -> None:
    with pytest.raises(CaptureError, match="no monitor 9"):
        screen.grab(9)


def test_a_display_that_does_not_exist_is_a_clear_error() -> None:
    with pytest.raises(CaptureError, match="cannot open X display :399"):
        Screen(":399")


def test_cursor_position_follows_xdotool(screen: Screen, display: Display) -> None:
    subprocess.run(["xdotool", "mousemove", "100", "200"], env=display.env(), check=True)
    assert screen.cursor_position() == (100, 200)
    subprocess.run(["xdotool", "mousemove", "1279", "0"], env=display.env(), check=True)
    assert screen.cursor_position() == (1279, 0)


def test_the_cursor_can_be_read_from_two_threads_at_once(screen: Screen,
                                                        display: Display) -> None:
    """The capture reads the pointer with each frame while the injector's window guard
    reads it before each event: on one Xlib connection, on two threads."""
    subprocess.run(["xdotool", "mousemove", "321", "123"], env=display.env(), check=True)
    seen: list[set[tuple[int, int]]] = [set(), set()]
    failed: list[BaseException] = []

    def read(into: set[tuple[int, int]]) -> None:
        try:
            for _ in range(3000):
                into.add(screen.cursor_position())
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    threads = [threading.Thread(target=read, args=(into,), daemon=True) for into in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a cursor read never returned"
    assert failed == []
    assert seen == [{(321, 123)}, {(321, 123)}]


def test_only_the_touched_tiles_are_sent(
    screen: Screen, painter: Painter, display: Display
) -> None:
    encoder = TileEncoder(display.width, display.height)
    decoder = TileDecoder(display.width, display.height)
    first = encoder.encode(screen.grab(), cursor=screen.cursor_position())
    assert first.keyframe
    assert cells_of(first) == {(r, c) for r in range(13) for c in range(20)}
    decoder.feed(first.to_bytes())

    assert encoder.encode(screen.grab()).tiles == ()  # nothing changed, nothing sent

    for rect in [(130, 70, 60, 100), (0, 0, 1, 1), (1270, 790, 10, 10), (500, 300, 200, 10)]:
        painter.fill(*rect, RED)
        frame = screen.grab()
        update = encoder.encode(frame)
        assert not update.keyframe
        assert cells_of(update) == cells_touched(*rect), rect
        decoder.feed(update.to_bytes())
        assert (decoder.framebuffer[:, :, :3] == frame[:, :, :3]).all()

    full = encoder.encode(screen.grab(), force_full=True)
    assert full.keyframe
    assert cells_of(full) == {(r, c) for r in range(13) for c in range(20)}


def test_a_terminal_screen_is_sent_losslessly_and_small(
    screen: Screen, display: Display
) -> None:
    with xterm(display, "-geometry", "140x45+0+0"):
        subprocess.run(["xdotool", "mousemove", "200", "200"], env=display.env(), check=True)
        subprocess.run(
            ["xdotool", "type", "--delay", "1", "ls -la /usr/bin | head -40"],
            env=display.env(), check=True,
        )
        subprocess.run(["xdotool", "key", "Return"], env=display.env(), check=True)
        time.sleep(0.5)
        frame = screen.grab()
    for browser_safe in (False, True):
        update = TileEncoder(display.width, display.height, browser_safe=browser_safe).encode(
            frame
        )
        decoder = TileDecoder(display.width, display.height)
        decoder.feed(update.to_bytes())
        error = np.abs(decoder.framebuffer[:, :, :3].astype(np.int16) - frame[:, :, :3]).mean()
        codecs = {t.codec for t in update.tiles}
        if browser_safe:
            assert Codec.ZSTD not in codecs
            assert error < 1.0
        else:
            assert codecs <= {Codec.FILL, Codec.ZSTD, Codec.RAW}
            assert error == 0
        assert len(update.to_bytes()) < display.width * display.height * 4 / 10
