"""The whole thing, for real: two X displays, an xterm, `ra ask`, `ra connect`, Chromium.

The person's display (Xvfb) runs an xterm with a shell. `ra ask` serves that
display; `ra connect` runs for the helper (on its own display) and serves the
viewer, which headless Chromium opens through Playwright. Consent is answered
in the person's real terminal (a pty).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mss
import numpy as np
import pexpect
import pytest
from desktop_support import Display, xterm, xvfb
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from support import stop

from ra.events import EventStore, verify_log
from ra.home import Home

PASSWORD = "Quiet-Harbour-Lamp-58"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
T = 20
#: Mean absolute difference per channel allowed between the canvas and the real
#: screen: text travels as JPEG q90 4:4:4, fills and tiny tiles exactly.
SCREEN_TOLERANCE = 4.0


def _env(home: Path, display: Display) -> dict[str, str]:
    return {**display.env(), "RA_HOME": str(home), "RA_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def displays() -> Iterator[tuple[Display, Display]]:
    with xvfb(1280, 800) as person, xvfb(1024, 768) as helper:
        yield person, helper


def _grab(display: Display) -> np.ndarray:
    with mss.MSS(display=display.name) as screen:
        shot = np.asarray(screen.grab(screen.monitors[0]))
    return shot[:, :, [2, 1, 0]].astype(np.int16)  # BGRA -> RGB


def _canvas(page: Page) -> np.ndarray:
    width, height, data = page.evaluate("""() => {
        const c = document.getElementById('screen');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return [c.width, c.height, Array.from(d)];
    }""")
    return np.array(data, dtype=np.int16).reshape(height, width, 4)[:, :, :3]


def _state(page: Page) -> str:
    return str(page.evaluate("document.getElementById('status').dataset.state || ''"))


def _wait_state(page: Page, state: str) -> None:
    page.wait_for_function(
        f"() => document.getElementById('status').dataset.state === '{state}'", timeout=T * 1000)


def _take_control(page: Page, person: pexpect.spawn) -> dict[str, float]:
    """Take Control in the browser, consent as the person; the canvas's box on the page."""
    page.click("#take-control")
    person.expect("asks to control your mouse and keyboard")
    person.expect("Answer y")
    person.sendline("y")
    _wait_state(page, "controlling")
    box = page.locator("#screen").bounding_box()
    assert box is not None
    return box


