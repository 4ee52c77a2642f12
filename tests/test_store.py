"""The event store: appends, versions, atomic batches, append-only, queries, keys."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import HELPER, PERSON, fill

from ra.events import (
    Actor,
    Checkpoint,
    CheckpointError,
    ConcurrencyError,
    EventError,
    EventStore,
    NewEvent,
    RecordedEvent,
    canonical,
    merkle,
)
from ra.events.encoding import encode_batch, envelope
from ra.events.ids import uuid7s
from ra.events.model import format_time
from ra.home import Home


def test_appends_number_events_gaplessly_and_version_streams(store: EventStore) -> None:
    first = store.append("invitation:a", 0, [NewEvent("invitation.created", {"x": 1}, PERSON)])
    batch = store.append("session:b", 0, [
        NewEvent("session.connected", {}, HELPER),
        NewEvent("consent.requested", {"scope": "view"}, HELPER),
    ])
    more = store.append("invitation:a", 1, [NewEvent("invitation.sent", {"channel": "file"})])
    assert [e.seq for e in first + batch + more] == [0, 1, 2, 3]
    assert [e.stream_version for e in batch] == [1, 2]
    assert more[0].stream_version == 2
    assert store.size() == 4
    assert store.stream_version("invitation:a") == 2
    assert store.stream_version("session:none") == 0
    read = store.read_stream("invitation:a")
    assert [e.type for e in read] == ["invitation.created", "invitation.sent"]
    assert read[0] == first[0]


def test_an_event_has_every_audit_field(store: EventStore) -> None:
    moment = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
    [event] = store.append("session:x", 0, [
        NewEvent("consent.denied", {"reason": "timed out"}, PERSON, outcome="denied",
                 origin="192.0.2.7")
    ], now=moment)
    data = event.to_json()
    assert set(data) == {"seq", "event_id", "stream", "stream_version", "type",
                         "schema_version", "occurred_at", "actor", "origin", "outcome",
                         "payload"}
    assert data["occurred_at"] == "2026-11-25T10:00:00.123456Z"
    assert data["actor"] == {"kind": "person", "id": "alice"}
    assert data["origin"] == "192.0.2.7"
    assert data["outcome"] == "denied"
    assert data["event_id"][14] == "7"  # UUIDv7
    assert RecordedEvent.from_body(event.body) == event


def test_a_stale_expected_version_appends_nothing(store: EventStore) -> None:
    store.append("session:s", 0, [NewEvent("session.connected")])
    with pytest.raises(ConcurrencyError, match="at version 1, not 0"):
        store.append("session:s", 0, [NewEvent("session.connected"), NewEvent("chat.message")])
    assert store.size() == 1
    assert store.stream_version("session:s") == 1


def test_a_batch_with_one_bad_event_appends_nothing(store: EventStore) -> None:
    with pytest.raises(EventError):
        store.append("session:s", 0, [
            NewEvent("session.connected"),
            NewEvent("chat.message", {"ratio": 0.5}),  # floats are not canonical
        ])
    with pytest.raises(EventError):
        store.append("session:s", 0, [NewEvent("Not A Type")])
    with pytest.raises(EventError):
        store.append("no-colon", 0, [NewEvent("chat.message")])
    assert store.size() == 0


def test_events_cannot_be_updated_or_deleted(store: EventStore) -> None:
    fill(store, 1, 2)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("UPDATE events SET body = body || ' ' WHERE seq = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM events WHERE seq = 1")
    store.checkpoint()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM checkpoints")
    assert store.size() == 2 and len(store.checkpoints()) == 1


def test_query_columns_are_derived_from_the_hashed_body(store: EventStore) -> None:
    store.append("session:q", 0, [NewEvent("chat.message", {"text": "hi"}, HELPER)])
    row = store.conn.execute(
        "SELECT stream, stream_version, type, actor_kind, actor_id, outcome FROM audit_log"
    ).fetchone()
    assert row == ("session:q", 1, "chat.message", "helper", "bob", "success")
    with pytest.raises(sqlite3.OperationalError, match="view"):  # a view: cannot be set at all
        store.conn.execute("UPDATE audit_log SET actor_id = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("UPDATE events SET span_stream = 'session:other'")


def test_database_is_wal_with_full_sync_and_checkpoints_record_it(home: Home) -> None:
    with EventStore.open(home) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.checkpoint().sync_mode == "FULL"
    with EventStore.open(home, sync="NORMAL") as store:
        assert store.checkpoint().sync_mode == "NORMAL"


def test_ra_sync_chooses_the_mode_for_every_command(ra, home: Home) -> None:  # type: ignore[no-untyped-def]
    ra("audit", "checkpoint", env={"RA_SYNC": "normal"}, check=True)
    ra("audit", "checkpoint", check=True)
    with EventStore.open(home) as store:
        assert [c.sync_mode for c in store.checkpoints()] == ["NORMAL", "FULL"]
    bad = ra("audit", "checkpoint", "--json", env={"RA_SYNC": "sometimes"})
    assert bad.returncode == 2 and "RA_SYNC must be FULL or NORMAL" in bad.stderr


def test_the_root_is_the_rfc6962_root_of_the_stored_bodies(store: EventStore) -> None:
    fill(store)
    bodies = [e.body for e in store.iter_events()]
    assert store.root() == merkle.root([merkle.leaf_hash(b) for b in bodies])
    assert store.leaf_hashes() == [merkle.leaf_hash(b) for b in bodies]


def test_iter_events_filters(store: EventStore) -> None:
    old = datetime(2026, 1, 1, tzinfo=UTC)
    store.append("invitation:i", 0, [NewEvent("invitation.created")], now=old)
    store.append("session:s", 0, [NewEvent("consent.granted"), NewEvent("consent.denied"),
                                  NewEvent("control.granted")])
    assert [e.type for e in store.iter_events(types=["consent.*"])] == [
        "consent.granted", "consent.denied"]
    assert [e.type for e in store.iter_events(types=["control.granted", "invitation.created"])] \
        == ["invitation.created", "control.granted"]
    assert [e.seq for e in store.iter_events(stream="session:s", limit=2)] == [1, 2]
    assert [e.seq for e in store.iter_events(since=old + timedelta(days=1))] == [1, 2, 3]
    assert [e.seq for e in store.iter_events(stream_prefix="invitation:")] == [0]


def test_signing_key_is_created_once_with_mode_0600(home: Home) -> None:
    with EventStore.open(home) as store:
        first = store.checkpoint()
    mode = stat.S_IMODE(home.log_key.stat().st_mode)
    assert mode == 0o600
    with EventStore.open(home) as store:
        second = store.checkpoint()
    assert first.public_key == second.public_key
    assert first.signature_holds() and second.signature_holds()


def test_checkpoint_file_round_trips_and_an_edit_breaks_its_signature(store: EventStore) -> None:
    fill(store)
    signed = store.checkpoint()
    data = signed.to_file_bytes()
    again = Checkpoint.from_file_bytes(data)
    assert again == signed and again.signature_holds()
    edited = data.replace(b'"tree_size":12', b'"tree_size":11')
    assert edited != data
    assert not Checkpoint.from_file_bytes(edited).signature_holds()
    for bad in (b"", b"{", b"[]", b'{"format":"other"}', b"\xff" * 10, b"x" * 100_000):
        with pytest.raises(CheckpointError):
            Checkpoint.from_file_bytes(bad)


def test_uuid7s_are_unique_and_increasing() -> None:
    ids = uuid7s(500) + uuid7s(500, now_ms=0)  # the clock stepping back keeps order
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)
    assert all(i[14] == "7" and i[19] in "89ab" for i in ids)


def test_uuid7_runs_write_the_drawn_bits_and_keep_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # A later millisecond than the last id's keeps the drawn bits; the same
    # or an earlier one counts on from the last id (last + 1).
    import uuid

    from ra.events import ids as ids_module

    draws = [0xABCD_1FFF_123456789ABC | (0b111 << 61), 0x1234_0456_000000000001] * 50
    drawn = iter(draws)
    monkeypatch.setattr(ids_module, "_random80", lambda: next(drawn))
    monkeypatch.setattr(ids_module, "_last", 0)
    ms = 1_764_000_000_000
    prefix, low = ids_module.uuid7_run(3, now_ms=ms)
    first = uuid.UUID(f"{prefix}{low:012x}")
    rand = draws[0]
    expected = (ms << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62
                | (rand & ((1 << 61) - 1)))
    assert first.int == expected and first.version == 7 and first.variant == uuid.RFC_4122
    ids = [f"{prefix}{low + i:012x}" for i in range(3)]
    ids += uuid7s(2, now_ms=ms)  # the same millisecond: counts on
    assert uuid.UUID(ids[3]).int == uuid.UUID(ids[2]).int + 1
    ids += uuid7s(2, now_ms=ms - 5)  # the clock stepped back
    ids += uuid7s(2, now_ms=ms + 1)  # a later millisecond: drawn again
    assert uuid.UUID(ids[-2]).int >> 80 == ms + 1
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)


def test_stamp_now_is_format_time_of_one_clock_read() -> None:
    from ra.events.model import stamp_now

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(3):
        before = datetime.now(UTC)
        text, ms = stamp_now()
        after = datetime.now(UTC)
        moment = datetime.fromisoformat(text)
        assert format_time(moment) == text
        assert before - timedelta(microseconds=1) <= moment <= after
        assert (moment - epoch) // timedelta(milliseconds=1) == ms


def test_format_time_writes_four_digit_years() -> None:
    moment = datetime(999, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert format_time(moment) == "0999-02-03T04:05:06.000007Z"
    assert datetime.fromisoformat(format_time(moment)) == moment


def test_an_events_id_and_time_come_from_one_clock_read(store: EventStore) -> None:
    import uuid

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    recorded = store.append("session:clock", 0, [NewEvent("chat.message", {"n": i})
                                                 for i in range(3)])
    for record in recorded:
        ms = (record.occurred_at - epoch) // timedelta(milliseconds=1)
        assert uuid.UUID(record.event_id).int >> 80 == ms
        assert store.event(record.seq) == record


json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


@settings(max_examples=150)
@given(
    payloads=st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=5),
                      min_size=1, max_size=4),
    actor_id=st.text(min_size=1, max_size=20),
    origins=st.lists(st.none() | st.text(min_size=1, max_size=20), min_size=4, max_size=4),
    micro=st.integers(0, 999_999),
    offset=st.sampled_from([0, 5, -8]),
)
def test_the_append_encoder_writes_each_event_as_canonical_json(
    payloads: list[dict[str, object]], actor_id: str, origins: list[str | None], micro: int,
    offset: int,
) -> None:
    # One event takes the single-event path, several the batch path; both must
    # write exactly the canonical JSON of the envelope, whatever the time zone.
    from datetime import timezone

    events = [NewEvent("chat.message", payload, Actor("helper", actor_id), origin=origin)
              for payload, origin in zip(payloads, origins, strict=False)]
    moment = datetime(2026, 11, 25, 10, 0, 0, micro, tzinfo=timezone(timedelta(hours=offset)))
    rows, leaves, records = encode_batch(events, first_seq=40, first_version=9,
                                         stream="session:x", occurred_at=format_time(moment),
                                         origin="host")
    # The INSERT's parameters: the first event with the append's span (its
    # stream, the version after it, every leaf hash), then seq and body.
    count = len(events)
    assert rows[2:5] == ["session:x", 8 + count, b"".join(leaves)]
    texts = [rows[1], *rows[6::2]]
    assert [rows[0], *rows[5::2]] == list(range(40, 40 + count))
    assert len(rows) == 3 + 2 * count and len(records) == count
    for i, (event, text, leaf, record) in enumerate(zip(events, texts, leaves, records,
                                                        strict=True)):
        expected = canonical.dumps(envelope(
            event, seq=40 + i, event_id=record.event_id, stream="session:x",
            stream_version=9 + i, occurred_at=moment, origin="host"))
        assert text == expected
        assert leaf == merkle.leaf_hash(expected.encode())
        assert record.body == expected.encode() and record.seq == 40 + i
        assert record.occurred_at == moment and record.occurred_at.tzinfo is UTC
    ids = [r.event_id for r in records]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_text_that_is_not_unicode_is_refused_and_nothing_appended(store: EventStore) -> None:
    with pytest.raises(EventError, match="not valid Unicode"):
        store.append("session:u", 0, [NewEvent("chat.message"),
                                      NewEvent("chat.message", {"text": "bad \udc80"})])
    assert store.size() == 0


def test_projections_rebuild_state_from_the_log_alone(store: EventStore) -> None:
    from ra.events.projections import StreamSummary, rebuild

    fill(store, streams=3, per_stream=4)
    store.append("invitation:i", 0, [NewEvent("invitation.created")])
    summary = StreamSummary()
    assert rebuild(store, [summary]) == 13
    assert set(summary.streams) == {"session:s0", "session:s1", "session:s2", "invitation:i"}
    assert summary.streams["session:s1"].version == 4
    assert summary.streams["session:s1"].last_type == "control.released"
    only = StreamSummary(types=frozenset({"invitation.created"}))
    assert rebuild(store, [only]) == 1
    assert list(only.streams) == ["invitation:i"]


def test_every_stored_event_matches_the_published_schema(store: EventStore) -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema_path = Path(__file__).parents[1] / "audit" / "schema" / "event.schema.json"
    schema = json.loads(schema_path.read_text())
    fill(store)
    store.append("session:z", 0, [NewEvent("consent.denied", {"reason": "timed out"},
                                           PERSON, outcome="denied")])
    for event in store.iter_events():
        jsonschema.validate(event.to_json(), schema)
    broken = dict(store.event(0).to_json())  # type: ignore[union-attr]
    broken["outcome"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_the_compliance_reports_run_on_a_real_log(store: EventStore) -> None:
    from pathlib import Path

    fill(store)
    store.append("invitation:i", 0, [NewEvent("auth.failed", {"attempt": 1}, HELPER,
                                              outcome="failure", origin="127.0.0.1")])
    reports = sorted((Path(__file__).parents[1] / "audit" / "reports").glob("*.sql"))
    assert len(reports) >= 3
    results = {p.stem: store.conn.execute(p.read_text()).fetchall() for p in reports}
    grants = results["consent_and_control_grants"]
    assert [row[3] for row in grants][:3] == ["consent.granted", "control.granted",
                                              "control.released"]
    assert len(results["session_timeline"]) == 3
    assert results["failed_authentications"][0][:3] == ("invitation:i", "127.0.0.1", 1)


def test_readers_open_while_a_writer_holds_the_lock(home: Home) -> None:
    from ra.events import StoreError

    with EventStore.open(home) as store:
        fill(store, 1, 2)
    writer = sqlite3.connect(home.database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with EventStore(home.database, key_path=home.log_key, busy_timeout=0.2) as reader:
            assert reader.size() == 2  # opening an existing log takes no write lock
            with pytest.raises(StoreError, match="busy"):
                reader.checkpoint()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
