"""Invitation codes on the command line: a code is never taken for a file name.

``RA1:`` is the same code as ``ra1:`` (people and chat programs change case);
``ra2:`` is a code from a newer ra, refused as such, with what to do about it,
by `ra invite inspect` and `ra connect` alike.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ra.invitations import new_invitation, sign_invitation, to_code

PASSWORD = "Blue-Harbour-Lamp-47"


@pytest.fixture
def code(ra, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    made = ra("invite", "create", "--name", "Alice", "--password-stdin", "--json", "--code",
              "--host", "127.0.0.1", "--save", str(tmp_path / "i.rainv"),
              input=PASSWORD + "\n", check=True)
    return str(json.loads(made.stdout)["code"])


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_an_upper_case_code_is_the_same_code(ra, code: str) -> None:  # type: ignore[no-untyped-def]
    lower = ra("invite", "inspect", code, "--json", check=True)
    upper = ra("invite", "inspect", "RA1:" + code[4:], "--json")
    assert upper.returncode == 0, upper.stderr
    assert json.loads(upper.stdout) == json.loads(lower.stdout)


@pytest.mark.parametrize("prefix", ["ra2:", "RA2:", "ra17:"])
def test_a_code_from_a_newer_ra_is_refused_as_such(ra, code: str, prefix: str) -> None:  # type: ignore[no-untyped-def]
    result = ra("invite", "inspect", prefix + code[4:])
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("ra: ") and "newer version of ra" in line and "update ra" in line
    assert "read" not in line.split("ra reads")[0], "not taken for a file it could not read"


def test_connect_reads_codes_as_codes(ra, tmp_path: Path, code: str) -> None:  # type: ignore[no-untyped-def]
    newer = ra("connect", "ra2:" + code[4:], "--password-stdin", "--no-browser",
               input=PASSWORD + "\n")
    assert newer.returncode == 2
    assert "newer version of ra" in one_line(newer.stderr)

    # An upper-case code is read as the invitation it is: here one that has expired.
    key = Ed25519PrivateKey.generate()
    now = datetime.now(UTC)
    old = new_invitation(name="Alice", message="", expires_at=now - timedelta(hours=1),
                         addresses=["127.0.0.1"], port=9, tls_fingerprint="0" * 64,
                         signing_key=key.public_key().public_bytes_raw(),
                         now=now - timedelta(hours=2))
    upper = "RA1:" + to_code(sign_invitation(old, key))[4:]
    expired = ra("connect", upper, "--password-stdin", "--no-browser", input=PASSWORD + "\n")
    assert expired.returncode == 2
    assert "expired" in one_line(expired.stderr)


def test_what_counts_as_a_code() -> None:
    from ra.invitations import is_code

    assert is_code("ra1:abc") and is_code("RA1:abc") and is_code("  ra2:x") and is_code("Ra9:")
    assert not is_code("ra1.rainv") and not is_code("./ra1:x") and not is_code("rab:")
