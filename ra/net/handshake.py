"""The password handshake inside TLS: SPAKE2 plus key confirmation (sans-IO).

Both sides already share a TLS 1.3 channel whose server certificate the
helper pinned against the invitation's fingerprint. Over it (docs/protocol.md):

    helper -> person   hello    {invitation_id, pake: SPAKE2_B message}
    person             check(invitation_id, origin); look up the secret
    person -> helper   pake     {pake: SPAKE2_A message}           or refuse
    helper -> person   confirm  {mac: HMAC(K, "helper" label || T),
                                 name, key, sig: Ed25519(key, identity statement)}
    person             check again, then verify the helper's mac, then its signature
    person -> helper   accept   {mac: HMAC(K, "person" label || T)} or refuse

K is the SPAKE2 key, T the transcript hash (`transcript_hash`). The helper
proves the password first, so the person's side never answers a guess with
anything a guesser could test offline, and a guess is only ever judged on
the person's side, where it is counted.

The helper's identity rides in the same confirm message, inside TLS to the
pinned certificate: the name it gives, the raw public key of its Ed25519
identity key (the one that signs its session receipts) and a signature over
`identity_statement`, which holds the role label, T, the helper's mac (so K)
and the name and key themselves. T is fresh for every connection (both SPAKE2
messages are random) and names the pinned certificate, so a signature made
for one connection proves nothing on another. The person's side judges the
signature only after the mac, so a guesser learns nothing new from it; a
right password with a signature that does not hold is refused and counted
as a failed authentication (`IdentityFailed`). The name is peer text: at most
`MAX_NAME_CHARS` characters, no control, format or invisible characters
(`check_name`), and shown inert even so.

These classes take parsed messages and return messages to send; they do no
I/O and no logging. K stays inside them and is dropped once the handshake
ends; only a one-way ``session_id`` derived from it leaves.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from spake2 import SPAKE2_A, SPAKE2_B  # type: ignore[import-untyped]

from ra.b64 import b64, unb64
from ra.fingerprint import key_fingerprint
from ra.inert import inert
from ra.invitations.file import Invitation, invitation_digest
from ra.net.errors import (
    ConfirmationFailed,
    FingerprintMismatch,
    IdentityFailed,
    ProtocolError,
    Refused,
    WrongPassword,
)
from ra.net.framing import PROTOCOL_VERSION
from ra.vocabulary import MAX_NAME_CHARS

LABEL = b"ra-net-v1"
TRANSCRIPT_LABEL = LABEL + b" transcript"
HELPER_CONFIRM_LABEL = LABEL + b" helper confirm"
PERSON_CONFIRM_LABEL = LABEL + b" person confirm"
SESSION_ID_LABEL = LABEL + b" session id"
HELPER_IDENTITY_LABEL = LABEL + b" helper identity"

CHANNEL_BINDING = b"tls-server-certificate-sha256"
"""What ties the PAKE to the TLS channel: the pinned certificate's fingerprint.

Python 3.11's ssl offers only "tls-unique", which RFC 9266 leaves undefined for
TLS 1.3, and no "tls-exporter"; see docs/protocol.md for what this means.
"""

PAKE_MESSAGE_BYTES = 33  # side byte + Ed25519 group element
MAC_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
SECRET_BYTES = 32
MAX_REASON_CHARS = 300

CODE_WRONG_PASSWORD = "wrong-password"
CODE_REFUSED = "refused"
CODE_PROTOCOL = "protocol-error"
CODE_INTERNAL = "internal-error"
REFUSE_CODES = frozenset({CODE_WRONG_PASSWORD, CODE_REFUSED, CODE_PROTOCOL, CODE_INTERNAL})

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

Message = dict[str, Any]
CONFIRM_FIELDS = frozenset({"mac", "name", "key", "sig"})


@dataclass(frozen=True)
class HelperIdentity:
    """Who the helper is, as proven in the handshake: the name it gave and its key."""

    name: str
    public_key: bytes

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the raw public key, 64 lowercase hex (`ra.fingerprint`)."""
        return key_fingerprint(self.public_key)


@dataclass(frozen=True)
class HelperSigner:
    """The helper's own side of it: the name it gives and its Ed25519 identity key."""

    name: str
    key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        check_name(self.name)

    @property
    def identity(self) -> HelperIdentity:
        return HelperIdentity(self.name, self.key.public_key().public_bytes_raw())


@dataclass(frozen=True)
class InvitationSecret:
    """What the person's side needs to answer for one invitation.

    ``invitation`` gives the SPAKE2 identities and the digest bound into the
    confirmation; ``secret`` is the keystore's derive_pake_secret output.
    """

    invitation: Invitation
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != SECRET_BYTES:
            raise ValueError(f"the PAKE secret must be {SECRET_BYTES} bytes")


