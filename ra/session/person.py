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
import socket
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ra.config import RecordingSettings, recording_settings
from ra.ctrl_c import on_ctrl_c
from ra.desktop.backend import default_backend, open_backend
from ra.engine import Output, SessionEngine, replay
from ra.engine.session import CONSENT_TIMEOUT_S
from ra.errors import InputError, RaError
from ra.events import SYSTEM, Actor, EventStore, NewEvent
from ra.home import Home
from ra.identity import Identity, load_identity
from ra.invitations import parse_invitation
from ra.invitations.service import Invitations, InvitationView
from ra.logs import get_logger
from ra.net import Channel, InvitationSecret, Kind, serve
from ra.net.addresses import bind_error, bind_problem, listen_hosts
from ra.net.transport import Listener, format_address
from ra.recording.chunks import KEY_PURPOSE, session_folder
from ra.recording.recorder import ScreenRecorder
from ra.session.desktop import X11Desktop
from ra.session.driver import SessionDriver
from ra.session.face import Face
from ra.session.inbox import Inbox
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


class PortNotOffered(InputError):
    """`ra ask --port N` names a port the invitation does not tell the helper to dial.

    The helper connects where the invitation says; listening anywhere else
    would leave them knocking on a closed port.
    """


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
    display: str | None = None,
    no_screen: bool = False,
    backend: str | None = None,
    on_listening: Callable[[str], None] | None = None,
    window: PersonWindow | None = None,
) -> AskResult:
    """Serve the chosen invitations until one session has run, or Ctrl-C while waiting."""
    lock, alone = _lock(home)
    try:
        settings = recording_settings(home)  # a config it cannot read stops ask at once
        with EventStore.open(home) as store:
            if alone:  # no other `ask` runs here: an open session is one that crashed
                for session_id in close_crashed_sessions(store):
                    terminal.show(f"session {session_id} was still open in the log (ra "
                                  "stopped during it): it is now recorded as ended (crash)")
                fcntl.flock(lock, fcntl.LOCK_SH)  # others may run now, and not clean up
            identity = load_identity(home)
            service = Invitations(store, home)
            views = _choose(service, invitation_id, port)
            ask = Ask(home, store, identity, service, views, terminal=terminal,
                      display=display, no_screen=no_screen, backend=backend, window=window,
                      settings=settings)
            return await ask.serve(views, host, port, on_listening)
    finally:
        os.close(lock)  # releases the lock


