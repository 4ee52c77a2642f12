"""The helper's side: reach the person with an invitation file, then run one session.

The helper's log is its own RA_HOME: its events go to ``session:<session_id>``
(the public session id both sides share), and a signed checkpoint closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal

from ra.engine import SessionEngine
from ra.events import EventStore
from ra.home import Home
from ra.identity import load_identity
from ra.invitations import Invitation
from ra.net import connect
from ra.session.driver import SessionDriver, Terminal


def local_name() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return str(os.getuid())


async def connect_async(
    home: Home, invitation: Invitation, password: str, *, terminal: Terminal
) -> str:
    """Connect, run the helper's engine until the session ends; returns why it ended."""
    terminal.show(f"connecting to {invitation.name} ...")
    channel = await connect(invitation, password)
    loop = asyncio.get_running_loop()
    with EventStore.open(home) as store:
        try:
            engine = SessionEngine("helper", local_name(), label=channel.session_id[:8])
            driver = SessionDriver(engine, channel, store, channel.session_id, terminal,
                                   receipt_key=load_identity(home).signing_key)

            def interrupted() -> None:
                if not driver.done:
                    driver.feed_soon(lambda now: engine.local_command("/disconnect", now))

            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGINT, interrupted)
            try:
                return await driver.run(
                    [lambda now: engine.connected(invitation.name, now), engine.authenticated]
                )
            finally:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signal.SIGINT)
        finally:
            if not channel.closed:
                await channel.close()
            store.checkpoint()


__all__ = ["connect_async", "local_name"]
