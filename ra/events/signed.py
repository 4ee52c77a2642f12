"""Signed statements: a JSON object signed with Ed25519 over its canonical bytes.

Checkpoints, session receipts and export manifests are all statements of
this kind: the signature covers `ra.events.canonical.encode(statement)`, so
the same object signs and verifies the same way wherever it was written
(key order and spacing never matter). A signature "holds" only for a
well-formed public key, a well-formed signature and the very statement.

`SignedStatement` is the common part of checkpoints and receipts: a frozen
record whose fields (but the signature) are the statement, the signer's raw
public key among them, with its signature; bytes are written as base64.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ra.b64 import b64
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class SignedStatement:
    """A statement signed by the raw Ed25519 `public_key` it names (see the module)."""

    public_key: bytes
    signature: bytes = b""

    def statement(self) -> dict[str, Any]:
        """What is signed: every field but the signature, bytes as base64."""
        return {field.name: _text(getattr(self, field.name))
                for field in dataclasses.fields(self) if field.name != "signature"}

    def sign(self, key: Ed25519PrivateKey) -> Self:
        """This statement with its signature by `key`."""
        return dataclasses.replace(self, signature=sign_statement(key, self.statement()))

    def signature_holds(self) -> bool:
        return statement_signature_holds(self.public_key, self.statement(), self.signature)


def _text(value: Any) -> Any:
    return b64(value) if isinstance(value, bytes) else value
