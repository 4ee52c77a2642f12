"""Injecting a helper's input with XTEST, checked against real clients on a real Xvfb."""

from __future__ import annotations

import math
import random
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from desktop_support import Display, xterm
from hypothesis import given, settings
from hypothesis import strategies as st
from Xlib import XK, X  # type: ignore[import-untyped]
from Xlib import display as xdisplay

from ra.desktop.esc import EscWatcher
from ra.desktop.inject import Injector
from ra.desktop.keys import (
    ESCAPE_REFUSED,
    DisplayError,
    KeyEvent,
    Keymap,
    PointerEvent,
    RefusedInput,
    ScrollEvent,
    char_keysym,
    keysym_for,
    parse_event,
)

# -- helpers -----------------------------------------------------------------


@pytest.fixture
def injector(display: Display) -> Iterator[Injector]:
    with Injector(display.name) as opened:
        yield opened


def key(name: str, down: bool, code: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"kind": "key", "key": name, "down": down}
    if code is not None:
        event["code"] = code
    return event


def tap(injector: Injector, name: str) -> None:
    injector.inject(key(name, True))
    injector.inject(key(name, False))


def type_text(injector: Injector, text: str) -> None:
    for char in text:
        tap(injector, char)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def file_says(path: Path, text: str) -> Callable[[], bool]:
    def check() -> bool:
        return path.exists() and path.read_bytes() == text.encode()

    return check


def wait_visible(display: Display, proc: subprocess.Popen[bytes]) -> None:
    def visible() -> bool:
        found = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--pid", str(proc.pid)],
            env=display.env(), capture_output=True, text=True,
        )
        return bool(found.stdout.strip())

    assert wait_for(visible, 10), "xterm never became visible"


@pytest.fixture
def shell(display: Display, tmp_path: Path, injector: Injector) -> Iterator[Path]:
    """A bash in an xterm at +0+0, working in tmp_path, with the pointer over it (focus)."""
    args = ("-u8", "-e", "env", "LC_ALL=C.UTF-8", "bash", "--norc", "--noprofile")
    with xterm(display, *args, cwd=tmp_path) as proc:
        wait_visible(display, proc)
        injector.inject({"kind": "pointer", "x": 200, "y": 100})
        # The shell may still be starting: what is typed now waits in the tty for it.
        yield tmp_path


