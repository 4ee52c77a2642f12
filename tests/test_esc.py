"""The Esc watcher: Esc pressed by anything on the display releases control."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from desktop_support import Display, xterm, xvfb
from Xlib import XK, X  # type: ignore[import-untyped]
from Xlib import display as xdisplay

from ra.desktop.backend import X11Backend
from ra.desktop.esc import EscWatcher
from ra.desktop.inject import Injector
from ra.desktop.keys import DisplayError
from ra.engine import DisableInput, EnableInput, Output, Record, SessionEngine
from ra.session.desktop import X11Desktop


class Calls:
    """A thread-safe record of callback calls."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.threads: list[str] = []
        self.event = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.times.append(time.monotonic())
            self.threads.append(threading.current_thread().name)
        self.event.set()

    def wait(self, count: int = 1, timeout: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.times) >= count:
                return True
            time.sleep(0.005)
        return len(self.times) >= count


def xdotool(display: Display, *args: str) -> float:
    """Run xdotool on `display`; return when it was started."""
    started = time.monotonic()
    subprocess.run(["xdotool", *args], env=display.env(), check=True, timeout=10)
    return started


def test_fires_on_escape_within_half_a_second(display: Display) -> None:
    calls = Calls()
    with EscWatcher(display.name, calls) as watcher:
        pressed = xdotool(display, "key", "Escape")
        assert calls.wait(1, 0.5), "Esc was not seen within 0.5 s"
        assert calls.times[0] - pressed < 0.5
        assert calls.threads[0] != threading.current_thread().name
        assert watcher.presses == 1
    assert not watcher.running


def test_does_not_fire_for_other_keys(display: Display) -> None:
    calls = Calls()
    with EscWatcher(display.name, calls):
        xdotool(display, "key", "a", "shift+a", "Return", "ctrl+bracketleft", "F1")
        time.sleep(0.5)
        assert calls.times == []
        xdotool(display, "key", "Escape")  # and it is still listening
        assert calls.wait(1)


def test_does_not_fire_for_injected_keys(display: Display) -> None:
    calls = Calls()
    with EscWatcher(display.name, calls), Injector(display.name) as injector:
        for char in "hello, World!~":
            injector.inject({"kind": "key", "key": char, "down": True})
            injector.inject({"kind": "key", "key": char, "down": False})
        injector.inject({"kind": "key", "key": "Enter", "down": True})
        injector.release_all()
        time.sleep(0.3)
    assert calls.times == []


def test_each_press_fires_once_and_a_held_esc_once(display: Display) -> None:
    calls = Calls()
    with EscWatcher(display.name, calls):
        xdotool(display, "key", "Escape")
        xdotool(display, "key", "Escape")
        assert calls.wait(2)
        conn = xdisplay.Display(display.name)
        try:  # a held Esc auto-repeats as presses without releases
            esc = next(iter(conn.keysym_to_keycodes(XK.XK_Escape)))[0]
            for _ in range(5):
                conn.xtest_fake_input(X.KeyPress, esc)
            conn.xtest_fake_input(X.KeyRelease, esc)
            conn.sync()
        finally:
            conn.close()
        assert calls.wait(3)
        time.sleep(0.3)
        assert len(calls.times) == 3


def test_follows_a_remapped_escape(display: Display) -> None:
    """caps:swapescape style: the key that types Escape counts, wherever it is."""
    calls = Calls()
    conn = xdisplay.Display(display.name)
    try:
        esc = next(iter(conn.keysym_to_keycodes(XK.XK_Escape)))[0]
        caps = next(iter(conn.keysym_to_keycodes(XK.XK_Caps_Lock)))[0]
        esc_row = conn.get_keyboard_mapping(esc, 1)[0]
        caps_row = conn.get_keyboard_mapping(caps, 1)[0]
        conn.change_keyboard_mapping(esc, [(XK.XK_Caps_Lock, 0)])
        conn.change_keyboard_mapping(caps, [(XK.XK_Escape, 0)])
        conn.sync()
        with EscWatcher(display.name, calls):
            for code in (esc, caps):
                conn.xtest_fake_input(X.KeyPress, code)
                conn.xtest_fake_input(X.KeyRelease, code)
            conn.sync()
            assert calls.wait(1)
            time.sleep(0.3)
            assert len(calls.times) == 1  # only the Caps key, which now types Escape
        conn.change_keyboard_mapping(esc, [tuple(esc_row)])
        conn.change_keyboard_mapping(caps, [tuple(caps_row)])
        conn.sync()
    finally:
        conn.close()


