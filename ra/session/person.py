"""The person's side: wait for a helper on an open invitation, then run one session.

`ask` serves the chosen invitations, each on the port it carries: the helper
dials what the invitation says, so a ``port`` the invitation does not carry
is refused (`PortNotOffered`), and without an invitation id ``port`` picks
the open invitations that carry it. It listens on the addresses they carry
(or ``host``), never on every address at once; an address that cannot be
bound is said and skipped, and a port it cannot open anywhere is one line
(`CannotListen`: "port 5600 on 192.0.2.7 is in use by another program"). It
checks each helper against the log (`Invitations.check_usable`, and no
second session on an invitation already in one), records ``auth.failed``
for wrong passwords (and for a helper whose key signature does not hold),
and for the first helper who proves the password and its key records
``invitation.opened`` + ``invitation.accepted`` by that helper (its name and
key fingerprint) and runs the person's engine, told what the log knew of
that key and name before (`ra.session.seen`).
Attempts refused during an origin's password back-off are recorded, counted
(``auth.throttled``): the counts still pending are flushed every second while
`ask` serves, and once more when it stops.
While the session runs it follows the log every second: an invitation
expired, revoked, deleted or locked meanwhile (from another terminal) ends
the session. Ctrl-C ends a running session as ``/disconnect`` does, or stops
waiting; a helper that stops reading cannot hold it: the connection is
dropped `STOP_GRACE_S` seconds after Ctrl-C if it is still open. Connections
still before their password are dropped at exit (`ra.net.Listener.close`).
The log gets a signed checkpoint at the end.

Crashes: before anything else, `ask` closes every session its log shows
still open (an `ra ask` killed mid-session never recorded its end): control
held then is released (``control.released``, by the system, via
``disconnect``) and the session ends (``session.disconnected``, by the
system, reason ``crash``), so a grant never outlives the process that held
it. A running `ask` holds a shared lock on ``RA_HOME/ask.lock``; this
clean-up runs only when no other `ask` of the same home is running (it takes
the lock exclusively), so it never closes a live session.

The screen: with ``no_screen``, without a display, or with one that cannot be
opened when the helper arrives, the engine is told why
(``screen_unavailable``) and the session is chat only: no view consent is
asked, nothing is streamed, no control is granted. A display whose capture
fails during the session is reported to the engine (``screen_lost``) the same
way.

The recorded screen: unless ``[recording] screen = false`` in config.toml
(`ra.config.recording_settings`), what is sent to the helper is recorded
(`ra.recording.recorder.ScreenRecorder`, under the session's own key from
`ra.session_keys`), the view question says so, and ``session.authenticated``
records the choice; each chunk written is recorded by the driver as a
``recording.chunk`` event.

With a `window` (`ra.session.window.PersonWindow`), the window is the
person's face instead of the terminal: it lists the invitations while
waiting (Cancel expires one), follows the session through the outputs the
driver performed, and its `WindowGuard` keeps the helper's injected input
off it (refused input goes back to the engine, which records it).

``RA_CONSENT_TIMEOUT_S`` (for tests): a whole number of seconds from 1 to 60
that replaces the engine's 60 s consent timeout. It can only shorten the wait
for the person's answer, and a timeout is a denial ("timed out"): nothing
skips or answers the prompt. Any other value (not a whole number, below 1,
above 60) is ignored and the default applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import signal
import socket
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ra.config import RecordingSettings, recording_settings
from ra.desktop.backend import default_backend, open_backend
from ra.desktop.guard import WindowGuard
from ra.engine import Output, SessionEngine, replay
from ra.engine.session import CONSENT_TIMEOUT_S
from ra.errors import RaError
from ra.events import SYSTEM, Actor, EventStore, NewEvent
from ra.home import Home
from ra.identity import load_identity
from ra.invitations import parse_invitation
from ra.invitations.service import Invitations, InvitationView
from ra.logs import get_logger
from ra.net import Channel, InvitationSecret, Kind, NetError, serve
from ra.net.addresses import bind_error, bind_problem, listen_hosts
from ra.net.transport import Listener, format_address
from ra.recording.chunks import KEY_PURPOSE, ChunkInfo, session_folder
from ra.recording.recorder import ScreenRecorder
from ra.session.desktop import X11Desktop
from ra.session.driver import Desktop, SessionDriver
from ra.session.face import Face
from ra.session.seen import seen_before
from ra.session_keys import SessionKeys
from ra.statemachines.session import SessionState

if TYPE_CHECKING:
    from ra.session.window import PersonWindow

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


class PortNotOffered(RaError):
    """`ra ask --port N` names a port the invitation does not tell the helper to dial.

    The helper connects where the invitation says; listening anywhere else
    would leave them knocking on a closed port.
    """

    exit_code = 2


class CannotListen(RaError):
    """The port cannot be opened: another program holds it, or the address is not ours."""


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


def _choose(service: Invitations, invitation_id: str | None,
            port: int | None = None) -> list[InvitationView]:
    """The invitations to serve: the one named, or every open one; with `port`,
    only those that tell the helper to connect to that port."""
    if invitation_id is not None:
        view = service.get(invitation_id)
        if view.ended:
            raise NothingToServe(
                f"invitation {view.id[:8]} has ended ({view.status.value}); "
                "create a new one with `ra invite create`"
            )
        if port is not None and port != view.port:
            raise PortNotOffered(
                f"invitation {view.id[:8]} tells the helper to connect to port {view.port}, "
                f"not {port}: leave out --port, or make an invitation that carries it with "
                f"`ra invite create --port {port}`"
            )
        return [view]
    views = service.list()
    if not views:
        raise NothingToServe("no open invitation: create one with `ra invite create`")
    if port is not None:
        views = [view for view in views if view.port == port]
        if not views:
            raise PortNotOffered(
                f"no open invitation tells the helper to connect to port {port}: make one "
                f"with `ra invite create --port {port}`"
            )
    return views


LOCK_FILE = "ask.lock"
CLOSED_BY_RECEIPT = "session.receipt"


def _lock(home: Home) -> tuple[int, bool]:
    """Open ``ask.lock`` and take it: exclusively if no other `ask` holds it (True),
    else shared (False). The descriptor keeps the lock until it is closed."""
    home.ensure()
    fd = os.open(home.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return fd, False
    return fd, True


def close_crashed_sessions(store: EventStore) -> list[str]:
    """End every session the log shows still open; their ids, in the order closed.

    Only call this when no other process runs a session on this log.
    """
    streams = [row[0] for row in store.conn.execute(
        "SELECT DISTINCT span_stream FROM events WHERE span_last IS NOT NULL "
        "AND substr(span_stream, 1, 8) = 'session:' ORDER BY span_stream")]
    closed = []
    for stream in streams:
        version = store.stream_version(stream)
        last = store.read_stream(stream, version - 1)
        if last and last[-1].type == CLOSED_BY_RECEIPT:
            continue  # a receipt is written after the end
        state = replay(store.read_stream(stream))
        if state is SessionState.DISCONNECTED:
            continue
        events = []
        if state is SessionState.CONTROLLING:
            events.append(NewEvent("control.released", {"by": "system", "via": "disconnect"},
                                   SYSTEM))
        events.append(NewEvent("session.disconnected", {"by": "system", "reason": "crash"},
                               SYSTEM, "failure"))
        store.append(stream, version, events)
        _log.warning("session.closed_after_crash", session_id=stream.split(":", 1)[1],
                     state=state.value)
        closed.append(stream.split(":", 1)[1])
    return closed


def _listen_plan(views: Sequence[InvitationView], host: str | Sequence[str] | None,
                 port: int | None, terminal: Face) -> dict[int, list[str]]:
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
        if len(hosts) == 1 and not usable:
            raise CannotListen(bind_problem(hosts[0], one) or f"cannot listen on port {one}")
        if not usable:
            raise CannotListen(
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
    terminal: Face,
    desktop: Desktop | None = None,
    display: str | None = None,
    no_screen: bool = False,
    backend: str | None = None,
    on_listening: Callable[[str], None] | None = None,
    window: PersonWindow | None = None,
) -> AskResult:
    lock, alone = _lock(home)
    try:
        return await _ask(home, invitation_id, host=host, port=port, terminal=terminal,
                          desktop=desktop, display=display, no_screen=no_screen,
                          backend=backend, on_listening=on_listening, window=window,
                          recover=alone, lock=lock)
    finally:
        os.close(lock)  # releases the lock


async def _ask(
    home: Home,
    invitation_id: str | None,
    *,
    host: str | Sequence[str] | None,
    port: int | None,
    terminal: Face,
    desktop: Desktop | None,
    display: str | None,
    no_screen: bool,
    backend: str | None,
    on_listening: Callable[[str], None] | None,
    window: PersonWindow | None,
    recover: bool,
    lock: int,
) -> AskResult:
    loop = asyncio.get_running_loop()
    result = AskResult()
    settings = recording_settings(home)  # a config it cannot read stops ask at once
    with EventStore.open(home) as store:
        if recover:  # no other `ask` runs here: an open session is one that crashed
            for session_id in close_crashed_sessions(store):
                terminal.show(f"session {session_id} was still open in the log (ra stopped "
                              "during it): it is now recorded as ended (crash)")
            fcntl.flock(lock, fcntl.LOCK_SH)  # others may run now, and not clean up
        identity = load_identity(home)
        service = Invitations(store, home)
        views = _choose(service, invitation_id, port)
        served = {view.id for view in views}
        if window is not None:
            window.waiting_on(lambda: [v for v in service.list() if v.id in served],
                              lambda inv_id: service.expire(service.get(inv_id)))
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
            view = service.load(inv_id)
            invitation = parse_invitation(view.file_text.encode("utf-8"), check_expiry=False)
            return InvitationSecret(invitation, service.pake_secret(inv_id))

        def on_auth_failed(inv_id: str, origin: str, reason: str) -> None:
            service.record_auth_failure(service.load(inv_id), origin, UNAUTHENTICATED_HELPER,
                                        reason=reason)
            terminal.show(f"a wrong password was tried from {origin}" if reason == "password"
                          else f"a helper from {origin} could not prove its key; refused")

        async def on_authenticated(channel: Channel, inv_id: str, origin: str) -> None:
            nonlocal driver
            if inv_id in busy or driver is not None:
                return  # lost the race to another helper; serve closes the channel
            busy.add(inv_id)
            try:
                view = service.check_usable(inv_id, origin)
                proven = channel.helper
                if proven is None:  # pragma: no cover - accept() always proves one
                    raise RaError("the helper proved no identity")
                helper = Actor("helper", proven.name, proven.fingerprint)
                seen = seen_before(store, proven.name, proven.fingerprint)
                view = service.record_open(view, origin, helper)
                session_id = channel.session_id
                service.record_accept(view, origin, session_id, helper)
                unavailable = None
                if desktop is None:
                    unavailable = await _screen_unavailable(display, no_screen)
                engine = SessionEngine("person", view.name, label=session_id[:8],
                                       consent_timeout_s=consent_timeout(),
                                       screen_unavailable=unavailable,
                                       recording=settings.screen)
                screen = None
                recorder = None
                if window is not None:
                    window.session_started(origin)
                if desktop is None and display and unavailable is None:
                    if settings.screen:
                        recorder = _recorder(home, session_id, settings, lambda: driver)
                    screen = _x11_desktop(display, channel, engine, lambda: driver,
                                          backend or default_backend(),
                                          window.guard if window is not None else None,
                                          recorder)
                driver = SessionDriver(engine, channel, store, session_id, terminal,
                                       desktop or screen, receipt_key=identity.signing_key,
                                       on_screen_ack=screen.on_ack if screen else None,
                                       on_screen_refresh=(screen.request_keyframe
                                                          if screen else None),
                                       on_screen_monitor=(screen.select_monitor
                                                          if screen else None),
                                       peer_origin=origin,
                                       after=window.performed if window is not None else None,
                                       recording=recorder)
                result.session_id = session_id
                try:
                    result.reason = await driver.run(
                        [lambda now: engine.connected(proven.name, now, key=proven.fingerprint,
                                                      address=origin, seen=seen),
                         engine.authenticated],
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

        def interrupted() -> None:
            if driver is not None and not driver.done:
                driver.feed_soon(lambda now: driver.engine.local_command("/disconnect", now)
                                 if driver is not None else [])
            elif driver is None:
                finished.set()
            if driver is not None:  # a helper that reads nothing cannot hold the exit
                loop.call_later(STOP_GRACE_S, driver.channel.abort)

        # Ctrl-C is handled from before the first "listening on" line is shown.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, interrupted)
        flusher = loop.create_task(_flush_refusals(service))
        try:
            for one, hosts in _listen_plan(views, host, port, terminal).items():
                try:
                    server = await serve(hosts, one, identity, secret_for=secret_for,
                                         check=check, on_auth_failed=on_auth_failed,
                                         on_authenticated=on_authenticated)
                except OSError as exc:
                    raise CannotListen(bind_error(hosts[0], one, exc)) from None
                servers.append(server)
                for sock in server.sockets:
                    if sock.family in (socket.AF_INET, socket.AF_INET6):
                        bound = sock.getsockname()
                        address = format_address(str(bound[0]), int(bound[1]))
                        result.addresses.append(address)
                        if on_listening is not None:
                            on_listening(address)
            await finished.wait()
        except OSError as exc:
            raise RaError(f"cannot listen for helpers: {exc.strerror or exc}") from None
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
            for server in servers:
                server.close()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            try:
                service.flush_refusals(final=True)
            except Exception as exc:
                _log.error("invitation.refusals_not_recorded", error_type=type(exc).__name__)
            for server in servers:
                await server.wait_closed()
            store.checkpoint()
    if failure:
        error = failure[0]
        if isinstance(error, RaError):
            raise error
        raise RaError(f"the session failed: {type(error).__name__}: {error}") from error
    return result


async def _screen_unavailable(display: str | None, no_screen: bool) -> str | None:
    """Why the screen cannot be shown in this session (None: it can)."""
    if no_screen:
        return "not shared"
    if not display:
        return "no display"
    try:
        await asyncio.get_running_loop().run_in_executor(None, _open_and_close, display)
    except Exception as exc:  # any failure to open the display means no screen
        _log.warning("desktop.unavailable", display=display, error=str(exc))
        return "display failed"
    return None


def _open_and_close(display: str) -> None:
    from ra.desktop.capture import Screen

    Screen(display).close()


def _recorder(home: Home, session_id: str, settings: RecordingSettings,
              current: Callable[[], SessionDriver | None]) -> ScreenRecorder:
    """The session's screen recorder: its chunks go to the driver to be recorded."""
    key = SessionKeys(home).key(session_id, KEY_PURPOSE, create=True)

    def on_chunk(info: ChunkInfo) -> None:  # on the loop, once the file is on disk
        driver = current()
        if driver is not None:
            driver.record_chunk(info.payload())

    return ScreenRecorder(session_folder(home.root, session_id), key, session_id, on_chunk,
                          chunk_s=settings.chunk_seconds)


