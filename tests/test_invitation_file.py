"""The signed invitation file: round trip, tampering, damage, versions, expiry, fuzzing."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ra.invitations import (
    CODE_PREFIX,
    MAX_INVITATION_BYTES,
    Invitation,
    InvitationError,
    InvitationExpiredError,
    InvitationFormatError,
    InvitationKeyMismatchError,
    InvitationReadError,
    InvitationSignatureError,
    InvitationTooLargeError,
    InvitationVersionError,
    PakeParams,
    canonical_body,
    format_fingerprint,
    from_code,
    generate_password,
    invitation_digest,
    key_fingerprint,
    load_invitation,
    new_invitation,
    parse_invitation,
    sign_invitation,
    to_code,
)

CREATED = datetime(2030, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
EXPIRES = CREATED + timedelta(hours=6)
DURING = CREATED + timedelta(hours=1)
KEY = Ed25519PrivateKey.generate()
TLS_FINGERPRINT = hashlib.sha256(b"a certificate").hexdigest()


def make_invitation(**changes: Any) -> Invitation:
    invitation_id = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"
    fields: dict[str, Any] = {
        "invitation_id": invitation_id,
        "name": "Zoë Ångström",
        "message": 'My printer says "offline".\nCould you look? ✓',
        "created_at": CREATED,
        "expires_at": EXPIRES,
        "addresses": ("192.168.1.20", "fe80::1%eth0", "zoe-laptop.local"),
        "port": 47900,
        "tls_fingerprint": TLS_FINGERPRINT,
        "pake": PakeParams(
            id_a=f"ra-person:{invitation_id}",
            id_b=f"ra-helper:{invitation_id}",
            salt=bytes(range(16)),
        ),
        "signing_key": KEY.public_key().public_bytes_raw(),
    }
    fields.update(changes)
    return Invitation(**fields)


INVITATION = make_invitation()
FILE = sign_invitation(INVITATION, KEY)


def parse(data: bytes, **options: Any) -> Invitation:
    options.setdefault("now", DURING)
    return parse_invitation(data, **options)


def rewrap(document: dict[str, Any], key: Ed25519PrivateKey | None = None) -> bytes:
    """Serialize a (possibly edited) document; with ``key``, sign its body afresh."""
    if key is not None:
        body = json.dumps(
            document["body"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        document["signature"] = base64.b64encode(key.sign(body)).decode("ascii")
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FILE)
    return loaded


# ----------------------------------------------------------------------------- round trip


def test_round_trip_keeps_every_field() -> None:
    parsed = parse(FILE)
    assert parsed == INVITATION
    assert parsed.version == 1
    assert parsed.invitation_id == "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"
    assert parsed.name == "Zoë Ångström"
    assert parsed.message == 'My printer says "offline".\nCould you look? ✓'
    assert parsed.created_at == CREATED and parsed.created_at.tzinfo is UTC
    assert parsed.expires_at == EXPIRES and parsed.expires_at.microsecond == 589793
    assert parsed.addresses == ("192.168.1.20", "fe80::1%eth0", "zoe-laptop.local")
    assert parsed.port == 47900
    assert parsed.tls_fingerprint == TLS_FINGERPRINT
    assert parsed.pake.suite == "spake2-ed25519-sha256"
    assert parsed.pake.id_a == "ra-person:3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"
    assert parsed.pake.id_b == "ra-helper:3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"
    assert parsed.pake.salt == bytes(range(16))
    assert parsed.signing_key == KEY.public_key().public_bytes_raw()


def test_file_layout_is_the_documented_one() -> None:
    assert FILE.endswith(b"\n") and FILE.count(b"\n") == 1
    assert FILE.startswith(b'{"format":"ra-invitation","version":1,"body":{')
    loaded = document()
    assert list(loaded) == ["format", "version", "body", "signature"]
    body = canonical_body(INVITATION)
    assert b'"body":' + body + b',"signature":' in FILE
    signature = base64.b64decode(loaded["signature"])
    KEY.public_key().verify(signature, body)
    assert loaded["body"]["created_at"] == "2030-03-14T09:26:53.589793Z"
    assert loaded["body"]["pake"]["salt"] == base64.b64encode(bytes(range(16))).decode()
    assert invitation_digest(INVITATION) == hashlib.sha256(body).digest()


def test_signing_is_deterministic_and_stable_across_round_trip() -> None:
    assert sign_invitation(parse(FILE), KEY) == FILE


def test_crlf_line_end_is_accepted() -> None:
    assert parse(FILE[:-1] + b"\r\n") == INVITATION


def test_times_in_other_zones_are_stored_as_utc() -> None:
    east = datetime(2030, 3, 14, 11, 26, 53, 589793, tzinfo=timezone(timedelta(hours=2)))
    inv = make_invitation(created_at=east, expires_at=east + timedelta(hours=6))
    assert inv.created_at == CREATED and inv.created_at.tzinfo is UTC
    assert parse(sign_invitation(inv, KEY)) == INVITATION


def test_new_invitation_fills_id_salt_and_identities() -> None:
    def new() -> Invitation:
        return new_invitation(
            name="Sam",
            message="",
            expires_at=EXPIRES,
            addresses=["10.0.0.5"],
            port=5900,
            tls_fingerprint=TLS_FINGERPRINT,
            signing_key=KEY.public_key(),
            now=CREATED,
        )

    inv = new()
    assert str(uuid.UUID(inv.invitation_id)) == inv.invitation_id
    assert inv.pake.id_a == f"ra-person:{inv.invitation_id}"
    assert inv.pake.id_b == f"ra-helper:{inv.invitation_id}"
    assert len(inv.pake.salt) == 16
    other = new()
    assert other.pake.salt != inv.pake.salt and other.invitation_id != inv.invitation_id
    assert parse(sign_invitation(inv, KEY)) == inv


def test_signing_with_another_key_is_refused() -> None:
    with pytest.raises(InvitationKeyMismatchError):
        sign_invitation(INVITATION, Ed25519PrivateKey.generate())


def test_load_invitation_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "RAInvitation.rainv"
    path.write_bytes(FILE)
    assert load_invitation(path, now=DURING) == INVITATION
    assert load_invitation(str(path), now=DURING) == INVITATION


def test_load_invitation_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(InvitationReadError) as caught:
        load_invitation(tmp_path / "nope.rainv")
    text = str(caught.value)
    assert "nope.rainv" in text and "No such file" in text and "\n" not in text


def test_load_invitation_refuses_a_huge_file_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.rainv"
    path.write_bytes(b"{" * (MAX_INVITATION_BYTES * 4))
    with pytest.raises(InvitationTooLargeError):
        load_invitation(path)


def test_fingerprints() -> None:
    raw = KEY.public_key().public_bytes_raw()
    assert key_fingerprint(raw) == hashlib.sha256(raw).hexdigest()
    grouped = format_fingerprint(key_fingerprint(raw))
    assert len(grouped.split(" ")) == 16
    assert all(len(group) == 4 for group in grouped.split(" "))
    assert grouped.replace(" ", "") == key_fingerprint(raw)
    assert format_fingerprint("AB:12:CD:34") == "ab12 cd34"


# ----------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("flip", [0x01, 0x02, 0x04, 0x20, 0x80])
def test_changing_any_single_byte_is_rejected(flip: int) -> None:
    kinds: dict[str, int] = {}
    for position in range(len(FILE)):
        edited = bytearray(FILE)
        edited[position] ^= flip
        with pytest.raises(InvitationError) as caught:
            parse(bytes(edited))
        kinds[type(caught.value).__name__] = kinds.get(type(caught.value).__name__, 0) + 1
    assert set(kinds) <= {
        "InvitationFormatError",
        "InvitationSignatureError",
        "InvitationVersionError",
    }
    if flip != 0x80:
        # Edits inside text fields keep the JSON valid: only the signature notices.
        assert kinds.get("InvitationSignatureError", 0) > 50


def test_edited_name_reports_the_signature() -> None:
    edited = FILE.replace("Zoë Ångström".encode(), b"Zoe Angstrom")
    with pytest.raises(InvitationSignatureError) as caught:
        parse(edited)
    assert str(caught.value) == (
        "the invitation was changed after it was signed; ask for a new one"
    )


def test_resigned_with_another_key_but_same_signing_key_fails() -> None:
    doc = document()
    doc["body"]["port"] = 4444
    with pytest.raises(InvitationSignatureError):
        parse(rewrap(doc, Ed25519PrivateKey.generate()))


def test_reformatted_file_is_rejected_even_with_valid_signature() -> None:
    pretty = json.dumps(document(), indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    with pytest.raises(InvitationFormatError) as caught:
        parse(pretty)
    assert "reformatted" in str(caught.value)


def test_duplicate_field_is_rejected() -> None:
    doubled = FILE.replace(b'"port":47900', b'"port":47900,"port":47900')
    with pytest.raises(InvitationFormatError) as caught:
        parse(doubled)
    assert "appears twice" in str(caught.value)


# ----------------------------------------------------------------------------- damage


def test_truncated_at_every_length_is_a_format_error() -> None:
    for length in range(len(FILE)):
        with pytest.raises(InvitationFormatError):
            parse(FILE[:length])


def test_cut_off_file_says_so() -> None:
    with pytest.raises(InvitationFormatError) as caught:
        parse(FILE[: len(FILE) // 2])
    assert "cut off" in str(caught.value)


def test_oversized_is_refused_before_parsing() -> None:
    huge = FILE[:-2] + b" " * MAX_INVITATION_BYTES + b"}\n"
    with pytest.raises(InvitationTooLargeError) as caught:
        parse(huge)
    assert "too large" in str(caught.value)
    with pytest.raises(InvitationTooLargeError):
        parse(b"[" * (MAX_INVITATION_BYTES + 1))


def test_deeply_nested_json_is_a_format_error() -> None:
    with pytest.raises(InvitationFormatError):
        parse(b"[" * MAX_INVITATION_BYTES)
    with pytest.raises(InvitationFormatError):
        parse(b'{"format":"ra-invitation","version":1,"body":' + b"[" * 30000 + b"]" * 30000)


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n", b"\xff\xfe\x00", b"hello", b"[]", b"null", b"{}", b'{"format":1}'],
)
def test_garbage_is_not_ours(data: bytes) -> None:
    with pytest.raises(InvitationFormatError):
        parse(data)


def test_other_format_is_not_ours() -> None:
    doc = document()
    doc["format"] = "something-else"
    with pytest.raises(InvitationFormatError) as caught:
        parse(rewrap(doc))
    assert str(caught.value) == "this file is not an ra invitation"


def test_newer_version_says_so() -> None:
    doc = document()
    doc["version"] = 2
    doc["body"] = {"anything": "a future format may hold"}
    with pytest.raises(InvitationVersionError) as caught:
        parse(rewrap(doc))
    assert str(caught.value) == (
        "this invitation was made by a newer version of ra (format 2); this ra reads format 1: "
        "update ra to read it"
    )


def test_version_that_is_not_a_number_is_a_format_error() -> None:
    for bad in ("1", 1.0, True, None):
        doc = document()
        doc["version"] = bad
        with pytest.raises(InvitationFormatError):
            parse(rewrap(doc))


BODY_EDITS: list[tuple[str, Any]] = [
    ("port", 0),
    ("port", 65536),
    ("port", "5900"),
    ("port", 5900.0),
    ("port", True),
    ("tls_fingerprint", TLS_FINGERPRINT.upper()),
    ("tls_fingerprint", TLS_FINGERPRINT[:-1]),
    ("tls_fingerprint", 12),
    ("signing_key", "not base64!"),
    ("invitation_id", "not-a-uuid"),
    ("invitation_id", "3F2B8C1E-9A4D-4E6F-8B7A-1C2D3E4F5A6B"),
    ("name", ""),
    ("name", "x" * 201),
    ("name", "evil\u202eman"),
    ("name", "two\nlines"),
    ("message", "x" * 2001),
    ("message", "bell\x07"),
    ("message", "carriage\r\nreturn"),
    ("created_at", "2030-03-14T09:26:53Z"),
    ("created_at", "2030-03-14T09:26:53.589793+00:00"),
    ("created_at", "2030-02-30T09:26:53.589793Z"),
    ("expires_at", "2030-03-14T09:26:53.589793Z"),
    ("addresses", []),
    ("addresses", "192.168.1.20"),
    ("addresses", ["good.example", "bad host"]),
    ("addresses", ["[::1]"]),
    ("addresses", [f"h{i}.example" for i in range(33)]),
    ("pake", {"suite": "other", "idA": "a", "idB": "b", "salt": "AAAAAAAAAAAAAAAAAAAAAA=="}),
    (
        "pake",
        {
            "suite": "spake2-ed25519-sha256",
            "idA": "a",
            "idB": "a",
            "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
        },
    ),
    ("pake", {"suite": "spake2-ed25519-sha256", "idA": "a", "idB": "b", "salt": "AAAA"}),
    ("pake", {"suite": "spake2-ed25519-sha256", "idA": "a", "idB": "b"}),
    ("version", 2),
    ("extra", "field"),
]


@pytest.mark.parametrize(("key", "value"), BODY_EDITS)
def test_bad_fields_are_format_errors_even_when_properly_signed(key: str, value: Any) -> None:
    doc = document()
    doc["body"][key] = value
    with pytest.raises(InvitationFormatError) as caught:
        parse(rewrap(doc, KEY))
    text = str(caught.value)
    assert "\n" not in text and text


def test_missing_field_is_a_format_error() -> None:
    doc = document()
    del doc["body"]["message"]
    with pytest.raises(InvitationFormatError) as caught:
        parse(rewrap(doc, KEY))
    assert "'message'" in str(caught.value)


def test_non_canonical_base64_signature_is_rejected() -> None:
    doc = document()
    signature = doc["signature"]
    doc["signature"] = signature.rstrip("=")
    with pytest.raises(InvitationFormatError):
        parse(rewrap(doc))


# ----------------------------------------------------------------------------- expiry


def test_expired_invitation_is_refused_with_the_time() -> None:
    with pytest.raises(InvitationExpiredError) as caught:
        parse(FILE, now=EXPIRES)
    assert caught.value.expires_at == EXPIRES
    assert str(caught.value) == (
        "this invitation expired on 2030-03-14 at 15:26:53 UTC; ask for a new one"
    )
    with pytest.raises(InvitationExpiredError):
        parse(FILE, now=EXPIRES + timedelta(days=400))


def test_check_expiry_false_lets_an_expired_invitation_through() -> None:
    assert parse(FILE, now=EXPIRES + timedelta(days=1), check_expiry=False) == INVITATION


def test_default_now_is_the_real_clock() -> None:
    # EXPIRES is in 2030; make one that expired a minute ago.
    now = datetime.now(UTC)
    inv = make_invitation(
        created_at=now - timedelta(hours=1), expires_at=now - timedelta(minutes=1)
    )
    with pytest.raises(InvitationExpiredError):
        parse_invitation(sign_invitation(inv, KEY))


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_invitation(FILE, now=datetime(2030, 3, 14, 10))


# ----------------------------------------------------------------------------- code


def test_code_round_trip() -> None:
    code = to_code(FILE)
    assert code.startswith(CODE_PREFIX)
    assert "\n" not in code and " " not in code
    assert from_code(code) == FILE
    wrapped = "\n  " + "\n".join(code[i : i + 60] for i in range(0, len(code), 60)) + "  \r\n"
    assert from_code(wrapped) == FILE
    assert parse(from_code(wrapped)) == INVITATION


@pytest.mark.parametrize("code", ["", "hello", "ra1:", "ra1:!!!!", "ra1:AAAA", "rb1:eNo="])
def test_bad_codes_are_format_errors(code: str) -> None:
    with pytest.raises(InvitationFormatError):
        from_code(code)


def test_truncated_code_is_a_format_error() -> None:
    code = to_code(FILE)
    with pytest.raises(InvitationFormatError):
        from_code(code[: len(code) - 20])


def test_newer_code_version_says_so() -> None:
    with pytest.raises(InvitationVersionError):
        from_code("ra2:" + to_code(FILE)[4:])


def test_code_that_unpacks_to_something_huge_is_refused() -> None:
    bomb = base64.urlsafe_b64encode(zlib.compress(b" " * (10 * MAX_INVITATION_BYTES))).decode()
    with pytest.raises(InvitationTooLargeError):
        from_code(CODE_PREFIX + bomb)


# ----------------------------------------------------------------------------- no password


def test_the_file_holds_no_trace_of_the_password() -> None:
    password = generate_password()
    inv = new_invitation(
        name="Pat",
        message="Call me for the password.",
        expires_at=EXPIRES,
        addresses=["10.1.2.3"],
        port=5900,
        tls_fingerprint=TLS_FINGERPRINT,
        signing_key=KEY.public_key(),
        now=CREATED,
    )
    data = sign_invitation(inv, KEY)
    code = to_code(data)
    encoded = password.encode("utf-8")
    traces = [
        encoded,
        encoded.lower(),
        hashlib.sha256(encoded).hexdigest().encode(),
        base64.b64encode(hashlib.sha256(encoded).digest()),
        base64.b64encode(encoded),
    ]
    for trace in traces:
        assert trace not in data
        assert trace.decode() not in code
    assert password.replace("-", "").encode() not in data


# ----------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def assert_only_invitation_errors(data: bytes) -> None:
    try:
        parse(data)
    except InvitationError:
        pass


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    assert_only_invitation_errors(data)


@FUZZ
@given(json_values)
def test_fuzz_arbitrary_json(value: Any) -> None:
    assert_only_invitation_errors(json.dumps(value).encode("utf-8"))


@FUZZ
@given(
    st.fixed_dictionaries(
        {"format": st.just("ra-invitation") | json_values},
        optional={
            "version": st.just(1) | json_values,
            "body": json_values,
            "signature": st.just(document()["signature"]) | json_values,
        },
    )
)
def test_fuzz_wrapper_shapes(value: dict[str, Any]) -> None:
    assert_only_invitation_errors(json.dumps(value).encode("utf-8"))


@FUZZ
@given(st.sampled_from(sorted(document()["body"])), json_values, st.booleans())
def test_fuzz_body_fields_signed_correctly(key: str, value: Any, sign: bool) -> None:
    doc = document()
    doc["body"][key] = value
    assert_only_invitation_errors(rewrap(doc, KEY if sign else None))


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete"]),
            st.integers(min_value=0, max_value=len(FILE) - 1),
            st.integers(min_value=0, max_value=255),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_fuzz_mutations_of_a_valid_file(edits: list[tuple[str, int, int]]) -> None:
    data = bytearray(FILE)
    for action, position, value in edits:
        position %= max(len(data), 1)
        if action == "flip" and data:
            data[position] ^= value or 1
        elif action == "insert":
            data.insert(position, value)
        elif data:
            del data[position]
    assert_only_invitation_errors(bytes(data))


@FUZZ
@given(st.text(max_size=300))
def test_fuzz_codes(code: str) -> None:
    try:
        from_code(code)
    except InvitationError:
        pass
    try:
        from_code(CODE_PREFIX + code)
    except InvitationError:
        pass


def test_replace_keeps_validation() -> None:
    with pytest.raises(InvitationFormatError):
        replace(INVITATION, port=0)


def test_the_documented_example_is_a_valid_file() -> None:
    doc_path = Path(__file__).resolve().parent.parent / "docs" / "invitation-format.md"
    lines = doc_path.read_text(encoding="utf-8").splitlines()
    (example,) = [
        line
        for line in lines
        if line.startswith('{"format":"ra-invitation"') and "BODY" not in line
    ]
    data = example.encode("utf-8") + b"\n"
    inv = parse_invitation(data, check_expiry=False)
    seed = hashlib.sha256(b"ra documentation example key").digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert inv.signing_key == key.public_key().public_bytes_raw()
    assert sign_invitation(inv, key) == data
    grouped = format_fingerprint(key_fingerprint(inv.signing_key))
    assert grouped in doc_path.read_text(encoding="utf-8")


def test_errors_are_ra_errors_the_cli_prints_as_one_line() -> None:
    from ra.errors import RaError
    from ra.invitations import MailError, WeakPasswordError

    for error in (
        InvitationFormatError,
        InvitationTooLargeError,
        InvitationVersionError,
        InvitationSignatureError,
        InvitationExpiredError,
        InvitationKeyMismatchError,
        InvitationReadError,
    ):
        assert issubclass(error, InvitationError)
    for root in (InvitationError, MailError, WeakPasswordError):
        assert issubclass(root, RaError)
