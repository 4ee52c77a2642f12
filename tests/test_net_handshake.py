"""TLS + SPAKE2 handshake over real loopback sockets, and its sans-IO halves."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import ssl
import string
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ra.net.handshake as handshake_module
from ra.errors import RaError
from ra.home import Home
from ra.identity import Identity, load_identity
from ra.invitations.file import Invitation, new_invitation
from ra.invitations.keystore import derive_pake_secret
from ra.net import (
    Channel,
    ConfirmationFailed,
    ConnectError,
    ConnectionClosed,
    FingerprintMismatch,
    Frame,
    FrameDecoder,
    HelperHandshake,
    HelperIdentity,
    HelperSigner,
    IdentityFailed,
    InvitationSecret,
    Kind,
    PersonHandshake,
    ProtocolError,
    Refused,
    WrongPassword,
    connect,
    serve,
)
from ra.net.framing import encode_message
from ra.net.transport import client_tls_context

PASSWORD = "Tq7mK-w9Zp2-Hx4rB-c8Nd3"
WRONG = "Tq7mK-w9Zp2-Hx4rB-c8Nd4"
LOOPBACK = "127.0.0.1"
HELPER = HelperSigner("Bob (IT)", Ed25519PrivateKey.generate())


# --------------------------------------------------------------------------
# Fixtures: a person's identity, an invitation, a server and what it saw.


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return load_identity(Home.at(tmp_path_factory.mktemp("person") / "home"))


@pytest.fixture(scope="module")
def other_identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return load_identity(Home.at(tmp_path_factory.mktemp("other") / "home"))


def make_invitation(
    identity: Identity,
    port: int,
    *,
    fingerprint: str | None = None,
    addresses: tuple[str, ...] = (LOOPBACK,),
) -> Invitation:
    now = datetime.now(UTC)
    return new_invitation(
        name="Alice",
        message="please help",
        expires_at=now + timedelta(hours=1),
        addresses=addresses,
        port=port,
        tls_fingerprint=fingerprint or identity.tls_fingerprint,
        signing_key=identity.signing_key.public_key(),
        now=now,
    )


Session = Callable[[Channel, str, str], Awaitable[None]]


@dataclass
class Seen:
    """What the person's side's callbacks were called with."""

    checks: list[tuple[str, str]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    sessions: list[tuple[str, str]] = field(default_factory=list)
    received: list[Frame] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Person:
    """A running serve() with one invitation and recording callbacks."""

    def __init__(
        self,
        identity: Identity,
        *,
        session: Session | None = None,
        refuse: RaError | None = None,
        handshake_timeout: float = 5.0,
    ) -> None:
        self.identity = identity
        self.seen = Seen()
        self.session = session
        self.refuse = refuse
        self.handshake_timeout = handshake_timeout
        self.secrets: dict[str, InvitationSecret] = {}
        self.server: asyncio.Server | None = None
        self.port = 0
        self.lock_after: int | None = None

    async def __aenter__(self) -> Person:
        self.server = await serve(
            LOOPBACK,
            0,
            self.identity,
            secret_for=self.secret_for,
            check=self.check,
            on_auth_failed=self.on_auth_failed,
            on_authenticated=self.on_authenticated,
            handshake_timeout=self.handshake_timeout,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def invite(self, **kwargs: Any) -> Invitation:
        invitation = make_invitation(self.identity, self.port, **kwargs)
        secret = derive_pake_secret(PASSWORD, invitation.pake)
        self.secrets[invitation.invitation_id] = InvitationSecret(invitation, secret)
        return invitation

    def check(self, invitation_id: str, origin: str) -> None:
        self.seen.checks.append((invitation_id, origin))
        if self.refuse is not None:
            raise self.refuse
        if self.lock_after is not None and len(self.seen.failures) >= self.lock_after:
            raise RaError("this invitation is locked after too many wrong passwords")

    async def secret_for(self, invitation_id: str) -> InvitationSecret:
        self.seen.lookups.append(invitation_id)
        try:
            return self.secrets[invitation_id]
        except KeyError:
            raise RaError("there is no such invitation") from None

    def on_auth_failed(self, invitation_id: str, origin: str, reason: str) -> None:
        self.seen.failures.append((invitation_id, origin))
        self.seen.reasons.append(reason)
        self.seen.done.set()

    async def on_authenticated(self, channel: Channel, invitation_id: str, origin: str) -> None:
        self.seen.sessions.append((invitation_id, origin))
        try:
            if self.session is not None:
                await self.session(channel, invitation_id, origin)
        except BaseException as error:
            self.seen.errors.append(error)
            raise
        finally:
            self.seen.done.set()


def run(coro: Awaitable[None], timeout: float = 5.0) -> None:
    async def main() -> None:
        async with asyncio.timeout(timeout):
            await coro

    asyncio.run(main())


# --------------------------------------------------------------------------
# The full handshake over TLS.


def test_right_password_gives_both_sides_a_channel(identity: Identity) -> None:
    async def session(channel: Channel, invitation_id: str, origin: str) -> None:
        assert channel.role == "person" and channel.peer == origin
        ping = await channel.recv()
        assert ping.kind is Kind.JSON and ping.message == {"type": "ping", "n": 1}
        await channel.send_json({"type": "pong", "n": 1})
        await channel.send_json({"type": "note", "text": "from the person"})
        bye = await channel.recv()
        assert bye.kind is Kind.BYE and bye.text == "thanks"

    async def main() -> None:
        async with Person(identity, session=session) as person:
            invitation = person.invite()
            channel = await connect(invitation, PASSWORD, HELPER, timeout=2)
            assert channel.role == "helper"
            assert channel.invitation_id == invitation.invitation_id
            assert channel.peer == f"{LOOPBACK}:{person.port}"
            await channel.send_json({"type": "ping", "n": 1})
            pong = await channel.recv()
            note = await channel.recv()
            assert pong.message == {"type": "pong", "n": 1}
            assert note.message == {"type": "note", "text": "from the person"}
            await channel.close("thanks")
            await asyncio.wait_for(person.seen.done.wait(), 2)
            assert person.seen.errors == []
            assert person.seen.sessions == [(invitation.invitation_id, LOOPBACK)]
            assert person.seen.checks == [(invitation.invitation_id, LOOPBACK)] * 2
            assert person.seen.failures == []

    run(main())


def test_both_sides_agree_on_a_session_id(identity: Identity) -> None:
    ids: list[str] = []

    async def session(channel: Channel, _id: str, _origin: str) -> None:
        ids.append(channel.session_id)

    async def main() -> None:
        async with Person(identity, session=session) as person:
            channel = await connect(person.invite(), PASSWORD, HELPER, timeout=2)
            await asyncio.wait_for(person.seen.done.wait(), 2)
            ids.append(channel.session_id)
            await channel.close()

    run(main())
    assert len(ids) == 2 and ids[0] == ids[1] and len(ids[0]) == 32


def test_wrong_password(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity) as person:
            invitation = person.invite()
            with pytest.raises(WrongPassword, match="^the password was not accepted$"):
                await connect(invitation, WRONG, HELPER, timeout=2)
            await asyncio.wait_for(person.seen.done.wait(), 2)
            assert person.seen.failures == [(invitation.invitation_id, LOOPBACK)]
            assert person.seen.sessions == []

    run(main())


def test_fingerprint_mismatch_stops_before_any_pake_message(
    identity: Identity, other_identity: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    hellos: list[object] = []
    real_hello = HelperHandshake.hello

    def spy(self: HelperHandshake) -> dict[str, Any]:
        hellos.append(self)
        return real_hello(self)

    monkeypatch.setattr(HelperHandshake, "hello", spy)

    async def main() -> None:
        async with Person(identity) as person:
            invitation = person.invite(fingerprint=other_identity.tls_fingerprint)
            address = f"{LOOPBACK}:{person.port}"
            with pytest.raises(FingerprintMismatch) as caught:
                await connect(invitation, PASSWORD, HELPER, timeout=2)
            assert str(caught.value) == f"{address} is not the machine that made this invitation"
            await asyncio.sleep(0.05)
            assert person.seen.checks == [] and person.seen.lookups == []

    run(main())
    assert hellos == []


def test_check_refusal_reaches_the_helper(identity: Identity) -> None:
    async def main() -> None:
        reason = "this invitation expired at 10:00"
        async with Person(identity, refuse=RaError(reason)) as person:
            invitation = person.invite()
            with pytest.raises(Refused) as caught:
                await connect(invitation, PASSWORD, HELPER, timeout=2)
            assert caught.value.reason == reason
            assert str(caught.value) == f"the other computer refused the connection: {reason}"
            assert person.seen.lookups == [] and person.seen.failures == []

    run(main())


def test_unknown_invitation_is_refused(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity) as person:
            invitation = make_invitation(identity, person.port)  # never registered
            with pytest.raises(Refused, match="there is no such invitation"):
                await connect(invitation, PASSWORD, HELPER, timeout=2)
            assert person.seen.failures == []

    run(main())


def test_locked_after_a_failure_is_refused_without_judging(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity) as person:
            invitation = person.invite()
            person.lock_after = 1
            with pytest.raises(WrongPassword):
                await connect(invitation, WRONG, HELPER, timeout=2)
            with pytest.raises(Refused, match="locked"):
                await connect(invitation, PASSWORD, HELPER, timeout=2)
            assert len(person.seen.failures) == 1

    run(main())


def test_addresses_are_tried_in_order(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity) as person:
            # 127.0.0.2 is loopback too, but nothing listens there: refused at once.
            invitation = person.invite(addresses=("127.0.0.2", LOOPBACK))
            channel = await connect(invitation, PASSWORD, HELPER, timeout=2)
            assert channel.peer == f"{LOOPBACK}:{person.port}"
            await channel.close()

    run(main())


def test_no_address_answers(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity) as person:
            invitation = person.invite(addresses=("127.0.0.2", "127.0.0.3"))
            with pytest.raises(ConnectError) as caught:
                await connect(invitation, PASSWORD, HELPER, timeout=2)
            assert str(caught.value) == "; ".join(
                f"nobody is waiting on 127.0.0.{n}:{person.port}: is `ra ask` running on "
                "their machine?" for n in (2, 3))

    run(main())


def test_tls_below_1_3_is_refused(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity) as person:
            context = client_tls_context()
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            with pytest.raises((ssl.SSLError, ConnectionError)):
                await asyncio.open_connection(LOOPBACK, person.port, ssl=context)

    run(main())


# --------------------------------------------------------------------------
# Hostile or broken peers.


async def raw_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(LOOPBACK, port, ssl=client_tls_context())


async def read_all(reader: asyncio.StreamReader) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while chunk := await reader.read(65536):
            data += chunk
    return data


def test_oversized_frame_on_a_channel_closes_it_unread(identity: Identity) -> None:
    async def session(channel: Channel, _id: str, _origin: str) -> None:
        with pytest.raises(ProtocolError, match="SCREEN message of 104857600 bytes"):
            await channel.recv()
        assert channel.closed

    async def main() -> None:
        async with Person(identity, session=session) as person:
            channel = await connect(person.invite(), PASSWORD, HELPER, timeout=2)
            # Announce 100 MiB, send only the header: the person must not wait for it.
            header = struct.pack(">IBB", 100 * 1024 * 1024 + 2, 1, Kind.SCREEN)
            await channel._stream.write(header)
            await asyncio.wait_for(person.seen.done.wait(), 2)
            assert person.seen.errors == []
            bye = await asyncio.wait_for(channel.recv(), 2)
            assert bye.kind is Kind.BYE and "larger than the limit" in bye.text
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(channel.recv(), 2)

    run(main())


def test_oversized_frame_before_authentication(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity) as person:
            reader, writer = await raw_client(person.port)
            writer.write(struct.pack(">IBB", 16 * 1024 * 1024, 1, Kind.SCREEN))
            await writer.drain()
            data = await asyncio.wait_for(read_all(reader), 2)
            frames = FrameDecoder().feed(data)
            assert [f.type for f in frames] == ["refuse"]
            assert frames[0].message is not None
            assert frames[0].message["code"] == "protocol-error"
            assert "SCREEN message is not allowed here" in frames[0].message["reason"]
            assert person.seen.checks == []
            writer.close()

    run(main())


def test_truncated_frame_at_eof_on_a_channel(identity: Identity) -> None:
    async def session(channel: Channel, _id: str, _origin: str) -> None:
        with pytest.raises(ProtocolError, match=r"middle of a JSON message \(3 of 20 bytes"):
            await channel.recv()

    async def main() -> None:
        async with Person(identity, session=session) as person:
            channel = await connect(person.invite(), PASSWORD, HELPER, timeout=2)
            await channel._stream.write(struct.pack(">IBB", 22, 1, Kind.JSON) + b'{"t')
            await channel._stream.close()
            await asyncio.wait_for(person.seen.done.wait(), 2)
            assert person.seen.errors == []

    run(main())


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (struct.pack(">IBB", 2, 2, Kind.JSON), "speaks protocol version 2"),
        (struct.pack(">IBB", 2, 1, 0x42), "unknown kind 0x42"),
    ],
)
def test_unknown_version_or_kind_on_a_channel(
    identity: Identity, header: bytes, reason: str
) -> None:
    async def session(channel: Channel, _id: str, _origin: str) -> None:
        with pytest.raises(ProtocolError, match=reason):
            await channel.recv()

    async def main() -> None:
        async with Person(identity, session=session) as person:
            channel = await connect(person.invite(), PASSWORD, HELPER, timeout=2)
            await channel._stream.write(header)
            await asyncio.wait_for(person.seen.done.wait(), 2)
            assert person.seen.errors == []
            await channel.close()

    run(main())


def test_handshake_message_after_the_handshake_is_refused(identity: Identity) -> None:
    async def session(channel: Channel, _id: str, _origin: str) -> None:
        with pytest.raises(ProtocolError, match="handshake message after the handshake"):
            await channel.recv()

    async def main() -> None:
        async with Person(identity, session=session) as person:
            channel = await connect(person.invite(), PASSWORD, HELPER, timeout=2)
            with pytest.raises(ProtocolError):
                await channel.send_frame(Kind.HANDSHAKE, b'{"type":"hello"}')
            await channel._stream.write(encode_message(Kind.HANDSHAKE, {"type": "hello"}))
            await asyncio.wait_for(person.seen.done.wait(), 2)
            assert person.seen.errors == []
            await channel.close()

    run(main())


def test_silent_client_times_out(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity, handshake_timeout=0.3) as person:
            reader, writer = await raw_client(person.port)
            assert await asyncio.wait_for(read_all(reader), 2) == b""
            assert person.seen.checks == []
            writer.close()

    run(main())


def test_garbage_hello_is_refused(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity) as person:
            reader, writer = await raw_client(person.port)
            writer.write(encode_message(Kind.HANDSHAKE, {"type": "hello", "invitation_id": 1}))
            await writer.drain()
            frames = FrameDecoder().feed(await asyncio.wait_for(read_all(reader), 2))
            assert frames[0].message is not None
            assert frames[0].message["code"] == "protocol-error"
            assert person.seen.checks == []
            writer.close()

    run(main())


# --------------------------------------------------------------------------
# Secrets stay out of every log.


def test_password_and_key_never_logged(
    identity: Identity,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys: list[bytes] = []
    real_finish = handshake_module._finish_pake

    def spy(pake: Any, inbound: bytes) -> bytes:
        key = real_finish(pake, inbound)
        keys.append(key)
        return key

    monkeypatch.setattr(handshake_module, "_finish_pake", spy)
    caplog.set_level(logging.DEBUG)
    secrets: list[bytes] = []

    async def main() -> None:
        async with Person(identity) as person:
            invitation = person.invite()
            secrets.append(person.secrets[invitation.invitation_id].secret)
            channel = await connect(invitation, PASSWORD, HELPER, timeout=2)
            await channel.close()
            with pytest.raises(WrongPassword):
                await connect(invitation, WRONG, HELPER, timeout=2)
            await asyncio.sleep(0.05)

    with structlog.testing.capture_logs() as captured:
        run(main())
    assert len(keys) == 4  # two per connection
    assert any(entry.get("event") == "net.auth.failed" for entry in captured)
    assert any(entry.get("event") == "net.authenticated" for entry in captured)
    out = capsys.readouterr()
    text = "\n".join([repr(captured), caplog.text, out.out, out.err])
    for value in [PASSWORD, WRONG]:
        assert value not in text
    for raw in [*keys, *secrets]:
        for shown in (raw.hex(), repr(raw), raw.decode("latin-1")):
            assert shown not in text
    for raw in secrets:
        import base64

        assert base64.b64encode(raw).decode() not in text


# --------------------------------------------------------------------------
# The sans-IO halves on their own.


def _pair(identity: Identity, helper_password: str = PASSWORD) -> tuple[
    Invitation, PersonHandshake, HelperHandshake
]:
    invitation = make_invitation(identity, 5960)
    person = PersonHandshake(identity.tls_fingerprint)
    helper = HelperHandshake(invitation, derive_pake_secret(helper_password, invitation.pake),
                             HELPER)
    return invitation, person, helper


def _secret(invitation: Invitation) -> InvitationSecret:
    return InvitationSecret(invitation, derive_pake_secret(PASSWORD, invitation.pake))


def test_sans_io_success(identity: Identity) -> None:
    invitation, person, helper = _pair(identity)
    hello = helper.hello()
    assert person.receive_hello(hello) == invitation.invitation_id
    confirm = helper.receive(person.respond(_secret(invitation)))
    assert confirm is not None and confirm["type"] == "confirm"
    assert person.receive_confirm(confirm)
    assert helper.receive(person.accept()) is None
    assert helper.done and person.done
    assert helper.session_id == person.session_id
    assert "secret" not in repr(_secret(invitation))


def test_sans_io_wrong_password(identity: Identity) -> None:
    invitation, person, helper = _pair(identity, WRONG)
    person.receive_hello(helper.hello())
    confirm = helper.receive(person.respond(_secret(invitation)))
    assert confirm is not None
    assert not person.receive_confirm(confirm)
    with pytest.raises(ProtocolError):
        person.accept()
    with pytest.raises(WrongPassword):
        helper.receive(person.refuse("wrong-password", "the password was not accepted"))


def test_sans_io_binds_the_certificate(identity: Identity, other_identity: Identity) -> None:
    invitation, _, helper = _pair(identity)
    person = PersonHandshake(other_identity.tls_fingerprint)  # a relay with another cert
    person.receive_hello(helper.hello())
    confirm = helper.receive(person.respond(_secret(invitation)))
    assert confirm is not None
    assert not person.receive_confirm(confirm)


def test_sans_io_binds_the_invitation(identity: Identity) -> None:
    invitation, person, helper = _pair(identity)
    changed = Invitation(
        **{**invitation.__dict__, "message": "a different message, same id and salt"}
    )
    person.receive_hello(helper.hello())
    secret = InvitationSecret(changed, derive_pake_secret(PASSWORD, changed.pake))
    confirm = helper.receive(person.respond(secret))
    assert confirm is not None
    assert not person.receive_confirm(confirm)


def test_sans_io_bad_accept_mac(identity: Identity) -> None:
    invitation, person, helper = _pair(identity)
    person.receive_hello(helper.hello())
    helper.receive(person.respond(_secret(invitation)))
    with pytest.raises(ConfirmationFailed):
        helper.receive({"type": "accept", "mac": "A" * 43 + "="})


def test_sans_io_refuses_a_second_spelling_of_the_same_bytes(identity: Identity) -> None:
    """Base64 with padding bits set decodes to the same bytes; like the invitation file,
    the handshake takes each value in the one spelling ra writes."""
    invitation, person, helper = _pair(identity)
    person.receive_hello(helper.hello())
    confirm = helper.receive(person.respond(_secret(invitation)))
    assert confirm is not None and person.receive_confirm(confirm)
    mac = person.accept()["mac"]
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
    twin = mac[:42] + alphabet[alphabet.index(mac[42]) + 1] + "="
    assert base64.b64decode(twin) == base64.b64decode(mac)
    with pytest.raises(ProtocolError, match="'mac' is not valid base64"):
        helper.receive({"type": "accept", "mac": twin})


def test_sans_io_messages_out_of_order(identity: Identity) -> None:
    invitation, person, helper = _pair(identity)
    with pytest.raises(ProtocolError, match="expected 'hello'"):
        person.receive_hello({"type": "confirm", "mac": ""})
    helper.hello()
    with pytest.raises(ProtocolError, match="expected 'pake'"):
        helper.receive({"type": "accept", "mac": ""})


@pytest.mark.parametrize(
    "pake",
    ["", "not base64!", "QUJD", "Qg" + "A" * 42, "QQ" + "A" * 42],  # short, B side, A side
)
def test_sans_io_bad_pake_message(identity: Identity, pake: str) -> None:
    invitation, person, helper = _pair(identity)
    helper.hello()
    with pytest.raises(ProtocolError):
        person.receive_hello(
            {"type": "hello", "invitation_id": invitation.invitation_id, "pake": pake}
        )
        person.respond(_secret(invitation))


# --------------------------------------------------------------------------
# The helper's identity: a name and a key, signed over the transcript.


@dataclass(frozen=True)
class _Forger(HelperSigner):
    """Names one key (`claimed`) and signs with another: what a forger can do."""

    claimed: bytes = b""

    @property
    def identity(self) -> HelperIdentity:
        return HelperIdentity(self.name, self.claimed)


EVE = Ed25519PrivateKey.generate()
FORGER = _Forger("Bob (IT)", Ed25519PrivateKey.generate(), EVE.public_key().public_bytes_raw())


def _confirm(identity: Identity, signer: HelperSigner = HELPER,
             password: str = PASSWORD) -> tuple[PersonHandshake, dict[str, Any]]:
    invitation = make_invitation(identity, 5960)
    person = PersonHandshake(identity.tls_fingerprint)
    helper = HelperHandshake(invitation, derive_pake_secret(password, invitation.pake), signer)
    person.receive_hello(helper.hello())
    confirm = helper.receive(person.respond(_secret(invitation)))
    assert confirm is not None
    return person, confirm


def test_sans_io_the_person_learns_the_helpers_name_and_key(identity: Identity) -> None:
    person, confirm = _confirm(identity)
    assert person.helper is None
    assert person.receive_confirm(confirm)
    assert person.helper == HELPER.identity
    assert person.helper.name == "Bob (IT)"
    assert person.helper.fingerprint == hashlib.sha256(
        HELPER.key.public_key().public_bytes_raw()).hexdigest()


def test_sans_io_a_signature_by_another_key_is_refused(identity: Identity) -> None:
    person, confirm = _confirm(identity, FORGER)
    assert confirm["key"] == base64.b64encode(EVE.public_key().public_bytes_raw()).decode()
    with pytest.raises(IdentityFailed):
        person.receive_confirm(confirm)
    assert person.helper is None
    with pytest.raises(ProtocolError):
        person.accept()


def test_sans_io_the_signature_covers_the_name(identity: Identity) -> None:
    person, confirm = _confirm(identity)
    with pytest.raises(IdentityFailed):
        person.receive_confirm({**confirm, "name": "Alice's bank"})


def test_sans_io_a_signature_from_another_connection_is_refused(identity: Identity) -> None:
    _, earlier = _confirm(identity)  # a real signature by Bob's key, on another connection
    person, confirm = _confirm(identity, FORGER)
    with pytest.raises(IdentityFailed):
        person.receive_confirm({**confirm, "key": earlier["key"], "sig": earlier["sig"]})


def test_sans_io_the_password_is_judged_before_the_signature(identity: Identity) -> None:
    person, confirm = _confirm(identity, FORGER, WRONG)
    assert not person.receive_confirm(confirm)  # counted as a wrong password, nothing more


@pytest.mark.parametrize("name", ["", " ", "Bob\n(IT)", "Bob\x1b[2K", "Bob\u202e", " Bob",
                                  "Bob\u2003IT", "\u200bBob", "B" * 65, 7])
def test_sans_io_a_name_unfit_to_show_is_a_protocol_error(identity: Identity,
                                                         name: object) -> None:
    person, confirm = _confirm(identity)
    with pytest.raises(ProtocolError, match="name"):
        person.receive_confirm({**confirm, "name": name})
    with pytest.raises(ValueError):
        HelperSigner(name, HELPER.key)  # type: ignore[arg-type]


def test_sans_io_a_confirm_without_an_identity_is_a_protocol_error(identity: Identity) -> None:
    person, confirm = _confirm(identity)
    with pytest.raises(ProtocolError, match="lacks"):
        person.receive_confirm({"type": "confirm", "mac": confirm["mac"]})


def test_forged_identity_is_refused_and_counted(identity: Identity) -> None:
    async def main() -> None:
        async with Person(identity) as person:
            invitation = person.invite()
            with pytest.raises(Refused, match="signature does not match"):
                await connect(invitation, PASSWORD, FORGER, timeout=2)
            await asyncio.wait_for(person.seen.done.wait(), 2)
            assert person.seen.failures == [(invitation.invitation_id, LOOPBACK)]
            assert person.seen.reasons == ["identity"]
            assert person.seen.sessions == []

    run(main())


def test_the_person_gets_the_helpers_identity_on_the_channel(identity: Identity) -> None:
    helpers: list[HelperIdentity | None] = []

    async def session(channel: Channel, _id: str, _origin: str) -> None:
        helpers.append(channel.helper)

    async def main() -> None:
        async with Person(identity, session=session) as person:
            channel = await connect(person.invite(), PASSWORD, HELPER, timeout=2)
            await asyncio.wait_for(person.seen.done.wait(), 2)
            assert channel.helper == HELPER.identity
            await channel.close()

    run(main())
    assert helpers == [HELPER.identity]