def test_watches_the_display_it_is_given_not_DISPLAY(
    display: Display, monkeypatch: pytest.MonkeyPatch
) -> None:
    with xvfb(320, 200) as other:
        monkeypatch.setenv("DISPLAY", other.name)
        calls = Calls()
        with EscWatcher(display.name, calls):
            xdotool(other, "key", "Escape")
            time.sleep(0.3)
            assert calls.times == []
            xdotool(display, "key", "Escape")
            assert calls.wait(1)
        assert os.environ["DISPLAY"] == other.name  # untouched


def test_a_failing_callback_does_not_stop_the_watcher(display: Display) -> None:
    calls = Calls()

    def on_esc() -> None:
        calls()
        raise RuntimeError("boom")

    with EscWatcher(display.name, on_esc) as watcher:
        xdotool(display, "key", "Escape")
        assert calls.wait(1)
        xdotool(display, "key", "Escape")
        assert calls.wait(2)
        assert watcher.running


def test_stop_from_the_callback_and_twice(display: Display) -> None:
    calls = Calls()
    watcher: EscWatcher

    def on_esc() -> None:
        calls()
        watcher.stop()

    watcher = EscWatcher(display.name, on_esc)
    watcher.start()
    xdotool(display, "key", "Escape")
    assert calls.wait(1)
    deadline = time.monotonic() + 3
    while watcher.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not watcher.running
    watcher.stop()
    watcher.stop()
    with pytest.raises(RuntimeError):
        watcher.start()


def test_stop_without_start_is_harmless() -> None:
    EscWatcher(":399", lambda: None).stop()


def test_no_display_is_a_display_error() -> None:
    with pytest.raises(DisplayError, match="cannot open X display"):
        EscWatcher(":399", lambda: None).start()


def test_losing_the_display_fails_safe() -> None:
    """If Esc can no longer be heard, control must end: on_error (default: on_esc) runs."""
    for use_default in (True, False):
        calls = Calls()
        errors: list[BaseException] = []
        on_error: Callable[[BaseException], None] | None = None if use_default else errors.append
        with xvfb(320, 200) as short_lived:
            watcher = EscWatcher(short_lived.name, calls, on_error=on_error)
            watcher.start()
        # Xvfb is gone now
        deadline = time.monotonic() + 5
        while watcher.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not watcher.running
        assert watcher.failure is not None
        if use_default:
            assert len(calls.times) == 1
        else:
            assert calls.times == [] and errors == [watcher.failure]
        watcher.stop()


# -- a helper who remaps the keyboard --------------------------------------------


def xmodmap(display: Display, *expressions: str) -> None:
    args = [arg for expression in expressions for arg in ("-e", expression)]
    subprocess.run(["xmodmap", *args], env=display.env(), check=True, timeout=10)


def press_keycode(display: Display, keycode: int) -> None:
    """Press and release `keycode` as the person's keyboard would (XTEST, like the key)."""
    conn = xdisplay.Display(display.name)
    try:
        conn.xtest_fake_input(X.KeyPress, keycode)
        conn.xtest_fake_input(X.KeyRelease, keycode)
        conn.sync()
    finally:
        conn.close()


def test_the_physical_esc_still_releases_after_it_was_remapped(display: Display) -> None:
    calls = Calls()
    with EscWatcher(display.name, calls) as watcher:
        assert watcher.escape_keycodes == {9}
        xmodmap(display, "keycode 9 = a")  # Esc's key now types "a"
        press_keycode(display, 9)
        assert calls.wait(1), "the remapped Esc key no longer released"
        press_keycode(display, 38)  # the "a" key itself is not Esc ...
        press_keycode(display, 9)  # ... and key events come in order: no wait needed
        assert calls.wait(2)
        assert len(calls.times) == 2


def test_esc_keycodes_given_are_esc_whatever_the_keymap_says(display: Display) -> None:
    xmodmap(display, "keycode 9 = a")  # changed before this watcher started
    calls = Calls()
    with EscWatcher(display.name, calls, escape_keycodes=[9]) as watcher:
        assert watcher.escape_keycodes == {9}
        press_keycode(display, 9)
        assert calls.wait(1)


def test_keymap_changes_are_reported_except_the_trusted_clients(display: Display) -> None:
    changes: list[str] = []
    seen = threading.Event()

    def on_change(what: str) -> None:
        changes.append(what)
        seen.set()

    with Injector(display.name) as injector, EscWatcher(
        display.name, lambda: None, on_keymap_change=on_change,
        trusted_clients=[injector.client_id],
    ) as watcher:
        for char in "éж":  # the injector binds spare keycodes: trusted, not reported
            injector.inject({"kind": "key", "key": char, "down": True})
            injector.inject({"kind": "key", "key": char, "down": False})
        subprocess.run(["xkbcomp", "-xkb", display.name, "-o", "/dev/null"],
                       env=display.env(), check=True, capture_output=True, timeout=10)
        # Reading the keymap is no change either; what is reported comes in order,
        # so the first report below is the first change.
        cases: list[tuple[Callable[[], object], str]] = [
            (lambda: xmodmap(display, "keycode 9 = a"), "ChangeKeyboardMapping"),
            (lambda: xmodmap(display, "clear mod5"), "SetModifierMapping"),
            (lambda: subprocess.run(["setxkbmap", "de"], env=display.env(), check=True,
                                    timeout=10), "XkbGetKbdByName"),
        ]
        for change, request in cases:
            seen.clear()
            change()
            assert seen.wait(2), f"{request} was not reported"
            assert changes[-1] == request
        assert changes == [request for _, request in cases]
        assert watcher.keymap_changes == len(changes) == 3


