"""Both desktop backends (x11, pynput) on a real Xvfb: one contract, the same test bodies.

The pynput backend runs here through pynput's own X backend, which opens
``$DISPLAY``: its fixture points ``DISPLAY`` at the test's Xvfb. The person's
own keys are pressed with XTEST from a separate connection, as a keyboard would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
import test_live_session
from desktop_support import Display, xterm
from test_live_session import PASSWORD, SIGNER, T, _create, _events, _exit_code
from Xlib import X  # type: ignore[import-untyped]
from Xlib import display as xdisplay
from Xlib.ext import xtest  # type: ignore[import-untyped]

from ra.desktop.backend import (
    BACKENDS,
    X11,
    DesktopBackend,
    X11Backend,
    default_backend,
    open_backend,
)
from ra.desktop.capture import CaptureError
from ra.desktop.keys import ESCAPE_REFUSED, DisplayError, KeyEvent, RefusedInput
from ra.desktop.portable import PortableBackend
from ra.invitations import load_invitation
from ra.net import connect
from ra.session.desktop import X11Desktop

ESC_KEYCODE = 9  # Escape on Xvfb's default keymap

# -- helpers -----------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, display: Display,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[DesktopBackend]:
    """Each backend on the test's display (pynput's X backend reads $DISPLAY)."""
    monkeypatch.setenv("DISPLAY", display.name)
    opened = open_backend(request.param, display.name)
    assert opened.name == request.param
    try:
        yield opened
    finally:
        opened.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def key(name: str, down: bool) -> dict[str, Any]:
    return {"kind": "key", "key": name, "down": down}


def type_line(backend: DesktopBackend, text: str) -> None:
    for char in text:
        backend.inject(key(char, True))
        backend.inject(key(char, False))
    backend.inject(key("Enter", True))
    backend.inject(key("Enter", False))


def press_as_the_person(display: Display, keycode: int) -> None:
    """A key pressed and released on the person's keyboard (XTEST, its own connection)."""
    conn = xdisplay.Display(display.name)
    try:
        xtest.fake_input(conn, X.KeyPress, keycode)
        xtest.fake_input(conn, X.KeyRelease, keycode)
        conn.sync()
    finally:
        conn.close()


def pressed_keycodes(display: Display) -> set[int]:
    conn = xdisplay.Display(display.name)
    try:
        bits = conn.query_keymap()
    finally:
        conn.close()
    return {byte * 8 + bit for byte, value in enumerate(bits) for bit in range(8)
            if value & (1 << bit)}


def pointer_mask(display: Display) -> int:
    conn = xdisplay.Display(display.name)
    try:
        return int(conn.screen().root.query_pointer().mask)
    finally:
        conn.close()


def visible(display: Display, proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    def check() -> bool:
        found = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--pid", str(proc.pid)],
            env=display.env(), capture_output=True, text=True,
        )
        return bool(found.stdout.strip())

    return check


SHELL = ("-u8", "-e", "env", "LC_ALL=C.UTF-8", "bash", "--norc", "--noprofile")


