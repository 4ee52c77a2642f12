"""Frames on the wire: length-prefixed, versioned, one kind per frame (sans-IO).

A frame is::

    length  u32 big-endian    number of payload bytes that follow (>= 2)
    version u8                PROTOCOL_VERSION (1)
    kind    u8                a Kind
    body    length - 2 bytes  at most MAX_BODY[kind]

HANDSHAKE and JSON bodies are UTF-8 JSON objects with a string ``"type"``;
senders write canonical JSON (sorted keys, no spaces). BYE bodies are UTF-8
text (a reason, maybe empty). SCREEN, INPUT and HEARTBEAT bodies are binary.

`FrameDecoder` takes bytes as they arrive and returns whole frames. Every
problem with the bytes is a `ProtocolError`; no other exception escapes, for
any input. The size limit is checked from the header, before the body is
waited for, so a peer cannot make us buffer more than a limit plus one read.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ra.events import canonical
from ra.net.errors import ProtocolError

PROTOCOL_VERSION = 1
HEADER = struct.Struct(">IBB")
"""Length prefix, version and kind: the 6 bytes before every body."""
PREFIX_BYTES = 4
HEADER_BYTES = HEADER.size


class Kind(enum.IntEnum):
    HANDSHAKE = 0x01
    JSON = 0x02
    SCREEN = 0x03
    INPUT = 0x04
    HEARTBEAT = 0x05
    BYE = 0x06


KiB = 1024
MiB = 1024 * KiB

MAX_BODY: Mapping[Kind, int] = {
    Kind.HANDSHAKE: 4 * KiB,
    Kind.JSON: 64 * KiB,
    Kind.SCREEN: 16 * MiB,
    Kind.INPUT: 1 * KiB,
    Kind.HEARTBEAT: 64,
    Kind.BYE: 1 * KiB,
}
"""The largest body each kind may carry, in bytes."""

HANDSHAKE_ONLY: Mapping[Kind, int] = {Kind.HANDSHAKE: MAX_BODY[Kind.HANDSHAKE]}
"""Limits before a helper is authenticated: nothing but handshake messages."""

JSON_KINDS = frozenset({Kind.HANDSHAKE, Kind.JSON})
MAX_JSON_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. ``message`` is the parsed object for JSON kinds, else None."""

    kind: Kind
    body: bytes
    message: dict[str, Any] | None = None

    @property
    def type(self) -> str | None:
        """The ``"type"`` of a JSON-kind frame."""
        return None if self.message is None else str(self.message["type"])

    @property
    def text(self) -> str:
        """The body as text (BYE reasons)."""
        return self.body.decode("utf-8", errors="replace")


