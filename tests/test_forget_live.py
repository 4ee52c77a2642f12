"""Two real `ra` processes chat (`ra ask` on a pty, `ra connect`), then the person
forgets the session: each log held the chat sealed, `ra audit log` read it, and
after `ra audit forget` the person's copy is gone for good while the log verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pexpect
import test_live_session
from test_forget import grep
from test_live_session import (
    HELPER_NAME,
    PASSWORD,
    _create,
    _env,
    _events,
    _exit_code,
    _spawn,
    _to_viewing,
)

homes = test_live_session.homes  # the fixtures, shared
children = test_live_session.children
screen = test_live_session.screen  # autouse: `ra ask` shares a real display

FROM_HELPER = "the alarm code is 7431-heron"
FROM_PERSON = "thanks, my locker is 2209-quail"


def _ra(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ra", *args], env=_env(home),
                          capture_output=True, text=True, timeout=60)


def _start(both: tuple[Path, Path], tmp: Path,
           spawned: list[pexpect.spawn]) -> tuple[pexpect.spawn, pexpect.spawn]:
    """`ra ask` answering in its terminal (not a window), and `ra connect`."""
    person_home, helper_home = both
    inv_id, file = _create(person_home, tmp)
    person = _spawn(person_home, "ask", inv_id, "--host", "127.0.0.1", "--terminal")
    spawned.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    helper = _spawn(helper_home, "connect", str(file), "--password-stdin", "--no-browser",
                    "--name", HELPER_NAME)
    spawned.append(helper)
    helper.sendline(PASSWORD)
    return person, helper


def test_a_live_session_chat_is_sealed_then_forgotten(
    homes: tuple[Path, Path], tmp_path: Path, children: list[pexpect.spawn]
) -> None:
    person_home, helper_home = homes
    person, helper = _start(homes, tmp_path, children)
    _to_viewing(person, helper)
    helper.sendline(FROM_HELPER)
    person.expect(FROM_HELPER)
    person.sendline(FROM_PERSON)
    helper.expect(FROM_PERSON)
    helper.sendline("/disconnect")
    helper.expect("you ended the session")
    assert _exit_code(helper) == 0
    assert _exit_code(person) == 0

    session = _events(person_home)[0].stream
    for home in homes:
        for text in (FROM_HELPER, FROM_PERSON):
            assert grep(home, text) == [], f"{text!r} in {home}"
        chats = [e for e in _events(home) if e.type == "chat.message"]
        assert [set(e.payload["text"]) for e in chats] == [{"sealed"}, {"sealed"}]
        shown = _ra(home, "audit", "log", "--stream", session).stdout
        assert FROM_HELPER in shown and FROM_PERSON in shown
        assert (home / "keystore" / "sessions" / f"{session.split(':')[1]}.key").exists()

    done = _ra(person_home, "audit", "forget", session.split(":")[1][:8],
               "--why", "asked to by the person")
    assert done.returncode == 0, done.stderr
    assert "forgot the chat of " + session in done.stdout
    assert _ra(person_home, "audit", "verify").returncode == 0
    shown = _ra(person_home, "audit", "log", "--stream", session).stdout
    assert shown.count("(forgotten)") == 2 and FROM_HELPER not in shown
    assert not (person_home / "keystore" / "sessions" / f"{session.split(':')[1]}.key").exists()
    assert [e.type for e in _events(person_home)][-2:] == ["session.receipt",
                                                           "session.forgotten"]
    # The helper's log is its own, with its own key: untouched by the person's forget.
    assert FROM_PERSON in _ra(helper_home, "audit", "log", "--stream", session).stdout