class Window:
    """A plain window of our own that records what the X server delivers to it."""

    def __init__(self, display: Display, x: int, y: int, width: int, height: int) -> None:
        self.conn: Any = xdisplay.Display(display.name)
        root = self.conn.screen().root
        self.win = root.create_window(
            x, y, width, height, 0, X.CopyFromParent,
            background_pixel=self.conn.screen().white_pixel,
            override_redirect=True,
            event_mask=(X.ButtonPressMask | X.ButtonReleaseMask | X.KeyPressMask
                        | X.KeyReleaseMask | X.StructureNotifyMask),
        )
        self.win.map()
        self.conn.sync()
        assert self.wait(lambda e: e.type == X.MapNotify) is not None

    def events(self, timeout: float = 0.5) -> list[Any]:
        """Everything delivered until nothing more arrives for `timeout` seconds."""
        seen: list[Any] = []
        while (event := self.wait(lambda e: True, timeout)) is not None:
            seen.append(event)
        return seen

    def wait(self, match: Callable[[Any], bool], timeout: float = 3.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.conn.pending_events():
                event = self.conn.next_event()
                if match(event):
                    return event
            time.sleep(0.005)
        return None

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def window(display: Display) -> Iterator[Window]:
    opened = Window(display, 300, 200, 400, 300)
    yield opened
    opened.close()


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


def mouse_location(display: Display) -> tuple[int, int]:
    out = subprocess.run(["xdotool", "getmouselocation", "--shell"], env=display.env(),
                         capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return int(values["X"]), int(values["Y"])


# -- typing into a real xterm ---------------------------------------------------


def test_typed_command_runs_in_a_real_xterm(shell: Path, injector: Injector) -> None:
    type_text(injector, "echo ok > FILE")
    tap(injector, "Enter")
    assert wait_for(file_says(shell / "FILE", "ok\n")), "the command typed in xterm did not run"
    assert injector.held_keycodes == []


def test_shifted_characters_get_shift_pressed_around_them(
    shell: Path, injector: Injector
) -> None:
    type_text(injector, "echo 'A!>' > FILE2")
    tap(injector, "Enter")
    assert wait_for(file_says(shell / "FILE2", "A!>\n"))


def test_every_printable_ascii_character(shell: Path, injector: Injector) -> None:
    printable = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "'")
    type_text(injector, f"echo '{printable}' > ASCII")
    tap(injector, "Enter")
    assert wait_for(file_says(shell / "ASCII", printable + "\n"))


def test_browser_style_shift_sequences(shell: Path, injector: Injector) -> None:
    """The viewer sends Shift down/up itself, and the key of the up may differ from the down."""
    type_text(injector, "echo '")
    injector.inject(key("Shift", True, "ShiftLeft"))
    injector.inject(key("H", True, "KeyH"))
    injector.inject(key("H", False, "KeyH"))
    injector.inject(key("(", True, "Digit9"))
    injector.inject(key("Shift", False, "ShiftLeft"))
    injector.inject(key("9", False, "Digit9"))  # released as "9": paired by code
    injector.inject(key("Shift", True, "ShiftRight"))
    injector.inject(key("i", True, "KeyI"))  # lower case while Shift is down (Caps Lock)
    injector.inject(key("i", False, "KeyI"))
    injector.inject(key("Shift", False, "ShiftRight"))
    type_text(injector, "' > SHIFTED")
    tap(injector, "Enter")
    assert wait_for(file_says(shell / "SHIFTED", "H(i\n"))
    assert injector.held_keycodes == []


def test_characters_missing_from_the_keymap_use_a_spare_keycode(
    shell: Path, injector: Injector, display: Display
) -> None:
    type_text(injector, "echo 'é€жλ' > UNICODE")
    tap(injector, "Enter")
    assert wait_for(file_says(shell / "UNICODE", "é€жλ\n"))
    injector.close()
    conn = xdisplay.Display(display.name)
    try:  # the temporary bindings are gone again
        assert not list(conn.keysym_to_keycodes(char_keysym("ж")))
    finally:
        conn.close()


def test_altgraph_is_pressed_and_characters_typed_with_it_stay_themselves(
    shell: Path, injector: Injector, display: Display
) -> None:
    """A German keymap (AltGr+q = @): the helper's AltGr is held as the person's
    ISO_Level3_Shift, and the characters the helper's browser produced are typed."""
    subprocess.run(["setxkbmap", "de"], env=display.env(), check=True, timeout=10)
    conn = xdisplay.Display(display.name)
    try:
        level3 = {code for code, _ in conn.keysym_to_keycodes(
            XK.string_to_keysym("ISO_Level3_Shift"))}
    finally:
        conn.close()
    assert level3
    type_text(injector, "echo '")
    injector.inject(key("AltGraph", True, "AltRight"))
    assert level3 & pressed_keycodes(display)
    assert pointer_mask(display) & X.Mod5Mask  # the third level is selected
    injector.inject(key("@", True, "KeyQ"))
    injector.inject(key("@", False, "KeyQ"))
    injector.inject(key("q", True, "KeyQ"))  # AltGr held: still "q", not the key's "@"
    injector.inject(key("q", False, "KeyQ"))
    assert level3 & pressed_keycodes(display)  # held again after each character
    injector.inject(key("AltGraph", False, "AltRight"))
    assert not level3 & pressed_keycodes(display)
    type_text(injector, "' > ALTGR")
    tap(injector, "Enter")
    assert wait_for(file_says(shell / "ALTGR", "@q\n"))
    assert injector.held_keycodes == []


def test_altgraph_names_iso_level3_shift() -> None:
    event = parse_event(key("AltGraph", True, "AltRight"))
    assert isinstance(event, KeyEvent)
    assert keysym_for(event) == XK.string_to_keysym("ISO_Level3_Shift") == 0xFE03


def test_named_keys_edit_the_command_line(shell: Path, injector: Injector) -> None:
    type_text(injector, "echo ab > EDITED")
    for _ in range(len(" > EDITED")):
        tap(injector, "ArrowLeft")
    tap(injector, "Backspace")
    type_text(injector, "X")
    tap(injector, "Enter")
    assert wait_for(file_says(shell / "EDITED", "aX\n"))


# -- the pointer ---------------------------------------------------------------


def test_click_lands_where_it_was_sent(
    display: Display, window: Window, injector: Injector
) -> None:
    injector.inject({"kind": "pointer", "x": 350, "y": 260})
    assert mouse_location(display) == (350, 260)
    injector.inject({"kind": "button", "button": 1, "down": True})
    injector.inject({"kind": "button", "button": 1, "down": False})
    press = window.wait(lambda e: e.type == X.ButtonPress)
    release = window.wait(lambda e: e.type == X.ButtonRelease)
    assert press is not None and release is not None
    assert (press.detail, press.event_x, press.event_y) == (1, 50, 60)
    assert (press.root_x, press.root_y) == (350, 260)
    assert release.detail == 1


def test_right_and_middle_buttons(display: Display, window: Window, injector: Injector) -> None:
    injector.inject({"kind": "pointer", "x": 699, "y": 499})
    for button in (3, 2):
        injector.inject({"kind": "button", "button": button, "down": True})
        injector.inject({"kind": "button", "button": button, "down": False})
    presses = [e for e in window.events() if e.type == X.ButtonPress]
    assert [(e.detail, e.event_x, e.event_y) for e in presses] == [(3, 399, 299), (2, 399, 299)]


def test_pointer_moves_clamp_to_the_screen(display: Display, injector: Injector) -> None:
    injector.inject({"kind": "pointer", "x": 5000, "y": -40})
    assert mouse_location(display) == (display.width - 1, 0)
    injector.inject({"kind": "pointer", "x": -1.4, "y": 799.6})
    assert mouse_location(display) == (0, display.height - 1)
    injector.inject({"kind": "pointer", "x": 10.4, "y": 20.6})
    assert mouse_location(display) == (10, 21)


def test_scroll_sends_wheel_buttons_and_carries_fractions(
    display: Display, window: Window, injector: Injector
) -> None:
    injector.inject({"kind": "pointer", "x": 400, "y": 300})
    injector.inject({"kind": "scroll", "dx": 0, "dy": 2})
    injector.inject({"kind": "scroll", "dx": 0, "dy": -0.6})
    injector.inject({"kind": "scroll", "dx": 0, "dy": -0.6})  # -1.2: one step up, -0.2 kept
    injector.inject({"kind": "scroll", "dx": 1, "dy": 0})
    injector.inject({"kind": "scroll", "dx": -1, "dy": 0})
    presses = [e.detail for e in window.events() if e.type == X.ButtonPress]
    assert presses == [5, 5, 4, 7, 6]


def test_button_down_twice_is_pressed_once(
    display: Display, window: Window, injector: Injector
) -> None:
    injector.inject({"kind": "pointer", "x": 400, "y": 300})
    injector.inject({"kind": "button", "button": 1, "down": True})
    injector.inject({"kind": "button", "button": 1, "down": True})
    injector.inject({"kind": "button", "button": 1, "down": False})
    injector.inject({"kind": "button", "button": 1, "down": False})  # not held: nothing
    kinds = [e.type for e in window.events() if e.type in (X.ButtonPress, X.ButtonRelease)]
    assert kinds == [X.ButtonPress, X.ButtonRelease]


# -- Escape ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        key("Escape", True),
        key("Escape", False),
        key("Esc", True),
        key("\x1b", True),
        key("a", True, "Escape"),
        KeyEvent("Escape", True),
        '{"kind": "key", "key": "Escape", "code": "Escape", "down": true}',
    ],
)
def test_escape_is_refused_and_never_delivered(
    display: Display, window: Window, injector: Injector, event: object
) -> None:
    seen: list[float] = []
    with EscWatcher(display.name, lambda: seen.append(time.monotonic())):
        injector.inject({"kind": "pointer", "x": 400, "y": 300})  # focus: our window
        with pytest.raises(RefusedInput, match=ESCAPE_REFUSED):
            injector.inject(event)
        tap(injector, "a")
        delivered = [e for e in window.events() if e.type in (X.KeyPress, X.KeyRelease)]
        time.sleep(0.2)
    escape_codes = {code for code, _ in window.conn.keysym_to_keycodes(XK.XK_Escape)}
    assert [e.detail for e in delivered if e.type == X.KeyPress] == [38]  # just the "a"
    assert not escape_codes & {e.detail for e in delivered}
    assert seen == []
    assert injector.held_keycodes == []


