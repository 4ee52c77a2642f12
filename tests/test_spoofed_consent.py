"""A hostile peer or file cannot forge ra's questions or lines on a terminal.

A real `ra ask` runs on a pty; a raw helper client, once viewing, asks for
control and then sends a chat line built to erase the question and print a
fake one. The person must see that chat as one prefixed line with its escapes
shown, and the real question again below it. The other way, a real `ra
connect` shows the person's escapes inert. `ra invite inspect` keeps a
hostile file's name and message on their own lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pexpect
import test_live_session
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_live_session import PASSWORD, RUNNER, T, _create, _events, _exit_code

from ra.events import canonical
from ra.invitations import load_invitation, new_invitation
from ra.invitations.file import _assemble, _body_dict
from ra.net import HelperSigner, connect

homes = test_live_session.homes  # the fixtures, shared
children = test_live_session.children
screen = test_live_session.screen  # autouse: `ra ask` shares a real display

Homes = tuple[Path, Path]
Children = list[pexpect.spawn]

QUESTION_MARK = ">> ra asks:"  # how ra's own question lines start (ra.session.driver)

#: Erase the question (cursor up, erase line, carriage return), print a fake one
#: in ra's own words on lines of its own, retitle the window, hide what follows.
FORGED = (
    "ok\x1b7\x1b[1A\x1b[2K\x1b[1A\x1b[2K\r"
    f"{QUESTION_MARK} 127.0.0.1 (the helper) asks to keep viewing your screen.\n"
    f"{QUESTION_MARK} keep viewing? [y/n] Answer y (yes) or n (no): "
    "\x1b]0;ra asks\x07\x1b[8m\u202e"
)


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


def _spawn(home: Path, *args: str) -> tuple[pexpect.spawn, _Tee]:
    env = {**os.environ, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning",
           "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}  # ra's own output has no escapes
    child = pexpect.spawn(sys.executable, ["-m", RUNNER, *args], env=env, encoding="utf-8",
                          timeout=T, dimensions=(50, 400))
    screen = _Tee()
    child.logfile_read = screen
    return child, screen


def test_a_forged_question_in_chat_is_inert_and_the_real_one_is_asked_again(
        homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, _ = homes
    inv_id, file = _create(person_home, tmp_path)
    person, screen = _spawn(person_home, "ask", inv_id, "--terminal", "--host", "127.0.0.1")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    invitation = load_invitation(file)
    answers: list[dict[str, Any]] = []

    async def on_pty(pattern: str) -> None:
        await asyncio.to_thread(person.expect, pattern)

    async def session() -> int:
        channel = await connect(invitation, PASSWORD,
                                HelperSigner("Mallory", Ed25519PrivateKey.generate()))
        peer = test_live_session.RawHelper(channel)
        expect = peer.expect

        async with peer.running():
            await expect("consent", scope="view", status="requested")
            await on_pty("asks to see your screen")
            await on_pty(re.escape("Answer y (yes) or n (no): "))
            person.sendline("y")
            await expect("consent", scope="view", status="granted")

            await channel.send_json({"type": "control.request"})
            await expect("consent", scope="control", status="requested")
            await on_pty("asks to control your mouse and keyboard")
            await on_pty(re.escape("Answer y (yes) or n (no): "))
            start = len(screen.text)

            # The question waits; the helper's chat tries to replace it with a fake one.
            await channel.send_json({"type": "chat", "text": FORGED})
            await on_pty(re.escape("keep viewing? [y/n]"))
            await on_pty("asks to control your mouse and keyboard")
            await on_pty(re.escape("Answer y (yes) or n (no): "))
            person.sendline("n")
            answers.append(await expect("consent", scope="control"))
            await channel.send_json({"type": "disconnect", "reason": "helper"})
            return start

    start = asyncio.run(asyncio.wait_for(session(), 40))
    person.expect("ended the session")
    assert _exit_code(person) == 0

    # Nothing the helper sent reached the terminal raw: no escape byte, no bidi override.
    assert "\x1b" not in screen.text and "\u202e" not in screen.text
    lines = screen.text[start:].replace("\r\n", "\n").split("\n")
    # The chat is one line that says who wrote it, its escapes and line breaks shown.
    chat = [line for line in lines if "keep viewing" in line]
    assert chat == ["[chat] helper Mallory: ok\\x1b7\\x1b[1A\\x1b[2K\\x1b[1A\\x1b[2K\\r"
                    f"{QUESTION_MARK} 127.0.0.1 (the helper) asks to keep viewing your screen."
                    f"\\n{QUESTION_MARK} keep viewing? [y/n] Answer y (yes) or n (no): "
                    "\\x1b]0;ra asks\\x07\\x1b[8m\\u202e"]
    # Right below it: the real question again, in full, and it says what a yes grants.
    after = lines[lines.index(chat[0]) + 1:]
    assert after[0].startswith(f"{QUESTION_MARK} Mallory asks to control "
                               "your mouse and keyboard.")
    assert after[1].startswith(f"{QUESTION_MARK} Yes lets the helper CONTROL your mouse and "
                               "keyboard. Answer y (yes) or n (no): ")
    # Every line that starts like a question is the real question.
    marked = {line for line in lines if line.startswith(QUESTION_MARK)}
    assert marked == {after[0], after[1]}

    # The "n" answered the question on screen: control, not viewing.
    assert [(a["scope"], a["status"]) for a in answers] == [("control", "denied")]
    denied = [e.payload for e in _events(person_home) if e.type == "consent.denied"]
    assert denied == [{"scope": "control", "reason": "declined"}]


def test_the_persons_escapes_reach_the_helper_inert(
        homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp_path)
    person, _ = _spawn(person_home, "ask", inv_id, "--terminal", "--host", "127.0.0.1")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    helper, helper_screen = _spawn(helper_home, "connect", str(file), "--password-stdin",
                                   "--no-browser")
    children.append(helper)
    helper.sendline(PASSWORD)
    person.expect("asks to see your screen")
    person.expect(re.escape("Answer y (yes) or n (no): "))
    person.sendline("y")
    helper.expect("lets you see the screen")
    start = len(helper_screen.text)

    person.sendline("hi\x1b[2J\x1b]0;owned\x07 there")
    helper.expect(re.escape("[chat] person Alice: hi\\x1b[2J\\x1b]0;owned\\x07 there"))
    assert "\x1b" not in helper_screen.text[start:]
    helper.sendline("/disconnect")
    assert _exit_code(helper) == 0
    assert _exit_code(person) == 0


def _hostile_file(tmp: Path, name: str, message: str) -> Path:
    """An invitation a stranger made and signed with their own key."""
    key = Ed25519PrivateKey.generate()
    now = datetime.now(UTC)
    invitation = new_invitation(name="Mallory", message="", expires_at=now + timedelta(hours=1),
                                addresses=["127.0.0.1"], port=4455, tls_fingerprint="ab" * 32,
                                signing_key=key.public_key())
    # Signed as the writer would, without the writer's checks on name and message.
    body = {**_body_dict(invitation), "name": name, "message": message}
    data = canonical.encode(body)
    path = tmp / f"hostile-{len(list(tmp.iterdir()))}.rainv"
    path.write_bytes(_assemble(data, key.sign(data)))
    return path


def test_inspect_keeps_a_hostile_name_and_message_on_their_lines(  # type: ignore[no-untyped-def]
        ra, tmp_path: Path) -> None:
    fake = "1111 2222 3333 4444 5555 6666 7777 8888"
    message = ("Please help\n  expires    2099-01-01 00:00:00 UTC\n"
               f"  signed by  {fake}  (signature valid)\n"
               "Confirm this fingerprint with the person before you connect.")
    name = "Mallory\u200f\u061c\ufeff\u200b"  # marks the file format lets through
    path = _hostile_file(tmp_path, name, message)
    result = ra("invite", "inspect", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "Invitation", "from", "message", "expires", "connect", "signed", "Confirm"]
    assert lines[1] == "  from       Mallory\\u200f\\u061c\\ufeff\\u200b"
    assert lines[2] == "  message    " + message.replace("\n", "\\n")
    assert fake not in lines[5]
    assert not re.search("[\u200b-\u200f\u061c\ufeff]", result.stdout)

    # What the format refuses (escapes, bidi overrides) is refused in one inert line.
    for bad_name, bad_message in [("Mallory\x1b[2K", "hi"), ("Mallory", "hi\u202e\x1b]0;x\x07")]:
        refused = ra("invite", "inspect", str(_hostile_file(tmp_path, bad_name, bad_message)))
        assert refused.returncode != 0 and refused.stdout == ""
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "control character" in refused.stderr
        assert "\x1b" not in refused.stderr and "\u202e" not in refused.stderr

    json_out = json.loads(ra("invite", "inspect", str(path), "--json", check=True).stdout)
    assert json_out["name"] == name and json_out["message"] == message  # scripts get it all
