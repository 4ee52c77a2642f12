"""The person's side: wait for a helper on an open invitation, then run one session.

`ask` serves the chosen invitations (each on its port, or all on ``port``),
checks each helper against the log (`Invitations.check_usable`, and no second
session on an invitation already in one), records ``auth.failed`` for wrong
passwords, and for the first helper who proves the password records
``invitation.opened`` + ``invitation.accepted`` and runs the person's engine.
While the session runs it follows the log every second: an invitation
expired, revoked, deleted or locked meanwhile (from another terminal) ends
the session. Ctrl-C ends a running session as ``/disconnect`` does, or stops
waiting; a helper that stops reading cannot hold it: the connection is
dropped `STOP_GRACE_S` seconds after Ctrl-C if it is still open. Connections
still before their password are dropped at exit (`ra.net.Listener.close`).
The log gets a signed checkpoint at the end.

``RA_CONSENT_TIMEOUT_S`` (for tests): a whole number of seconds from 1 to 60
that replaces the engine's 60 s consent timeout. It can only shorten the wait
for the person's answer, and a timeout is a denial ("timed out"): nothing
skips or answers the prompt. Any other value (not a whole number, below 1,
above 60) is ignored and the default applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from ra.engine import Output, SessionEngine
from ra.engine.session import CONSENT_TIMEOUT_S
from ra.errors import RaError
from ra.events import Actor, EventStore
from ra.home import Home
from ra.identity import load_identity
from ra.invitations import parse_invitation
from ra.invitations.service import Invitations, InvitationView
from ra.logs import get_logger
from ra.net import Channel, InvitationSecret, Kind, NetError, serve
from ra.net.transport import Listener, format_address
from ra.session.desktop import X11Desktop
from ra.session.driver import Desktop, SessionDriver, Terminal

WATCH_S = 1.0
STOP_GRACE_S = 3.0
"""After Ctrl-C, the session's connection is dropped if it is still open this much later."""
CONSENT_TIMEOUT_ENV = "RA_CONSENT_TIMEOUT_S"
UNAUTHENTICATED_HELPER = Actor("helper", "unknown")

_log = get_logger("ra.session")


class NothingToServe(RaError):
    """`ra ask` has no open invitation to wait on."""


class InvitationBusy(RaError):
    """A second helper tried an invitation that is already in a session."""


@dataclass
class AskResult:
    """What happened: the session's id and why it ended (None if none ran)."""

    session_id: str | None = None
    reason: str | None = None
    addresses: list[str] = field(default_factory=list)


def consent_timeout(environ: Mapping[str, str] | None = None) -> int:
    """The consent timeout: ``RA_CONSENT_TIMEOUT_S`` if it shortens it, else 60 s."""
    raw = (os.environ if environ is None else environ).get(CONSENT_TIMEOUT_ENV)
    if raw is None:
        return CONSENT_TIMEOUT_S
    try:
        value = int(raw.strip())
    except ValueError:
        return CONSENT_TIMEOUT_S
    return value if 1 <= value <= CONSENT_TIMEOUT_S else CONSENT_TIMEOUT_S


def _choose(service: Invitations, invitation_id: str | None) -> list[InvitationView]:
    if invitation_id is not None:
        view = service.get(invitation_id)
        if view.ended:
            raise NothingToServe(
                f"invitation {view.id[:8]} has ended ({view.status.value}); "
                "create a new one with `ra invite create`"
            )
        return [view]
    views = service.list()
    if not views:
        raise NothingToServe("no open invitation: create one with `ra invite create`")
    return views


