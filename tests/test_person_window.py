"""The person's window, for real: Xvfb, `ra ask` with its tkinter window, a real
`ra connect` helper, and (where the helper must act on the screen) the viewer in
headless Chromium.

The person's clicks are real X clicks (xdotool) on the places the window says
its buttons are; what the window shows is read back from the state it writes
(`RA_WINDOW_STATE`), and each state is also saved as a screenshot of the
person's display.

The state is the window's own word; the screenshots check it against what is
on the screen, without goldens (fonts differ from machine to machine): where
the state says a dialog, a button or the window is, the pixels show it drawn
(Tk's background, with dark text on it: black is an enabled button's text, a
disabled one is grey), the warning in red, and a place that shows nothing
when a button is gone.

There is no window manager on Xvfb, so the test plays its part: closing the
window is the ``WM_DELETE_WINDOW`` message a window manager sends
(python-xlib), and "on top" is the X stacking order, with another window
mapped over the person's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mss
import mss.tools
import numpy as np
import pexpect
import pytest
from desktop_support import Display, xvfb
from playwright.sync_api import Page, sync_playwright
from support import stop
from test_endings import ONE_SIDED, _agree, _ending, _ra_jsonl, _stream
from test_live_session import HELPER_NAME, _exit_code
from Xlib import X
from Xlib import display as xlib_display
from Xlib.protocol import event as xlib_event

from ra.events import EventStore, RecordedEvent, verify_log
from ra.home import Home
from ra.sealed_chat import ChatReader
from ra.session_keys import SessionKeys

PASSWORD = "Quiet-Harbour-Lamp-58"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
T = 20
SCREEN = (1280, 800)

State = dict[str, Any]
Box = dict[str, int]  # x, y, width, height on the person's screen
Pixels = np.ndarray  # (height, width, 3) RGB
#: Darker than anything Tk draws but text: its background (#d9d9d9), a disabled
#: button's text (#a3a3a3).
DARK = 100


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Person:
    """`ra ask` with its window on `display`, its state file and its screenshots."""

    def __init__(self, home: Path, display: Display, work: Path,
                 children: list[pexpect.spawn], **env: str) -> None:
        self.home, self.display, self.work = home, display, work
        self.state_file = work / "window.json"
        self.shots = work / "shots"
        self.shots.mkdir(parents=True, exist_ok=True)
        self.env = {**display.env(), "RA_HOME": str(home), "RA_LOG_LEVEL": "warning",
                    "PYTHONUNBUFFERED": "1", "RA_WINDOW_STATE": str(self.state_file), **env}
        self.file = work / "help.rainv"
        made = subprocess.run(
            [sys.executable, "-m", "ra", "invite", "create", "--name", "Alice", "--json",
             "--password-stdin", "--save", str(self.file), "--host", "127.0.0.1",
             "--port", str(_free_port())],
            input=PASSWORD + "\n", text=True, capture_output=True, check=True, env=self.env,
            timeout=30)
        self.invitation = str(json.loads(made.stdout)["id"])
        self.child = pexpect.spawn(sys.executable, ["-m", "ra", "ask", "--host", "127.0.0.1"],
                                   env=self.env, encoding="utf-8", timeout=T,
                                   dimensions=(50, 300))
        self.child.logfile_read = sys.stdout
        children.append(self.child)
        self.child.expect("listening on")

    def state(self) -> State:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def wait(self, what: str, check: Callable[[State], bool], timeout: float = T) -> State:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if state and check(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"the window never showed {what}: {state}")
            time.sleep(0.05)

    def xdo(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env=self.display.env(), check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def click(self, button: dict[str, Any]) -> None:
        """A real click of the person's mouse in the middle of `button`."""
        assert button["shown"] and button["enabled"], button
        x = button["x"] + button["width"] // 2
        y = button["y"] + button["height"] // 2
        self.xdo("mousemove", "--sync", str(x), str(y))
        self.xdo("click", "1")

    def pointer(self) -> tuple[int, int]:
        values = dict(line.split("=", 1) for line in self.xdo("getmouselocation",
                                                               "--shell").split())
        return int(values["X"]), int(values["Y"])

    def shot(self, name: str) -> Pixels:
        """Save the person's whole screen as `name`.png; its pixels, to compare."""
        path = self.shots / f"{name}.png"
        with mss.MSS(display=self.display.name) as screen:
            grab = screen.grab(screen.monitors[0])
            mss.tools.to_png(grab.rgb, grab.size, output=str(path))
        return np.asarray(grab)[:, :, 2::-1]  # BGRA: RGB

    def events(self) -> list[RecordedEvent]:
        with EventStore.open(Home.at(self.home)) as store:
            return list(store.iter_events(stream_prefix="session:"))


