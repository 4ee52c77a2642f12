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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, Literal, NamedTuple, cast

from ra.errors import RaError
from ra.events import canonical
from ra.events.speedups import speedups as _speedups
from ra.fingerprint import short_fingerprint

Outcome = Literal["success", "failure", "denied"]
OUTCOMES: frozenset[str] = frozenset({"success", "failure", "denied"})

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_KNOWN_GOOD_TYPES: set[str] = set()
_json_str = json.encoder.encode_basestring
#: Actors' canonical JSON by (kind, id): equal actors made apart share it.
_ACTOR_JSON: dict[tuple[str, str, str], str] = {}
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
    #: The canonical JSON of a valid actor (None if it is not); equal actors share it.
    json: str | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = (self.kind, self.id, self.key)
        try:
            text = _ACTOR_JSON.get(key)
        except TypeError:  # not text at all: `NewEvent.validate` refuses it
            return
        if text is None:
            if not (type(self.kind) is str and type(self.id) is str and self.kind and self.id
                    and type(self.key) is str):
                return
            if self.key and not _KEY_RE.match(self.key):
                return
            if len(_ACTOR_JSON) > 4096:
                _ACTOR_JSON.clear()
            own_key = f',"key":"{self.key}"' if self.key else ""
            text = _ACTOR_JSON[key] = (
                f'{{"id":{_json_str(self.id)}{own_key},"kind":{_json_str(self.kind)}}}')
        object.__setattr__(self, "json", text)

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
        if (self.type in _KNOWN_GOOD_TYPES and self.outcome in OUTCOMES
                and type(self.actor) is Actor and self.actor.json is not None
                and type(self.schema_version) is int
                and self.schema_version >= 1 and canonical.is_flat(self.payload)):
            return  # the common case: a known type, actor and a flat payload
        if self.type not in _KNOWN_GOOD_TYPES:
            if not isinstance(self.type, str) or not _TYPE_RE.match(self.type):
                raise EventError(f"event type {self.type!r} is not a dotted lower-case name")
            _KNOWN_GOOD_TYPES.add(self.type)
        if self.outcome not in OUTCOMES:
            raise EventError(f"outcome {self.outcome!r} is not one of {sorted(OUTCOMES)}")
        if not isinstance(self.actor, Actor) or self.actor.json is None:
            raise EventError("an event needs an actor with a kind and an id (text), "
                             "and a key only as a fingerprint (64 lowercase hex)")
        if type(self.schema_version) is not int or self.schema_version < 1:
            raise EventError("schema_version must be a positive integer")
        try:
            canonical.check(self.payload)
        except canonical.CanonicalJSONError as exc:
            raise EventError(f"event {self.type}: {exc}") from None


def validate_stream(stream: str) -> None:
    if type(stream) is str and stream in _KNOWN_GOOD_STREAMS:
        return
    if not isinstance(stream, str) or not _STREAM_RE.match(stream):
        raise EventError(f"stream {stream!r} is not of the form kind:id (e.g. session:1234)")
    if len(_KNOWN_GOOD_STREAMS) > 4096:
        _KNOWN_GOOD_STREAMS.clear()
    _KNOWN_GOOD_STREAMS.add(stream)


_KNOWN_GOOD_STREAMS: set[str] = set()


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


def envelope(
    event: NewEvent,
    *,
    seq: int,
    event_id: str,
    stream: str,
    stream_version: int,
    occurred_at: datetime | str,
    origin: str,
) -> dict[str, Any]:
    """The full JSON object that is stored and hashed for one event.

    This is the definition; `encode_batch` writes the same object's canonical
    text faster, and `tests/test_store.py` checks that the two agree.
    """
    return {
        "actor": event.actor.to_json(),
        "event_id": event_id,
        "occurred_at": occurred_at if isinstance(occurred_at, str) else format_time(occurred_at),
        "origin": event.origin or origin,
        "outcome": event.outcome,
        "payload": dict(event.payload),
        "schema_version": event.schema_version,
        "seq": seq,
        "stream": stream,
        "stream_version": stream_version,
        "type": event.type,
    }


def encode_envelope(event: NewEvent, **fields: Any) -> str:
    """The canonical text of `envelope(event, **fields)`."""
    return canonical.dumps(envelope(event, **fields))


_LEAF_PREFIX = sha256(b"\x00")
#: The parameters of the INSERT of an append (`ra.events.store.insert_events`):
#: the first event's seq, body and span (stream, last version, leaf hashes),
#: then each other event's seq and body.
Rows = list[int | str | bytes]


