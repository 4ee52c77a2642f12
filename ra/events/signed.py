"""Signed statements: a JSON object signed with Ed25519 over its canonical bytes.

Checkpoints, session receipts and export manifests are all statements of
this kind: the signature covers `ra.events.canonical.encode(statement)`, so
the same object signs and verifies the same way wherever it was written
(key order and spacing never matter). A signature "holds" only for a
well-formed public key, a well-formed signature and the very statement.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ra.events import canonical


def sign_statement(key: Ed25519PrivateKey, statement: Any) -> bytes:
    """The Ed25519 signature of `statement`'s canonical bytes."""
    return key.sign(canonical.encode(statement))


def statement_signature_holds(public_key: bytes, statement: Any, signature: bytes) -> bool:
    """Does `signature` by the raw Ed25519 `public_key` hold for `statement`?"""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, canonical.encode(statement)
        )
    except (InvalidSignature, ValueError):
        return False
    return True