# --------------------------------------------------------------------------
# Pure helpers.


def _unb64(label: str, value: object, size: int) -> bytes:
    try:
        return unb64(value, size)
    except ValueError as exc:
        raise ProtocolError(f"the handshake field {label!r} {exc}") from None


def _expect(message: Mapping[str, Any], kind: str, fields: frozenset[str]) -> None:
    found = message.get("type")
    if found != kind:
        raise ProtocolError(
            f"unexpected handshake message {str(found)[:40]!r} (expected {kind!r})"
        )
    keys = set(message) - {"type"}
    if keys != fields:
        extra = sorted(keys - fields)
        missing = sorted(fields - keys)
        what = f"lacks {missing[0]!r}" if missing else f"has an unknown field {extra[0][:40]!r}"
        raise ProtocolError(f"the handshake message {kind!r} {what}")


def fingerprint_of(der: bytes) -> str:
    """SHA-256 of a certificate's DER, as 64 lowercase hex characters."""
    return hashlib.sha256(der).hexdigest()


def check_pin(invitation: Invitation, peer_der: bytes | None, address: str) -> None:
    """Raise FingerprintMismatch unless ``peer_der`` is the invitation's certificate."""
    if not peer_der:
        raise FingerprintMismatch(address=address)
    if not hmac.compare_digest(fingerprint_of(peer_der), invitation.tls_fingerprint):
        raise FingerprintMismatch(address=address)


def clean_reason(reason: object) -> str:
    """A refusal reason safe to show on one terminal line."""
    text = _CONTROL.sub(" ", str(reason)).strip()
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 1] + "…"
    return text or "no reason given"


def check_name(name: object) -> str:
    """The helper's name if it is fit to show, else ValueError saying why.

    One line of 1 to `MAX_NAME_CHARS` characters with no space at either end:
    no control, format or invisible character, no space but the plain one,
    nothing `ra.inert.inert` would escape or cut.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a name must be some text")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a name can hold at most {MAX_NAME_CHARS} characters")
    if name != name.strip():
        raise ValueError("a name cannot start or end with a space")
    if any(ch.isspace() and ch != " " for ch in name) or inert(name, MAX_NAME_CHARS) != name:
        raise ValueError("a name can hold only visible characters and plain spaces")
    return name


def identity_statement(transcript: bytes, helper_mac: bytes, name: str,
                       public_key: bytes) -> bytes:
    """What the helper signs: the label, T, its confirm mac, its name and its key."""
    parts = (HELPER_IDENTITY_LABEL, transcript, helper_mac, name.encode("utf-8"), public_key)
    return b"".join(_field(p) for p in parts)


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def transcript_hash(
    *,
    invitation: Invitation,
    tls_fingerprint: str,
    person_message: bytes,
    helper_message: bytes,
) -> bytes:
    """T: SHA-256 over length-prefixed fields both sides know after SPAKE2.

    Binds the protocol version, the invitation (id and digest of its signed
    body, hence its salt, identities, expiry and addresses), the TLS
    certificate fingerprint the helper pinned and the person presented, the
    kind of channel binding, and both SPAKE2 messages (side bytes included).
    """
    parts = (
        TRANSCRIPT_LABEL,
        bytes([PROTOCOL_VERSION]),
        invitation.invitation_id.encode("ascii"),
        invitation_digest(invitation),
        bytes.fromhex(tls_fingerprint),
        CHANNEL_BINDING,
        invitation.pake.id_a.encode("ascii"),
        invitation.pake.id_b.encode("ascii"),
        person_message,
        helper_message,
    )
    return hashlib.sha256(b"".join(_field(p) for p in parts)).digest()


def _mac(key: bytes, label: bytes, transcript: bytes) -> bytes:
    return hmac.new(key, label + transcript, hashlib.sha256).digest()


def _session_id(key: bytes, transcript: bytes) -> str:
    return _mac(key, SESSION_ID_LABEL, transcript)[:16].hex()


def refuse_message(code: str, reason: str) -> Message:
    """The person's side's ``refuse`` message."""
    if code not in REFUSE_CODES:
        raise ValueError(f"unknown refusal code {code!r}")
    return {"type": "refuse", "code": code, "reason": clean_reason(reason)}


def _finish_pake(pake: Any, inbound: bytes) -> bytes:
    """Run SPAKE2's finish on ``inbound``; a bad element is a ProtocolError."""
    try:
        key = pake.finish(inbound)
    except Exception:  # spake2 raises assorted errors for a bad point or side byte
        raise ProtocolError("the other side's password-check message is not valid") from None
    if not isinstance(key, bytes):
        raise ProtocolError("the password check produced no key")
    return key