def encode_batch(
    events: Sequence[NewEvent],
    *,
    first_seq: int,
    first_version: int,
    stream: str,
    occurred_at: str,
    origin: str,
    now_ms: int | None = None,
) -> tuple[Rows, list[bytes], Appended]:
    """The rows, leaf hashes and records of a validated batch for one stream.

    The rows come flat, as the parameters of one multi-row INSERT: ``[seq,
    text, stream, last version, leaf hashes joined, seq, text, seq, text,
    ...]`` (the first event carries the append's span). Each text is the
    canonical JSON of `envelope(...)`, byte for byte, with the keys written in
    their sorted order by hand and the parts every event of the batch shares
    written once; only the payload goes through the canonical encoder. This
    loop is the append path's hot spot; the records are made only when the
    caller looks at them (`Appended`). `occurred_at` is the append's time as
    `format_time` writes it; `now_ms`, the same time in Unix milliseconds if
    the caller has it, dates the event ids (else the clock does).
    """
    prefix, low = _uuid7_run(len(events), now_ms)
    first_low = low
    rows: Rows = []
    put = rows.append
    leaves: list[bytes] = []
    own_origin = _json_str(origin)
    if _speedups is not None:
        made = _speedups.encode(events, first_seq, first_version, stream, occurred_at,
                                own_origin, prefix, low)
        if made is not None:
            return made[0], made[1], Appended(made[0], events, prefix, first_low, occurred_at,
                                              origin, stream, first_version)
    head = f'","occurred_at":"{occurred_at}","origin":'
    middle = f',"stream":"{stream}","stream_version":'
    dumps = canonical.dumps_checked  # NewEvent.validate ran `check`
    start = _LEAF_PREFIX.copy
    seq = first_seq
    version = first_version
    for event in events:
        text = (
            f'{{"actor":{event.actor.json},"event_id":"{prefix}{low:012x}{head}'
            f'{own_origin if not event.origin else _json_str(event.origin)},'
            f'"outcome":"{event.outcome}","payload":{dumps(event.payload)},'
            f'"schema_version":{event.schema_version},"seq":{seq}{middle}{version},'
            f'"type":"{event.type}"}}'
        )
        try:
            body = text.encode("utf-8")
        except UnicodeEncodeError:
            raise EventError(f"event {event.type} holds text that is not valid Unicode") from None
        digest = start()
        digest.update(body)
        leaves.append(digest.digest())
        put(seq)
        put(text)
        seq += 1
        version += 1
        low += 1
    rows[2:2] = (stream, version - 1, b"".join(leaves))
    return rows, leaves, Appended(rows, events, prefix, first_low, occurred_at, origin, stream,
                                  first_version)


#: The last origin `encode_now` wrote and its JSON string, replaced whole
#: (a pair read at once, so threads with other origins never mix them).
_origin_json: tuple[str | None, str] = (None, "")


def encode_now(events: Sequence[NewEvent], first_seq: int, first_version: int, stream: str,
               origin: str) -> tuple[Rows, list[bytes], Appended]:
    """`encode_batch` at the clock's now: one reading of the clock dates the
    events and their ids (`stamp_now`). On the C loops it is one call."""
    global _origin_json
    if _speedups is not None:
        cached = _origin_json
        if cached[0] is not origin:
            cached = _origin_json = (origin, _json_str(origin))
        made = _speedups.encode_now(events, first_seq, first_version, stream, cached[1])
        if made is not None:
            rows, leaves, occurred_at, prefix, low = made
            return rows, leaves, Appended(rows, events, prefix, low, occurred_at, origin,
                                          stream, first_version)
    occurred_at, now_ms = stamp_now()
    return encode_batch(events, first_seq=first_seq, first_version=first_version, stream=stream,
                        occurred_at=occurred_at, origin=origin, now_ms=now_ms)


class Appended(Sequence[RecordedEvent]):
    """What `EventStore.append` returns: the recorded events, made when first read.

    A list-like sequence (index, slice, iterate, ``len``, ``+``, ``==``); the
    records are built from the rows on first use, so an append whose caller
    only needs the count or nothing pays nothing for them.
    """

    __slots__ = ("_rows", "_made", "_records")

    def __init__(self, rows: Rows, events: Sequence[NewEvent], prefix: str, low: int,
                 occurred_at: str, origin: str, stream: str, first_version: int) -> None:
        self._rows = rows
        self._made = (events, prefix, low, occurred_at, origin, stream, first_version)
        self._records: list[RecordedEvent] | None = None

    def _all(self) -> list[RecordedEvent]:
        records = self._records
        if records is None:
            events, prefix, low, occurred_at, origin, stream, version = self._made
            moment = _fromiso(occurred_at)
            rows = self._rows
            first = cast(int, rows[0])
            texts = cast(list[str], [rows[1], *rows[6::2]])  # see `Rows`
            records = self._records = [
                RecordedEvent(first + i, f"{prefix}{low + i:012x}", stream, version + i,
                              event.type, event.schema_version, moment, event.actor,
                              event.origin or origin, event.outcome, event.payload,
                              text.encode("utf-8"))
                for i, (event, text) in enumerate(zip(events, texts, strict=True))
            ]
        return records

    def __len__(self) -> int:
        return (len(self._rows) - 3) // 2

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[RecordedEvent]:
        return iter(self._all())

    def __add__(self, other: Sequence[RecordedEvent]) -> list[RecordedEvent]:
        return [*self._all(), *other]

    def __radd__(self, other: Sequence[RecordedEvent]) -> list[RecordedEvent]:
        return [*other, *self._all()]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Appended):
            other = other._all()
        return isinstance(other, list) and self._all() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._all())


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


