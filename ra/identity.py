"""The person's identity in one RA_HOME: an Ed25519 key and a TLS certificate.

- ``keys/identity.key``: Ed25519, signs invitation files, so a helper can
  check that the person really sent the invitation (its fingerprint is what
  they compare by phone).
- ``keys/tls.key`` and ``keys/tls.crt``: the self-signed certificate the
  person's side presents on the live connection (ECDSA P-256). Its SHA-256
  fingerprint goes into every invitation, and the helper pins it.

Both are created on first use, mode 0600, and kept for later invitations.
Files that are not PEM, or a certificate and key that are not a pair, are an
`IdentityError` naming the file, found when the identity is loaded rather
than when a helper connects.
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from ra.errors import InputError
from ra.events.checkpoint import load_or_create_key
from ra.files import write_private
from ra.home import Home


@dataclass(frozen=True)
class Identity:
    signing_key: Ed25519PrivateKey
    tls_cert_path: Path
    tls_key_path: Path
    tls_fingerprint: str

    @property
    def signing_public(self) -> bytes:
        return self.signing_key.public_key().public_bytes_raw()


class IdentityError(InputError):
    """The TLS certificate or key of this RA_HOME cannot be used; the message names it."""


def load_identity(home: Home) -> Identity:
    home.ensure()
    signing = load_or_create_key(home.keys_dir / "identity.key")
    cert_path = home.keys_dir / "tls.crt"
    key_path = home.keys_dir / "tls.key"
    if not cert_path.exists() or not key_path.exists():
        _create_tls(cert_path, key_path)
    cert = _load_tls(cert_path, key_path)
    der = cert.public_bytes(serialization.Encoding.DER)
    return Identity(signing, cert_path, key_path, hashlib.sha256(der).hexdigest())


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read {what} {path}: {exc.strerror}") from None


def _load_tls(cert_path: Path, key_path: Path) -> x509.Certificate:
    """The certificate, checked to be PEM and to match the private key beside it."""
    damaged = ("; move keys/tls.crt and keys/tls.key away and ra makes a new pair "
               "(invitations already sent name the old one)")
    try:
        cert = x509.load_pem_x509_certificate(_read(cert_path, "the TLS certificate"))
    except ValueError:
        raise IdentityError(f"{cert_path} is not a PEM certificate{damaged}") from None
    try:
        key = serialization.load_pem_private_key(_read(key_path, "the TLS key"), password=None)
    except (ValueError, TypeError):
        raise IdentityError(f"{key_path} is not a PEM private key{damaged}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, public):
        raise IdentityError(f"{key_path} is not the key of {cert_path}{damaged}")
    return cert


def _create_tls(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ra {socket.gethostname()}")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
