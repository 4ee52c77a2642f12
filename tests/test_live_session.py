"""Two real `ra` processes on loopback: `ask` (the person, on a pty) and `connect` (the helper)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import stop

from ra.events import EventStore, RecordedEvent, verify_log
from ra.home import Home
from ra.net import Channel, HelperSigner, Kind, NetError

PASSWORD = "correct horse battery staple 42"
HELPER_NAME = "Bob (IT)"  # what the helper calls itself (`ra connect --name`)
RUNNER = "ra"  # the `ra` command
#: A raw helper client in the test's own process proves this key under the helper's name.
SIGNER = HelperSigner(HELPER_NAME, Ed25519PrivateKey.generate())
T = 15  # seconds for any one expected line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def _spawn(home: Path, *args: str) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", RUNNER, *args], env=_env(home),
                          encoding="utf-8", timeout=T, dimensions=(50, 400))
    child.logfile_read = sys.stdout  # shown by pytest on failure
    return child


def _create(home: Path, tmp: Path) -> tuple[str, Path]:
    file = tmp / "help.rainvitation"
    result = subprocess.run(
        [sys.executable, "-m", "ra", "invite", "create", "--name", "Alice", "--password-stdin",
         "--save", str(file), "--host", "127.0.0.1", "--port", str(_free_port()), "--json"],
        input=PASSWORD + "\n", capture_output=True, text=True, env=_env(home), timeout=30,
        check=True,
    )
    import json

    return str(json.loads(result.stdout)["id"]), file


#: The person's side records the screen it shows in chunks of a few seconds: how many
#: depends on how long the session took, and the last may follow its end (before the
#: receipt). The story of a session is told without them (`recording=True` keeps them).
RECORDING = "recording.chunk"


def _events(home: Path, prefix: str = "session:", *,
            recording: bool = False) -> list[RecordedEvent]:
    with EventStore.open(Home.at(home)) as store:
        assert verify_log(store).ok
        return [event for event in store.iter_events(stream_prefix=prefix)
                if recording or event.type != RECORDING]


def _chat_text(home: Path, event: RecordedEvent) -> str | None:
    """A chat message's text: the log holds it sealed with its session's key."""
    from ra.sealed_chat import ChatReader
    from ra.session_keys import SessionKeys

    assert set(event.payload["text"]) == {"sealed"}, event.payload  # never in the clear
    return ChatReader(SessionKeys(Home.at(home))).read(event).text


def _types(home: Path, prefix: str = "session:") -> list[str]:
    return [event.type for event in _events(home, prefix)]



class RawHelper:
    """A helper written by hand on a real channel, for tests that misbehave on purpose:
    `read` keeps what the person sends (heartbeats aside) in `received` and the inbox,
    `beat` sends a heartbeat every second, `expect` waits for a message by its fields."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.received: list[dict[str, Any]] = []
        self.bye = asyncio.Event()  # set once the person's side has closed the channel

    async def read(self) -> None:
        with contextlib.suppress(NetError):
            while True:
                frame = await self.channel.recv()
                if frame.kind is Kind.BYE:
                    break
                if frame.kind is Kind.JSON and frame.message is not None:
                    if frame.message.get("type") != "heartbeat":
                        self.received.append(frame.message)
                        self.inbox.put_nowait(frame.message)
        self.bye.set()

    async def beat(self) -> None:
        with contextlib.suppress(NetError):
            while True:
                await self.channel.send_json({"type": "heartbeat"})
                await asyncio.sleep(1.0)

    async def expect(self, kind: str, timeout: float = T, **fields: Any) -> dict[str, Any]:
        while True:
            message = await asyncio.wait_for(self.inbox.get(), timeout)
            if message.get("type") == kind and all(
                    message.get(key) == value for key, value in fields.items()):
                return message

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RawHelper]:
        """Reading and beating for the block; then both stop and the channel closes."""
        tasks = [asyncio.create_task(self.read()), asyncio.create_task(self.beat())]
        try:
            yield self
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.channel.close()