async def ask_async(
    home: Home,
    invitation_id: str | None,
    *,
    host: str,
    port: int | None,
    terminal: Terminal,
    desktop: Desktop | None = None,
    display: str | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> AskResult:
    identity = load_identity(home)
    loop = asyncio.get_running_loop()
    result = AskResult()
    with EventStore.open(home) as store:
        service = Invitations(store, home)
        views = _choose(service, invitation_id)
        served = {view.id for view in views}
        busy: set[str] = set()
        finished = asyncio.Event()
        driver: SessionDriver | None = None
        failure: list[Exception] = []

        def check(inv_id: str, origin: str) -> None:
            if inv_id not in served:
                raise InvitationBusy("this invitation is not offered here")
            if inv_id in busy or driver is not None:
                raise InvitationBusy("the person is already in a session")
            service.check_usable(inv_id, origin)

        def secret_for(inv_id: str) -> InvitationSecret:
            view = service.fold(inv_id)
            invitation = parse_invitation(view.file_text.encode("utf-8"), check_expiry=False)
            return InvitationSecret(invitation, service.pake_secret(inv_id))

        def on_auth_failed(inv_id: str, origin: str) -> None:
            service.record_auth_failure(service.fold(inv_id), origin, UNAUTHENTICATED_HELPER)
            terminal.show(f"a wrong password was tried from {origin}")

        async def on_authenticated(channel: Channel, inv_id: str, origin: str) -> None:
            nonlocal driver
            if inv_id in busy or driver is not None:
                return  # lost the race to another helper; serve closes the channel
            busy.add(inv_id)
            try:
                view = service.check_usable(inv_id, origin)
                helper = Actor("helper", origin)
                view = service.record_open(view, origin, helper)
                session_id = channel.session_id
                service.record_accept(view, origin, session_id, helper)
                engine = SessionEngine("person", view.name, label=session_id[:8],
                                       consent_timeout_s=consent_timeout())
                screen = None
                if desktop is None and display:
                    screen = _x11_desktop(display, channel, engine, lambda: driver)
                driver = SessionDriver(engine, channel, store, session_id, terminal,
                                       desktop or screen, receipt_key=identity.signing_key,
                                       on_screen_ack=screen.on_ack if screen else None,
                                       on_screen_refresh=(screen.request_keyframe
                                                          if screen else None),
                                       on_screen_monitor=(screen.select_monitor
                                                          if screen else None),
                                       peer_origin=origin)
                result.session_id = session_id
                try:
                    result.reason = await driver.run(
                        [lambda now: engine.connected(origin, now), engine.authenticated],
                        [_follow(service, inv_id)],
                    )
                finally:
                    if screen is not None:
                        screen.close()
            except Exception as exc:  # serve would only log it: end `ra ask` with it
                failure.append(exc)
                raise
            finally:
                finished.set()

        servers: list[Listener] = []
        try:
            ports = {view.port for view in views} if port is None else {port}
            for one in sorted(ports):
                server = await serve(host, one, identity, secret_for=secret_for, check=check,
                                     on_auth_failed=on_auth_failed,
                                     on_authenticated=on_authenticated)
                servers.append(server)
                for sock in server.sockets:
                    if sock.family in (socket.AF_INET, socket.AF_INET6):
                        bound = sock.getsockname()
                        address = format_address(str(bound[0]), int(bound[1]))
                        result.addresses.append(address)
                        if on_listening is not None:
                            on_listening(address)

            def interrupted() -> None:
                if driver is not None and not driver.done:
                    driver.feed_soon(lambda now: driver.engine.local_command("/disconnect", now)
                                     if driver is not None else [])
                elif driver is None:
                    finished.set()
                if driver is not None:  # a helper that reads nothing cannot hold the exit
                    loop.call_later(STOP_GRACE_S, driver.channel.abort)

            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGINT, interrupted)
            try:
                await finished.wait()
            finally:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signal.SIGINT)
        except OSError as exc:
            raise RaError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        finally:
            for server in servers:
                server.close()
            for server in servers:
                await server.wait_closed()
            store.checkpoint()
    if failure:
        error = failure[0]
        if isinstance(error, RaError):
            raise error
        raise RaError(f"the session failed: {type(error).__name__}: {error}") from error
    return result


def _x11_desktop(
    display: str,
    channel: Channel,
    engine: SessionEngine,
    current: Callable[[], SessionDriver | None],
) -> X11Desktop:
    """The real screen and input of `display`, wired to this session's channel and engine."""
    loop = asyncio.get_running_loop()

    async def send_screen(update: bytes) -> None:
        await channel.send_frame(Kind.SCREEN, update)

    async def send_json(message: dict[str, Any]) -> None:  # screen.monitors
        if channel.closed:
            return
        try:
            await channel.send_json(message)
        except NetError as exc:  # the reader sees the broken connection
            _log.info("session.send_failed", reason=str(exc))

    def on_esc() -> None:  # called on the Esc watcher's thread
        def feed() -> None:
            driver = current()
            if driver is not None and not driver.done:
                driver.feed_soon(engine.esc_pressed)

        loop.call_soon_threadsafe(feed)

    return X11Desktop(display, send_screen, on_esc, send_json=send_json)


def _ended(engine: SessionEngine, reason: str, now: float) -> list[Output]:
    return engine.invitation_ended(reason, now)


Watcher = Callable[[SessionDriver], Coroutine[Any, Any, None]]


def _follow(service: Invitations, inv_id: str) -> Watcher:
    """A watcher: every second, end the session if the invitation has ended."""

    async def watch(driver: SessionDriver) -> None:
        while not driver.done:
            await asyncio.sleep(WATCH_S)
            try:
                view = service.get(inv_id)
            except RaError as exc:  # deleted from under us reads as not found
                reason = str(exc)
            else:
                if not view.ended:
                    continue
                reason = view.status.value
            await driver.feed(functools.partial(_ended, driver.engine, reason))
            return

    return watch


__all__ = ["AskResult", "InvitationBusy", "NothingToServe", "ask_async", "consent_timeout"]
