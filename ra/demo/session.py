"""The main demo: a whole Remote Assistance session on a virtual desktop.

Everything is real: an X display (Xvfb) with an xterm for the person, the
`ra ask` and `ra connect` programs talking TLS 1.3 + SPAKE2 over loopback,
the person's window (consent dialogs, status, chat) clicked with the
person's own mouse (xdotool), the helper's browser viewer in headless
Chromium, input injected with XTEST, and Esc pressed on the person's own
keyboard. The script plays both people; afterwards it opens the person's
log: what happened, verified, exported, and a tampered copy caught.

Screenshots of both sides go to `shots`, a folder the demo keeps: the
person's whole desktop (``alice-*.png``) and the helper's browser
(``bob-*.png``). The person's window says where its buttons are through
``RA_WINDOW_STATE`` (`ra.session.window`), which is how the script finds
them.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ra.cli.common import say
from ra.desktop.xvfb import Display, xterm, xvfb
from ra.errors import RaError
from ra.events import Checkpoint, EventStore, verify_log
from ra.home import Home
from ra.invitations import generate_password

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
T = 30


class DemoError(RaError):
    """The demo could not run here."""

    exit_code = 3


def session_story(root: Path, shots: Path) -> None:
    try:
        import pexpect  # type: ignore[import-untyped]
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise DemoError("the demo needs playwright and pexpect: run `make demo`") from None
    for tool in ("Xvfb", "xterm", "xdotool", CHROMIUM):
        if shutil.which(tool) is None:
            raise DemoError(f"the demo needs {tool}: run `make demo` (it installs it)")
    person_home, helper_home = root / "person", root / "helper"
    work = root / "desktop"
    state = root / "window.json"
    work.mkdir(parents=True, exist_ok=True)
    shots.mkdir(parents=True, exist_ok=True)
    password = generate_password()

    with xvfb(1280, 800) as screen, xvfb(1024, 768) as helper_screen:
        say(f"1. Alice's desktop is a virtual X display ({screen.name}, 1280x800) with a "
            "terminal.")
        with xterm(screen, "-e", "bash", "--norc", "--noprofile", cwd=work):
            _run(["xdotool", "mousemove", "300", "200"], screen)
            port = _free_port()
            invitation_file = root / "RAInvitation.rainv"
            made = _ra(["invite", "create", "--name", "Alice",
                        "--message", "My printer vanished after an update",
                        "--expires", "30m", "--password-stdin", "--host", "127.0.0.1",
                        "--port", str(port), "--save", str(invitation_file), "--json"],
                       person_home, screen, stdin=password + "\n")
            invitation = json.loads(made)
            say(f"2. Alice creates invitation {invitation['id'][:8]} (expires "
                f"{invitation['expires_at']}), saves it as {invitation_file.name}, and tells "
                "Bob the password by phone.")
            children: list[Any] = []
            try:
                person = _spawn(pexpect, ["ask", "--host", "127.0.0.1"], person_home, screen,
                                RA_WINDOW_STATE=str(state))
                children.append(person)
                person.expect("listening on")
                _window(state, lambda s: bool(s.get("invitations")))
                _shot(screen, shots / "alice-1-waiting.png")
                say("3. Alice runs `ra ask`: its window lists her invitation and its time "
                    f"left while it waits for her helper ({shots / 'alice-1-waiting.png'}).")
                helper = _spawn(pexpect, ["connect", str(invitation_file), "--password-stdin",
                                          "--no-browser", "--name", "Bob"], helper_home,
                                helper_screen)
                children.append(helper)
                helper.sendline(password)
                helper.expect(r"viewer: open (file://\S+) in your browser")
                url = str(helper.match.group(1)).strip()
                say("4. Bob runs `ra connect RAInvitation.rainv`: TLS pinned to Alice's "
                    "certificate, the password proved with SPAKE2; his viewer opens.")
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                        env={"DISPLAY": helper_screen.name})
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    page.goto(url)  # the opener file: it takes the browser to the page
                    page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/v/"))
                    asked = _window(state, _dialog("view"))
                    _shot(screen, shots / "alice-2-view-consent.png")
                    say("5. Alice's window asks: may Bob see the screen? It says who asks, "
                        "\"Only allow someone you contacted yourself.\", and counts down "
                        f"60 s to No ({shots / 'alice-2-view-consent.png'}). She clicks Yes.")
                    _click(screen, asked["dialog"]["buttons"]["yes"])
                    _wait_state(page, "viewing")
                    _window(state, lambda s: "can see your screen" in s["status"])
                    time.sleep(1.0)
                    page.screenshot(path=str(shots / "bob-1-viewing.png"))
                    _shot(screen, shots / "alice-3-viewing.png")
                    say(f"   Bob sees Alice's desktop ({shots / 'bob-1-viewing.png'}); her "
                        f"window says so ({shots / 'alice-3-viewing.png'}).")

                    page.click("#take-control")
                    asked = _window(state, _dialog("control"))
                    _shot(screen, shots / "alice-4-control-consent.png")
                    say("6. Bob clicks Take Control; Alice is asked again "
                        f"({shots / 'alice-4-control-consent.png'}), and clicks Yes.")
                    _click(screen, asked["dialog"]["buttons"]["yes"])
                    _wait_state(page, "controlling")
                    controlled = _window(state, lambda s: s["buttons"]["stop"]["shown"])
                    box = page.locator("#screen").bounding_box()
                    assert box is not None
                    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
                    # Keys go to her window while it has the focus, and are refused there:
                    # Bob types once his click has put the focus elsewhere.
                    _window(state, lambda s: not s["focused"])
                    page.keyboard.type("echo 'printer re-added by Bob' > fixed.txt; ls")
                    page.keyboard.press("Enter")
                    _wait_for(lambda: _text(work / "fixed.txt") != "")
                    time.sleep(0.8)
                    page.screenshot(path=str(shots / "bob-2-in-control.png"))
                    _shot(screen, shots / "alice-5-controlled.png")
                    say("7. Bob types into Alice's terminal through the viewer: "
                        f"{_text(work / 'fixed.txt')!r} is now on her disk "
                        f"({shots / 'bob-2-in-control.png'}). Alice's window stays on top "
                        "with Stop control (Esc) "
                        f"({shots / 'alice-5-controlled.png'}).")
                    target = controlled["buttons"]["disconnect"]
                    page.mouse.click(
                        box["x"] + (target["x"] + target["width"] / 2) * box["width"]
                        / screen.width,
                        box["y"] + (target["y"] + target["height"] / 2) * box["height"]
                        / screen.height)
                    time.sleep(1.0)
                    say("   Bob clicks Disconnect in Alice's window through the viewer: "
                        "nothing happens there, and her log records input.rejected ("
                        + ("the session goes on" if person.isalive() else "it ended!") + ").")

                    _run(["xdotool", "key", "Escape"], screen)
                    _wait_state(page, "released")
                    say("8. Alice presses Esc on her own keyboard: control is back with her "
                        "at once, recorded before any further input.")
                    page.keyboard.type("echo sneaky > after-esc.txt")
                    page.keyboard.press("Enter")
                    time.sleep(1.0)
                    say("   Bob's typing now reaches nothing: after-esc.txt "
                        + ("exists!" if (work / "after-esc.txt").exists() else "does not exist."))

                    page.fill("#chat-input", "All done: the printer is back.")
                    page.click("#chat-send")
                    shown = _window(state, lambda s: any("All done" in line
                                                         for line in s["log"]))
                    _click(screen, shown["entry_box"])
                    _run(["xdotool", "type", "--delay", "20", "Thank you, Bob!"], screen)
                    _run(["xdotool", "key", "Return"], screen)
                    page.wait_for_function(
                        "() => document.getElementById('chat-log').textContent"
                        ".includes('Thank you')", timeout=T * 1000)
                    _window(state, lambda s: "You: Thank you, Bob!" in s["log"])
                    page.screenshot(path=str(shots / "bob-3-chat.png"))
                    _shot(screen, shots / "alice-6-chat.png")
                    say("9. They chat both ways, in Bob's viewer and Alice's window "
                        f"({shots / 'alice-6-chat.png'}); Bob clicks Disconnect.")
                    page.click("#disconnect")
                    person.expect(pexpect.EOF, timeout=T)
                    helper.expect(pexpect.EOF, timeout=T)
                    browser.close()
            except (pexpect.ExceptionPexpect, PlaywrightError) as exc:
                first = (str(exc).splitlines() or [""])[0]
                raise DemoError(f"the demo stopped: {type(exc).__name__} {first}".strip()) \
                    from None
            finally:
                for child in children:
                    if child.isalive():
                        child.terminate(force=True)

    _audit(root, person_home, helper_home)


def _audit(root: Path, person_home: Path, helper_home: Path) -> None:
    say("\n10. The session as Alice's log holds it (`ra audit log --stream session:…`):")
    from ra.sealed_chat import ChatReader
    from ra.session_keys import SessionKeys

    chat = ChatReader(SessionKeys(Home.at(person_home)))  # chat is sealed in the log
    with EventStore.open(Home.at(person_home)) as store:
        session = next(e.stream for e in store.iter_events(stream_prefix="session:"))
        for event in store.iter_events(stream=session):
            details = {k: v for k, v in chat.payload(event).items() if k not in ("mine", "peer")}
            say(f"    {event.seq:>3}  {event.type:<22} {event.outcome:<8} {event.actor}  "
                f"{json.dumps(details, sort_keys=True)[:70]}")
        kept = root / "offsite-checkpoint.json"
        kept.write_bytes(store.checkpoint().to_file_bytes())
    for who, home in (("Alice", person_home), ("Bob", helper_home)):
        with EventStore.open(Home.at(home)) as store:
            say(f"11. {who}'s log: {verify_log(store).summary()}")
    say("12. The compliance export of consent and control grants "
        "(`ra audit report consent-and-control-grants`):")
    out = _ra(["audit", "report", "consent-and-control-grants"], person_home, None)
    for line in out.splitlines():
        say(f"    {line}")

    tampered = root / "tampered"
    shutil.copytree(person_home, tampered)
    db = sqlite3.connect(Home.at(tampered).database)
    db.execute("DROP TRIGGER events_refuse_update")
    db.execute("UPDATE events SET body = replace(body, '\"by\":\"person\"', '\"by\":\"helper\"')"
               " WHERE json_extract(body, '$.type') = 'control.released'")
    db.commit()
    db.close()
    with EventStore.open(Home.at(tampered)) as store:
        report = verify_log(store, [Checkpoint.load(kept)])
    say("13. Someone edits a copy of Alice's log to claim Bob released control himself:")
    say(f"    {report.summary()}")


def _text(path: Path) -> str:
    """What a file on her desktop holds, stripped ('' while it is not there)."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _spawn(pexpect: Any, args: list[str], home: Path, display: Display, **env: str) -> Any:
    child = pexpect.spawn(sys.executable, ["-m", "ra", *args],
                          env={**_env(home, display), **env},
                          encoding="utf-8", timeout=T, dimensions=(50, 300))
    return child


