"""Chat in the log, sealed with the session's key (`ra.session_keys`).

A ``chat.message`` event keeps who wrote it (``from``) in the clear and its
text sealed::

    {"from": "helper", "text": {"sealed": base64(nonce ‖ ciphertext)}}

AES-256-GCM with a fresh 12-byte nonce; the associated data is the event's
place (the stream, its version in the stream, and ``from``), so a sealed text
copied into another event, or another session, does not open.

Where the sealing happens: in the session driver, as it appends
(`ChatSealer.seal`, called by `ra.session.driver.SessionDriver._append`).
The engine stays sans-IO (no key, no file, no randomness) and hands chat out
as text; the driver is the one place that knows both the key's home and the
version each event will get, which the associated data binds. What a side
shows live (terminal, window, viewer) comes from the engine's outputs in
memory, never from the log, so only the log holds the sealed form: the text
never reaches the database, its ``-wal``, or a log line in the clear.

Reading (`ChatReader`): a sealed text opens while its session's key exists;
once the key is destroyed (`ra audit forget`, retention) it reads as
``(forgotten)``, while the event, its metadata and its ciphertext stay, so
the Merkle tree, checkpoints and receipts still verify. Chat recorded by an
earlier ra is a plain string and reads as it is (``plain``): an append-only
log cannot lose it, so such a session cannot be forgotten (`ra.forget`). A
chat message recorded after its session's key was destroyed (a session
forgotten while still running) has nothing to be sealed with and is recorded
as ``{"forgotten": true}``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ra.events.model import NewEvent, RecordedEvent
from ra.session_keys import SessionKeys

CHAT = "chat.message"
#: The session key that seals chat (`ra.session_keys`: one key per use).
KEY_PURPOSE = "chat"
FORGOTTEN_TEXT = "(forgotten)"
UNREADABLE_TEXT = "(unreadable)"
NONCE_BYTES = 12

ChatStatus = Literal["plain", "sealed", "forgotten", "unreadable"]


def _aad(stream: str, version: int, sender: str) -> bytes:
    return f"ra chat v1\x00{stream}\x00{version}\x00{sender}".encode()


def seal_text(key: bytes, stream: str, version: int, sender: str, text: str) -> str:
    """`text` sealed for the event at `version` of `stream` written by `sender`."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, text.encode("utf-8"), _aad(stream, version, sender))
    return base64.b64encode(nonce + sealed).decode("ascii")


def open_text(key: bytes, stream: str, version: int, sender: str, sealed: str) -> str:
    """The text `seal_text` sealed; ValueError if it does not open there with that key."""
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a sealed text") from None
    if len(raw) < NONCE_BYTES + 16:
        raise ValueError("not a sealed text")
    try:
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                    _aad(stream, version, sender))
    except InvalidTag:
        raise ValueError("the sealed text does not open with this session's key here") \
            from None
    return plain.decode("utf-8", "replace")


def session_id_of(stream: str) -> str:
    """``session:<id>`` → ``<id>``."""
    kind, _, session_id = stream.partition(":")
    if kind != "session" or not session_id:
        raise ValueError(f"{stream!r} is not a session stream")
    return session_id


class ChatSealer:
    """Seals the chat of one session's events just before they are appended."""

    def __init__(self, keys: SessionKeys, stream: str) -> None:
        self.keys = keys
        self.stream = stream
        self.session_id = session_id_of(stream)

    def seal(self, events: Sequence[NewEvent], first_version: int) -> list[NewEvent]:
        """`events` with every chat text sealed; the first gets stream version
        `first_version`, the next one more, and so on. The key is read for each
        batch that holds chat (made on the first), so a forget takes effect at once."""
        if not any(event.type == CHAT for event in events):
            return list(events)
        key = self.keys.key_for(self.session_id, KEY_PURPOSE)
        sealed: list[NewEvent] = []
        for version, event in enumerate(events, start=first_version):
            text = event.payload.get("text") if event.type == CHAT else None
            if isinstance(text, str):
                sender = str(event.payload.get("from", ""))
                box: dict[str, Any] = ({"forgotten": True} if key is None else
                                       {"sealed": seal_text(key, self.stream, version, sender,
                                                            text)})
                event = dataclasses.replace(event, payload={**event.payload, "text": box})
            sealed.append(event)
        return sealed


@dataclass(frozen=True)
class ChatText:
    """A chat message's text as the log lets it be read."""

    text: str | None
    status: ChatStatus

    def shown(self) -> str:
        if self.text is not None:
            return self.text
        return UNREADABLE_TEXT if self.status == "unreadable" else FORGOTTEN_TEXT


class ChatReader:
    """Opens the chat of recorded events with the keys of one home (read-only)."""

    def __init__(self, keys: SessionKeys) -> None:
        self.keys = keys
        self._keys: dict[str, bytes | None] = {}

    def read(self, event: RecordedEvent) -> ChatText:
        """The text of a ``chat.message`` event."""
        text = event.payload.get("text")
        if isinstance(text, str):
            return ChatText(text, "plain")
        if not isinstance(text, Mapping) or not isinstance(text.get("sealed"), str):
            forgotten = isinstance(text, Mapping) and text.get("forgotten") is True
            return ChatText(None, "forgotten" if forgotten else "unreadable")
        try:
            session_id = session_id_of(event.stream)
        except ValueError:
            return ChatText(None, "unreadable")
        if session_id not in self._keys:
            self._keys[session_id] = self.keys.key_for(session_id, KEY_PURPOSE, create=False)
        key = self._keys[session_id]
        if key is None:
            return ChatText(None, "forgotten")
        try:
            return ChatText(open_text(key, event.stream, event.stream_version,
                                      str(event.payload.get("from", "")), text["sealed"]),
                            "sealed")
        except ValueError:
            return ChatText(None, "unreadable")

    def payload(self, event: RecordedEvent) -> Mapping[str, Any]:
        """The event's payload as people read it: a chat text opened, or marked
        ``(forgotten)``; any other event's payload as it is."""
        if event.type != CHAT:
            return event.payload
        return {**event.payload, "text": self.read(event).shown()}


__all__ = [
    "CHAT",
    "FORGOTTEN_TEXT",
    "UNREADABLE_TEXT",
    "ChatReader",
    "ChatSealer",
    "ChatText",
    "open_text",
    "seal_text",
    "session_id_of",
]