def _kind_name(kind: Kind) -> str:
    return kind.name


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Canonical JSON (`ra.events.canonical`): sorted keys, no spaces, UTF-8, no NaN."""
    try:
        return canonical.dumps(dict(value)).encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeError) as error:
        raise ProtocolError(f"this message cannot be sent as JSON: {error}") from None


def _depth(value: object) -> int:
    """Nesting depth of containers, iteratively (no recursion limit to hit)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def parse_json_body(kind: Kind, body: bytes) -> dict[str, Any]:
    """Check that ``body`` is a UTF-8 JSON object with a string "type"; return it."""
    label = _kind_name(kind)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"a {label} message is not valid UTF-8") from None
    try:
        value = canonical.strict_loads(text)
    except canonical.DuplicateKeyError:
        raise ProtocolError(f"a {label} message has the same field twice") from None
    except RecursionError:
        raise ProtocolError(f"a {label} message is nested too deeply") from None
    except ValueError:
        raise ProtocolError(f"a {label} message is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"a {label} message is not a JSON object")
    kind_of_message = value.get("type")
    if not isinstance(kind_of_message, str) or not kind_of_message:
        raise ProtocolError(f'a {label} message has no "type" text field')
    if _depth(value) > MAX_JSON_DEPTH:
        raise ProtocolError(f"a {label} message is nested too deeply")
    try:
        # Lone surrogates ("\ud800") parse but cannot be UTF-8 again: refuse them.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, RecursionError):
        raise ProtocolError(f"a {label} message holds text that is not valid Unicode") from None
    return value


def _check_body(kind: Kind, body: bytes) -> dict[str, Any] | None:
    if kind in JSON_KINDS:
        return parse_json_body(kind, body)
    if kind is Kind.BYE:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("a BYE message is not valid UTF-8") from None
    return None


def _oversized(kind: Kind, size: int, limit: int) -> ProtocolError:
    return ProtocolError(
        f"the other side announced a {_kind_name(kind)} message of {size} bytes, "
        f"larger than the limit of {limit} bytes"
    )


def encode_frame(
    kind: Kind, body: bytes = b"", *, limits: Mapping[Kind, int] = MAX_BODY
) -> bytes:
    """The bytes of one frame. Refuses (ProtocolError) what a peer would refuse."""
    kind = Kind(kind)
    body = bytes(body)
    limit = limits[kind]
    if len(body) > limit:
        raise ProtocolError(
            f"a {_kind_name(kind)} message of {len(body)} bytes is larger than the "
            f"limit of {limit} bytes"
        )
    _check_body(kind, body)
    return HEADER.pack(len(body) + 2, PROTOCOL_VERSION, kind) + body


def encode_message(kind: Kind, message: Mapping[str, Any]) -> bytes:
    """A HANDSHAKE or JSON frame carrying ``message`` as canonical JSON."""
    if kind not in JSON_KINDS:
        raise ProtocolError(f"{_kind_name(Kind(kind))} frames do not carry JSON")
    return encode_frame(kind, canonical_json(message))


class FrameDecoder:
    """Turns a byte stream into frames; the sans-IO half of every connection.

    ``limits`` overrides the per-kind body limits (a kind left out is refused).
    After a ProtocolError the decoder is broken: every later call raises the
    same error, since the stream can no longer be followed.
    """

    def __init__(self, limits: Mapping[Kind, int] | None = None) -> None:
        self._limits: dict[Kind, int] = dict(MAX_BODY if limits is None else limits)
        self._buffer = bytearray()
        self._error: ProtocolError | None = None
        # Header of the frame being received, once checked: (kind, body length).
        self._pending: tuple[Kind, int] | None = None

    @property
    def limits(self) -> Mapping[Kind, int]:
        return dict(self._limits)

    @limits.setter
    def limits(self, limits: Mapping[Kind, int]) -> None:
        """New limits for frames whose header has not been read yet."""
        self._limits = dict(limits)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; return every frame it completes, in order."""
        if self._error is not None:
            raise self._error
        try:
            self._buffer += data
            return self._drain()
        except ProtocolError as error:
            self._fail(error)
            raise
        except Exception:  # the promise: nothing but ProtocolError escapes
            unforeseen = ProtocolError("the other side sent bytes that could not be read")
            self._fail(unforeseen)
            raise unforeseen from None

    def eof(self) -> None:
        """The stream ended; raise if it ended inside a frame."""
        if self._error is not None:
            raise self._error
        if self._buffer:
            if self._pending is not None:
                kind, size = self._pending
                got = len(self._buffer) - HEADER_BYTES
                error = ProtocolError(
                    "the connection ended in the middle of a "
                    f"{_kind_name(kind)} message ({got} of {size} bytes received)"
                )
            else:
                error = ProtocolError(
                    "the connection ended in the middle of a message header "
                    f"({len(self._buffer)} of {HEADER_BYTES} bytes received)"
                )
            self._fail(error)
            raise error

    def _fail(self, error: ProtocolError) -> None:
        self._error = error
        self._buffer.clear()
        self._pending = None

    def _header(self, start: int) -> tuple[Kind, int] | None:
        """Check the header at ``start``; None until all of it has arrived."""
        buffer = self._buffer
        if len(buffer) - start < PREFIX_BYTES:
            return None
        length = int.from_bytes(buffer[start : start + PREFIX_BYTES], "big")
        if length < 2:
            raise ProtocolError(
                f"the other side sent a frame of {length} bytes, too short to hold "
                "a version and a kind"
            )
        if len(buffer) - start < HEADER_BYTES:
            return None
        version = buffer[start + 4]
        if version != PROTOCOL_VERSION:
            raise ProtocolError(
                f"the other side speaks protocol version {version}; "
                f"this ra speaks version {PROTOCOL_VERSION}"
            )
        code = buffer[start + 5]
        try:
            kind = Kind(code)
        except ValueError:
            raise ProtocolError(
                f"the other side sent a message of unknown kind 0x{code:02x}"
            ) from None
        limit = self._limits.get(kind)
        if limit is None:
            raise ProtocolError(f"a {_kind_name(kind)} message is not allowed here")
        size = length - 2
        if size > limit:
            raise _oversized(kind, size, limit)
        return kind, size

    def _drain(self) -> list[Frame]:
        frames: list[Frame] = []
        buffer = self._buffer
        start = 0
        try:
            while True:
                if self._pending is None:
                    self._pending = self._header(start)
                    if self._pending is None:
                        break
                kind, size = self._pending
                end = start + HEADER_BYTES + size
                if len(buffer) < end:
                    break
                with memoryview(buffer) as view:
                    body = bytes(view[start + HEADER_BYTES : end])
                self._pending = None
                start = end
                frames.append(Frame(kind, body, _check_body(kind, body)))
        finally:
            # Drop what was consumed; a frame still arriving keeps its header at 0.
            if start:
                del buffer[:start]
        return frames