def released_via(outputs: list[Output]) -> Any:
    (event,) = [o.event for o in outputs if isinstance(o, Record)
                and o.event.type == "control.released"]
    assert any(isinstance(o, DisableInput) for o in outputs)
    return event.payload


def test_a_helper_who_remaps_esc_from_an_xterm_loses_control_at_once(
    display: Display, tmp_path: Path
) -> None:
    """The attack: in control, type `xmodmap -e 'keycode 9 = a'` into a terminal."""
    engine = SessionEngine("person", "alice")
    engine.connected("bob", 0.0)
    engine.authenticated(0.0)
    engine.consent_answered("view", True, 1.0)
    engine.received({"type": "control.request"}, 2.0)
    assert any(isinstance(o, EnableInput) for o in engine.consent_answered("control", True, 3.0))
    heard: list[str] = []
    woke = threading.Event()

    def wake(what: str) -> Callable[[], None]:
        def called() -> None:
            heard.append(what)
            woke.set()
        return called

    async def no_screen(data: bytes) -> None:
        return None

    desktop = X11Desktop(display.name, no_screen, wake("esc"), on_keymap_change=wake("keymap"))
    args = ("-e", "env", "LC_ALL=C.UTF-8", "bash", "--norc", "--noprofile")
    try:
        with xterm(display, *args, cwd=tmp_path):
            desktop.enable_input()
            desktop.inject({"kind": "pointer", "x": 200, "y": 100})  # focus: the xterm
            for char in "xmodmap -e 'keycode 9 = a'; touch DONE":
                desktop.inject({"kind": "key", "key": char, "down": True})
                desktop.inject({"kind": "key", "key": char, "down": False})
            desktop.inject({"kind": "key", "key": "Enter", "down": True})
            desktop.inject({"kind": "key", "key": "Enter", "down": False})
            assert woke.wait(10), "the keymap change did not end control"
            assert heard == ["keymap"]
            assert isinstance(desktop.backend, X11Backend)
            injector = desktop.backend.injector
            injected = injector.stats.events
            desktop.inject({"kind": "key", "key": "x", "down": True})  # the gate is shut
            assert injector.stats.events == injected
            assert released_via(engine.keymap_changed(4.0)) == {
                "by": "person", "via": "keymap-changed", "inputs_injected": 0}
            desktop.disable_input()
            deadline = time.monotonic() + 10
            while not (tmp_path / "DONE").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert (tmp_path / "DONE").exists()  # the command ran to its end
            conn = xdisplay.Display(display.name)
            try:  # the remap did happen: Esc's key types "a" now
                assert conn.get_keyboard_mapping(9, 1)[0][0] == XK.XK_a
            finally:
                conn.close()

            # Control granted again: the Esc key of the session's start still releases.
            woke.clear()
            engine.received({"type": "control.request"}, 5.0)
            engine.consent_answered("control", True, 6.0)
            desktop.enable_input()
            press_keycode(display, 9)
            assert woke.wait(5), "the physical Esc key no longer released"
            assert heard == ["keymap", "esc"]
            assert released_via(engine.esc_pressed(7.0)) == {"by": "person", "via": "esc",
                                                             "inputs_injected": 0}
            desktop.disable_input()
    finally:
        desktop.close()


def test_a_trusted_client_s_id_is_not_trusted_once_it_is_gone(display: Display) -> None:
    """The server gives a closed connection's id to the next client: trust ends with it."""
    changes: list[str] = []
    injector = Injector(display.name)
    trusted = injector.client_id
    with EscWatcher(display.name, lambda: None, on_keymap_change=changes.append,
                    trusted_clients=[trusted]):
        injector.close()
        deadline = time.monotonic() + 5
        while True:  # the server frees the id once it has seen the connection close
            conn = xdisplay.Display(display.name)
            if int(conn.display.info.resource_id_base) == trusted:
                break
            conn.close()
            assert time.monotonic() < deadline, "the closed connection's id was not reused"
        try:
            conn.change_keyboard_mapping(9, [(XK.XK_a, XK.XK_A)])
            conn.sync()
        finally:
            conn.close()
        deadline = time.monotonic() + 2
        while not changes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert changes == ["ChangeKeyboardMapping"]