def test_a_key_remapped_to_escape_is_refused(display: Display, injector: Injector) -> None:
    """If the keymap is changed under us so "a" types Escape, the keycode check refuses it."""
    conn = xdisplay.Display(display.name)
    try:
        (code_a, _), *_ = conn.keysym_to_keycodes(XK.XK_a)
        original = conn.get_keyboard_mapping(code_a, 1)[0]
        conn.change_keyboard_mapping(code_a, [(XK.XK_a, XK.XK_Escape)])
        conn.sync()
        time.sleep(0.1)
        with pytest.raises(RefusedInput, match=ESCAPE_REFUSED):
            injector.inject(key("a", True))
        assert code_a not in pressed_keycodes(display)
        conn.change_keyboard_mapping(code_a, [tuple(original)])
        conn.sync()
    finally:
        conn.close()


def test_the_esc_key_of_the_start_is_never_pressed_even_remapped(
    display: Display, window: Window, injector: Injector
) -> None:
    """Esc's keycode bound to "a" later is still Esc to the watcher: "a" goes elsewhere."""
    assert injector.escape_keycodes == {9}
    subprocess.run(["xmodmap", "-e", "keycode 9 = a"], env=display.env(), check=True,
                   timeout=10)
    injector.inject({"kind": "pointer", "x": 400, "y": 300})  # focus: our window
    tap(injector, "a")
    pressed = [e.detail for e in window.events() if e.type == X.KeyPress]
    assert pressed == [38]  # the other "a" key, never 9
    conn = xdisplay.Display(display.name)
    try:  # cleared, keycode 9 is spare: still not used for a missing character
        conn.change_keyboard_mapping(9, [(0, 0)])
        conn.sync()
    finally:
        conn.close()
    tap(injector, "ж")
    pressed = [e.detail for e in window.events() if e.type == X.KeyPress]
    assert len(pressed) == 1 and pressed != [9]


