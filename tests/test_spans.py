"""The stream index (one span per append), the in-memory Merkle frontier and
what `verify_log` checks of both.

The first event of each append carries the append's span: its stream, the
stream's version after it (`span_last`) and the leaf hashes of its events.
Only those rows are in the stream index, one entry per append instead of one
per event; streams are read through it, and the tree's frontier is kept in
memory and caught up from the spans' leaf hashes when another process
appended. These tests use real SQLite files and alter them as
an attacker would (triggers dropped first).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from support import tamper

from ra.events import EventStore, NewEvent, merkle, verify_log
from ra.events import store as store_module
from ra.events import verify as verify_module
from ra.events.errors import ConcurrencyError, LogStateError
from ra.home import Home


def interleave(store: EventStore, rounds: int = 6) -> dict[str, list[int]]:
    """Batches of 1..4 events to three streams in turn; stream -> its seqs."""
    seqs: dict[str, list[int]] = {}
    for r in range(rounds):
        for s, stream in enumerate(["session:a", "session:b", "invitation:c"]):
            size = 1 + (r + s) % 4
            version = store.stream_version(stream)
            recorded = store.append(stream, version, [
                NewEvent("chat.message", {"r": r, "k": k}) for k in range(size)])
            seqs.setdefault(stream, []).extend(e.seq for e in recorded)
    return seqs


def test_one_span_per_append_and_streams_read_through_them(store: EventStore) -> None:
    seqs = interleave(store)
    spans = store.conn.execute(
        "SELECT count(*) FROM events WHERE span_last IS NOT NULL").fetchone()[0]
    assert spans == 18  # one per append, however many events it held
    for stream, expected in seqs.items():
        read = store.read_stream(stream)
        assert [e.seq for e in read] == expected
        assert [e.stream_version for e in read] == list(range(1, len(expected) + 1))
        assert store.stream_version(stream) == len(expected)
        later = store.read_stream(stream, after_version=3)
        assert [e.stream_version for e in later] == list(range(4, len(expected) + 1))
        assert [e.seq for e in store.iter_events(stream=stream)] == expected
    assert store.read_stream("session:none") == []
    assert store.read_stream("session:a", after_version=999) == []


def test_the_stream_index_is_checked_when_a_stream_is_read(store: EventStore) -> None:
    seqs = interleave(store)
    # The attacker removes one of session:b's appends from the index (a middle one).
    tamper(store.path, "UPDATE events SET span_last = NULL WHERE seq = (SELECT seq FROM events "
                       "WHERE span_stream = 'session:b' AND span_last IS NOT NULL "
                       "ORDER BY span_last LIMIT 1 OFFSET 1)")
    with pytest.raises(LogStateError, match="stream index of session:b is damaged"):
        store.read_stream("session:b")
    assert [e.seq for e in store.read_stream("session:a")] == seqs["session:a"]


def test_a_hidden_last_append_is_caught_by_verify(store: EventStore) -> None:
    seqs = interleave(store)
    first_hidden = store.conn.execute(
        "SELECT max(seq) FROM events WHERE span_stream = 'session:b' AND span_last IS NOT NULL"
    ).fetchone()[0]
    # The attacker hides session:b's last append (say, a revocation) from readers:
    # the stream now looks shorter. Reading cannot tell; verify does.
    tamper(store.path, "UPDATE events SET span_last = NULL WHERE seq = ?",
           params=(first_hidden,))
    assert store.stream_version("session:b") < len(seqs["session:b"])
    report = verify_log(store)
    assert not report.ok
    first = report.first_problem
    assert first is not None and "no span" in first.what
    assert first.position == first_hidden


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("attack_sql, expected", [
    # a span that claims one event fewer (its last event is in no span)
    (["UPDATE events SET span_last = span_last - 1, "
      "span_leaves = substr(span_leaves, 1, length(span_leaves) - 32) WHERE seq = ?"],
     "in no span"),
    # a span that claims more events (it overlaps the next)
    (["UPDATE events SET span_last = span_last + 1000, "
      "span_leaves = span_leaves || zeroblob(32000) WHERE seq = ?"], "overlaps"),
    # a span moved one event later, without its first event (which is in no span)
    (["UPDATE events SET span_stream = (SELECT span_stream FROM events WHERE seq = ?1), "
      "span_leaves = substr((SELECT span_leaves FROM events WHERE seq = ?1), 33), "
      "span_last = -(SELECT span_last FROM events WHERE seq = ?1) WHERE seq = ?1 + 1",
      "UPDATE events SET span_stream = NULL, span_last = NULL, span_leaves = NULL "
      "WHERE seq = ?1",
      "UPDATE events SET span_last = -span_last WHERE seq = ?1 + 1"], "in no span"),
    # a span removed
    (["UPDATE events SET span_last = NULL WHERE seq = ?"], "in no span"),
    # a span whose leaf hashes were cut short of a whole hash
    (["UPDATE events SET span_leaves = substr(span_leaves, 2) WHERE seq = ?"], "damaged"),
    # a span whose last version is not a number
    (["UPDATE events SET span_last = 'many' WHERE seq = ?"], "damaged"),
])
def test_verify_catches_a_damaged_stream_index_at_its_position(
    home: Home, monkeypatch: pytest.MonkeyPatch, workers: int, attack_sql: list[str],
    expected: str,
) -> None:
    monkeypatch.setattr(verify_module, "BLOCK", 16)
    monkeypatch.setattr(verify_module, "PARALLEL_MIN", 32)
    with EventStore.open(home) as store:
        interleave(store, rounds=10)  # 60+ events over several blocks
        target = store.conn.execute(
            "SELECT seq FROM events WHERE seq > 40 AND length(span_leaves) > 32 "
            "ORDER BY seq LIMIT 1").fetchone()[0]
        assert verify_log(store, workers=workers).ok
    tamper(home.database, *attack_sql, params=(target,))
    with EventStore.open(home) as store:
        report = verify_log(store, workers=workers)
    assert not report.ok
    first = report.first_problem
    assert first is not None and expected in first.what, report.problems
    assert first.position is not None and target <= first.position <= target + 4


def test_spans_that_cross_block_and_worker_edges_verify(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify_module, "BLOCK", 16)
    monkeypatch.setattr(verify_module, "PARALLEL_MIN", 32)
    with EventStore.open(home) as store:
        for i in range(5):  # batches of 13 never line up with blocks of 16
            store.append("session:long", i * 13, [NewEvent("chat.message", {"i": k})
                                                  for k in range(13)])
        store.append("session:other", 0, [NewEvent("chat.message")])
        for workers in (1, 2, 3):
            report = verify_log(store, workers=workers)
            assert report.ok, (workers, report.problems)
            assert report.size == 66


def test_a_stream_whose_versions_do_not_run_on_is_reported(home: Home) -> None:
    # A careful attacker appends a second "version 2" of session:a (body, its
    # span and leaf hash all consistent), as a forged grant would need.
    with EventStore.open(home) as store:
        store.append("session:a", 0, [NewEvent("chat.message"), NewEvent("chat.message")])
        store.append("session:b", 0, [NewEvent("chat.message")])
        forged = store.conn.execute("SELECT body FROM events WHERE seq = 1").fetchone()[0]
    forged = forged.replace('"seq":1,', '"seq":3,')
    leaf = merkle.leaf_hash(forged.encode())
    tamper(home.database,
           "DROP INDEX events_spans",  # it would refuse a second span ending at version 2
           "INSERT INTO events (seq, body, span_stream, span_last, span_leaves) "
           "VALUES (3, ?, 'session:a', 2, ?)",
           params=(forged, leaf))
    with EventStore.open(home) as store:
        report = verify_log(store)
    assert not report.ok
    assert any("goes from version 2 to 2" in p.what and p.position == 3
               for p in report.problems), report.problems


@pytest.mark.parametrize("sql, expected", [
    ("DROP INDEX events_spans", "events_spans was removed"),
    ("DROP VIEW audit_log", "audit_log view"),
    ("DROP VIEW audit_log; CREATE VIEW audit_log AS SELECT * FROM events WHERE seq > 2",
     "audit_log view"),
])
def test_schema_changes_are_reported(home: Home, sql: str, expected: str) -> None:
    with EventStore.open(home) as store:
        interleave(store, rounds=1)
    db = sqlite3.connect(home.database)
    db.executescript(sql)
    db.close()
    with EventStore.open(home) as store:
        report = verify_log(store)
    assert not report.ok
    assert any(expected in p.what for p in report.problems), report.problems


def test_the_audit_view_has_every_field(store: EventStore) -> None:
    store.append("session:v", 0, [NewEvent("consent.denied", {"scope": "view"},
                                           outcome="denied", origin="192.0.2.9")])
    row = store.conn.execute(
        "SELECT seq, event_id, stream, stream_version, type, schema_version, occurred_at, "
        "actor_kind, actor_id, origin, outcome, json_extract(payload, '$.scope') "
        "FROM audit_log").fetchone()
    event = store.read_stream("session:v")[0]
    assert row == (0, event.event_id, "session:v", 1, "consent.denied", 1,
                   event.to_json()["occurred_at"], "system", "ra", "192.0.2.9", "denied",
                   "view")


# -- the Merkle frontier kept in memory ---------------------------------------


def test_two_writers_keep_one_tree(home: Home) -> None:
    with EventStore.open(home) as one, EventStore.open(home) as two:
        for i in range(40):
            writer = one if i % 3 else two
            writer.append(f"session:w{i % 2}", None, [NewEvent("chat.message", {"i": i})])
        leaves = [merkle.leaf_hash(e.body) for e in one.iter_events()]
        assert one.root() == two.root() == merkle.root(leaves)
        assert one.checkpoint().root == merkle.root(leaves)
        assert two.checkpoint().root == merkle.root(leaves)
        assert verify_log(one).ok


def test_a_writer_that_finds_the_log_moved_on_reads_the_time_again(home: Home) -> None:
    # `one` made the last append it knows of, so it inserts at once; `two`
    # appended meanwhile, later than `one`'s first reading of the clock. The
    # insert fails on the seq, and `one` starts again with a fresh reading:
    # occurred_at never goes back in seq order.
    EventStore.open(home).close()  # the log exists before the clocks below are read
    start = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    readings = iter([start, start + timedelta(seconds=1), start + timedelta(seconds=3)])
    with EventStore(home.database, key_path=home.log_key, clock=lambda: next(readings)) as one, \
            EventStore(home.database, key_path=home.log_key,
                       clock=lambda: start + timedelta(seconds=2)) as two:
        one.append("session:a", 0, [NewEvent("chat.message")])  # 10:00:00
        two.append("session:b", 0, [NewEvent("chat.message")])  # 10:00:02
        again = one.append("session:a", 1, [NewEvent("chat.message")])
        assert again[0].seq == 2 and again[0].occurred_at == start + timedelta(seconds=3)
        times = [e.occurred_at for e in one.iter_events()]
        assert times == sorted(times)
        assert verify_log(one).ok


def test_the_tree_state_on_disk_is_a_copy_refreshed_every_so_often(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "TREE_STATE_EVERY", 8)
    with EventStore.open(home) as store:
        for i in range(21):
            store.append("session:t", i, [NewEvent("chat.message", {"i": i})])
        saved = store.conn.execute("SELECT size FROM tree_state").fetchone()[0]
        assert saved == 16  # rewritten when the log crossed 8 and 16, not on every append
        root = store.root()
    with EventStore.open(home) as reopened:  # starts from size 16 and reads 5 leaves
        assert reopened.root() == root
        reopened.append("session:t", 21, [NewEvent("chat.message")])
        assert verify_log(reopened).ok
        reopened.checkpoint()
        assert reopened.conn.execute("SELECT size FROM tree_state").fetchone()[0] == 22


def test_a_tree_state_beyond_the_log_stops_appends(home: Home) -> None:
    with EventStore.open(home) as store:
        for i in range(5):
            store.append("session:t", i, [NewEvent("chat.message")])
        store.checkpoint()  # tree_state now covers 5 events
    tamper(home.database, "DROP TRIGGER IF EXISTS events_refuse_delete",
           "DELETE FROM events WHERE seq = 4")
    with EventStore.open(home) as store:
        with pytest.raises(LogStateError, match="altered"):
            store.append("session:t", None, [NewEvent("chat.message")])
        assert store.size() == 4


def test_a_store_that_appended_last_skips_the_read_and_notices_others(home: Home) -> None:
    # A store remembers the next seq and its streams' versions after each append
    # and inserts without reading them; another writer's append makes that seq
    # taken, and the store then reads the real state (and refuses a stale version).
    with EventStore.open(home) as one, EventStore.open(home) as two:
        one.append("session:s", 0, [NewEvent("chat.message", {"by": "one"})])
        two.append("session:s", 1, [NewEvent("chat.message", {"by": "two"})])
        with pytest.raises(ConcurrencyError):
            one.append("session:s", 1, [NewEvent("chat.message", {"by": "one, stale"})])
        [event] = one.append("session:s", 2, [NewEvent("chat.message", {"by": "one again"})])
        assert (event.seq, event.stream_version) == (2, 3)
        two.append("session:t", 0, [NewEvent("chat.message")])
        [event] = one.append("session:s", None, [NewEvent("chat.message")])
        assert (event.seq, event.stream_version) == (4, 4)
        assert [e.stream_version for e in one.read_stream("session:s")] == [1, 2, 3, 4]
        assert verify_log(one).ok


def test_an_append_bigger_than_one_insert_statement_is_one_span(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An append of more events than one INSERT takes goes in as several
    # statements in one transaction, still one span; after another writer's
    # append, the same big append starts again on the real state.
    monkeypatch.setattr(store_module, "INSERT_ROWS", 7)
    with EventStore.open(home) as one, EventStore.open(home) as two:
        one.append("session:big", 0, [NewEvent("chat.message", {"k": k}) for k in range(23)])
        two.append("session:other", 0, [NewEvent("chat.message")])
        recorded = one.append("session:big", 23, [NewEvent("chat.message", {"k": k})
                                                  for k in range(16)])
        assert [e.seq for e in recorded] == list(range(24, 40))
        spans = one.conn.execute(
            "SELECT seq, span_stream, span_last, length(span_leaves) FROM events "
            "WHERE span_last IS NOT NULL ORDER BY seq").fetchall()
        assert spans == [(0, "session:big", 23, 23 * 32), (23, "session:other", 1, 32),
                         (24, "session:big", 39, 16 * 32)]
        assert [e.stream_version for e in one.read_stream("session:big")] == list(range(1, 40))
        assert verify_log(one).ok
        with pytest.raises(ConcurrencyError):
            two.append("session:big", 23, [NewEvent("chat.message") for _ in range(9)])
        assert one.size() == 40


def test_a_row_deleted_inside_a_span_is_the_only_problem_reported(home: Home) -> None:
    # With a gap, verify reads row by row; the events after the gap in the same
    # span must still be checked against their own leaf hash and version.
    with EventStore.open(home) as store:
        store.append("session:g", 0, [NewEvent("chat.message", {"i": i}) for i in range(10)])
        store.append("session:h", 0, [NewEvent("chat.message", {"i": i}) for i in range(3)])
    tamper(home.database, "DROP TRIGGER IF EXISTS events_refuse_delete",
           "DELETE FROM events WHERE seq = 5")
    with EventStore.open(home) as store:
        placed = [(p.position, p.what) for p in verify_log(store).problems if p.position]
    assert placed == [(5, "missing (the next stored event is seq 6): events were deleted")]
    tamper(home.database, "UPDATE events SET body = replace(body, '\"i\":7', '\"i\":70') "
                          "WHERE seq = 7")
    with EventStore.open(home) as store:
        placed = [(p.position, p.what) for p in verify_log(store).problems if p.position]
    assert [position for position, _ in placed] == [5, 7]
    assert "edited" in placed[1][1]
