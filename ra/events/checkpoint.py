"""Signed checkpoints: a statement "this log had N events with root R".

A checkpoint is the log's origin, tree size, Merkle root, time and the
SQLite sync mode in force, signed with the Ed25519 key of this RA_HOME. It is
stored in the database and can be written to a file and kept elsewhere: a
checkpoint held off the machine is what catches a log that was truncated,
rewritten or rebuilt and re-signed with a new key.

File form (JSON, one object)::

    {"format": "ra-checkpoint", "version": 1,
     "checkpoint": {"origin": ..., "tree_size": N, "root": "<hex>",
                    "time": "...Z", "sync_mode": "FULL",
                    "public_key": "<base64 raw Ed25519>"},
     "signature": "<base64 Ed25519 over the canonical checkpoint bytes>"}
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ra.b64 import b64
from ra.errors import InputError
from ra.events import canonical
from ra.events.signed import SignedStatement
from ra.files import create_private
from ra.fingerprint import key_fingerprint as key_fingerprint

FORMAT = "ra-checkpoint"
VERSION = 1
MAX_FILE_SIZE = 64 * 1024


class CheckpointError(InputError):
    """A checkpoint file could not be read or its signature does not hold."""


class KeyFileError(InputError):
    """The log's signing key is missing, unreadable or not ours."""


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at `path`, created (mode 0600) on first use."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _create_key(path)
    except OSError as exc:
        raise KeyFileError(f"cannot read the signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not an Ed25519 private key in PEM form") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key


def _create_key(path: Path) -> Ed25519PrivateKey:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if not create_private(path, pem):  # another process created the key first: use theirs
        return load_or_create_key(path)
    return key


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Checkpoint(SignedStatement):
    origin: str
    tree_size: int
    root: bytes
    time: str
    sync_mode: str

    def statement(self) -> dict[str, Any]:
        return {**super().statement(), "root": self.root.hex()}

    def sign(self, key: Ed25519PrivateKey) -> Checkpoint:
        if public_bytes(key) != self.public_key:
            raise CheckpointError("the checkpoint names a different public key than the signer's")
        return super().sign(key)

    @property
    def key_fingerprint(self) -> str:
        return key_fingerprint(self.public_key)

    def to_file_bytes(self) -> bytes:
        doc = {
            "checkpoint": self.statement(),
            "format": FORMAT,
            "signature": b64(self.signature),
            "version": VERSION,
        }
        return canonical.encode(doc) + b"\n"

    @classmethod
    def from_statement(cls, statement: Any, signature: bytes) -> Checkpoint:
        if not isinstance(statement, dict) or set(statement) != {
            "origin", "public_key", "root", "sync_mode", "time", "tree_size"
        }:
            raise CheckpointError("the checkpoint does not have the fields of an ra checkpoint")
        try:
            size = statement["tree_size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError("tree_size")
            root = bytes.fromhex(statement["root"])
            public_key = base64.b64decode(statement["public_key"], validate=True)
            if len(root) != 32 or len(public_key) != 32:
                raise ValueError("length")
            return cls(
                origin=str(statement["origin"]),
                tree_size=size,
                root=root,
                time=str(statement["time"]),
                sync_mode=str(statement["sync_mode"]),
                public_key=public_key,
                signature=signature,
            )
        except (ValueError, TypeError, AttributeError):
            raise CheckpointError("the checkpoint has a malformed field") from None

    @classmethod
    def from_file_bytes(cls, data: bytes, *, source: str = "checkpoint") -> Checkpoint:
        if len(data) > MAX_FILE_SIZE:
            raise CheckpointError(f"{source} is too large to be a checkpoint")
        try:
            doc = canonical.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise CheckpointError(f"{source} is not a checkpoint file (not JSON)") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CheckpointError(f"{source} is not an ra checkpoint file")
        if doc.get("version") != VERSION:
            raise CheckpointError(
                f"{source} is checkpoint format {doc.get('version')!r}; this ra reads {VERSION}"
            )
        try:
            signature = base64.b64decode(str(doc.get("signature", "")), validate=True)
        except ValueError:
            raise CheckpointError(f"{source}: the signature is not base64") from None
        return cls.from_statement(doc.get("checkpoint"), signature)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None
        return cls.from_file_bytes(data, source=str(path))