def _start_pake(pake: Any) -> bytes:
    message = pake.start()
    if not isinstance(message, bytes) or len(message) != PAKE_MESSAGE_BYTES:
        raise ProtocolError("the password check could not start")
    return message


# --------------------------------------------------------------------------
# The helper's side (SPAKE2 B, TLS client).


class _HelperState(enum.Enum):
    NEW = "new"
    SENT_HELLO = "sent-hello"
    SENT_CONFIRM = "sent-confirm"
    DONE = "done"
    FAILED = "failed"


class HelperHandshake:
    """The helper's half. Call after the TLS certificate was pinned (check_pin).

    ``hello()`` gives the first message; feed each message from the person's
    side to ``receive``, which returns the reply (or None once done) and raises
    WrongPassword, Refused, ConfirmationFailed or ProtocolError on failure.
    """

    def __init__(self, invitation: Invitation, secret: bytes, signer: HelperSigner) -> None:
        if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
            raise ValueError(f"the PAKE secret must be {SECRET_BYTES} bytes")
        self.invitation = invitation
        self._signer = signer
        self._pake: Any = SPAKE2_B(
            secret,
            idA=invitation.pake.id_a.encode("ascii"),
            idB=invitation.pake.id_b.encode("ascii"),
        )
        self._state = _HelperState.NEW
        self._own_message = b""
        self._key: bytes | None = None
        self._transcript = b""
        self.session_id: str | None = None

    @property
    def done(self) -> bool:
        return self._state is _HelperState.DONE

    def hello(self) -> Message:
        if self._state is not _HelperState.NEW:
            raise ProtocolError("the handshake has already started")
        self._own_message = _start_pake(self._pake)
        self._state = _HelperState.SENT_HELLO
        return {
            "type": "hello",
            "invitation_id": self.invitation.invitation_id,
            "pake": b64(self._own_message),
        }

    def receive(self, message: Mapping[str, Any]) -> Message | None:
        try:
            return self._receive(message)
        except BaseException:
            self._fail()
            raise

    def _fail(self) -> None:
        self._state = _HelperState.FAILED
        self._key = None
        self._pake = None

    def _receive(self, message: Mapping[str, Any]) -> Message | None:
        if message.get("type") == "refuse" and self._state in (
            _HelperState.SENT_HELLO,
            _HelperState.SENT_CONFIRM,
        ):
            _expect(message, "refuse", frozenset({"code", "reason"}))
            code, reason = message["code"], message["reason"]
            if not isinstance(code, str) or not isinstance(reason, str):
                raise ProtocolError("the handshake message 'refuse' is malformed")
            if code == CODE_WRONG_PASSWORD and self._state is _HelperState.SENT_CONFIRM:
                raise WrongPassword()
            raise Refused(reason=clean_reason(reason))
        if self._state is _HelperState.SENT_HELLO:
            _expect(message, "pake", frozenset({"pake"}))
            inbound = _unb64("pake", message["pake"], PAKE_MESSAGE_BYTES)
            key = _finish_pake(self._pake, inbound)
            self._pake = None
            self._transcript = transcript_hash(
                invitation=self.invitation,
                tls_fingerprint=self.invitation.tls_fingerprint,
                person_message=inbound,
                helper_message=self._own_message,
            )
            self._key = key
            self._state = _HelperState.SENT_CONFIRM
            mac = _mac(key, HELPER_CONFIRM_LABEL, self._transcript)
            me = self._signer.identity
            statement = identity_statement(self._transcript, mac, me.name, me.public_key)
            return {
                "type": "confirm",
                "mac": b64(mac),
                "name": me.name,
                "key": b64(me.public_key),
                "sig": b64(self._signer.key.sign(statement)),
            }
        if self._state is _HelperState.SENT_CONFIRM:
            _expect(message, "accept", frozenset({"mac"}))
            mac = _unb64("mac", message["mac"], MAC_BYTES)
            held = self._key
            if held is None:  # pragma: no cover - state guarantees it
                raise ProtocolError("the handshake lost its key")
            if not hmac.compare_digest(mac, _mac(held, PERSON_CONFIRM_LABEL, self._transcript)):
                raise ConfirmationFailed()
            self.session_id = _session_id(held, self._transcript)
            self._key = None
            self._state = _HelperState.DONE
            return None
        raise ProtocolError(
            f"unexpected handshake message {str(message.get('type'))[:40]!r} "
            f"({self._state.value})"
        )


# --------------------------------------------------------------------------
# The person's side (SPAKE2 A, TLS server).


class _PersonState(enum.Enum):
    NEW = "new"
    GOT_HELLO = "got-hello"
    SENT_PAKE = "sent-pake"
    VERIFIED = "verified"
    DONE = "done"
    FAILED = "failed"


