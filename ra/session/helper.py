"""The helper's side: reach the person with an invitation file, then run one session.

The helper's log is its own RA_HOME: its events go to ``session:<session_id>``
(the public session id both sides share), and a signed checkpoint closes it.

The screen is shown in the browser viewer (`ra.viewer`), served on 127.0.0.1
with a one-time token: the person's screen updates are handed to it as they
arrive (and acknowledged to the person, which paces the stream), its buttons,
chat and input are fed to the engine like the terminal's commands, and every
state change and chat line from the person is pushed back to it, inert
(`ra.inert`), as are the invitation's name and message.

Screen choices: whenever the page connects (it starts blank), and when it asks
(its Refresh button), the person is asked for a full frame (``screen.refresh``);
the person's monitors (``screen.monitors``) are shown on the page, and the
page's choice goes back to the person (``screen.monitor``). These are driver
messages, not engine inputs, and only flow while the screen is streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import os
import signal
import webbrowser
from collections.abc import Callable, Sequence
from typing import Any

from ra.engine import Output, Record, SessionEngine
from ra.engine.messages import MAX_TEXT
from ra.engine.session import NAME_SHOWN
from ra.events import EventStore
from ra.home import Home
from ra.identity import load_identity
from ra.inert import inert
from ra.invitations import Invitation
from ra.logs import get_logger
from ra.net import connect
from ra.session.driver import SessionDriver, Terminal
from ra.statemachines.session import STREAMING
from ra.viewer import ViewerServer
from ra.viewer.server import clean_monitors

_log = get_logger("ra.session")


def local_name() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return str(os.getuid())


class ViewerBridge:
    """Between the browser viewer and the helper's engine."""

    def __init__(self, invitation: Invitation) -> None:
        self.invitation = invitation
        self.server = ViewerServer(self._from_page, on_connect=self.refresh)
        self.driver: SessionDriver | None = None
        self._state = ""
        self._from_viewer = False

    async def start(self) -> str:
        url = await self.server.start()
        await self.server.send_json({"type": "info", "name": inert(self.invitation.name),
                                     "message": inert(self.invitation.message)})
        return url

    async def refresh(self) -> None:
        """Ask the person for a full frame (only while streaming; else nothing)."""
        driver = self.driver
        if driver is not None and not driver.done and driver.engine.state in STREAMING:
            await driver.send_screen_message({"type": "screen.refresh"})

    async def on_monitors(self, message: dict[str, Any]) -> None:
        """The person's ``screen.monitors``: checked, then shown on the page."""
        cleaned = clean_monitors(message)
        if cleaned is None:
            _log.info("session.screen_message.ignored", message_type="screen.monitors",
                      reason="malformed")
            return
        await self.server.send_json(cleaned)

    async def _from_page(self, message: dict[str, Any]) -> None:
        driver = self.driver
        if driver is None or driver.done:
            return
        engine = driver.engine
        kind = message.get("type")
        if kind == "control.request":
            await driver.feed(engine.control_clicked)
        elif kind == "control.release":
            await driver.feed(engine.release_clicked)
        elif kind == "disconnect":
            await driver.feed(engine.disconnect_clicked)
        elif kind == "chat":
            self._from_viewer = True
            try:
                await driver.feed(functools.partial(engine.chat, str(message.get("text", ""))))
            finally:
                self._from_viewer = False
        elif kind == "input" and isinstance(message.get("event"), dict):
            await driver.feed(functools.partial(engine.local_input, message["event"]))
        elif kind == "screen.refresh":
            await self.refresh()
        elif kind == "screen.monitor" and isinstance(message.get("monitor"), int):
            await driver.send_screen_message({"type": "screen.monitor",
                                              "monitor": message["monitor"]})

    async def after(self, outputs: Sequence[Output]) -> None:
        """Push what changed to the page: the state, and the person's chat."""
        assert self.driver is not None
        for out in outputs:
            if isinstance(out, Record) and out.event.type == "chat.message":
                sender = out.event.payload.get("from")
                if sender == "person" or not self._from_viewer:
                    name = self.invitation.name if sender == "person" else "You"
                    await self.server.send_json({
                        "type": "chat", "from": inert(name, NAME_SHOWN),
                        "text": inert(out.event.payload.get("text"), MAX_TEXT)})
        state = self.driver.engine.state.value
        if state != self._state:
            self._state = state
            await self.server.send_json({"type": "status", "state": state})

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.server.close()


async def connect_async(
    home: Home,
    invitation: Invitation,
    password: str,
    *,
    terminal: Terminal,
    viewer: bool = True,
    open_browser: bool = True,
    on_viewer: Callable[[str], None] | None = None,
) -> str:
    """Connect, run the helper's engine until the session ends; returns why it ended."""
    terminal.show(f"connecting to {invitation.name} ...")
    channel = await connect(invitation, password)
    terminal.show(f"connected to {channel.peer}")
    loop = asyncio.get_running_loop()
    bridge = ViewerBridge(invitation) if viewer else None
    with EventStore.open(home) as store:
        try:
            if bridge is not None:
                url = await bridge.start()
                if on_viewer is not None:
                    on_viewer(url)
                if open_browser:
                    await loop.run_in_executor(None, webbrowser.open, url)
            engine = SessionEngine("helper", local_name(), label=channel.session_id[:8])
            driver = SessionDriver(
                engine, channel, store, channel.session_id, terminal,
                receipt_key=load_identity(home).signing_key,
                screen_sink=bridge.server.send_screen if bridge is not None else None,
                after=bridge.after if bridge is not None else None,
                on_screen_monitors=bridge.on_monitors if bridge is not None else None,
                peer_origin=channel.peer,
            )
            if bridge is not None:
                bridge.driver = driver

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
            if bridge is not None:
                await asyncio.sleep(0.2)  # let the page see the last status
                await bridge.close()
            if not channel.closed:
                await channel.close()
            store.checkpoint()


__all__ = ["ViewerBridge", "connect_async", "local_name"]