# -- release_all ---------------------------------------------------------------------


def test_release_all_releases_held_keys_and_buttons(
    display: Display, injector: Injector
) -> None:
    injector.inject({"kind": "pointer", "x": 640, "y": 400})
    injector.inject(key("Shift", True, "ShiftLeft"))
    injector.inject(key("Control", True, "ControlRight"))
    injector.inject(key("B", True, "KeyB"))  # what a browser sends with Shift down
    injector.inject({"kind": "button", "button": 1, "down": True})
    conn = xdisplay.Display(display.name)
    try:
        shift = conn.keysym_to_keycodes(XK.XK_Shift_L).__next__()[0]
        control_r = conn.keysym_to_keycodes(XK.XK_Control_R).__next__()[0]
        b = conn.keysym_to_keycodes(XK.XK_b).__next__()[0]
    finally:
        conn.close()
    assert {shift, control_r, b} <= pressed_keycodes(display)
    assert pointer_mask(display) & X.Button1Mask

    injector.release_all()

    assert not {shift, control_r, b} & pressed_keycodes(display)
    assert not pointer_mask(display) & X.Button1Mask
    assert injector.held_keycodes == [] and injector.held_buttons == []
    injector.inject(key("Shift", False, "ShiftLeft"))  # the viewer's late "up": harmless
    injector.release_all()  # twice: nothing left to do
    assert pressed_keycodes(display) == set()