@pytest.fixture(autouse=True)
def screen(display: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ra ask` shares a real (virtual) display: without one a session is chat only."""
    monkeypatch.setenv("DISPLAY", display.name)


@pytest.fixture
def homes(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "person", tmp_path / "helper"


@pytest.fixture
def children() -> Iterator[list[pexpect.spawn]]:
    spawned: list[pexpect.spawn] = []
    yield spawned
    stop(spawned)


def _start(homes: tuple[Path, Path], tmp: Path, children: list[pexpect.spawn],
           password: str = PASSWORD,
           name: str = HELPER_NAME) -> tuple[str, pexpect.spawn, pexpect.spawn]:
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp)
    person = _spawn(person_home, "ask", inv_id, "--terminal", "--host", "127.0.0.1")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    helper = _spawn(helper_home, "connect", str(file), "--password-stdin", "--no-browser",
                    "--name", name)
    children.append(helper)
    helper.sendline(password)
    return inv_id, person, helper


def _to_viewing(person: pexpect.spawn, helper: pexpect.spawn) -> None:
    person.expect("asks to see your screen")
    person.expect("Only allow someone you contacted yourself")
    person.expect("Answer y")
    person.sendline("y")
    person.expect("can now see your screen")
    helper.expect("lets you see the screen")


def _exit_code(child: pexpect.spawn, timeout: float = T) -> int:
    child.expect(pexpect.EOF, timeout=timeout)
    child.close()
    assert child.exitstatus is not None, child.signalstatus
    return int(child.exitstatus)


def test_full_session(homes: tuple[Path, Path], tmp_path: Path,
                      children: list[pexpect.spawn]) -> None:
    person_home, helper_home = homes
    _, person, helper = _start(homes, tmp_path, children)
    _to_viewing(person, helper)

    helper.sendline("/control")
    person.expect("asks to control your mouse and keyboard")
    person.expect("Answer y")
    person.sendline("y")
    person.expect("now controls your mouse and keyboard")
    helper.expect("you now control Alice's mouse and keyboard")

    person.sendline("/release")
    person.expect("you have control again")
    helper.expect("took control back")

    helper.sendline("/control")
    person.expect("asks to control your mouse and keyboard")
    person.expect("Answer y")
    person.sendline("n")
    person.expect("may not control your computer \\(declined\\)")
    helper.expect("did not allow control \\(declined\\)")

    helper.sendline("hello from the helper")
    person.expect(r"Bob \(IT\): hello from the helper")
    person.sendline("hi, thanks for coming")
    helper.expect("Alice: hi, thanks for coming")

    helper.sendline("/disconnect")
    helper.expect("you ended the session")
    person.expect("ended the session")
    assert _exit_code(helper) == 0
    assert _exit_code(person) == 0

    common = [
        "session.connected", "session.authenticated", "consent.requested", "consent.granted",
        "view.started", "control.requested", "consent.requested", "consent.granted",
        "control.granted", "control.released", "control.requested", "consent.requested",
        "consent.denied", "control.denied", "chat.message", "chat.message",
        "session.disconnected", "session.receipt",
    ]
    assert _types(person_home) == common
    assert _types(helper_home) == common
    person_events = _events(person_home)
    helper_events = _events(helper_home)
    assert person_events[0].stream == helper_events[0].stream  # the shared session id
    assert person_events[-2].payload == {"by": "helper", "reason": "helper"}
    assert helper_events[-2].payload == {"by": "helper", "reason": "helper"}
    # Each side keeps its own signed receipt and the peer's: they cross-match.
    person_receipt, helper_receipt = person_events[-1].payload, helper_events[-1].payload
    assert person_receipt["peer"] == helper_receipt["mine"]
    assert helper_receipt["peer"] == person_receipt["mine"]
    assert person_receipt["mine"]["role"] == "person"
    # The person's side recorded the screen it showed, and its receipt covers the chunks.
    person_all = _events(person_home, recording=True)
    assert RECORDING in [e.type for e in person_all]
    assert RECORDING not in [e.type for e in _events(helper_home, recording=True)]
    assert person_receipt["mine"]["events"] == len(person_all) - 1
    assert _types(person_home, "invitation:")[-2:] == ["invitation.opened",
                                                       "invitation.accepted"]


def _ending(home: Path, *, peer_receipt: bool = True) -> Any:
    """The session's last event before its receipt, which must close the stream."""
    events = _events(home)
    assert events[-1].type == "session.receipt"
    assert (events[-1].payload["peer"] is not None) == peer_receipt
    return events[-2]


def test_wrong_password(homes: tuple[Path, Path], tmp_path: Path,
                        children: list[pexpect.spawn]) -> None:
    person_home, _ = homes
    _, person, helper = _start(homes, tmp_path, children, password="not the password at all")
    helper.expect("password was not accepted")
    assert _exit_code(helper) != 0
    person.expect("a wrong password was tried from 127.0.0.1")
    person.kill(signal.SIGINT)
    person.expect("stopped waiting")
    assert _exit_code(person) == 0
    failures = [e for e in _events(person_home, "invitation:") if e.type == "auth.failed"]
    assert len(failures) == 1
    assert failures[0].payload["origin"] == "127.0.0.1"
    assert failures[0].origin == "127.0.0.1"
    assert _types(person_home) == []


def test_expire_ends_live_session(homes: tuple[Path, Path], tmp_path: Path,
                                  children: list[pexpect.spawn]) -> None:
    person_home, helper_home = homes
    inv_id, person, helper = _start(homes, tmp_path, children)
    _to_viewing(person, helper)
    subprocess.run([sys.executable, "-m", "ra", "invite", "expire", inv_id],
                   env=_env(person_home), capture_output=True, timeout=30, check=True)
    started = time.monotonic()
    person.expect("the invitation has ended", timeout=5)
    assert time.monotonic() - started < 2.5
    helper.expect("ended")
    assert _exit_code(person) == 0
    assert _exit_code(helper) == 0
    last = _ending(person_home)
    assert last.type == "session.disconnected"
    assert last.payload["reason"] == "invitation ended"
    assert _ending(helper_home).payload["reason"] == "invitation ended"


def test_helper_killed_is_a_network_disconnect(homes: tuple[Path, Path], tmp_path: Path,
                                               children: list[pexpect.spawn]) -> None:
    person_home, _ = homes
    _, person, helper = _start(homes, tmp_path, children)
    _to_viewing(person, helper)
    helper.kill(signal.SIGKILL)
    person.expect("lost the connection", timeout=12)
    assert _exit_code(person) == 0
    last = _ending(person_home, peer_receipt=False)
    assert last.type == "session.disconnected"
    assert last.payload["reason"] == "network"


def test_ctrl_c_in_session_disconnects_cleanly(homes: tuple[Path, Path], tmp_path: Path,
                                               children: list[pexpect.spawn]) -> None:
    person_home, helper_home = homes
    _, person, helper = _start(homes, tmp_path, children)
    _to_viewing(person, helper)
    person.kill(signal.SIGINT)
    person.expect("you ended the session")
    helper.expect("Alice ended the session")
    assert _exit_code(person) == 0
    assert _exit_code(helper) == 0
    assert _ending(person_home).payload == {"by": "person", "reason": "user"}
    assert _ending(helper_home).payload == {"by": "person", "reason": "user"}


def test_connect_refuses_a_bad_file(homes: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.rainvitation"
    bad.write_text("{not an invitation")
    result = subprocess.run(
        [sys.executable, "-m", RUNNER, "connect", str(bad), "--password-stdin", "--no-browser"],
        input=PASSWORD + "\n", capture_output=True, text=True, env=_env(homes[1]), timeout=30,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ra: "), result.stderr