class Presses:
    """Esc callbacks, counted (called on the watcher's thread)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


# -- the contract, run against both backends ------------------------------------------


def test_constructing_a_backend_opens_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """No display is touched until the screen or the input is used; then a one-line error."""
    monkeypatch.setenv("DISPLAY", ":4321")
    for name in BACKENDS:
        backend = open_backend(name, ":4321")  # no X server there: nothing is opened yet
        with pytest.raises(CaptureError):
            backend.monitors()
        backend.close()
        backend.close()  # twice is fine


def test_monitors_and_a_grab_match_the_display(
    backend: DesktopBackend, display: Display
) -> None:
    monitors = backend.monitors()
    assert (monitors[0].x, monitors[0].y) == (0, 0)
    assert (monitors[0].width, monitors[0].height) == (display.width, display.height)
    frame = backend.grab(0)
    assert frame.shape == (display.height, display.width, 4)
    assert frame.dtype.name == "uint8"
    with pytest.raises(CaptureError, match="no monitor"):
        backend.grab(len(monitors))
    x, y = backend.cursor_position()
    assert 0 <= x < display.width and 0 <= y < display.height


def test_typing_runs_a_command_in_a_real_xterm(
    backend: DesktopBackend, display: Display, tmp_path: Path
) -> None:
    """xterm ignores synthetic (XSendEvent) keys: only real XTEST input types here."""
    with xterm(display, *SHELL, cwd=tmp_path) as proc:
        assert wait_for(visible(display, proc)), "xterm never became visible"
        backend.inject({"kind": "pointer", "x": 200, "y": 100})  # focus follows the pointer
        type_line(backend, "echo hi > OUT")
        out = tmp_path / "OUT"
        assert wait_for(lambda: out.exists() and out.read_text() == "hi\n"), \
            "the command typed into xterm did not run"
    assert pressed_keycodes(display) == set()


def test_esc_pressed_by_the_person_is_seen_once_per_press(
    backend: DesktopBackend, display: Display
) -> None:
    presses = Presses()
    watch = backend.watch_esc(presses)
    try:
        press_as_the_person(display, ESC_KEYCODE)  # right after watch_esc: not missed
        assert wait_for(lambda: presses.count >= 1), "Esc was not seen"
        press_as_the_person(display, ESC_KEYCODE)
        assert wait_for(lambda: presses.count >= 2), "the second Esc was not seen"
    finally:
        watch.stop()
        watch.stop()  # twice is fine
    assert not watch.running
    assert presses.count == 2


def test_an_esc_watch_whose_listener_dies_before_it_is_ready_fails_in_one_line(
    display: Display, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pynput waits for its listener to be ready without a limit; a listener thread that
    dies first (the display refused it) is a DisplayError, never a session that hangs."""
    monkeypatch.setenv("DISPLAY", display.name)  # pynput connects as it is imported
    import pynput.keyboard

    def refused(self: Any) -> None:
        raise OSError("the display refused the listener")

    monkeypatch.setattr(pynput.keyboard.Listener, "_run", refused)
    backend = PortableBackend(display.name)
    outcome: list[BaseException | None] = []

    def watch() -> None:
        try:
            backend.watch_esc(Presses()).stop()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            outcome.append(exc)

    waiter = threading.Thread(target=watch, daemon=True)
    waiter.start()
    waiter.join(30)
    backend.close()
    assert not waiter.is_alive(), "watch_esc hangs when its listener dies before it is ready"
    assert isinstance(outcome[0], DisplayError), outcome


@pytest.mark.parametrize("event", [
    key("Escape", True), key("Esc", True), key("\x1b", True),
    {"kind": "key", "key": "a", "code": "Escape", "down": True},
    KeyEvent("Escape", True),
])
def test_esc_is_never_injected(backend: DesktopBackend, display: Display, event: object) -> None:
    presses = Presses()
    watch = backend.watch_esc(presses)
    try:
        with pytest.raises(RefusedInput, match=ESCAPE_REFUSED):
            backend.inject(event)
        # The person's own Esc comes after: had the refused one reached the display,
        # the watcher would have counted it first.
        press_as_the_person(display, ESC_KEYCODE)
        assert wait_for(lambda: presses.count >= 1), "the person's Esc was not seen"
    finally:
        watch.stop()
    assert presses.count == 1
    assert pressed_keycodes(display) == set()


def test_release_all_lets_go_of_held_keys_and_buttons(
    backend: DesktopBackend, display: Display
) -> None:
    backend.inject({"kind": "pointer", "x": 10, "y": 10})
    backend.inject(key("Control", True))
    backend.inject(key("a", True))
    backend.inject({"kind": "button", "button": 1, "down": True})
    assert len(pressed_keycodes(display)) == 2  # Control and "a"
    assert pointer_mask(display) & X.Button1Mask
    backend.release_all()
    assert pressed_keycodes(display) == set()
    assert not pointer_mask(display) & X.Button1Mask
    backend.inject(key("a", False))  # released already: nothing to do
    assert pressed_keycodes(display) == set()


def test_pointer_moves_clamp_to_the_desktop(backend: DesktopBackend, display: Display) -> None:
    backend.inject({"kind": "pointer", "x": 5000, "y": -40})
    assert backend.cursor_position() == (display.width - 1, 0)


# -- choosing a backend ------------------------------------------------------------------


def test_x11_is_the_default_on_linux_and_the_session_desktop_uses_it() -> None:
    assert default_backend() == X11
    desktop = X11Desktop(":4321", None, lambda: None)  # type: ignore[arg-type]
    assert isinstance(desktop.backend, X11Backend)
    desktop.close()


