"""The record tells the truth: real `ra ask` and `ra connect` on loopback, then the logs.

- A session whose screen cannot be shown (``--no-screen``, a display that cannot
  be opened, one that dies) is chat only: no ``view.started``, no
  ``control.granted``; ``view.unavailable`` says why, and both sides say so.
- The helper's Esc in the viewer is recorded as Esc, by the helper.
- A `ra ask` killed in control leaves its session open in the log; the next
  `ra ask` closes it (reason ``crash``) before anything else.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
import test_live_session
from desktop_support import Display, xvfb
from test_live_session import (
    HELPER_NAME,
    PASSWORD,
    SIGNER,
    T,
    _create,
    _env,
    _events,
    _exit_code,
    _spawn,
    _to_viewing,
)
from test_live_session_more import _Tee, _to_control

from ra.desktop.xvfb import _free_display
from ra.invitations import load_invitation
from ra.net import connect

homes = test_live_session.homes  # the fixtures, shared
children = test_live_session.children

Homes = tuple[Path, Path]
Children = list[pexpect.spawn]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture
def person_display() -> Iterator[Display]:
    with xvfb(1024, 768) as started:
        yield started


def _ask(home: Path, inv_id: str, children: Children, *extra: str,
         env: dict[str, str] | None = None) -> tuple[pexpect.spawn, _Tee]:
    person = pexpect.spawn(sys.executable, ["-m", test_live_session.RUNNER, "ask", inv_id,
                                            "--terminal", "--host", "127.0.0.1", *extra],
                           env=env or _env(home), encoding="utf-8", timeout=T,
                           dimensions=(50, 400))
    seen = _Tee()
    person.logfile_read = seen
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    return person, seen


def _helper(home: Path, file: Path, children: Children) -> pexpect.spawn:
    helper = _spawn(home, "connect", str(file), "--password-stdin", "--no-browser",
                    "--name", HELPER_NAME)
    children.append(helper)
    helper.sendline(PASSWORD)
    return helper


def _ra(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ra", *args], env=_env(home),
                          capture_output=True, text=True, timeout=60)


# -- no screen ------------------------------------------------------------------------


def test_no_screen_is_chat_only_and_recorded_so_on_both_sides(homes: Homes, tmp_path: Path,
                                                             children: Children) -> None:
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp_path)
    person, seen = _ask(person_home, inv_id, children, "--no-screen")
    helper = _helper(helper_home, file, children)

    person.expect(r"your screen cannot be shown \(you chose not to share it\): Bob \(IT\) "
                  r"cannot see it or control your computer\. You can still chat")
    helper.expect(r"Alice's screen cannot be shown \(not shared\): you cannot see it or take "
                  r"control\. You can still chat")
    helper.sendline("/control")
    helper.expect("control is not available: Alice's screen is not shown in this session")
    helper.sendline("can you read me?")
    person.expect(re.escape("[chat] helper Bob (IT): can you read me?"))
    person.sendline("yes, loud and clear")
    helper.expect("Alice: yes, loud and clear")
    person.sendline("/disconnect")
    person.expect("you ended the session")
    helper.expect("Alice ended the session")
    assert _exit_code(person) == 0
    assert _exit_code(helper) == 0
    assert "can now see your screen" not in seen.text
    assert "asks to see your screen" not in seen.text
    assert "Answer y" not in seen.text

    expected = ["session.connected", "session.authenticated", "view.unavailable",
                "chat.message", "chat.message", "session.disconnected", "session.receipt"]
    for home in (person_home, helper_home):
        events = _events(home)
        assert [e.type for e in events] == expected
        assert events[2].payload == {"reason": "not shared"}
        assert events[2].actor.kind == "system"
        assert events[-1].payload["peer"] is not None  # both sides signed the same story

    # The compliance report lists no decision about a screen nobody could see.
    report = _ra(person_home, "audit", "report", "consent-and-control-grants", "--format", "csv")
    assert report.returncode == 0, report.stderr
    assert "control.granted" not in report.stdout and "consent.granted" not in report.stdout
    assert "view.unavailable" in report.stdout and "not shared" in report.stdout


async def _raw_helper(file: Path, script: Any) -> None:
    """A helper speaking the session messages itself (here: one that asks for control
    however it is told), with heartbeats, over the real transport."""
    channel = await connect(load_invitation(file), PASSWORD, SIGNER)
    peer = test_live_session.RawHelper(channel)
    async with peer.running():
        await script(channel, peer.expect)


def test_a_display_that_cannot_be_opened_gives_no_view_and_refuses_control(
        homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, _ = homes
    inv_id, file = _create(person_home, tmp_path)
    missing = f":{_free_display()}"  # no X server there
    person, seen = _ask(person_home, inv_id, children, "--display", missing)

    async def script(channel: Any, expect: Any) -> None:
        await expect("view.unavailable", reason="display failed")
        await asyncio.to_thread(person.expect, "the display cannot be captured")
        await channel.send_json({"type": "control.request"})  # asked anyway
        await expect("consent", scope="control", status="denied",
                     reason="screen unavailable")
        await channel.send_json({"type": "input", "event": {"kind": "pointer", "x": 1,
                                                            "y": 1}})
        await channel.send_json({"type": "chat", "text": "marker"})
        await asyncio.to_thread(person.expect, re.escape("[chat] helper Bob (IT): marker"))
        await channel.send_json({"type": "disconnect", "reason": "helper"})
        await expect("session.receipt")

    asyncio.run(asyncio.wait_for(_raw_helper(file, script), 30))
    person.expect(r"Bob \(IT\) ended the session")
    assert _exit_code(person) == 0
    assert "asks to" not in seen.text and "can now see your screen" not in seen.text
    events = _events(person_home)
    assert [e.type for e in events] == [
        "session.connected", "session.authenticated", "view.unavailable", "control.denied",
        "input.rejected", "chat.message", "session.disconnected", "session.receipt"]
    assert events[2].payload == {"reason": "display failed"} and events[2].outcome == "failure"
    assert events[3].payload == {"reason": "screen unavailable"}
    assert (events[3].actor.kind, events[3].outcome) == ("system", "denied")
    assert events[4].payload == {"count": 1, "kinds": {"pointer": 1},
                                 "states": {"chat_only": 1}, "reasons": {"not in control": 1}}


def test_a_display_that_dies_in_control_releases_then_chat_goes_on(
        homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp_path)
    with xvfb(800, 600) as dying:
        env = {**_env(person_home), "DISPLAY": dying.name}
        person, _ = _ask(person_home, inv_id, children, env=env)
        helper = _helper(helper_home, file, children)
        _to_viewing(person, helper)
        _to_control(person, helper)
        os.kill(dying.pid, signal.SIGKILL)
        person.expect(r"your screen cannot be shown \(the display cannot be captured\)")
        helper.expect(r"Alice's screen cannot be shown \(display failed\)")
    helper.sendline("still there?")
    person.expect(re.escape("[chat] helper Bob (IT): still there?"))
    helper.sendline("/disconnect")
    person.expect(r"Bob \(IT\) ended the session")
    assert _exit_code(person) == 0
    assert _exit_code(helper) == 0
    for home in (person_home, helper_home):
        events = _events(home)
        types = [e.type for e in events]
        granted = types.index("control.granted")
        assert types[granted + 1:] == ["control.released", "view.unavailable", "chat.message",
                                       "session.disconnected", "session.receipt"]
        counted = {"inputs_injected": 0} if home == person_home else {}  # where it injects
        assert events[granted + 1].payload == {"by": "system", "via": "view-unavailable",
                                                **counted}
        assert events[granted + 2].payload == {"reason": "display failed"}


# -- the helper's Esc in the viewer -------------------------------------------------------


def test_the_helpers_esc_in_the_viewer_is_recorded_as_esc(
        homes: Homes, tmp_path: Path, children: Children, person_display: Display) -> None:
    from playwright.sync_api import sync_playwright

    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp_path)
    env = {**_env(person_home), "DISPLAY": person_display.name}
    person, _ = _ask(person_home, inv_id, children, env=env)
    helper = _helper(helper_home, file, children)
    helper.expect(r"viewer: open (file://\S+) in your browser")  # its opener, only ours
    url = str(helper.match.group(1)).strip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            page = browser.new_page()
            page.goto(url)
            _to_viewing(person, helper)

            def state(name: str) -> None:
                page.wait_for_function(
                    f"() => document.getElementById('status').dataset.state === '{name}'",
                    timeout=T * 1000)

            state("viewing")
            page.click("#take-control")
            person.expect("asks to control your mouse and keyboard")
            person.expect("Answer y")
            person.sendline("y")
            state("controlling")
            page.keyboard.press("Escape")
            state("released")
            person.expect(r"Bob \(IT\) gave control back")
            page.click("#disconnect")
            person.expect(r"Bob \(IT\) ended the session")
        finally:
            browser.close()
    assert _exit_code(person) == 0
    assert _exit_code(helper) == 0
    for home in (person_home, helper_home):
        released = [e for e in _events(home) if e.type == "control.released"]
        counted = {"inputs_injected": 0} if home == person_home else {}  # where it injects
        assert [e.payload for e in released] == [{"by": "helper", "via": "esc", **counted}]
        assert released[0].actor.kind == "helper"


# -- a crash in control ----------------------------------------------------------------


def test_a_session_killed_in_control_is_closed_by_the_next_ask(
        homes: Homes, tmp_path: Path, children: Children, person_display: Display) -> None:
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp_path)
    env = {**_env(person_home), "DISPLAY": person_display.name}
    person, _ = _ask(person_home, inv_id, children, env=env)
    helper = _helper(helper_home, file, children)
    _to_viewing(person, helper)
    _to_control(person, helper)
    person.kill(signal.SIGKILL)
    person.expect(pexpect.EOF)
    person.close()
    helper.expect("lost the connection to Alice", timeout=15)
    assert _exit_code(helper) == 0
    killed = _events(person_home)
    assert killed[-1].type == "control.granted"  # the log says control is still held
    session_id = killed[-1].stream.split(":", 1)[1]

    # The next `ra ask` closes it before anything else, then serves as usual.
    again, seen = _ask(person_home, inv_id, children, "--no-screen", env=env)
    assert f"session {session_id} was still open in the log" in seen.text
    again.kill(signal.SIGINT)
    again.expect("stopped waiting")
    assert _exit_code(again) == 0

    events = _events(person_home)  # verify_log(store).ok is asserted there
    assert [e.type for e in events[len(killed):]] == ["control.released",
                                                      "session.disconnected"]
    released, ended = events[len(killed):]
    assert released.payload == {"by": "system", "via": "disconnect"}
    assert ended.payload == {"by": "system", "reason": "crash"}
    assert (ended.actor.kind, ended.outcome) == ("system", "failure")
    assert ended.stream == f"session:{session_id}"
    verified = _ra(person_home, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # A third start finds nothing open and records nothing.
    third, seen = _ask(person_home, inv_id, children, "--no-screen", env=env)
    third.kill(signal.SIGINT)
    third.expect("stopped waiting")
    assert _exit_code(third) == 0
    assert "was still open" not in seen.text
    assert len(_events(person_home)) == len(events)


def test_a_running_ask_keeps_its_session_when_another_ask_starts(
        homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp_path)
    person, _ = _ask(person_home, inv_id, children, "--no-screen")
    helper = _helper(helper_home, file, children)
    person.expect("You can still chat")
    before = _events(person_home)
    (tmp_path / "other").mkdir()
    other_id, _ = _create(person_home, tmp_path / "other")
    second, seen = _ask(person_home, other_id, children, "--no-screen")
    second.kill(signal.SIGINT)
    second.expect("stopped waiting")
    assert _exit_code(second) == 0
    assert "was still open" not in seen.text
    assert _events(person_home) == before  # the live session was not touched
    helper.sendline("/disconnect")
    person.expect(r"Bob \(IT\) ended the session")
    assert _exit_code(person) == 0
    assert _exit_code(helper) == 0
    assert _events(person_home)[-2].payload == {"by": "helper", "reason": "helper"}
