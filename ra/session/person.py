"""The person's side: wait for a helper on an open invitation, then run one session.

`ask` serves the chosen invitations (each on its port, or all on ``port``)
on the addresses they carry (or ``host``), never on every address at once;
an address that cannot be bound is said and skipped. It checks each helper
against the log (`Invitations.check_usable`, and no second session on an
invitation already in one), records ``auth.failed`` for wrong
passwords, and for the first helper who proves the password records
``invitation.opened`` + ``invitation.accepted`` and runs the person's engine.
While the session runs it follows the log every second: an invitation
expired, revoked, deleted or locked meanwhile (from another terminal) ends
the session. Ctrl-C ends a running session as ``/disconnect`` does, or stops
waiting. The log gets a signed checkpoint at the end.

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
from collections.abc import Callable, Coroutine, Mapping, Sequence
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
from ra.net.addresses import bind_problem, listen_hosts
from ra.net.transport import format_address
from ra.session.desktop import X11Desktop
from ra.session.driver import Desktop, SessionDriver, Terminal

WATCH_S = 1.0
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


def _listen_plan(views: Sequence[InvitationView], host: str | Sequence[str] | None,
                 port: int | None, terminal: Terminal) -> dict[int, list[str]]:
    """For each port, the addresses to listen on: those the invitations carry
    (or ``host``), each checked; one that cannot be bound is said and skipped."""
    wanted: dict[int, list[str]] = {}
    for view in views:
        one = view.port if port is None else port
        carried = view.addresses if host is None else [host] if isinstance(host, str) else host
        hosts = wanted.setdefault(one, [])
        hosts += [h for h in listen_hosts(carried) if h not in hosts]
    plan: dict[int, list[str]] = {}
    for one, hosts in sorted(wanted.items()):
        usable = []
        for address in hosts:
            problem = bind_problem(address, one) if one else None
            if problem is None:
                usable.append(address)
            else:
                terminal.show(f"cannot listen on {format_address(address, one)}: {problem}")
        if not usable:
            raise RaError(
                f"nowhere to listen on port {one}: no address the invitation carries can be "
                "used; run `ra doctor`, then create a new invitation"
            )
        plan[one] = usable
    return plan


async def ask_async(
    home: Home,
    invitation_id: str | None,
    *,
    host: str | Sequence[str] | None,
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

        servers: list[asyncio.Server] = []
        try:
            for one, hosts in _listen_plan(views, host, port, terminal).items():
                server = await serve(hosts, one, identity, secret_for=secret_for, check=check,
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

            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGINT, interrupted)
            try:
                await finished.wait()
            finally:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signal.SIGINT)
        except OSError as exc:
            raise RaError(f"cannot listen for helpers: {exc.strerror or exc}") from None
        finally:
            for server in servers:
                server.close()
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

    def on_keymap_change() -> None:  # called on the Esc watcher's thread
        def feed() -> None:
            driver = current()
            if driver is not None and not driver.done:
                driver.feed_soon(engine.keymap_changed)

        loop.call_soon_threadsafe(feed)

    return X11Desktop(display, send_screen, on_esc, send_json=send_json,
                      on_keymap_change=on_keymap_change)


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