def _x11_desktop(
    display: str,
    channel: Channel,
    engine: SessionEngine,
    current: Callable[[], SessionDriver | None],
    backend: str,
    guard: WindowGuard | None = None,
    recorder: ScreenRecorder | None = None,
) -> X11Desktop:
    """The real screen and input of `display` (through desktop backend `backend`), wired
    to this session's channel and engine."""
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

    def on_lost() -> None:  # called on any thread: the display cannot be captured
        def feed() -> None:
            driver = current()
            if driver is not None and not driver.done:
                driver.feed_soon(functools.partial(engine.screen_lost, "display failed"))

        loop.call_soon_threadsafe(feed)

    def on_refused(event: dict[str, Any], reason: str) -> None:  # on the loop's thread
        driver = current()
        if driver is not None and not driver.done:
            driver.feed_soon(functools.partial(engine.input_refused, event, reason))

    return X11Desktop(display, send_screen, on_esc, send_json=send_json,
                      on_keymap_change=on_keymap_change, on_lost=on_lost,
                      backend=open_backend(backend, display), guard=guard,
                      on_refused=on_refused, recorder=recorder)


async def _flush_refusals(service: Invitations) -> None:
    """Every second, record the back-off refusals counted and due (see `Invitations`)."""
    while True:
        await asyncio.sleep(WATCH_S)
        try:
            service.flush_refusals()
        except Exception as exc:  # the log will say it when `ask` stops; keep serving
            _log.error("invitation.refusals_not_recorded", error_type=type(exc).__name__)


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


__all__ = ["AskResult", "CannotListen", "InvitationBusy", "NothingToServe", "PortNotOffered",
           "ask_async", "consent_timeout"]