def _wait_file(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{path} did not appear")


def _pointer(display: Display) -> tuple[int, int]:
    out = subprocess.run(["xdotool", "getmouselocation", "--shell"], env=display.env(),
                         capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return int(values["X"]), int(values["Y"])


def _invite(home: Path, display: Display, file: Path, *extra: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "ra", "invite", "create", "--name", "Alice", *extra,
         "--password-stdin", "--save", str(file), "--host", "127.0.0.1",
         "--port", str(_free_port())],
        input=PASSWORD + "\n", text=True, capture_output=True, check=True,
        env=_env(home, display), timeout=30)


def _start_pair(
    person_home: Path, person_display: Display, helper_home: Path, helper_display: Display,
    file: Path, children: list[pexpect.spawn],
) -> tuple[pexpect.spawn, pexpect.spawn, str]:
    """`ra ask` for the person, `ra connect` for the helper; returns them and the address
    of the viewer's opener file (the file that takes a browser to the page)."""
    person = pexpect.spawn(sys.executable, ["-m", "ra", "ask", "--terminal", "--host", "127.0.0.1"],
                           env=_env(person_home, person_display), encoding="utf-8",
                           timeout=T, dimensions=(50, 300))
    person.logfile_read = sys.stdout
    children.append(person)
    person.expect("listening on")
    helper = pexpect.spawn(
        sys.executable, ["-m", "ra", "connect", str(file), "--password-stdin", "--no-browser"],
        env=_env(helper_home, helper_display), encoding="utf-8", timeout=T,
        dimensions=(50, 300))
    helper.logfile_read = sys.stdout
    children.append(helper)
    helper.sendline(PASSWORD)
    helper.expect(r"viewer: open (file://\S+) in your browser")
    return person, helper, str(helper.match.group(1)).strip()


def _launch(playwright: Playwright, display: Display) -> Browser:
    """Headless Chromium (Debian's) with the helper's display."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                      headless=True, env={"DISPLAY": display.name})


def _disconnect(page: Page, person: pexpect.spawn, helper: pexpect.spawn) -> None:
    """Disconnect from the viewer; both sides say so and exit."""
    page.click("#disconnect")
    person.expect("ended the session")
    helper.expect("session ended")
    person.expect(pexpect.EOF)
    helper.expect(pexpect.EOF)


def test_a_whole_session_on_a_real_desktop(tmp_path: Path,
                                           displays: tuple[Display, Display]) -> None:
    person_display, helper_display = displays
    person_home, helper_home = tmp_path / "person", tmp_path / "helper"
    work = tmp_path / "work"
    work.mkdir()
    file = tmp_path / "help.rainv"
    _invite(person_home, person_display, file, "--message", "My printer vanished")
    children: list[pexpect.spawn] = []
    with xterm(person_display, "-e", "bash", "--norc", "--noprofile", cwd=work), \
            sync_playwright() as playwright:
        subprocess.run(["xdotool", "mousemove", "200", "200"], env=person_display.env(),
                       check=True)  # no window manager: focus follows the pointer
        try:
            person, helper, url = _start_pair(person_home, person_display, helper_home,
                                              helper_display, file, children)

            browser = _launch(playwright, helper_display)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/v/"))
            page.wait_for_function(
                "() => document.getElementById('name').textContent.includes('Alice')")

            person.expect("asks to see your screen")
            person.expect("Answer y")
            person.sendline("y")
            _wait_state(page, "viewing")

            # The canvas shows the person's real screen.
            deadline = time.monotonic() + T
            while True:
                canvas = _canvas(page)
                real = _grab(person_display)
                if canvas.shape == real.shape:
                    error = float(np.abs(canvas - real).mean())
                    if error < SCREEN_TOLERANCE:
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(f"canvas {canvas.shape} vs screen {real.shape}")
                time.sleep(0.2)
            print(f"canvas vs screen: mean abs error {error:.2f} per channel")

            # Take Control, consent, then type into the xterm through the canvas.
            box = _take_control(page, person)
            # A click at 30%/25% of the canvas lands at the same place on the remote screen.
            page.mouse.click(box["x"] + box["width"] * 0.30, box["y"] + box["height"] * 0.25)
            time.sleep(0.5)
            x, y = _pointer(person_display)
            assert abs(x - 0.30 * 1280) <= 3 and abs(y - 0.25 * 800) <= 3, (x, y)
            page.keyboard.type("echo ok > typed.txt")
            page.keyboard.press("Enter")
            assert _wait_file(work / "typed.txt").strip() == "ok"

            # Esc on the person's own keyboard takes control back at once.
            subprocess.run(["xdotool", "key", "Escape"], env=person_display.env(), check=True)
            _wait_state(page, "released")
            person.expect("took control back|you have control again")
            page.keyboard.type("echo no > after.txt")
            page.keyboard.press("Enter")
            time.sleep(1.5)
            assert not (work / "after.txt").exists()

            # Chat both ways.
            page.fill("#chat-input", "hello from the viewer")
            page.click("#chat-send")
            person.expect("hello from the viewer")
            person.sendline("thanks, all good now")
            page.wait_for_function(
                "() => document.getElementById('chat-log').textContent"
                ".includes('thanks, all good now')", timeout=T * 1000)

            _disconnect(page, person, helper)
            browser.close()
        finally:
            stop(children)

    expected = [
        "session.connected", "session.authenticated", "consent.requested", "consent.granted",
        "view.started", "control.requested", "consent.requested", "consent.granted",
        "control.granted", "control.released", "chat.message", "chat.message",
        "session.disconnected", "session.receipt",
    ]
    for home in (person_home, helper_home):
        with EventStore.open(Home.at(home)) as store:
            assert verify_log(store).ok
            every = [e.type for e in store.iter_events(stream_prefix="session:")]
            # The person's side records the screen it shows, in chunks as long as it took.
            assert ("recording.chunk" in every) == (home == person_home), every
            types = [t for t in every if t != "recording.chunk"]
            assert types == expected, types
            released = [e for e in store.iter_events(types=["control.released"])]
            assert released[0].payload["via"] == "esc"
            assert released[0].payload["by"] == "person"



def test_the_demo_plays_a_whole_session(tmp_path: Path) -> None:
    """`make demo` runs `ra demo`: it must tell the whole story and catch the tampering.
    Run as `make demo` runs it (no options): its scratch folder is removed, and the
    screenshots stay in ./ra-demo-screenshots."""
    scratch = tmp_path / "tmp"  # where the scratch folder goes (TMPDIR)
    scratch.mkdir()
    shots = tmp_path / "ra-demo-screenshots"
    result = subprocess.run([sys.executable, "-m", "ra", "demo"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=180,
                            env={**os.environ, "RA_LOG_LEVEL": "warning",
                                 "TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "'printer re-added by Bob' is now on her disk" in out
    assert "after-esc.txt does not exist" in out
    assert re.search(r'\{"by": "person", "inputs_injected": \d+, "via": "esc"\}', out)
    assert out.count("log intact") == 2
    assert "log TAMPERED: seq" in out
    assert "nothing happens there, and her log records input.rejected (the session goes on)" in out
    assert '"reasons": {"the person\'s window' in out  # input.rejected, counted
    assert f"Screenshots of both sides (kept): {shots}" in out
    for shot in ("bob-1-viewing.png", "bob-2-in-control.png", "bob-3-chat.png",
                 "alice-1-waiting.png", "alice-2-view-consent.png", "alice-3-viewing.png",
                 "alice-4-control-consent.png", "alice-5-controlled.png", "alice-6-chat.png"):
        assert (shots / shot).stat().st_size > 10_000
    assert not list(scratch.glob("ra-demo-*"))  # the scratch folder is gone, not the shots
