"""More real two-process sessions on loopback: `ask` (the person, on a pty) and `connect`
(the helper), or a raw helper client in this process speaking the session messages.

Each test keeps its children in the `children` fixture, which kills them at teardown.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pexpect
import pytest
import test_live_session
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_live_session import (
    PASSWORD,
    RUNNER,
    _chat_text,
    _create,
    _ending,
    _env,
    _events,
    _exit_code,
    _free_port,
    _spawn,
    _start,
    _to_viewing,
    _types,
)

from ra.invitations import load_invitation
from ra.net import HelperSigner, Refused, connect
from ra.session.person import CONSENT_TIMEOUT_ENV, consent_timeout

homes = test_live_session.homes  # the fixtures, shared
children = test_live_session.children
screen = test_live_session.screen  # autouse: `ra ask` shares a real (virtual) display

Homes = tuple[Path, Path]
Children = list[pexpect.spawn]
WRONG = "this is not the password at all"
PROBE = {"kind": "key", "key": "F35", "code": "F35", "down": True}
MALLORY = HelperSigner("Mallory", Ed25519PrivateKey.generate())  # a helper client in-process


# -- helpers --------------------------------------------------------------------------


def _create_with(home: Path, tmp: Path, *extra: str) -> tuple[str, Path]:
    """`ra invite create` with extra options (e.g. ``--expires 2s``)."""
    file = tmp / "help.rainvitation"
    result = subprocess.run(
        [sys.executable, "-m", "ra", "invite", "create", "--name", "Alice", "--password-stdin",
         "--save", str(file), "--host", "127.0.0.1", "--port", str(_free_port()), "--json",
         *extra],
        input=PASSWORD + "\n", capture_output=True, text=True, env=_env(home), timeout=30,
        check=True,
    )
    return str(json.loads(result.stdout)["id"]), file


def _ask(home: Path, inv_id: str, children: Children) -> pexpect.spawn:
    person = _spawn(home, "ask", inv_id, "--terminal", "--host", "127.0.0.1")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    return person


def _connect_once(home: Path, file: Path, password: str) -> subprocess.CompletedProcess[str]:
    """One `ra connect` that is expected to be refused (it never reaches a session)."""
    return subprocess.run(
        [sys.executable, "-m", RUNNER, "connect", str(file), "--password-stdin", "--no-browser"],
        input=password + "\n", capture_output=True, text=True, env=_env(home), timeout=30,
    )


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The helper's one `ra: ...` error line (structured log lines are skipped)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("ra: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _to_control(person: pexpect.spawn, helper: pexpect.spawn) -> None:
    helper.sendline("/control")
    person.expect("asks to control your mouse and keyboard")
    person.expect("Answer y")
    person.sendline("y")
    person.expect("now controls your mouse and keyboard")
    helper.expect("you now control Alice's mouse and keyboard")


def _stop_waiting(person: pexpect.spawn) -> None:
    """`ra ask` with no session: Ctrl-C stops waiting, exit 0."""
    assert person.isalive(), "ra ask stopped by itself"
    person.kill(signal.SIGINT)
    person.expect("stopped waiting; no helper connected")
    assert _exit_code(person) == 0


class _Tee:
    """A pexpect logfile_read that also keeps everything the child printed."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)
        sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()

    @property
    def text(self) -> str:
        return "".join(self.parts)


# -- 1. the helper releases, the person disconnects -----------------------------------