class Ask:
    """One `ra ask` at work: it serves the chosen invitations, lets one helper in, runs
    that session and is done.

    It is made with the log open and the invitations chosen, and lives as long as
    `serve`, which returns once the session is over (or Ctrl-C stopped the wait).
    `driver` is None until a helper is in, then that session's driver; a second
    helper is refused from then on.
    """

    def __init__(self, home: Home, store: EventStore, identity: Identity, service: Invitations,
                 views: Sequence[InvitationView], *, terminal: Face, display: str | None,
                 no_screen: bool, backend: str | None, window: PersonWindow | None,
                 settings: RecordingSettings) -> None:
        self.home = home
        self.store = store
        self.service = service
        self.terminal = terminal
        self.display = display
        self.no_screen = no_screen
        self.backend = backend
        self.window = window
        self.settings = settings
        self.identity = identity
        self.served = frozenset(view.id for view in views)
        self.result = AskResult()
        self.driver: SessionDriver | None = None
        self._busy: set[str] = set()
        self._finished = asyncio.Event()
        self._failure: Exception | None = None
        if window is not None:
            window.waiting_on(lambda: [v for v in service.list() if v.id in self.served],
                              lambda inv_id: service.expire(service.get(inv_id)))

    # -- what the listener asks ----------------------------------------------------------

    def _check(self, inv_id: str, origin: str) -> None:
        if inv_id not in self.served:
            raise InvitationBusy("this invitation is not offered here")
        if inv_id in self._busy or self.driver is not None:
            raise InvitationBusy("the person is already in a session")
        self.service.check_usable(inv_id, origin)

    def _secret_for(self, inv_id: str) -> InvitationSecret:
        view = self.service.load(inv_id)
        invitation = parse_invitation(view.file_text.encode("utf-8"), check_expiry=False)
        return InvitationSecret(invitation, self.service.pake_secret(inv_id))

    def _auth_failed(self, inv_id: str, origin: str, reason: str) -> None:
        self.service.record_auth_failure(self.service.load(inv_id), origin,
                                         UNAUTHENTICATED_HELPER, reason=reason)
        self.terminal.show(f"a wrong password was tried from {origin}" if reason == "password"
                           else f"a helper from {origin} could not prove its key; refused")

    async def _authenticated(self, channel: Channel, inv_id: str, origin: str) -> None:
        if inv_id in self._busy or self.driver is not None:
            return  # lost the race to another helper; serve closes the channel
        self._busy.add(inv_id)
        try:
            await self._session(channel, inv_id, origin)
        except Exception as exc:  # serve would only log it: end `ra ask` with it
            self._failure = exc
            raise
        finally:
            self._finished.set()

    # -- the one session -----------------------------------------------------------------

    async def _session(self, channel: Channel, inv_id: str, origin: str) -> None:
        service = self.service
        view = service.check_usable(inv_id, origin)
        proven = channel.helper
        if proven is None:  # pragma: no cover - accept() always proves one
            raise RaError("the helper proved no identity")
        helper = Actor("helper", proven.name, proven.fingerprint)
        seen = seen_before(self.store, proven.name, proven.fingerprint)
        view = service.record_open(view, origin, helper)
        session_id = channel.session_id
        service.record_accept(view, origin, session_id, helper)
        unavailable = await _screen_unavailable(self.display, self.no_screen)
        engine = SessionEngine("person", view.name, label=session_id[:8],
                               consent_timeout_s=consent_timeout(),
                               screen_unavailable=unavailable, recording=self.settings.screen)
        if self.window is not None:
            self.window.session_started(origin)
        inbox = Inbox()
        screen = recorder = None
        if self.display and unavailable is None:
            if self.settings.screen:
                recorder = _recorder(self.home, session_id, self.settings, inbox)
            screen = self._desktop(self.display, channel, engine, inbox, recorder)
        self.driver = SessionDriver(engine, channel, self.store, session_id, self.terminal,
                                    screen, inbox=inbox, receipt_key=self.identity.signing_key,
                                    peer_origin=origin, recording=recorder)
        self.result.session_id = session_id
        try:
            self.result.reason = await self.driver.run(
                [lambda now: engine.connected(proven.name, now, key=proven.fingerprint,
                                              address=origin, seen=seen),
                 engine.authenticated],
                [_follow(service, inv_id)],
            )
        finally:
            if screen is not None:
                screen.close()

    def _desktop(self, display: str, channel: Channel, engine: SessionEngine, inbox: Inbox,
                 recorder: ScreenRecorder | None) -> X11Desktop:
        """The real screen and input of `display` (through this ask's desktop backend):
        updates go out on `channel`, and what the desktop tells the engine goes through
        `inbox`; the person's window, if any, is kept out of the helper's reach."""

        async def send_screen(update: bytes) -> None:
            await channel.send_frame(Kind.SCREEN, update)

        async def send_json(message: dict[str, Any]) -> None:  # screen.monitors
            await channel.send_if_open(message)

        def on_refused(event: dict[str, Any], reason: str) -> None:
            inbox.put(functools.partial(engine.input_refused, event, reason))

        backend = open_backend(self.backend or default_backend(), display)
        return X11Desktop(display, send_screen, functools.partial(inbox.put, engine.esc_pressed),
                          send_json=send_json,
                          on_keymap_change=functools.partial(inbox.put, engine.keymap_changed),
                          on_lost=functools.partial(
                              inbox.put, functools.partial(engine.screen_lost, "display failed")),
                          backend=backend,
                          guard=self.window.guard if self.window is not None else None,
                          on_refused=on_refused, recorder=recorder)

    def _interrupted(self) -> None:
        """Ctrl-C: end the session as /disconnect does, or stop waiting for one."""
        driver = self.driver
        if driver is None:
            self._finished.set()
            return
        driver.disconnect_soon()
        # A helper that reads nothing cannot hold the exit.
        asyncio.get_running_loop().call_later(STOP_GRACE_S, driver.channel.abort)

    # -- serving -------------------------------------------------------------------------

    async def serve(self, views: Sequence[InvitationView], host: str | Sequence[str] | None,
                    port: int | None, on_listening: Callable[[str], None] | None) -> AskResult:
        """Listen where `views` say (or on `host`/`port`) until the session is over."""
        servers: list[Listener] = []
        flusher: asyncio.Task[None] | None = None
        try:
            # Ctrl-C is handled from before the first "listening on" line is shown.
            with on_ctrl_c(self._interrupted):
                flusher = asyncio.get_running_loop().create_task(_flush_refusals(self.service))
                for one, hosts in _listen_plan(views, host, port, self.terminal).items():
                    try:
                        server = await serve(hosts, one, self.identity,
                                             secret_for=self._secret_for, check=self._check,
                                             on_auth_failed=self._auth_failed,
                                             on_authenticated=self._authenticated)
                    except OSError as exc:
                        raise CannotListen(bind_error(hosts[0], one, exc)) from None
                    servers.append(server)
                    for address in _bound(server):
                        self.result.addresses.append(address)
                        if on_listening is not None:
                            on_listening(address)
                await self._finished.wait()
        except OSError as exc:
            raise RaError(f"cannot listen for helpers: {exc.strerror or exc}") from None
        finally:
            for server in servers:
                server.close()
            if flusher is not None:
                flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher
            try:
                self.service.flush_refusals(final=True)
            except Exception as exc:
                _log.error("invitation.refusals_not_recorded", error_type=type(exc).__name__)
            for server in servers:
                await server.wait_closed()
            self.store.checkpoint()
        if self._failure is not None:
            if isinstance(self._failure, RaError):
                raise self._failure
            raise RaError(f"the session failed: {type(self._failure).__name__}: "
                          f"{self._failure}") from self._failure
        return self.result


def _bound(server: Listener) -> list[str]:
    """The TCP addresses `server` listens on, as the helper would dial them."""
    bound = [sock.getsockname() for sock in server.sockets
             if sock.family in (socket.AF_INET, socket.AF_INET6)]
    return [format_address(str(address[0]), int(address[1])) for address in bound]


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
              inbox: Inbox) -> ScreenRecorder:
    """The session's screen recorder: each chunk it writes goes to the driver to be recorded."""
    key = SessionKeys(home).key(session_id, KEY_PURPOSE, create=True)
    return ScreenRecorder(session_folder(home.root, session_id), key, session_id,
                          lambda info: inbox.chunk(info.payload()),
                          chunk_s=settings.chunk_seconds)


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
