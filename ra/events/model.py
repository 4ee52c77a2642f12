"""What an event is.

An event is a fact that has happened, named in the past tense with a dotted
type (``invitation.created``, ``consent.granted``). Every stored event carries
the fields an audit record needs (PCI DSS 10.2.2): who (`actor`), what
(`type`, `payload`), when (`occurred_at`, UTC, microseconds), the outcome
(`success`, `failure`, `denied`), where from (`origin`), and which resource
(`stream`, e.g. ``session:<id>``).

`NewEvent` is what a caller asks to append; `validate` refuses what the log
must not hold. `RecordedEvent` is what the store holds, with its global `seq`
(gapless, commit order, also the Merkle leaf index), its `stream_version` and
the exact canonical bytes (`body`) that the Merkle tree hashes. How an event
becomes those bytes is `ra.events.encoding`; its id, `ra.events.ids`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from ra.errors import RaError
from ra.events import canonical
from ra.fingerprint import short_fingerprint

Outcome = Literal["success", "failure", "denied"]
OUTCOMES: frozenset[str] = frozenset({"success", "failure", "denied"})

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
#: An actor's key: a fingerprint as `ra.fingerprint.key_fingerprint` writes it.
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
_STREAM_RE = re.compile(r"^[a-z][a-z0-9_-]*:[A-Za-z0-9._:@/-]{1,200}$")


class EventError(RaError, ValueError):
    """An event is malformed and was not appended."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: a kind (``person``, ``helper``, ``system``, ``operator``) and an id.

    `key`, when known, is the fingerprint (`ra.fingerprint`) of the public key
    the actor proved it holds: a helper's identity key, signed over the
    handshake. The id is then the name the actor gave, which anyone could
    give; the key is what tells two actors apart. An actor without a key is
    written without the field, so events recorded before it existed keep
    their bytes.
    """

    kind: str
    id: str
    key: str = ""

    def to_json(self) -> dict[str, str]:
        if self.key:
            return {"id": self.id, "key": self.key, "kind": self.kind}
        return {"id": self.id, "kind": self.kind}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Actor:
        return cls(kind=str(data["kind"]), id=str(data["id"]), key=str(data.get("key", "")))

    def __str__(self) -> str:
        if self.key:
            return f"{self.kind}:{self.id} (key {short_fingerprint(self.key)})"
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
        if not isinstance(self.type, str) or not _TYPE_RE.match(self.type):
            raise EventError(f"event type {self.type!r} is not a dotted lower-case name")
        if self.outcome not in OUTCOMES:
            raise EventError(f"outcome {self.outcome!r} is not one of {sorted(OUTCOMES)}")
        actor = self.actor
        if not (isinstance(actor, Actor) and type(actor.kind) is str and type(actor.id) is str
                and actor.kind and actor.id and type(actor.key) is str
                and (not actor.key or _KEY_RE.match(actor.key))):
            raise EventError("an event needs an actor with a kind and an id (text), "
                             "and a key only as a fingerprint (64 lowercase hex)")
        if type(self.schema_version) is not int or self.schema_version < 1:
            raise EventError("schema_version must be a positive integer")
        try:
            canonical.check(self.payload)
        except canonical.CanonicalJSONError as exc:
            raise EventError(f"event {self.type}: {exc}") from None


def validate_stream(stream: str) -> None:
    if not isinstance(stream, str) or not _STREAM_RE.match(stream):
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
            Actor(actor["kind"], actor["id"], actor.get("key", "")),
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


def format_time(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: ``2026-11-25T13:12:14.123456Z``."""
    if moment.tzinfo is None:
        raise EventError("times must be timezone-aware (UTC)")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if moment.year < 1000:  # strftime's %Y does not pad to four digits
        return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%fZ")
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp_now() -> tuple[str, int]:
    """Now, as `format_time` writes it, and in Unix milliseconds: one clock
    read, so an append's events and their ids carry the same time."""
    ns = time.time_ns()
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    return f"{seconds}.{ns // 1000 % 1_000_000:06d}Z", ns // 1_000_000