#: The whole second `stamp_now` last wrote, and its text up to the seconds.
_second: tuple[int, str] = (-1, "")


def _py_stamp_now() -> tuple[str, int]:
    """Now, as `format_time` writes it, and in Unix milliseconds: one clock read.

    The text up to the seconds is made once a second; the append path reads
    the time this way, as it is the same text for less work than a
    `datetime`'s (a single append runs right after the last one's fsync, on
    cold caches, where every call counts).
    """
    global _second
    ns = time.time_ns()
    whole = ns // 1_000_000_000
    second = _second
    if whole != second[0]:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return "%s.%06dZ" % (second[1], ns // 1000 % 1_000_000), ns // 1_000_000  # noqa: UP031


#: The last UUIDv7 handed out (its millisecond field is the top 48 bits).
_last_v7 = [0]


class _Entropy:
    """Bytes from os.urandom, handed out 10 at a time (one syscall per 409 ids)."""

    pool = b""
    at = 0


def _random80() -> int:
    """80 random bits for a UUIDv7."""
    at = _Entropy.at
    if at + 10 > len(_Entropy.pool):
        _Entropy.pool, at = os.urandom(4090), 0
    _Entropy.at = at + 10
    return int.from_bytes(_Entropy.pool[at:at + 10], "big")


def _forget_entropy() -> None:
    _Entropy.pool, _Entropy.at = b"", 0  # a forked child must not reuse its parent's bytes


os.register_at_fork(after_in_child=_forget_entropy)
_MASK_62 = (1 << 62) - 1
_MASK_48 = (1 << 48) - 1


def _py_uuid7_run(count: int, now_ms: int | None = None) -> tuple[str, int]:
    """`count` consecutive UUIDv7s (RFC 9562) as (text prefix, first low 48 bits).

    48-bit Unix milliseconds, the version, then randomness: the first is
    random, the rest count up from it (RFC 9562 method 3, monotonic random),
    and within one process values strictly increase even when the clock stands
    still or steps back. The ids differ only in their last group, so the i-th
    is ``f"{prefix}{low + i:012x}"``.
    """
    ms = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) & _MASK_48
    rand = _random80()
    low = rand & _MASK_48
    if ms > _last_v7[0] >> 80 and low + count <= _MASK_48:
        # A later millisecond than the last id's: the run is past it as drawn.
        # The groups are written one by one; the same bits as below.
        version = 0x7000 | rand >> 68
        variant = 0x8000 | (rand >> 48) & 0x1FFF
        _last_v7[0] = ms << 80 | version << 64 | variant << 48 | (low + count - 1)
        # %-format: about half the time of the same f-string with format specs
        return "%08x-%04x-%04x-%04x-" % (ms >> 16, ms & 0xFFFF, version, variant), low  # noqa: UP031
    first = ms << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | (rand & (_MASK_62 >> 1))
    if first <= _last_v7[0]:
        first = _last_v7[0] + 1
    if (first & _MASK_48) + count > _MASK_48:  # keep the run inside one last group
        first = (first | _MASK_48) + 1
    _last_v7[0] = first + count - 1
    h = f"{first:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-", first & _MASK_48


def configure_speedups(module: Any) -> None:
    """Hand the C loops what they share with the Python: orjson as
    `canonical.dumps_checked` calls it, the JSON string writer, the types and
    streams known to be good, the outcomes and `Actor`."""
    import orjson

    module.configure(
        orjson.dumps, canonical._not_plain, canonical._orjson_options, orjson.JSONEncodeError,
        _json_str, _KNOWN_GOOD_TYPES, _KNOWN_GOOD_STREAMS, OUTCOMES, Actor)


if _speedups is not None:
    configure_speedups(_speedups)

#: Whether the stream passed `validate_stream` before and every event passes
#: `NewEvent.validate`'s first test, in C (False means "run them"); None
#: where the C loops are not there.
events_valid: Callable[[Sequence[NewEvent], str], bool] | None = (
    None if _speedups is None else _speedups.valid)
#: The clock and the id runs of the append path: the C ones where built (the
#: same text, the same bits from the same draws), else the Python above.
stamp_now: Callable[[], tuple[str, int]] = (
    _py_stamp_now if _speedups is None else _speedups.stamp_now)
_uuid7_run: Callable[..., tuple[str, int]] = (
    _py_uuid7_run if _speedups is None else _speedups.uuid7_run)


def uuid7s(count: int, now_ms: int | None = None) -> list[str]:
    """`count` UUIDv7s, strictly increasing; see `_uuid7_run`."""
    prefix, low = _uuid7_run(count, now_ms)
    return [f"{prefix}{value:012x}" for value in range(low, low + count)]


def uuid7(now_ms: int | None = None) -> str:
    """One UUIDv7; see `uuid7s`."""
    return uuid7s(1, now_ms)[0]
