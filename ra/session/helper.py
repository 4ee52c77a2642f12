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

import contextlib
import functools
import getpass
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ra import config
from ra.config import remember_helper_name
from ra.ctrl_c import on_ctrl_c
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
from ra.session.inbox import Inbox, Input
from ra.viewer import ViewerServer
from ra.viewer.opener import launch_browser, private_folder, remove_opener, write_opener
from ra.viewer.server import clean_monitors
from ra.vocabulary import MAX_CHAT

_log = get_logger("ra.session")

PAGE_FLUSH_S = 1.0
"""At the end, how long the viewer page may take to be sent what is left for it."""


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
    """The helper's `Viewer`: between the browser page and the session.

    It is made before the driver, with the engine whose inputs the page's
    buttons, chat and input become and the inbox they go through; it is
    started (`start`) before the session and closed (`close`) after it, once
    the page has been sent what was left for it (the last status).
    """

    def __init__(self, invitation: Invitation, engine: SessionEngine, inbox: Inbox) -> None:
        self.invitation = invitation
        self.engine = engine
        self.inbox = inbox
        self.server = ViewerServer(self._from_page, on_connect=self._page_connected)
        #: The opener file that holds the page's address (deleted once the page is up).
        self.opener: Path | None = None
        self._state = ""

    async def start(self, home: Home) -> Path:
        """Start the viewer; the path of its opener file (0600, in the user's runtime folder)."""
        url = await self.server.start()
        await self.server.send_json({"type": "info", "name": inert(self.invitation.name),
                                     "message": inert(self.invitation.message)})
        self.opener = write_opener(url, private_folder(home.root))
        return self.opener

    async def _page_connected(self) -> None:
        remove_opener(self.opener)  # the token is used up: the file is of no more use
        await self.inbox.ask({"type": "screen.refresh"})  # the page starts blank

    # -- what the driver shows -----------------------------------------------------------

    async def show_screen(self, update: bytes, taken: Callable[[bool], None]) -> None:
        await self.server.send_screen(update, taken)

    async def show_monitors(self, message: dict[str, Any]) -> None:
        """The person's ``screen.monitors``: checked, then shown on the page."""
        cleaned = clean_monitors(message)
        if cleaned is None:
            _log.info("session.screen_message.ignored", message_type="screen.monitors",
                      reason="malformed")
            return
        await self.server.send_json(cleaned)

    async def performed(self, outputs: Sequence[Output], by_viewer: bool) -> None:
        """Push what changed to the page: the state, and the chat it does not show yet
        (the person's, and the helper's unless typed on the page)."""
        for out in outputs:
            if isinstance(out, Record) and out.event.type == "chat.message":
                sender = out.event.payload.get("from")
                if sender == "person" or not by_viewer:
                    name = self.invitation.name if sender == "person" else "You"
                    await self.server.send_json({
                        "type": "chat", "from": inert(name, NAME_SHOWN),
                        "text": inert(out.event.payload.get("text"), MAX_CHAT)})
        state = self.engine.state.value
        if state != self._state:
            self._state = state
            await self.server.send_json({"type": "status", "state": state})

    # -- what the page asks --------------------------------------------------------------

    async def _from_page(self, message: dict[str, Any]) -> None:
        request = self._request(message)
        if request is not None:
            await self.inbox.ask(request)

    def _request(self, message: dict[str, Any]) -> Input | dict[str, Any] | None:
        """The engine input a page message means, or the screen message it asks to send."""
        engine = self.engine
        kind = message.get("type")
        if kind == "control.request":
            return engine.control_clicked
        if kind == "control.release":  # the page's button, or Esc pressed in the page
            via = "esc" if message.get("via") == "esc" else "button"
            return functools.partial(engine.release_clicked, via=via)
        if kind == "disconnect":
            return engine.disconnect_clicked
        if kind == "chat":
            return functools.partial(engine.chat, str(message.get("text", "")))
        if kind == "input" and isinstance(message.get("event"), dict):
            return functools.partial(engine.local_input, message["event"])
        if kind == "screen.refresh":
            return {"type": "screen.refresh"}
        if kind == "screen.monitor" and isinstance(message.get("monitor"), int):
            return {"type": "screen.monitor", "monitor": message["monitor"]}
        return None

    async def close(self) -> None:
        """Let the page have what is queued for it (at most `PAGE_FLUSH_S`), then close."""
        remove_opener(self.opener)
        with contextlib.suppress(Exception):
            await self.server.flush(PAGE_FLUSH_S)
        with contextlib.suppress(Exception):
            await self.server.close()


@dataclass(frozen=True)
class Connect:
    """`ra connect`: reach the person with `invitation` and `password`, as `name`
    (default: the local user's), and run the helper's side of one session.

    `run` is its whole life. It makes each part once, in order: the channel,
    the engine, the inbox, the viewer (with `viewer`; its opener file goes to
    `on_viewer`, and with `open_browser` the browser is started on it and not
    waited for), then the driver; and closes them in the reverse order.
    """

    home: Home
    invitation: Invitation
    password: str
    terminal: Terminal
    name: str | None = None
    viewer: bool = True
    open_browser: bool = True
    on_viewer: Callable[[Path], None] | None = None

    async def run(self) -> str:
        """Run until the session ends; why it ended."""
        signer = HelperSigner(self.name or local_name(), load_identity(self.home).signing_key)
        me = signer.identity
        terminal, invitation = self.terminal, self.invitation
        terminal.show(f"you are {me.name}, key {format_fingerprint(me.fingerprint)}")
        terminal.show(f"connecting to {invitation.name} ...")
        channel = await connect(invitation, self.password, signer)
        terminal.show(f"connected to {channel.peer}")
        with EventStore.open(self.home) as store:
            apply_retention(store, self.home)  # [retention] chat, as every start that writes
            engine = SessionEngine("helper", me.name, label=channel.session_id[:8],
                                   key=me.fingerprint)
            inbox = Inbox()
            bridge = ViewerBridge(invitation, engine, inbox) if self.viewer else None
            try:
                if bridge is not None:
                    opener = await bridge.start(self.home)
                    if self.on_viewer is not None:
                        self.on_viewer(opener)
                    if self.open_browser:
                        launch_browser(opener)
                driver = SessionDriver(engine, channel, store, channel.session_id, terminal,
                                       viewer=bridge, inbox=inbox, receipt_key=signer.key,
                                       peer_origin=channel.peer)
                with on_ctrl_c(driver.disconnect_soon):
                    return await driver.run(
                        [functools.partial(_connected, engine, invitation.name),
                         engine.authenticated])
            finally:
                inbox.close()
                if bridge is not None:
                    await bridge.close()
                if not channel.closed:
                    await channel.close()
                store.checkpoint()


def _connected(engine: SessionEngine, person: str, now: float) -> list[Output]:
    return engine.connected(person, now)


__all__ = ["Connect", "ViewerBridge", "helper_name", "local_name"]