def test_release_all_releases_the_shift_pressed_for_a_character(
    display: Display, injector: Injector
) -> None:
    injector.inject(key("~", True, "Backquote"))  # Shift + grave, still held
    conn = xdisplay.Display(display.name)
    try:
        shift = conn.keysym_to_keycodes(XK.XK_Shift_L).__next__()[0]
    finally:
        conn.close()
    assert shift in pressed_keycodes(display)
    injector.release_all()
    assert pressed_keycodes(display) == set()


def test_release_all_from_another_thread_while_injecting(
    display: Display, injector: Injector
) -> None:
    import threading

    stop = threading.Event()

    def typist() -> None:
        while not stop.is_set():
            injector.inject(key("Shift", True))
            injector.inject(key("x", True))
            injector.inject(key("x", False))
            injector.inject(key("Shift", False))

    thread = threading.Thread(target=typist)
    thread.start()
    for _ in range(20):
        injector.release_all()
        time.sleep(0.005)
    stop.set()
    thread.join(5)
    injector.release_all()
    assert pressed_keycodes(display) == set()


# -- validation ------------------------------------------------------------------------


VALID: list[dict[str, Any]] = [
    {"kind": "key", "key": "a", "code": "KeyA", "down": True},
    {"kind": "pointer", "x": 10, "y": 20},
    {"kind": "button", "button": 1, "down": True},
    {"kind": "scroll", "dx": 0, "dy": 1},
]
JUNK: list[object] = [
    None, True, False, "", "x", "Escape", [], {}, [1], -1, 0, 4, 1e300, -1e300, math.nan,
    math.inf, -math.inf, 2**70, "\x00", "ab", "\U0010ffff", "\ud800", "Unidentified", "Dead",
    "KeyA!", " " * 40,
]


def mutate(rng: random.Random) -> object:
    """An event that is certainly invalid."""
    event = dict(rng.choice(VALID))
    choice = rng.randrange(6)
    if choice == 0:  # drop a required field
        del event[rng.choice([k for k in event if k not in ("kind", "code")])]
    elif choice == 1:  # an unknown field
        event[rng.choice(["extra", "X", "shift", "modifiers", ""])] = rng.choice(JUNK)
    elif choice == 2:  # an unknown kind
        event["kind"] = rng.choice(["keys", "Key", "mouse", "", None, 1, "wheel", "esc"])
    elif choice == 3:  # a bad value
        name = rng.choice([k for k in event if k != "kind"])
        bad = [v for v in JUNK if not _valid_value(event["kind"], name, v)]
        event[name] = rng.choice(bad)
    elif choice == 4:  # not an object at all
        return rng.choice([[event], "[]", "{", "null", 42, b"\xff\xfe", "x" * 5000, None])
    else:  # out of range
        if event["kind"] == "pointer":
            event[rng.choice(["x", "y"])] = rng.choice([40000, -40000, 10**9])
        elif event["kind"] == "scroll":
            event[rng.choice(["dx", "dy"])] = rng.choice([101, -1e6])
        elif event["kind"] == "button":
            event["button"] = rng.choice([0, 4, 5, 8, -1])
        else:
            event["key"] = rng.choice(["Escape", "F25", "Shft", "enter", "\n", "\t", "é́"])
    return event


def _valid_value(kind: str, name: str, value: object) -> bool:
    try:
        parse_event({**next(v for v in VALID if v["kind"] == kind), name: value})
    except RefusedInput:
        return False
    return True


def test_random_invalid_events_raise_input_error_only(
    display: Display, injector: Injector
) -> None:
    rng = random.Random(20240607)
    for _ in range(3000):
        event = mutate(rng)
        with pytest.raises(RefusedInput):
            injector.inject(event)
    assert injector.held_keycodes == [] and injector.held_buttons == []
    assert pressed_keycodes(display) == set()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
event_like = st.fixed_dictionaries(
    {"kind": st.sampled_from(["key", "pointer", "button", "scroll", "other"])},
    optional={name: json_values | st.text(max_size=3) for name in
              ("key", "code", "down", "repeat", "x", "y", "button", "dx", "dy", "z")},
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(json_values, event_like))
def test_anything_parses_or_raises_input_error(raw: object) -> None:
    try:
        parse_event(raw)
    except RefusedInput as exc:
        assert str(exc)