def test_helper_release_then_person_disconnect(homes: Homes, tmp_path: Path,
                                               children: Children,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    person_home, helper_home = homes
    monkeypatch.setenv(CONSENT_TIMEOUT_ENV, "0")  # out of range: ignored, 60 s applies
    _, person, helper = _start(homes, tmp_path, children)
    person.expect("asks to see your screen")
    person.expect(r"No answer within 60 s means no")
    person.expect("Answer y")
    person.sendline("y")
    person.expect("can now see your screen")
    helper.expect("lets you see the screen")
    _to_control(person, helper)

    helper.sendline("/release")
    helper.expect("you gave control back")
    person.expect(r"Bob \(IT\) gave control back")

    person.sendline("/disconnect")
    person.expect("you ended the session")
    person.expect("session receipt: signed by both sides")
    helper.expect("Alice ended the session")
    helper.expect("session receipt: signed by both sides")
    assert _exit_code(person) == 0
    assert _exit_code(helper) == 0

    expected = [
        "session.connected", "session.authenticated", "consent.requested", "consent.granted",
        "view.started", "control.requested", "consent.requested", "consent.granted",
        "control.granted", "control.released", "session.disconnected", "session.receipt",
    ]
    receipts = {}
    for role, home in (("person", person_home), ("helper", helper_home)):
        events = _events(home)  # verify_log(store).ok is asserted there
        assert [e.type for e in events] == expected, role
        released = events[expected.index("control.released")]
        # the person's side, which injects, also says how much it injected (none here)
        counted = {"inputs_injected": 0} if role == "person" else {}
        assert released.payload == {"by": "helper", "via": "command", **counted}, role
        assert released.actor.kind == "helper"
        assert events[-2].payload == {"by": "person", "reason": "user"}, role
        assert _ending(home).type == "session.disconnected"  # receipt last, peer's included
        receipts[role] = events[-1].payload
    assert receipts["person"]["mine"]["role"] == "person"
    assert receipts["person"]["peer"] == receipts["helper"]["mine"]
    assert receipts["helper"]["peer"] == receipts["person"]["mine"]


# -- 2. consent timeouts through the real prompt --------------------------------------


def test_consent_timeout_setting_only_shortens() -> None:
    env = CONSENT_TIMEOUT_ENV
    assert consent_timeout({}) == 60
    assert consent_timeout({env: "2"}) == 2
    assert consent_timeout({env: " 1 "}) == 1
    assert consent_timeout({env: "60"}) == 60
    for ignored in ("0", "-5", "61", "3600", "2.5", "", "soon", "nan", "inf"):
        assert consent_timeout({env: ignored}) == 60, ignored


def test_view_consent_timeout_ends_the_session(homes: Homes, tmp_path: Path,
                                               children: Children,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    person_home, helper_home = homes
    monkeypatch.setenv(CONSENT_TIMEOUT_ENV, "2")
    _, person, helper = _start(homes, tmp_path, children)
    person.expect("asks to see your screen")
    person.expect("Only allow someone you contacted yourself")
    person.expect(r"No answer within 2 s means no")
    person.expect("Answer y")
    asked = time.monotonic()
    helper.expect("waiting for Alice to allow you to see the screen")
    person.expect(r"\(the view question is closed\)", timeout=8)
    waited = time.monotonic() - asked
    assert 1.0 <= waited <= 5.0, waited
    person.expect(r"Bob \(IT\) may not see your screen \(timed out\); the session has ended")
    helper.expect(r"Alice did not allow viewing \(timed out\); the session has ended")
    assert _exit_code(person) == 0
    assert _exit_code(helper) == 0
    assert "can now see your screen" not in (person.before or "")

    expected = ["session.connected", "session.authenticated", "consent.requested",
                "consent.denied", "session.receipt"]
    for home in (person_home, helper_home):
        events = _events(home)
        assert [e.type for e in events] == expected
        denied = events[3]
        assert denied.payload == {"scope": "view", "reason": "timed out"}
        assert denied.outcome == "denied"
        assert denied.actor.kind == "system"  # nobody answered: a timeout, not a decline
        assert events[-1].payload["peer"] is not None
    assert _types(person_home, "invitation:")[-2:] == ["invitation.opened",
                                                       "invitation.accepted"]


def test_control_consent_timeout_goes_back_to_viewing(homes: Homes, tmp_path: Path,
                                                      children: Children,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    person_home, helper_home = homes
    monkeypatch.setenv(CONSENT_TIMEOUT_ENV, "3")
    _, person, helper = _start(homes, tmp_path, children)
    _to_viewing(person, helper)

    helper.sendline("/control")
    person.expect("asks to control your mouse and keyboard")
    person.expect(r"No answer within 3 s means no")
    person.expect("Answer y")
    asked = time.monotonic()
    person.expect(r"\(the control question is closed\)", timeout=8)
    waited = time.monotonic() - asked
    assert 2.0 <= waited <= 6.0, waited
    person.expect(r"Bob \(IT\) may not control your computer \(timed out\)")
    helper.expect(r"Alice did not allow control \(timed out\)")
    # A late "y" grants nothing: with no question open, the line is plain chat.
    person.sendline("y")
    helper.expect("Alice: y")

    # The session goes on, in viewing: chat still works and control can be asked again.
    helper.sendline("still there?")
    person.expect(r"Bob \(IT\): still there\?")
    helper.sendline("/control")
    person.expect("asks to control your mouse and keyboard")
    person.expect("Answer y")
    person.sendline("n")
    person.expect(r"may not control your computer \(declined\)")
    helper.expect(r"did not allow control \(declined\)")
    helper.sendline("/disconnect")
    helper.expect("you ended the session")
    person.expect(r"Bob \(IT\) ended the session")
    assert _exit_code(helper) == 0
    assert _exit_code(person) == 0
    assert "now controls your mouse" not in (person.before or "")

    expected = [
        "session.connected", "session.authenticated", "consent.requested", "consent.granted",
        "view.started", "control.requested", "consent.requested", "consent.denied",
        "control.denied", "chat.message", "chat.message", "control.requested",
        "consent.requested", "consent.denied", "control.denied", "session.disconnected",
        "session.receipt",
    ]
    for home in (person_home, helper_home):
        events = _events(home)
        assert [e.type for e in events] == expected
        assert events[7].payload == {"scope": "control", "reason": "timed out"}
        assert events[8].payload == {"reason": "timed out"}
        assert events[7].actor.kind == events[8].actor.kind == "system"
        assert events[9].payload["from"] == "person"
        assert _chat_text(home, events[9]) == "y"
        assert events[13].payload == {"scope": "control", "reason": "declined"}
        assert events[-2].payload == {"by": "helper", "reason": "helper"}
        assert events[-1].payload["peer"] is not None


# -- 3. wrong passwords back off, then lock ------------------------------------------


def test_five_wrong_passwords_lock_the_invitation(homes: Homes, tmp_path: Path,
                                                  children: Children) -> None:
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp_path)
    person = _ask(person_home, inv_id, children)

    failed = 0
    refusals: list[tuple[int, int]] = []  # (failures so far, seconds we were told to wait)
    deadline = time.monotonic() + 45
    while failed < 5:
        assert time.monotonic() < deadline, refusals
        # Right after a failure this try is too early; it is refused before any
        # password is judged, and says how long to wait.
        result = _connect_once(helper_home, file, WRONG)
        assert result.returncode != 0
        line = _error_line(result)
        told = re.search(r"too many wrong passwords; try again in (\d+) s", line)
        if told:
            wait = int(told.group(1))
            assert 1 <= wait <= 2 ** (failed - 1), (failed, line)
            refusals.append((failed, wait))
            time.sleep(wait)
            continue
        assert line == "ra: the password was not accepted"
        failed += 1
        person.expect("a wrong password was tried from 127.0.0.1")
    # A retry within 4 s or 8 s always comes too early; within 1 s or 2 s it may not.
    print("refusals:", refusals)
    told_after = {count for count, _ in refusals}
    assert {3, 4} <= told_after, refusals
    assert max(wait for count, wait in refusals if count == 4) >= 5

    # Locked: the right password is refused too, and `ra ask` keeps refusing.
    for _ in range(2):
        result = _connect_once(helper_home, file, PASSWORD)
        assert result.returncode != 0
        line = _error_line(result)
        assert "refused the connection" in line and "locked" in line, line
    person.expect(pexpect.TIMEOUT, timeout=0.5)
    assert "is connecting" not in (person.before or "")
    _stop_waiting(person)

    events = _events(person_home, f"invitation:{inv_id}")
    # Every try refused during the back-off is in the log, counted, not one event each.
    throttled = [e for e in events if e.type == "auth.throttled"]
    assert sum(e.payload["count"] for e in throttled) == len(refusals)
    assert all(e.payload["origin"] == "127.0.0.1" == e.origin and e.outcome == "denied"
               for e in throttled)
    events = [e for e in events if e.type != "auth.throttled"]
    failures = [e for e in events if e.type == "auth.failed"]
    assert [e.payload["attempt"] for e in failures] == [1, 2, 3, 4, 5]
    assert all(e.payload["origin"] == "127.0.0.1" == e.origin for e in failures)
    # The log shows the back-off: each failure came at least 1, 2, 4, 8 s after the last.
    for index, (before, after) in enumerate(zip(failures, failures[1:], strict=False)):
        assert after.occurred_at - before.occurred_at >= timedelta(seconds=2 ** index)
    assert events[-1].type == "invitation.locked"
    assert events[-1].payload == {"failures": 5}
    assert events.index(failures[-1]) == len(events) - 2
    assert "invitation.opened" not in [e.type for e in events]
    assert _types(person_home) == []  # no session was ever started
    assert _types(helper_home) == []


# -- 4. deleted and expired invitations are refused ----------------------------------


def test_deleted_invitation_is_refused(homes: Homes, tmp_path: Path,
                                       children: Children) -> None:
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp_path)
    person = _ask(person_home, inv_id, children)
    deleted = subprocess.run([sys.executable, "-m", "ra", "invite", "delete", inv_id],
                             env=_env(person_home), capture_output=True, text=True, timeout=30,
                             check=True)
    assert "is now deleted" in deleted.stdout

    result = _connect_once(helper_home, file, PASSWORD)
    assert result.returncode != 0
    line = _error_line(result)
    assert line == (f"ra: the other computer refused the connection: "
                    f"invitation {inv_id[:8]} has been deleted"), line
    # `ra ask` does not stop when its idle invitation is deleted: it keeps refusing.
    person.expect(pexpect.TIMEOUT, timeout=0.5)
    assert "is connecting" not in (person.before or "")
    _stop_waiting(person)

    types = _types(person_home, f"invitation:{inv_id}")
    assert types[-1] == "invitation.deleted"
    assert "invitation.opened" not in types and "auth.failed" not in types
    assert _types(person_home) == []
    assert _types(helper_home) == []


def test_expired_invitation_is_refused(homes: Homes, tmp_path: Path,
                                       children: Children) -> None:
    person_home, helper_home = homes
    # Long enough for `ra ask` to start on a loaded machine, short enough to wait out.
    inv_id, file = _create_with(person_home, tmp_path, "--expires", "8s")
    created = time.monotonic()  # the invitation was created before this moment
    person = _ask(person_home, inv_id, children)  # ask starts while it is still open
    time.sleep(max(0.0, created + 8.5 - time.monotonic()))

    # `ra connect` checks the file's expiry itself and does not even connect.
    result = _connect_once(helper_home, file, PASSWORD)
    assert result.returncode != 0
    line = _error_line(result)
    assert "expired" in line and "ask for a new one" in line, line

    # A helper that ignores the file's expiry is refused by the person's side.
    invitation = load_invitation(file, check_expiry=False)
    with pytest.raises(Refused) as refused:
        asyncio.run(connect(invitation, PASSWORD, MALLORY))
    assert refused.value.reason == f"invitation {inv_id[:8]} has expired"
    person.expect(pexpect.TIMEOUT, timeout=0.5)
    assert "is connecting" not in (person.before or "")
    _stop_waiting(person)

    events = _events(person_home, f"invitation:{inv_id}")
    types = [e.type for e in events]
    assert types[-1] == "invitation.expired"
    assert events[-1].payload == {"reason": "time"}
    assert "invitation.opened" not in types and "auth.failed" not in types
    assert _types(person_home) == []
    assert _types(helper_home) == []


# -- 5. a raw helper client: input outside control is rejected -------------------------


def test_input_outside_control_is_rejected(homes: Homes, tmp_path: Path,
                                           children: Children) -> None:
    person_home, _ = homes
    inv_id, file = _create(person_home, tmp_path)
    person = _spawn(person_home, "ask", inv_id, "--terminal", "--host", "127.0.0.1")
    children.append(person)
    screen = _Tee()
    person.logfile_read = screen
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    invitation = load_invitation(file)
    received: list[dict[str, Any]] = []

    async def on_pty(pattern: str) -> None:
        await asyncio.to_thread(person.expect, pattern)

    async def session() -> None:
        channel = await connect(invitation, PASSWORD, MALLORY)
        peer = test_live_session.RawHelper(channel)
        expect = peer.expect
        peer.received = received  # what the test checks at the end

        async def send_and_sync(message: dict[str, Any], marker: str) -> None:
            """Send, then a chat line: once the person shows it, `message` was handled."""
            await channel.send_json(message)
            await channel.send_json({"type": "chat", "text": marker})
            await on_pty(f"Mallory: {marker}")

        async with peer.running():
            await expect("consent", scope="view", status="requested")
            await on_pty("asks to see your screen")
            await on_pty("Answer y")
            person.sendline("y")
            await expect("consent", scope="view", status="granted")

            # Viewing, not in control: rejected and recorded, never injected.
            await send_and_sync({"type": "input", "event": PROBE}, "probe one")

            await channel.send_json({"type": "control.request"})
            await expect("consent", scope="control", status="requested")
            await on_pty("asks to control your mouse and keyboard")
            await on_pty("Answer y")
            person.sendline("y")
            await expect("consent", scope="control", status="granted")
            await on_pty("now controls your mouse and keyboard")

            # In control: accepted (the StatusDesktop injects silently; nothing recorded).
            await send_and_sync({"type": "input", "event": PROBE}, "probe two")

            person.sendline("/release")
            await expect("control.released", by="person", via="command")
            await on_pty("you have control again")

            # Released: rejected again.
            await send_and_sync({"type": "input", "event": PROBE}, "probe three")

            person.sendline("/disconnect")
            await expect("disconnect", reason="user")
            await expect("session.receipt")  # the person's; this raw client sends none

    asyncio.run(asyncio.wait_for(session(), 25))
    person.expect("you ended the session")
    person.expect("session receipt: signed by this side only")
    assert _exit_code(person) == 0

    events = _events(person_home)
    # Refusals are recorded at most once a second: the first at once, a second one
    # within that second when the second has passed (or at the end).
    assert [e.type for e in events if e.type != "input.rejected"] == [
        "session.connected", "session.authenticated", "consent.requested", "consent.granted",
        "view.started", "chat.message", "control.requested",
        "consent.requested", "consent.granted", "control.granted", "chat.message",
        "control.released", "chat.message", "session.disconnected",
        "session.receipt",
    ]
    assert [e.type for e in events][5] == "input.rejected"
    rejected = [e for e in events if e.type == "input.rejected"]
    assert rejected[0].payload == {"count": 1, "kinds": {"key": 1},
                                   "reasons": {"not in control": 1}, "states": {"viewing": 1}}
    assert sum(e.payload["count"] for e in rejected) == 2
    assert sum(e.payload["states"].get("released", 0) for e in rejected) == 1
    assert all(e.outcome == "failure" and e.actor.kind == "helper" for e in rejected)
    released = next(e for e in events if e.type == "control.released")
    assert released.payload == {"by": "person", "via": "command", "inputs_injected": 1}
    # The key itself is never written down or shown.
    assert PROBE["key"] not in json.dumps([e.payload for e in events])
    assert PROBE["key"] not in screen.text
    assert _ending(person_home, peer_receipt=False).payload == {"by": "person",
                                                                "reason": "user"}
    assert [m["type"] for m in received if m["type"] == "consent"] == ["consent"] * 4


# -- 6. the person's computer dies while the helper is in control ----------------------


def test_person_killed_in_control(homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, helper_home = homes
    _, person, helper = _start(homes, tmp_path, children)
    _to_viewing(person, helper)
    _to_control(person, helper)

    person.kill(signal.SIGKILL)
    killed = time.monotonic()
    helper.expect("lost the connection to Alice; the session has ended", timeout=12)
    noticed = time.monotonic() - killed
    helper.expect("session receipt: signed by this side only")
    assert _exit_code(helper) == 0  # the helper did nothing wrong: the session just ended
    person.expect(pexpect.EOF)
    person.close()
    assert person.signalstatus == signal.SIGKILL
    print(f"the helper noticed after {noticed:.2f} s")
    assert noticed < 12

    events = _events(helper_home)
    assert [e.type for e in events] == [
        "session.connected", "session.authenticated", "consent.requested", "consent.granted",
        "view.started", "control.requested", "consent.requested", "consent.granted",
        "control.granted", "control.released", "session.disconnected", "session.receipt",
    ]
    # Control is released (recorded) before the end, as docs/session.md says.
    assert events[-3].payload == {"by": "system", "via": "disconnect"}
    assert events[-3].actor.kind == "system"
    assert events[-2].payload == {"by": "system", "reason": "network"}
    assert events[-2].outcome == "failure"
    assert events[-1].payload["peer"] is None
    # The killed person's log is still whole: it verifies and ends at the grant.
    assert _types(person_home)[-1] == "control.granted"