def _helper(home: Path, file: Path, children: list[pexpect.spawn],
            *args: str) -> tuple[pexpect.spawn, str]:
    env = {**os.environ, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning",
           "PYTHONUNBUFFERED": "1"}
    env.pop("DISPLAY", None)
    child = pexpect.spawn(sys.executable,
                          ["-m", "ra", "connect", str(file), "--password-stdin", "--no-browser",
                           *args],
                          env=env, encoding="utf-8", timeout=T, dimensions=(50, 300))
    child.logfile_read = sys.stdout
    children.append(child)
    child.sendline(PASSWORD)
    child.expect(r"viewer: open (file://\S+) in your browser")
    return child, str(child.match.group(1)).strip()


def _wait_state(page: Page, state: str) -> None:
    page.wait_for_function(
        f"() => document.getElementById('status').dataset.state === '{state}'", timeout=T * 1000)


def _dialog(kind: str) -> Callable[[State], bool]:
    return lambda s: bool(s.get("dialog") and s["dialog"]["kind"] == kind
                          and s["dialog"]["buttons"]["no"]["shown"])


def _status(text: str) -> Callable[[State], bool]:
    return lambda s: text in str(s.get("status", ""))


def _types(events: list[RecordedEvent]) -> list[str]:
    return [e.type for e in events]


def _in(pixels: Pixels, box: Box) -> Pixels:
    return pixels[box["y"]:box["y"] + box["height"], box["x"]:box["x"] + box["width"]]


def _dark(pixels: Pixels) -> int:
    """How many pixels are text-dark (an enabled widget's text)."""
    return int((pixels.max(axis=2) < DARK).sum())


def _red(pixels: Pixels) -> int:
    return int(((pixels[:, :, 0] > 120) & (pixels[:, :, 1] < 80) & (pixels[:, :, 2] < 80)).sum())


def _blank(pixels: Pixels) -> bool:
    return len(np.unique(pixels.reshape(-1, 3), axis=0)) == 1


def _drawn(pixels: Pixels) -> bool:
    """Tk drew here: a light background over most of it (not the display's black
    root, nor another window), with text on it."""
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    background = colours[counts.argmax()]
    return bool(background.min() > 150 and counts.max() > 0.3 * counts.sum()
                and _dark(pixels) > 20)


def _from_bottom(box: Box, window: Box, now: Box) -> Box:
    """`box`, seen in `window`, where it is in the window at `now` (the window
    keeps its bottom right corner: a taller status line grows it upwards)."""
    return {"x": box["x"] - window["x"] + now["x"],
            "y": box["y"] - (window["y"] + window["height"]) + now["y"] + now["height"],
            "width": box["width"], "height": box["height"]}


@pytest.fixture
def children() -> Iterator[list[pexpect.spawn]]:
    spawned: list[pexpect.spawn] = []
    yield spawned
    stop(spawned)


