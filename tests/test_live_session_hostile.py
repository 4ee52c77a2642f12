"""A hostile helper against a real `ra ask` (the person, on a pty): a raw client in this
process proves the password, then floods, sends a malformed message, or breaks the framing.

Each test keeps its children in the `children` fixture, which kills them at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pexpect
import test_live_session
from test_live_session import PASSWORD, SIGNER, T, _create, _events, _exit_code, _spawn

from ra.engine.session import FLOOD_LIMIT, PEER_TIMEOUT_S
from ra.events import RecordedEvent
from ra.invitations import load_invitation
from ra.net import Kind, NetError, connect
from ra.net.framing import HEADER, PROTOCOL_VERSION

homes = test_live_session.homes  # the fixtures, shared
children = test_live_session.children
screen = test_live_session.screen  # autouse: `ra ask` shares a real display

Homes = tuple[Path, Path]
Children = list[pexpect.spawn]
KEY = {"kind": "key", "key": "q", "code": "KeyQ", "down": True}


Peer = test_live_session.RawHelper  # the raw helper: what it was sent, and when told to go


def _hostile(person_home: Path, tmp_path: Path, children: Children,
             attack: Callable[[Peer], Awaitable[None]]) -> pexpect.spawn:
    """`ra ask` on a pty; a raw helper proves the password, then runs `attack`."""
    inv_id, file = _create(person_home, tmp_path)
    person = _spawn(person_home, "ask", inv_id, "--terminal", "--host", "127.0.0.1")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    invitation = load_invitation(file)

    async def session() -> None:
        channel = await connect(invitation, PASSWORD, SIGNER)
        async with Peer(channel).running() as peer:
            await peer.expect("consent", scope="view", status="requested")
            await attack(peer)

    asyncio.run(asyncio.wait_for(session(), 60))
    return person


def _ending(person_home: Path) -> tuple[list[RecordedEvent], RecordedEvent]:
    events = _events(person_home)
    assert events[-1].type == "session.receipt"
    return events, events[-2]


def test_a_flood_of_input_before_consent_is_counted_and_cut_off(
        homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, _ = homes

    async def flood(peer: Peer) -> None:
        sent = 0
        with contextlib.suppress(NetError):
            for _ in range(10_000):
                await peer.channel.send_json({"type": "input", "event": KEY})
                sent += 1
        print("inputs sent before the person hung up:", sent)
        told = await peer.expect("disconnect")
        assert told == {"type": "disconnect", "reason": "flood"}

    person = _hostile(person_home, tmp_path, children, flood)
    person.expect("kept sending what the session does not allow")
    assert _exit_code(person) == 0

    events, ending = _ending(person_home)
    assert ending.type == "session.disconnected"
    assert ending.payload["reason"] == "flood" and ending.payload["by"] == "system"
    assert str(FLOOD_LIMIT) in ending.payload["detail"]
    rejected = [e for e in events if e.type == "input.rejected"]
    # A handful of events, not one per input; every refusal handled is counted.
    assert 1 <= len(rejected) <= 12, [e.payload for e in rejected]
    assert sum(e.payload["count"] for e in rejected) == FLOOD_LIMIT + 1
    assert all(e.payload["kinds"] == {"key": e.payload["count"]} for e in rejected)
    assert "consent.granted" not in [e.type for e in events]


def test_a_malformed_input_message_is_a_recorded_protocol_error(
        homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, _ = homes
    took: list[float] = []

    async def malformed(peer: Peer) -> None:
        started = time.monotonic()
        await peer.channel.send_json({"type": "input", "event": {"kind": [1]}})
        told = await peer.expect("disconnect")
        took.append(time.monotonic() - started)
        assert told == {"type": "disconnect", "reason": "error"}

    person = _hostile(person_home, tmp_path, children, malformed)
    person.expect("sent something ra does not understand")
    assert _exit_code(person) == 0
    # Promptly: not when the peer would have timed out for silence.
    assert took[0] < PEER_TIMEOUT_S / 2, took

    _, ending = _ending(person_home)
    assert ending.type == "session.disconnected"
    assert (ending.payload["by"], ending.payload["reason"]) == ("system", "error")
    assert "'kind'" in ending.payload["detail"]
    assert ending.outcome == "failure"


def test_bytes_that_break_the_framing_are_a_recorded_protocol_error(
        homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, _ = homes

    async def garbage(peer: Peer) -> None:
        body = b'{"type": "chat", "text": '  # cut short; our own encoder would refuse it
        frame = HEADER.pack(len(body) + 2, PROTOCOL_VERSION, Kind.JSON) + body
        await peer.channel._stream.write(frame)
        await asyncio.wait_for(peer.bye.wait(), T)

    person = _hostile(person_home, tmp_path, children, garbage)
    person.expect("sent something ra does not understand")
    assert _exit_code(person) == 0

    _, ending = _ending(person_home)
    assert ending.type == "session.disconnected"
    assert (ending.payload["by"], ending.payload["reason"]) == ("system", "error")
    assert "not valid JSON" in ending.payload["detail"]
