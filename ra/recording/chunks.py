"""The recorded screen on disk: encrypted chunks, and the event that vouches for each.

A session's recording is ``RA_HOME/recordings/<session id>/NNNNNN.chunk``,
one file per chunk (index from 0, six digits). A chunk holds the screen
updates the person's side sent in a few seconds, exactly as sent
(``ra.desktop.codec`` wire bytes), each with the wall-clock time it was
sent; its first update is a keyframe, so a replay can start at any chunk.

Plaintext: records of ``time f64 (Unix seconds), length u32, update bytes``,
big-endian, back to back. File: ``MAGIC ‖ nonce (12) ‖ AES-256-GCM(plaintext)``
under the session's ``recording`` key (`ra.session_keys`), with ``MAGIC ‖
session id ‖ 0x00 ‖ index u32`` as associated data: a chunk moved to another
place or session does not decrypt. Destroying the session's key makes the
whole recording unreadable, while its hashes in the log stay checkable.

Each chunk is vouched for by a ``recording.chunk`` event in the session's
stream (written after the file): its `ChunkInfo` (index, file name, SHA-256
and size of the stored file, frame count, first and last frame time). So the
Merkle tree, the checkpoints and the session receipts cover the recording;
`check_chunk` says whether a file is still the one its event names.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ra.events.model import format_time
from ra.session_keys import check_session_id

FOLDER = "recordings"
MAGIC = b"RAREC1"
NONCE_BYTES = 12
RECORD = struct.Struct(">dI")
"""time f64 (Unix seconds), length u32; the update's bytes follow."""
EVENT_TYPE = "recording.chunk"
KEY_PURPOSE = "recording"
#: The most a chunk file may hold (a chunk of a few seconds is far smaller).
MAX_CHUNK_BYTES = 512 * 1024 * 1024


class ChunkError(ValueError):
    """A chunk that is not the one its event names, or cannot be read."""


@dataclass(frozen=True)
class ChunkInfo:
    """What the ``recording.chunk`` event says of one chunk file."""

    index: int
    sha256: str
    size: int
    frames: int
    start: float
    """The first frame's time (Unix seconds)."""
    end: float
    """The last frame's time (Unix seconds)."""

    @property
    def file(self) -> str:
        return chunk_name(self.index)

    def payload(self) -> dict[str, Any]:
        return {"index": self.index, "file": self.file, "sha256": self.sha256,
                "size": self.size, "frames": self.frames,
                "start": _iso(self.start), "end": _iso(self.end)}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ChunkInfo:
        """The info an event holds; ChunkError if it is not a well-formed one."""
        try:
            index, sha, size, frames = (payload["index"], payload["sha256"], payload["size"],
                                        payload["frames"])
            if not (isinstance(index, int) and 0 <= index < 1_000_000
                    and isinstance(sha, str) and len(sha) == 64
                    and all(c in "0123456789abcdef" for c in sha)
                    and isinstance(size, int) and size >= 0
                    and isinstance(frames, int) and frames >= 0):
                raise ChunkError("a recording.chunk event with malformed fields")
            start = _parse_time(payload["start"])
            end = _parse_time(payload["end"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ChunkError(f"a malformed recording.chunk event ({exc})") from None
        return cls(index, sha, size, frames, start, end)


def _iso(moment: float) -> str:
    return format_time(datetime.fromtimestamp(moment, UTC))


def _parse_time(text: object) -> float:
    if not isinstance(text, str):
        raise ChunkError("a chunk time is not text")
    return datetime.fromisoformat(text).timestamp()


def chunk_name(index: int) -> str:
    return f"{index:06d}.chunk"


def recordings_root(home_root: Path) -> Path:
    return home_root / FOLDER


def session_folder(home_root: Path, session_id: str) -> Path:
    return recordings_root(home_root) / check_session_id(session_id)


def _aad(session_id: str, index: int) -> bytes:
    return MAGIC + session_id.encode() + b"\x00" + index.to_bytes(4, "big")


def seal(key: bytes, session_id: str, index: int,
         frames: list[tuple[float, bytes]]) -> tuple[bytes, ChunkInfo]:
    """The file bytes of a chunk of `frames` ((time, update bytes), in order), and its info."""
    if not frames:
        raise ValueError("a chunk needs at least one frame")
    # One copy of the updates (the recorder's thread holds the GIL while it copies).
    plain = b"".join(part for t, data in frames for part in (RECORD.pack(t, len(data)), data))
    nonce = os.urandom(NONCE_BYTES)
    stored = MAGIC + nonce + AESGCM(key).encrypt(nonce, plain, _aad(session_id, index))
    info = ChunkInfo(index, hashlib.sha256(stored).hexdigest(), len(stored), len(frames),
                     frames[0][0], frames[-1][0])
    return stored, info


def check_chunk(stored: bytes, info: ChunkInfo) -> None:
    """ChunkError unless `stored` is exactly the file `info` names (size, SHA-256)."""
    if len(stored) != info.size:
        raise ChunkError(f"chunk {info.index} holds {len(stored)} bytes; its event says "
                         f"{info.size}")
    if hashlib.sha256(stored).hexdigest() != info.sha256:
        raise ChunkError(f"chunk {info.index} does not match the SHA-256 its event holds")


def open_chunk(stored: bytes, key: bytes, session_id: str,
               info: ChunkInfo) -> list[tuple[float, bytes]]:
    """The frames of a chunk checked against its event, decrypted; ChunkError if bad."""
    check_chunk(stored, info)
    if not stored.startswith(MAGIC) or len(stored) < len(MAGIC) + NONCE_BYTES:
        raise ChunkError(f"chunk {info.index} is not a ra recording chunk")
    nonce = stored[len(MAGIC):len(MAGIC) + NONCE_BYTES]
    try:
        plain = AESGCM(key).decrypt(nonce, stored[len(MAGIC) + NONCE_BYTES:],
                                    _aad(session_id, info.index))
    except InvalidTag:
        raise ChunkError(f"chunk {info.index} does not decrypt with this session's key "
                         "at this place") from None
    frames = list(_records(plain, info.index))
    if len(frames) != info.frames:
        raise ChunkError(f"chunk {info.index} holds {len(frames)} frames; its event says "
                         f"{info.frames}")
    return frames


def _records(plain: bytes, index: int) -> Iterator[tuple[float, bytes]]:
    offset, total = 0, len(plain)
    while offset < total:
        if offset + RECORD.size > total:
            raise ChunkError(f"chunk {index} is truncated")
        moment, length = RECORD.unpack_from(plain, offset)
        offset += RECORD.size
        if length > total - offset:
            raise ChunkError(f"chunk {index} is truncated")
        yield moment, plain[offset:offset + length]
        offset += length


def read_stored(folder: Path, info: ChunkInfo) -> bytes:
    """The stored bytes of a chunk file; ChunkError if it is missing or unreadable."""
    path = folder / info.file
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise ChunkError(f"chunk {info.index} ({info.file}) is missing") from None
    except OSError as exc:
        raise ChunkError(f"chunk {info.index} ({info.file}) cannot be read: "
                         f"{exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(min(info.size, MAX_CHUNK_BYTES) + 1)
    return data


__all__ = [
    "EVENT_TYPE",
    "FOLDER",
    "KEY_PURPOSE",
    "ChunkError",
    "ChunkInfo",
    "check_chunk",
    "chunk_name",
    "open_chunk",
    "read_stored",
    "recordings_root",
    "seal",
    "session_folder",
]
