"""What an event is.

An event is a fact that has happened, named in the past tense with a dotted
type (``invitation.created``, ``consent.granted``). Every stored event carries
the fields an audit record needs (PCI DSS 10.2.2): who (`actor`), what
(`type`, `payload`), when (`occurred_at`, UTC, microseconds), the outcome
(`success`, `failure`, `denied`), where from (`origin`), and which resource
(`stream`, e.g. ``session:<id>``).

`NewEvent` is what a caller asks to append; `RecordedEvent` is what the
store holds, with its global `seq` (gapless, commit order, also the Merkle
leaf index), its `stream_version` and the exact canonical bytes (`body`)
that the Merkle tree hashes.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from ra.errors import RaError
from ra.events import canonical

Outcome = Literal["success", "failure", "denied"]
OUTCOMES: frozenset[str] = frozenset({"success", "failure", "denied"})

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_KNOWN_GOOD_TYPES: set[str] = set()
_STREAM_RE = re.compile(r"^[a-z][a-z0-9_-]*:[A-Za-z0-9._:@/-]{1,200}$")


class EventError(RaError, ValueError):
    """An event is malformed and was not appended."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: a kind (``person``, ``helper``, ``system``, ``operator``) and an id."""

    kind: str
    id: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Actor:
        return cls(kind=str(data["kind"]), id=str(data["id"]))

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


SYSTEM = Actor("system", "ra")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event a caller wants appended; the store adds seq, ids and time."""

    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    actor: Actor = SYSTEM
    outcome: Outcome = "success"
    origin: str | None = None
    schema_version: int = 1

    def validate(self) -> None:
        if self.type not in _KNOWN_GOOD_TYPES:
            if not _TYPE_RE.match(self.type):
                raise EventError(f"event type {self.type!r} is not a dotted lower-case name")
            _KNOWN_GOOD_TYPES.add(self.type)
        if self.outcome not in OUTCOMES:
            raise EventError(f"outcome {self.outcome!r} is not one of {sorted(OUTCOMES)}")
        if not self.actor.kind or not self.actor.id:
            raise EventError("an event needs an actor with a kind and an id")
        if not isinstance(self.schema_version, int) or self.schema_version < 1:
            raise EventError("schema_version must be a positive integer")
        try:
            canonical.check(self.payload)
        except canonical.CanonicalJSONError as exc:
            raise EventError(f"event {self.type}: {exc}") from None


def validate_stream(stream: str) -> None:
    if not _STREAM_RE.match(stream):
        raise EventError(f"stream {stream!r} is not of the form kind:id (e.g. session:1234)")


class RecordedEvent(NamedTuple):
    """An event as the log holds it (immutable; cheap to build in bulk)."""

    seq: int
    event_id: str
    stream: str
    stream_version: int
    type: str
    schema_version: int
    occurred_at: datetime
    actor: Actor
    origin: str
    outcome: str
    payload: Mapping[str, Any]
    body: bytes

    @classmethod
    def from_body(cls, body: bytes | str) -> RecordedEvent:
        if isinstance(body, str):
            text, raw = body, body.encode("utf-8")
        else:
            raw = bytes(body)
            text = raw.decode("utf-8")
        data = _loads(text)
        actor = data["actor"]
        return cls(
            data["seq"],
            data["event_id"],
            data["stream"],
            data["stream_version"],
            data["type"],
            data["schema_version"],
            _fromiso(data["occurred_at"]),
            Actor(actor["kind"], actor["id"]),
            data["origin"],
            data["outcome"],
            data["payload"],
            raw,
        )

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object (what `ra audit log --json` prints)."""
        data: dict[str, Any] = canonical.loads(self.body)
        return data


_loads = json.JSONDecoder().decode
_fromiso = datetime.fromisoformat  # Python 3.11 reads the trailing Z as UTC


def envelope(
    event: NewEvent,
    *,
    seq: int,
    event_id: str,
    stream: str,
    stream_version: int,
    occurred_at: datetime,
    origin: str,
) -> dict[str, Any]:
    """The full JSON object that is stored and hashed for one event."""
    return {
        "actor": event.actor.to_json(),
        "event_id": event_id,
        "occurred_at": format_time(occurred_at),
        "origin": event.origin or origin,
        "outcome": event.outcome,
        "payload": dict(event.payload),
        "schema_version": event.schema_version,
        "seq": seq,
        "stream": stream,
        "stream_version": stream_version,
        "type": event.type,
    }


_json_str = json.encoder.encode_basestring


def encode_envelope(
    event: NewEvent,
    *,
    seq: int,
    event_id: str,
    stream: str,
    stream_version: int,
    occurred_at: str,
    origin: str,
) -> str:
    """The canonical text of `envelope(...)`, built without sorting every time.

    The keys are written in their sorted order by hand; only the payload goes
    through the canonical encoder. `tests/test_store.py` checks that the two
    agree byte for byte.
    """
    actor = _ACTOR_JSON.get(event.actor)
    if actor is None:
        if len(_ACTOR_JSON) > 4096:
            _ACTOR_JSON.clear()
        actor = _ACTOR_JSON.setdefault(
            event.actor,
            f'{{"id":{_json_str(event.actor.id)},"kind":{_json_str(event.actor.kind)}}}',
        )
    return (
        f'{{"actor":{actor},'
        f'"event_id":"{event_id}","occurred_at":"{occurred_at}",'
        f'"origin":{_json_str(event.origin or origin)},"outcome":"{event.outcome}",'
        f'"payload":{canonical.dumps(event.payload)},'
        f'"schema_version":{event.schema_version},"seq":{seq},'
        f'"stream":"{stream}","stream_version":{stream_version},'  # checked by validate_stream
        f'"type":"{event.type}"}}'
    )


#: Each actor's JSON, encoded once (actors repeat on every event of a session).
_ACTOR_JSON: dict[Actor, str] = {}


def format_time(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: ``2026-11-25T13:12:14.123456Z``."""
    if moment.tzinfo is None:
        raise EventError("times must be timezone-aware (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


_last_v7 = [0]
_MASK_62 = (1 << 62) - 1


def uuid7s(count: int, now_ms: int | None = None) -> list[str]:
    """`count` UUIDv7s (RFC 9562): 48-bit Unix milliseconds, version, randomness.

    The first of a batch is random; the rest count up from it (RFC 9562
    method 3, monotonic random), and within one process values strictly
    increase even when the clock stands still or steps back.
    """
    ms = (int(time.time() * 1000) if now_ms is None else now_ms) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    first = ms << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | (rand & (_MASK_62 >> 1))
    if first <= _last_v7[0]:
        first = _last_v7[0] + 1
    _last_v7[0] = first + count - 1
    out = []
    for value in range(first, first + count):
        h = f"{value:032x}"
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def uuid7(now_ms: int | None = None) -> str:
    """One UUIDv7; see `uuid7s`."""
    return uuid7s(1, now_ms)[0]