def _window(state: Path, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """What the person's window shows, once `check` holds for it."""
    deadline = time.monotonic() + T
    while True:
        try:
            shown = dict(json.loads(state.read_text()))
        except (OSError, ValueError):
            shown = {}
        if shown and check(shown):
            return shown
        if time.monotonic() > deadline:
            raise DemoError("the demo timed out waiting for the person's window")
        time.sleep(0.05)


def _dialog(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda shown: bool(shown.get("dialog") and shown["dialog"]["kind"] == kind)


def _click(display: Display, button: dict[str, Any]) -> None:
    """The person's own click in the middle of `button` (from the window's state)."""
    x, y = button["x"] + button["width"] // 2, button["y"] + button["height"] // 2
    _run(["xdotool", "mousemove", "--sync", str(x), str(y), "click", "1"], display)


def _shot(display: Display, path: Path) -> None:
    import mss
    import mss.tools

    with mss.MSS(display=display.name) as screen:
        grab = screen.grab(screen.monitors[0])
        mss.tools.to_png(grab.rgb, grab.size, output=str(path))


def _env(home: Path, display: Display | None) -> dict[str, str]:
    import os

    base = display.env() if display is not None else dict(os.environ)
    return {**base, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1"}


def _ra(args: list[str], home: Path, display: Display | None, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "ra", *args], input=stdin, text=True,
                            capture_output=True, env=_env(home, display), timeout=60)
    if result.returncode != 0:
        raise DemoError(f"ra {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def _run(args: list[str], display: Display) -> None:
    subprocess.run(args, env=display.env(), check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_state(page: Any, state: str) -> None:
    page.wait_for_function(
        f"() => document.getElementById('status').dataset.state === '{state}'",
        timeout=T * 1000)


def _wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise DemoError("the demo timed out waiting for the desktop")
        time.sleep(0.1)