def test_error_messages_say_why() -> None:
    cases = {
        '{"kind": "mouse"}': "unknown event kind",
        '{"kind": "pointer", "x": 1}': "missing ['y']",
        '{"kind": "pointer", "x": 1, "y": 2, "z": 3}': "unknown fields",
        '{"kind": "pointer", "x": 1e9, "y": 2}': "out of range",
        '{"kind": "pointer", "x": true, "y": 2}': "must be a number",
        '{"kind": "key", "key": "Shft", "down": true}': "unknown key 'Shft'",
        '{"kind": "key", "key": "a", "down": 1}': "down must be true or false",
        '{"kind": "button", "button": 4, "down": true}': "button must be 1, 2 or 3",
        "{": "not valid JSON",
        "[]": "must be a JSON object",
    }
    for raw, reason in cases.items():
        with pytest.raises(RefusedInput, match=reason.replace("[", r"\[").replace("]", r"\]")):
            parse_event(raw)


def test_parse_event_accepts_json_text_and_typed_events() -> None:
    assert parse_event('{"kind":"pointer","x":1.6,"y":2}') == PointerEvent(2, 2)
    assert parse_event(ScrollEvent(0, 1.5)) == ScrollEvent(0.0, 1.5)
    with pytest.raises(RefusedInput):
        parse_event(PointerEvent(10**6, 0))


def test_keysyms_for_names_and_characters() -> None:
    def sym(name: str, code: str | None = None) -> int:
        return keysym_for(KeyEvent(name, True, code))

    assert sym("Enter") == XK.string_to_keysym("Return")
    assert sym("ArrowLeft") == XK.string_to_keysym("Left")
    assert sym("Shift") == XK.string_to_keysym("Shift_L")
    assert sym("Shift", "ShiftRight") == XK.string_to_keysym("Shift_R")
    assert sym("F12") == XK.string_to_keysym("F12")
    assert sym("a") == XK.XK_a and sym("A") == XK.XK_A and sym(">") == XK.XK_greater
    assert sym("é") == XK.XK_eacute
    assert sym("ж") == 0x01000436


def test_keymap_prefers_unshifted_and_knows_spare_keycodes() -> None:
    rows = [
        (0, 0),
        (XK.XK_comma, XK.XK_less),
        (XK.XK_less, XK.XK_greater),
        (XK.XK_a, XK.XK_A),
        (XK.XK_Shift_L, 0),
    ]
    keymap = Keymap(8, rows, [12, 0])
    assert keymap.lookup(XK.XK_less).keycode == 10  # type: ignore[union-attr]
    assert keymap.lookup(XK.XK_less).shift is False  # type: ignore[union-attr]
    assert keymap.lookup(XK.XK_A).shift is True  # type: ignore[union-attr]
    assert keymap.lookup(XK.XK_eacute) is None
    assert keymap.spare_keycodes() == [8]
    assert keymap.shift_keycodes == (12,)


# -- the display -------------------------------------------------------------------


def test_no_display_is_a_display_error() -> None:
    with pytest.raises(DisplayError, match="cannot open X display"):
        Injector(":399")


def test_closed_injector_refuses(display: Display) -> None:
    injector = Injector(display.name)
    injector.close()
    injector.close()
    with pytest.raises(DisplayError, match="closed"):
        injector.inject({"kind": "pointer", "x": 1, "y": 1})


def test_latency_of_pointer_moves(display: Display, injector: Injector) -> None:
    times: list[float] = []
    injector.latency_hook = lambda _event, seconds: times.append(seconds)
    for i in range(1000):
        injector.inject({"kind": "pointer", "x": i % display.width, "y": (i * 7) % display.height})
    median = statistics.median(times)
    p99 = sorted(times)[989]
    print(f"\npointer move: median {median * 1e6:.0f} us, p99 {p99 * 1e6:.0f} us "
          f"(stats mean {injector.stats.mean * 1e6:.0f} us over {injector.stats.events})")
    assert injector.stats.events == 1000
    assert median < 0.01
