"""`ra audit migrate`: a log written by an older ra, brought up to date.

The old logs are built here as ra wrote them before, with real bodies, leaf
hashes and Ed25519 checkpoints signed by the home's log key: schema 1 (each
event's leaf hash, stream, version and type in columns, a unique index on
(stream, stream_version), the audit fields as generated columns) and schema 2
(the same columns, ``span_last`` on the first event of each append and a
partial index on it, the audit fields as a view). Everything runs through
the real CLI.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ra.events import Actor, EventStore, NewEvent, canonical, merkle
from ra.events.checkpoint import Checkpoint, load_or_create_key, public_bytes
from ra.events.encoding import encode_envelope
from ra.events.model import format_time
from ra.events.store import _statements
from ra.home import Home


def _generated(name: str, path: str, kind: str = "TEXT") -> str:
    return f"{name} {kind} GENERATED ALWAYS AS (json_extract(body, '$.{path}')) VIRTUAL"


#: How schemas 1 and 2 begin: the meta table and the events table's first columns.
_EVENTS = """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY, body TEXT NOT NULL, leaf BLOB NOT NULL,
    stream TEXT NOT NULL, stream_version INTEGER NOT NULL, type TEXT NOT NULL,"""

#: What schemas 1 and 2 share after their events table.
_COMMON = """CREATE TABLE tree_state (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL,
                         frontier BLOB NOT NULL);
CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, statement TEXT NOT NULL,
                          signature BLOB NOT NULL);
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused'); END;
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused'); END;
"""

SCHEMA_1 = f"""
{_EVENTS}
    {_generated("event_id", "event_id")},
    {_generated("schema_version", "schema_version", "INTEGER")},
    {_generated("occurred_at", "occurred_at")},
    {_generated("actor_kind", "actor.kind")},
    {_generated("actor_id", "actor.id")},
    {_generated("origin", "origin")},
    {_generated("outcome", "outcome")}
);
CREATE UNIQUE INDEX events_stream_version ON events (stream, stream_version);
{_COMMON}CREATE TRIGGER checkpoints_refuse_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only: UPDATE refused'); END;
CREATE TRIGGER checkpoints_refuse_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only: DELETE refused'); END;
"""

SCHEMA_2 = f"""
{_EVENTS}
    span_last INTEGER
);
CREATE UNIQUE INDEX events_spans ON events (stream, span_last) WHERE span_last IS NOT NULL;
CREATE VIEW audit_log AS SELECT seq, stream, stream_version, type, body, leaf FROM events;
{_COMMON}"""

LOG_ID = "0193b7c8-1f2e-7c3a-9d4e-5f6a7b8c9d0e"
# (stream, events in that append): interleaved streams, batches and single appends
APPENDS = [("session:a", 3), ("invitation:b", 1), ("session:a", 2), ("session:c", 4),
           ("invitation:b", 1), ("session:a", 1), ("session:a", 1), ("session:c", 2)]


def build_old_log(home: Home, tmp_path: Path, schema: int = 1) -> tuple[bytes, Path, int]:
    """A log of an older schema; returns its root, an off-site checkpoint file and its size."""
    home.ensure()
    db = sqlite3.connect(home.database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in _statements(SCHEMA_1 if schema == 1 else SCHEMA_2):
        db.execute(statement)
    db.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("schema_version", str(schema)), ("log_id", LOG_ID),
        ("created_at", "2026-11-20T09:00:00.000000Z")])
    key = load_or_create_key(home.log_key)
    moment = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)

    def signed_at(frontier: merkle.Frontier) -> Checkpoint:
        return Checkpoint(origin=f"ra-log/{LOG_ID}", tree_size=frontier.size,
                          root=frontier.root(), time=format_time(moment), sync_mode="FULL",
                          public_key=public_bytes(key)).sign(key)

    frontier = merkle.Frontier()
    versions: dict[str, int] = {}
    seq = 0
    for number, (stream, size) in enumerate(APPENDS):
        first = seq
        for _ in range(size):
            versions[stream] = versions.get(stream, 0) + 1
            event = NewEvent("chat.message", {"n": seq, "append": number},
                             Actor("person", "alice"))
            body = encode_envelope(
                event, seq=seq, event_id=f"0193b7c8-1f2e-7c3a-9d4e-{seq:012x}", stream=stream,
                stream_version=versions[stream], occurred_at=format_time(moment), origin="old-host")
            leaf = merkle.leaf_hash(body.encode())
            row = (seq, body, leaf, stream, versions[stream], "chat.message")
            if schema == 1:
                db.execute("INSERT INTO events (seq, body, leaf, stream, stream_version, type) "
                           "VALUES (?, ?, ?, ?, ?, ?)", row)
            else:  # the first event of the append carries its span
                span_last = versions[stream] + size - 1 if seq == first else None
                db.execute("INSERT INTO events (seq, body, leaf, stream, stream_version, type, "
                           "span_last) VALUES (?, ?, ?, ?, ?, ?, ?)", (*row, span_last))
            frontier.append(leaf)
            seq += 1
        if number in (2, 5):  # two stored checkpoints, at sizes 6 and 13
            signed = signed_at(frontier)
            db.execute("INSERT INTO checkpoints (statement, signature) VALUES (?, ?)",
                       (canonical.dumps(signed.statement()), signed.signature))
    db.execute("INSERT INTO tree_state VALUES (1, ?, ?)", (frontier.size, frontier.to_bytes()))
    offsite = signed_at(frontier)
    kept = tmp_path / "offsite.checkpoint"
    kept.write_bytes(offsite.to_file_bytes())
    db.close()
    return frontier.root(), kept, frontier.size


def rows_of(path: Path) -> list[tuple[object, ...]]:
    """(seq, body, leaf hash, stream, version, type) of every event, as stored."""
    db = sqlite3.connect(path)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
        if "leaf" in columns:  # an old schema: all in columns
            return db.execute("SELECT seq, body, leaf, stream, stream_version, type "
                              "FROM events ORDER BY seq").fetchall()
        rows: list[tuple[object, ...]] = []
        leaves, stream, version = b"", "", 0
        for seq, body, span_stream, span_last, span_leaves in db.execute(
                "SELECT seq, body, span_stream, span_last, span_leaves FROM events ORDER BY seq"):
            if span_last is not None:  # schema 3: the span on an append's first event
                leaves, stream = span_leaves, span_stream
                version = span_last - len(leaves) // 32
            version += 1
            leaf, leaves = leaves[:32], leaves[32:]
            rows.append((seq, body, leaf, stream, version, json.loads(body)["type"]))
        return rows
    finally:
        db.close()


@pytest.mark.parametrize("schema", [1, 2])
def test_an_old_log_is_refused_with_the_way_forward(ra, home: Home, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    schema: int) -> None:
    build_old_log(home, tmp_path, schema)
    result = ra("audit", "verify")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"log schema {schema}" in result.stderr and "ra audit migrate" in result.stderr


@pytest.mark.parametrize("schema, spans", [
    # schema 1 has no spans: runs of one stream's consecutive versions become
    # them (a3+2 after b1 is two spans, a1 a1 one); schema 2's are its appends.
    (1, 7),
    (2, len(APPENDS)),
])
def test_migrate_keeps_every_event_hash_and_checkpoint(ra, home: Home, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       schema: int, spans: int) -> None:
    root, kept, size = build_old_log(home, tmp_path, schema)
    before = rows_of(home.database)
    result = ra("audit", "migrate", "--json", check=True)
    report = json.loads(result.stdout)
    backup = Path(report["backup"])
    assert report["migrated"] and report["from_schema"] == schema and report["to_schema"] == 3
    assert report["events"] == size and report["root"] == root.hex()
    assert report["checkpoints_verified"] == 2
    assert report["spans"] == spans
    assert rows_of(home.database) == before  # every body, leaf and seq as it was
    assert rows_of(backup) == before
    assert backup.name == f"ra.db.schema{schema}.bak"
    assert sqlite3.connect(backup).execute(
        "SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(schema),)

    verified = ra("audit", "verify", "--json", "--checkpoint", str(kept), check=True)
    summary = json.loads(verified.stdout)
    assert summary["ok"] and summary["root"] == root.hex() and summary["external_checked"] == 1
    listed = ra("audit", "log", "--stream", "session:a", "--jsonl", check=True)
    assert [json.loads(line)["stream_version"] for line in listed.stdout.splitlines()] == \
        [1, 2, 3, 4, 5, 6, 7]
    with EventStore.open(home) as store:
        assert store.log_id == LOG_ID  # same log: its checkpoints name it
        assert store.stream_version("session:c") == 6
        store.append("session:c", 6, [NewEvent("chat.message", {"after": "migration"})])
        assert [e.stream_version for e in store.read_stream("session:c", 4)] == [5, 6, 7]
    ra("audit", "verify", "--checkpoint", str(kept), check=True)
    again = ra("audit", "migrate", check=True)
    assert "already log schema 3" in again.stdout


def test_a_tampered_old_log_is_not_migrated_and_stays_as_it_was(
    ra, home: Home, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    build_old_log(home, tmp_path)
    db = sqlite3.connect(home.database)
    db.execute("DROP TRIGGER events_refuse_update")
    db.execute("UPDATE events SET body = replace(body, '\"n\":4}', '\"n\":5}') WHERE seq = 4")
    assert '"n":5}' in db.execute("SELECT body FROM events WHERE seq = 4").fetchone()[0]
    db.commit()
    db.close()
    before = rows_of(home.database)
    result = ra("audit", "migrate")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "does not verify" in result.stderr and "seq 4" in result.stderr
    assert rows_of(home.database) == before
    assert sqlite3.connect(home.database).execute(
        "SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    leftovers = sorted(p.name for p in home.database.parent.iterdir()
                       if p.name.startswith(home.database.name + "."))
    assert leftovers == []


def test_migrate_without_a_log_says_so(ra, home: Home) -> None:  # type: ignore[no-untyped-def]
    result = ra("audit", "migrate")
    assert result.returncode != 0
    assert "no log at" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("sql", ["UPDATE meta SET value = '7' WHERE key = 'schema_version'"])
def test_a_log_from_a_newer_ra_is_left_alone(ra, home: Home, tmp_path: Path, sql: str) -> None:  # type: ignore[no-untyped-def]
    build_old_log(home, tmp_path)
    db = sqlite3.connect(home.database)
    db.execute(sql)
    db.commit()
    db.close()
    result = ra("audit", "migrate")
    assert result.returncode != 0 and "log schema 7" in result.stderr
    assert "Traceback" not in result.stderr
