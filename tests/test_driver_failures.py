"""No task of a session dies silently: a failure while handling the peer's message is
recorded as the session's ending, the peer is told, and the session closes at once.

A real person's `SessionDriver` over real TLS on loopback with a real SQLite log; the
helper is a raw client. The person's screen and input adapter is one whose X display
went away: `inject` raises `DisplayError`, which `X11Desktop` lets through.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from support import expect_message
from test_net_handshake import HELPER, LOOPBACK, PASSWORD, make_invitation

from ra.desktop.keys import DisplayError
from ra.engine import SessionEngine
from ra.events import EventStore
from ra.home import Home
from ra.identity import load_identity
from ra.invitations.keystore import derive_pake_secret
from ra.net import Channel, InvitationSecret, connect, serve
from ra.session.driver import SessionDriver, Terminal

T = 10.0


class GoneDisplay:
    """The person's desktop after its X server went away: input cannot be injected."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start_streaming(self) -> None:
        self.calls.append("start_streaming")

    def stop_streaming(self) -> None:
        self.calls.append("stop_streaming")

    def enable_input(self) -> None:
        self.calls.append("enable_input")

    def disable_input(self) -> None:
        self.calls.append("disable_input")

    def inject(self, event: dict[str, Any]) -> None:
        raise DisplayError("X display :99 failed: connection lost")


def test_a_failure_in_the_reader_ends_the_session_recorded(tmp_path: Path) -> None:
    home = Home.at(tmp_path / "person")
    identity = load_identity(home)
    desktop = GoneDisplay()
    drivers: list[SessionDriver] = []
    result: dict[str, Any] = {}

    async def scenario() -> None:
        ended = asyncio.Event()
        with EventStore.open(home) as store:
            invitation_of: dict[str, InvitationSecret] = {}

            async def on_authenticated(channel: Channel, inv_id: str, origin: str) -> None:
                engine = SessionEngine("person", "alice")
                driver = SessionDriver(engine, channel, store, channel.session_id,
                                       Terminal(out=io.StringIO(), inp=io.StringIO()),
                                       desktop, peer_origin=origin)
                drivers.append(driver)
                try:
                    result["reason"] = await driver.run(
                        [lambda now: engine.connected(origin, now), engine.authenticated])
                finally:
                    ended.set()

            server = await serve(
                LOOPBACK, 0, identity,
                secret_for=lambda inv_id: invitation_of[inv_id],
                check=lambda inv_id, origin: None,
                on_auth_failed=lambda inv_id, origin: None,
                on_authenticated=on_authenticated,
            )
            try:
                invitation = make_invitation(identity, server.sockets[0].getsockname()[1])
                invitation_of[invitation.invitation_id] = InvitationSecret(
                    invitation, derive_pake_secret(PASSWORD, invitation.pake))
                channel = await connect(invitation, PASSWORD, HELPER)
                await expect_message(channel, "consent", scope="view", status="requested")
                driver = drivers[0]
                engine = driver.engine
                await driver.feed(lambda now: engine.consent_answered("view", True, now))
                await channel.send_json({"type": "control.request"})
                await expect_message(channel, "consent", scope="control", status="requested")
                await driver.feed(lambda now: engine.consent_answered("control", True, now))
                await expect_message(channel, "consent", scope="control", status="granted")
                started = asyncio.get_running_loop().time()
                await channel.send_json({"type": "input",
                                         "event": {"kind": "pointer", "x": 5, "y": 6}})
                told = await expect_message(channel, "disconnect")
                result["told"] = told
                result["took"] = asyncio.get_running_loop().time() - started
                await asyncio.wait_for(ended.wait(), T)
                await channel.close()
            finally:
                server.close()
                await server.wait_closed()
            result["events"] = list(store.iter_events(stream_prefix="session:"))

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert result["told"] == {"type": "disconnect", "reason": "error"}
    assert result["took"] < 5.0  # at once, not when the helper would seem silent
    assert result["reason"] == "error"
    events = result["events"]
    assert [e.type for e in events][-2:] == ["control.released", "session.disconnected"]
    # the input was handed to the desktop, which failed: counted (control.released's schema)
    assert events[-2].payload == {"by": "system", "via": "disconnect", "inputs_injected": 1}
    assert events[-1].payload == {"by": "system", "reason": "error",
                                  "detail": "the reader of this session failed (DisplayError)"}
    # Input was revoked after the release was recorded, and nothing else was injected.
    assert desktop.calls[-2:] == ["disable_input", "stop_streaming"]
