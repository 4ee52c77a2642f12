"""The invitation file, format version 1 (see docs/invitation-format.md).

An invitation is one line of JSON::

    {"format":"ra-invitation","version":1,"body":{...},"signature":"..."}

``body`` is the canonical JSON of the Invitation (sorted keys, no spaces,
UTF-8) and ``signature`` is an Ed25519 signature over exactly those bytes by
the key the body names in ``signing_key``. The file holds nothing derived from
the invitation password, so a stolen file gives no way to test guesses offline.

Readers accept only the exact bytes a writer produces (plus a CRLF line end):
anything else is refused with an InvitationError subclass, never another
exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import os
import re
import secrets
import unicodedata
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ra.b64 import b64, unb64
from ra.events import canonical
from ra.fingerprint import format_fingerprint as format_fingerprint
from ra.fingerprint import key_fingerprint as key_fingerprint
from ra.invitations.errors import (
    InvitationError,
    InvitationExpiredError,
    InvitationFormatError,
    InvitationKeyMismatchError,
    InvitationReadError,
    InvitationSignatureError,
    InvitationTooLargeError,
    InvitationVersionError,
)

FORMAT_NAME = "ra-invitation"
FORMAT_VERSION = 1
MAX_INVITATION_BYTES = 64 * 1024
MAX_NAME_CHARS = 200
MAX_MESSAGE_CHARS = 2000
MAX_ADDRESSES = 32
MAX_PAKE_ID_CHARS = 200
PAKE_SUITE = "spake2-ed25519-sha256"
SALT_BYTES = 16
CODE_PREFIX = "ra1:"
MEDIA_TYPE = "application/vnd.ra.invitation+json"
FILE_SUFFIX = ".rainv"

_WRAPPER_KEYS = frozenset({"format", "version", "body", "signature"})
_BODY_KEYS = frozenset(
    {
        "version",
        "invitation_id",
        "name",
        "message",
        "created_at",
        "expires_at",
        "addresses",
        "port",
        "tls_fingerprint",
        "pake",
        "signing_key",
    }
)
_PAKE_KEYS = frozenset({"suite", "idA", "idB", "salt"})
_TIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", re.ASCII)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_FINGERPRINT_PATTERN = re.compile(r"[0-9a-f]{64}", re.ASCII)
_PAKE_ID_PATTERN = re.compile(r"[\x21-\x7e]+", re.ASCII)
_HOST_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_PATTERN = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?", re.ASCII)
# Characters that can make displayed text lie about itself (bidi overrides).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# --------------------------------------------------------------------------
# Field checks. Each raises InvitationFormatError with a line naming the field.


def _bad(text: str) -> InvitationFormatError:
    return InvitationFormatError(f"this invitation is damaged or not valid: {text}")


def _check_text(label: str, value: object, limit: int, *, allow_newline: bool) -> str:
    if not isinstance(value, str):
        raise _bad(f"{label} must be text")
    if len(value) > limit:
        raise _bad(f"{label} is too long ({len(value)} characters, at most {limit})")
    for char in value:
        if char == "\n" and allow_newline:
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI_CONTROLS:
            raise _bad(f"{label} contains a control character (U+{ord(char):04X})")
    return value


def _check_name(value: object) -> str:
    name = _check_text("the name", value, MAX_NAME_CHARS, allow_newline=False)
    if not name.strip():
        raise _bad("the name is empty")
    return name


def _check_time(label: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise _bad(f"{label} must be a date and time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _bad(f"{label} must carry a time zone (UTC)")
    return value.astimezone(UTC)


def _check_uuid(value: object) -> str:
    if not isinstance(value, str):
        raise _bad("invitation_id must be text")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise _bad("invitation_id is not a UUID") from None
    if str(parsed) != value:
        raise _bad("invitation_id must be a lowercase UUID with dashes")
    return value


def _check_host(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 253:
        raise _bad("each address must be a host name or IP address")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME_PATTERN.fullmatch(value):
            raise _bad("an address is neither a host name nor an IP address") from None
    return value


def _check_addresses(value: object) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise _bad("addresses must be a list of host names or IP addresses")
    hosts = tuple(_check_host(item) for item in value)
    if not hosts:
        raise _bad("addresses is empty: there is nowhere to connect")
    if len(hosts) > MAX_ADDRESSES:
        raise _bad(f"too many addresses ({len(hosts)}, at most {MAX_ADDRESSES})")
    return hosts


def _check_port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _bad("port must be a whole number from 1 to 65535")
    return value


def _check_fingerprint(value: object) -> str:
    if not isinstance(value, str) or not _FINGERPRINT_PATTERN.fullmatch(value):
        raise _bad("tls_fingerprint must be 64 lowercase hexadecimal characters (SHA-256)")
    return value


def _check_raw(label: str, value: object, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise _bad(f"{label} must be exactly {size} bytes")
    return value


def _check_pake_id(label: str, value: object) -> str:
    if (
        not isinstance(value, str)
        or len(value) > MAX_PAKE_ID_CHARS
        or not _PAKE_ID_PATTERN.fullmatch(value)
    ):
        raise _bad(f"pake {label} must be 1 to {MAX_PAKE_ID_CHARS} printable ASCII characters")
    return value


# --------------------------------------------------------------------------
# The data.


@dataclass(frozen=True, kw_only=True)
class PakeParams:
    """Public inputs of the SPAKE2 exchange; written as ``pake`` in the body.

    ``salt`` is 16 random bytes that make this invitation's exchange distinct
    from every other one (domain separation). It is public and is NOT a hash
    of the password: nothing here depends on the password.
    """

    suite: str = PAKE_SUITE
    id_a: str
    id_b: str
    salt: bytes

    def __post_init__(self) -> None:
        if self.suite != PAKE_SUITE:
            raise _bad(f"unsupported pake suite (this ra uses {PAKE_SUITE})")
        _check_pake_id("idA", self.id_a)
        _check_pake_id("idB", self.id_b)
        if self.id_a == self.id_b:
            raise _bad("pake idA and idB must differ")
        _check_raw("pake salt", self.salt, SALT_BYTES)

    @classmethod
    def for_invitation(cls, invitation_id: str) -> PakeParams:
        """The standard identities for ``invitation_id`` with a fresh random salt."""
        return cls(
            id_a=f"ra-person:{invitation_id}",
            id_b=f"ra-helper:{invitation_id}",
            salt=secrets.token_bytes(SALT_BYTES),
        )


@dataclass(frozen=True, kw_only=True)
class Invitation:
    """What a helper needs to reach the person asking for help, and nothing secret.

    Times are timezone-aware and stored in UTC. ``signing_key`` is the
    person's raw 32-byte Ed25519 public key. Constructing an Invitation checks
    every field and raises InvitationFormatError on a bad one.
    """

    version: int = FORMAT_VERSION
    invitation_id: str
    name: str
    message: str
    created_at: datetime
    expires_at: datetime
    addresses: tuple[str, ...]
    port: int
    tls_fingerprint: str
    pake: PakeParams
    signing_key: bytes

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or self.version != FORMAT_VERSION:
            raise _bad(f"version must be {FORMAT_VERSION}")
        _check_uuid(self.invitation_id)
        _check_name(self.name)
        _check_text("the message", self.message, MAX_MESSAGE_CHARS, allow_newline=True)
        created = _check_time("created_at", self.created_at)
        expires = _check_time("expires_at", self.expires_at)
        if expires <= created:
            raise _bad("expires_at must be later than created_at")
        object.__setattr__(self, "created_at", created)
        object.__setattr__(self, "expires_at", expires)
        object.__setattr__(self, "addresses", _check_addresses(self.addresses))
        _check_port(self.port)
        _check_fingerprint(self.tls_fingerprint)
        if not isinstance(self.pake, PakeParams):
            raise _bad("pake must be PakeParams")
        _check_raw("signing_key", self.signing_key, 32)


def new_invitation(
    *,
    name: str,
    message: str,
    expires_at: datetime,
    addresses: Iterable[str],
    port: int,
    tls_fingerprint: str,
    signing_key: Ed25519PublicKey | bytes,
    now: datetime | None = None,
) -> Invitation:
    """A fresh Invitation: new UUID, new PAKE salt, created now (UTC)."""
    invitation_id = str(uuid.uuid4())
    if isinstance(signing_key, Ed25519PublicKey):
        signing_key = signing_key.public_bytes_raw()
    return Invitation(
        invitation_id=invitation_id,
        name=name,
        message=message,
        created_at=now if now is not None else datetime.now(UTC),
        expires_at=expires_at,
        addresses=tuple(addresses),
        port=port,
        tls_fingerprint=tls_fingerprint,
        pake=PakeParams.for_invitation(invitation_id),
        signing_key=signing_key,
    )


# --------------------------------------------------------------------------
# Encoding.


def _unb64(label: str, value: object, size: int) -> bytes:
    """Decode canonical standard base64 (with padding) of exactly ``size`` bytes."""
    try:
        return unb64(value, size)
    except ValueError as exc:
        raise _bad(f"{label} {exc}") from None


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def _parse_time(label: str, value: object) -> datetime:
    if not isinstance(value, str) or not _TIME_PATTERN.fullmatch(value):
        raise _bad(f"{label} must look like 2024-01-31T09:30:00.000000Z")
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _bad(f"{label} is not a real date and time") from None


def _canonical_json(value: object) -> bytes:
    return canonical.encode(value)


def _body_dict(inv: Invitation) -> dict[str, object]:
    return {
        "version": inv.version,
        "invitation_id": inv.invitation_id,
        "name": inv.name,
        "message": inv.message,
        "created_at": _format_time(inv.created_at),
        "expires_at": _format_time(inv.expires_at),
        "addresses": list(inv.addresses),
        "port": inv.port,
        "tls_fingerprint": inv.tls_fingerprint,
        "pake": {
            "suite": inv.pake.suite,
            "idA": inv.pake.id_a,
            "idB": inv.pake.id_b,
            "salt": b64(inv.pake.salt),
        },
        "signing_key": b64(inv.signing_key),
    }


def canonical_body(inv: Invitation) -> bytes:
    """The exact bytes that are signed: canonical JSON of the invitation body."""
    return _canonical_json(_body_dict(inv))


def invitation_digest(inv: Invitation) -> bytes:
    """SHA-256 of canonical_body; bind this into the session handshake."""
    return hashlib.sha256(canonical_body(inv)).digest()


def _assemble(body: bytes, signature: bytes) -> bytes:
    head = f'{{"format":"{FORMAT_NAME}","version":{FORMAT_VERSION},"body":'
    tail = f',"signature":"{b64(signature)}"}}\n'
    return head.encode("ascii") + body + tail.encode("ascii")


def sign_invitation(inv: Invitation, key: Ed25519PrivateKey) -> bytes:
    """The invitation file's bytes, signed with ``key``.

    ``key`` must be the private half of ``inv.signing_key``; otherwise
    InvitationKeyMismatchError is raised and nothing is signed.
    """
    if key.public_key().public_bytes_raw() != inv.signing_key:
        raise InvitationKeyMismatchError()
    body = canonical_body(inv)
    data = _assemble(body, key.sign(body))
    # The writer must produce what the reader accepts; check before handing it out.
    parse_invitation(data, check_expiry=False)
    return data


# --------------------------------------------------------------------------
# Decoding.


def _exact_keys(label: str, value: object, keys: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _bad(f"{label} must be a JSON object")
    present = set(value)
    missing = sorted(keys - present)
    if missing:
        raise _bad(f"{label} lacks the field {missing[0][:40]!r}")
    extra = sorted(present - keys)
    if extra:
        raise _bad(f"{label} has an unknown field {extra[0][:40]!r}")
    return value


def _load_json(text: str) -> object:
    try:
        return canonical.strict_loads(text)
    except canonical.DuplicateKeyError as error:
        raise _bad(f"the field {str(error)[:40]!r} appears twice") from None
    except RecursionError:
        raise _bad("it is nested far too deeply") from None
    except ValueError:
        if text.startswith(f'{{"format":"{FORMAT_NAME}"'):
            raise InvitationFormatError(
                "this invitation is incomplete or damaged (it may have been cut off)"
            ) from None
        raise InvitationFormatError("this file is not an ra invitation (it is not JSON)") from None


def _check_wrapper(document: object) -> tuple[Mapping[str, object], bytes]:
    """Check format and version first, so a newer file gets the version message."""
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise InvitationFormatError("this file is not an ra invitation")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _bad("version must be a whole number")
    if not 1 <= version <= 1_000_000:
        raise _bad("version must be a small positive whole number")
    if version != FORMAT_VERSION:
        raise InvitationVersionError(version, FORMAT_VERSION)
    _exact_keys("the file", document, _WRAPPER_KEYS)
    body = _exact_keys("the body", document["body"], _BODY_KEYS)
    signature = _unb64("the signature", document["signature"], 64)
    return body, signature


def _verify(body: Mapping[str, object], signature: bytes) -> None:
    public_raw = _unb64("signing_key", body["signing_key"], 32)
    try:
        signed = _canonical_json(body)
    except UnicodeError:
        raise _bad("it contains text that is not valid Unicode") from None
    try:
        public = Ed25519PublicKey.from_public_bytes(public_raw)
        public.verify(signature, signed)
    except (InvalidSignature, ValueError):
        raise InvitationSignatureError() from None


def _invitation_from_body(body: Mapping[str, object]) -> Invitation:
    pake = _exact_keys("pake", body["pake"], _PAKE_KEYS)
    version = body["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:
        raise _bad("the signed version does not match the file's version")
    for label in ("invitation_id", "name", "message", "tls_fingerprint"):
        if not isinstance(body[label], str):
            raise _bad(f"{label} must be text")
    addresses = body["addresses"]
    if not isinstance(addresses, list):
        raise _bad("addresses must be a list of host names or IP addresses")
    port = _check_port(body["port"])
    return Invitation(
        version=FORMAT_VERSION,
        invitation_id=str(body["invitation_id"]),
        name=str(body["name"]),
        message=str(body["message"]),
        created_at=_parse_time("created_at", body["created_at"]),
        expires_at=_parse_time("expires_at", body["expires_at"]),
        addresses=_check_addresses(addresses),
        port=port,
        tls_fingerprint=str(body["tls_fingerprint"]),
        pake=PakeParams(
            suite=str(_check_text("pake suite", pake["suite"], 100, allow_newline=False)),
            id_a=_check_pake_id("idA", pake["idA"]),
            id_b=_check_pake_id("idB", pake["idB"]),
            salt=_unb64("pake salt", pake["salt"], SALT_BYTES),
        ),
        signing_key=_unb64("signing_key", body["signing_key"], 32),
    )


def _parse(data: bytes, now: datetime | None, check_expiry: bool) -> Invitation:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvitationFormatError("an invitation must be given as bytes")
    data = bytes(data)
    if len(data) > MAX_INVITATION_BYTES:
        raise InvitationTooLargeError(len(data), MAX_INVITATION_BYTES)
    if not data.strip():
        raise InvitationFormatError("this invitation file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvitationFormatError("this file is not an ra invitation (it is not text)") from None
    body, signature = _check_wrapper(_load_json(text))
    _verify(body, signature)
    inv = _invitation_from_body(body)
    expected = _assemble(canonical_body(inv), signature)
    if data not in (expected, expected[:-1] + b"\r\n"):
        if not data.endswith(b"\n"):
            raise InvitationFormatError(
                "this invitation is incomplete or damaged (it may have been cut off)"
            )
        raise InvitationFormatError(
            "this invitation file was reformatted after it was signed; ask for the original file"
        )
    if check_expiry:
        moment = now if now is not None else datetime.now(UTC)
        if moment >= inv.expires_at:
            raise InvitationExpiredError(inv.expires_at)
    return inv


def parse_invitation(
    data: bytes, *, now: datetime | None = None, check_expiry: bool = True
) -> Invitation:
    """Read an invitation file's bytes, check everything, and return the Invitation.

    Checks, in order: size (before any parsing), text and JSON, format name,
    version, shape, signature, fields, exact layout, and, unless
    ``check_expiry`` is False, that ``now`` (default: the current time) is
    before ``expires_at``.
    ``now`` must be timezone-aware. Raises only InvitationError subclasses.
    """
    if now is not None and (now.tzinfo is None or now.utcoffset() is None):
        raise ValueError("now must be a timezone-aware datetime")
    try:
        return _parse(data, now, check_expiry)
    except InvitationError:
        raise
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        OverflowError,
        RecursionError,
        UnicodeError,
        AttributeError,
    ):
        # Every known failure is mapped above; this keeps the promise for the unforeseen.
        raise InvitationFormatError("this invitation is damaged or not valid") from None


def load_invitation(
    path: str | os.PathLike[str], *, now: datetime | None = None, check_expiry: bool = True
) -> Invitation:
    """Read and check the invitation at ``path`` (see parse_invitation).

    ``path`` may also be a code (see read_invitation_source), and the file
    may hold one. At most MAX_INVITATION_BYTES + 1 bytes are read, so a huge
    file is refused without loading it. A file that cannot be read gives
    InvitationReadError.
    """
    return parse_invitation(read_invitation_source(path), now=now, check_expiry=check_expiry)


def is_code(text: str) -> bool:
    """Whether `text` is an invitation code: ``ra<N>:`` first, in any case, any version."""
    return _CODE_START.match(text) is not None


def read_invitation_source(source: str | os.PathLike[str]) -> bytes:
    """An invitation's file bytes, from a code or from the file `source` names.

    Text that starts like a code (``ra1:``, ``RA1:``, or ``ra2:`` from a newer
    ra) is read as a code, never as a file name: a newer version is refused
    as such (InvitationVersionError), not reported as a missing file. A file
    whose content is a code is read as that code.
    """
    if isinstance(source, str) and is_code(source):
        return from_code(source)
    data = _read_file(source)
    if is_code(data[:64].decode("ascii", "replace")):
        return from_code(data.decode("ascii", "replace"))
    return data


def _read_file(path: str | os.PathLike[str]) -> bytes:
    shown = os.fsdecode(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INVITATION_BYTES + 1)
    except OSError as error:
        raise InvitationReadError(shown, error.strerror or str(error)) from None
    if len(data) > MAX_INVITATION_BYTES:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = len(data)
        raise InvitationTooLargeError(size, MAX_INVITATION_BYTES)
    return data


# --------------------------------------------------------------------------
# The one-line code (fingerprints: `ra.fingerprint`, re-exported here).


def to_code(file_bytes: bytes) -> str:
    """The invitation as one pasteable line: ``ra1:`` + URL-safe base64 of zlib data."""
    if len(file_bytes) > MAX_INVITATION_BYTES:
        raise InvitationTooLargeError(len(file_bytes), MAX_INVITATION_BYTES)
    packed = base64.urlsafe_b64encode(zlib.compress(bytes(file_bytes), 9))
    return CODE_PREFIX + packed.decode("ascii").rstrip("=")


_CODE_PATTERN = re.compile(r"ra(\d{1,6}):(.*)", re.ASCII | re.IGNORECASE | re.DOTALL)
_CODE_START = re.compile(r"\s*ra\d+:", re.ASCII | re.IGNORECASE)


def from_code(code: str) -> bytes:
    """The invitation file bytes from a ``ra1:`` code; whitespace anywhere is ignored.

    Returns the bytes to give to parse_invitation. Raises InvitationFormatError,
    InvitationVersionError, or InvitationTooLargeError.
    """
    if not isinstance(code, str):
        raise InvitationFormatError("an invitation code must be text")
    if len(code) > 4 * MAX_INVITATION_BYTES:
        raise InvitationTooLargeError(len(code), 4 * MAX_INVITATION_BYTES)
    compact = "".join(code.split())
    match = _CODE_PATTERN.fullmatch(compact)
    if match is None:
        raise InvitationFormatError("this is not an ra invitation code (it should start with ra1:)")
    version = int(match.group(1))
    if not 1 <= version <= 1_000_000:
        raise _bad("version must be a small positive whole number")
    if version != FORMAT_VERSION:
        raise InvitationVersionError(version, FORMAT_VERSION)
    payload = match.group(2).rstrip("=")
    if not payload.isascii():
        raise InvitationFormatError("this invitation code is damaged (unexpected characters)")
    try:
        packed = base64.b64decode(
            payload + "=" * (-len(payload) % 4), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError):
        raise InvitationFormatError(
            "this invitation code is damaged (it is not valid base64)"
        ) from None
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(packed, MAX_INVITATION_BYTES + 1)
    except zlib.error:
        raise InvitationFormatError(
            "this invitation code is damaged (it does not unpack)"
        ) from None
    if len(data) > MAX_INVITATION_BYTES:
        raise InvitationTooLargeError(len(data), MAX_INVITATION_BYTES)
    if not inflater.eof or inflater.unused_data:
        raise InvitationFormatError("this invitation code is incomplete or has extra data")
    return data
