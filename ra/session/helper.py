"""The helper's side: reach the person with an invitation file, then run one session.

The helper's log is its own RA_HOME: its events go to ``session:<session_id>``
(the public session id both sides share), and a signed checkpoint closes it.

The helper has a name and a key: the name it gives (``ra connect --name``,
remembered in ``RA_HOME/config.toml``, else the local user's name) and the
identity key of its RA_HOME, which also signs its session receipts. Both
are proven to the person in the handshake (`ra.net.handshake`), and both
appear on every event the helper causes, in either log.

The screen is shown in the browser viewer (`ra.viewer`), served on 127.0.0.1
with a one-time token. The browser is given only the path of an opener file
(`ra.viewer.opener`, readable by the user alone) that holds the token, never
the token itself, and is started without waiting for it: a browser command
that does not return cannot hold up the session. The person's screen updates
are handed to the page as they arrive (and acknowledged to the person, which
paces the stream), its buttons, chat and input are fed to the engine like the
terminal's commands, and every state change and chat line from the person is
pushed back to it, inert (`ra.inert`), as are the invitation's name and message.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ra import config
from ra.config import remember_helper_name
from ra.engine import Output, Record, SessionEngine
from ra.engine.session import NAME_SHOWN
from ra.events import EventStore
from ra.fingerprint import format_fingerprint
from ra.forget import apply_retention
from ra.home import Home
from ra.identity import load_identity
from ra.inert import inert
from ra.invitations import Invitation
from ra.logs import get_logger
from ra.net import HelperSigner, connect
from ra.net.handshake import check_name
from ra.session.driver import SessionDriver, Terminal
from ra.statemachines.session import STREAMING
from ra.viewer import ViewerServer
from ra.viewer.opener import launch_browser, private_folder, remove_opener, write_opener
from ra.viewer.server import clean_monitors
from ra.vocabulary import MAX_CHAT

_log = get_logger("ra.session")


def local_name() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return str(os.getuid())


def helper_name(home: Home, given: str | None) -> str:
    """The name this helper gives: `given` (then remembered in config.toml), else
    the remembered one, else the local user's. ValueError if `given` is unfit."""
    if given is not None:
        name = check_name(given)
        remember_helper_name(home, name)
        return name
    remembered = config.helper_name(home)
    if remembered is not None:
        try:
            return check_name(remembered)
        except ValueError as exc:
            raise config.ConfigError(
                f"{config.config_path(home)}: [helper] name: {exc}") from None
    try:
        return check_name(local_name())
    except ValueError:
        return "unknown"


class ViewerBridge:
    """Between the browser viewer and the helper's engine."""

    def __init__(self, invitation: Invitation) -> None:
        self.invitation = invitation
        self.server = ViewerServer(self._from_page, on_connect=self._page_connected)
        self.driver: SessionDriver | None = None
        #: The opener file that holds the page's address (deleted once the page is up).
        self.opener: Path | None = None
        self._state = ""
        self._from_viewer = False

    async def start(self, home: Home) -> Path:
        """Start the viewer; the path of its opener file (0600, in the user's runtime folder)."""
        url = await self.server.start()
        await self.server.send_json({"type": "info", "name": inert(self.invitation.name),
                                     "message": inert(self.invitation.message)})
        self.opener = write_opener(url, private_folder(home.root))
        return self.opener

    async def _page_connected(self) -> None:
        remove_opener(self.opener)  # the token is used up: the file is of no more use
        await self.refresh()

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
        elif kind == "control.release":  # the page's button, or Esc pressed in the page
            via = "esc" if message.get("via") == "esc" else "button"
            await driver.feed(functools.partial(engine.release_clicked, via=via))
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
                        "text": inert(out.event.payload.get("text"), MAX_CHAT)})
        state = self.driver.engine.state.value
        if state != self._state:
            self._state = state
            await self.server.send_json({"type": "status", "state": state})

    async def close(self) -> None:
        remove_opener(self.opener)
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
    on_viewer: Callable[[Path], None] | None = None,
    name: str | None = None,
) -> str:
    """Connect as `name` (default: the local user's), run the helper's engine until
    the session ends; returns why it ended.

    `on_viewer` gets the path of the viewer's opener file; with `open_browser`
    the browser is started on it (and not waited for).
    """
    signer = HelperSigner(name or local_name(), load_identity(home).signing_key)
    me = signer.identity
    terminal.show(f"you are {me.name}, key {format_fingerprint(me.fingerprint)}")
    terminal.show(f"connecting to {invitation.name} ...")
    channel = await connect(invitation, password, signer)
    terminal.show(f"connected to {channel.peer}")
    loop = asyncio.get_running_loop()
    bridge = ViewerBridge(invitation) if viewer else None
    with EventStore.open(home) as store:
        apply_retention(store, home)  # [retention] chat, as every start that writes the log
        try:
            if bridge is not None:
                opener = await bridge.start(home)
                if on_viewer is not None:
                    on_viewer(opener)
                if open_browser:
                    launch_browser(opener)
            engine = SessionEngine("helper", me.name, label=channel.session_id[:8],
                                   key=me.fingerprint)
            driver = SessionDriver(
                engine, channel, store, channel.session_id, terminal,
                receipt_key=signer.key,
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


__all__ = ["ViewerBridge", "connect_async", "helper_name", "local_name"]
