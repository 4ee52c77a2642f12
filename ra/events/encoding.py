"""How an event is encoded: its envelope, canonical text, leaf hash and rows.

The log stores each event as the canonical JSON (`ra.events.canonical`) of
its *envelope*: every field of the event, with what the store adds (seq,
event id, stream and version, time, origin). `envelope` is the definition.
`encode_batch` writes the same text for a whole append, with the keys in
their sorted order by hand and only the payload through the canonical
encoder, and hands back the parameters of the append's one INSERT, the leaf
hashes and the records; `tests/test_store.py` checks that the two agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from hashlib import sha256
from typing import Any, cast

from ra.events import canonical
from ra.events.ids import uuid7_run
from ra.events.model import EventError, NewEvent, RecordedEvent, format_time

#: A JSON string of a text (what the canonical encoder writes for it).
_string = json.JSONEncoder(ensure_ascii=False).encode
_LEAF_PREFIX = sha256(b"\x00")
#: The parameters of the INSERT of an append (`ra.events.store.insert_events`):
#: the first event's seq, body and span (stream, last version, leaf hashes),
#: then each other event's seq and body.
Rows = list[int | str | bytes]


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
    """The full JSON object that is stored and hashed for one event."""
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
    canonical JSON of `envelope(...)`, byte for byte: the type, outcome and
    stream need no escaping (`NewEvent.validate` and `validate_stream`
    passed them), the payload was checked, so it goes through the faster
    `canonical.dumps_checked`. The records are made only when the caller
    looks at them (`Appended`). `occurred_at` is the append's time as
    `format_time` writes it; `now_ms`, the same time in Unix milliseconds if
    the caller has it, dates the event ids (else the clock does).
    """
    prefix, low = uuid7_run(len(events), now_ms)
    first_low = low
    rows: Rows = []
    leaves: list[bytes] = []
    own_origin = _string(origin)
    head = f'","occurred_at":"{occurred_at}","origin":'
    middle = f',"stream":"{stream}","stream_version":'
    dumps = canonical.dumps_checked
    seq = first_seq
    version = first_version
    for event in events:
        actor = event.actor
        own_key = f',"key":"{actor.key}"' if actor.key else ""
        text = (
            f'{{"actor":{{"id":{_string(actor.id)}{own_key},"kind":{_string(actor.kind)}}},'
            f'"event_id":"{prefix}{low:012x}{head}'
            f'{_string(event.origin) if event.origin else own_origin},'
            f'"outcome":"{event.outcome}","payload":{dumps(event.payload)},'
            f'"schema_version":{event.schema_version},"seq":{seq}{middle}{version},'
            f'"type":"{event.type}"}}'
        )
        try:
            body = text.encode("utf-8")
        except UnicodeEncodeError:
            raise EventError(f"event {event.type} holds text that is not valid Unicode") from None
        digest = _LEAF_PREFIX.copy()
        digest.update(body)
        leaves.append(digest.digest())
        rows += (seq, text)
        seq += 1
        version += 1
        low += 1
    rows[2:2] = (stream, version - 1, b"".join(leaves))
    return rows, leaves, Appended(rows, events, prefix, first_low, occurred_at, origin, stream,
                                  first_version)


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
            moment = datetime.fromisoformat(occurred_at)
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