class PersonHandshake:
    """The person's half, driven by the transport in this order:

    ``receive_hello(msg) -> invitation_id``; the caller runs its checks and
    looks up the secret, then ``respond(secret) -> pake message``;
    ``receive_confirm(msg) -> bool`` (False: wrong password); then ``accept()``
    for the final message, or ``refuse(code, reason)`` at any point.
    """

    def __init__(self, own_fingerprint: str) -> None:
        self.own_fingerprint = own_fingerprint
        self._state = _PersonState.NEW
        self.invitation_id: str | None = None
        self._invitation: Invitation | None = None
        self._helper_message = b""
        self._key: bytes | None = None
        self._transcript = b""
        self.session_id: str | None = None
        self.helper: HelperIdentity | None = None
        """The helper's proven identity, once `receive_confirm` has checked it."""

    @property
    def done(self) -> bool:
        return self._state is _PersonState.DONE

    def receive_hello(self, message: Mapping[str, Any]) -> str:
        if self._state is not _PersonState.NEW:
            raise ProtocolError("unexpected second hello")
        _expect(message, "hello", frozenset({"invitation_id", "pake"}))
        invitation_id = message["invitation_id"]
        if not isinstance(invitation_id, str) or not _UUID.fullmatch(invitation_id):
            raise ProtocolError("the hello names no valid invitation id")
        self._helper_message = _unb64("pake", message["pake"], PAKE_MESSAGE_BYTES)
        self.invitation_id = invitation_id
        self._state = _PersonState.GOT_HELLO
        return invitation_id

    def respond(self, secret: InvitationSecret) -> Message:
        if self._state is not _PersonState.GOT_HELLO:
            raise ProtocolError("respond() before a hello")
        invitation = secret.invitation
        if invitation.invitation_id != self.invitation_id:
            raise ValueError("the secret is for another invitation")
        pake = SPAKE2_A(
            secret.secret,
            idA=invitation.pake.id_a.encode("ascii"),
            idB=invitation.pake.id_b.encode("ascii"),
        )
        own = _start_pake(pake)
        try:
            key = _finish_pake(pake, self._helper_message)
        except ProtocolError:
            self._state = _PersonState.FAILED
            raise
        self._key = key
        self._invitation = invitation
        self._transcript = transcript_hash(
            invitation=invitation,
            tls_fingerprint=self.own_fingerprint,
            person_message=own,
            helper_message=self._helper_message,
        )
        self._state = _PersonState.SENT_PAKE
        return {"type": "pake", "pake": b64(own)}

    def receive_confirm(self, message: Mapping[str, Any]) -> bool:
        """Whether the helper proved the same key (the right password).

        With the right password, the helper's signature is checked next:
        IdentityFailed if it does not hold (`helper` is set when it does).
        A confirm that is malformed in any field is a ProtocolError, before
        the password is judged.
        """
        if self._state is not _PersonState.SENT_PAKE:
            raise ProtocolError("unexpected confirm")
        _expect(message, "confirm", CONFIRM_FIELDS)
        mac = _unb64("mac", message["mac"], MAC_BYTES)
        public_key = _unb64("key", message["key"], PUBLIC_KEY_BYTES)
        signature = _unb64("sig", message["sig"], SIGNATURE_BYTES)
        try:
            name = check_name(message["name"])
        except ValueError as error:
            raise ProtocolError(f"the helper's name is not acceptable: {error}") from None
        key = self._key
        if key is None:  # pragma: no cover - state guarantees it
            raise ProtocolError("the handshake lost its key")
        if not hmac.compare_digest(mac, _mac(key, HELPER_CONFIRM_LABEL, self._transcript)):
            self._state = _PersonState.FAILED
            self._key = None
            return False
        statement = identity_statement(self._transcript, mac, name, public_key)
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, statement)
        except (InvalidSignature, ValueError):
            self._state = _PersonState.FAILED
            self._key = None
            raise IdentityFailed() from None
        self.helper = HelperIdentity(name, public_key)
        self._state = _PersonState.VERIFIED
        return True

    def accept(self) -> Message:
        key = self._key
        if self._state is not _PersonState.VERIFIED or key is None:
            raise ProtocolError("accept() before the password was verified")
        mac = _mac(key, PERSON_CONFIRM_LABEL, self._transcript)
        self.session_id = _session_id(key, self._transcript)
        self._key = None
        self._state = _PersonState.DONE
        return {"type": "accept", "mac": b64(mac)}

    def refuse(self, code: str, reason: str) -> Message:
        self._state = _PersonState.FAILED
        self._key = None
        return refuse_message(code, reason)