def test_the_window_through_a_whole_session(tmp_path: Path, display: Display,
                                            children: list[pexpect.spawn]) -> None:
    person = Person(tmp_path / "person", display, tmp_path / "work", children)
    waiting = person.wait("the waiting list", lambda s: bool(s.get("invitations")))
    assert waiting["title"] == "Remote Assistance"
    assert person.xdo("search", "--name", "^Remote Assistance$").split()
    assert "Alice" in waiting["invitations"][0]["text"]
    assert re.search(r"\d+ min left", waiting["invitations"][0]["text"])
    assert waiting["invitations"][0]["cancel"]["enabled"]
    person.shot("0-waiting")

    helper, url = _helper(tmp_path / "helper", person.file, children)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/v/"))

        # The view consent dialog: who asks, what for, the warning, a countdown; No is default.
        state = person.wait("the view dialog", _dialog("view"))
        dialog = state["dialog"]
        assert dialog["who"]["Address"] == "127.0.0.1"
        assert dialog["who"]["Helper"] in dialog["heading"]
        assert "asks to see your screen" in dialog["heading"]
        assert "Only allow someone you contacted yourself." in dialog["text"]
        assert dialog["default"] == "no" and dialog["focus"] == "no"
        first = int(re.findall(r"\d+", dialog["countdown"])[0])
        assert 55 <= first <= 60
        person.wait("the countdown move", lambda s: bool(
            s.get("dialog") and int(re.findall(r"\d+", s["dialog"]["countdown"])[0]) < first))
        assert person.xdo("search", "--name", "asks to see your screen").split()
        # On the screen: the dialog drawn where it says, the warning in red, both
        # buttons drawn enabled (dark text).
        asking = person.shot("1-view-consent")
        shown = person.state()["dialog"]
        assert _drawn(_in(asking, shown["window"]))
        assert _red(_in(asking, shown["window"])) > 30
        assert _dark(_in(asking, shown["buttons"]["yes"])) > 10
        assert _dark(_in(asking, shown["buttons"]["no"])) > 10
        assert not any(e.type == "consent.granted" for e in person.events())

        person.click(dialog["buttons"]["yes"])
        _wait_state(page, "viewing")
        state = person.wait("viewing", _status("can see your screen"))
        assert state["dialog"] is None
        assert not state["buttons"]["stop"]["shown"]
        assert state["buttons"]["disconnect"]["enabled"]
        viewing = person.shot("2-viewing")
        viewing_state = person.state()
        assert _drawn(_in(viewing, viewing_state["window"]))
        assert _dark(_in(viewing, viewing_state["buttons"]["disconnect"])) > 10
        assert _red(_in(viewing, shown["window"])) == 0  # the dialog is gone from the screen
        # The window has buttons: it never tells the person to type a command.
        assert any("can now see your screen" in line for line in viewing_state["log"])
        assert not any("/disconnect" in line for line in viewing_state["log"])

        # Chat both ways: the helper's line in the window, the person's on the page.
        page.fill("#chat-input", "Hello Alice, Bob here")
        page.click("#chat-send")
        person.wait("the helper's chat", lambda s: any(
            line.endswith(": Hello Alice, Bob here") for line in s["log"]))
        person.click(state["entry_box"])
        person.xdo("type", "--delay", "20", "Thanks Bob")
        person.xdo("key", "Return")
        person.wait("the person's chat", lambda s: "You: Thanks Bob" in s["log"])
        page.wait_for_function("() => document.getElementById('chat-log').textContent"
                               ".includes('Thanks Bob')", timeout=T * 1000)
        person.shot("3-chat")

        # Control consent, then the helper tries to operate the window.
        page.click("#take-control")
        state = person.wait("the control dialog", _dialog("control"))
        assert "asks to control your mouse and keyboard" in state["dialog"]["heading"]
        person.shot("4-control-consent")
        person.click(state["dialog"]["buttons"]["yes"])
        _wait_state(page, "controlling")
        state = person.wait("control", _status("controls your mouse and keyboard"))
        assert "press Esc to take it back" in state["status"]
        assert state["buttons"]["stop"]["shown"] and state["buttons"]["stop"]["enabled"]
        assert state["on_top"] is True
        controlled = person.shot("5-controlled")
        state = person.state()
        # Stop control is drawn, enabled; where it is, the viewing screen showed nothing.
        stop_box = state["buttons"]["stop"]
        assert _dark(_in(controlled, stop_box)) > 10
        was = _from_bottom(stop_box, state["window"], viewing_state["window"])
        assert _blank(_in(viewing, was)) and not _blank(_in(controlled, stop_box))
        # The status line reads differently: its pixels changed with its text.
        status = {"height": 40, "width": min(state["window"]["width"],
                                             viewing_state["window"]["width"])}
        assert not np.array_equal(_in(controlled, {**state["window"], **status}),
                                  _in(viewing, {**viewing_state["window"], **status}))

        box = page.locator("#screen").bounding_box()
        assert box is not None

        def on_canvas(x: int, y: int) -> tuple[float, float]:
            return (box["x"] + (x + 0.5) * box["width"] / SCREEN[0],
                    box["y"] + (y + 0.5) * box["height"] / SCREEN[1])

        # Outside the window the helper's pointer moves the person's pointer ...
        window = state["window"]
        outside = (window["x"] - 60, window["y"] + window["height"] // 2)
        page.mouse.move(*on_canvas(*outside))
        deadline = time.monotonic() + T
        while person.pointer() != outside:
            assert time.monotonic() < deadline, person.pointer()
            time.sleep(0.05)
        # ... over the window, on Disconnect, and clicks: nothing reaches the window.
        before = len(person.events())
        target = state["buttons"]["disconnect"]
        inside = (target["x"] + target["width"] // 2, target["y"] + target["height"] // 2)
        page.mouse.move(*on_canvas(*inside))
        page.mouse.down()
        page.mouse.up()
        person.wait("the click refused", lambda s: any(
            e.type == "input.rejected" and "button" in e.payload["kinds"]
            for e in person.events()[before:]))
        refused = [e for e in person.events()[before:] if e.type == "input.rejected"]
        assert set().union(*(e.payload["kinds"] for e in refused)) >= {"pointer", "button"}
        assert all(set(e.payload["reasons"]) == {"the person's window"} for e in refused)
        assert person.pointer() == outside
        after = person.state()
        assert after["mode"] == "session" and after["status"] == state["status"]
        assert not any(e.type == "session.disconnected" for e in person.events())

        # The person's pointer on the window: the helper's keys do not reach it either.
        entry = state["entry_box"]
        person.xdo("mousemove", "--sync", str(entry["x"] + 20), str(entry["y"] + 5))
        before = len(person.events())
        page.keyboard.type("zz")
        person.wait("refused keys", lambda s: any(
            e.type == "input.rejected" and "key" in e.payload["kinds"]
            for e in person.events()[before:]))
        assert person.state()["entry"] == ""
        person.shot("6-helper-refused")

        # Stop control (the button), then Esc, each recorded with how.
        person.click(state["buttons"]["stop"])
        _wait_state(page, "released")
        state = person.wait("released", _status("can see your screen"))
        assert not state["buttons"]["stop"]["shown"] and state["on_top"] is False
        page.click("#take-control")
        state = person.wait("the control dialog again", _dialog("control"))
        person.click(state["dialog"]["buttons"]["yes"])
        _wait_state(page, "controlling")
        person.wait("control again", _status("controls your mouse and keyboard"))
        person.xdo("key", "Escape")
        _wait_state(page, "released")
        person.wait("released again", _status("can see your screen"))

        # No to control keeps the session, viewing.
        page.click("#take-control")
        state = person.wait("the control dialog a third time", _dialog("control"))
        person.click(state["dialog"]["buttons"]["no"])
        person.wait("no control", lambda s: s["dialog"] is None
                    and "can see your screen" in s["status"])
        helper.expect("did not allow control")

        # Disconnect ends it on both sides.
        state = person.state()
        person.click(state["buttons"]["disconnect"])
        person.child.expect("ended")
        helper.expect("session ended")
        person.child.expect(pexpect.EOF)
        helper.expect(pexpect.EOF)
        browser.close()

    events = person.events()
    released = [e.payload for e in events if e.type == "control.released"]
    assert [(p["by"], p["via"]) for p in released[:2]] == [("person", "button"),
                                                           ("person", "esc")]
    denied = [e.payload for e in events if e.type == "control.denied"]
    assert denied == [{"reason": "declined"}]
    reader = ChatReader(SessionKeys(Home.at(person.home)))  # the log holds chat sealed
    chats = [(e.payload["from"], reader.read(e).text) for e in events if e.type == "chat.message"]
    assert chats == [("helper", "Hello Alice, Bob here"), ("person", "Thanks Bob")]
    ending = [e for e in events if e.type == "session.disconnected"]
    assert [(e.actor.kind, e.payload["reason"]) for e in ending] == [("person", "user")]
    with EventStore.open(Home.at(person.home)) as store:
        assert verify_log(store).ok


class WindowManager:
    """What a window manager would do to the person's window, over python-xlib
    (Xvfb has none): send it ``WM_DELETE_WINDOW``, map another window over it,
    read the stacking order."""

    def __init__(self, display: Display) -> None:
        self.x = xlib_display.Display(display.name)
        self.root = self.x.screen().root

    def close(self) -> None:
        self.x.close()

    def window(self, title: str) -> int:
        """The top-level window titled `title` (Tk's wrapper, the one a WM manages)."""
        [found] = [child for child in self.root.query_tree().children
                   if child.get_wm_name() == title]
        return int(found.id)

    def delete(self, window: int) -> None:
        """The window's close button: ``WM_PROTOCOLS`` ``WM_DELETE_WINDOW``."""
        protocols = self.x.intern_atom("WM_PROTOCOLS")
        target = self.x.create_resource_object("window", window)
        message = xlib_event.ClientMessage(
            window=target, client_type=protocols,
            data=(32, [self.x.intern_atom("WM_DELETE_WINDOW"), X.CurrentTime, 0, 0, 0]))
        target.send_event(message, event_mask=X.NoEventMask)
        self.x.flush()

    def cover(self, box: Box) -> int:
        """A magenta window mapped over `box`, on top of everything."""
        screen = self.x.screen()
        window = self.root.create_window(box["x"], box["y"], box["width"], box["height"], 0,
                                         screen.root_depth, background_pixel=0xFF00FF)
        window.map()
        window.configure(stack_mode=X.Above)
        self.x.sync()
        return int(window.id)

    def stacking(self) -> list[int]:
        """The top-level windows, bottom to top."""
        return [int(child.id) for child in self.root.query_tree().children]


def _magenta(pixels: Pixels) -> int:
    return int(((pixels[:, :, 0] > 200) & (pixels[:, :, 1] < 60)
                & (pixels[:, :, 2] > 200)).sum())


def test_closing_the_window_is_the_persons_disconnect(
        tmp_path: Path, display: Display, children: list[pexpect.spawn]) -> None:
    """While the helper controls, the window stays on top of a window mapped over
    it; closing it (the WM's close) ends the session as the person's disconnect,
    and both logs say so, as for the person's /disconnect (test_endings)."""
    person = Person(tmp_path / "person", display, tmp_path / "work", children)
    helper, _ = _helper(tmp_path / "helper", person.file, children, "--name", HELPER_NAME)
    state = person.wait("the view dialog", _dialog("view"))
    person.click(state["dialog"]["buttons"]["yes"])
    helper.expect("lets you see the screen")
    helper.sendline("/control")
    state = person.wait("the control dialog", _dialog("control"))
    person.click(state["dialog"]["buttons"]["yes"])
    helper.expect("you now control Alice's mouse and keyboard")
    state = person.wait("control", lambda s: s["dialog"] is None
                        and "controls your mouse and keyboard" in s["status"])

    wm = WindowManager(display)
    try:
        window = wm.window("Remote Assistance")
        cover = wm.cover(state["window"])
        deadline = time.monotonic() + T
        while wm.stacking().index(window) < wm.stacking().index(cover):
            assert time.monotonic() < deadline, "the window stayed under the other one"
            time.sleep(0.05)
        assert _magenta(_in(person.shot("on-top"), state["window"])) == 0
        assert person.state()["mode"] == "session"

        wm.delete(window)
        helper.expect("Alice ended the session")
    finally:
        wm.close()
    assert _exit_code(person.child) == 0
    assert _exit_code(helper) == 0

    helper_home = tmp_path / "helper"
    stream = _stream(person.home)
    assert _stream(helper_home) == stream
    mine, theirs = (_ra_jsonl(home, "--stream", stream) for home in (person.home, helper_home))
    _agree(mine, theirs)
    assert _ending(mine) == ("session.disconnected", "person", "user")
    for events in (mine, theirs):  # control ended with the session, on both sides
        assert [e["type"] for e in events if e["type"] not in ONE_SIDED][-4:-2] == [
            "control.granted", "control.released"]


def test_closing_the_consent_dialog_is_a_no(tmp_path: Path, display: Display,
                                           children: list[pexpect.spawn]) -> None:
    """The WM's close on the view question answers it, and the answer is No."""
    person = Person(tmp_path / "person", display, tmp_path / "work", children)
    helper, _ = _helper(tmp_path / "helper", person.file, children)
    state = person.wait("the view dialog", _dialog("view"))
    wm = WindowManager(display)
    try:
        wm.delete(wm.window(state["dialog"]["title"]))
    finally:
        wm.close()
    helper.expect("did not allow viewing \\(declined\\)")
    assert _exit_code(person.child) == 0
    denied = [e for e in person.events() if e.type == "consent.denied"]
    assert [(e.actor.kind, e.payload) for e in denied] == [
        ("person", {"scope": "view", "reason": "declined"})]


def test_no_to_viewing_and_no_answer_both_end_the_session(
        tmp_path: Path, display: Display, children: list[pexpect.spawn]) -> None:
    person = Person(tmp_path / "person", display, tmp_path / "work", children,
                    RA_CONSENT_TIMEOUT_S="3")
    helper, _ = _helper(tmp_path / "helper", person.file, children)
    state = person.wait("the view dialog", _dialog("view"))
    person.click(state["dialog"]["buttons"]["no"])
    helper.expect("did not allow viewing \\(declined\\)")
    person.child.expect(pexpect.EOF)
    helper.expect(pexpect.EOF)
    denied = [e.payload for e in person.events() if e.type == "consent.denied"]
    assert denied == [{"scope": "view", "reason": "declined"}]

    # Again, and this time nobody answers: the countdown runs out and it is a no.
    person = Person(tmp_path / "person", display, tmp_path / "work2", children,
                    RA_CONSENT_TIMEOUT_S="3")
    helper, _ = _helper(tmp_path / "helper", person.file, children)
    state = person.wait("the view dialog", _dialog("view"))
    assert "3 s" in state["dialog"]["countdown"]
    person.wait("the countdown at 1", lambda s: bool(
        s.get("dialog") and "in 1 s" in s["dialog"]["countdown"]))
    helper.expect("did not allow viewing \\(timed out\\)")
    person.child.expect(pexpect.EOF)
    denied = [e.payload for e in person.events() if e.type == "consent.denied"]
    assert denied[-1] == {"scope": "view", "reason": "timed out"}


def test_cancel_in_the_waiting_list_expires_the_invitation(
        tmp_path: Path, display: Display, children: list[pexpect.spawn]) -> None:
    person = Person(tmp_path / "person", display, tmp_path / "work", children)
    state = person.wait("the waiting list", lambda s: bool(s.get("invitations")))
    person.click(state["invitations"][0]["cancel"])
    person.child.expect("stopped waiting")
    person.child.expect(pexpect.EOF)
    with EventStore.open(Home.at(person.home)) as store:
        ended = [e for e in store.iter_events(stream=f"invitation:{person.invitation}")
                 if e.type == "invitation.expired"]
    assert len(ended) == 1 and ended[0].actor.kind == "person"


def test_closing_the_window_while_waiting_stops_waiting(
        tmp_path: Path, display: Display, children: list[pexpect.spawn]) -> None:
    """The WM's close with no session is Ctrl-C's: `ra ask` stops waiting, and the
    invitation stays open (Cancel is what expires it)."""
    person = Person(tmp_path / "person", display, tmp_path / "work", children)
    person.wait("the waiting list", lambda s: bool(s.get("invitations")))
    wm = WindowManager(display)
    try:
        wm.delete(wm.window("Remote Assistance"))
    finally:
        wm.close()
    person.child.expect("stopped waiting; no helper connected")
    assert _exit_code(person.child) == 0
    with EventStore.open(Home.at(person.home)) as store:
        kinds = [e.type for e in store.iter_events(stream=f"invitation:{person.invitation}")]
    assert kinds and "invitation.expired" not in kinds, kinds


def test_terminal_mode_stays(tmp_path: Path, display: Display,
                             children: list[pexpect.spawn]) -> None:
    """`ra ask --terminal` on a desktop asks in the terminal and opens no window."""
    person_home = tmp_path / "person"
    env = {**display.env(), "RA_HOME": str(person_home), "RA_LOG_LEVEL": "warning",
           "PYTHONUNBUFFERED": "1", "RA_WINDOW_STATE": str(tmp_path / "window.json")}
    file = tmp_path / "help.rainv"
    subprocess.run([sys.executable, "-m", "ra", "invite", "create", "--name", "Alice",
                    "--password-stdin", "--save", str(file), "--host", "127.0.0.1",
                    "--port", str(_free_port())], input=PASSWORD + "\n", text=True,
                   capture_output=True, check=True, env=env, timeout=30)
    child = pexpect.spawn(sys.executable, ["-m", "ra", "ask", "--terminal", "--host",
                                           "127.0.0.1"], env=env, encoding="utf-8",
                          timeout=T, dimensions=(50, 300))
    children.append(child)
    child.expect("listening on")
    helper, _ = _helper(tmp_path / "helper", file, children)
    child.expect("asks to see your screen")
    child.expect("Answer y")
    assert not (tmp_path / "window.json").exists()
    child.sendline("n")
    child.expect(pexpect.EOF)
    helper.expect(pexpect.EOF)


__all__ = ["xvfb"]
