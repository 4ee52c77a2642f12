"""TCP + TLS 1.3 + the password handshake, and the Channel both sides get after it.

The person's side runs `serve`: it presents its identity certificate, and for
each helper that connects runs the handshake in ra.net.handshake, asking the
caller's callbacks whether the invitation may be used and for its secret, and
reporting wrong passwords and authenticated channels.

The helper's side runs `connect`: it does not trust any CA; it pins the
server certificate's SHA-256 fingerprint against the invitation before it
sends a single handshake byte, then proves the password and, with it, the
helper's identity key (ra.net.handshake): the person's side knows the helper's
name and key fingerprint (`Channel.helper`) before the session starts.

After the handshake TLS protects every frame. The SPAKE2 key is used only to
confirm the password and to derive a public ``session_id``; it is not used to
encrypt frames again (see docs/protocol.md, "What the confirmation binds").

Strangers: `serve` accepts TCP itself and asks `ra.net.admission` before it
starts TLS, so a connection over the limits (8 unauthenticated per origin, 64
in all; the module states which one goes when the table is full) is closed
before it costs TLS memory. Everything before authentication (TLS and the
password handshake) has one deadline, ``handshake_timeout``; each connection
reads at most `READ_LIMIT` bytes ahead. `Listener.close` drops every
connection not yet authenticated, so nothing is left half-open at exit.

Writes never hold anyone forever: a peer that takes none of our data for
`WRITE_STALL_S` seconds while a write waits is dropped (ConnectionClosed; a
slow peer that keeps taking some is waited for), and `Channel.close` gives its
BYE and the TLS close `CLOSE_TIMEOUT` seconds, then aborts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, Literal, TypeVar, cast

from ra.errors import RaError
from ra.identity import Identity
from ra.invitations.file import Invitation
from ra.invitations.keystore import derive_pake_secret
from ra.logs import get_logger, register_secret
from ra.net.admission import PER_ORIGIN, TOTAL, Admission, Ticket, origin_key
from ra.net.dial import DEFAULT_CONNECT_TIMEOUT, DialError, dial
from ra.net.dial import format_address as format_address  # re-exported
from ra.net.errors import (
    AuthFailed,
    ConnectionClosed,
    HandshakeTimeout,
    IdentityFailed,
    NetError,
    ProtocolError,
)
from ra.net.framing import (
    HANDSHAKE_ONLY,
    MAX_BODY,
    Frame,
    FrameDecoder,
    Kind,
    encode_frame,
    encode_message,
)
from ra.net.handshake import (
    CODE_INTERNAL,
    CODE_PROTOCOL,
    CODE_REFUSED,
    CODE_WRONG_PASSWORD,
    HelperHandshake,
    HelperIdentity,
    HelperSigner,
    InvitationSecret,
    PersonHandshake,
    check_pin,
    refuse_message,
)

T = TypeVar("T")

READ_CHUNK = 64 * 1024
READ_LIMIT = 16 * 1024
"""The person's side buffers at most about twice this from a peer before it stops reading."""
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
"""Seconds from a helper's TCP connect to its proven password (TLS and handshake)."""
CLOSE_TIMEOUT = 1.0
WRITE_STALL_S = 10.0
"""A peer that takes none of our data for this long, while we wait to send, is dropped."""
ACCEPT_BACKLOG = 1024
"""The kernel's queue of connects not yet accepted: a burst of strangers waits there
(each is then refused or admitted in microseconds) instead of filling a short queue
whose overflow makes the helper's connect wait a second per retry."""
LIMIT_LOG_S = 5.0
"""Refused and evicted connections are logged as counts, at most this often."""

SecretFor = Callable[[str], InvitationSecret | Awaitable[InvitationSecret]]
"""(invitation_id) -> the invitation and its PAKE secret, or raise RaError."""
Check = Callable[[str, str], None | Awaitable[None]]
"""(invitation_id, origin) -> None, or raise RaError to refuse with its message."""
OnAuthFailed = Callable[[str, str, str], None | Awaitable[None]]
"""(invitation_id, origin, reason): a wrong password was proven (reason ``password``),
or the right one with a helper signature that does not hold (``identity``); record
auth.failed."""
OnAuthenticated = Callable[["Channel", str, str], Awaitable[None]]
"""(channel, invitation_id, origin): runs the session; the channel closes after."""