def test_the_pynput_backend_refuses_a_display_other_than_its_own(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", ":4321")
    with pytest.raises(DisplayError, match="DISPLAY=:4322"):
        PortableBackend(":4322")


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_ra_ask_backend_bogus_is_a_one_line_usage_error(ra: Any) -> None:
    line = _one_line(ra("ask", "--backend", "bogus"))
    assert line.startswith("ra: ") and "bogus" in line and "x11" in line and "pynput" in line


def test_ra_ask_backend_pynput_without_pynput_says_so_in_one_line(
    home: Any, display: Display
) -> None:
    hide = ("import sys; sys.modules['pynput'] = None; sys.argv[0] = 'ra'; "
            "from ra.cli.app import main; main()")
    result = subprocess.run(
        [sys.executable, "-c", hide, "ask", "--backend", "pynput"],
        capture_output=True, text=True, timeout=60,
        env={**display.env(), "RA_HOME": str(home.root)},
    )
    line = _one_line(result)
    assert "pynput" in line and "pip install" in line


def test_ra_ask_with_the_pynput_backend_types_into_an_xterm_and_hears_esc(
    display: Display, tmp_path: Path
) -> None:
    """`ra ask --backend pynput`: a helper in control types a command into a real xterm,
    and the person's Esc takes control back (recorded: by the person, via esc)."""
    person_home = tmp_path / "person"
    work = tmp_path / "work"
    work.mkdir()
    inv_id, file = _create(person_home, tmp_path)
    env = {**display.env(), "RA_HOME": str(person_home), "RA_LOG_LEVEL": "info",
           "RA_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    with xterm(display, *SHELL, cwd=work) as proc:
        assert wait_for(visible(display, proc)), "xterm never became visible"
        person = pexpect.spawn(
            sys.executable, ["-m", "ra", "ask", inv_id, "--terminal", "--host", "127.0.0.1",
                             "--backend", "pynput"],
            env=env, encoding="utf-8", timeout=T, dimensions=(50, 300))
        person.logfile_read = sys.stdout
        try:
            person.expect(r"listening on 127\.0\.0\.1:\d+")
            asyncio.run(asyncio.wait_for(_helper(load_invitation(file), person, display,
                                                 work / "OUT"), 60))
            person.expect("you ended the session")
            assert _exit_code(person) == 0
        finally:
            person.close(force=True)
    released = [e for e in _events(person_home) if e.type == "control.released"]
    typed = 1 + 2 * len("echo hi > OUT") + 2  # what `_helper` sends: a move, keys, Enter
    assert [e.payload for e in released] == [{"by": "person", "via": "esc",
                                              "inputs_injected": typed}]


async def _helper(invitation: Any, person: pexpect.spawn, display: Display, out: Path) -> None:
    channel = await connect(invitation, PASSWORD, SIGNER)
    peer = test_live_session.RawHelper(channel)
    expect = peer.expect

    async def on_pty(pattern: str) -> None:
        await asyncio.to_thread(person.expect, pattern)

    async def send(event: dict[str, Any]) -> None:
        await channel.send_json({"type": "input", "event": event})

    async with peer.running():
        await expect("consent", scope="view", status="requested")
        await on_pty(r'"backend": "pynput", "display": ":\d+", "event": "desktop.backend"')
        await on_pty("Answer y")
        person.sendline("y")
        await expect("consent", scope="view", status="granted")
        await channel.send_json({"type": "control.request"})
        await expect("consent", scope="control", status="requested")
        await on_pty("asks to control your mouse and keyboard")
        await on_pty("Answer y")
        person.sendline("y")
        await expect("consent", scope="control", status="granted")
        await on_pty("now controls your mouse and keyboard")

        await send({"kind": "pointer", "x": 200, "y": 100})
        for char in "echo hi > OUT":
            await send(key(char, True))
            await send(key(char, False))
        await send(key("Enter", True))
        await send(key("Enter", False))
        assert await asyncio.to_thread(
            wait_for, lambda: out.exists() and out.read_text() == "hi\n"), \
            "the command typed through `ra ask --backend pynput` did not run"

        press_as_the_person(display, ESC_KEYCODE)
        await expect("control.released", by="person", via="esc")
        person.sendline("/disconnect")
        await expect("disconnect", reason="user")


def test_the_portable_backend_is_not_imported_with_the_x11_one() -> None:
    """pynput is imported when the portable backend is first used, never before."""
    code = ("import sys; import ra.session.person, ra.desktop.backend; "
            "print('pynput' in sys.modules, 'ra.desktop.portable' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "DISPLAY": ""})
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_a_watch_that_loses_the_display_calls_on_esc(
    backend: DesktopBackend, display: Display
) -> None:
    """Fail-safe: once Esc can no longer be heard, control must end."""
    presses = Presses()
    watch = backend.watch_esc(presses)
    try:
        os.kill(display.pid, signal.SIGKILL)
        assert wait_for(lambda: presses.count >= 1), "losing the display did not call on_esc"
    finally:
        watch.stop()