_log = get_logger("ra.net")


async def _resolve(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return cast(T, await value)
    return value


# --------------------------------------------------------------------------
# TLS.


def server_tls_context(identity: Identity) -> ssl.SSLContext:
    """TLS 1.3 only, presenting the person's self-signed identity certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(identity.tls_cert_path, identity.tls_key_path)
    context.verify_mode = ssl.CERT_NONE  # helpers have no certificate; the PAKE proves them
    context.num_tickets = 0  # no resumption: every connection is a full handshake
    return context


def client_tls_context() -> ssl.SSLContext:
    """TLS 1.3 only, no CA validation: the fingerprint pin replaces it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _peer_certificate(writer: asyncio.StreamWriter) -> bytes | None:
    ssl_object = writer.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    return ssl_object.getpeercert(binary_form=True)


# --------------------------------------------------------------------------
# Frames over a stream.


class FrameStream:
    """A StreamReader/StreamWriter pair speaking frames (decoder plus a queue)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: Mapping[Kind, int] = MAX_BODY,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(limits)
        self._ready: deque[Frame] = deque()
        self._write_lock = asyncio.Lock()
        self.closed = False
        self.broken = False

    async def read_frame(self) -> Frame:
        """The next frame; ConnectionClosed at a clean end, ProtocolError on bad bytes."""
        while not self._ready:
            if self.broken:
                self.decoder.eof()  # raises the decoder's error again
            if self.closed:
                raise ConnectionClosed("the connection is closed")
            try:
                data = await self.reader.read(READ_CHUNK)
            except (ConnectionError, ssl.SSLError, OSError):
                self.abort()
                raise ConnectionClosed("the connection was lost") from None
            try:
                if not data:
                    self.decoder.eof()
                    self.abort()
                    raise ConnectionClosed()
                self._ready.extend(self.decoder.feed(data))
            except ProtocolError:
                # Nothing more is read: the caller says why (send_and_abort) and drops
                # the connection, so whatever the peer announced is never waited for.
                self.broken = True
                raise
        return self._ready.popleft()

    def send_and_abort(self, data: bytes) -> None:
        """Hand ``data`` to the socket (best effort), then drop the connection."""
        if not self.closed:
            with contextlib.suppress(Exception):
                self.writer.write(data)
        self.abort()

    async def write(self, data: bytes) -> None:
        """Send ``data``; ConnectionClosed if the peer is gone or leaves it unread too long."""
        if self.closed:
            raise ConnectionClosed("the connection is closed")
        async with self._write_lock:
            if self.closed:  # dropped while this write waited for the one before
                raise ConnectionClosed("the connection is closed")
            try:
                self.writer.write(data)
                await self._drain()
            except (ConnectionError, ssl.SSLError, OSError):
                self.abort()
                raise ConnectionClosed("the connection was lost") from None

    async def _drain(self) -> None:
        """Wait until the peer has taken enough; drop it if it takes nothing for
        `WRITE_STALL_S` seconds (a slow peer that keeps reading is waited for)."""
        unsent = self.writer.transport.get_write_buffer_size()
        while True:
            try:
                async with asyncio.timeout(WRITE_STALL_S):
                    await self.writer.drain()
                return
            except TimeoutError:
                before, unsent = unsent, self.writer.transport.get_write_buffer_size()
                if unsent >= before:
                    self.abort()
                    raise ConnectionClosed("the other side stopped reading") from None

    def abort(self) -> None:
        """Close at once, without a TLS close_notify and without reading further."""
        self.closed = True
        with contextlib.suppress(Exception):  # already closed is fine
            self.writer.transport.abort()

    async def close(self) -> None:
        """Close (TLS close_notify), or abort if that takes `CLOSE_TIMEOUT` seconds."""
        if self.closed and self.writer.transport.is_closing():
            return
        self.closed = True
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), CLOSE_TIMEOUT)
        except Exception:
            self.abort()  # a peer that reads nothing would keep the transport forever


def _bye(reason: str) -> bytes:
    body = reason.encode("utf-8")[: MAX_BODY[Kind.BYE]]
    return encode_frame(Kind.BYE, body.decode("utf-8", errors="ignore").encode("utf-8"))


@dataclass(eq=False)
class Channel:
    """An authenticated connection: framed messages over pinned TLS.

    ``recv`` returns every frame as it comes, a BYE included (the peer's
    reason is ``frame.text``); after the peer is gone it raises
    ConnectionClosed. A ProtocolError closes the connection before raising.
    """

    _stream: FrameStream
    _: KW_ONLY
    role: Literal["person", "helper"]
    invitation_id: str
    peer: str
    session_id: str
    """Public, the same on both sides: HMAC(K, label || T), truncated; not K."""
    helper: HelperIdentity | None = None
    """The helper's name and key, proven in the handshake (the helper's own on its side)."""

    @property
    def closed(self) -> bool:
        return self._stream.closed

    async def send_frame(self, kind: Kind, body: bytes = b"") -> None:
        if kind is Kind.HANDSHAKE:
            raise ProtocolError("handshake messages cannot be sent after the handshake")
        await self._stream.write(encode_frame(kind, body))

    async def send_json(self, message: Mapping[str, Any]) -> None:
        await self._stream.write(encode_message(Kind.JSON, message))

    async def send_if_open(self, message: Mapping[str, Any]) -> bool:
        """Send `message` unless the connection is closed; True if it went out.

        A send that fails is logged and dropped, never raised: whoever reads
        the channel sees the broken connection and says so.
        """
        if self.closed:
            return False
        try:
            await self.send_json(message)
        except NetError as exc:
            _log.info("session.send_failed", reason=str(exc))
            return False
        return True

    async def recv(self) -> Frame:
        """The next frame. A ProtocolError drops the connection (after a BYE naming it)."""
        try:
            frame = await self._stream.read_frame()
            if frame.kind is Kind.HANDSHAKE:
                raise ProtocolError("the other side sent a handshake message after the handshake")
        except ProtocolError as error:
            self._stream.send_and_abort(_bye(str(error)))
            raise
        return frame

    def abort(self) -> None:
        self._stream.abort()

    async def close(self, reason: str = "") -> None:
        """Say BYE (best effort, within `CLOSE_TIMEOUT` s) and close the connection."""
        if not self._stream.closed:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self._stream.write(_bye(reason))
            except (NetError, TimeoutError):
                self._stream.abort()
        await self._stream.close()

    async def __aenter__(self) -> Channel:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


# --------------------------------------------------------------------------
# The person's side.


async def _read_handshake(stream: FrameStream) -> dict[str, Any]:
    frame = await stream.read_frame()
    if frame.kind is not Kind.HANDSHAKE or frame.message is None:
        raise ProtocolError(f"expected a handshake message, got {frame.kind.name}")
    return frame.message


async def _send_refusal(stream: FrameStream, code: str, reason: str) -> None:
    with contextlib.suppress(NetError):
        await stream.write(encode_message(Kind.HANDSHAKE, refuse_message(code, reason)))
    await stream.close()


def _origin(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unknown"


async def accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    tls_fingerprint: str,
    secret_for: SecretFor,
    check: Check,
    on_auth_failed: OnAuthFailed,
    decision_lock: asyncio.Lock | None = None,
) -> Channel:
    """Run the person's side of the handshake on a TLS connection.

    Returns the authenticated Channel, or refuses and raises: AuthFailed after
    ``on_auth_failed`` was called for a wrong password, the RaError from
    ``check``/``secret_for`` (sent to the helper as the reason), or a NetError.
    """
    origin = _origin(writer)
    stream = FrameStream(reader, writer, HANDSHAKE_ONLY)
    handshake = PersonHandshake(tls_fingerprint)
    lock = decision_lock if decision_lock is not None else asyncio.Lock()
    try:
        invitation_id = handshake.receive_hello(await _read_handshake(stream))
        await _resolve(check(invitation_id, origin))
        secret = await _resolve(secret_for(invitation_id))
        await stream.write(encode_message(Kind.HANDSHAKE, handshake.respond(secret)))
        confirm = await _read_handshake(stream)
        async with lock:
            # Check again: other connections may have locked the invitation meanwhile.
            # This runs before the password is judged, so the answer reveals nothing.
            await _resolve(check(invitation_id, origin))
            failed = ""
            try:
                if not handshake.receive_confirm(confirm):
                    failed = "password"
            except IdentityFailed:
                failed = "identity"
            if failed:
                await _resolve(on_auth_failed(invitation_id, origin, failed))
        if failed == "password":
            await _send_refusal(stream, CODE_WRONG_PASSWORD, "the password was not accepted")
            raise AuthFailed(invitation_id, origin)
        if failed:
            await _send_refusal(stream, CODE_REFUSED, "your signature does not match your key")
            raise AuthFailed(invitation_id, origin, failed)
        await stream.write(encode_message(Kind.HANDSHAKE, handshake.accept()))
    except (AuthFailed, ConnectionClosed):
        stream.abort()
        raise
    except ProtocolError as error:
        stream.send_and_abort(
            encode_message(Kind.HANDSHAKE, refuse_message(CODE_PROTOCOL, str(error)))
        )
        raise
    except NetError:
        stream.abort()
        raise
    except Exception as error:
        if isinstance(error, RaError):
            await _send_refusal(stream, CODE_REFUSED, str(error))
        else:
            await _send_refusal(stream, CODE_INTERNAL, "the invitation could not be checked")
        stream.abort()
        raise
    except BaseException:
        stream.abort()
        raise
    stream.decoder.limits = MAX_BODY
    session_id = handshake.session_id or ""
    return Channel(
        stream, role="person", invitation_id=invitation_id, peer=origin, session_id=session_id,
        helper=handshake.helper,
    )


class Listener:
    """A running `serve`: its listening sockets, and a `close` that also drops every
    connection not yet authenticated (sessions already running are left to their owner)."""

    def __init__(
        self, server: asyncio.Server, admission: Admission, handshaking: set[asyncio.Task[None]]
    ) -> None:
        self.server = server
        self.admission = admission
        """The table of unauthenticated connections (its counts, for logs and tests)."""
        self._handshaking = handshaking

    @property
    def sockets(self) -> tuple[Any, ...]:
        return tuple(self.server.sockets)

    def is_serving(self) -> bool:
        return self.server.is_serving()

    def close(self) -> None:
        """Stop listening and drop every connection still before its password."""
        self.server.close()
        for ticket in self.admission.tickets():
            self.admission.release(ticket)
            if ticket.stop is not None:
                ticket.stop()

    async def wait_closed(self) -> None:
        """Wait (at most `CLOSE_TIMEOUT` s) until the dropped connections have ended."""
        await self.server.wait_closed()
        pending = [task for task in self._handshaking if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_TIMEOUT)


def _read_close_reason(writer: asyncio.StreamWriter) -> None:
    """Take as read why the stream's connection ends, once it does.

    A peer that closes in the middle of the TLS handshake leaves that error in
    the stream's close waiter, a future only `wait_closed` reads; collected
    before the stream, it makes asyncio print "Future exception was never
    retrieved" and a traceback on the person's terminal. The error itself is
    logged where the handshake fails.
    """
    waiter = getattr(getattr(writer, "_protocol", None), "_closed", None)
    if isinstance(waiter, asyncio.Future):
        waiter.add_done_callback(_read_exception)


def _read_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _drop(transport: asyncio.WriteTransport, task: asyncio.Task[None]) -> None:
    transport.abort()
    task.cancel()


async def serve(
    host: str | Sequence[str] | None,
    port: int,
    identity: Identity,
    *,
    secret_for: SecretFor,
    check: Check,
    on_auth_failed: OnAuthFailed,
    on_authenticated: OnAuthenticated,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    per_origin: int = PER_ORIGIN,
    total: int = TOTAL,
) -> Listener:
    """Listen for helpers; returns the started Listener (port 0: read its sockets).

    For each connection: a place among the unauthenticated (`ra.net.admission`,
    ``per_origin`` and ``total``; refused connections are closed before TLS),
    then TLS 1.3 with the identity certificate and the handshake (``accept``),
    both within ``handshake_timeout`` seconds, then
    ``on_authenticated(channel, invitation_id, origin)``; the channel is
    closed when it returns. Failures are logged (never a secret) and end the
    connection; they never stop the server.
    """
    context = server_tls_context(identity)
    decision_lock = asyncio.Lock()
    loop = asyncio.get_running_loop()
    admission = Admission(per_origin, total)
    handshaking: set[asyncio.Task[None]] = set()
    last_limited = [-LIMIT_LOG_S]

    def limited() -> None:
        now = loop.time()
        if now - last_limited[0] >= LIMIT_LOG_S:
            last_limited[0] = now
            _log.warning("net.unauthenticated.limited", refused=admission.refused,
                         evicted=admission.evicted, held=len(admission))

    def arrived(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Called in connection_made, before a byte is read: refusing here costs no TLS.
        # A plain function, not a coroutine: the task is ours, so that cancelling it
        # before it starts (eviction, exit) is quiet.
        transport = writer.transport
        origin = _origin(writer)
        ticket, evicted = admission.admit(origin_key(origin))
        if evicted is not None and evicted.stop is not None:
            evicted.stop()
        if ticket is None:
            transport.abort()
        else:
            # The bytes wait in the socket until TLS reads them.
            cast(asyncio.Transport, transport).pause_reading()
            task = loop.create_task(handle(reader, writer, ticket, origin))
            ticket.stop = functools.partial(_drop, transport, task)
            handshaking.add(task)
            task.add_done_callback(handshaking.discard)
        if ticket is None or evicted is not None:
            limited()

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ticket: Ticket, origin: str
    ) -> None:
        raw = writer.transport
        _read_close_reason(writer)
        channel: Channel | None = None
        try:
            channel = await handshake(reader, writer, ticket, origin)
            if channel is not None:
                await session(channel, origin)
        except asyncio.CancelledError:
            # Evicted, or the loop is shutting down. Nobody awaits this task,
            # so end quietly rather than have asyncio report the cancellation.
            if channel is not None:
                channel.abort()
            raw.abort()

    async def handshake(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ticket: Ticket, origin: str
    ) -> Channel | None:
        async def checked(invitation_id: str, origin: str) -> None:
            await _resolve(check(invitation_id, origin))
            admission.promote(ticket)  # it names an invitation offered here

        raw = writer.transport
        channel: Channel | None = None
        try:
            async with asyncio.timeout(handshake_timeout):
                await writer.start_tls(context, ssl_handshake_timeout=handshake_timeout)
                # Let the reader's flow control pause TLS, not the socket under it.
                setattr(reader, "_transport", writer.transport)  # noqa: B010
                channel = await accept(
                    reader,
                    writer,
                    tls_fingerprint=identity.tls_fingerprint,
                    secret_for=secret_for,
                    check=checked,
                    on_auth_failed=on_auth_failed,
                    decision_lock=decision_lock,
                )
        except AuthFailed as error:
            _log.warning("net.auth.failed", invitation_id=error.invitation_id, origin=origin,
                         reason=error.reason)
            return None
        except TimeoutError:
            raw.abort()
            _log.info("net.handshake.timeout", origin=origin)
            return None
        except Exception as error:
            raw.abort()
            if isinstance(error, RaError):
                _log.info("net.handshake.refused", origin=origin, reason=str(error))
            elif isinstance(error, OSError):  # TLS or TCP given up by the peer: common, dull
                _log.info("net.handshake.lost", origin=origin, error_type=type(error).__name__)
            else:
                _log.error("net.handshake.error", origin=origin, error_type=type(error).__name__)
            return None
        finally:
            admission.release(ticket, strike=channel is None)
            task = asyncio.current_task()
            if task is not None:
                handshaking.discard(task)
        _log.info(
            "net.authenticated",
            invitation_id=channel.invitation_id,
            origin=origin,
            session_id=channel.session_id,
            helper_key_fingerprint=channel.helper.fingerprint if channel.helper else None,
        )
        return channel

    async def session(channel: Channel, origin: str) -> None:
        try:
            await on_authenticated(channel, channel.invitation_id, origin)
        except NetError as error:
            _log.info("net.session.ended", origin=origin, reason=str(error))
        except Exception as error:
            _log.error("net.session.error", origin=origin, error_type=type(error).__name__)
        finally:
            await channel.close()

    server = await asyncio.start_server(
        arrived, host, port, limit=READ_LIMIT, backlog=ACCEPT_BACKLOG
    )
    return Listener(server, admission, handshaking)


# --------------------------------------------------------------------------
# The helper's side.


async def _helper_handshake(
    stream: FrameStream, invitation: Invitation, secret: bytes, signer: HelperSigner,
    address: str,
) -> Channel:
    handshake = HelperHandshake(invitation, secret, signer)
    await stream.write(encode_message(Kind.HANDSHAKE, handshake.hello()))
    while not handshake.done:
        try:
            message = await _read_handshake(stream)
        except ConnectionClosed:
            raise ConnectionClosed(
                f"the computer at {address} closed the connection during the handshake"
            ) from None
        reply = handshake.receive(message)
        if reply is not None:
            await stream.write(encode_message(Kind.HANDSHAKE, reply))
    return Channel(
        stream,
        role="helper",
        invitation_id=invitation.invitation_id,
        peer=address,
        session_id=handshake.session_id or "",
        helper=signer.identity,
    )


async def connect(
    invitation: Invitation,
    password: str,
    signer: HelperSigner,
    *,
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> Channel:
    """Reach the person's computer, pin its certificate, prove the password and
    the helper's identity (`signer`: the name it gives and its identity key).

    Tries ``invitation.addresses`` in order, happy-eyeballs style (ra.net.dial):
    each within ``min(connect_timeout, timeout)`` seconds for TCP and again for
    TLS; an address that cannot be reached, or that answers with another
    certificate, gives way to the next. Once a pinned computer answers, its
    verdict is final: WrongPassword, Refused(reason), HandshakeTimeout,
    ProtocolError. If no address worked: DialError with one line per address
    (a MismatchError, also a FingerprintMismatch, if any had a wrong certificate).
    """
    register_secret(password)
    secret = await asyncio.to_thread(derive_pake_secret, password, invitation.pake)

    def pin(writer: asyncio.StreamWriter, address: str) -> None:
        check_pin(invitation, _peer_certificate(writer), address)

    per_address = min(connect_timeout, timeout)
    try:
        reader, writer, address, failures = await dial(
            invitation.addresses, invitation.port, client_tls_context(), pin,
            connect_timeout=per_address, tls_timeout=per_address,
        )
    except DialError as error:
        for failure in error.failures:
            _log.info("net.connect.failed", address=failure.address, cause=failure.cause)
        raise
    for failure in failures:
        _log.info("net.connect.failed", address=failure.address, cause=failure.cause)
    stream = FrameStream(reader, writer, MAX_BODY)
    try:
        async with asyncio.timeout(timeout):
            channel = await _helper_handshake(stream, invitation, secret, signer, address)
    except TimeoutError:
        stream.abort()
        raise HandshakeTimeout() from None
    except BaseException:
        stream.abort()
        raise
    _log.info(
        "net.connected",
        address=address,
        invitation_id=invitation.invitation_id,
        session_id=channel.session_id,
    )
    return channel
